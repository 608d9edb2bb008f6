"""Evaluating a set of Rego modules on one input, embedded or on an OPA server.

Both engines take the same :class:`Query` list and give the same answers
(``{query: (defined, value)}``); every failure becomes one :class:`InputError`
line that names the file and line (``file.rego:LINE``), or the OPA URL and
policy, and carries the engine's own message.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from policycheck.errors import InputError, one_line
from policycheck.policy.batches import union
from policycheck.policy.embedded import (
    DEFAULT_ENGINE,
    EmbeddedEngine,
    EngineCrash,
    EngineError,
    EngineName,
    EngineTimeout,
    EngineUnavailable,
    require_engine,
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

    def where(self, file: str | None, offset: int | None, line: int | None = None) -> str | None:
        """``file:LINE`` for an engine position: a byte offset into the module
        (rego-cpp) or its line (OPA)."""
        if file is None or file not in self._text:
            return None
        if line is None and offset is not None:
            line = self._text[file].encode()[:offset].count(b"\n") + 1
        return file if line is None else f"{file}:{line}"


#: rego-cpp's fixed budget of statements per query (not settable through its C API).
STATEMENT_BUDGET = "Maximum statement count reached"


def engine_error(exc: EngineError, modules: Modules, fallback: str) -> InputError:
    where = modules.where(exc.file, exc.offset, exc.line) or fallback
    hint = ""
    if exc.message.startswith(STATEMENT_BUDGET):
        hint = (
            "; evaluate fewer VMs at once (--rego-batch), on OPA's own engine "
            "(--rego-engine opa) or on an OPA server (--rego opa); docs/rego.md, Cost"
        )
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
                "docs/rego.md lists the built-ins it supports; OPA's own engine has them "
                "all (--rego-engine opa, or an OPA server with --rego opa)"
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


def default_workers() -> int:
    """rego-cpp processes a scan runs side by side: one per usable core, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def run_embedded(
    sources: Sequence[Source],
    data: dict[str, Any],
    documents: Sequence[Any],
    queries: Sequence[Query],
    *,
    timeout: float,
    workers: int | None = None,
    engine: EngineName = DEFAULT_ENGINE,
) -> Answers:
    """Every query on every input document (a batch, policycheck/policy/batches.py),
    on a small pool of engine processes (rego-cpp or OPA) that each load the
    modules once; the batches' answers united per query. ``timeout``: seconds the
    whole evaluation (every batch) may take."""
    modules = Modules(sources)
    first = sources[0].where() if sources else "Rego"
    deadline = time.monotonic() + timeout
    count = max(1, min(workers or default_workers(), len(documents)))
    engines = [EmbeddedEngine(timeout, engine) for _ in range(count)]
    answers: list[Answers] = [{} for _ in documents]
    pending = iter(enumerate(documents))
    lock = threading.Lock()
    failures: list[Exception] = []

    def work(engine: EmbeddedEngine) -> None:
        loaded = False
        while not failures:
            with lock:
                item = next(pending, None)
            if item is None:
                return
            index, document = item
            try:
                if not loaded:
                    _step(engine.load, deadline, timeout, first, modules, modules.pairs(), data)
                    loaded = True
                answers[index] = _evaluate(engine, modules, document, queries, deadline, timeout)
            except Exception as exc:  # InputError, or a bug: never a batch silently lost
                with lock:
                    if failures:
                        return  # stopped because another batch failed first
                    failures.append(exc)
                for other in engines:  # the first error ends the run: stop the rest
                    if other is not engine:
                        other.stop()
                return

    try:
        try:
            if engine == "rego-cpp":  # OPA's compiler checks calls itself
                check_calls(engines[0], sources)
            else:
                require_engine(engine)
        except EngineCrash as exc:
            raise InputError(f"{first}: {exc}") from exc
        except EngineUnavailable as exc:
            raise InputError(str(exc)) from exc
        if count == 1:
            work(engines[0])
        else:
            threads = [threading.Thread(target=work, args=(e,), daemon=True) for e in engines]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        for started in engines:
            started.close()
    if failures:
        raise failures[0]
    return {q.expr: union(a.get(q.expr, (False, None)) for a in answers) for q in queries}


def _evaluate(
    engine: EmbeddedEngine,
    modules: Modules,
    document: Any,
    queries: Sequence[Query],
    deadline: float,
    timeout: float,
) -> Answers:
    """One batch: its input, then each query (on OPA all in one evaluation)."""
    first = modules.sources[0].where() if modules.sources else "Rego"
    _step(engine.load, deadline, timeout, first, modules, (), None, document)
    if engine.engine == "opa" and len(queries) > 1:
        what = ", ".join(q.expr for q in queries)
        exprs = [q.expr for q in queries]
        found = _step(engine.answers, deadline, timeout, first, modules, exprs, what=what)
        return {q.expr: answer for q, answer in zip(queries, found, strict=True)}
    return {
        q.expr: _step(engine.query, deadline, timeout, q.where, modules, q.expr, what=q.expr)
        for q in queries
    }


def _step(
    call: Callable[..., Any],
    deadline: float,
    timeout: float,
    where: str,
    modules: Modules,
    *args: Any,
    what: str | None = None,
) -> Any:
    """One request to the engine within what is left of the time limit; its
    failures as one line naming ``where`` (or the engine's own position)."""
    left = deadline - time.monotonic()
    try:
        if left <= 0:
            raise EngineTimeout(timeout)
        return call(*args, timeout=left)
    except EngineError as exc:
        raise engine_error(exc, modules, where) from exc
    except EngineTimeout as exc:
        doing = what or "loading the policies and the input"
        raise InputError(
            f"{where}: {doing} did not finish within {timeout:g} s {TIMEOUT_HINT}"
        ) from exc
    except EngineCrash as exc:
        raise InputError(f"{where}: {exc}" + (f" evaluating {what}" if what else "")) from exc
    except EngineUnavailable as exc:
        raise InputError(str(exc)) from exc
