"""The AS4 compression feature (AS4 profile 3.1): gzip each payload before signing; inflate with a bound."""

from __future__ import annotations

import gzip
import zlib

from gateway.as4.errors import DecompressionFailure


def compress(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def decompress(data: bytes, limit: int, part: str) -> bytes:
    """Inflate one gzip member, never producing more than ``limit`` bytes (a bomb stops at limit + 1)."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise DecompressionFailure(f"payload {part} is not valid gzip: {exc}") from None
    if len(out) > limit:
        raise DecompressionFailure(f"payload {part} inflates beyond the limit of {limit} bytes")
    if not inflater.eof:
        raise DecompressionFailure(f"payload {part} is truncated: the gzip stream does not end")
    if inflater.unused_data:
        raise DecompressionFailure(f"payload {part} has data after the gzip stream")
    return out
