"""Reading a ``terraform show -json`` plan: decoding, validation, resources and references.

This module knows Terraform's JSON plan representation, not any cloud: it yields
the resources that will exist after apply (with which of their attributes are
unknown until then) and follows ``configuration`` expression references, through
module variables and outputs, to connect resources whose ids are not known yet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policycheck.errors import InputError
from policycheck.inputs import describe as describe  # re-exported for the translators
from policycheck.inputs import read_json

#: Plan format majors this reader understands (Terraform 0.12 wrote 0.1, 1.x writes 1.x).
SUPPORTED_MAJORS = ("0", "1")

_MODULE_SEGMENT = re.compile(r'module\.([A-Za-z0-9_-]+)(\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\])?\.')


def read_plan_document(path: Path) -> dict[str, Any]:
    """The plan's JSON object, after checking it is a plan this reader understands."""
    where = str(path)
    doc = read_json(path, "plan", hint="; create it with: terraform show -json tfplan > plan.json")
    if not isinstance(doc, dict):
        raise InputError(f"{where}: a Terraform plan is a JSON object, found {type(doc).__name__}")
    version = doc.get("format_version")
    if not isinstance(version, str) or not version:
        raise InputError(f"{where}: no format_version: not a terraform show -json output")
    if version.split(".", 1)[0] not in SUPPORTED_MAJORS:
        raise InputError(
            f"{where}: unsupported plan format_version {version[:20]!r} (supported: 0.x and 1.x)"
        )
    if "planned_values" not in doc and "resource_changes" not in doc:
        if "values" in doc:
            raise InputError(
                f"{where}: this is a Terraform state, not a plan "
                "(run terraform show -json on a plan file)"
            )
        raise InputError(f"{where}: no planned_values or resource_changes: not a Terraform plan")
    return doc


@dataclass(frozen=True)
class PlannedResource:
    """A managed resource as it will be after apply."""

    address: str
    type: str
    name: str
    #: Concrete module prefix, e.g. ``module.a["x"].module.b.`` (empty for root).
    module_prefix: str
    values: dict[str, Any]
    #: ``change.after_unknown``: ``True`` for wholly unknown attributes, nested otherwise.
    after_unknown: dict[str, Any]
    #: ``configuration`` expressions of its declaration (``{}`` if not found).
    expressions: dict[str, Any]
    has_config: bool

    def unknown(self, attribute: str) -> bool:
        """True when ``attribute`` is unknown until apply *and* comes from configuration.

        Computed attributes a provider fills in on its own (``source_ranges`` of a
        GCP firewall that sets none) are unknown too, but carry no rule content.
        """
        if self.after_unknown.get(attribute) is not True:
            return False
        return not self.has_config or attribute in self.expressions


def _dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected an object, found {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list, found {type(value).__name__}")
    return value


@dataclass
class Plan:
    """Index over one plan: planned resources and the configuration's references."""

    path: Path
    doc: dict[str, Any]
    resources: dict[str, PlannedResource] = field(default_factory=dict)
    #: Address without instance key -> instance addresses (``x`` -> ``x[0]``, ``x[1]``).
    instances: dict[str, list[str]] = field(default_factory=dict)
    # Built once, so no lookup walks every resource or declaration again (which
    # made reading a plan quadratic in its resources): per module configuration,
    # its resource declarations by (type, name); the concrete module instances
    # (prefixes) a module call has, per (caller prefix, module name).
    _declarations: dict[int, dict[tuple[str, str], dict[str, Any]]] = field(
        default_factory=dict, repr=False
    )
    _module_instances: dict[tuple[str, str], list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path) -> Plan:
        plan = cls(path=path, doc=read_plan_document(path))
        plan._index()
        return plan

    # ------------------------------------------------------------------ index

    def _index(self) -> None:
        where = str(self.path)
        changes: dict[str, dict[str, Any]] = {}
        for rc in _list(self.doc.get("resource_changes"), f"{where}: resource_changes"):
            rc = _dict(rc, f"{where}: resource_changes[]")
            address = str(rc.get("address", ""))
            changes[address] = rc
        planned: dict[str, dict[str, Any]] = {}
        root = _dict(self.doc.get("planned_values"), f"{where}: planned_values").get("root_module")
        for res in self._walk_module(_dict(root, f"{where}: planned_values.root_module")):
            planned[str(res.get("address", ""))] = res
        for address in [*planned, *(a for a in changes if a not in planned)]:
            rc = changes.get(address, {})
            change = _dict(rc.get("change"), f"{where}: {address}: change")
            actions = _list(change.get("actions"), f"{where}: {address}: change.actions")
            if actions in (["delete"], ["forget"]):
                continue  # gone after apply; a replace (delete+create) is kept
            res = planned.get(address, rc)
            if res.get("mode", "managed") != "managed":
                continue
            values = res.get("values") if address in planned else change.get("after")
            self._add(address, res, values, change.get("after_unknown"))

    def _walk_module(self, module: dict[str, Any]) -> Iterator[dict[str, Any]]:
        where = f"{self.path}: planned_values"
        for res in _list(module.get("resources"), f"{where}: resources"):
            yield _dict(res, f"{where}: resources[]")
        for child in _list(module.get("child_modules"), f"{where}: child_modules"):
            yield from self._walk_module(_dict(child, f"{where}: child_modules[]"))

    def _add(self, address: str, res: dict[str, Any], values: Any, unknown: Any) -> None:
        where = f"{self.path}: {address}"
        rtype, name = str(res.get("type", "")), str(res.get("name", ""))
        prefix = address[: len(address) - len(_resource_part(address))]
        expressions, has_config = self._config_expressions(prefix, rtype, name)
        self.resources[address] = PlannedResource(
            address=address,
            type=rtype,
            name=name,
            module_prefix=prefix,
            values=_dict(values, f"{where}: values"),
            after_unknown=_dict(unknown, f"{where}: after_unknown"),
            expressions=expressions,
            has_config=has_config,
        )
        self.instances.setdefault(prefix + f"{rtype}.{name}", []).append(address)

    # ---------------------------------------------------------- configuration

    def _config_module(self, module_prefix: str) -> dict[str, Any] | None:
        """The configuration of the module instance at ``module_prefix`` (keys ignored)."""
        config = self.doc.get("configuration")
        module = config.get("root_module") if isinstance(config, dict) else None
        for call in _MODULE_SEGMENT.findall(module_prefix):
            if not isinstance(module, dict):
                return None
            calls = module.get("module_calls")
            entry = calls.get(call[0]) if isinstance(calls, dict) else None
            module = entry.get("module") if isinstance(entry, dict) else None
        return module if isinstance(module, dict) else None

    def _config_expressions(
        self, module_prefix: str, rtype: str, name: str
    ) -> tuple[dict[str, Any], bool]:
        module = self._config_module(module_prefix)
        if module is None:
            return {}, False
        declarations = self._declarations.get(id(module))
        if declarations is None:
            declarations = {}
            for res in module.get("resources") or []:
                if not isinstance(res, dict):
                    continue
                declared_type, declared_name = res.get("type"), res.get("name")
                if isinstance(declared_type, str) and isinstance(declared_name, str):
                    declarations.setdefault((declared_type, declared_name), res)  # first counts
            self._declarations[id(module)] = declarations
        declared = declarations.get((rtype, name))
        if declared is None:
            return {}, False
        exprs = declared.get("expressions")
        return (exprs if isinstance(exprs, dict) else {}), True

    def provider_default(self, provider: str, attribute: str) -> str | None:
        """A constant the default (unaliased) provider block sets, e.g. google's project."""
        config = self.doc.get("configuration")
        providers = config.get("provider_config") if isinstance(config, dict) else None
        block = providers.get(provider) if isinstance(providers, dict) else None
        exprs = block.get("expressions") if isinstance(block, dict) else None
        expr = exprs.get(attribute) if isinstance(exprs, dict) else None
        value = expr.get("constant_value") if isinstance(expr, dict) else None
        return value if isinstance(value, str) and value else None

    def references(self, res: PlannedResource, attribute: str) -> list[str]:
        """Addresses of planned resources that ``attribute`` of ``res`` refers to.

        Follows ``var.x`` to the module call's argument and ``module.m.out`` to the
        child module's output, so a rule in a child module connects to the security
        group passed in from its caller.
        """
        return self.resolve_expression(res, res.expressions.get(attribute))

    def resolve_expression(self, res: PlannedResource, expr: Any) -> list[str]:
        """Planned resource addresses an expression of ``res``'s declaration refers to."""
        own_key = _instance_key(_resource_part(res.address))
        return self._resolve(res.module_prefix, _expression_references(expr), 0, own_key)

    def _resolve(self, prefix: str, refs: list[str], depth: int, own_key: str | None) -> list[str]:
        """Addresses ``refs`` (one expression's references) name, in ``prefix``.

        Terraform lists a keyed reference ``x.y["k"].id`` together with ``x.y["k"]``
        and the unkeyed ``x.y``; the unkeyed one then means nothing more. An unkeyed
        ``x.y`` next to ``each.key`` / ``count.index`` (``x.y[each.key].id``) means the
        instance with the referencing object's own key (``own_key``); next to
        ``each.value`` the instance cannot be known, so none is named. Alone, it means
        every instance (a splat or ``for`` over them).
        """
        if depth > 32:  # a module cycle cannot exist in valid Terraform; stay finite anyway
            return []
        parsed = {ref: _RESOURCE_REF.match(ref) for ref in refs}
        keyed = {m.group(1) for m in parsed.values() if m and m.group(2)}
        by_own_key = own_key is not None and bool({"each.key", "count.index"} & set(refs))
        by_value = any(r == "each.value" or r.startswith("each.value.") for r in refs)
        found: list[str] = []
        for ref in refs:
            addresses = self._resolve_one(prefix, ref, depth)
            match = parsed[ref]
            if match and not match.group(2) and self._is_repeated(f"{prefix}{match.group(1)}"):
                if match.group(1) in keyed:
                    continue  # already named with its key
                if by_own_key:
                    exact = f"{prefix}{match.group(1)}{own_key}"
                    addresses = [exact] if exact in self.resources else []
                elif by_value:
                    addresses = []  # x[each.value...]: which instance is not knowable here
            for address in addresses:
                if address not in found:
                    found.append(address)
        return found

    def _is_repeated(self, base: str) -> bool:
        """Does the resource ``base`` (module prefix + type.name) use count/for_each?"""
        return any(a != base for a in self.instances.get(base, []))

    def _resolve_one(self, prefix: str, ref: str, depth: int) -> list[str]:
        module = _MODULE_REF.match(ref)
        if module:
            return self._resolve_output(prefix, module.group(1), module.group(2), depth)
        parts = ref.split(".")
        if parts[0] == "var" and len(parts) >= 2 and prefix:
            return self._resolve_variable(prefix, _strip_key(parts[1]), depth)
        match = _RESOURCE_REF.match(ref)
        if match is None:
            return []
        base = f"{prefix}{match.group(1)}"
        if match.group(2):
            exact = f"{base}{match.group(2)}"
            return [exact] if exact in self.resources else []
        return list(self.instances.get(base, []))

    def _resolve_variable(self, prefix: str, variable: str, depth: int) -> list[str]:
        segments = list(_MODULE_SEGMENT.finditer(prefix))
        last = segments[-1]
        parent_prefix = prefix[: last.start()]
        parent = self._config_module(parent_prefix)
        calls = parent.get("module_calls") if parent else None
        call = calls.get(last.group(1)) if isinstance(calls, dict) else None
        exprs = call.get("expressions") if isinstance(call, dict) else None
        expr = exprs.get(variable) if isinstance(exprs, dict) else None
        # In a for_each/count module call, each.key is the module instance's key.
        return self._resolve(
            parent_prefix, _expression_references(expr), depth + 1, last.group(2) or None
        )

    def _instances_of_call(self, prefix: str, module_name: str) -> list[str]:
        """The concrete prefixes (``module.m["a"].``, ...) of module call ``module_name``
        in the module at ``prefix``, from the planned resources' prefixes."""
        cached = self._module_instances.get((prefix, module_name))
        if cached is not None:
            return cached
        call = re.compile(
            re.escape(prefix)
            + rf'module\.{re.escape(module_name)}(?:\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\])?\.'
        )
        prefixes = {r.module_prefix for r in self.resources.values()}
        concrete = sorted({m.group(0) for p in prefixes if (m := call.match(p))}) or [
            f"{prefix}module.{module_name}."
        ]
        self._module_instances[(prefix, module_name)] = concrete
        return concrete

    def _resolve_output(self, prefix: str, module_ref: str, output: str, depth: int) -> list[str]:
        # A module call with count/for_each has one concrete prefix per instance;
        # ``module.m["k"].out`` names one of them.
        module_name = _strip_key(module_ref)
        key = module_ref[len(module_name) :]
        concrete = self._instances_of_call(prefix, module_name)
        if key:
            concrete = [c for c in concrete if c == f"{prefix}module.{module_name}{key}."]
            if not concrete:
                return []
        module = self._config_module(concrete[0])
        outputs = module.get("outputs") if module else None
        out = outputs.get(output) if isinstance(outputs, dict) else None
        expr = out.get("expression") if isinstance(out, dict) else None
        found: list[str] = []
        for child in concrete:
            for address in self._resolve(child, _expression_references(expr), depth + 1, None):
                if address not in found:
                    found.append(address)
        return found


_NOT_RESOURCES = "var|local|each|count|path|terraform|data|self|module"
_KEY = r'\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\]'
#: ``type.name``, its instance key if any (``["k"]``, ``[0]``), then attributes.
_RESOURCE_REF = re.compile(
    rf"^(?!(?:{_NOT_RESOURCES})\.)([A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_-]*)({_KEY})?(?:\.|$)"
)
#: ``module.name[key].output``.
_MODULE_REF = re.compile(rf"^module\.([A-Za-z0-9_-]+(?:{_KEY})?)\.([A-Za-z0-9_-]+)")


def _instance_key(resource_part: str) -> str | None:
    """``["k"]`` or ``[0]`` of ``type.name["k"]``; None for a single instance."""
    match = re.search(r"\[.*\]$", resource_part)
    return match.group(0) if match else None


def _expression_references(expr: Any) -> list[str]:
    """Every reference string inside an expression (also nested in blocks/objects)."""
    refs: list[str] = []
    if isinstance(expr, dict):
        for key, value in expr.items():
            if key == "references" and isinstance(value, list):
                refs.extend(str(v) for v in value)
            elif key != "constant_value":
                refs.extend(_expression_references(value))
    elif isinstance(expr, list):
        for item in expr:
            refs.extend(_expression_references(item))
    return refs


def _strip_key(text: str) -> str:
    return text.split("[", 1)[0]


def _resource_part(address: str) -> str:
    """``module.a.module.b[0].aws_sg.x[1]`` -> ``aws_sg.x[1]``."""
    rest = address
    while True:
        match = _MODULE_SEGMENT.match(rest)
        if not match:
            return rest
        rest = rest[match.end() :]
