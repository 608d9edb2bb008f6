"""Effective access: which (protocol, port, address) regions reach a VM, and why.

Provider modules reduce their semantics to a list of :class:`Layer` objects that
traffic must pass *all* of (Azure: subnet NSG and NIC NSG; AWS: the union of the
interface's groups is one layer; GCP: one ordered layer). A layer is either

- *ordered*: rules in evaluation order, first match decides (Azure, GCP, NACL), or
- *union*: allow-only, any matching rule allows (AWS security groups).

The computation is exact. The protocol axis is split into the protocols rules
name plus ``other`` (everything only an all-protocols rule matches); the port axes
are cut at every rule boundary into elementary intervals, inside which every rule
either matches fully or not at all; per elementary cell the address axis is swept
with interval arithmetic. Protocols without ports (ICMP, GRE, ...) are matched
only by rules that cover all ports, because a port-restricted rule cannot match a
packet that has no port.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from policycheck.engine.intervals import ALL_ADDRS, ALL_PORT_SET, Intervals, IntervalSet
from policycheck.findings import OTHER_PROTOCOLS, PORT_PROTOCOLS
from policycheck.model import FirewallObject, Rule

#: The protocol cell for every protocol no rule names explicitly.
OTHER = OTHER_PROTOCOLS


@dataclass(frozen=True, eq=False)
class ResolvedRule:
    """A rule with its peers resolved to addresses, ready for evaluation.

    Identity-hashed: two identical rules in two NSGs are two rules.
    """

    rule: Rule
    firewall: FirewallObject
    protocol: str
    ports: IntervalSet
    source_ports: IntervalSet
    #: The resolved part of the rule's peers.
    addrs: IntervalSet
    #: Human-readable descriptions of what could not be resolved.
    unresolved: tuple[str, ...] = ()
    #: Platform defaults and implied rules: never reported as shadowed.
    synthetic: bool = False
    #: Evaluation level inside an ordered layer (GCP: hierarchical policy, VPC
    #: rules, network policy, implied); ``goto_next`` jumps to the next level.
    tier: int = 0

    @property
    def allows(self) -> bool:
        return self.rule.action == "allow"

    def matches_protocol(self, protocol: str) -> bool:
        return self.protocol in ("all", protocol) or (protocol == OTHER and self.protocol == "all")


@dataclass
class Layer:
    label: str
    ordered: bool
    rules: list[ResolvedRule]


class Region(NamedTuple):
    """Allowed traffic: protocol, destination ports, source ports, remote addresses.
    A named tuple: each VM's access holds a few dozen, built per VM."""

    protocol: str
    ports: IntervalSet
    source_ports: IntervalSet
    addrs: IntervalSet
    rules: tuple[ResolvedRule, ...]


@dataclass
class Access:
    regions: list[Region] = field(default_factory=list)
    #: The protocols with a cell of their own; ``other`` regions cover every
    #: protocol except these.
    named: tuple[str, ...] = ()
    #: Rules of ordered layers that never decided any traffic.
    shadowed: list[ResolvedRule] = field(default_factory=list)

    def addrs_on_all_ports(self, protocol: str, ports: IntervalSet) -> IntervalSet:
        """Addresses allowed on ``protocol`` for *every* port in ``ports``."""
        regions = [r for r in self.regions if r.protocol == protocol]
        result = ALL_ADDRS
        for lo, hi in _cells(r.ports for r in regions):
            if not ports & IntervalSet([(lo, hi)]):
                continue
            here = IntervalSet()
            for region in regions:
                if region.ports.contains(lo):
                    here = here | region.addrs
            result = result & here
            if not result:
                break
        return result

    def allowed_addrs(self, protocol: str, port: int) -> IntervalSet:
        """Addresses allowed on one protocol/port (any source port)."""
        out = IntervalSet()
        for region in self.regions:
            if region.protocol == protocol and region.ports.contains(port):
                out = out | region.addrs
        return out


def _cells(bounds: Iterable[IntervalSet]) -> list[tuple[int, int]]:
    """Elementary intervals of 0..65535 cut at every bound of ``bounds``."""
    cuts = {0, 65536}
    for ranges in bounds:
        for lo, hi in ranges:
            cuts.add(lo)
            cuts.add(hi + 1)
    edges = sorted(cuts)
    return [(edges[i], edges[i + 1] - 1) for i in range(len(edges) - 1)]


def _protocols(layers: Sequence[Layer]) -> list[str]:
    named = {r.protocol for layer in layers for r in layer.rules if r.protocol != "all"}
    return [*sorted(named | PORT_PROTOCOLS), OTHER]


Piece = tuple[IntervalSet, tuple[ResolvedRule, ...]]
#: The source-port axis as one cell (no rule restricts source ports).
_WHOLE = [(0, 65535)]


#: A destination cell of a plan: the cell, the combination (a number) each of its
#: local source-port cells takes, and per source-port cell which local one it is in.
PlanCell = tuple[tuple[int, int], list[int], list[int]]
#: What the rules' protocols and ports alone make of a sweep (see :class:`_Plan`).
PlanKey = tuple[tuple[tuple[str, Intervals, Intervals], ...], ...]


@dataclass
class _Plan:
    """What a sweep does that depends only on the rules' protocols, ports and source
    ports, not on their addresses or actions: the protocol cells, the port cells,
    and per cell which rules of each layer match it. Tenants behind copies of one
    template differ in addresses only: their sweeps share one plan, and each only
    decides and combines."""

    named: tuple[str, ...]
    #: Per protocol swept: the protocol, its source-port cells, its destination cells.
    protocols: list[tuple[str, list[IntervalSet], list[PlanCell]]]
    #: Per verdict number: the layer and the positions (in it) of the rules matching.
    verdicts: list[tuple[int, tuple[int, ...]]]
    #: Per combination number: the verdict number of each layer.
    combos: list[tuple[int, ...]]


def _plan_key(layers: Sequence[Layer]) -> PlanKey:
    return tuple(
        tuple((r.protocol, r.ports.intervals, r.source_ports.intervals) for r in layer.rules)
        for layer in layers
    )


def _make_plan(layers: Sequence[Layer]) -> _Plan:
    # Rules restricted to some source ports: only they tell source-port cells apart.
    restricted = {id(r) for layer in layers for r in layer.rules if r.source_ports != ALL_PORT_SET}
    positions = [{id(r): i for i, r in enumerate(layer.rules)} for layer in layers]
    protocols = _protocols(layers)
    plan = _Plan(
        named=tuple(p for p in protocols if p != OTHER), protocols=[], verdicts=[], combos=[]
    )
    verdict_of: dict[tuple[int, tuple[int, ...]], int] = {}
    combo_of: dict[tuple[int, ...], int] = {}
    for protocol in protocols:
        with_ports = protocol in PORT_PROTOCOLS
        per_layer = [layer_rules(layer, protocol) for layer in layers]
        if any(not rules for rules in per_layer):
            # A layer with no matching rule allows nothing on this protocol.
            continue
        all_rules = [r for rules in per_layer for r in rules]
        dcells = _cells(r.ports for r in all_rules) if with_ports else [(0, 65535)]
        # Without source-port restrictions every cell's source-port axis is one cell.
        scells = _cells(r.source_ports for r in all_rules) if with_ports and restricted else _WHOLE
        # Per layer and destination cell, the rules matching it (in order): each rule
        # is placed in the cells its ports span, not tested against every cell.
        starts = [lo for lo, _ in dcells]
        in_cell: list[list[list[ResolvedRule]]] = [[[] for _ in dcells] for _ in per_layer]
        for cells_of, rules in zip(in_cell, per_layer, strict=True):
            for r in rules:
                for lo, hi in r.ports:
                    for at in range(bisect_left(starts, lo), bisect_right(starts, hi)):
                        cells_of[at].append(r)
        cells: list[PlanCell] = []
        for at_cell, cell in enumerate(dcells):
            by_port = [cells_of[at_cell] for cells_of in in_cell]
            # Only the rules matching this destination cell can tell source ports
            # apart: evaluate once per cell of *their* source-port bounds, and give
            # the result to every source-port cell inside it (usually all of them).
            local = (
                _cells(r.source_ports for rules in by_port for r in rules if id(r) in restricted)
                if restricted
                else _WHOLE
            )
            combos: list[int] = []
            for llo, _ in local:
                # A layer's verdict depends only on its matching rules, and cells
                # repeat them: each distinct set is decided (and combined) once.
                keys: list[int] = []
                for index, rules in enumerate(by_port):
                    matching = (
                        [r for r in rules if r.source_ports.contains(llo)]
                        if len(local) > 1
                        else rules
                    )
                    key = (index, tuple(positions[index][id(r)] for r in matching))
                    verdict = verdict_of.get(key)
                    if verdict is None:
                        verdict = verdict_of[key] = len(plan.verdicts)
                        plan.verdicts.append(key)
                    keys.append(verdict)
                combo = combo_of.get(tuple(keys))
                if combo is None:
                    combo = combo_of[tuple(keys)] = len(plan.combos)
                    plan.combos.append(tuple(keys))
                combos.append(combo)
            take: list[int] = []
            at = 0
            for slo, _ in scells:
                while local[at][1] < slo:
                    at += 1
                take.append(at)
            cells.append((cell, combos, take))
        plan.protocols.append((protocol, [IntervalSet([cell]) for cell in scells], cells))
    return plan


def effective_access(layers: Sequence[Layer], plans: dict[PlanKey, _Plan] | None = None) -> Access:
    """Exact allowed regions through every layer, with the rules that allow them.
    ``plans`` keeps the plans of a scan's sweeps (see :class:`_Plan`)."""
    if not layers:
        return Access()
    if plans is None:
        plan = _make_plan(layers)
    else:
        key = _plan_key(layers)
        found_plan = plans.get(key)
        if found_plan is None:
            found_plan = plans[key] = _make_plan(layers)
        plan = found_plan
    decided: set[ResolvedRule] = set()
    #: (protocol, piece, source-port cell) -> destination cells: a region each.
    merged: dict[tuple[str, int, int], list[tuple[int, int]]] = defaultdict(list)
    #: Every distinct allowed piece (addresses, allowing rules), numbered once: the
    #: sweep files cells under small integers instead of hashing address sets.
    numbered: dict[tuple[tuple[int, ...], Intervals], int] = {}
    pieces_of: list[Piece] = []
    verdicts: list[list[Piece] | None] = [None] * len(plan.verdicts)
    combined: list[list[int] | None] = [None] * len(plan.combos)
    sports_of: dict[str, list[IntervalSet]] = {}
    for protocol, sports, cells in plan.protocols:
        sports_of[protocol] = sports
        for cell, combos, take in cells:
            evaluated: list[list[int]] = []
            for combo in combos:
                found = combined[combo]
                if found is None:
                    # Every layer is decided (not lazily) so shadowing is tracked in all.
                    pieces: list[list[Piece]] = []
                    for number in plan.combos[combo]:
                        verdict = verdicts[number]
                        if verdict is None:
                            index, at = plan.verdicts[number]
                            layer = layers[index]
                            verdict = verdicts[number] = _decide(
                                layer, [layer.rules[i] for i in at], decided
                            )
                        pieces.append(verdict)
                    found = combined[combo] = [
                        _number(piece, numbered, pieces_of) for piece in _combine(pieces)
                    ]
                evaluated.append(found)
            for sport, local in enumerate(take):
                for piece in evaluated[local]:
                    merged[(protocol, piece, sport)].append(cell)
    access = Access(named=plan.named)
    for (protocol, piece, sport), dranges in merged.items():
        addrs, allowing = pieces_of[piece]
        access.regions.append(
            Region(
                protocol=protocol,
                ports=IntervalSet.from_sorted(dranges)
                if len(dranges) == 1
                else IntervalSet(dranges),
                source_ports=sports_of[protocol][sport],
                addrs=addrs,
                rules=allowing,
            )
        )
    for layer in layers:
        if layer.ordered:
            access.shadowed.extend(
                r
                for r in layer.rules
                if r not in decided and r.addrs and not r.synthetic and not r.rule.disabled
            )
    return access


#: What the evaluation reads of a rule: two rules alike in all of it decide alike.
RuleContent = tuple[str, bool, str, Intervals, Intervals, Intervals, bool, int]
AccessKey = tuple[tuple[bool, tuple[RuleContent, ...]], ...]


def _content(r: ResolvedRule) -> RuleContent:
    # The sets' interval tuples: a key of plain tuples is hashed and compared in C
    # (every VM's key, and on a hit every rule of it).
    return (
        r.rule.action,
        r.rule.disabled,
        r.protocol,
        r.ports.intervals,
        r.source_ports.intervals,
        r.addrs.intervals,
        r.synthetic,
        r.tier,
    )


@dataclass
class AccessMemo:
    """What a scan's sweeps share: the access per distinct content of the layers,
    and the plans of the sweeps (see :class:`_Plan`)."""

    accesses: dict[AccessKey, tuple[Access, list[ResolvedRule]]] = field(default_factory=dict)
    plans: dict[PlanKey, _Plan] = field(default_factory=dict)


def shared_access(layers: Sequence[Layer], memo: AccessMemo) -> Access:
    """:func:`effective_access`, computed once per distinct content of the layers.

    VMs behind the same firewalls (or behind copies of them, or per-VM firewalls with
    the same rules) have layers alike in everything the evaluation reads: the sweep
    runs for the first of them, and each other gets the same regions with its own
    rules in them (the rule at the same place in its own layers), so what a finding
    names (the rule, its firewall, what was unresolved) is always the VM's own.
    """
    key = tuple((layer.ordered, tuple(map(_content, layer.rules))) for layer in layers)
    own = [r for layer in layers for r in layer.rules]
    found = memo.accesses.get(key)
    if found is None:
        access = effective_access(layers, memo.plans)
        memo.accesses[key] = (access, own)
        return access
    access, first = found
    mine = {id(theirs): r for theirs, r in zip(first, own, strict=True)}
    return Access(
        regions=[
            Region(
                region.protocol,
                region.ports,
                region.source_ports,
                region.addrs,
                tuple([mine[id(r)] for r in region.rules]),
            )
            for region in access.regions
        ],
        named=access.named,
        shadowed=[mine[id(r)] for r in access.shadowed],
    )


def _number(
    piece: Piece, numbered: dict[tuple[tuple[int, ...], Intervals], int], pieces_of: list[Piece]
) -> int:
    """The piece's number, the same for the same addresses allowed by the same rules."""
    addrs, allowing = piece
    key = (tuple(map(id, allowing)), addrs.intervals)
    found = numbered.get(key)
    if found is None:
        found = numbered[key] = len(pieces_of)
        pieces_of.append(piece)
    return found


def _decide(layer: Layer, matching: list[ResolvedRule], decided: set[ResolvedRule]) -> list[Piece]:
    """What one layer allows in one cell, from the rules (in order) matching it."""
    decisions = decide(layer, matching)
    if layer.ordered:
        decided.update(d.rule for d in decisions)
    return [(d.addrs, (d.rule,)) for d in decisions if d.rule.allows]


def layer_rules(layer: Layer, protocol: str) -> list[ResolvedRule]:
    """The layer's rules that can match a packet of ``protocol`` (a name, number or
    :data:`OTHER`), in evaluation order. A packet without ports (ICMP, GRE, ...)
    is matched only by rules that cover every port."""
    # ``matches_protocol`` inlined: every sweep asks this of every rule per protocol.
    if protocol in PORT_PROTOCOLS:
        return [r for r in layer.rules if r.protocol == protocol or r.protocol == "all"]
    return [
        r
        for r in layer.rules
        if (r.protocol == protocol or r.protocol == "all")
        and r.ports == ALL_PORT_SET
        and r.source_ports == ALL_PORT_SET
    ]


def source_port_cells(
    per_layer: Iterable[Iterable[ResolvedRule]], protocol: str
) -> list[tuple[int, int]]:
    """Source-port intervals inside which every rule matches fully or not at all."""
    if protocol not in PORT_PROTOCOLS:
        return [(0, 65535)]
    return _cells(r.source_ports for rules in per_layer for r in rules)


class Decision(NamedTuple):
    """A rule deciding (or, for ``goto_next``, handing on) ``addrs`` in its layer.
    A named tuple: every sweep makes tens of thousands."""

    rule: ResolvedRule
    addrs: IntervalSet


def layer_decisions(
    layer: Layer, rules: Sequence[ResolvedRule], dport: int, sport: int
) -> list[Decision]:
    """What each rule of ``rules`` (from :func:`layer_rules`) decides for packets to
    ``dport`` from ``sport``, in evaluation order (see :func:`decide`)."""
    return decide(
        layer, [r for r in rules if r.ports.contains(dport) and r.source_ports.contains(sport)]
    )


def decide(layer: Layer, matching: Sequence[ResolvedRule]) -> list[Decision]:
    """What each rule of ``matching`` (in order; all match the packet's protocol
    and ports) decides in its layer: the one evaluation effective access and
    ``explain`` share.

    A union layer: every matching allow rule allows its addresses. An ordered
    layer: first match wins, so a rule decides only the addresses no earlier rule
    of its tier took; ``goto_next`` hands its addresses to the next tier. Addresses
    no decision allows are denied by the layer.
    """
    if not layer.ordered:
        return [Decision(r, r.addrs) for r in matching if r.allows and r.addrs]
    out: list[Decision] = []
    remaining = ALL_ADDRS
    parked = _NOTHING  # addresses sent to the next level by goto_next
    tier = None
    for r in matching:
        if r.tier != tier:
            remaining, parked, tier = remaining | parked, _NOTHING, r.tier
        # Nothing taken yet (the usual first rule): the rule's own addresses.
        hit = r.addrs if remaining is ALL_ADDRS else r.addrs & remaining
        if not hit:
            continue
        out.append(Decision(r, hit))
        if r.rule.action == "goto_next":
            parked = parked | hit
        remaining = remaining - r.addrs
        if not remaining and not parked:
            break
    return out


_NOTHING = IntervalSet()


def _blame_order(rules: tuple[ResolvedRule, ...]) -> tuple[ResolvedRule, ...]:
    """The specific rule first, catch-all rules (all protocols, ports, addresses) last:
    with a subnet NSG that allows everything, the NIC rule is the one to fix."""
    return tuple(
        sorted(
            rules,
            key=lambda r: r.protocol == "all" and r.ports == ALL_PORT_SET and r.addrs == ALL_ADDRS,
        )
    )


def _combine(layer_pieces: Iterable[list[Piece]]) -> list[Piece]:
    """Traffic must pass every layer: intersect the pieces layer by layer."""
    result: list[Piece] | None = None
    for pieces in layer_pieces:
        if result is None:
            result = pieces
            continue
        result = _intersect(result, pieces)
        if not result:
            return []
    return result or []


def _intersect(left: list[Piece], right: list[Piece]) -> list[Piece]:
    """Every nonempty ``a & b`` of a piece of each side, in (left, right) order.

    The pieces of an ordered layer are disjoint: then one merge pass over both
    sides' intervals finds every overlap, instead of intersecting every pair."""
    a, b = _flatten(left), _flatten(right)
    if a is None or b is None:
        return [(x & y, _blame_order(rx + ry)) for x, rx in left for y, ry in right if x & y]
    hits: dict[tuple[int, int], list[tuple[int, int]]] = {}
    i = j = 0
    while i < len(a) and j < len(b):
        alo, ahi, ai = a[i]
        blo, bhi, bj = b[j]
        lo, hi = max(alo, blo), min(ahi, bhi)
        if lo <= hi:
            hits.setdefault((ai, bj), []).append((lo, hi))
        if ahi < bhi:
            i += 1
        else:
            j += 1
    return [
        (IntervalSet.from_sorted(hits[k]), _blame_order(left[k[0]][1] + right[k[1]][1]))
        for k in sorted(hits)
    ]


def _flatten(pieces: list[Piece]) -> list[tuple[int, int, int]] | None:
    """The pieces' intervals sorted, tagged with their piece; None when they overlap."""
    flat = sorted((lo, hi, index) for index, (addrs, _) in enumerate(pieces) for lo, hi in addrs)
    for k in range(1, len(flat)):
        if flat[k][0] <= flat[k - 1][1]:
            return None
    return flat


#: Combines the layers' pieces (every layer must allow): public for ``explain``.
combine = _combine
