"""Test support: apply ``policycheck fix`` Terraform to a plan, as ``terraform plan`` would.

No terraform binary runs here, so this module does the small part of its work the
round-trip tests need, on the same plan JSON shape ``fixtures/terraform/make_plans.py``
writes (format 1.2):

- :func:`parse_resources` reads the generated ``.tf`` text with python-hcl2 (the
  text a user would apply, not the generator's data) into resources whose
  attributes are constants or references;
- :func:`without_rules` takes rules out of a plan: a separate rule resource is
  dropped, an inline block (``ingress``, ``security_rule``) is cut from its
  resource, a GCP firewall resource is dropped;
- :func:`with_resources` adds resources as Terraform plans new ones: a reference to
  an attribute the plan knows becomes its value, one it does not know is unknown
  until apply (``after_unknown``), with the reference in ``configuration`` so
  the plan reader follows it;
- setup steps (attach a new security group, add a network tag) edit the VM.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hcl2

J = dict[str, Any]
PROVIDERS = {
    "aws": "registry.terraform.io/hashicorp/aws",
    "azurerm": "registry.terraform.io/hashicorp/azurerm",
    "google": "registry.terraform.io/hashicorp/google",
}
_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_.\[\]\"-]*)\}$")


@dataclass(frozen=True)
class Ref:
    """A reference expression such as ``aws_security_group.pbx.id``."""

    text: str

    @property
    def resource(self) -> str:
        return ".".join(self.text.split(".")[:2])

    @property
    def attribute(self) -> str:
        return self.text.split(".", 2)[2]


@dataclass
class Resource:
    type: str
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


# ---------------------------------------------------------------- parsing


def parse_resources(text: str) -> list[Resource]:
    """The ``resource`` blocks of a Terraform file."""
    doc = hcl2.loads(text)
    out: list[Resource] = []
    for entry in doc.get("resource", []):
        for rtype, named in entry.items():
            for name, body in named.items():
                out.append(Resource(_unquote(rtype), _unquote(name), _attributes(body)))
    return out


def _attributes(body: J) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("__"):
            continue
        if isinstance(value, dict) and value.get("__is_block__"):
            attrs[key] = [_attributes(value)]  # one nested block
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
        ):
            attrs[key] = [_attributes(v) for v in value]
        else:
            attrs[key] = _value(value)
    return attrs


def _value(value: Any) -> Any:
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        if match:
            return Ref(match.group(1))
        return _unquote(value)
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _value(v) for k, v in value.items() if not k.startswith("__")}
    return value


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return str(json.loads(text.replace("$${", "${").replace("%%{", "%{")))
    return text


# ---------------------------------------------------------------- the plan


def _planned(doc: J) -> Iterator[J]:
    def walk(module: J) -> Iterator[J]:
        yield from module.get("resources", [])
        for child in module.get("child_modules", []):
            yield from walk(child)

    yield from walk(doc["planned_values"]["root_module"])


def _changes(doc: J) -> dict[str, J]:
    return {rc["address"]: rc for rc in doc.get("resource_changes", [])}


def _drop(doc: J, addresses: set[str]) -> None:
    def prune(module: J) -> None:
        module["resources"] = [
            r for r in module.get("resources", []) if r["address"] not in addresses
        ]
        for child in module.get("child_modules", []):
            prune(child)

    prune(doc["planned_values"]["root_module"])
    doc["resource_changes"] = [
        rc for rc in doc.get("resource_changes", []) if rc["address"] not in addresses
    ]


def without_rules(doc: J, rules: Iterable[tuple[str, str]]) -> J:
    """The plan without ``rules``: (rule id, Terraform address) pairs as the plan
    reader names them (``addr/ingress/0``, ``addr/security_rule/NAME``, or the
    address of a rule resource)."""
    out = copy.deepcopy(doc)
    drop: set[str] = set()
    cut: dict[str, list[tuple[str, str]]] = {}
    for rule_id, address in rules:
        inline = rule_id[len(address) + 1 :].split("/", 1) if rule_id != address else None
        resource_type = address.rsplit(".", 2)[-2] if "." in address else ""
        if inline and len(inline) == 2 and resource_type != "google_compute_firewall":
            cut.setdefault(address, []).append((inline[0], inline[1]))
        else:
            drop.add(address)
    _drop(out, drop)
    changes = _changes(out)
    for res in _planned(out):
        blocks = cut.get(res["address"])
        if not blocks:
            continue
        change = changes[res["address"]]["change"]
        for key in {k for k, _ in blocks}:
            _cut_blocks(res["values"], change, key, {w for k, w in blocks if k == key})
    return out


def _cut_blocks(values: J, change: J, key: str, which: set[str]) -> None:
    """Remove inline blocks (by index, or by their ``name``) from a resource's planned
    values and from its change (``after`` and ``after_unknown`` in step)."""
    listed = values.get(key) or []
    keep = [
        i
        for i, block in enumerate(listed)
        if str(i) not in which and str(block.get("name")) not in which
    ]
    values[key] = [listed[i] for i in keep]
    after = change.get("after") or {}
    if isinstance(after.get(key), list) and len(after[key]) == len(listed):
        after[key] = [after[key][i] for i in keep]
    unknown = change.get("after_unknown") or {}
    if isinstance(unknown.get(key), list) and len(unknown[key]) == len(listed):
        unknown[key] = [unknown[key][i] for i in keep]


def with_resources(doc: J, resources: Iterable[Resource]) -> J:
    """The plan with ``resources`` added as new resources of the root module."""
    out = copy.deepcopy(doc)
    known = {res["address"]: res for res in _planned(out)}
    root = out["planned_values"]["root_module"]
    config = out["configuration"]["root_module"]
    for resource in resources:
        values, unknown, expressions = _evaluate(resource.attributes, known)
        head = {
            "address": resource.address,
            "mode": "managed",
            "type": resource.type,
            "name": resource.name,
            "provider_name": PROVIDERS[resource.type.split("_", 1)[0]],
        }
        root.setdefault("resources", []).append(
            {**head, "schema_version": 0, "values": values, "sensitive_values": {}}
        )
        out["resource_changes"].append(
            {
                **head,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": values,
                    "after_unknown": unknown,
                    "before_sensitive": False,
                    "after_sensitive": {},
                },
            }
        )
        config.setdefault("resources", []).append(
            {
                "address": resource.address,
                "mode": "managed",
                "type": resource.type,
                "name": resource.name,
                "provider_config_key": resource.type.split("_", 1)[0],
                "expressions": expressions,
                "schema_version": 0,
            }
        )
        known[resource.address] = {"address": resource.address, "values": values}
    return out


def _evaluate(attrs: dict[str, Any], known: dict[str, J]) -> tuple[J, J, J]:
    """Planned values, after_unknown and configuration expressions of new attributes."""
    values: J = {}
    unknown: J = {}
    expressions: J = {}
    for key, value in attrs.items():
        if isinstance(value, Ref):
            target = known.get(value.resource, {}).get("values", {})
            resolved = target.get(value.attribute)
            expressions[key] = {"references": [value.text, value.resource]}
            if resolved is None:
                unknown[key] = True  # known after apply: Terraform leaves it out
            else:
                values[key] = resolved
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            values[key] = [_constant(v) for v in value]
            expressions[key] = [{k: {"constant_value": v} for k, v in b.items()} for b in value]
        else:
            values[key] = _constant(value)
            expressions[key] = {"constant_value": values[key]}
    return values, unknown, expressions


def _constant(value: Any) -> Any:
    if isinstance(value, Ref):
        raise ValueError(f"reference {value.text} inside a collection is not supported here")
    if isinstance(value, list):
        return [_constant(v) for v in value]
    if isinstance(value, dict):
        return {k: _constant(v) for k, v in value.items()}
    return value


# ------------------------------------------------------------- setup steps


def with_setup(doc: J, steps: Iterable[J], new_groups: dict[str, str]) -> J:
    """Apply a fix's setup steps to the VMs of a plan: ``attach_security_group``
    replaces the instance's groups by the new group (``new_groups``: group name ->
    its resource address), ``add_network_tag`` adds the tag."""
    out = copy.deepcopy(doc)
    changes = _changes(out)
    by_address = {res["address"]: res for res in _planned(out)}
    for step in steps:
        res = by_address[step["address"]]
        change = changes[step["address"]]["change"]
        if step["action"] == "add_network_tag":
            tags = [*res["values"].get("tags", []), step["value"]]
            res["values"]["tags"] = tags
            change["after"]["tags"] = tags
            continue
        group = new_groups[step["value"]]
        res["values"]["vpc_security_group_ids"] = []
        change["after"]["vpc_security_group_ids"] = []
        change["after_unknown"]["vpc_security_group_ids"] = True
        _set_reference(out, step["address"], "vpc_security_group_ids", f"{group}.id", group)
        res["values"].pop("security_groups", None)
    return out


def _set_reference(doc: J, address: str, key: str, ref: str, target: str) -> None:
    for res in doc["configuration"]["root_module"].get("resources", []):
        if res["address"] == address:
            res.setdefault("expressions", {})[key] = {"references": [ref, target]}


# ------------------------------------------------------------ plan variants


def clone(doc: J, address: str, name: str, values: J) -> J:
    """The plan with a copy of the root-module resource ``address`` named ``name``,
    its values updated with ``values`` (a second VM beside the first, say)."""
    out = copy.deepcopy(doc)
    rtype = address.split(".", 1)[0]
    new = f"{rtype}.{name}"

    def renamed(entry: J) -> J:
        return {**copy.deepcopy(entry), "address": new, "name": name}

    root = out["planned_values"]["root_module"]
    for res in list(root["resources"]):
        if res["address"] == address:
            root["resources"].append({**renamed(res), "values": {**res["values"], **values}})
    for rc in list(out["resource_changes"]):
        if rc["address"] == address:
            copied = renamed(rc)
            copied["change"]["after"] = {**rc["change"]["after"], **values}
            out["resource_changes"].append(copied)
    config = out["configuration"]["root_module"]["resources"]
    for res in list(config):
        if res["address"] == address:
            config.append(renamed(res))
    return out


def set_reference(doc: J, address: str, key: str, target: str, attribute: str = "id") -> J:
    """The plan with ``address``'s ``key`` referring to ``target`` (unknown until apply)."""
    out = copy.deepcopy(doc)
    for rc in out["resource_changes"]:
        if rc["address"] == address:
            rc["change"]["after"].pop(key, None)
            rc["change"]["after_unknown"][key] = True
    for res in _planned(out):
        if res["address"] == address:
            res["values"].pop(key, None)
    _set_reference(out, address, key, f"{target}.{attribute}", target)
    return out
