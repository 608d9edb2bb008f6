"""Atomic output: a failed run never leaves a truncated or half-written file.

The target is checked before any input is read (:func:`check_output_path`), so a
typo in ``-o`` costs a second, not a whole cloud collection, and can never
overwrite the very file being read.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from policycheck.errors import InputError

Write = Callable[[bytes], object]


def check_output_path(path: Path, inputs: Iterable[Path] = ()) -> None:
    """Refuse an output path that cannot be written, or that is one of ``inputs``."""
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"--output {path}: is a directory; name a file")
    if path.exists() and not path.is_file():
        # Replacing /dev/stdout or /dev/null with a file (as root) would break the system.
        raise InputError(f"--output {path}: is not a regular file; leave out -o to write to stdout")
    if not directory.is_dir():
        raise InputError(f"--output {path}: the directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"--output {path}: the directory {directory} is not writable")
    if path.exists():
        for source in inputs:
            try:
                same = source.exists() and os.path.samefile(path, source)
            except OSError:
                same = False
            if same:
                raise InputError(
                    f"--output {path}: is the input {source}; refusing to overwrite it"
                )


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"--output {path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            produce(handle.write)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"--output {path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
