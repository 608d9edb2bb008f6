"""The Rego input document (``input`` of every policy), written from the native pass.

Shape and meaning: docs/rego.md ("Input document"), versioned by
:data:`SCHEMA_VERSION`. Nothing here decides anything: :class:`DocumentBuilder`
observes :func:`policycheck.engine.evaluate.evaluate` and writes down, per VM,
what the native pass computed (roles, expected flows, effective access with the
rules that grant it, the comparison with the matrix), plus facts about each
region's addresses so that policies need no address arithmetic. Everything is
indexed by id: ``input.vms[id]``, ``input.firewalls[id].rules[id]``.

Address sets recur across VMs (the same security group in front of many), so
their CIDRs and facts are computed once per distinct set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from policycheck import __version__
from policycheck.engine.access import Access, Region, ResolvedRule
from policycheck.engine.compare import Comparer, RegionComparison
from policycheck.engine.context import Context
from policycheck.engine.evaluate import VMEvaluation
from policycheck.engine.intervals import ALL_V4, ALL_V6, IntervalSet, addr_set, to_cidrs
from policycheck.expected import Expected
from policycheck.findings import OTHER_PROTOCOLS, PORT_PROTOCOLS
from policycheck.model import VM, FirewallObject, Inventory, PortRange, Provenance, Rule
from policycheck.profile import Profile

#: Bumped when a key is removed or changes meaning; new keys may be added.
SCHEMA_VERSION = 1
#: The peer group every region's ``within`` names besides the profile's groups.
INTERNAL_GROUP = "internal"

Json = dict[str, Any]


@dataclass
class VMRecord:
    """What turning a policy's findings back into Findings needs about one VM."""

    vm: VM
    roles: list[str]
    expected: Expected | None
    #: The rule sets of the VM's regions (``rule_set`` indexes them).
    rule_sets: list[tuple[ResolvedRule, ...]] = field(default_factory=list)
    #: What an ``other`` inbound region does not cover.
    named_inbound: tuple[str, ...] = ()


@dataclass
class _Facts:
    reach: Json


class DocumentBuilder:
    """An observer for ``evaluate``: call :meth:`finish` for the document."""

    def __init__(self, inventory: Inventory, profile: Profile) -> None:
        self.internal = addr_set(profile.internal_networks)
        self.groups: dict[str, IntervalSet] = {INTERNAL_GROUP: self.internal}
        for name, cidrs in profile.peer_groups.items():
            self.groups.setdefault(name, addr_set(cidrs))
        self.records: dict[str, VMRecord] = {}
        #: Platform rules the regions name (Azure defaults, GCP implied rules).
        self.extra_rules: dict[tuple[str, str], tuple[Rule, FirewallObject]] = {}
        self.ctx: Context | None = None
        self._facts: dict[IntervalSet, _Facts] = {}
        self._cidrs: dict[IntervalSet, list[str]] = {}
        self.firewalls: dict[str, Json] = {fw.id: firewall_json(fw) for fw in inventory.firewalls}
        self.vms: dict[str, Json] = {}
        self.document: Json = {
            "schema_version": SCHEMA_VERSION,
            "policycheck_version": __version__,
            "sources": list(inventory.sources),
            "profile": {
                "internal_networks": list(profile.internal_networks),
                "peer_groups": {k: list(v) for k, v in profile.peer_groups.items()},
            },
            "firewalls": self.firewalls,
            "vms": self.vms,
        }

    # ----------------------------------------------------------------- VMs

    def __call__(self, ev: VMEvaluation, ctx: Context) -> None:
        self.ctx = ctx
        vm = ev.vm
        record = VMRecord(
            vm=vm,
            roles=list(ev.assignment.roles),
            expected=ev.expected,
            named_inbound=ev.inbound.named,
        )
        comparer = ev.comparer
        compared = comparer.compared if comparer is not None else None
        exempt = comparer.exempt if comparer is not None else None
        sets: dict[tuple[int, ...], int] = {}
        inbound = self._regions(ev.inbound, exempt, sets, record.rule_sets, compared)
        outbound = self._regions(ev.outbound, None, sets, record.rule_sets, None)
        self.records[vm.id] = record
        self.vms[vm.id] = {
            "id": vm.id,
            "name": vm.name,
            "provider": vm.provider,
            "resource": resource_of(vm.provenance, vm.id),
            "location": location(vm.provenance),
            "addresses": list(vm.addresses),
            "tags": dict(vm.tags),
            "network_tags": list(vm.network_tags),
            "service_accounts": list(vm.service_accounts),
            "networks": list(vm.networks),
            "firewalls": [
                {"id": a.firewall_id, "level": a.level, "via": a.via}
                for a in vm.attachments
                if ctx.firewall(a.firewall_id) is not None
            ],
            "roles": list(ev.assignment.roles),
            "unknown_roles": list(ev.assignment.unknown),
            "compared": ev.expected is not None,
            "expected": _flows(ev.expected),
            "requirements": self._requirements(ev.expected, comparer),
            "inbound": inbound,
            "outbound": outbound,
            "rule_sets": [[_rule_key(r) for r in rules] for rules in record.rule_sets],
        }

    def _regions(
        self,
        access: Access,
        exempt: Callable[[Region], IntervalSet] | None,
        sets: dict[tuple[int, ...], int],
        rule_sets: list[tuple[ResolvedRule, ...]],
        compared: Sequence[RegionComparison] | None,
    ) -> list[Json]:
        out: list[Json] = []
        for i, region in enumerate(access.regions):
            # What the comparison leaves out (the platform's health probe).
            excluded = exempt(region) if exempt is not None else None
            looked_at = region.addrs - excluded if excluded else region.addrs
            facts = self._facts_of(looked_at)
            key = tuple(id(r) for r in region.rules)
            if key not in sets:
                sets[key] = len(rule_sets)
                rule_sets.append(region.rules)
            for rr in region.rules:
                self._know_rule(rr)
            item: Json = {
                "protocol": region.protocol,
                "ports": _port_list(region.ports) if region.protocol in PORT_PROTOCOLS else [],
                "peers": self._cidrs_of(region.addrs),
                "excluding": list(access.named) if region.protocol == OTHER_PROTOCOLS else [],
                "source_ports": _port_list(region.source_ports),
                "excluded_peers": self._cidrs_of(excluded) if excluded else [],
                "rules": [_rule_key(r) for r in region.rules],
                "rule_set": sets[key],
                "reach": facts.reach,
            }
            if compared is not None:
                item.update(self._comparison(region, compared[i], access.named))
            out.append(item)
        return out

    def _comparison(self, region: Region, found: RegionComparison, named: Sequence[str]) -> Json:
        excluding = list(named) if region.protocol == OTHER_PROTOCOLS else []
        undocumented = (
            [
                {
                    "protocol": region.protocol,
                    "ports": _part_ports(region.protocol, found.undocumented),
                    "peers": self._cidrs_of(found.addrs),
                    "excluding": excluding,
                }
            ]
            if found.undocumented and found.addrs
            else []
        )
        too_broad = [
            {
                "protocol": region.protocol,
                "ports": _part_ports(region.protocol, piece.ports),
                "peers": self._cidrs_of(piece.addrs),
                "excluding": excluding,
                "rows": sorted(piece.rows),
                "documented_peers": self._cidrs_of(piece.documented),
            }
            for piece in found.too_broad
        ]
        return {"undocumented": undocumented, "too_broad": too_broad}

    def _requirements(self, expected: Expected | None, comparer: Comparer | None) -> list[Json]:
        if expected is None or comparer is None:
            return []
        met = comparer.met
        return [
            {
                "description": r.description,
                "direction": r.direction,
                "protocol": r.protocol,
                "alternatives": [_ranges(alt) for alt in r.alternatives],
                "peers": list(r.peers),
                # Peers that never satisfy it whatever the rules allow (platform
                # addresses, peers whose replies a stateless return path drops).
                "unreachable_peers": self._cidrs_of(comparer.unreachable(r)),
                "rows": list(r.rows),
                "met": bool(met[i]) if i < len(met) else True,
            }
            for i, r in enumerate(expected.requirements)
        ]

    def _know_rule(self, rr: ResolvedRule) -> None:
        """Platform rules (Azure defaults, GCP implied rules, 'no NSG') are not in
        the inventory; the document lists them where regions name them."""
        fw = self.firewalls.get(rr.firewall.id)
        if fw is None:
            fw = firewall_json(rr.firewall)
            fw["synthetic"] = True
            self.firewalls[rr.firewall.id] = fw
        if rr.rule.id not in fw["rules"]:
            rule = rule_json(rr.rule, rr.firewall)
            rule["synthetic"] = True
            fw["rules"][rr.rule.id] = rule
            self.extra_rules[(rr.firewall.id, rr.rule.id)] = (rr.rule, rr.firewall)

    # --------------------------------------------------------- address facts

    def _cidrs_of(self, addrs: IntervalSet) -> list[str]:
        cidrs = self._cidrs.get(addrs)
        if cidrs is None:
            cidrs = self._cidrs[addrs] = to_cidrs(addrs)
        return cidrs

    def _facts_of(self, addrs: IntervalSet) -> _Facts:
        facts = self._facts.get(addrs)
        if facts is None:
            internet = addrs - self.internal
            facts = self._facts[addrs] = _Facts(
                reach={
                    "anywhere": addrs.covers(ALL_V4) or addrs.covers(ALL_V6),
                    "internet": bool(internet),
                    "internal": bool(addrs & self.internal),
                    "within": {name: space.covers(addrs) for name, space in self.groups.items()},
                    "widest_internet_prefix": {
                        "ipv4": _widest(self._cidrs_of(internet & ALL_V4)),
                        "ipv6": _widest(self._cidrs_of(internet & ALL_V6)),
                    },
                },
            )
        return facts

    # ---------------------------------------------------------------- finish

    def finish(self) -> Json:
        return self.document


# ------------------------------------------------------------------ pieces


def firewall_json(fw: FirewallObject) -> Json:
    return {
        "id": fw.id,
        "name": fw.name,
        "provider": fw.provider,
        "kind": fw.kind,
        "network": fw.network,
        "tags": dict(fw.tags),
        "resource": resource_of(fw.provenance, fw.id),
        "location": location(fw.provenance),
        "synthetic": False,
        "rules": {r.id: rule_json(r, fw) for r in fw.rules},
    }


def rule_json(rule: Rule, fw: FirewallObject) -> Json:
    return {
        "id": rule.id,
        "firewall": fw.id,
        "name": rule.name,
        "description": rule.description,
        "direction": rule.direction,
        "action": rule.action,
        "priority": rule.priority,
        "protocol": rule.protocol,
        "ports": _ranges(rule.ports),
        "source_ports": _ranges(rule.source_ports),
        "peers": [str(p) for p in rule.peers],
        "targets": [str(p) for p in rule.targets],
        "disabled": rule.disabled,
        "unknown": list(rule.unknown),
        "resource": resource_of(rule.provenance, f"{fw.id}/{rule.id}"),
        "location": location(rule.provenance),
        "synthetic": False,
    }


def resource_of(prov: Provenance, fallback: str) -> str:
    """What a finding's ``resource`` names: the Terraform address, else the cloud id."""
    return prov.address or prov.cloud_id or fallback


def location(prov: Provenance) -> Json | None:
    if not prov.file:
        return None
    return {"file": prov.file, "line": prov.start_line, "end_line": prov.end_line}


def _rule_key(rr: ResolvedRule) -> Json:
    return {"firewall": rr.firewall.id, "rule": rr.rule.id}


def _flows(expected: Expected | None) -> list[Json]:
    if expected is None:
        return []
    return [
        {
            "role": f.role,
            "direction": f.direction,
            "protocol": f.protocol,
            "ports": _ranges(f.ports),
            "peer": f.peer,
            "peers": list(f.peers),
            "rows": list(f.rows),
        }
        for f in expected.flows
    ]


def _ranges(ranges: Iterable[PortRange]) -> list[list[int]]:
    return [[r.lo, r.hi] for r in ranges]


def _port_list(ports: IntervalSet) -> list[list[int]]:
    return [[lo, hi] for lo, hi in ports]


def _part_ports(protocol: str, ports: IntervalSet) -> list[list[int]]:
    return _port_list(ports) if protocol in PORT_PROTOCOLS else []


def _widest(cidrs: Sequence[str]) -> int | None:
    """The shortest prefix length among the CIDRs (None for no address)."""
    return min((int(c.rsplit("/", 1)[1]) for c in cidrs), default=None)
