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


MAX_MEMBERS = 10_000  # files in one Office document; real ones hold tens to a few hundred
MAX_RATIO = 200  # uncompressed to compressed, for a member over a megabyte: text XML is ~10


def zip_problem(data: bytes, *, limit: int) -> str | None:
    """Return why the zip archive ``data`` (a .docx or .xlsx) must not be opened, or None.

    Office files are zip archives, and a small one can declare gigabytes: more than
    :data:`MAX_MEMBERS` members, more than ``limit`` bytes uncompressed in all, or a member
    over a megabyte compressed more than :data:`MAX_RATIO` to one is refused before any
    library inflates it. The sizes checked are the ones the archive declares, which
    :mod:`zipfile` holds each member to when it reads.
    """
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    # NotImplementedError: a "version needed to extract" zipfile does not know, a damaged header.
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError,
            NotImplementedError):  # fmt: skip
        return "not a zip archive (damaged, or another format under this name)"
    if len(members) > MAX_MEMBERS:
        return f"an archive of {len(members)} files (a zip bomb?)"
    total = sum(m.file_size for m in members)
    if total > limit:
        return f"expands to {total // 2**20} MiB, more than {limit // 2**20} MiB (a zip bomb?)"
    for m in members:
        ratio = m.file_size // max(m.compress_size, 1)
        if m.file_size > 2**20 and ratio > MAX_RATIO:
            return f"{m.filename[:80]} is compressed {ratio}:1 (a zip bomb?)"
    return None
