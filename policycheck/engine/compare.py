"""Effective access vs expected flows -> findings.

Regions are compared with the documented flows per protocol and port: ports no
flow documents are SWYX001 (inbound) or SWYX004 (outbound, by strictness);
documented ports reachable from addresses beyond the flows' peers are SWYX002.
Pieces are merged per (kind, responsible rules) so one bad rule gives one
finding, however many ports it opens; the finding's region stays exact
(:mod:`policycheck.engine.regions`). Findings carry data only; reports word them.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from policycheck.engine.access import Access, Region, ResolvedRule
from policycheck.engine.context import Context
from policycheck.engine.intervals import (
    ALL_PORT_SET,
    IntervalSet,
    addr_set,
    port_set,
    to_cidrs,
    union_all,
)
from policycheck.engine.providers import (
    VMLayers,
    platform_addresses,
    probe_exemption,
    return_path_blocked,
)
from policycheck.engine.regions import (
    RegionBuilder,
    peers_summary,
    region_part,
    rule_region,
    summarize_peers,
)
from policycheck.expected import (
    SLOTS,
    Binding,
    Expected,
    ExpectedFlow,
    FlowTemplate,
    Requirement,
)
from policycheck.findings import (
    PORT_PROTOCOLS,
    RULES,
    Finding,
    Level,
    PeerSummary,
    RegionPart,
    RuleRef,
)
from policycheck.model import VM, Direction, PortRange
from policycheck.profile import Profile


@dataclass
class _Acc:
    """Accumulates one finding's pieces before it is built."""

    kind: str
    direction: Direction
    rules: tuple[ResolvedRule, ...]
    region: RegionBuilder = field(default_factory=RegionBuilder)
    rows: set[str] = field(default_factory=set)
    documented: IntervalSet = field(default_factory=IntervalSet)


@dataclass(frozen=True)
class TooBroad:
    """One port cell of a region reachable from beyond its documented peers."""

    ports: IntervalSet
    #: The addresses beyond the documented peers.
    addrs: IntervalSet
    rows: frozenset[str]
    #: Who the flows documenting this cell allow.
    documented: IntervalSet


@dataclass(frozen=True)
class RegionComparison:
    """What the comparison found in one inbound region, exactly: the facts the
    Rego input document carries (docs/rego.md), and what SWYX001/SWYX002 merge."""

    #: The region's addresses the comparison looks at (the Azure load balancer
    #: probe removed unless the profile reports it).
    addrs: IntervalSet
    #: Ports no documented flow of the protocol uses (SWYX001).
    undocumented: IntervalSet
    #: Documented ports reachable from beyond the documented peers (SWYX002).
    too_broad: tuple[TooBroad, ...]


def rule_ref(rr: ResolvedRule) -> RuleRef:
    return RuleRef(
        firewall_id=rr.firewall.id,
        firewall_name=rr.firewall.name,
        rule_id=rr.rule.id,
        rule_name=rr.rule.name,
        action=rr.rule.action,
        priority=rr.rule.priority,
        provenance=rr.rule.provenance,
        default=rr.synthetic,
    )


class _FlowShape:
    """One direction's and protocol's flows of a template, with what the comparison
    asks of them for every region computed once per scan: their ports, where the
    set of flows changes, and per port the rows of the flows there, the peers the
    fixed ones allow and the slots the others take
    (:class:`~policycheck.expected.FlowTemplate`)."""

    def __init__(self, template: FlowTemplate, flows: Sequence[ExpectedFlow]) -> None:
        #: Kept so the key of this shape (the template's id) stays its own.
        self.template = template
        self.flows = list(flows)
        self.ports = [_ports(f.ports) for f in self.flows]
        self.documented = union_all(self.ports)
        #: Where the set of documenting flows may change, ascending.
        self.cuts: list[int] = sorted(
            {b for ps in self.ports for lo, hi in ps for b in (lo, hi + 1)}
        )
        self._at: dict[int, tuple[frozenset[str], IntervalSet, tuple[tuple[str, ...], ...]]] = {}
        self._cuts: dict[tuple[IntervalSet, IntervalSet], _Cut] = {}

    def at(self, port: int) -> tuple[frozenset[str], IntervalSet, tuple[tuple[str, ...], ...]]:
        found = self._at.get(port)
        if found is None:
            here = [f for f, ps in zip(self.flows, self.ports, strict=True) if ps.contains(port)]
            found = self._at[port] = (
                frozenset(r for f in here for r in f.rows),
                union_all(addr_set(f.peers) for f in here if f.peers not in SLOTS),
                tuple(dict.fromkeys(f.peers for f in here if f.peers in SLOTS)),
            )
        return found

    def cut(self, ports: IntervalSet, addrs: IntervalSet) -> _Cut:
        """The region's comparison with these flows, once per distinct region: VMs
        behind alike firewalls share their regions' ports and addresses."""
        key = (ports, addrs)
        found = self._cuts.get(key)
        if found is None:
            found = self._cuts[key] = self._cut(ports, addrs)
        return found

    def _cut(self, ports: IntervalSet, addrs: IntervalSet) -> _Cut:
        cells: list[tuple[IntervalSet, int, TooBroad | None]] = []
        # Cut the covered ports where the set of documenting flows changes.
        for lo, hi in ports & self.documented:
            # The cuts inside (lo, hi], found by bisection rather than a walk of all.
            inside = self.cuts[bisect_right(self.cuts, lo) : bisect_right(self.cuts, hi)]
            for a, b in itertools.pairwise([lo, *inside, hi + 1]):
                cell = IntervalSet([(a, b - 1)])
                rows, allowed, slots = self.at(a)
                if slots:
                    cells.append((cell, a, None))
                    continue
                too_broad = addrs - allowed
                if too_broad:
                    cells.append((cell, a, TooBroad(cell, too_broad, rows, allowed)))
        return _Cut(ports - self.documented, tuple(cells))


@dataclass(frozen=True)
class _Cut:
    """A region's ports and addresses against a shape's flows."""

    #: Ports no flow documents.
    excess: IntervalSet
    #: (cell, its first port, what is too broad there) for the cells of the
    #: documented ports that are too broad or whose flows allow a slot (None: it
    #: depends on the VM's addresses).
    cells: tuple[tuple[IntervalSet, int, TooBroad | None], ...]


class FlowShapes:
    """The :class:`_FlowShape` of each template, direction and protocol, shared by
    every VM of a scan whose flows come from that template."""

    def __init__(self) -> None:
        self.shapes: dict[tuple[int, Direction, str], _FlowShape] = {}

    def get(self, template: FlowTemplate, direction: Direction, protocol: str) -> _FlowShape:
        key = (id(template), direction, protocol)
        found = self.shapes.get(key)
        if found is None:
            flows = [
                f
                for f in template.expected.for_direction(direction)
                if f.protocol in (protocol, "all")
            ]
            if protocol not in PORT_PROTOCOLS:
                # A packet without ports matches only what covers every port, as in access.py.
                flows = [f for f in flows if _ports(f.ports) == ALL_PORT_SET]
            found = self.shapes[key] = _FlowShape(template, flows)
        return found


class _FlowSet:
    """A shape with one VM's addresses in its slots: per port, the rows of the
    flows documenting it and the peers they allow together."""

    def __init__(self, shape: _FlowShape, binding: Binding) -> None:
        self.shape = shape
        self.binding = binding
        self.documented = shape.documented
        self._at: dict[int, tuple[frozenset[str], IntervalSet]] = {}

    def at(self, port: int) -> tuple[frozenset[str], IntervalSet]:
        rows, allowed, slots = self.shape.at(port)
        if not slots:
            return rows, allowed
        found = self._at.get(port)
        if found is None:
            for slot in slots:
                allowed = allowed | addr_set(self.binding[slot])
            found = self._at[port] = (rows, allowed)
        return found


class Comparer:
    """Builds the findings for one VM."""

    def __init__(
        self,
        vm: VM,
        expected: Expected,
        profile: Profile,
        ctx: Context,
        layers: Mapping[Direction, VMLayers] | None = None,
        *,
        template: tuple[FlowTemplate, Binding] | None = None,
        shapes: FlowShapes | None = None,
    ) -> None:
        """``template``: the template ``expected`` was bound from and its slots'
        addresses, with ``shapes`` shared by the VMs of a scan (the comparison
        prepares each template's flows once)."""
        self.vm = vm
        self.layers = dict(layers or {})
        self.expected = expected
        self.profile = profile
        self.ctx = ctx
        self.accs: dict[tuple[str, tuple[int, ...]], _Acc] = {}
        self.findings: list[Finding] = []
        #: Per direction, what an ``other`` region does not cover.
        self.named: dict[str, tuple[str, ...]] = {}
        #: Per inbound region (in the order of the access), what was found.
        self.compared: list[RegionComparison] = []
        #: Per requirement (in the order of the expected flows), whether it is met.
        self.met: list[bool] = []
        self.template, self.binding = template or (FlowTemplate(expected), {})
        self.shapes = shapes or FlowShapes()
        #: The expected flows per (direction, protocol), with this VM's addresses.
        self.flow_sets: dict[tuple[Direction, str], _FlowSet] = {}

    # ------------------------------------------------------------- plumbing

    def exempt(self, region: Region) -> IntervalSet:
        """The part of an inbound region SWYX001/SWYX002 leave out: the platform's
        health probe (see :func:`~policycheck.engine.providers.probe_exemption`)."""
        if self.profile.report_azure_load_balancer:
            return _NOTHING
        probe = probe_exemption(self.vm.provider, region.rules)
        return region.addrs & probe if probe else probe

    def _acc(self, kind: str, direction: Direction, rules: tuple[ResolvedRule, ...]) -> _Acc:
        key = (kind, tuple(id(r) for r in rules))
        if key not in self.accs:
            self.accs[key] = _Acc(kind=kind, direction=direction, rules=rules)
        return self.accs[key]

    def _flows(self, direction: Direction, protocol: str) -> _FlowSet:
        key = (direction, protocol)
        found = self.flow_sets.get(key)
        if found is None:
            shape = self.shapes.get(self.template, direction, protocol)
            found = self.flow_sets[key] = _FlowSet(shape, self.binding)
        return found

    # --------------------------------------------------------------- checks

    def inbound(self, access: Access) -> None:
        self.named["inbound"] = access.named
        for region in access.regions:
            exempt = self.exempt(region)
            addrs = region.addrs - exempt if exempt else region.addrs
            if not addrs:
                self.compared.append(RegionComparison(addrs, IntervalSet(), ()))
                continue
            flows = self._flows("inbound", region.protocol)
            excess, broad = self._excess_and_breadth(
                region.protocol, region.ports, addrs, region.rules, flows, "inbound"
            )
            self.compared.append(RegionComparison(addrs, excess, tuple(broad)))

    def _excess_and_breadth(
        self,
        protocol: str,
        ports: IntervalSet,
        addrs: IntervalSet,
        rules: tuple[ResolvedRule, ...],
        flows: _FlowSet,
        direction: Direction,
        *,
        excess_kind: str = "SWYX001",
        breadth_kind: str | None = "SWYX002",
    ) -> tuple[IntervalSet, list[TooBroad]]:
        """The undocumented ports and the too broad cells (also returned: the Rego
        input document carries them per region)."""
        if breadth_kind is None:
            excess = ports - flows.documented
            if excess:
                self._acc(excess_kind, direction, rules).region.add(protocol, excess, addrs)
            return excess, []
        cut = flows.shape.cut(ports, addrs)
        excess = cut.excess
        if excess:
            self._acc(excess_kind, direction, rules).region.add(protocol, excess, addrs)
        broad: list[TooBroad] = []
        for cell, port, found in cut.cells:
            if found is None:  # a cell whose flows allow a slot: this VM's addresses
                rows, allowed = flows.at(port)
                too_broad = addrs - allowed
                if not too_broad:
                    continue
                found = TooBroad(cell, too_broad, rows, allowed)
            acc = self._acc(breadth_kind, direction, rules)
            acc.region.add(protocol, cell, found.addrs)
            acc.rows.update(found.rows)
            acc.documented = acc.documented | found.documented
            broad.append(found)
        return excess, broad

    def outbound(self, access: Access) -> None:
        self.named["outbound"] = access.named
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
                self._acc("SWYX004", "outbound", region.rules).region.add(
                    region.protocol, region.ports, addrs
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
            met = any(self._satisfied(access, req, alt) for alt in req.alternatives)
            self.met.append(met)
            if not met:
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
        self.findings.append(blocked_finding(self.vm, req, self.expected.roles, self.ctx))

    def unresolved(self, layers: Iterable[VMLayers]) -> None:
        seen: set[int] = set()
        for vl in layers:
            for rr in vl.unresolved:
                if id(rr.rule) in seen:
                    continue
                seen.add(id(rr.rule))
                self._emit(
                    "SWYX005",
                    rr.rule.direction,
                    rule_region(
                        rr.protocol, rr.ports, rr.source_ports, rr.unresolved, self.ctx.internal
                    ),
                    [rule_ref(rr)],
                    unresolved=list(rr.unresolved),
                )
            for problem in vl.problems:
                key = hash(problem)
                if key in seen:
                    continue
                seen.add(key)
                self._emit(
                    "SWYX005",
                    "inbound",
                    [],
                    [
                        RuleRef(
                            firewall_id=self.vm.id,
                            firewall_name=self.vm.name,
                            rule_id=self.vm.id,
                            provenance=self.vm.provenance,
                        )
                    ],
                    unresolved=[problem],
                )

    def shadowed(self, accesses: Iterable[Access]) -> None:
        for access in accesses:
            for rr in access.shadowed:
                self._emit(
                    "SWYX007",
                    rr.rule.direction,
                    rule_region(
                        rr.protocol, rr.ports, rr.source_ports, rr.addrs, self.ctx.internal
                    ),
                    [rule_ref(rr)],
                )

    # --------------------------------------------------------------- output

    def _emit(
        self,
        kind: str,
        direction: Direction,
        region: list[RegionPart],
        refs: list[RuleRef],
        *,
        catalog_rows: Sequence[str] = (),
        documented: IntervalSet | None = None,
        unresolved: Sequence[str] = (),
        addrs: IntervalSet | None = None,
    ) -> None:
        self.findings.append(
            make_finding(
                kind,
                self.vm,
                direction,
                region,
                refs,
                roles=self.expected.roles,
                internal=self.ctx.internal,
                level=self.profile.egress.level if kind == "SWYX004" else None,
                catalog_rows=catalog_rows,
                documented=documented,
                unresolved=unresolved,
                addrs=addrs,
            )
        )

    def finish(self) -> list[Finding]:
        for acc in self.accs.values():
            self._emit(
                acc.kind,
                acc.direction,
                acc.region.parts(self.ctx.internal, self.named.get(acc.direction, ())),
                [rule_ref(r) for r in acc.rules],
                catalog_rows=sorted(acc.rows),
                documented=acc.documented if acc.kind == "SWYX002" else None,
                addrs=acc.region.addrs(),
            )
        return merge_duplicates(self.findings, self.ctx.internal)


#: Findings about excess access: the pieces of one exposure merge into one region.
EXCESS_KINDS = frozenset({"SWYX001", "SWYX002", "SWYX004"})


def merge_duplicates(findings: Sequence[Finding], internal: IntervalSet) -> list[Finding]:
    """One finding per change to make, however the platform splits it.

    Pieces are grouped per responsible rules, and rules nobody wrote split one
    exposure into several: Azure's default outbound rules of a NIC NSG and a
    subnet NSG give "every protocol to the VNet" and "... to the internet" as two
    findings although one rule (a deny) fixes both, and an NSG attached to the
    subnet and the NIC shows every rule twice. Findings of the same VM, kind,
    direction and level whose *written* rules are the same are one finding: its
    region is the exact union, and it names every rule involved once. Other kinds
    (SWYX003, SWYX005-007) merge only when they are otherwise identical.
    """
    groups: dict[tuple[object, ...], list[Finding]] = {}
    for finding in findings:
        groups.setdefault(_duplicate_key(finding), []).append(finding)
    return [_merged(group, internal) for group in groups.values()]


def _ref_key(ref: RuleRef) -> tuple[str, str]:
    return (ref.firewall_id, ref.rule_id)


def _duplicate_key(f: Finding) -> tuple[object, ...]:
    written = frozenset(_ref_key(r) for r in f.rules if not r.default)
    key: tuple[object, ...] = (f.provider, f.vm_id, f.rule_id, f.direction, f.level, written)
    if f.rule_id in EXCESS_KINDS:
        return key
    return (
        *key,
        frozenset(_ref_key(r) for r in f.rules),
        tuple(p.key() for p in f.region),
        tuple(f.unresolved),
        f.requirement,
        tuple(tuple((r.lo, r.hi) for r in alt) for alt in f.alternatives),
    )


def _merged(group: list[Finding], internal: IntervalSet) -> Finding:
    first = group[0]
    if len(group) == 1:
        if len({_ref_key(r) for r in first.rules}) == len(first.rules):
            return first
    else:
        group = sorted(group, key=Finding.sort_key)
        first = group[0]
    refs: dict[tuple[str, str], RuleRef] = {}
    # Written rules first (the ones to change), then the platform's, each once.
    for ref in [r for f in group for r in f.rules if not r.default] + [
        r for f in group for r in f.rules if r.default
    ]:
        refs.setdefault(_ref_key(ref), ref)
    update: dict[str, object] = {"rules": list(refs.values())}
    if first.rule_id in EXCESS_KINDS and len(group) > 1:
        builder = RegionBuilder()
        excluding: tuple[str, ...] = ()
        for f in group:
            for p in f.region:
                ports = _ports(p.ports) if p.protocol in PORT_PROTOCOLS else ALL_PORT_SET
                # A tuple: parts of many VMs' findings name the same peers, parsed once.
                builder.add(p.protocol, ports, addr_set(tuple(p.peers)))
                excluding = excluding or tuple(p.excluding)
        region = builder.parts(internal, excluding)
        update |= {
            "region": region,
            "peers_summary": _summary(builder.addrs(), internal),
            "catalog_rows": sorted({r for f in group for r in f.catalog_rows}),
        }
        if first.rule_id == "SWYX002":
            documented = addr_set(p for f in group for p in f.documented_peers)
            update |= {
                "documented_peers": to_cidrs(documented),
                "documented_summary": summarize_peers(documented, internal),
            }
    return Finding.model_validate({**dict(first), **update})


def make_finding(
    kind: str,
    vm: VM,
    direction: Direction,
    region: list[RegionPart],
    refs: list[RuleRef],
    *,
    roles: Sequence[str],
    internal: IntervalSet,
    level: Level | None = None,
    catalog_rows: Sequence[str] = (),
    documented: IntervalSet | None = None,
    requirement: str | None = None,
    alternatives: Sequence[Sequence[PortRange]] = (),
    unresolved: Sequence[str] = (),
    addrs: IntervalSet | None = None,
) -> Finding:
    """A finding of the native rules, whoever decided it (this comparison or the
    Rego policy): the one place their data is put together. ``addrs``: the
    region's addresses when the caller holds them (not parsed back from its parts)."""
    info = RULES[kind]
    return Finding(
        rule_id=info.id,
        level=level or info.level,
        provider=vm.provider,
        vm_id=vm.id,
        vm_name=vm.name,
        direction=direction,
        region=region,
        peers_summary=peers_summary(region, internal)
        if addrs is None
        else _summary(addrs, internal),
        rules=refs,
        catalog_rows=list(catalog_rows),
        roles=list(roles),
        documented_peers=[] if documented is None else to_cidrs(documented),
        documented_summary=None if documented is None else summarize_peers(documented, internal),
        requirement=requirement,
        alternatives=[list(alt) for alt in alternatives],
        unresolved=list(unresolved),
        remediation=info.remediation,
    )


def _summary(addrs: IntervalSet, internal: IntervalSet) -> PeerSummary | None:
    """:func:`peers_summary` of a region whose addresses are known."""
    return summarize_peers(addrs, internal) if addrs else None


def blocked_finding(vm: VM, req: Requirement, roles: Sequence[str], ctx: Context) -> Finding:
    """SWYX003: the requirement's ports from its peers, blamed on where the rule belongs."""
    ports = IntervalSet()
    for alt in req.alternatives:
        ports = ports | _ports(alt)
    return make_finding(
        "SWYX003",
        vm,
        req.direction,
        [region_part(req.protocol, ports, addr_set(req.peers), ctx.internal)],
        [missing_rule_ref(vm, req.direction, ctx)],
        roles=roles,
        internal=ctx.internal,
        catalog_rows=sorted(req.rows),
        requirement=req.description,
        alternatives=req.alternatives,
    )


def missing_rule_ref(vm: VM, direction: Direction, ctx: Context) -> RuleRef:
    """Where a missing rule should go: the VM's first firewall object, else the VM."""
    for att in vm.attachments:
        fw = ctx.firewall(att.firewall_id)
        if fw is not None:
            return RuleRef(
                firewall_id=fw.id,
                firewall_name=fw.name,
                rule_id=f"{fw.id}/({direction} rule missing)",
                rule_name=None,
                provenance=fw.provenance,
            )
    return RuleRef(
        firewall_id=vm.id,
        firewall_name=vm.name,
        rule_id=f"{vm.id}/({direction} rule missing)",
        provenance=vm.provenance,
    )


def _ports(ranges: Iterable[PortRange]) -> IntervalSet:
    return port_set(ranges)


#: Immutable: the exemption of most regions, handed out rather than built.
_NOTHING = IntervalSet()
