"""Bounded decompression, pure: gzip and zlib streams in, at most ``limit`` bytes out."""

from __future__ import annotations

import zlib

GZIP_MAGIC = b"\x1f\x8b"


class TooLarge(ValueError):
    """The stream inflates past the limit: a big file, or a decompression bomb."""


def inflate(body: bytes, *, limit: int, partial: bool = False) -> bytes:
    """Return the gzip or zlib stream ``body`` decompressed; raise ValueError if it is not one.

    Decompression stops at ``limit`` bytes, so a small file that inflates to gigabytes costs
    no more than ``limit``: :class:`TooLarge` past it. With ``partial`` (sniffing the first
    bytes of a stream), a truncated stream gives what it holds and the limit only cuts.
    """
    inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)  # 32: a gzip or a zlib header
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        if partial:
            return b""
        raise ValueError(f"corrupt compressed data ({e})") from None
    if partial:
        return data[:limit]
    if len(data) > limit:
        raise TooLarge(f"larger than {limit} bytes uncompressed")
    if not inflater.eof:
        raise ValueError("truncated compressed data")
    return data
