"""Pictures whose decoders hold far more memory than their few kilobytes (or megabytes) say,
written marker by marker and chunk by chunk so that making them never holds their pixels."""
from __future__ import annotations

import io
import zlib

from PIL import Image

MB = 1024 * 1024


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def black_png(width: int, height: int, colour_type: int = 2) -> bytes:
    """An 8-bit PNG (RGB by default) of any size, all black, compressed a megabyte at a time."""
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    row = 1 + channels * width  # filter byte 0, then zeros
    total = row * height
    squeeze = zlib.compressobj(9)
    block = bytes(min(total, MB))
    parts = [squeeze.compress(block) for _ in range(total // len(block))]
    parts += [squeeze.compress(bytes(total % len(block))), squeeze.flush()]
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, colour_type, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b""))


def _segments(jpeg: bytes) -> list[tuple[int, bytes]]:
    """(marker, segment with its marker) of a JPEG's headers, up to its first scan."""
    out, pos = [], 2
    while jpeg[pos + 1] != 0xDA:
        length = int.from_bytes(jpeg[pos + 2:pos + 4], "big")
        out.append((jpeg[pos + 1], jpeg[pos:pos + 2 + length]))
        pos += 2 + length
    return out


def multi_scan_jpeg(width: int, height: int) -> bytes:
    """A baseline (not progressive) 4:4:4 colour JPEG, mid grey, whose three components each
    come in a scan of their own, so libjpeg keeps the coefficients of the whole picture.

    Libjpeg's standard Huffman tables (what Pillow writes unless asked to optimise) code a
    block whose DC difference is 0 and whose AC coefficients are all 0 as '00' + '1010'; at
    grey 128 every block is that, so each scan is those 6 bits repeated: 3 bytes per 4 blocks.
    The quantisation and Huffman tables are taken from a small grey JPEG Pillow writes."""
    small = io.BytesIO()
    Image.new("L", (8, 8), 128).save(small, format="JPEG", quality=90)
    tables = b"".join(segment for marker, segment in _segments(small.getvalue())
                      if marker in (0xDB, 0xC4))  # DQT, DHT: table 0 of each
    blocks = -(-width // 8) * -(-height // 8)
    scan = b"\x28\xa2\x8a" * (blocks // 4) + {0: b"", 1: b"\x2b", 2: b"\x28\xaf",
                                              3: b"\x28\xa2\xbf"}[blocks % 4]
    # the tail: the remaining blocks' bits, then 1s up to the byte's end

    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body

    frame = segment(0xC0, bytes([8]) + height.to_bytes(2, "big") + width.to_bytes(2, "big")
                    + bytes([3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]))
    scans = b"".join(segment(0xDA, bytes([1, component, 0x00, 0, 63, 0])) + scan
                     for component in (1, 2, 3))
    return b"\xff\xd8" + tables + frame + scans + b"\xff\xd9"
