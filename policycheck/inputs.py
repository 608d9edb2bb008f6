"""Reading input files: every plan, snapshot and profile enters policycheck here.

An audit tool reads files nobody reviewed: a plan written by PowerShell (UTF-16),
a profile saved by a Windows editor (BOM), a binary uploaded by mistake, a
document nested 100,000 levels deep, ``/dev/zero``. Each of these is refused or
decoded here, once, as one :class:`~policycheck.errors.InputError` naming the file,
the place in it and the problem, before any parser or model sees the data:

- size: larger than :func:`max_input_bytes` (``POLICYCHECK_MAX_INPUT``) is refused
  before reading (regular files) or as soon as the limit is passed (pipes);
  devices (``/dev/zero``, a terminal), sockets and directories are not read at all;
- encoding: UTF-8, UTF-8 with BOM, UTF-16/UTF-32 with BOM, BOM-less UTF-16;
  binary data is named as such;
- structure: nesting deeper than :data:`MAX_DEPTH`, YAML aliases that expand
  beyond :data:`MAX_YAML_NODES` nodes, numbers too large to hold, impossible dates.
"""

from __future__ import annotations

import itertools
import os
import re
import stat
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from policycheck.errors import InputError, one_line, scrub, visible

#: Default input size limit; POLICYCHECK_MAX_INPUT overrides it (e.g. ``8G``, ``500M``).
DEFAULT_MAX_INPUT = 4 << 30
MAX_INPUT_VARIABLE = "POLICYCHECK_MAX_INPUT"
#: Deepest nesting accepted. Real plans, snapshots and profiles stay far below
#: (a Terraform plan of nested modules and dynamic blocks: ~20); the limit keeps
#: every recursive reader far from Python's recursion limit.
MAX_DEPTH = 128
#: Most YAML nodes a profile may expand to through aliases ("billion laughs").
MAX_YAML_NODES = 1_000_000

_CHUNK = 1 << 20
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def max_input_bytes() -> int:
    """The size limit for one input file, from ``POLICYCHECK_MAX_INPUT`` or the default."""
    raw = os.environ.get(MAX_INPUT_VARIABLE)
    if not raw:
        return DEFAULT_MAX_INPUT
    match = _SIZE.match(raw)
    if not match or int(match.group(1)) == 0:
        raise InputError(
            f"{MAX_INPUT_VARIABLE}: {scrub(raw, limit=60)!r} is not a size (e.g. 500M, 8G)"
        )
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def _size_text(size: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]} {unit}iB"
    return f"{size} bytes"


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of ``path`` (a file or a pipe such as ``<(terraform show -json p)``)."""
    limit = max_input_bytes()
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise InputError(f"{path}: is a directory, not a {what} file")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        kind = "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"
        raise InputError(f"{path}: is a {kind}, not a {what} file")
    too_large = (
        f"{path}: the {what} is larger than {_size_text(limit)} "
        f"(raise the limit with {MAX_INPUT_VARIABLE}, e.g. {MAX_INPUT_VARIABLE}=16G)"
    )
    if stat.S_ISREG(mode) and info.st_size > limit:
        raise InputError(too_large)
    chunks: list[bytes] = []
    total = 0
    # A regular file is read in one piece of its size (one more byte sees it grow):
    # no chunks joined into a second copy (0.01-0.015 s of a 28 MiB plan).
    size = min(info.st_size + 1, limit + 1) if stat.S_ISREG(mode) else _CHUNK
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(size):
                size = _CHUNK
                total += len(chunk)
                if total > limit:
                    raise InputError(too_large)
                chunks.append(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    return b"".join(chunks)


# ------------------------------------------------------------------- encoding

_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32"),
    (b"\xef\xbb\xbf", "utf-8", "UTF-8"),
    (b"\xff\xfe", "utf-16-le", "UTF-16"),
    (b"\xfe\xff", "utf-16-be", "UTF-16"),
)
_BOM_PREFIXES = tuple(bom for bom, _, _ in _BOMS)
#: C0 controls other than tab, newline and carriage return: never in a text input.
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_text(raw: bytes, where: str, what: str) -> str:
    """Text of a file written on any platform.

    Windows PowerShell's ``>`` writes UTF-16LE (with a BOM; some tools drop it) and
    Windows editors like a UTF-8 BOM, so such a file reads the same as one made on
    Linux. Anything that still is not text is refused as binary data.
    """
    for bom, codec, name in _BOMS:
        if raw.startswith(bom):
            body, encoding = raw[len(bom) :], (codec, name)
            break
    else:
        body = raw
        if len(raw) >= 2 and raw[1] == 0 and raw[0] != 0 and b"\x00\x00" not in raw[:64]:
            encoding = ("utf-16-le", "UTF-16")  # BOM-less UTF-16LE: ASCII with NULs between
        elif len(raw) >= 2 and raw[0] == 0 and raw[1] != 0 and b"\x00\x00" not in raw[:64]:
            encoding = ("utf-16-be", "UTF-16")
        else:
            encoding = ("utf-8", "UTF-8")
    guessed = body is raw and encoding[1] != "UTF-8"
    try:
        text = body.decode(encoding[0])
    except UnicodeDecodeError as exc:
        if guessed or (encoding[1] == "UTF-8" and b"\x00" in body[:8192]):
            raise InputError(f"{where}: binary data, not a {what} (a text file)") from None
        offset = exc.start + (len(raw) - len(body))
        raise InputError(
            f"{where}: not {encoding[1]} text (invalid byte 0x{body[exc.start]:02x} at offset "
            f"{offset}); save the {what} as UTF-8"
        ) from None
    control = _BINARY.search(text)
    if control is not None:
        line = text.count("\n", 0, control.start()) + 1
        raise InputError(
            f"{where}: binary data, not a {what} (control character "
            f"U+{ord(control.group()):04X} at line {line})"
        )
    return text


def read_text(path: Path, what: str) -> str:
    """The decoded text of ``path``; see :func:`read_bytes` and :func:`decode_text`."""
    return decode_text(read_bytes(path, what), str(path), what)


# ------------------------------------------------------------------- messages


def describe(value: Any) -> str:
    """A short description of a malformed value for an error message."""
    try:
        text = one_line(orjson.dumps(value, default=str).decode())
    except (TypeError, orjson.JSONEncodeError):
        text = one_line(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def describe_validation_error(exc: ValidationError) -> str:
    """The first error as ``field.path: message``, with pydantic's noise removed."""
    err = exc.errors()[0]
    loc = ".".join(visible(str(p)) for p in err["loc"])  # keys come from the input too
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required field missing"
    return f"{loc}: {msg}" if loc else msg


def describe_problem(exc: BaseException) -> str:
    """An exception as one short phrase: a model refusal as ``VM addresses.0: invalid IP
    address '10.0.1.300'`` (not pydantic's multi-line report), anything else with its
    type name. For values a source could not use, e.g. in a cloud response."""
    if isinstance(exc, ValidationError):
        return f"{exc.title} {describe_validation_error(exc)}"
    return f"{type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------- JSON


def parse_json(text: str, where: str, hint: str = "") -> Any:
    """A JSON document, no deeper than :data:`MAX_DEPTH`; ``hint`` follows a syntax error.

    orjson rather than the standard library: it refuses deep nesting and oversized
    numbers with a JSONDecodeError instead of RecursionError or ValueError, and
    integers beyond 64 bits become floats that typed readers then refuse by field.
    """
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        at = f"at line {exc.lineno} column {exc.colno}"
        if exc.msg.startswith("depth limit exceeded"):
            raise InputError(f"{where}: nested deeper than {MAX_DEPTH} levels {at}") from None
        if "number" in exc.msg:
            raise InputError(f"{where}: a number too large to read {at}") from None
        raise InputError(f"{where}: not JSON ({exc.msg} {at}){hint}") from None
    check_depth(doc, where)
    return doc


def read_json(path: Path, what: str, hint: str = "") -> Any:
    """The JSON document in ``path``, as ``parse_json(read_text(path, what), ...)`` reads
    it, with an empty file refused as such; ``hint`` follows a syntax error.

    Most inputs are plain UTF-8 JSON: those are parsed from their bytes, without
    a decoded copy and the scan for control characters (JSON refuses them raw,
    but for DEL, looked for here): 0.07 s of a 28 MiB plan. Anything else (a BOM,
    UTF-16, bytes orjson refuses) is decoded and parsed as before, so every
    problem is named as before.
    """
    where = str(path)
    raw = read_bytes(path, what)
    if not raw.startswith(_BOM_PREFIXES) and b"\x7f" not in raw:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            if not json_within(raw, MAX_DEPTH):
                check_depth(doc, where)  # names the place
            return doc
    text = decode_text(raw, where, what)
    del raw
    if not text or text.isspace():  # not text.strip(): that would copy the text
        raise InputError(f"{where}: the {what} file is empty")
    return parse_json(text, where, hint)


#: Every byte but the structure of a JSON text (brackets, braces and quotes).
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')
#: Objects nest like lists: one bracket kind.
_ONE_BRACKET = bytes.maketrans(b"{}", b"[]")


def json_within(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``raw`` (valid JSON: it was parsed) nests its lists and
    objects at most ``limit`` deep, decided from its bytes as :func:`check_depth`
    decides from the parsed document.

    Walking a parsed plan visits every value in Python (0.16-0.22 s of a 28 MiB
    plan, more than parsing it); here bytes methods do the work (~0.05 s): keep
    the brackets and quotes, drop the escaped quotes, the strings, then the
    innermost ``[]`` pairs once per level.
    """
    pieces = raw.split(b"\\")
    kept = [pieces[0].translate(_ONE_BRACKET, _NOT_STRUCTURE)]
    escaping = True  # the backslash before the next piece starts an escape
    for piece in itertools.islice(pieces, 1, None):
        if escaping:
            if not piece:  # two backslashes: the second is the escaped character
                escaping = False
                continue
            if piece[0] == 0x22:  # an escaped quote ends no string
                piece = piece[1:]
        else:
            escaping = True
        kept.append(piece.translate(_ONE_BRACKET, _NOT_STRUCTURE))
    # Quotes now alternate, opening and closing strings; removing two adjacent
    # ones keeps every other byte inside or outside a string as it was.
    quoted = b"".join(kept).replace(b'""', b"")
    structure = b"".join(quoted.split(b'"')[::2])
    for _ in range(limit):
        if not structure:
            return True
        structure = structure.replace(b"[]", b"")  # every list/object of no more depth
    return not structure


#: Where a node sits: its parent's step, and its key (dict) or index (list).
_Step = tuple[Any, object, bool]


def check_depth(doc: Any, where: str, limit: int = MAX_DEPTH) -> None:
    """Refuse ``doc`` if its lists and objects nest deeper than ``limit`` (iteratively).

    Every scan walks its whole input here, so only lists and objects are visited,
    a level at a time in comprehensions, and only a document that is too deep is
    walked again to spell out the path for the error."""
    if not isinstance(doc, dict | list) or _within(doc, limit):
        return
    stack: list[tuple[dict[Any, Any] | list[Any], int, _Step | None]] = [(doc, 0, None)]
    while stack:
        node, depth, step = stack.pop()
        if depth >= limit:
            path = _spell(step)
            raise InputError(f"{where}: nested deeper than {limit} levels at {_short_path(path)}")
        is_dict = isinstance(node, dict)
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in children:
            if isinstance(value, dict | list):
                stack.append((value, depth + 1, (step, key, is_dict)))


#: A tuple, not ``dict | list``: isinstance checks a tuple faster, once per value.
_CONTAINERS = (dict, list)


def _within(doc: dict[Any, Any] | list[Any], limit: int) -> bool:
    """Whether no list or object of ``doc`` is nested ``limit`` levels deep."""
    level: list[Any] = [doc]
    for _ in range(limit):
        below: list[Any] = []
        for node in level:
            values = node.values() if isinstance(node, dict) else node
            below.extend([v for v in values if isinstance(v, _CONTAINERS)])
        if not below:
            return True
        level = below
    return False


def _spell(step: _Step | None) -> str:
    """The path of a node (``.key[3].other``) from its chain of steps."""
    parts: list[str] = []
    while step is not None:
        step, key, in_dict = step
        parts.append(f".{key}" if in_dict else f"[{key}]")
    return "".join(reversed(parts))


def _short_path(path: str) -> str:
    shown = path.lstrip(".") or "the top level"
    return shown if len(shown) <= 80 else shown[:60] + "…" + shown[-16:]


# ----------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader whose value errors (an impossible date, an integer of thousands
    of digits) name their line like syntax errors do."""


def _located(constructor: Any, kind: str) -> Any:
    def construct(loader: _Loader, node: yaml.Node) -> Any:
        try:
            return constructor(loader, node)
        except (ValueError, OverflowError) as exc:
            value = str(node.value)
            shown = repr(value) if len(value) <= 40 else f"of {len(value)} characters"
            reason = str(exc).split(":", 1)[0]
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid {kind} {shown} ({reason})", node.start_mark
            ) from None

    return construct


for _tag, _kind in (("timestamp", "date"), ("int", "integer"), ("float", "number")):
    _tag_uri = f"tag:yaml.org,2002:{_tag}"
    _Loader.add_constructor(_tag_uri, _located(_Loader.yaml_constructors[_tag_uri], _kind))


def parse_yaml(text: str, where: str) -> Any:
    """One YAML document, safely: no tags executed, bounded nesting and alias expansion."""
    _check_yaml_shape(text, where)
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader: no tags run
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not valid YAML{_yaml_problem(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or ""
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
    return f"{where}: {problem}" if problem else where


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 0


def _check_yaml_shape(text: str, where: str) -> None:
    """Walk the event stream (PyYAML's parser is not recursive) before composing,
    which is: refuse deep nesting and alias bombs with the line they are on."""
    depth = 0
    # Per open collection: its anchor and how many nodes it expands to.
    open_nodes: list[tuple[str | None, int]] = []
    sizes: dict[str, int] = {}
    total = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InputError(
                        f"{where}: nested deeper than {MAX_DEPTH} levels at line {_line(event)}"
                    )
                open_nodes.append((event.anchor, 1))
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                anchor, size = open_nodes.pop()
            elif isinstance(event, yaml.ScalarEvent):
                anchor, size = event.anchor, 1
            elif isinstance(event, yaml.AliasEvent):
                anchor, size = None, sizes.get(event.anchor or "", 1)
            else:
                continue
            if anchor:
                sizes[anchor] = size
            if open_nodes:
                parent_anchor, parent_size = open_nodes[-1]
                open_nodes[-1] = (parent_anchor, parent_size + size)
            else:
                total += size
            if size > MAX_YAML_NODES or total > MAX_YAML_NODES:
                raise InputError(
                    f"{where}: aliases expand to more than "
                    f"{MAX_YAML_NODES:,} values at line {_line(event)}"
                )
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not valid YAML{_yaml_problem(exc)}") from None


# ----------------------------------------------------------------------- URLs


def check_url(value: str, name: str) -> str:
    """An ``http(s)://host[:port][/path]`` URL given as option or variable ``name``.

    The message names the option and shows the URL without its credentials.
    """
    from urllib.parse import urlsplit

    shown = scrub(value, limit=80)
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise InputError(f"{name}: {shown!r} is not a valid URL (e.g. https://host:8443)") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not value.isprintable()
        or " " in value.strip()
    ):
        raise InputError(
            f"{name}: {shown!r} is not an http(s) URL (e.g. https://host or http://127.0.0.1:5000)"
        )
    if port == 0:
        raise InputError(f"{name}: {shown!r}: port 0 is not a port")
    return value.strip()
