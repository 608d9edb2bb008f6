"""One packet through one VM's firewalls, step by step, with the engine's own code.

The provider module (:mod:`policycheck.engine.providers`) gives the VM's layers in
its cloud's evaluation order, exactly as for findings; every layer is then
evaluated by :func:`~policycheck.engine.access.layer_decisions` and the layers
combined by :func:`~policycheck.engine.access.combine`, the functions
:func:`~policycheck.engine.access.effective_access` builds regions from. So the
verdict and the decisive rules are the ones a finding about the packet would
name; this module only picks the packet out and records each rule's outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policycheck.engine.access import (
    Decision,
    Layer,
    ResolvedRule,
    combine,
    layer_decisions,
    layer_rules,
    source_port_cells,
)
from policycheck.engine.compare import rule_ref
from policycheck.engine.context import Context
from policycheck.engine.intervals import IntervalSet, address_value
from policycheck.engine.providers import PROVIDERS
from policycheck.explanation import (
    Explanation,
    Mismatch,
    Outcome,
    Packet,
    RuleCheck,
    Step,
    Verdict,
)
from policycheck.findings import PORT_PROTOCOLS, RuleRef
from policycheck.model import VM, PortRange


@dataclass
class _Cell:
    """The packet at one source-port cell: each layer's decisions and the verdict."""

    sport: int
    decisions: list[list[Decision]]
    allowing: tuple[ResolvedRule, ...]


def explain_packet(vm: VM, packet: Packet, ctx: Context) -> Explanation:
    """Is ``packet`` allowed to (inbound) or from (outbound) ``vm``, and why."""
    vm_layers = PROVIDERS[vm.provider](vm, packet.direction, ctx)
    layers = vm_layers.layers
    protocol = packet.protocol
    with_ports = protocol in PORT_PROTOCOLS
    if with_ports and packet.port is None:
        raise ValueError(f"a {protocol} packet needs a destination port")
    # A packet without ports meets only rules covering every port (layer_rules), so
    # any port value selects them, as in effective_access.
    dport = packet.port if with_ports and packet.port is not None else 0
    per_layer = [layer_rules(layer, protocol) for layer in layers]
    if packet.source_port is not None and with_ports:
        sports = [packet.source_port]
    else:
        sports = [lo for lo, _ in source_port_cells(per_layer, protocol)]
    address = address_value(packet.remote)
    cells = [_cell(layers, per_layer, dport, sport, address) for sport in sports]
    allowed_cells = [i for i, c in enumerate(cells) if c.allowing]
    shown = cells[allowed_cells[0]] if allowed_cells else cells[0]
    steps = _steps(layers, per_layer, shown, dport, address, protocol)
    source_ports: list[PortRange] = []
    if packet.source_port is None and allowed_cells and len(allowed_cells) < len(cells):
        cuts = source_port_cells(per_layer, protocol)
        allowed_ports = IntervalSet(cuts[i] for i in allowed_cells)
        source_ports = [PortRange(lo=lo, hi=hi) for lo, hi in allowed_ports]
    return Explanation(
        vm_id=vm.id,
        vm_name=vm.name,
        provider=vm.provider,
        packet=packet,
        allowed=bool(shown.allowing),
        decisive_rules=_decisive(shown, steps),
        steps=steps,
        source_ports=source_ports,
        uncertain=_uncertain(steps),
        problems=list(vm_layers.problems),
    )


def _cell(
    layers: Sequence[Layer],
    per_layer: Sequence[list[ResolvedRule]],
    dport: int,
    sport: int,
    address: int,
) -> _Cell:
    decisions = [
        layer_decisions(layer, rules, dport, sport)
        for layer, rules in zip(layers, per_layer, strict=True)
    ]
    pieces = combine([[(d.addrs, (d.rule,)) for d in ds if d.rule.allows] for ds in decisions])
    allowing: dict[int, ResolvedRule] = {}
    for addrs, rules in pieces:
        if addrs.contains(address):
            allowing.update((id(r), r) for r in rules)
    return _Cell(sport=sport, decisions=decisions, allowing=tuple(allowing.values()))


def _steps(
    layers: Sequence[Layer],
    per_layer: Sequence[list[ResolvedRule]],
    cell: _Cell,
    dport: int,
    address: int,
    protocol: str,
) -> list[Step]:
    with_ports = protocol in PORT_PROTOCOLS
    steps: list[Step] = []
    dropped = False
    for layer, candidates, decisions in zip(layers, per_layer, cell.decisions, strict=True):
        by_rule = {id(d.rule): d for d in decisions}
        in_play = {id(r) for r in candidates}
        checks = []
        decisive: list[ResolvedRule] = []
        passes, decided = False, dropped
        for r in layer.rules:
            mismatch: Mismatch | None = None
            if id(r) not in in_play:
                # A rule for the packet's protocol but limited to ports cannot match
                # a packet that has none (ICMP, GRE, ...).
                mismatch = "ports" if r.matches_protocol(protocol) else "protocol"
            elif with_ports and not r.ports.contains(dport):
                mismatch = "port"
            elif not r.source_ports.contains(cell.sport):
                mismatch = "source_port"
            elif not r.addrs.contains(address):
                mismatch = "address"
            decision = by_rule.get(id(r))
            outcome: Outcome
            if decided:
                outcome = "not_reached"
            elif mismatch is not None:
                outcome = "no_match"
            elif decision is not None and decision.addrs.contains(address):
                if not layer.ordered:
                    outcome, passes = "allows", True
                    decisive.append(r)
                elif r.rule.action == "goto_next":
                    outcome = "goto_next"
                else:
                    outcome, decided, passes = "decides", True, r.allows
                    decisive = [r]
            else:
                # Ordered: an earlier goto_next of its tier took the packet on. An
                # allow-only step ignores anything but allow rules.
                outcome = "not_reached" if layer.ordered else "no_match"
            checks.append(_check(r, outcome, mismatch))
        verdict: Verdict = "not_reached" if dropped else "allow" if passes else "deny"
        steps.append(
            Step(
                label=layer.label,
                ordered=layer.ordered,
                verdict=verdict,
                decisive_rules=[rule_ref(r) for r in decisive],
                rules=checks,
            )
        )
        dropped = dropped or not passes
    return steps


def _check(rule: ResolvedRule, outcome: Outcome, mismatch: Mismatch | None = None) -> RuleCheck:
    return RuleCheck(
        rule=rule_ref(rule),
        outcome=outcome,
        mismatch=mismatch,
        protocol=rule.protocol,
        ports=list(rule.rule.ports),
        peers=[str(p) for p in rule.rule.peers],
        unresolved=list(rule.unresolved),
        firewall_kind=rule.firewall.kind,
        synthetic=rule.synthetic,
        tier=rule.tier,
    )


def _decisive(cell: _Cell, steps: Sequence[Step]) -> list[RuleRef]:
    if cell.allowing:
        return [rule_ref(r) for r in cell.allowing]
    for step in steps:
        if step.verdict == "deny":
            return list(step.decisive_rules)
    return []


def _uncertain(steps: Sequence[Step]) -> list[RuleCheck]:
    """Rules the packet was compared with whose peers are partly unknown: had the
    unknown part held the packet's address, the verdict could differ."""
    return [
        check
        for step in steps
        for check in step.rules
        if check.unresolved
        and check.outcome != "not_reached"
        and check.mismatch in (None, "address")
    ]
