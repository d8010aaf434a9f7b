"""Which image format a file's first bytes are (its magic number), to check a part's declared media type."""

from __future__ import annotations

# Enough bytes to tell the formats the gateway takes apart.
MAGIC_BYTES = 8

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),  # little-endian TIFF
    (b"MM\x00*", "image/tiff"),  # big-endian TIFF
)


def sniff(head: bytes) -> str | None:
    """The media type the bytes start like, or None when they are none of PNG, JPEG, TIFF."""
    return next((media for magic, media in _SIGNATURES if head.startswith(magic)), None)
