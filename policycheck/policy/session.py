"""Evaluating a set of Rego modules on one input, embedded or on an OPA server.

Both engines take the same :class:`Query` list and give the same answers
(``{query: (defined, value)}``); every failure becomes one :class:`InputError`
line that names the file and line (``file.rego:LINE``), or the OPA URL and
policy, and carries the engine's own message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from policycheck.errors import InputError, one_line
from policycheck.policy.embedded import (
    EmbeddedEngine,
    EngineCrash,
    EngineError,
    EngineTimeout,
    EngineUnavailable,
)
from policycheck.policy.source import KEYWORDS, Source

#: Functions rego-cpp evaluates although it does not list them as built-ins.
ENGINE_EXTRAS = frozenset({"print"})
TIMEOUT_HINT = "(raise the limit with --rego-timeout)"

Answers = dict[str, tuple[bool, Any]]


@dataclass(frozen=True)
class Query:
    #: ``data.pkg.rule``
    expr: str
    #: ``file.rego:LINE`` of the rule, for errors.
    where: str


class Modules:
    """The modules of one evaluation, and positions in them as ``file:LINE``."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = list(sources)
        self._text = {s.display: s.text for s in sources}

    def pairs(self) -> list[tuple[str, str]]:
        return [(s.display, s.text) for s in self.sources]

    def where(self, file: str | None, offset: int | None) -> str | None:
        """``file:LINE`` for an engine position (a byte offset into the module)."""
        if file is None or file not in self._text:
            return None
        if offset is None:
            return file
        line = self._text[file].encode()[:offset].count(b"\n") + 1
        return f"{file}:{line}"


#: rego-cpp's fixed budget of statements per query (not settable through its C API).
STATEMENT_BUDGET = "Maximum statement count reached"


def engine_error(exc: EngineError, modules: Modules, fallback: str) -> InputError:
    where = modules.where(exc.file, exc.offset) or fallback
    hint = ""
    if exc.message.startswith(STATEMENT_BUDGET):
        hint = "; on a large estate use --rego opa or --shard K/N (docs/rego.md, Cost)"
    return InputError(f"{where}: {one_line(exc.message)} (embedded Rego engine){hint}")


def check_calls(engine: EmbeddedEngine, sources: Sequence[Source]) -> None:
    """What rego-cpp gets wrong without a word, caught before it runs:

    - a call of a function that is neither defined nor a built-in (rego-cpp
      answers "undefined", or an error without a position);
    - one function name with different numbers of arguments in two packages
      (rego-cpp 1.5 crashes or reports a cycle);
    - ``with ... as <rule>`` (rego-cpp 1.5 evaluates it wrongly, without error).
    """
    _check_arities(sources)
    _check_with_values(sources)
    defined: dict[str, set[str]] = {}
    for src in sources:
        names = defined.setdefault(src.package or "", set())
        names.update(src.functions)
        names.update(src.rules)
    candidates: list[tuple[Source, str, int]] = []
    for src in sources:
        local = defined.get(src.package or "", set())
        for call in src.calls:
            head = call.name.split(".", 1)[0]
            if call.name in KEYWORDS or call.name in local or head in ("data", "input"):
                continue
            if "." in call.name and head in src.aliases:
                continue  # a function of an imported package: the engine checks it
            candidates.append((src, call.name, call.line))
    if not candidates:
        return
    missing = set(engine.missing_builtins(sorted({name for _, name, _ in candidates})))
    missing -= ENGINE_EXTRAS
    for src, name, line in candidates:
        if name in missing:
            raise InputError(
                f"{src.display}:{line}: {name} is neither defined in the policies nor a "
                f"built-in function of the embedded Rego engine (rego-cpp {engine.version()}); "
                "docs/rego.md lists the built-ins it supports, and --rego opa evaluates on "
                "an OPA server"
            )


def _check_with_values(sources: Sequence[Source]) -> None:
    for src in sources:
        rules = set(src.rules) - set(src.functions)
        for value in src.with_values:
            head = value.name.split(".", 1)[0]
            if head == "data" or head in rules:
                raise InputError(
                    f"{src.display}:{value.line}: `with ... as {value.name}`: the embedded Rego "
                    "engine (rego-cpp 1.5) replaces with a rule's value wrongly; bind it to a "
                    f"variable first (x := {value.name}; ... with ... as x)"
                )


def _check_arities(sources: Sequence[Source]) -> None:
    seen: dict[str, tuple[int, str]] = {}
    for src in sources:
        for name, arities in src.functions.items():
            for arity, line in sorted(arities.items()):
                where = f"{src.display}:{line}"
                first = seen.setdefault(name, (arity, where))
                if first[0] != arity:
                    raise InputError(
                        f"{where}: function {name} takes {arity} argument(s) here and "
                        f"{first[0]} at {first[1]}; the embedded Rego engine (rego-cpp) "
                        "cannot evaluate one name with different numbers of arguments, "
                        "even in different packages: rename one"
                    )


def run_embedded(
    sources: Sequence[Source],
    data: dict[str, Any],
    document: Any,
    queries: Sequence[Query],
    *,
    timeout: float,
) -> Answers:
    """Load everything once into one rego-cpp interpreter, then ask each query."""
    modules = Modules(sources)
    answers: Answers = {}
    first = sources[0].where() if sources else "Rego"
    try:
        with EmbeddedEngine(timeout) as engine:
            check_calls(engine, sources)
            try:
                engine.load(modules.pairs(), data, document)
            except EngineError as exc:
                raise engine_error(exc, modules, first) from exc
            except EngineTimeout as exc:
                raise InputError(
                    f"{first}: loading the policies and the input {exc} {TIMEOUT_HINT}"
                ) from exc
            for query in queries:
                try:
                    answers[query.expr] = engine.query(query.expr)
                except EngineError as exc:
                    raise engine_error(exc, modules, query.where) from exc
                except EngineTimeout as exc:
                    raise InputError(f"{query.where}: {query.expr} {exc} {TIMEOUT_HINT}") from exc
                except EngineCrash as exc:
                    raise InputError(f"{query.where}: {exc} evaluating {query.expr}") from exc
    except EngineCrash as exc:
        raise InputError(f"{first}: {exc}") from exc
    except EngineUnavailable as exc:
        raise InputError(str(exc)) from exc
    return answers
