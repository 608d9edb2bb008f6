"""Where reports go: one scan, every output, all written or none.

``-o FILE`` may be given several times; each file's format comes from its
extension (:data:`EXTENSIONS`), ``-o -`` is standard output in ``--format``'s
format. :func:`plan_destinations` decides every destination before anything is
read, so a contradiction (``--format json -o x.sarif``) costs nothing and is
never resolved by a silent guess. :func:`write_files` writes every file to a
temporary file beside it first and renames them only when all are written: a
failed run never leaves a truncated file, nor a new SARIF log beside a stale
Markdown summary.

The targets are checked before any input is read (:func:`check_output_path`), so
a typo in ``-o`` costs a second, not a whole cloud collection, and can never
overwrite the very file being read.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from policycheck.errors import InputError
from policycheck.report import FORMATS, Format

#: File name endings and the format each one means; the longest match wins, so
#: ``x.sarif.json`` (a common name for SARIF logs) is SARIF.
EXTENSIONS: dict[str, Format] = {
    ".sarif": "sarif",
    ".sarif.json": "sarif",
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
STDOUT = "-"


@dataclass(frozen=True)
class Destination:
    """One report to write: a file (``path``) or standard output (``path`` None)."""

    fmt: Format
    path: Path | None = None

    def describe(self) -> str:
        return "standard output" if self.path is None else str(self.path)


def format_of(path: Path) -> Format | None:
    """The format a file name's extension means, or None for an unknown extension."""
    name = path.name.lower()
    matches = [ext for ext in EXTENSIONS if name.endswith(ext) and len(name) > len(ext)]
    return EXTENSIONS[max(matches, key=len)] if matches else None


def _known_extensions() -> str:
    return ", ".join(EXTENSIONS)


def plan_destinations(
    outputs: Sequence[str], fmt: str | None, *, stdout_is_terminal: bool
) -> list[Destination]:
    """Every report a scan writes, decided from the options alone.

    - No ``-o``: standard output, in ``--format`` (default: text on a terminal,
      json otherwise).
    - ``-o FILE``: the format its extension names. ``-o -``: standard output.
    - ``--format`` is standard output's format. Without ``-o -`` nothing goes to
      standard output, so ``--format`` can only describe the files: it must agree
      with each file's extension (``--format sarif -o x.sarif``), and it gives the
      format of a file whose extension names none (``--format sarif -o results``).
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if not outputs:
        outputs = [STDOUT]
    seen: set[str] = set()
    for value in outputs:
        key = value if value == STDOUT else os.path.normcase(os.path.abspath(value))
        if key in seen:
            raise InputError(f"--output {value}: given twice")
        seen.add(key)
    to_stdout = STDOUT in outputs
    stdout_format: Format = fmt or ("text" if stdout_is_terminal else "json")  # type: ignore[assignment]
    out: list[Destination] = []
    for value in outputs:
        if value == STDOUT:
            out.append(Destination(stdout_format))
            continue
        path = Path(value)
        by_name = format_of(path)
        if by_name is None:
            if fmt is None or to_stdout:
                raise InputError(
                    f"--output {value}: the file name does not say which format to write; "
                    f"end it in one of {_known_extensions()}"
                    + ("" if to_stdout else " (or give --format)")
                )
            out.append(Destination(stdout_format, path))
            continue
        if fmt is not None and not to_stdout and by_name != fmt:
            raise InputError(
                f"--format {fmt} contradicts --output {value}, whose extension means "
                f"{by_name}; each file's format comes from its extension, --format is "
                f"standard output's (add -o - to also print {fmt})"
            )
        out.append(Destination(by_name, path))
    return out


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


#: Writes a file's content through the given write function, in as many pieces as
#: it likes (a large JSON or SARIF report never exists whole in memory).
Produce = Callable[[Write], None]


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write one file atomically (see :func:`write_files`)."""
    write_files([(path, data)])


def write_atomic_with(path: Path, produce: Produce) -> None:
    """Let ``produce`` write one file atomically (see :func:`write_files`)."""
    write_files([(path, produce)])


def write_files(files: Sequence[tuple[Path, bytes | str | Produce]]) -> None:
    """Write every file or none: all to temporary files beside their targets
    first, then each renamed into place. If a rename fails, the files already
    replaced get their previous content back (new ones are removed)."""
    staged: list[tuple[Path, str]] = []
    try:
        for path, data in files:
            staged.append((path, _stage(path, data)))
    except BaseException:
        for _, tmp in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    replaced: list[tuple[Path, bool, str | None]] = []
    try:
        for path, tmp in staged:
            existed, backup = path.exists(), _backup(path)
            try:
                os.replace(tmp, path)
            except OSError as exc:
                if backup is not None:
                    Path(backup).unlink(missing_ok=True)
                raise InputError(f"--output {path}: cannot write: {exc.strerror or exc}") from None
            replaced.append((path, existed, backup))
    except BaseException:
        for path, existed, backup in replaced:
            _restore(path, existed, backup)
        for _, tmp in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    for _, _, backup in replaced:
        if backup is not None:
            Path(backup).unlink(missing_ok=True)


def _stage(path: Path, data: bytes | str | Produce) -> str:
    """The content written to a temporary file beside ``path``; its name."""
    produce = _writing(data) if isinstance(data, (bytes, str)) else data
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
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"--output {path}: cannot write: {exc.strerror or exc}") from None
        raise
    return tmp


def _writing(data: bytes | str) -> Produce:
    payload = data.encode("utf-8") if isinstance(data, str) else data

    def produce(write: Write) -> None:
        write(payload)

    return produce


def _backup(path: Path) -> str | None:
    """A hard link to the file about to be replaced, so it can be put back."""
    if not path.is_file():
        return None
    backup = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.bak")
    try:
        os.link(path, backup)
    except OSError:
        return None  # no hard links here: the old content cannot be put back
    return str(backup)


def _restore(path: Path, existed: bool, backup: str | None) -> None:
    try:
        if backup is not None:
            os.replace(backup, path)
        elif not existed:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # best effort: the error that stopped the writing is the one to report
