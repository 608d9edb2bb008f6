"""User policy results -> findings, and their rules' metadata.

A reporting rule (``deny``, ``warn``, ``info``, ``deny_<name>``...) gives a set
whose elements are strings or objects ``{id, message, vm, resource, direction,
region, ...}`` (docs/rego.md, "Your own policies"). Each becomes a
:class:`~policycheck.findings.Finding` at the rule's level, located like a native
finding: ``resource`` naming a Terraform address, a cloud id, a firewall, a rule
(``{"firewall": id, "rule": id}``, as the input's regions name them) or a VM
gets that object's file and line. A result in any other shape is an error naming
the rule's ``file.rego:LINE``.

Rule ids, titles, help and severities come from OPA ``# METADATA`` annotations:
``title``, ``description``, ``related_resources``, ``custom.id``,
``custom.severity``, ``custom.remediation``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from policycheck.engine.intervals import ALL_PORT_SET, IntervalSet, addr_set
from policycheck.engine.regions import RegionBuilder, peers_summary
from policycheck.errors import InputError
from policycheck.findings import (
    PORT_PROTOCOLS,
    RULES,
    Finding,
    Level,
    PolicyOrigin,
    PolicyRule,
    RegionPart,
    RuleRef,
)
from policycheck.model import VM, FirewallObject, Inventory, Rule, normalize_protocol
from policycheck.policy.load import Report
from policycheck.policy.source import Annotation, Source

#: Keys of a result object that policycheck reads; the rest are kept as details.
RESULT_KEYS = frozenset({"id", "message", "msg", "vm", "resource", "direction", "region"})
#: GitHub's security-severity per word (its bands: critical >= 9, high >= 7, ...).
SEVERITY_WORDS = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 2.5}
LEVEL_SEVERITY = {"error": 7.0, "warning": 5.0, "note": 2.0}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
_RESERVED_ID = re.compile(r"^SWYX\d+$", re.IGNORECASE)

Json = dict[str, Any]


@dataclass
class Resolver:
    """Finds what a result names, in the scanned inventory."""

    vms: dict[str, VM] = field(default_factory=dict)
    #: Resource text (id, Terraform address, cloud id) -> the thing to blame.
    refs: dict[str, RuleRef] = field(default_factory=dict)
    #: (firewall id, rule id) -> the rule.
    rules: dict[tuple[str, str], RuleRef] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, inventory: Inventory, extra_rules: Iterable[tuple[Rule, FirewallObject]] = ()
    ) -> Resolver:
        out = cls()
        for vm in inventory.vms:
            out.vms[vm.id] = vm
            ref = vm_ref(vm)
            for key in (vm.id, vm.provenance.address, vm.provenance.cloud_id):
                out._add(key, ref, vm.provider)
        pairs = [(r, fw) for fw in inventory.firewalls for r in fw.rules]
        for fw in inventory.firewalls:
            ref = RuleRef(
                firewall_id=fw.id,
                firewall_name=fw.name,
                rule_id=fw.id,
                rule_name=fw.name,
                provenance=fw.provenance,
            )
            for key in (fw.id, fw.provenance.address, fw.provenance.cloud_id):
                out._add(key, ref, fw.provider)
        for rule, fw in [*pairs, *extra_rules]:
            ref = RuleRef(
                firewall_id=fw.id,
                firewall_name=fw.name,
                rule_id=rule.id,
                rule_name=rule.name,
                action=rule.action,
                priority=rule.priority,
                provenance=rule.provenance,
            )
            out.rules.setdefault((fw.id, rule.id), ref)
            for key in (f"{fw.id}/{rule.id}", rule.provenance.address, rule.provenance.cloud_id):
                out._add(key, ref, fw.provider)
        return out

    def _add(self, key: str | None, ref: RuleRef, provider: str) -> None:
        # The first wins: a security group's address names the group, not its
        # inline rules, which share it.
        if key and key not in self.refs:
            self.refs[key] = ref
            self.providers[key] = provider


def vm_ref(vm: VM) -> RuleRef:
    return RuleRef(
        firewall_id=vm.id, firewall_name=vm.name, rule_id=vm.id, provenance=vm.provenance
    )


# ------------------------------------------------------------------ rules


@dataclass(frozen=True)
class RuleMeta:
    """The METADATA that describes one reporting rule's results."""

    rule: Annotation | None
    package: Annotation | None
    #: Annotations of the package by ``custom.id``.
    by_id: dict[str, Annotation]

    def default_id(self, report: Report) -> str:
        ids = _custom_ids(self.rule) or _custom_ids(self.package)
        return ids[0] if ids else f"{report.source.package}.{report.rule}"

    def for_id(self, rule_id: str) -> Annotation | None:
        if rule_id in self.by_id:
            return self.by_id[rule_id]
        return self.rule or self.package


def rule_meta(report: Report, sources: Sequence[Source]) -> RuleMeta:
    """The annotations of ``report``'s rule and package (over every file of it)."""
    rule_notes = [
        a
        for s in sources
        for a in s.annotations
        if a.target == report.rule and a.scope != "package"
    ]
    package_notes = [
        a for s in sources for a in s.annotations if a.target == "package" or a.scope == "package"
    ]
    ids = {i for a in rule_notes for i in _custom_ids(a)}
    if len(ids) > 1:
        raise InputError(
            f"{report.where}: the METADATA of {report.rule} names several custom.id values "
            f"({', '.join(sorted(ids))}); split the rule ({report.rule}_<name>) so each has one"
        )
    by_id: dict[str, Annotation] = {}
    for a in [*rule_notes, *package_notes, *(a for s in sources for a in s.annotations)]:
        for i in _custom_ids(a):
            by_id.setdefault(i, a)
    return RuleMeta(
        rule=rule_notes[0] if rule_notes else None,
        package=package_notes[0] if package_notes else None,
        by_id=by_id,
    )


def _custom_ids(note: Annotation | None) -> list[str]:
    if note is None:
        return []
    custom = note.data.get("custom")
    if isinstance(custom, dict) and custom.get("id") is not None:
        return [str(custom["id"])]
    return []


def policy_rule(rule_id: str, report: Report, note: Annotation | None) -> PolicyRule:
    data = note.data if note is not None else {}
    custom = data.get("custom") if isinstance(data.get("custom"), dict) else {}
    assert isinstance(custom, dict)
    where = f"{report.source.display}:{note.line}" if note is not None else report.where
    level: Level = report.level  # type: ignore[assignment]
    title = _text(data.get("title")) or rule_id
    return PolicyRule(
        id=rule_id,
        name=_pascal(title),
        title=title,
        description=_text(data.get("description"))
        or f"Reported by the Rego policy {report.source.package} ({report.where}).",
        level=level,
        security_severity=_severity(custom.get("severity"), level, where),
        remediation=_text(custom.get("remediation")),
        related=_related(data.get("related_resources")),
        package=report.source.package or "",
        file=report.source.display,
        line=report.source.line_of(report.rule),
    )


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _pascal(title: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(w[:1].upper() + w[1:] for w in words) or "Policy"


def _severity(value: object, level: str, where: str) -> float:
    if value is None:
        return LEVEL_SEVERITY[level]
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 10:
        return float(value)
    text = str(value).strip().lower()
    if text in SEVERITY_WORDS:
        return SEVERITY_WORDS[text]
    raise InputError(
        f"{where}: METADATA custom.severity {value!r}: expected critical, high, medium, low "
        "or a number from 0 to 10"
    )


def _related(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    out: list[str] = []
    for item in value:
        ref = item.get("ref") if isinstance(item, dict) else item
        if isinstance(ref, str) and ref.strip():
            out.append(ref.strip())
    return out


# --------------------------------------------------------------- findings


@dataclass
class Converter:
    """Turns one scan's policy results into findings; collects the rules they use."""

    resolver: Resolver
    internal: IntervalSet
    sources_by_package: dict[str, list[Source]]
    rules: dict[str, PolicyRule] = field(default_factory=dict)

    def rules_of(self, report: Report) -> tuple[RuleMeta, str]:
        meta = rule_meta(report, self.sources_by_package.get(report.source.package or "", []))
        default = meta.default_id(report)
        self._rule(default, report, meta)
        return meta, default

    def _rule(self, rule_id: str, report: Report, meta: RuleMeta) -> PolicyRule:
        if _RESERVED_ID.match(rule_id) or rule_id.upper() in RULES:
            raise InputError(
                f"{report.where}: {report.rule}: rule id {rule_id} is reserved for "
                "policycheck's own rules; choose another custom.id or id"
            )
        if not _ID.match(rule_id):
            raise InputError(
                f"{report.where}: {report.rule}: rule id {rule_id!r}: use letters, digits and "
                ". _ : / - (at most 128 characters)"
            )
        known = self.rules.get(rule_id)
        if known is None:
            known = self.rules[rule_id] = policy_rule(rule_id, report, meta.for_id(rule_id))
        return known

    def findings(self, report: Report, value: Any) -> list[Finding]:
        """The findings of one reporting rule's answer (a set: a JSON array)."""
        meta, default = self.rules_of(report)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _malformed(report, value, "the rule is not a set (use `contains`)")
        return [self._finding(report, meta, default, item) for item in value]

    def _finding(self, report: Report, meta: RuleMeta, default: str, item: Any) -> Finding:
        if isinstance(item, str):
            item = {"message": item}
        if not isinstance(item, dict):
            raise _malformed(report, item, "expected an object with a message, or a string")
        message = item.get("message", item.get("msg"))
        if not isinstance(message, str) or not message.strip():
            raise _malformed(report, item, "no message (a non-empty string)")
        rule_id = item.get("id", default)
        if not isinstance(rule_id, str):
            raise _malformed(report, item, "id is not a string")
        rule = self._rule(rule_id, report, meta)
        vm = self._vm(report, item)
        ref, resource_text, provider = self._resource(report, item)
        refs = [ref] if ref is not None else ([vm_ref(vm)] if vm is not None else [])
        direction = item.get("direction")
        if direction is not None and direction not in ("inbound", "outbound"):
            raise _malformed(report, item, "direction must be inbound or outbound")
        region = self._region(report, item)
        level: Level = report.level  # type: ignore[assignment]
        return Finding(
            rule_id=rule_id,
            level=level,
            provider=vm.provider if vm is not None else provider,
            vm_id=vm.id if vm is not None else "",
            vm_name=vm.name if vm is not None else "",
            direction=direction,
            region=region,
            peers_summary=peers_summary(region, self.internal),
            rules=refs,
            remediation=rule.remediation or rule.description,
            policy=PolicyOrigin(
                package=report.source.package or "",
                rule=report.rule,
                file=report.source.display,
                line=report.source.line_of(report.rule),
                title=rule.title,
                message=" ".join(message.split()),
                resource=resource_text,
                details={k: v for k, v in item.items() if k not in RESULT_KEYS},
            ),
        )

    def _vm(self, report: Report, item: Json) -> VM | None:
        vm_id = item.get("vm")
        if vm_id is None:
            return None
        vm = self.resolver.vms.get(str(vm_id)) if isinstance(vm_id, str) else None
        if vm is None:
            raise _malformed(report, item, f"vm {vm_id!r} is not a VM id of the input")
        return vm

    def _resource(
        self, report: Report, item: Json
    ) -> tuple[RuleRef | None, str | None, str | None]:
        value = item.get("resource")
        if value is None:
            return None, None, None
        if isinstance(value, dict) and {"firewall", "rule"} <= value.keys():
            ref = self.resolver.rules.get((str(value["firewall"]), str(value["rule"])))
            if ref is None:
                raise _malformed(report, item, "resource names a rule that is not in the input")
            return ref, None, self.resolver.providers.get(ref.firewall_id)
        if not isinstance(value, str):
            raise _malformed(
                report, item, "resource must be a string or {firewall, rule} as in the input"
            )
        ref = self.resolver.refs.get(value)
        # Something outside the input is kept as the policy named it.
        return ref, (None if ref is not None else value), self.resolver.providers.get(value)

    def _region(self, report: Report, item: Json) -> list[RegionPart]:
        parts = item.get("region")
        if parts is None:
            return []
        if isinstance(parts, dict):
            parts = [parts]
        builder = RegionBuilder()
        excluding: list[str] = []
        try:
            for part in parts:
                raw = str(part["protocol"]).strip().lower()
                # "other" as the input's regions name it; "all" as rules do.
                protocol = "other" if raw in ("other", "all") else normalize_protocol(raw)
                ports = (
                    IntervalSet((int(lo), int(hi)) for lo, hi in part.get("ports") or [])
                    if protocol in PORT_PROTOCOLS
                    else ALL_PORT_SET
                )
                if protocol in PORT_PROTOCOLS and not part.get("ports"):
                    ports = ALL_PORT_SET
                builder.add(protocol, ports, addr_set(str(p) for p in part["peers"]))
                excluding.extend(str(p) for p in part.get("excluding") or [])
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed(
                report, item, f"region: expected parts {{protocol, ports, peers}} ({exc})"
            ) from exc
        return builder.parts(self.internal, sorted(set(excluding)))


def _malformed(report: Report, item: Any, problem: str) -> InputError:
    shown = json.dumps(item, sort_keys=True, default=str)
    if len(shown) > 160:
        shown = shown[:157] + "..."
    return InputError(f"{report.where}: {report.rule} returned {shown}: {problem}")
