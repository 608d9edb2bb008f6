"""``policycheck policy test``: Rego unit tests with the embedded engine.

OPA's ``opa test`` conventions: every rule named ``test_*`` in the loaded modules
is a test; it passes when it evaluates to ``true`` and fails when it is false or
undefined; an error is reported as such; ``todo_test_*`` rules are skipped.
Tests mock with ``with input.x as ...`` and ``with data.x as ...`` (and mock
functions with ``with f as g``). Data documents of the directories
(``data.json``/``data.yaml``) are loaded as in a scan.

Each test has a time limit; a test that crashes rego-cpp is an error naming the
test, and the remaining tests run in a fresh engine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from policycheck.errors import InputError
from policycheck.policy.embedded import (
    DEFAULT_ENGINE,
    EmbeddedEngine,
    EngineCrash,
    EngineError,
    EngineName,
    EngineTimeout,
    EngineUnavailable,
)
from policycheck.policy.load import PolicySet
from policycheck.policy.session import Modules, check_calls, engine_error
from policycheck.policy.source import Source

TEST_RULE = re.compile(r"^test_[A-Za-z0-9_]*$")
TODO_RULE = re.compile(r"^todo_test_[A-Za-z0-9_]*$")
DEFAULT_TEST_TIMEOUT = 30.0
CRASH_HINT = (
    "rego-cpp 1.5 crashes on `with input as ...` over rules that use other rules, for "
    "every test of the modules; mock `input.<key>` instead (docs/rego.md)"
)

Outcome = Literal["pass", "fail", "error", "skip"]


@dataclass(frozen=True)
class RegoTest:
    source: Source
    rule: str

    @property
    def name(self) -> str:
        return f"data.{self.source.package}.{self.rule}"

    @property
    def where(self) -> str:
        return self.source.where(self.rule)


@dataclass(frozen=True)
class RegoTestResult:
    case: RegoTest
    outcome: Outcome
    seconds: float = 0.0
    detail: str = ""


@dataclass
class RegoTestRun:
    results: list[RegoTestResult] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        return not any(r.outcome in ("fail", "error") for r in self.results)


def collect_tests(policies: PolicySet, run: str | None = None) -> list[RegoTest]:
    """Every test_* and todo_test_* rule, once per package, in file order."""
    pattern = re.compile(run) if run else None
    cases: list[RegoTest] = []
    seen: set[tuple[str, str]] = set()
    for src in [*policies.policies, *policies.tests]:
        for rule in src.rules:
            if not (TEST_RULE.match(rule) or TODO_RULE.match(rule)):
                continue
            key = (src.package or "", rule)
            if key in seen:
                continue
            seen.add(key)
            case = RegoTest(src, rule)
            if pattern is None or pattern.search(case.name):
                cases.append(case)
    return cases


def run_tests(
    policies: PolicySet,
    *,
    run: str | None = None,
    timeout: float = DEFAULT_TEST_TIMEOUT,
    engine: EngineName = DEFAULT_ENGINE,
) -> RegoTestRun:
    """Run the tests; a module that does not load, or calls a function that does
    not exist, is an :class:`InputError` (exit 2) naming its line."""
    sources = [*policies.policies, *policies.tests]
    modules = Modules(sources)
    cases = collect_tests(policies, run)
    out = RegoTestRun()
    runner: EmbeddedEngine | None = None
    try:
        for case in cases:
            if TODO_RULE.match(case.rule):
                out.results.append(RegoTestResult(case, "skip"))
                continue
            if runner is None or not runner.running:
                runner = _loaded(sources, modules, policies, timeout, engine)
            out.results.append(_one(runner, case, modules))
    except EngineUnavailable as exc:
        raise InputError(str(exc)) from exc
    finally:
        if runner is not None:
            runner.close()
    return out


def _loaded(
    sources: Sequence[Source],
    modules: Modules,
    policies: PolicySet,
    timeout: float,
    name: EngineName,
) -> EmbeddedEngine:
    engine = EmbeddedEngine(timeout, name)
    first = sources[0].where() if sources else "policy"
    try:
        if name == "rego-cpp":  # OPA's compiler checks calls when loading
            check_calls(engine, sources)
        engine.load(modules.pairs(), policies.data)
    except EngineError as exc:
        engine.close()
        raise engine_error(exc, modules, first) from exc
    except (EngineTimeout, EngineCrash) as exc:
        engine.close()
        raise InputError(f"{first}: loading the policies: {exc}") from exc
    except BaseException:
        engine.close()
        raise
    return engine


def _one(engine: EmbeddedEngine, case: RegoTest, modules: Modules) -> RegoTestResult:
    started = time.perf_counter()
    try:
        defined, value = engine.query(case.name)
    except EngineError as exc:
        where = modules.where(exc.file, exc.offset, exc.line)
        detail = f"{where}: {exc.message}" if where else exc.message
        return RegoTestResult(case, "error", time.perf_counter() - started, detail)
    except EngineTimeout as exc:
        return RegoTestResult(case, "error", time.perf_counter() - started, str(exc))
    except EngineCrash as exc:
        if engine.engine != "rego-cpp":
            return RegoTestResult(case, "error", time.perf_counter() - started, str(exc))
        hint = CRASH_HINT
        suspects = [f"{s.display}:{line}" for s in modules.sources for line in s.with_input]
        if suspects:
            hint += f" (`with input as` at {', '.join(suspects[:3])})"
        return RegoTestResult(case, "error", time.perf_counter() - started, f"{exc}; {hint}")
    seconds = time.perf_counter() - started
    if defined and value is True:
        return RegoTestResult(case, "pass", seconds)
    detail = "undefined" if not defined else f"evaluated to {value!r}"
    return RegoTestResult(case, "fail", seconds, detail)


def report_lines(run: RegoTestRun, *, verbose: bool = False) -> list[str]:
    """``opa test``'s layout: failures (every test with -v), then a summary line."""
    lines: list[str] = []
    for result in run.results:
        if not verbose and result.outcome in ("pass", "skip"):
            continue
        label = result.outcome.upper()
        timing = f" ({result.seconds * 1000:.1f} ms)" if result.outcome != "skip" else ""
        detail = f": {result.detail}" if result.detail else ""
        lines.append(f"{result.case.where}: {result.case.name}: {label}{timing}{detail}")
    total = len(run.results)
    if lines:
        lines.append("-" * 80)
    passed = run.count("pass")
    parts = [f"PASS: {passed}/{total}"]
    for outcome in ("fail", "error", "skip"):
        n = run.count(outcome)
        if n:
            parts.append(f"{outcome.upper()}: {n}/{total}")
    lines.append(", ".join(parts))
    return lines
