"""The settings-backed keyring for encrypted fields."""

import base64
import hashlib
from functools import cache

from django.conf import settings

from portal.lib.crypto import Keyring


@cache
def keyring() -> Keyring:
    if settings.FIELD_ENCRYPTION_KEYS:
        return Keyring.from_strings(settings.FIELD_ENCRYPTION_KEYS)
    # Development only (production refuses to start without keys): derive one from SECRET_KEY.
    derived = hashlib.sha256(b"portal-field-encryption:" + settings.SECRET_KEY.encode()).digest()
    return Keyring.from_strings([base64.urlsafe_b64encode(derived).decode()])
