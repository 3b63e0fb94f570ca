"""Where results go: JSON lines (or CSV, by the output's suffix), one record per line, flushed
as it arrives, and what an earlier run of the same output already finished.

A record is `{"path", "frame" and "time_s" (videos only), "model_name", "top_k": [{"index",
"label", "display_label", "probability"}]}`, or the same with "error" instead of "top_k"; a
taught classifier's records add its answer: "label" (a class, or "unknown" below its
threshold), "probability" and "uncertain" (CSV: three more columns after "error"). A
run killed in the middle of a line leaves a partial last line; resuming cuts it off and
classifies that picture again, so every path appears exactly once. An output holding another
model's results is refused rather than mixed.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from typing import IO, Protocol

from app.batch import BatchError
from app.batch.sources import Key


class Writer(Protocol):
    def write(self, record: dict) -> None: ...
    def close(self) -> None: ...


def key_of(record: dict) -> Key:
    return record["path"], record.get("frame")


def _stamped(record: dict, model_name: str) -> dict:
    """The record with its model named after the fields that identify the picture."""
    stamped = {key: record[key] for key in ("path", "frame", "time_s") if key in record}
    return {**stamped, "model_name": model_name, **record}


class JsonLinesWriter:
    def __init__(self, stream: IO[str], owned: bool, model_name: str):
        self._stream, self._owned, self._model_name = stream, owned, model_name

    def write(self, record: dict) -> None:
        self._stream.write(json.dumps(_stamped(record, self._model_name)) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()


class CsvWriter:
    """path, frame, time_s, model_name, error, (a taught classifier's label, probability,
    uncertain,) then label_N and probability_N for ranks 1..k."""

    def __init__(self, stream: IO[str], top_k: int, model_name: str, write_header: bool,
                 taught: bool = False):
        self._stream, self._top_k, self._model_name = stream, top_k, model_name
        self._taught = taught
        self._csv = csv.writer(stream)
        if write_header:
            self._csv.writerow(csv_header(top_k, taught))
            stream.flush()

    def write(self, record: dict) -> None:
        row = [record["path"], record.get("frame", ""), record.get("time_s", ""),
               self._model_name, record.get("error", "")]
        if self._taught:
            answered = "label" in record
            row += [record["label"], repr(record["probability"]),
                    str(record["uncertain"]).lower()] if answered else ["", "", ""]
        ranked = record.get("top_k", [])
        for rank in range(self._top_k):
            entry = ranked[rank] if rank < len(ranked) else None
            row += [entry["label"], repr(entry["probability"])] if entry else ["", ""]
        self._csv.writerow(row)
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()


def csv_header(top_k: int, taught: bool = False) -> list[str]:
    answer = ["label", "probability", "uncertain"] if taught else []
    return ["path", "frame", "time_s", "model_name", "error", *answer] + [
        f"{name}_{rank}" for rank in range(1, top_k + 1) for name in ("label", "probability")]


def open_output(path: str | None, top_k: int, model_name: str,
                taught: bool = False) -> tuple[Writer, set[Key]]:
    """A writer appending to `path` (standard output when None) and the keys it already holds;
    `taught`: the records carry a taught classifier's answer."""
    if path is None:
        return JsonLinesWriter(sys.stdout, owned=False, model_name=model_name), set()
    is_csv = path.lower().endswith(".csv")
    if os.path.isdir(path):
        raise BatchError(f"--output {path} is a folder; name a file (.jsonl or .csv)")
    try:
        done = _finished(path, is_csv, top_k, model_name, taught) \
            if os.path.exists(path) else set()
        stream = open(path, "a", encoding="utf-8", newline="" if is_csv else None)
    except OSError as exc:
        raise BatchError(f"cannot write {path}: {exc.strerror or exc}") from None
    if is_csv:
        return CsvWriter(stream, top_k, model_name, write_header=stream.tell() == 0,
                         taught=taught), done
    return JsonLinesWriter(stream, owned=True, model_name=model_name), done


def _finished(path: str, is_csv: bool, top_k: int, model_name: str,
              taught: bool = False) -> set[Key]:
    """Keys of the complete records in an earlier output; a partial last line is cut off."""
    _cut_partial_line(path)
    done: set[Key] = set()
    with open(path, encoding="utf-8", newline="" if is_csv else None) as handle:
        if is_csv:
            rows = csv.reader(handle)
            header = next(rows, None)
            if header is not None and header != csv_header(top_k, taught):
                raise BatchError(f"{path} holds results in other columns (another --top-k?); "
                                 "give another --output")
            records = ({"path": row[0], "frame": int(row[1]) if row[1] else None,
                        "model_name": row[3]} for row in rows)
        else:
            records = (json.loads(line) for line in handle if line.strip())
        number = 1
        try:
            for number, record in enumerate(records, 2 if is_csv else 1):
                if record["model_name"] != model_name:
                    raise BatchError(f"{path} holds results of model {record['model_name']}, "
                                     f"not {model_name}; give another --output")
                done.add(key_of(record))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise BatchError(f"{path} line {number} is not a result ({exc}); "
                             "give another --output") from None
    return done


def _cut_partial_line(path: str, block: int = 65536) -> None:
    with open(path, "rb+") as handle:
        end = handle.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(0, position - block)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                position = start + newline + 1
                break
            position = start
        if position < end:
            handle.truncate(position)
