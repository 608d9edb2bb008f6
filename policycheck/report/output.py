"""Atomic output: a failed run never leaves a truncated or half-written file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

Write = Callable[[bytes], object]


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data

    def produce(write: Write) -> None:
        write(payload)

    write_atomic_with(path, produce)


def write_atomic_with(path: Path, produce: Callable[[Write], None]) -> None:
    """Let ``produce`` write (in as many pieces as it likes) to a temporary file
    beside ``path``, then rename it into place; on any error the file is removed
    and ``path`` is untouched."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            produce(handle.write)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
