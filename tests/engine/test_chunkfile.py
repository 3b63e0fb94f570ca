"""The chunkfile container on its own: records round-trip in any order, and every damaged file
(trailing bytes, oversized ids, truncated records) is refused with where it broke."""
import os
import re
import struct

import pytest

from gpu_engine import ModelError
from gpu_engine.chunkfile import (MAX_ID_LENGTH, encode_chunks, parse_chunks, read_chunks,
                                  write_chunks)

RECORDS = [("", b"ops: []\n"), ("conv/w", bytes(range(256)) * 3), ("conv/b", b""),
           ("x" * MAX_ID_LENGTH, b"\x00\x01")]


def test_records_round_trip_with_their_bytes_exact():
    data = encode_chunks(RECORDS)
    assert parse_chunks(data) == dict(RECORDS)
    # the layout Beatmup's readers expect: length, id, length, payload, no header
    assert data[:4] == struct.pack("<I", 0) and data[4:8] == struct.pack("<I", 8)
    assert parse_chunks(encode_chunks(reversed(RECORDS))) == dict(RECORDS)
    assert parse_chunks(b"") == {}


def test_a_later_record_with_the_same_id_wins():
    assert parse_chunks(encode_chunks([("a", b"old"), ("b", b"1"), ("a", b"new")])) == \
        {"a": b"new", "b": b"1"}


@pytest.mark.parametrize("data, message", [
    (b"\x05\x00\x00", "3 trailing bytes after record 0"),
    (encode_chunks([("a", b"1")]) + b"\x00\x00", "2 trailing bytes after record 1"),
    (struct.pack("<I", 1000) + b"x", "id length of 1000 bytes"),
    (struct.pack("<I", MAX_ID_LENGTH + 1) + b"x" * 200, f"at most {MAX_ID_LENGTH}"),
    (struct.pack("<I", 2) + b"ab" + b"\x01", r"record 0 at byte 0 is truncated \(header\)"),
    (struct.pack("<I", 2) + b"ab" + struct.pack("<I", 99) + b"abc",
     "chunk 'ab' .* claims 99 bytes but only 3 remain"),
    (encode_chunks([("a", b"1")]) + struct.pack("<I", 1) + b"\xe9" + struct.pack("<I", 0),
     r"record 1 at byte 10 has a non-ASCII id b'\\xe9'"),
])
def test_damaged_files_are_refused_saying_where(data, message):
    with pytest.raises(ModelError, match=message):
        parse_chunks(data)


def test_every_truncation_of_a_file_is_refused():
    data = encode_chunks(RECORDS)
    record_ends = {len(encode_chunks(RECORDS[:n])) for n in range(len(RECORDS) + 1)}
    for size in range(len(data)):
        if size in record_ends:  # a file of whole records is a valid, shorter chunkfile
            assert len(parse_chunks(data[:size])) < len(RECORDS)
            continue
        with pytest.raises(ModelError):
            parse_chunks(data[:size])


def test_an_id_too_long_or_not_ascii_is_never_written():
    with pytest.raises(ValueError, match="longer than 127 bytes"):
        encode_chunks([("x" * (MAX_ID_LENGTH + 1), b"")])
    with pytest.raises(UnicodeEncodeError):
        encode_chunks([("é", b"")])


def test_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.chunks"
    write_chunks(path, [("old", b"1")])
    write_chunks(path, RECORDS)
    assert read_chunks(path) == dict(RECORDS)
    assert os.listdir(tmp_path) == ["model.chunks"]
    with pytest.raises(ValueError):  # a record that cannot be written: the old file stays
        write_chunks(path, [("fine", b"1"), ("x" * 200, b"")])
    assert read_chunks(path) == dict(RECORDS)
    assert os.listdir(tmp_path) == ["model.chunks"]


def test_an_unreadable_file_is_a_model_error(tmp_path):
    expected = f"cannot read model file {tmp_path}: Is a directory"
    with pytest.raises(ModelError, match=re.escape(expected)):
        read_chunks(tmp_path)
    with pytest.raises(ModelError, match="No such file"):
        read_chunks(tmp_path / "missing.chunks")
