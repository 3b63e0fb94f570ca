"""The model description text: chapters of blocks of `key: value` lines (spec §2.1).

It looks like YAML but is not: the grammar is much simpler and is parsed by hand here
so files behave exactly as in the format's original reader.
"""
from __future__ import annotations

from gpu_engine.errors import ModelError

Block = dict[str, str]


def parse_listing(text: str) -> dict[str, list[Block]]:
    """Chapters by name, each a list of blocks (key -> raw string value)."""
    chapters: dict[str, list[Block]] = {}
    current: list[Block] | None = None
    prefix: str | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        hash_at = _comment_start(line)
        if hash_at >= 0:
            line = line[:hash_at]
        line = line.rstrip(" ")
        if not line:
            continue
        if line[0] not in " -" and line.endswith(":"):
            current = chapters.setdefault(line[:-1], [])
            continue
        if prefix is None:
            stripped = line.lstrip(" ")
            if not stripped.startswith("- "):
                raise ModelError(f"description line {number}: expected an entry ' - key: value', "
                                 f"got {line!r}")
            prefix = line[: len(line) - len(stripped) + 2]
        if current is None:
            raise ModelError(f"description line {number}: entry before any chapter header")
        if line.startswith(prefix):
            current.append({})
            _add_pair(current[-1], line[len(prefix):], number)
        elif len(line) - len(line.lstrip(" ")) == len(prefix) and current:
            _add_pair(current[-1], line[len(prefix):], number)
        else:
            raise ModelError(f"description line {number}: unexpected indent in {line!r}")
    return chapters


def _comment_start(line: str) -> int:
    """Index of a '#' that starts a comment: one preceded by an even number of quotes."""
    quotes = 0
    for index, char in enumerate(line):
        if char == '"':
            quotes += 1
        elif char == "#" and quotes % 2 == 0:
            return index
    return -1


def _add_pair(block: Block, text: str, number: int) -> None:
    if ":" not in text:
        raise ModelError(f"description line {number}: {text!r} is not a 'key: value' pair")
    key, value = text.split(":", 1)
    block.setdefault(key, value.lstrip(" "))


def format_listing(chapters: dict[str, list[Block]]) -> str:
    """Write chapters back in the same grammar (values must not contain newlines or '#')."""
    lines: list[str] = []
    for chapter, blocks in chapters.items():
        lines.append(f"{chapter}:")
        for block in blocks:
            for index, (key, value) in enumerate(block.items()):
                lines.append(f"{' - ' if index == 0 else '   '}{key}: {value}")
    return "\n".join(lines) + "\n"
