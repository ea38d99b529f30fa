"""AES-256-GCM for secrets we must read back (TOTP seeds, bank account numbers).

A keyring holds one or more 32-byte keys; the first encrypts, every key decrypts, so
a key can be rotated by putting the new one first and re-encrypting at leisure.
A token is `v1.<key id>.<base64url(nonce || ciphertext+tag)>`; the key id is the
first 8 hex characters of the key's SHA-256, so a token names the key it needs.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class DecryptionError(Exception):
    pass


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


@dataclass(frozen=True)
class Keyring:
    keys: tuple[bytes, ...]

    @classmethod
    def from_strings(cls, encoded: list[str]) -> Keyring:
        keys = []
        for item in encoded:
            key = base64.urlsafe_b64decode(item + "=" * (-len(item) % 4))
            if len(key) != 32:
                raise ValueError("each encryption key must be 32 bytes, base64-encoded")
            keys.append(key)
        if not keys:
            raise ValueError("a keyring needs at least one key")
        return cls(tuple(keys))

    def encrypt(self, plaintext: str, *, associated_data: bytes = b"") -> str:
        key = self.keys[0]
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), associated_data)
        payload = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"v1.{_key_id(key)}.{payload}"

    def decrypt(self, token: str, *, associated_data: bytes = b"") -> str:
        try:
            version, key_id, payload = token.split(".", 2)
        except ValueError:
            raise DecryptionError("malformed token") from None
        if version != "v1":
            raise DecryptionError("unknown token version")
        key = next((k for k in self.keys if _key_id(k) == key_id), None)
        if key is None:
            raise DecryptionError("no key in the keyring matches this token")
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], associated_data).decode()
        except Exception:
            raise DecryptionError("token does not authenticate") from None

    def needs_rotation(self, token: str) -> bool:
        return not token.startswith(f"v1.{_key_id(self.keys[0])}.")
