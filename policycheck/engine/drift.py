"""Drift: the firewall rules a Terraform plan declares against those in the cloud.

Nothing is evaluated here: two inventories of the same estate (the plan's, and a
snapshot or live read) are compared rule by rule, and every difference becomes
an SWYX008 finding with the rule's Terraform address and its cloud id.

- **Objects** pair by id (the plan of an applied estate knows the cloud ids),
  else by provider, kind and name; where several cloud objects share a name, by
  the VMs they are attached to. A plan object that matches several cloud objects
  is not compared and makes the run incomplete, never a guess.
- **Rules** of a pair: the cloud's platform rules (Azure default rules, the NACL
  ``*`` rule, GCP's predefined policy rules) are no one's drift. Rules with a
  name of their own in the cloud (``providers.rule_identity``) pair by it and are
  *changed* when their values differ; the others pair by their values (and a
  named rule paired so under another name is *changed* in its name). Left-over
  rules of the same direction, action, protocol and ports are one *changed* rule
  (e.g. a source edited in the console); the rest are *missing* (plan only) or
  *added* (cloud only).
- **Objects the plan does not declare** are drift where they are in its scope:
  attached to a VM the plan declares, or a GCP VPC firewall rule in a network the
  plan's rules are in, and of a kind the plan declares at all (a plan without
  network ACLs leaves the VPC's default ACL alone). Every rule of theirs is *added*.

A plan value unknown until apply matches any cloud value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from policycheck.engine.intervals import IntervalSet
from policycheck.engine.providers import (
    cloud_name,
    drift_peer,
    drift_targets,
    platform_rule,
    rule_identity,
)
from policycheck.engine.regions import port_ranges, port_set, rule_region
from policycheck.findings import RULES, Drift, DriftChange, DriftKind, Finding, RuleRef
from policycheck.model import (
    CollectionError,
    FirewallObject,
    Inventory,
    PortRange,
    Rule,
    last_segment,
)

#: The compared values of a rule, in the order changes are reported.
FIELDS = (
    "direction",
    "action",
    "priority",
    "protocol",
    "ports",
    "source_ports",
    "peers",
    "targets",
    "enabled",
)
#: Fields that say what traffic a rule is about: left-over rules equal in these
#: are one rule changed, not one removed and one added.
_SAME_RULE = ("direction", "action", "protocol", "ports")

Values = dict[str, str | None]


@dataclass
class DriftResult:
    """What ``policycheck drift`` reports: findings, and what could not be compared."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[CollectionError] = field(default_factory=list)
    #: Plan objects compared with a cloud object, and cloud objects in scope.
    compared: int = 0


def drift(plan: Inventory, cloud: Inventory) -> DriftResult:
    """Every rule that differs between ``plan`` and ``cloud`` (see the module doc)."""
    out = DriftResult()
    matcher = _Matcher(plan, cloud)
    matched: set[int] = set()
    for pfw in plan.firewalls:
        candidates = matcher.candidates(pfw)
        if len(candidates) > 1:
            ids = ", ".join(c.id for c in candidates[:5])
            out.errors.append(
                CollectionError(
                    provider=pfw.provider,
                    scope=pfw.provenance.address or pfw.id,
                    message=f"{len(candidates)} cloud objects match {pfw.name!r} ({ids}); "
                    "not compared",
                )
            )
            matched.update(id(c) for c in candidates)
            continue
        cfw = candidates[0] if candidates else None
        if cfw is not None:
            matched.add(id(cfw))
        out.compared += 1
        out.findings += _compare(pfw, cfw)
    for cfw in matcher.in_scope():
        if id(cfw) not in matched:
            out.compared += 1
            out.findings += _compare(None, cfw)
    return out


class _Matcher:
    def __init__(self, plan: Inventory, cloud: Inventory) -> None:
        self.plan = plan
        self.cloud = cloud
        self.by_id = {_id_key(fw.provider, fw.id): fw for fw in cloud.firewalls}
        self.by_name: dict[tuple[str, str, str], list[FirewallObject]] = {}
        for fw in cloud.firewalls:
            self.by_name.setdefault(_name_key(fw), []).append(fw)
        # VM name -> the ids of the objects attached to it, per side.
        self.plan_vms = _attached_by_vm(plan)
        self.cloud_vms = _attached_by_vm(cloud)

    def candidates(self, pfw: FirewallObject) -> list[FirewallObject]:
        by_id = self.by_id.get(_id_key(pfw.provider, pfw.id))
        if by_id is not None:
            return [by_id]
        named = self.by_name.get(_name_key(pfw), [])
        if len(named) <= 1:
            return named
        # Same name in several VPCs/projects: the one on the same VMs.
        vms = {name for name, ids in self.plan_vms.items() if pfw.id in ids}
        on_vms = [c for c in named if any(c.id in self.cloud_vms.get(v, set()) for v in vms)]
        return on_vms or named

    def in_scope(self) -> list[FirewallObject]:
        """Cloud objects the plan's estate uses: attached to one of its VMs, or GCP
        VPC firewall rules in one of its networks; of a kind the plan declares at
        all (a plan without network ACLs does not manage the VPC's default one)."""
        attached = {i for name in self.plan_vms for i in self.cloud_vms.get(name, set())}
        kinds = {(fw.provider, fw.kind) for fw in self.plan.firewalls}
        networks = {
            last_segment(fw.network)
            for fw in self.plan.firewalls
            if fw.kind == "vpc_firewall" and fw.network
        }

        def in_network(fw: FirewallObject) -> bool:
            return fw.kind == "vpc_firewall" and last_segment(fw.network or "") in networks

        return [
            fw
            for fw in self.cloud.firewalls
            if (fw.provider, fw.kind) in kinds and (fw.id in attached or in_network(fw))
        ]


def _id_key(provider: str, ident: str) -> str:
    return cloud_name(provider, ident)


def _name_key(fw: FirewallObject) -> tuple[str, str, str]:
    return (fw.provider, fw.kind, cloud_name(fw.provider, fw.name))


def _attached_by_vm(inventory: Inventory) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for vm in inventory.vms:
        out.setdefault(vm.name, set()).update(a.firewall_id for a in vm.attachments)
    return out


# ---------------------------------------------------------------------- rules


def _compare(pfw: FirewallObject | None, cfw: FirewallObject | None) -> list[Finding]:
    plan_rules = [(r, _values(fw, r)) for fw, r in _own_rules(pfw)]
    cloud_rules = [(r, _values(fw, r)) for fw, r in _own_rules(cfw)]
    pairs: list[tuple[Rule, Rule]] = []
    # 1. Rules with a name of their own pair by it.
    if pfw is not None and cfw is not None:
        named = {rule_identity(cfw, r): (r, v) for r, v in cloud_rules if rule_identity(cfw, r)}
        for prule, pvalues in list(plan_rules):
            key = rule_identity(pfw, prule)
            if key is not None and key in named:
                crule, cvalues = named.pop(key)
                plan_rules.remove((prule, pvalues))
                cloud_rules.remove((crule, cvalues))
                pairs.append((prule, crule))
    # 2. The others by their values, exactly first, then with the plan's unknowns.
    for lenient in (False, True):
        for prule, pvalues in list(plan_rules):
            for crule, cvalues in cloud_rules:
                if _same(pvalues, cvalues, FIELDS, lenient):
                    plan_rules.remove((prule, pvalues))
                    cloud_rules.remove((crule, cvalues))
                    pairs.append((prule, crule))
                    break
    # 3. Left-overs about the same traffic are one rule changed.
    for prule, pvalues in list(plan_rules):
        for crule, cvalues in cloud_rules:
            if _same(pvalues, cvalues, _SAME_RULE, lenient=True):
                plan_rules.remove((prule, pvalues))
                cloud_rules.remove((crule, cvalues))
                pairs.append((prule, crule))
                break
    findings = [
        _finding("missing", pfw, prule, cfw, None, []) for prule, _ in plan_rules if pfw
    ] + [_finding("added", pfw, None, cfw, crule, []) for crule, _ in cloud_rules if cfw]
    for prule, crule in pairs:
        assert pfw is not None and cfw is not None
        changes = _changes(_values(pfw, prule), _values(cfw, crule))
        pkey, ckey = rule_identity(pfw, prule), rule_identity(cfw, crule)
        if pkey is not None and ckey is not None and pkey != ckey:
            # The cloud names an Azure rule by its name: another name is another rule
            # to Terraform (it would replace it).
            changes.insert(
                0, DriftChange(field="name", plan=prule.name or "", cloud=crule.name or "")
            )
        if changes:
            findings.append(_finding("changed", pfw, prule, cfw, crule, changes))
    return findings


def _own_rules(fw: FirewallObject | None) -> list[tuple[FirewallObject, Rule]]:
    return [] if fw is None else [(fw, r) for r in fw.rules if not platform_rule(fw, r)]


def _values(fw: FirewallObject, rule: Rule) -> Values:
    """The rule's values as drift compares them; None where the plan does not
    know the value yet (it matches anything)."""
    unknown = " ".join(rule.unknown).lower()
    peers_unknown = any(p.kind == "unknown" for p in rule.peers)
    return {
        "direction": rule.direction,
        "action": rule.action,
        "priority": "" if rule.priority is None else str(rule.priority),
        "protocol": rule.protocol,
        "ports": None if "port" in unknown else _ports(rule.ports),
        "source_ports": _ports(rule.source_ports),
        "peers": None if peers_unknown else ", ".join(sorted({drift_peer(p) for p in rule.peers})),
        "targets": ", ".join(drift_targets(fw, rule)),
        "enabled": "no" if rule.disabled else "yes",
    }


def _ports(ranges: Iterable[PortRange]) -> str:
    return ", ".join(str(r) for r in port_ranges(port_set(ranges)))


def _same(a: Values, b: Values, fields: Sequence[str], lenient: bool) -> bool:
    return all(a[f] == b[f] or (lenient and (a[f] is None or b[f] is None)) for f in fields)


def _changes(plan: Values, cloud: Values) -> list[DriftChange]:
    return [
        DriftChange(field=f, plan=plan[f] or "", cloud=cloud[f] or "")
        for f in FIELDS
        if plan[f] is not None and cloud[f] is not None and plan[f] != cloud[f]
    ]


def _finding(
    kind: DriftKind,
    pfw: FirewallObject | None,
    prule: Rule | None,
    cfw: FirewallObject | None,
    crule: Rule | None,
    changes: list[DriftChange],
) -> Finding:
    subject = cfw or pfw
    rule = crule or prule
    assert subject is not None and rule is not None
    refs = [RuleRef.of(fw, r) for fw, r in ((pfw, prule), (cfw, crule)) if fw and r]
    address = (prule or pfw) and (prule.provenance.address if prule else None)
    if address is None and pfw is not None:
        address = pfw.provenance.address
    cloud = crule or cfw
    info = RULES["SWYX008"]
    return Finding(
        rule_id="SWYX008",
        level=info.level,
        provider=subject.provider,
        vm_id=subject.id,
        vm_name=subject.name,
        direction=rule.direction,
        region=rule_region(
            rule.protocol,
            port_set(rule.ports),
            port_set(rule.source_ports),
            [str(p) for p in rule.peers],
            IntervalSet(),
        ),
        rules=refs,
        remediation=info.remediation,
        drift=Drift(
            kind=kind,
            terraform_address=address,
            cloud_id=(cloud.provenance.cloud_id or cloud.id) if cloud is not None else None,
            changes=changes,
        ),
    )
