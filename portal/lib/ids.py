"""Public identifiers: a type prefix and 20 random base62 characters (~119 bits)."""

import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(20)}"
