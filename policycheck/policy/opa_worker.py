"""The embedded engine's child process with OPA's Go library (``--rego-engine
opa``): the same protocol, batches, pool and time limit as rego-cpp's
(policycheck/policy/worker.py), evaluated by github.com/open-policy-agent/opa
through opa-golib-python-bindings (module ``opa_bindings``, a ctypes wrapper of a
Go c-shared build).

Still a child process: an endless policy is stopped by killing it, and a crash
of the Go runtime ends this process, not the scan. OPA compiles strictly (an
unknown function is a type error), so no pre-check of calls is needed; its
errors name ``file:LINE``, which is passed on as the reply's ``line``.

One more request than rego-cpp's worker: ``{"op": "answers", "queries":
[...]}`` -> ``{"ok": true, "answers": [[defined, value], ...]}``, every query on
the input in one evaluation. OPA converts the input document for each
evaluation, which costs more than most policies do; one evaluation per batch
instead of one per query makes the example policies about four times cheaper.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

from policycheck.policy.protocol import EngineFailure, serve

PACKAGE = "opa-golib-python-bindings"
#: A query the engine answers for a rule: ``data.pkg.rule``.
_RULE_PATH = re.compile(r"data((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
#: The package of the generated rule that gathers several queries' answers.
_ANSWERS = "policycheck_answers"


def failure(exc: OpaError, names: Sequence[str]) -> EngineFailure:
    """OPA's error as one message at ``file:LINE``: the first ``name:LINE: ...``
    in it for a module name loaded here (OPA lists several errors, one a line,
    behind prefixes such as "bundle activation failed: 1 error occurred:")."""
    text = exc.message or exc.code
    best: tuple[int, str, int, str] | None = None
    for name in names:
        found = re.search(re.escape(name) + r":(\d+)(?::\d+)?: ([^\n]*)", text)
        if found and (best is None or found.start() < best[0]):
            best = (found.start(), name, int(found.group(1)), found.group(2))
    if best is not None:
        return EngineFailure(best[3].strip() or exc.code, best[1], line=best[2])
    return EngineFailure(" ".join(text.split())[:500] or "the engine failed")


class OpaWorker:
    def __init__(self) -> None:
        self.opa = OpaEngine()
        self.names: list[str] = []
        self.input: Any = None
        #: Queries gathered by a generated rule, and its document path.
        self.gathered: dict[tuple[str, ...], str] = {}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "load":
            try:
                for name, text in request.get("modules", []):
                    self.names.append(str(name))
                    self.opa.add_policy(str(name), str(text))
                if request.get("data"):
                    self.opa.add_data(request["data"])
                if request.get("modules"):
                    # Compile now: a type error (an unknown function) is an error
                    # of loading, as with rego-cpp's check of calls.
                    self.opa.eval_query("true")
            except OpaError as exc:
                raise failure(exc, self.names) from exc
            if "input" in request:
                self.input = request["input"]
            return {"ok": True}
        if op == "query":
            return self._query(str(request["query"]))
        if op == "answers":
            return self._answers([str(q) for q in request.get("queries", [])])
        if op == "version":
            try:
                return {"ok": True, "version": version(PACKAGE)}
            except PackageNotFoundError:
                return {"ok": True, "version": "?"}
        raise EngineFailure(f"unknown request {op!r}")

    def _query(self, query: str) -> dict[str, Any]:
        rule = _RULE_PATH.fullmatch(query)
        try:
            if rule:
                value = self.opa.eval_document(rule.group(1)[1:], self.input)
                return {"ok": True, "defined": True, "value": value}
            results = self.opa.eval_query(f"__value__ = {query}", self.input)
        except OpaUndefinedError:
            return {"ok": True, "defined": False, "value": None}
        except OpaError as exc:
            raise failure(exc, self.names) from exc
        if not results:
            return {"ok": True, "defined": False, "value": None}
        return {"ok": True, "defined": True, "value": results[0].get("__value__")}

    def _answers(self, queries: list[str]) -> dict[str, Any]:
        """Every query (each a ``data.pkg.rule``) in one evaluation: a generated
        partial object with one key per query (a key is absent when its rule is
        undefined; an error names the rule's own file and line)."""
        key = tuple(queries)
        path = self.gathered.get(key)
        if path is None:
            if not all(_RULE_PATH.fullmatch(q) for q in queries):
                raise EngineFailure("answers: every query must be a rule, data.pkg.rule")
            package = f"{_ANSWERS}.q{len(self.gathered)}"
            text = f"package {package}\n\n" + "".join(
                f'answers["{i}"] := {q}\n' for i, q in enumerate(queries)
            )
            try:
                self.opa.add_policy(f"{package}.rego", text)
            except OpaError as exc:
                raise failure(exc, self.names) from exc
            path = self.gathered[key] = f"{package}.answers"
        try:
            found = self.opa.eval_document(path, self.input)
        except OpaUndefinedError:
            found = {}
        except OpaError as exc:
            raise failure(exc, self.names) from exc
        answers = [
            [True, found[str(i)]] if str(i) in found else [False, None] for i in range(len(queries))
        ]
        return {"ok": True, "answers": answers}


def main() -> None:
    serve(OpaWorker)


if __name__ == "__main__":
    main()
