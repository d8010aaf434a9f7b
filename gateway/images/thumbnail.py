"""Previews of stored images for the console: PNG thumbnails of at most ``size`` pixels a side, made with Pillow
(which also reads TIFF, which browsers do not show). Memory stays bounded: an image is read from the store into
a spooled temporary file, only its header is read before the pixel count is checked, and JPEGs are decoded
reduced (``draft``)."""

from __future__ import annotations

import asyncio
import io
import tempfile
from typing import IO, cast

from PIL import Image, ImageOps

from gateway.images.store import ImageStore

MAX_PIXELS = 80_000_000  # e.g. 10,000 x 8,000: a high-resolution X-ray scan; larger ones get no preview
SPOOL = 1024 * 1024


class NoPreview(Exception):
    """The image cannot be previewed (not decodable, or more pixels than :data:`MAX_PIXELS`)."""


def _thumbnail(file: IO[bytes], size: int) -> bytes:
    try:
        with Image.open(file) as opened:
            image: Image.Image = opened
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise NoPreview(f"{width} x {height} pixels: more than {MAX_PIXELS} (no preview)")
            opened.draft("RGB", (size, size))  # JPEG: decoded at 1/2, 1/4 or 1/8 scale; others unchanged
            if image.mode.startswith("I") or image.mode == "F":  # 16-bit or float scans: stretched to 8 bits
                image = ImageOps.autocontrast(image.convert("I").point(lambda v: v * (1 / 256)).convert("L"))
            elif image.mode not in ("L", "RGB", "RGBA", "LA"):
                image = image.convert("RGB")
            image.thumbnail((size, size))
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=False)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NoPreview(f"not a readable image: {exc}") from exc


async def thumbnail(store: ImageStore, sha256: str, size: int) -> bytes:
    """A PNG of the stored image, at most ``size`` pixels wide and high."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spooled:
        async for chunk in store.read(sha256):
            spooled.write(chunk)
        spooled.seek(0)
        return await asyncio.to_thread(_thumbnail, cast(IO[bytes], spooled), size)
