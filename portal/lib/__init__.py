"""Helpers that need no Django: signing, key formats, SSRF checks, money, crypto."""
