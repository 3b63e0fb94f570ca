"""Beatmup chunkfiles: a flat list of (id, payload) records, little-endian lengths, no header."""
from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

from gpu_engine.errors import ModelError

MAX_ID_LENGTH = 127  # the original writer narrows the length through a signed char


def parse_chunks(data: bytes) -> dict[str, bytes]:
    """Split a chunkfile into its records; a later record with the same id wins.

    Truncated records and trailing bytes are rejected, so a damaged download never
    loads as a model that silently lacks its last chunk.
    """
    chunks: dict[str, bytes] = {}
    offset, size = 0, len(data)
    index = 0
    while offset < size:
        if size - offset < 4:
            raise ModelError(f"chunkfile: {size - offset} trailing bytes after record {index}")
        (id_len,) = struct.unpack_from("<I", data, offset)
        if id_len > MAX_ID_LENGTH:
            raise ModelError(f"chunkfile: record {index} at byte {offset} has an id length of "
                             f"{id_len} bytes (at most {MAX_ID_LENGTH}): not a chunkfile or corrupt")
        if offset + 4 + id_len + 4 > size:
            raise ModelError(f"chunkfile: record {index} at byte {offset} is truncated (header)")
        raw_id = data[offset + 4: offset + 4 + id_len]
        try:
            chunk_id = raw_id.decode("ascii")
        except UnicodeDecodeError:
            raise ModelError(f"chunkfile: record {index} at byte {offset} has a non-ASCII id "
                             f"{raw_id!r}") from None
        (length,) = struct.unpack_from("<I", data, offset + 4 + id_len)
        start = offset + 8 + id_len
        if start + length > size:
            raise ModelError(f"chunkfile: chunk {chunk_id!r} (record {index}) claims {length} bytes "
                             f"but only {size - start} remain: the file is truncated or corrupt")
        chunks[chunk_id] = data[start:start + length]
        offset = start + length
        index += 1
    return chunks


def read_chunks(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """Read and split a chunkfile from disk."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    return parse_chunks(data)


def encode_chunks(chunks: Iterable[tuple[str, bytes]]) -> bytes:
    """Serialise records in the given order (Beatmup's tools sort by id; readers must not care)."""
    out = bytearray()
    for chunk_id, payload in chunks:
        raw_id = chunk_id.encode("ascii")
        if len(raw_id) > MAX_ID_LENGTH:
            raise ValueError(f"chunk id {chunk_id!r} is longer than {MAX_ID_LENGTH} bytes")
        out += struct.pack("<I", len(raw_id)) + raw_id + struct.pack("<I", len(payload)) + payload
    return bytes(out)


def write_chunks(path: str | os.PathLike[str], chunks: Iterable[tuple[str, bytes]]) -> None:
    """Write a chunkfile atomically: a reader never sees a half-written model."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(encode_chunks(chunks))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
