"""Where each Terraform resource (and each inline rule block) is declared in the ``.tf`` files.

A plan names resources by address only; a finding is far more useful when it points
at the exact block a reviewer must change (SARIF, pull-request annotations). So the
``.tf`` files of the root module and of every *local* module it calls are parsed
and each resource address (with its module prefix) is mapped to file and lines.

python-hcl2 8 no longer honours ``with_meta`` in ``load``, so the raw Lark parse
tree (which carries line numbers) is walked instead of the serialized dict.

The same walk reads ``policycheck:ignore`` comments (the tree keeps comments as
tokens, so a ``#`` inside a string or heredoc is never mistaken for one) and the
resource or inline block each one covers.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from policycheck.errors import InputError, one_line
from policycheck.inputs import read_text
from policycheck.model import InlineIgnore

# python-hcl2 and Lark (~60 ms to import) are imported by the functions that read
# a .tf file, so a plan scanned without its sources never loads them.
if TYPE_CHECKING:
    from lark import Token, Tree

#: ``[0]`` or ``["key"]`` instance keys of count/for_each resources and modules.
_INSTANCE_KEY = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|[^\]"]*)\]')
#: The inline ignore marker: ``# policycheck:ignore SWYX001 expires=2027-03-31 reason="..."``.
IGNORE_MARKER = "policycheck:ignore"
IGNORE_SYNTAX = '# policycheck:ignore SWYX001 expires=YYYY-MM-DD reason="why"'
_RULE_ID = re.compile(r"^[A-Z]+[0-9]+$")


@dataclass(frozen=True)
class Location:
    """A block in a ``.tf`` file; ``file`` is relative to the repository root or cwd."""

    file: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class NestedBlock:
    """An inline block (``ingress``, ``security_rule``, ``allow``...) and its literal fields."""

    block_type: str
    literals: dict[str, str]
    location: Location


@dataclass
class Locations:
    """Resource address (without instance keys) -> its block and its inline blocks."""

    resources: dict[str, Location] = field(default_factory=dict)
    nested: dict[str, list[NestedBlock]] = field(default_factory=dict)
    #: ``policycheck:ignore`` comments by (file, line): a module called twice is read twice.
    ignores: dict[tuple[str, int], InlineIgnore] = field(default_factory=dict)
    #: ``file: reason`` for each .tf file that could not be read; its blocks have no lines.
    unreadable: list[str] = field(default_factory=list)

    def find(self, address: str) -> Location | None:
        """The block declaring ``address``; ``x[0]``/``x["k"]`` map to the block of ``x``."""
        return self.resources.get(strip_instance_keys(address))

    def find_nested(
        self, address: str, block_type: str, values: dict[str, object], index: int
    ) -> Location | None:
        """The inline block of ``address`` that matches ``values``.

        Planned inline blocks come back in the provider's set order, not file order,
        so blocks are matched by their literal fields (port, protocol, name...); the
        ``index``-th block of that type is only the fallback when nothing matches.
        """
        blocks = [
            b
            for b in self.nested.get(strip_instance_keys(address), [])
            if b.block_type == block_type
        ]
        wanted = {k: _scalar_text(v) for k, v in values.items() if _scalar_text(v) is not None}
        matches = [
            b
            for b in blocks
            if b.literals
            and all(wanted.get(k) == v for k, v in b.literals.items() if k in wanted)
            and any(k in wanted for k in b.literals)
        ]
        if len(matches) == 1:
            return matches[0].location
        if 0 <= index < len(blocks):
            return blocks[index].location
        return None


def strip_instance_keys(address: str) -> str:
    """``module.a["x"].aws_sg.b[0]`` -> ``module.a.aws_sg.b``."""
    return _INSTANCE_KEY.sub("", address)


def _scalar_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value).lower()
    return None


def display_path(path: Path, cwd: Path | None = None) -> str:
    """A path relative to the cwd's git repository root (or the cwd), for reports."""
    here = (cwd or Path.cwd()).resolve()
    root = next((p for p in (here, *here.parents) if (p / ".git").exists()), here)
    resolved = path.resolve()
    if resolved.is_relative_to(root):
        return resolved.relative_to(root).as_posix()
    return resolved.as_posix()


def load_locations(tf_dir: Path) -> Locations:
    """Parse the root module in ``tf_dir`` and every local module it calls."""
    locations = Locations()
    _load_module(tf_dir, "", locations, seen=set())
    return locations


def _load_module(directory: Path, prefix: str, out: Locations, seen: set[tuple[Path, str]]) -> None:
    key = (directory.resolve(), prefix)
    if key in seen or not directory.is_dir():
        return
    seen.add(key)
    for tf_file in sorted(p for p in directory.glob("*.tf") if p.is_file()):
        try:
            tree, text = _parse(tf_file)
            _read_blocks(tree, text, tf_file, directory, prefix, out, seen)
        except InputError as exc:
            # Lines are a convenience: HCL that python-hcl2 cannot parse (it does not
            # know every construct Terraform accepts) costs that file's lines only.
            out.unreadable.append(str(exc))
            continue
        # Outside the try: a malformed ignore comment is an error (exit 2), not a
        # convenience lost, exactly like a suppression without reason or expiry.
        for ignore in read_ignores(tree, text, display_path(tf_file)):
            out.ignores[(ignore.file, ignore.line)] = ignore


def _read_blocks(
    tree: Tree[Token],
    text: str,
    tf_file: Path,
    directory: Path,
    prefix: str,
    out: Locations,
    seen: set[tuple[Path, str]],
) -> None:
    from lark.exceptions import LarkError

    shown = display_path(tf_file)
    try:
        for block in _blocks(tree):
            labels = _labels(block)
            kind = _block_type(block)
            if kind == "resource" and len(labels) == 2:
                address = f"{prefix}{labels[0]}.{labels[1]}"
                out.resources[address] = _location(block, shown)
                out.nested[address] = _nested_blocks(block, shown, text)
            elif kind == "module" and len(labels) == 1:
                source = _literal_attribute(block, "source", text)
                if source is not None and source.startswith(("./", "../")):
                    child = directory / source
                    _load_module(child, f"{prefix}module.{labels[0]}.", out, seen)
    except (LarkError, AttributeError, IndexError, TypeError, ValueError) as exc:
        raise InputError(f"{tf_file}: cannot read HCL blocks: {type(exc).__name__}") from None


def _parse(tf_file: Path) -> tuple[Tree[Token], str]:
    import hcl2
    from lark.exceptions import LarkError

    text = read_text(tf_file, "Terraform file")
    try:
        tree: Tree[Token] = hcl2.parses_to_tree(text)
    except (LarkError, RecursionError, ValueError) as exc:
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        where = f" at line {line} column {column}" if line and column else ""
        reason = one_line(str(exc)).split(". Expected", 1)[0] if not where else ""
        detail = f": {reason}" if reason else ""
        raise InputError(f"{tf_file}: cannot parse HCL{where}{detail}") from None
    return tree, text


def _body(block: Tree[Token]) -> Tree[Token] | None:
    from lark import Tree

    return next((c for c in block.children if isinstance(c, Tree) and c.data == "body"), None)


def _blocks(node: Tree[Token]) -> list[Tree[Token]]:
    from lark import Tree

    body = node if node.data == "body" else _body(node)
    if body is None and node.data == "start":
        body = next((c for c in node.children if isinstance(c, Tree) and c.data == "body"), None)
    if body is None:
        return []
    return [c for c in body.children if isinstance(c, Tree) and c.data == "block"]


def _block_type(block: Tree[Token]) -> str:
    from lark import Tree

    first = block.children[0]
    return _identifier(first) if isinstance(first, Tree) else str(first)


def _identifier(node: Tree[Token]) -> str:
    from lark import Token

    return "".join(str(t) for t in node.scan_values(lambda v: isinstance(v, Token)))


def _labels(block: Tree[Token]) -> list[str]:
    from lark import Token, Tree

    labels = []
    for child in block.children[1:]:
        if isinstance(child, Tree) and child.data == "string":
            labels.append(
                "".join(str(t) for t in child.scan_values(lambda v: isinstance(v, Token)))[1:-1]
            )
        elif isinstance(child, Tree) and child.data == "identifier":
            labels.append(_identifier(child))
    return labels


def _location(node: Tree[Token], shown: str) -> Location:
    return Location(file=shown, start_line=node.meta.line, end_line=node.meta.end_line)


def _attributes(block: Tree[Token], text: str) -> dict[str, str]:
    """Attribute name -> its source text, for the block's own attributes."""
    from lark import Tree

    body = _body(block)
    out: dict[str, str] = {}
    if body is None:
        return out
    for child in body.children:
        if isinstance(child, Tree) and child.data == "attribute":
            name = _identifier(child.children[0])  # type: ignore[arg-type]
            expr = child.children[-1]
            if isinstance(expr, Tree) and not expr.meta.empty:
                out[name] = text[expr.meta.start_pos : expr.meta.end_pos].strip()
    return out


def _literal(source: str) -> str | None:
    """A quoted string or a number as comparable text; anything else is not literal."""
    if re.fullmatch(r'"[^"$%\\]*"', source):
        return source[1:-1].lower()
    if re.fullmatch(r"-?\d+", source) or source in ("true", "false"):
        return source.lower()
    return None


def _literal_attribute(block: Tree[Token], name: str, text: str) -> str | None:
    raw = _attributes(block, text).get(name)
    if raw is None or not re.fullmatch(r'"[^"$%\\]*"', raw):
        return None
    return raw[1:-1]


def _nested_blocks(block: Tree[Token], shown: str, text: str) -> list[NestedBlock]:
    out = []
    for inner in _blocks(block):
        literals = {
            name: value
            for name, raw in _attributes(inner, text).items()
            if (value := _literal(raw)) is not None
        }
        out.append(NestedBlock(_block_type(inner), literals, _location(inner, shown)))
    return out


# ------------------------------------------------------------------ ignores


def read_ignores(tree: Tree[Token], text: str, shown: str) -> list[InlineIgnore]:
    """The file's ``policycheck:ignore`` comments, each with the block it covers.

    A comment covers the resource or inline block that starts on the line after
    it (a run of comment lines may sit in between), else the innermost resource
    or inline block it is inside. Anywhere else it would cover nothing: an error.
    """
    from lark import Token

    comments = [
        t
        for t in tree.scan_values(lambda v: isinstance(v, Token) and v.type == "NL_OR_COMMENT")
        if _comment_body(str(t)).startswith(IGNORE_MARKER)
    ]
    if not comments:
        return []
    lines = text.splitlines()
    spans = [
        (b.meta.line, b.meta.end_line)
        for block in _blocks(tree)
        if _block_type(block) == "resource"
        for b in _descendants(block)
    ]
    out = []
    for token in comments:
        where = f"{shown}:{token.line}"
        rules, reason, expires = _parse_ignore(str(token), where)
        span = _covered_span(token, lines, spans)
        if span is None:
            raise InputError(
                f"{where}: {IGNORE_MARKER} is neither inside nor directly above a resource "
                "or rule block, so it would suppress nothing"
            )
        out.append(
            InlineIgnore(
                file=shown,
                line=token.line or 1,
                start_line=span[0],
                end_line=span[1],
                rules=rules,
                reason=reason,
                expires=expires,
            )
        )
    return out


def _descendants(block: Tree[Token]) -> list[Tree[Token]]:
    out = [block]
    for inner in _blocks(block):
        out.extend(_descendants(inner))
    return out


def _covered_span(
    token: Token, lines: list[str], spans: list[tuple[int, int]]
) -> tuple[int, int] | None:
    line = token.line or 1
    column = token.column or 1
    whole_line = not lines[line - 1][: column - 1].strip() if line <= len(lines) else False
    if whole_line:
        below = line + str(token).rstrip("\n").count("\n") + 1
        while below <= len(lines) and lines[below - 1].lstrip().startswith(("#", "//")):
            below += 1
        starting = [s for s in spans if s[0] == below]
        if starting:
            return max(starting, key=lambda s: s[1] - s[0])
    inside = [s for s in spans if s[0] <= line <= s[1]]
    return min(inside, key=lambda s: s[1] - s[0]) if inside else None


def _comment_body(comment: str) -> str:
    """A comment's text without its markers; an ignore is a comment that starts
    with the marker, so prose that mentions it is not one."""
    body = comment.strip()
    if body.startswith("/*"):
        return body[2:].removesuffix("*/").strip()
    return body.removeprefix("//").removeprefix("#").strip()


def _parse_ignore(comment: str, where: str) -> tuple[tuple[str, ...], str, dt.date]:
    """``SWYX001[,SWYX002] expires=YYYY-MM-DD reason="..."`` after the marker."""
    rest = _comment_body(comment).removeprefix(IGNORE_MARKER)
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise InputError(f"{where}: {IGNORE_MARKER}: {exc} (syntax: {IGNORE_SYNTAX})") from None
    rules: list[str] = []
    values: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if eq:
            if key not in ("expires", "reason"):
                raise InputError(
                    f"{where}: {IGNORE_MARKER}: unknown key {key!r} (syntax: {IGNORE_SYNTAX})"
                )
            values[key] = value
            continue
        for rule in filter(None, word.split(",")):
            if not _RULE_ID.match(rule):
                raise InputError(
                    f"{where}: {IGNORE_MARKER}: {rule!r} is not a rule id (syntax: {IGNORE_SYNTAX})"
                )
            rules.append(rule)
    if not rules:
        raise InputError(f"{where}: {IGNORE_MARKER} names no rule (syntax: {IGNORE_SYNTAX})")
    reason = values.get("reason", "").strip()
    if len(reason) < 3:
        raise InputError(
            f'{where}: {IGNORE_MARKER} needs reason="..." saying why (syntax: {IGNORE_SYNTAX})'
        )
    if "expires" not in values:
        raise InputError(
            f"{where}: {IGNORE_MARKER} needs expires=YYYY-MM-DD: every exception ends "
            f"(syntax: {IGNORE_SYNTAX})"
        )
    try:
        expires = dt.date.fromisoformat(values["expires"])
    except ValueError:
        raise InputError(
            f"{where}: {IGNORE_MARKER}: expires={values['expires']!r} is not a date (YYYY-MM-DD)"
        ) from None
    return tuple(dict.fromkeys(rules)), reason, expires
