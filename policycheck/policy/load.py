"""Reading policy directories: Rego modules, their tests, and data documents.

A policy directory is laid out like an OPA bundle or a conftest policy folder:

- ``*.rego`` files are policies; ``*_test.rego`` files are their unit tests
  (``policycheck policy test``), never evaluated by a scan;
- ``data.json`` / ``data.yaml`` / ``data.yml`` are data documents mounted at the
  path of their folder: ``DIR/lists/data.json`` is ``data.lists``, and
  ``DIR/data.json`` merges into ``data`` itself.

A policy reports through ``deny``, ``warn`` and ``info`` rules (also
``deny_<name>`` and so on, as conftest accepts): each element an object
``{id, message, vm, resource, ...}`` or a string. Bad layouts are input errors
naming the file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policycheck.errors import InputError, one_line
from policycheck.policy.source import Source, SourceError, parse_source

#: Rules a policy reports through, and the level of their findings.
REPORT_LEVELS = {"deny": "error", "warn": "warning", "info": "note"}
REPORT_RULE = re.compile(r"^(deny|warn|info)(_[A-Za-z0-9_]+)?$")
#: Packages policycheck's own policies use.
RESERVED_PACKAGES = frozenset({"swyx", "swyx_test"})
DATA_FILES = ("data.json", "data.yaml", "data.yml")

Json = dict[str, Any]


@dataclass(frozen=True)
class Report:
    """One reporting rule of a package: what a scan queries."""

    source: Source
    rule: str

    @property
    def query(self) -> str:
        return f"data.{self.source.package}.{self.rule}"

    @property
    def level(self) -> str:
        match = REPORT_RULE.match(self.rule)
        assert match is not None
        return REPORT_LEVELS[match.group(1)]

    @property
    def where(self) -> str:
        return self.source.where(self.rule)


@dataclass
class PolicySet:
    policies: list[Source] = field(default_factory=list)
    tests: list[Source] = field(default_factory=list)
    #: The data documents merged at their mount points.
    data: Json = field(default_factory=dict)
    data_files: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.policies or self.tests)

    @property
    def modules(self) -> list[tuple[str, str]]:
        """(name, text) of the policies, as the engines get them."""
        return [(s.display, s.text) for s in self.policies]

    def reports(self) -> list[Report]:
        """Every reporting rule, by package and rule name (packages may span files:
        the rule is queried once, named at its first head)."""
        seen: dict[tuple[str, str], Report] = {}
        for src in self.policies:
            for rule in src.rules:
                key = (src.package or "", rule)
                if REPORT_RULE.match(rule) and key not in seen:
                    seen[key] = Report(src, rule)
        return list(seen.values())

    def sources_of(self, package: str) -> list[Source]:
        return [s for s in self.policies if s.package == package]


def display_path(path: Path) -> str:
    """The path as errors show it: as given, or relative to the working directory
    when it is an absolute path inside it."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def load_policy_dirs(dirs: Sequence[Path], *, reserved: bool = True) -> PolicySet:
    """Every .rego file (recursively) and data document of ``dirs``, in path order.

    ``reserved=False`` admits policycheck's own packages (to test policies/).
    """
    out = PolicySet()
    seen: set[Path] = set()
    for root in dirs:
        if not root.exists():
            raise InputError(f"--policy-dir {root}: no such directory")
        files = [root] if root.is_file() else sorted(_walk(root))
        rego = [f for f in files if f.suffix == ".rego"]
        if not rego:
            raise InputError(f"--policy-dir {root}: no .rego files in it")
        for path in files:
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            if path.suffix == ".rego":
                src = _read_source(path)
                if reserved and src.package in RESERVED_PACKAGES:
                    raise InputError(
                        f"{src.where()}: package {src.package} is policycheck's own "
                        "(policies/swyx.rego); give your policy another package name"
                    )
                (out.tests if path.name.endswith("_test.rego") else out.policies).append(src)
            elif path.name in DATA_FILES and root.is_dir():
                mount = path.parent.relative_to(root).parts
                _mount(out.data, mount, _read_data(path), display_path(path))
                out.data_files.append(display_path(path))
    return out


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        # Hidden folders (.git, .terraform) are never policies.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.endswith(".rego") or name in DATA_FILES:
                yield Path(dirpath) / name


def _read_source(path: Path) -> Source:
    display = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{display}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise InputError(f"{display}: cannot read ({exc.strerror})") from exc
    try:
        return parse_source(path, display, text)
    except SourceError as exc:
        raise InputError(str(exc)) from exc


def _read_data(path: Path) -> Any:
    display = display_path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{display}: cannot read ({one_line(str(exc))})") from exc
    try:
        if path.suffix == ".json":
            return json.loads(raw)
        return yaml.safe_load(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{display}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{display}{line}: invalid YAML ({problem})") from exc


def _mount(data: Json, mount: tuple[str, ...], value: Any, display: str) -> None:
    """Put ``value`` at ``data.<mount>``; objects merge, anything else must not clash."""
    if not mount:
        if not isinstance(value, dict):
            raise InputError(f"{display}: a data document at the top must be an object")
        for key, item in value.items():
            _mount(data, (str(key),), item, display)
        return
    node = data
    for key in mount[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise InputError(f"{display}: data.{'.'.join(mount)} clashes with another document")
        node = child
    last = mount[-1]
    if last in node:
        if isinstance(node[last], dict) and isinstance(value, dict):
            for key, item in value.items():
                _mount(node[last], (str(key),), item, display)
            return
        raise InputError(f"{display}: data.{'.'.join(mount)} is defined twice")
    node[last] = value
