"""What policycheck reads from a .rego file without evaluating it.

The package, the rules it defines (with their lines), the functions it calls
(with their lines, so a missing built-in is named as ``file.rego:LINE``) and its
``# METADATA`` annotations (OPA's format: a YAML block in comments just above a
package or a rule). A small tokenizer is enough: comments and strings are
skipped, and a rule head is the first token of a line at nesting depth 0, which
is where Rego (and ``opa fmt``) puts every rule.

Evaluation belongs to the engines; this module never judges whether a policy
parses (the engine says so, with its own message).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Words that can precede "(" without being a function call.
KEYWORDS = frozenset(
    {
        "as",
        "contains",  # also a built-in: a call only when not used as a keyword
        "default",
        "else",
        "every",
        "false",
        "if",
        "import",
        "in",
        "not",
        "null",
        "package",
        "some",
        "true",
        "with",
    }
)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPEN = "([{"
_CLOSE = ")]}"


@dataclass(frozen=True)
class Token:
    kind: str  # "ref" (a dotted name), "punct", "string", "number"
    text: str
    line: int
    #: Nesting depth of (), [] and {} before the token.
    depth: int
    #: The first token on its line.
    first: bool


@dataclass(frozen=True)
class Call:
    name: str
    line: int


@dataclass(frozen=True)
class Annotation:
    """One ``# METADATA`` block: its YAML, the line it starts on, and what it
    annotates (``package``, or the rule's name)."""

    line: int
    target: str
    scope: str
    data: dict[str, Any]


@dataclass
class Source:
    """A parsed view of one .rego file."""

    path: Path
    #: How errors name the file (relative to where the user pointed us).
    display: str
    text: str
    package: str | None = None
    package_line: int = 1
    #: Rule (and function) name -> lines of its heads, in order.
    rules: dict[str, list[int]] = field(default_factory=dict)
    #: Functions defined here (a head followed by "("): name -> {arity: line}.
    functions: dict[str, dict[int, int]] = field(default_factory=dict)
    #: Import aliases (``import data.lib.net`` -> ``net``).
    aliases: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    #: What ``with ... as X`` replaces with, where X is a reference (not a call).
    with_values: list[Call] = field(default_factory=list)
    #: Lines of ``with input as ...`` (the whole input replaced).
    with_input: list[int] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)

    def line_of(self, rule: str) -> int:
        """The line of the rule's first head (the package line if undefined)."""
        lines = self.rules.get(rule)
        return lines[0] if lines else self.package_line

    def where(self, rule: str | None = None) -> str:
        """``file.rego:LINE`` of the rule (or of the package)."""
        line = self.line_of(rule) if rule else self.package_line
        return f"{self.display}:{line}"


class SourceError(ValueError):
    """The file is not a Rego module we can read (no package, bad METADATA)."""


def tokens(text: str) -> Iterator[Token]:
    """Rego tokens without comments, with their line and nesting depth."""
    i, line, depth, n = 0, 1, 0, len(text)
    first = True
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            first = True
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            yield Token("string", text[i : j + 1], line, depth, first)
            first = False
            i = j + 1
        elif c == "`":
            end = text.find("`", i + 1)
            end = n - 1 if end < 0 else end
            yield Token("string", text[i : end + 1], line, depth, first)
            first = False
            line += text.count("\n", i, end)
            i = end + 1
        elif c.isdigit():
            match = re.compile(r"[0-9][0-9.eE+-]*").match(text, i)
            assert match is not None
            yield Token("number", match.group(), line, depth, first)
            first = False
            i = match.end()
        elif c.isalpha() or c == "_":
            match = _REF.match(text, i)
            assert match is not None
            yield Token("ref", match.group(), line, depth, first)
            first = False
            i = match.end()
        else:
            yield Token("punct", c, line, depth, first)
            first = False
            if c in _OPEN:
                depth += 1
            elif c in _CLOSE:
                depth = max(depth - 1, 0)
            i += 1


def parse_source(path: Path, display: str, text: str) -> Source:
    """Package, rules, calls and annotations of one module."""
    src = Source(path=path, display=display, text=text)
    toks = list(tokens(text))
    for k, tok in enumerate(toks):
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if tok.kind != "ref":
            continue
        opens_call = nxt is not None and nxt.kind == "punct" and nxt.text == "("
        if tok.depth == 0 and tok.first:
            _statement(src, toks, k)
            if opens_call and tok.text not in KEYWORDS:
                arities = src.functions.setdefault(tok.text, {})
                arities.setdefault(_arity(toks, k + 1), tok.line)
            continue
        if opens_call and tok.text not in KEYWORDS and _is_call_site(toks, k):
            src.calls.append(Call(tok.text, tok.line))
        if tok.text == "with" and nxt is not None and nxt.text == "input":
            after = toks[k + 2] if k + 2 < len(toks) else None
            if after is not None and after.text == "as":
                src.with_input.append(tok.line)
        if tok.text == "as" and tok.depth > 0 and nxt is not None and nxt.kind == "ref":
            after = toks[k + 2] if k + 2 < len(toks) else None
            if after is None or after.text != "(":
                src.with_values.append(Call(nxt.text, nxt.line))
    if src.package is None:
        raise SourceError(f"{display}: no package declaration (a Rego module starts with one)")
    src.annotations = _annotations(text, display)
    return src


def _statement(src: Source, toks: list[Token], k: int) -> None:
    tok = toks[k]
    if tok.text == "package" and k + 1 < len(toks):
        if src.package is None:
            src.package, src.package_line = toks[k + 1].text, tok.line
        return
    if tok.text == "import" and k + 1 < len(toks):
        target = toks[k + 1].text
        alias = target.rsplit(".", 1)[-1]
        if k + 3 < len(toks) and toks[k + 2].text == "as":
            alias = toks[k + 3].text
        src.aliases.add(alias)
        return
    if tok.text == "default" and k + 1 < len(toks):
        tok = toks[k + 1]
    if tok.text in KEYWORDS:
        return
    src.rules.setdefault(tok.text, []).append(tok.line)


def _arity(toks: list[Token], open_at: int) -> int:
    """The number of arguments between the "(" at ``open_at`` and its ")"."""
    depth = toks[open_at].depth + 1
    args, empty = 1, True
    for tok in toks[open_at + 1 :]:
        if tok.kind == "punct" and tok.text == ")" and tok.depth == depth:
            return 0 if empty else args
        empty = False
        if tok.kind == "punct" and tok.text == "," and tok.depth == depth:
            args += 1
    return args


def _is_call_site(toks: list[Token], k: int) -> bool:
    """Not a call: ``x.y(`` written as part of a longer term, e.g. after ``]``."""
    if k == 0:
        return True
    prev = toks[k - 1]
    return not (prev.kind == "punct" and prev.text in ".")


def _annotations(text: str, display: str) -> list[Annotation]:
    """OPA's METADATA blocks: ``# METADATA`` then ``#``-comment lines of YAML, just
    above the package or rule they annotate."""
    lines = text.splitlines()
    out: list[Annotation] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "# METADATA":
            i += 1
            continue
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].lstrip().startswith("#"):
            content = lines[i].lstrip()[1:]
            body.append(content[1:] if content.startswith(" ") else content)
            i += 1
        where = f"{display}:{start + 1}"
        try:
            data = yaml.safe_load("\n".join(body)) or {}
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise SourceError(f"{where}: METADATA is not valid YAML ({problem})") from exc
        if not isinstance(data, dict):
            raise SourceError(f"{where}: METADATA must be a YAML mapping (title:, custom:, ...)")
        # The next statement is what the block annotates.
        j = i
        while j < len(lines) and not lines[j].strip():
            j += 1
        statement = lines[j].strip() if j < len(lines) else ""
        match = _IDENT.match(statement)
        word = match.group() if match else ""
        if word == "package":
            target = "package"
        elif word == "default":
            rest = _IDENT.match(statement[len("default") :].lstrip())
            target = rest.group() if rest else ""
        else:
            target = word
        if not target:
            raise SourceError(f"{where}: METADATA must be followed by a package or a rule")
        default_scope = "package" if target == "package" else "rule"
        scope = str(data.get("scope", default_scope))
        out.append(Annotation(line=start + 1, target=target, scope=scope, data=data))
    return out
