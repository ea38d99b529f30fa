"""Marketplace pages, one module per area; marketplace/urls.py names each module's views."""
