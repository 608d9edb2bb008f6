"""Effective access vs expected flows -> findings.

Regions are compared with the documented flows per protocol and port: ports no
flow documents are SWYX001 (inbound) or SWYX004 (outbound, by strictness);
documented ports reachable from addresses beyond the flows' peers are SWYX002.
Pieces are merged per (kind, responsible rules) so one bad rule gives one
finding, however many ports it opens.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from policycheck.engine.access import OTHER, PORT_PROTOCOLS, Access, Region, ResolvedRule
from policycheck.engine.context import Context
from policycheck.engine.intervals import (
    ALL_ADDRS,
    ALL_PORT_SET,
    ALL_V4,
    ALL_V6,
    IntervalSet,
    addr_set,
    to_cidrs,
)
from policycheck.engine.providers import (
    VMLayers,
    platform_addresses,
    probe_exemption,
    return_path_blocked,
)
from policycheck.expected import Expected, ExpectedFlow, Requirement
from policycheck.findings import RULES, Finding, RuleRef
from policycheck.model import VM, Direction, PortRange
from policycheck.profile import Profile

MAX_MESSAGE_PREFIXES = 4


@dataclass
class _Acc:
    """Accumulates one finding's pieces before it is built."""

    kind: str
    direction: Direction
    rules: tuple[ResolvedRule, ...]
    by_protocol: dict[str, IntervalSet] = field(default_factory=dict)
    addrs: IntervalSet = field(default_factory=IntervalSet)
    rows: set[str] = field(default_factory=set)
    documented: IntervalSet = field(default_factory=IntervalSet)

    def add(
        self, protocol: str, ports: IntervalSet, addrs: IntervalSet, rows: Iterable[str]
    ) -> None:
        self.by_protocol[protocol] = self.by_protocol.get(protocol, IntervalSet()) | ports
        self.addrs = self.addrs | addrs
        self.rows.update(rows)


def rule_ref(rr: ResolvedRule) -> RuleRef:
    return RuleRef(
        firewall_id=rr.firewall.id,
        firewall_name=rr.firewall.name,
        rule_id=rr.rule.id,
        rule_name=rr.rule.name,
        provenance=rr.rule.provenance,
    )


def describe_addrs(addrs: IntervalSet, internal: IntervalSet) -> str:
    """Short human wording for an address set."""
    if addrs == ALL_ADDRS:
        return "anywhere (0.0.0.0/0, ::/0)"
    if addrs == ALL_V4:
        return "0.0.0.0/0"
    if addrs == ALL_V6:
        return "::/0"
    if addrs == internal:
        return "the internal networks"
    if addrs == ALL_ADDRS - internal:
        return "the internet (everything outside the internal networks)"
    if addrs == ALL_V4 - internal:
        return "the IPv4 internet (0.0.0.0/0 outside the internal networks)"
    if addrs == ALL_V6 - internal:
        return "the IPv6 internet (::/0 outside the internal networks)"
    cidrs = to_cidrs(addrs)
    if len(cidrs) <= MAX_MESSAGE_PREFIXES:
        return ", ".join(cidrs)
    return f"{', '.join(cidrs[:MAX_MESSAGE_PREFIXES])} and {len(cidrs) - MAX_MESSAGE_PREFIXES} more"


def describe_ports(protocol: str, ports: IntervalSet) -> str:
    if protocol not in PORT_PROTOCOLS:
        return "all protocols other than tcp/udp" if protocol == OTHER else protocol
    if ports == ALL_PORT_SET:
        return f"{protocol} all ports"
    text = ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ports)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{protocol} {text}"


def _rule_names(rules: Sequence[ResolvedRule]) -> str:
    return " + ".join(f"{r.firewall.name}/{r.rule.name or r.rule.id}" for r in rules)


class Comparer:
    """Builds the findings for one VM."""

    def __init__(
        self,
        vm: VM,
        expected: Expected,
        profile: Profile,
        ctx: Context,
        layers: Mapping[Direction, VMLayers] | None = None,
    ) -> None:
        self.vm = vm
        self.layers = dict(layers or {})
        self.expected = expected
        self.profile = profile
        self.ctx = ctx
        self.accs: dict[tuple[str, tuple[int, ...]], _Acc] = {}
        self.findings: list[Finding] = []

    # ------------------------------------------------------------- plumbing

    def exempt(self, region: Region) -> IntervalSet:
        """The part of an inbound region SWYX001/SWYX002 leave out: the platform's
        health probe (see :func:`~policycheck.engine.providers.probe_exemption`)."""
        if self.profile.report_azure_load_balancer:
            return IntervalSet()
        return region.addrs & probe_exemption(self.vm.provider, region.rules)

    def _acc(self, kind: str, direction: Direction, rules: tuple[ResolvedRule, ...]) -> _Acc:
        key = (kind, tuple(id(r) for r in rules))
        if key not in self.accs:
            self.accs[key] = _Acc(kind=kind, direction=direction, rules=rules)
        return self.accs[key]

    def _flows(self, direction: Direction, protocol: str) -> list[ExpectedFlow]:
        return [
            f for f in self.expected.for_direction(direction) if f.protocol in (protocol, "all")
        ]

    # --------------------------------------------------------------- checks

    def inbound(self, access: Access) -> None:
        for region in access.regions:
            addrs = region.addrs - self.exempt(region)
            if not addrs:
                continue
            flows = self._flows("inbound", region.protocol)
            self._excess_and_breadth(
                region.protocol, region.ports, addrs, region.rules, flows, "inbound"
            )

    def _excess_and_breadth(
        self,
        protocol: str,
        ports: IntervalSet,
        addrs: IntervalSet,
        rules: tuple[ResolvedRule, ...],
        flows: Sequence[ExpectedFlow],
        direction: Direction,
        *,
        excess_kind: str = "SWYX001",
        breadth_kind: str | None = "SWYX002",
    ) -> None:
        documented = IntervalSet()
        for f in flows:
            documented = documented | _ports(f.ports)
        excess = ports - documented
        if excess:
            self._acc(excess_kind, direction, rules).add(protocol, excess, addrs, ())
        if breadth_kind is None:
            return
        covered = ports & documented
        if not covered:
            return
        # Cut the covered ports where the set of documenting flows changes.
        cuts: set[int] = set()
        for f in flows:
            for lo, hi in _ports(f.ports):
                cuts.update((lo, hi + 1))
        for lo, hi in covered:
            points = sorted({lo, hi + 1} | {c for c in cuts if lo < c <= hi})
            for a, b in itertools.pairwise(points):
                cell = IntervalSet([(a, b - 1)])
                here = [f for f in flows if _ports(f.ports).contains(a)]
                allowed = addr_set(p for f in here for p in f.peers)
                too_broad = addrs - allowed
                if too_broad:
                    acc = self._acc(breadth_kind, direction, rules)
                    acc.add(protocol, cell, too_broad, (r for f in here for r in f.rows))
                    acc.documented = acc.documented | allowed

    def outbound(self, access: Access) -> None:
        strictness = self.profile.egress.strictness
        if strictness == "off":
            return
        out_flows = self.expected.for_direction("outbound")
        protocols = {f.protocol for f in out_flows}
        for region in access.regions:
            addrs = region.addrs
            if not addrs:
                continue
            if region.protocol not in protocols and "all" not in protocols:
                self._acc("SWYX004", "outbound", region.rules).add(
                    region.protocol, region.ports, addrs, ()
                )
            elif strictness == "ports":
                self._excess_and_breadth(
                    region.protocol,
                    region.ports,
                    addrs,
                    region.rules,
                    self._flows("outbound", region.protocol),
                    "outbound",
                    excess_kind="SWYX004",
                    breadth_kind=None,
                )

    def requirements(self, inbound: Access, outbound: Access) -> None:
        for req in self.expected.requirements:
            access = inbound if req.direction == "inbound" else outbound
            if not any(self._satisfied(access, req, alt) for alt in req.alternatives):
                self._blocked(req)

    def unreachable(self, req: Requirement) -> IntervalSet:
        """Peers that can never satisfy a required flow, whatever the rules allow: the
        cloud platform's own addresses (Azure's load-balancer probe is not the
        internet), and peers whose replies a stateless return path drops."""
        blocked = platform_addresses(self.vm.provider)
        layers = self.layers.get(req.direction)
        if layers is not None:
            blocked = blocked | return_path_blocked(layers, req.protocol)
        return blocked

    def _satisfied(self, access: Access, req: Requirement, ports: tuple[PortRange, ...]) -> bool:
        """Blocked means no address of the documented peers gets through; for internet
        peers, some address outside the internal networks must get through."""
        wanted = addr_set(req.peers) - self.unreachable(req)
        if req.peers and set(req.peers) >= {"0.0.0.0/0", "::/0"}:
            wanted = wanted - self.ctx.internal
        need = _ports(ports)
        for region in access.regions:
            if region.protocol != req.protocol:
                continue
            if (region.ports & need) and (region.addrs & wanted):
                need = need - region.ports
                if not need:
                    return True
        return False

    def _blocked(self, req: Requirement) -> None:
        ports = IntervalSet()
        for alt in req.alternatives:
            ports = ports | _ports(alt)
        refs = [self._firewall_ref(req.direction)]
        port_text = " or ".join(describe_ports(req.protocol, _ports(a)) for a in req.alternatives)
        self._emit(
            "SWYX003",
            req.direction,
            req.protocol,
            ports,
            addr_set(req.peers),
            refs,
            sorted(req.rows),
            f"{self.vm.name}: {req.description} is blocked: no rule allows {port_text} "
            f"from {describe_addrs(addr_set(req.peers), self.ctx.internal)}",
        )

    def _firewall_ref(self, direction: Direction) -> RuleRef:
        """Where a missing rule should go: the VM's first firewall object."""
        for att in self.vm.attachments:
            fw = self.ctx.firewall(att.firewall_id)
            if fw is not None:
                return RuleRef(
                    firewall_id=fw.id,
                    firewall_name=fw.name,
                    rule_id=f"{fw.id}/({direction} rule missing)",
                    rule_name=None,
                    provenance=fw.provenance,
                )
        return RuleRef(
            firewall_id=self.vm.id,
            firewall_name=self.vm.name,
            rule_id=f"{self.vm.id}/({direction} rule missing)",
            provenance=self.vm.provenance,
        )

    def unresolved(self, layers: Iterable[VMLayers]) -> None:
        seen: set[int] = set()
        for vl in layers:
            for rr in vl.unresolved:
                if id(rr.rule) in seen:
                    continue
                seen.add(id(rr.rule))
                what = "; ".join(rr.unresolved)
                self._emit(
                    "SWYX005",
                    rr.rule.direction,
                    rr.protocol,
                    rr.ports,
                    rr.addrs,
                    [rule_ref(rr)],
                    [],
                    f"{self.vm.name}: {rr.rule.action} rule {_rule_names([rr])} "
                    f"({describe_ports(rr.protocol, rr.ports)}) could not be fully evaluated: "
                    f"{what}; it was evaluated without the unresolved part",
                    peers_text=list(rr.unresolved),
                )
            for problem in vl.problems:
                key = hash(problem)
                if key in seen:
                    continue
                seen.add(key)
                self._emit(
                    "SWYX005",
                    "inbound",
                    "all",
                    IntervalSet(),
                    IntervalSet(),
                    [
                        RuleRef(
                            firewall_id=self.vm.id,
                            firewall_name=self.vm.name,
                            rule_id=self.vm.id,
                            provenance=self.vm.provenance,
                        )
                    ],
                    [],
                    f"{self.vm.name}: {problem}",
                    peers_text=[problem],
                )

    def shadowed(self, accesses: Iterable[Access]) -> None:
        for access in accesses:
            for rr in access.shadowed:
                self._emit(
                    "SWYX007",
                    rr.rule.direction,
                    rr.protocol,
                    rr.ports,
                    rr.addrs,
                    [rule_ref(rr)],
                    [],
                    f"{self.vm.name}: {rr.rule.action} rule {_rule_names([rr])} "
                    f"(priority {rr.rule.priority}, {describe_ports(rr.protocol, rr.ports)}) "
                    "never takes effect: higher-priority rules already decide all its traffic",
                )

    # --------------------------------------------------------------- output

    def _emit(
        self,
        kind: str,
        direction: Direction,
        protocol: str,
        ports: IntervalSet,
        addrs: IntervalSet,
        refs: list[RuleRef],
        rows: list[str],
        message: str,
        *,
        peers_text: list[str] | None = None,
    ) -> None:
        info = RULES[kind]
        level = self.profile.egress.level if kind == "SWYX004" else info.level
        self.findings.append(
            Finding(
                rule_id=info.id,
                level=level,
                provider=self.vm.provider,
                vm_id=self.vm.id,
                vm_name=self.vm.name,
                direction=direction,
                protocol=protocol,
                ports=[PortRange(lo=lo, hi=hi) for lo, hi in ports],
                peers=peers_text if peers_text is not None else to_cidrs(addrs),
                peers_summary=None
                if peers_text is not None
                else (describe_addrs(addrs, self.ctx.internal) if addrs else None),
                rules=refs,
                catalog_rows=rows,
                message=message,
                remediation=info.remediation,
            )
        )

    def _finding_text(self, acc: _Acc, parts: str, peers: str) -> str:
        via = _rule_names(acc.rules)
        vm = self.vm.name
        if acc.kind == "SWYX001":
            return f"undocumented inbound access to {vm}: {parts} from {peers} (allowed by {via})"
        if acc.kind == "SWYX002":
            documented = (
                describe_addrs(acc.documented, self.ctx.internal)
                if acc.documented
                else "no address (the flow stays on the VM)"
            )
            return (
                f"inbound source too broad on {vm}: {parts} is reachable from {peers} "
                f"(allowed by {via}); documented peers: {documented}"
            )
        return f"undocumented outbound access from {vm}: {parts} to {peers} (allowed by {via})"

    def finish(self) -> list[Finding]:
        for acc in self.accs.values():
            protocols = sorted(acc.by_protocol)
            protocol = (
                protocols[0]
                if len(protocols) == 1
                else (acc.rules[0].protocol if acc.rules else "all")
            )
            ports = IntervalSet()
            for p in protocols:
                ports = ports | (acc.by_protocol[p] if p in PORT_PROTOCOLS else ALL_PORT_SET)
            parts = "; ".join(describe_ports(p, acc.by_protocol[p]) for p in protocols)
            text = self._finding_text(acc, parts, describe_addrs(acc.addrs, self.ctx.internal))
            self._emit(
                acc.kind,
                acc.direction,
                protocol,
                ports,
                acc.addrs,
                [rule_ref(r) for r in acc.rules],
                sorted(acc.rows),
                text,
            )
        return self.findings


def _ports(ranges: Iterable[PortRange]) -> IntervalSet:
    return IntervalSet((r.lo, r.hi) for r in ranges)
