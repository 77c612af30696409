"""zstd frames built for tests: records flushed block by block, and bombs written block by block.

A bomb is built by hand from RLE blocks (RFC 8878: a 3-byte block header and one byte repeat
up to 128 KiB), so gigabytes of zeros cost kilobytes and no time to make.
"""

from __future__ import annotations

import struct

import zstandard

_MAGIC = struct.pack("<I", 0xFD2FB528)
_BLOCK = 128 << 10
# Frame header descriptor 0 (no checksum, no content size, not single segment), window 8 MiB.
_HEADER = _MAGIC + bytes([0x00, 13 << 3])


def frame(*chunks: bytes, finish: bool = True, checksum: bool = True) -> bytes:
    """A zstd frame with each chunk flushed as its own block; unfinished if ``finish`` is false."""
    compressor = zstandard.ZstdCompressor(write_checksum=checksum).compressobj()
    out = b"".join(compressor.compress(chunk) + compressor.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) for chunk in chunks)
    return out + (compressor.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH) if finish else b"")


def _block_header(size: int, kind: int, last: bool) -> bytes:
    return ((size << 3) | (kind << 1) | int(last)).to_bytes(3, "little")


def bomb(inflated: int, prefix: bytes = b"", byte: int = 0) -> bytes:
    """A frame inflating to ``prefix`` (stored raw) followed by ``inflated`` bytes of ``byte``."""
    out = bytearray(_HEADER)
    for start in range(0, len(prefix), _BLOCK):
        piece = prefix[start : start + _BLOCK]
        out += _block_header(len(piece), 0, False) + piece
    remaining = inflated
    while remaining > 0:
        size = min(_BLOCK, remaining)
        remaining -= size
        out += _block_header(size, 1, False) + bytes([byte])
    out += _block_header(0, 0, True)
    return bytes(out)
