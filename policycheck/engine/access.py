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

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from policycheck.engine.intervals import ALL_ADDRS, ALL_PORT_SET, IntervalSet
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


@dataclass(frozen=True)
class Region:
    """Allowed traffic: protocol, destination ports, source ports, remote addresses."""

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


def effective_access(layers: Sequence[Layer]) -> Access:
    """Exact allowed regions through every layer, with the rules that allow them."""
    if not layers:
        return Access()
    decided: set[ResolvedRule] = set()
    merged: dict[tuple[str, tuple[int, ...], IntervalSet, IntervalSet], list[tuple[int, int]]]
    merged = defaultdict(list)
    keep: dict[tuple[int, ...], tuple[ResolvedRule, ...]] = {}
    protocols = _protocols(layers)
    for protocol in protocols:
        with_ports = protocol in PORT_PROTOCOLS
        per_layer = [layer_rules(layer, protocol) for layer in layers]
        if any(not rules for rules, layer in zip(per_layer, layers, strict=True)):
            # A layer with no matching rule allows nothing on this protocol.
            continue
        all_rules = [r for rules in per_layer for r in rules]
        dcells = _cells(r.ports for r in all_rules) if with_ports else [(0, 65535)]
        scells = source_port_cells(per_layer, protocol)
        for dlo, dhi in dcells:
            for slo, shi in scells:
                # Evaluate every layer (not lazily) so shadowing is tracked in all.
                pieces = combine(
                    [
                        _layer_pieces(layer, rules, dlo, slo, decided)
                        for layer, rules in zip(layers, per_layer, strict=True)
                    ]
                )
                for addrs, rules in pieces:
                    ids = tuple(id(r) for r in rules)
                    keep[ids] = rules
                    merged[(protocol, ids, addrs, IntervalSet([(slo, shi)]))].append((dlo, dhi))
    access = Access(named=tuple(p for p in protocols if p != OTHER))
    for (protocol, ids, addrs, sports), dranges in merged.items():
        access.regions.append(
            Region(
                protocol=protocol,
                ports=IntervalSet(dranges),
                source_ports=sports,
                addrs=addrs,
                rules=keep[ids],
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


def layer_rules(layer: Layer, protocol: str) -> list[ResolvedRule]:
    """The layer's rules that can match a packet of ``protocol`` (a name, number or
    :data:`OTHER`), in evaluation order. A packet without ports (ICMP, GRE, ...)
    is matched only by rules that cover every port."""
    with_ports = protocol in PORT_PROTOCOLS
    return [
        r
        for r in layer.rules
        if r.matches_protocol(protocol)
        and (with_ports or (r.ports == ALL_PORT_SET and r.source_ports == ALL_PORT_SET))
    ]


def source_port_cells(
    per_layer: Iterable[Iterable[ResolvedRule]], protocol: str
) -> list[tuple[int, int]]:
    """Source-port intervals inside which every rule matches fully or not at all."""
    if protocol not in PORT_PROTOCOLS:
        return [(0, 65535)]
    return _cells(r.source_ports for rules in per_layer for r in rules)


@dataclass(frozen=True)
class Decision:
    """A rule deciding (or, for ``goto_next``, handing on) ``addrs`` in its layer."""

    rule: ResolvedRule
    addrs: IntervalSet


def layer_decisions(
    layer: Layer, rules: Sequence[ResolvedRule], dport: int, sport: int
) -> list[Decision]:
    """What each rule of ``rules`` (from :func:`layer_rules`) decides for packets to
    ``dport`` from ``sport``, in evaluation order.

    A union layer: every matching allow rule allows its addresses. An ordered
    layer: first match wins, so a rule decides only the addresses no earlier rule
    of its tier took; ``goto_next`` hands its addresses to the next tier. Addresses
    no decision allows are denied by the layer.
    """
    matching = [r for r in rules if r.ports.contains(dport) and r.source_ports.contains(sport)]
    if not layer.ordered:
        return [Decision(r, r.addrs) for r in matching if r.allows and r.addrs]
    out: list[Decision] = []
    remaining = ALL_ADDRS
    parked = IntervalSet()  # addresses sent to the next level by goto_next
    tier = None
    for r in matching:
        if r.tier != tier:
            remaining, parked, tier = remaining | parked, IntervalSet(), r.tier
        hit = r.addrs & remaining
        if not hit:
            continue
        out.append(Decision(r, hit))
        if r.rule.action == "goto_next":
            parked = parked | hit
        remaining = remaining - r.addrs
        if not remaining and not parked:
            break
    return out


def _layer_pieces(
    layer: Layer, rules: list[ResolvedRule], dport: int, sport: int, decided: set[ResolvedRule]
) -> list[Piece]:
    decisions = layer_decisions(layer, rules, dport, sport)
    if layer.ordered:
        decided.update(d.rule for d in decisions)
    return [(d.addrs, (d.rule,)) for d in decisions if d.rule.allows]


def _blame_order(rules: tuple[ResolvedRule, ...]) -> tuple[ResolvedRule, ...]:
    """The specific rule first, catch-all rules (all protocols, ports, addresses) last:
    with a subnet NSG that allows everything, the NIC rule is the one to fix."""
    return tuple(
        sorted(
            rules,
            key=lambda r: r.protocol == "all" and r.ports == ALL_PORT_SET and r.addrs == ALL_ADDRS,
        )
    )


def combine(layer_pieces: Iterable[list[Piece]]) -> list[Piece]:
    """Traffic must pass every layer: intersect the pieces layer by layer. Each
    result names the rules of every layer that allow it, the specific rule first."""
    result: list[Piece] | None = None
    for pieces in layer_pieces:
        if result is None:
            result = pieces
            continue
        result = [(a & b, _blame_order(ra + rb)) for a, ra in result for b, rb in pieces if a & b]
        if not result:
            return []
    return result or []
