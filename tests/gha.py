"""A small GitHub Actions expression evaluator and composite-action runner, for tests.

Expressions (``${{ ... }}`` and ``if:``) follow GitHub's documented semantics:
literals, property access (``a.b``, ``a['b']``; missing properties are null), ``!``,
comparisons with loose typing (different types compare as numbers; strings compare
case-insensitively), ``&&`` / ``||`` returning an operand, and the functions the
project's workflows use. Enough to evaluate our workflows' conditions exactly; not
a full implementation (no object filters ``a.*.b``, no ``hashFiles``).

:func:`run_composite` executes a composite ``action.yml`` step by step: ``run:``
steps in ``bash --noprofile --norc -eo pipefail`` with GITHUB_OUTPUT / GITHUB_ENV
files as on a runner, ``uses:`` steps through caller-supplied fakes. It exists to
test the action's own shell code here, where no runner is available.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Value = Any

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))
    | (?P<str>'(?:[^']|'')*')
    | (?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])
    | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"cannot parse expression at {text[pos:]!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _number(value: Value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def truthy(value: Value) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return not (value == 0 or math.isnan(value))
    return True


def _compare(op: str, left: Value, right: Value) -> bool:
    if type(left) is not type(right) or not isinstance(left, str | int | float | bool | None):
        if isinstance(left, dict | list) or isinstance(right, dict | list):
            return (left is right) if op == "==" else (left is not right) if op == "!=" else False
        left, right = _number(left), _number(right)
    elif isinstance(left, str):
        left, right = left.casefold(), right.casefold()
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if isinstance(left, float) and (math.isnan(left) or math.isnan(right)):
        return False
    return bool(
        {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    )


def to_string(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


@dataclass
class Evaluator:
    """Evaluates one expression against ``contexts`` (github, inputs, steps, ...)."""

    contexts: Mapping[str, Value]
    status: str = "success"  # of the job so far: success, failure or cancelled
    tokens: list[tuple[str, str]] = field(default_factory=list)
    pos: int = 0

    def evaluate(self, text: str) -> Value:
        self.tokens, self.pos = _tokens(text), 0
        value = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.pos][1]!r} in {text!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ValueError("unexpected end of expression")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def _or(self) -> Value:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self) -> Value:
        left = self._comparison()
        while self._peek() == "&&":
            self._take()
            right = self._comparison()
            left = right if truthy(left) else left
        return left

    def _comparison(self) -> Value:
        left = self._unary()
        while self._peek() in ("==", "!=", "<", "<=", ">", ">="):
            op = self._take()[1]
            left = _compare(op, left, self._unary())
        return left

    def _unary(self) -> Value:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._postfix(self._primary())

    def _postfix(self, value: Value) -> Value:
        while self._peek() in (".", "["):
            if self._take()[1] == ".":
                kind, key = self._take()
                if kind != "name":
                    raise ValueError(f"unsupported property {key!r} (object filters are not)")
            else:
                key = self._or()
                self._take("]")
            value = self._index(value, key)
        return value

    @staticmethod
    def _index(value: Value, key: Value) -> Value:
        if isinstance(value, dict):
            for k, v in value.items():  # property names are case-insensitive
                if str(k).casefold() == to_string(key).casefold():
                    return v
            return None
        if isinstance(value, list):
            number = _number(key)
            return value[int(number)] if number.is_integer() and 0 <= number < len(value) else None
        return None

    def _primary(self) -> Value:
        kind, text = self._take()
        if kind == "num":
            return _number(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if text == "(":
            value = self._or()
            self._take(")")
            return value
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self._peek() == "(":
            self._take("(")
            args: list[Value] = []
            while self._peek() != ")":
                args.append(self._or())
                if self._peek() == ",":
                    self._take(",")
            self._take(")")
            return self._call(text.lower(), args)
        return self._index(dict(self.contexts), text)

    def _call(self, name: str, args: list[Value]) -> Value:
        if name == "success":
            return self.status == "success"
        if name == "failure":
            return self.status == "failure"
        if name == "cancelled":
            return self.status == "cancelled"
        if name == "always":
            return True
        if name == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(_compare("==", item, needle) for item in haystack)
            return to_string(needle).casefold() in to_string(haystack).casefold()
        if name == "startswith":
            return to_string(args[0]).casefold().startswith(to_string(args[1]).casefold())
        if name == "endswith":
            return to_string(args[0]).casefold().endswith(to_string(args[1]).casefold())
        if name == "format":
            template, *rest = args
            return re.sub(r"\{(\d+)\}", lambda m: to_string(rest[int(m.group(1))]), template)
        raise ValueError(f"function {name}() is not supported here")


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def expand(text: str, contexts: Mapping[str, Value]) -> str:
    """A ``with:``/``env:`` value with its ``${{ }}`` parts evaluated, as a string."""
    return _TEMPLATE.sub(lambda m: to_string(Evaluator(contexts).evaluate(m.group(1))), text)


def condition(
    text: str | bool | None, contexts: Mapping[str, Value], status: str = "success"
) -> bool:
    """A step's ``if:``; without a status function it means ``success() && (...)``."""
    if text is None:
        return status == "success"
    if isinstance(text, bool):
        return text and status == "success"
    body = text.strip()
    match = re.fullmatch(r"\$\{\{(.*)\}\}", body, re.DOTALL)
    if match:
        body = match.group(1)
    value = truthy(Evaluator(contexts, status).evaluate(body))
    if not re.search(r"\b(success|failure|cancelled|always)\s*\(", body):
        value = value and status == "success"
    return value


# ------------------------------------------------------------------ composite runner


#: A fake for a ``uses:`` step: (its ``with:`` values, the step) -> its outputs.
UsesFake = Callable[[dict[str, str]], dict[str, str]]


@dataclass
class StepRun:
    name: str
    ran: bool
    outputs: dict[str, str]
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class CompositeRun:
    steps: list[StepRun]
    outputs: dict[str, str]
    summary: str
    failed: bool

    def step(self, name: str) -> StepRun:
        return next(s for s in self.steps if s.name == name)


def _parse_output_file(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's ``name=value`` lines and ``name<<DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            i += 1
            while lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


def run_composite(
    action_dir: Path,
    inputs: dict[str, str],
    *,
    workdir: Path,
    github: dict[str, Value],
    uses: Mapping[str, UsesFake],
    env: Mapping[str, str],
    timeout: float = 900,
) -> CompositeRun:
    """Run ``action_dir/action.yml`` as a runner would, with ``uses:`` steps faked.

    ``uses`` maps an action reference without its ``@ref`` (``actions/cache/restore``)
    to a fake; an unknown reference is an error, so every step is accounted for.
    """
    spec = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    declared = spec.get("inputs", {})
    unknown = set(inputs) - set(declared)
    if unknown:
        raise ValueError(f"inputs not declared by the action: {sorted(unknown)}")
    values = {k: inputs.get(k, to_string(v.get("default", ""))) for k, v in declared.items()}
    temp = workdir / "_runner_temp"
    temp.mkdir(parents=True, exist_ok=True)
    summary = temp / "step_summary.md"
    summary.write_text("")  # a fresh job: empty summary and output files
    steps_ctx: dict[str, dict[str, Value]] = {}
    runs: list[StepRun] = []
    status = "success"
    runner = {"os": "Linux", "arch": "X64", "temp": str(temp)}
    github_ctx = {**github, "action_path": str(action_dir), "workspace": str(workdir)}
    for index, step in enumerate(spec["runs"]["steps"]):
        name = step.get("name", f"step {index}")
        contexts = {
            "inputs": values,
            "steps": steps_ctx,
            "github": github_ctx,
            "runner": runner,
            "env": dict(env),
        }
        if not condition(step.get("if"), contexts, status):
            runs.append(StepRun(name, False, {}))
            if "id" in step:
                steps_ctx[step["id"]] = {"outputs": {}, "outcome": "skipped"}
            continue
        if "uses" in step:
            reference = step["uses"].split("@", 1)[0]
            if reference not in uses:
                raise ValueError(f"no fake for uses: {step['uses']}")
            with_values = {
                k: expand(to_string(v), contexts) for k, v in step.get("with", {}).items()
            }
            outputs = uses[reference](with_values)
            run = StepRun(name, True, outputs)
        else:
            output_file = temp / f"output_{index}"
            output_file.write_text("")
            step_env = {
                **env,
                **{k: expand(to_string(v), contexts) for k, v in step.get("env", {}).items()},
                "GITHUB_OUTPUT": str(output_file),
                "GITHUB_STEP_SUMMARY": str(summary),
                "RUNNER_TEMP": str(temp),
                "RUNNER_OS": runner["os"],
                "RUNNER_ARCH": runner["arch"],
                "GITHUB_ACTION_PATH": str(action_dir),
                "GITHUB_WORKSPACE": str(workdir),
            }
            script = temp / f"step_{index}.sh"
            script.write_text(str(step["run"]), encoding="utf-8")
            result = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=workdir,
                env=step_env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            run = StepRun(
                name,
                True,
                _parse_output_file(output_file),
                result.returncode,
                result.stdout,
                result.stderr,
            )
            if result.returncode != 0:
                status = "failure"
        runs.append(run)
        if "id" in step:
            outcome = "success" if run.returncode == 0 else "failure"
            steps_ctx[step["id"]] = {"outputs": run.outputs, "outcome": outcome}
    final = {"inputs": values, "steps": steps_ctx, "github": github_ctx, "runner": runner}
    outputs = {k: expand(str(v["value"]), final) for k, v in spec.get("outputs", {}).items()}
    return CompositeRun(runs, outputs, summary.read_text(encoding="utf-8"), status != "success")


def runner_environment(home: Path, **extra: str) -> dict[str, str]:
    """A minimal runner-like environment: no access to this checkout's venv."""
    base = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
    }
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CERT"):
        if name in os.environ:
            base[name] = os.environ[name]
    return {**base, **extra}
