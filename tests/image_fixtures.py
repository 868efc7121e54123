"""Hostile image files for the upload and import checks (issue 11): a decompression bomb,
a corrupt PNG, an SVG and a file that is no image at all."""

from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache
from pathlib import Path

from PIL import Image

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    '<rect width="64" height="64" fill="red"/></svg>'
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache
def grayscale_bomb_png(side: int = 13000) -> bytes:
    """Return a valid side x side 8-bit grayscale PNG of zeros: a few hundred KB that decode
    to side**2 bytes (13000: 169 MB from 0.7 MB), built row by row so the test never holds the pixels."""
    compressor = zlib.compressobj(1)  # zeros at level 1: under 1 MB, fast to build
    rows = bytes((side + 1) * 100)  # 100 rows: filter byte 0, then the row's pixels
    data = b"".join(compressor.compress(rows) for _ in range(side // 100))
    data += compressor.compress(bytes((side + 1) * (side % 100))) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def small_png(colour: str = "red") -> bytes:
    """Return a valid 8x8 RGB PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, "PNG")
    return buffer.getvalue()


def corrupt_png() -> bytes:
    """Return a PNG cut off in the middle of its pixel data (the header still reads)."""
    whole = small_png()
    return whole[: len(whole) - 30]


def write(folder: Path, name: str, data: bytes | str) -> Path:
    """Write `data` to folder/name and return the path."""
    path = folder / name
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path
