"""Where each Terraform resource (and each inline rule block) is declared in the ``.tf`` files.

A plan names resources by address only; a finding is far more useful when it points
at the exact block a reviewer must change (SARIF, pull-request annotations). So the
``.tf`` files of the root module and of every *local* module it calls are parsed
and each resource address (with its module prefix) is mapped to file and lines.

python-hcl2 8 no longer honours ``with_meta`` in ``load``, so the raw Lark parse
tree (which carries line numbers) is walked instead of the serialized dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import hcl2
from lark import Token, Tree
from lark.exceptions import LarkError

from policycheck.errors import InputError, one_line
from policycheck.inputs import read_text

#: ``[0]`` or ``["key"]`` instance keys of count/for_each resources and modules.
_INSTANCE_KEY = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|[^\]"]*)\]')


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


def _read_blocks(
    tree: Tree[Token],
    text: str,
    tf_file: Path,
    directory: Path,
    prefix: str,
    out: Locations,
    seen: set[tuple[Path, str]],
) -> None:
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
    return next((c for c in block.children if isinstance(c, Tree) and c.data == "body"), None)


def _blocks(node: Tree[Token]) -> list[Tree[Token]]:
    body = node if node.data == "body" else _body(node)
    if body is None and node.data == "start":
        body = next((c for c in node.children if isinstance(c, Tree) and c.data == "body"), None)
    if body is None:
        return []
    return [c for c in body.children if isinstance(c, Tree) and c.data == "block"]


def _block_type(block: Tree[Token]) -> str:
    first = block.children[0]
    return _identifier(first) if isinstance(first, Tree) else str(first)


def _identifier(node: Tree[Token]) -> str:
    return "".join(str(t) for t in node.scan_values(lambda v: isinstance(v, Token)))


def _labels(block: Tree[Token]) -> list[str]:
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
