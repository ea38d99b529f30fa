"""What a file really is, from its bytes: the allowlist for support attachments.

No Django here. The declared content type and the extension are the uploader's
claims; the magic numbers are the evidence. Text counts as text only when it is
valid UTF-8 without NUL bytes and does not look like markup a browser would run.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

# Extension -> (kind the bytes must be, content type we store and serve).
ALLOWED: dict[str, tuple[str, str]] = {
    "png": ("png", "image/png"),
    "jpg": ("jpeg", "image/jpeg"),
    "jpeg": ("jpeg", "image/jpeg"),
    "pdf": ("pdf", "application/pdf"),
    "txt": ("text", "text/plain"),
    "log": ("text", "text/plain"),
    "csv": ("text", "text/csv"),
    "json": ("json", "application/json"),
}
KIND_LABELS = {
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "pdf": "a PDF document",
    "text": "a plain-text file",
    "json": "a JSON document",
}
ALLOWED_DESCRIPTION = "PNG, JPEG, PDF, plain text (.txt, .log), CSV and JSON"

_EXECUTABLE_MAGIC = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable"),
    (b"\xfe\xed\xfa\xce", "a macOS executable"),
    (b"\xfe\xed\xfa\xcf", "a macOS executable"),
    (b"\xce\xfa\xed\xfe", "a macOS executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or macOS executable"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"#!", "a script"),
)
_MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|meta|style)\b", re.I)


class FileTypeError(ValueError):
    """The file is not one we accept; the message is for the person who uploaded it."""


@dataclass(frozen=True)
class Sniffed:
    name: str
    content_type: str


def safe_name(name: str, *, limit: int = 100) -> str:
    """A display and download name with no path, control or odd characters."""
    name = unicodedata.normalize("NFKC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch if (ch.isalnum() and ch.isascii()) or ch in "._-() " else "_" for ch in name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    name = re.sub(r"_{2,}", "_", name)
    if not name:
        return "attachment"
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: limit - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else name[:limit]
    return name


def _looks_like(data: bytes) -> str | None:
    for magic, label in _EXECUTABLE_MAGIC:
        if data.startswith(magic):
            return label
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "a PNG image"
    if data.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    if data.startswith(b"%PDF-"):
        return "a PDF document"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if _MARKUP.search(data[:4096]):
        return "HTML or SVG markup"
    return None


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def sniff(name: str, data: bytes) -> Sniffed:
    """Check `data` against the allowlist for the extension of `name`; raise FileTypeError."""
    clean = safe_name(name)
    extension = clean.rpartition(".")[2].lower() if "." in clean else ""
    if extension not in ALLOWED:
        raise FileTypeError(f"“{clean}”: only {ALLOWED_DESCRIPTION} files can be attached.")
    if not data:
        raise FileTypeError(f"“{clean}” is empty.")
    kind, content_type = ALLOWED[extension]
    seen = _looks_like(data)
    wanted = KIND_LABELS[kind]
    mismatch = f"“{clean}” is not {wanted}" + (f"; its contents look like {seen}." if seen else ".")
    if kind == "png":
        ok = data.startswith(b"\x89PNG\r\n\x1a\n")
    elif kind == "jpeg":
        ok = data.startswith(b"\xff\xd8\xff")
    elif kind == "pdf":
        ok = data.startswith(b"%PDF-")
    else:
        body = data.removeprefix(b"\xef\xbb\xbf")
        ok = _is_text(body) and seen is None
        if ok and kind == "json":
            try:
                json.loads(body.decode("utf-8"))
            except ValueError:
                raise FileTypeError(f"“{clean}” is not valid JSON.") from None
    if not ok:
        raise FileTypeError(mismatch)
    return Sniffed(name=clean, content_type=content_type)
