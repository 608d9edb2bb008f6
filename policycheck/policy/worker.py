"""The embedded engine's child process: rego-cpp (regopy) behind a line protocol.

policycheck never evaluates user Rego in its own process, so that a policy that
runs past the time limit can be stopped (a C++ evaluation cannot be interrupted
from Python), a crash of the engine is an error instead of the end of the run,
and ``print()`` in a policy cannot write into a report on stdout (rego-cpp
prints to file descriptor 1; here that is stderr).

Protocol: one JSON object per line in each direction.

- ``{"op": "load", "modules": [[name, text], ...], "data": {...}, "input": ...}``
  -> ``{"ok": true}``; ``input`` may be absent (policy unit tests mock it).
- ``{"op": "query", "query": "data.pkg.deny"}`` -> ``{"ok": true, "defined":
  bool, "value": ...}``.
- ``{"op": "builtins", "names": [...]}`` -> ``{"ok": true, "missing": [...]}``:
  the names that are not built-in functions of this engine.
- ``{"op": "version"}`` -> ``{"ok": true, "version": "1.5.2"}``.

Any failure answers ``{"ok": false, "error": message, "file": module name or
null, "offset": byte offset or null, "line": line or null}``: the engine's own
message, and the position it gives when it gives one (rego-cpp: an offset; OPA,
policycheck/policy/opa_worker.py: a line). policycheck/policy/protocol.py serves it.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import regopy  # type: ignore[import-untyped]
from regopy import Input, Interpreter, LogLevel, RegoError
from regopy.rego_shared import (  # type: ignore[import-untyped]
    rego,
    rego_bundle_query_entrypoint,
    rego_free_output,
    rego_new_input,
    rego_node_get,
    rego_node_json,
    rego_node_size,
    rego_output_node,
    rego_output_ok,
    rego_output_string,
    rego_query,
)

from policycheck.policy.protocol import EngineFailure, serve

#: A query that is one rule of a package: ``data.pkg.rule``.
_RULE_PATH = re.compile(r"data(\.[A-Za-z_][A-Za-z0-9_]*)+")
#: rego-cpp's status code for success.
_OK = 0
#: rego-cpp node kinds (regopy.rego_shared.NodeKind): an error and its sequence.
_ERROR = 1800
#: An error node's opening, not "(errormsg" or "(errorast".
_ERROR_NODE = re.compile(r"\(error\s")


def parse_errors(text: str) -> list[EngineFailure]:
    """rego-cpp's error s-expressions: ``(error 6:a.rego|40|1 (errormsg 27:...)``.

    Strings in them are length-prefixed (``27:`` then 27 characters), which is
    how names and messages with spaces or parentheses are read exactly.
    """
    out: list[EngineFailure] = []
    starts = [m.start() for m in _ERROR_NODE.finditer(text)]
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        chunk = text[start:end]
        message, span = _prefixed_after(chunk, "(errormsg ")
        # The message may hold "|": look for the position outside it.
        file, offset = _location(chunk[: span[0]] + " " * (span[1] - span[0]) + chunk[span[1] :])
        out.append(EngineFailure(message or "evaluation failed", file, offset))
    return out


def _prefixed_after(text: str, marker: str) -> tuple[str | None, tuple[int, int]]:
    """The length-prefixed string after ``marker``, and where it lies in ``text``."""
    at = text.find(marker)
    if at < 0:
        return None, (0, 0)
    value, after = _prefixed(text, at + len(marker))
    return value, (at, after)


def _prefixed(text: str, at: int) -> tuple[str | None, int]:
    """The length-prefixed string ``N:chars`` at ``at``, and the index after it."""
    colon = text.find(":", at)
    digits = text[at:colon]
    if colon < 0 or not digits.isdigit():
        return None, at
    size = int(digits)
    return text[colon + 1 : colon + 1 + size], colon + 1 + size


def _location(chunk: str) -> tuple[str | None, int | None]:
    """The first ``name|offset|length`` in the error (its node or its AST)."""
    i = 0
    while True:
        bar = chunk.find("|", i)
        if bar < 0:
            return None, None
        # Walk back to the start of the length-prefixed name (or nothing: "|40|1").
        head = chunk.rfind(" ", 0, bar) + 1
        name_part = chunk[head:bar]
        rest = chunk[bar + 1 :].split("|", 2)
        if len(rest) >= 2 and rest[0].isdigit():
            name, _ = _prefixed(name_part, 0) if ":" in name_part else (None, 0)
            return name or None, int(rest[0])
        i = bar + 1


def rego_input(value: Any) -> Input:
    """``value`` as a rego-cpp input, built node by node (what ``regopy.Input``
    does, in one pass and without its per-node checks in Python).

    Every string (and key) is handed over as the text of its JSON literal:
    rego-cpp 1.5 keeps a string given this way as the text between the quotes
    of a JSON string, unescaped, so a Terraform address ``m["k"]`` would break
    its output. Given escaped, a string is stored exactly as if the input had
    been parsed from JSON text (``set_input_term``), which rego-cpp does about
    ten times slower once an input was set before.
    """
    handle = rego_new_input()
    failed: list[int] = []
    strings: dict[str, bytes] = {}  # keys and CIDRs repeat throughout the document
    put_str, put_int, put_float = rego.regoInputString, rego.regoInputInt, rego.regoInputFloat
    put_bool, put_null = rego.regoInputBoolean, rego.regoInputNull
    put_item, put_object, put_array = (
        rego.regoInputObjectItem,
        rego.regoInputObject,
        rego.regoInputArray,
    )

    def text(s: str) -> bytes:
        raw = strings.get(s)
        if raw is None:
            raw = strings[s] = orjson.dumps(s)[1:-1]
        return raw

    def add(v: Any) -> None:
        if isinstance(v, str):
            code = put_str(handle, text(v))
        elif isinstance(v, dict):
            for k, item in v.items():
                if put_str(handle, text(str(k))) != _OK:
                    failed.append(1)
                add(item)
                if put_item(handle) != _OK:
                    failed.append(1)
            code = put_object(handle, len(v))
        elif isinstance(v, list):
            for item in v:
                add(item)
            code = put_array(handle, len(v))
        elif v is True or v is False:
            code = put_bool(handle, v)
        elif isinstance(v, int):
            code = put_int(handle, v)
        elif isinstance(v, float):
            code = put_float(handle, v)
        elif v is None:
            code = put_null(handle)
        else:
            raise EngineFailure(f"the input holds a {type(v).__name__}, which JSON has not")
        if code != _OK:
            failed.append(code)

    made = Input.__new__(Input)
    made._impl = handle  # freed with the object, as regopy.Input frees its own
    add(value)
    if failed:
        raise EngineFailure("rego-cpp could not take the input document")
    return made


class Worker:
    def __init__(self) -> None:
        self.rego = Interpreter()
        # Errors come back as data; rego-cpp's log would go to stdout.
        self.rego.log_level = LogLevel.NONE
        # A built-in that fails is an error, not a silently undefined rule.
        self.rego.strict_built_in_errors = True
        #: Compiled rules by entrypoint (``pkg/rule``), for every later input.
        self.bundles: dict[str, Any] = {}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "load":
            if request.get("modules") or request.get("data"):
                self.bundles.clear()  # compiled from the modules and data before
            for name, text in request.get("modules", []):
                self._call(self.rego.add_module, name, text)
            if request.get("data"):
                self._call(self.rego.add_data, request["data"])
            if "input" in request:
                # As objects, not JSON text: rego-cpp 1.5 parses a replaced input
                # text about ten times slower than it takes the same objects.
                self._call(self.rego.set_input, rego_input(request["input"]))
            return {"ok": True}
        if op == "query":
            return self._query(str(request["query"]))
        if op == "builtins":
            names = [str(n) for n in request.get("names", [])]
            return {"ok": True, "missing": [n for n in names if not self.rego.is_builtin(n)]}
        if op == "version":
            return {"ok": True, "version": regopy.__version__}
        raise EngineFailure(f"unknown request {op!r}")

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except RegoError as exc:
            raise _first(str(exc)) from exc

    def _query(self, query: str) -> dict[str, Any]:
        try:
            if _RULE_PATH.fullmatch(query):
                # A rule compiled once (a bundle entrypoint), not with every query:
                # the same answers and errors, without rego-cpp's fixed cost of
                # compiling the modules again for each batch.
                entrypoint = query.removeprefix("data.").replace(".", "/")
                bundle = self.bundles.get(entrypoint)
                if bundle is None:
                    bundle = self.bundles[entrypoint] = self.rego.build(None, [entrypoint])
                impl = rego_bundle_query_entrypoint(self.rego._impl, bundle._impl, entrypoint)
            else:
                impl = rego_query(self.rego._impl, query)
        except RegoError as exc:
            raise _first(str(exc)) from exc
        try:
            if not rego_output_ok(impl):
                raise _output_error(impl)
            text = rego_output_string(impl)
        finally:
            rego_free_output(impl)
        if text == "undefined":
            return {"ok": True, "defined": False, "value": None}
        if text.lstrip().startswith("(error"):
            # rego-cpp 1.5 answers an unknown function with an "ok" error term.
            raise _first(text)
        results = orjson.loads(text)
        first = results[0] if isinstance(results, list) else results
        expressions = first.get("expressions", []) if isinstance(first, dict) else []
        if not expressions:
            return {"ok": True, "defined": False, "value": None}
        return {"ok": True, "defined": True, "value": expressions[0]}


def _first(text: str) -> EngineFailure:
    errors = parse_errors(text)
    if errors:
        return errors[0]
    return EngineFailure(" ".join(text.split())[:500] or "the engine failed")


def _output_error(impl: Any) -> EngineFailure:
    """The errors of a failed query, from its error nodes (its text is ``<error>``)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        kind = rego.regoNodeType(node)
        if kind == _ERROR:
            found.append(rego_node_json(node))
            return
        for i in range(rego_node_size(node)):
            walk(rego_node_get(node, i))

    root = rego_output_node(impl)
    if root:
        walk(root)
    return _first("\n".join(found)) if found else EngineFailure("evaluation failed")


def main() -> None:
    serve(Worker)


if __name__ == "__main__":
    main()
