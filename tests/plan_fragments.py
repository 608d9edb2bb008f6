"""Small Terraform plans in the exact shape ``terraform show -json`` writes (format 1.2).

A test lists resource instances (with their instance keys and module instance) and
the configuration's expressions; this writes ``planned_values`` (unknown attributes
left out, as Terraform does), ``resource_changes`` with ``after_unknown``, and
``configuration`` with ``references`` lists as Terraform derives them: a keyed
reference ``x.y["k"].id`` is listed with ``x.y["k"]`` and the unkeyed ``x.y``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

J = dict[str, Any]
PROVIDERS = {
    "aws": "registry.terraform.io/hashicorp/aws",
    "azurerm": "registry.terraform.io/hashicorp/azurerm",
    "google": "registry.terraform.io/hashicorp/google",
}


def ref(*refs: str) -> J:
    """An expression referring to ``refs``, listed the way Terraform lists them:
    each reference, then its shorter forms (``a.b["k"].id`` -> ``a.b["k"]``, ``a.b``)."""
    out: list[str] = []
    for r in refs:
        out.append(r)
        head = r.split(".")[0]
        if head in ("var", "each", "count", "local", "path"):
            continue
        parts = r.split(".")
        if head == "module":
            name = parts[1]
            if "[" in name:
                out.append(f"module.{name}")
            out.append(f"module.{name.split('[')[0]}")
            continue
        if len(parts) > 2:
            out.append(".".join(parts[:2]))
        if "[" in parts[1]:
            out.append(f"{parts[0]}.{parts[1].split('[')[0]}")
    return {"references": list(dict.fromkeys(out))}


def const(value: Any) -> J:
    return {"constant_value": value}


@dataclass
class Res:
    """One resource instance of the plan."""

    type: str
    name: str
    values: J
    unknown: J = field(default_factory=dict)
    #: The module instance, e.g. ``module.tenant["a"]`` (empty: root).
    module: str = ""
    #: ``for_each`` key (str) or ``count`` index (int); None for a single instance.
    index: str | int | None = None
    actions: tuple[str, ...] = ("create",)

    @property
    def address(self) -> str:
        key = "" if self.index is None else f"[{json.dumps(self.index)}]"
        prefix = f"{self.module}." if self.module else ""
        return f"{prefix}{self.type}.{self.name}{key}"

    def planned(self) -> J:
        out: J = {
            "address": self.address,
            "mode": "managed",
            "type": self.type,
            "name": self.name,
            "provider_name": PROVIDERS[self.type.split("_", 1)[0]],
            "schema_version": 0,
            "values": self.values,
            "sensitive_values": {},
        }
        if self.index is not None:
            out["index"] = self.index
        return out

    def change(self) -> J:
        out = {k: v for k, v in self.planned().items() if k not in ("values", "sensitive_values")}
        if self.module:
            out["module_address"] = self.module
        out["change"] = {
            "actions": list(self.actions),
            "before": None,
            "after": self.values,
            "after_unknown": self.unknown,
            "before_sensitive": False,
            "after_sensitive": {},
        }
        return out


def declaration(rtype: str, name: str, expressions: J, **meta: Any) -> J:
    """A resource block of ``configuration`` (``for_each_expression``/``count_expression``
    go in ``meta``)."""
    return {
        "address": f"{rtype}.{name}",
        "mode": "managed",
        "type": rtype,
        "name": name,
        "provider_config_key": rtype.split("_", 1)[0],
        "expressions": expressions,
        "schema_version": 0,
        **meta,
    }


def write_plan(
    path: Path,
    resources: list[Res],
    config: list[J] | None = None,
    module_calls: J | None = None,
) -> Path:
    """Write the plan to ``path`` (a file, or a directory to hold ``plan.json``)."""
    root: J = {"resources": [r.planned() for r in resources if not r.module]}
    children: dict[str, list[J]] = {}
    for r in resources:
        if r.module:
            children.setdefault(r.module, []).append(r.planned())
    if children:
        root["child_modules"] = [
            {"address": module, "resources": items} for module, items in children.items()
        ]
    doc = {
        "format_version": "1.2",
        "terraform_version": "1.9.5",
        "planned_values": {"root_module": root},
        "resource_changes": [r.change() for r in resources],
        "configuration": {
            "provider_config": {
                name: {"name": name, "full_name": full} for name, full in PROVIDERS.items()
            },
            "root_module": {"resources": config or [], "module_calls": module_calls or {}},
        },
        "timestamp": "2026-11-20T09:12:44Z",
        "applyable": True,
        "complete": True,
        "errored": False,
    }
    target = path / "plan.json" if path.is_dir() else path
    target.write_text(json.dumps(doc, indent=1))
    return target
