"""JSON documents written piece by piece, byte-identical to one ``orjson.dumps``.

A report of tens of thousands of VMs would otherwise exist several times over at
the moment it is written: as a dict tree, as the serialized bytes, as a decoded
str and as the str encoded again. Here the one large list of a document (the
findings, the SARIF results) is a :class:`Streamed` placeholder; the rest of the
document is serialized as usual and the list's items are serialized and written
one at a time, so only one item's dict exists at any moment.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import orjson

Write = Callable[[bytes], object]
_INDENT = b"  "


class Streamed:
    """A list whose items are produced (and serialized) only while writing."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


def dump(doc: Any, write: Write, *, indent: bool = True) -> None:
    """Write ``orjson.dumps(doc, option=OPT_INDENT_2)`` (or compact) through ``write``,
    expanding every :class:`Streamed` value in place."""
    streamed: list[Streamed] = []

    def placeholder(value: Any) -> str:
        if isinstance(value, Streamed):
            streamed.append(value)
            return f"\x00streamed:{len(streamed) - 1}\x00"
        raise TypeError(f"not JSON serializable: {type(value).__name__}")

    option = orjson.OPT_INDENT_2 if indent else 0
    skeleton = orjson.dumps(doc, default=placeholder, option=option)
    rest = skeleton
    for index, value in enumerate(streamed):
        marker = orjson.dumps(f"\x00streamed:{index}\x00")
        head, rest = rest.split(marker, 1)
        write(head)
        # The line holding the placeholder sets the list's indentation; its items
        # sit one level deeper, as orjson would have put them.
        line = head[head.rfind(b"\n") + 1 :]
        depth = (len(line) - len(line.lstrip(b" "))) // 2
        _write_list(value.items, write, depth, option)
    write(rest)


def _write_list(items: Iterable[Any], write: Write, depth: int, option: int) -> None:
    if not option:
        write(b"[")
        for n, item in enumerate(items):
            write(b"," + orjson.dumps(item) if n else orjson.dumps(item))
        write(b"]")
        return
    inner = b"\n" + _INDENT * (depth + 1)
    empty = True
    for item in items:
        text = orjson.dumps(item, option=option).replace(b"\n", inner)
        write((b"[" if empty else b",") + inner + text)
        empty = False
    write(b"[]" if empty else b"\n" + _INDENT * depth + b"]")


def collect(produce: Callable[[Write], None]) -> bytes:
    """What ``produce`` writes, as bytes (``render_*`` returning the whole text)."""
    buffer = io.BytesIO()
    produce(buffer.write)
    return buffer.getvalue()
