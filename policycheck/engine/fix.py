"""Findings -> a fix: per VM, the minimal rule set that permits exactly its expected
flows, where it goes in the VM's cloud, and the concrete change per finding.

The rule set comes from the same :class:`~policycheck.expected.Expected` flows the
comparison uses (profile, parameters, SIP trunks, extra flows, co-location and
server-side counterparts included): per direction and protocol, the flows' (ports,
peers) pieces are merged exactly (:func:`~policycheck.engine.regions.canonical`),
so ports reached from the same peers share one rule and no rule allows a packet
no flow documents. How that set is cut into the cloud's rule objects, and which
limits apply, is each cloud's knowledge (:mod:`policycheck.engine.layouts`).

A change is computed against the rule the finding names, as the engine resolved
it for the VM: what it allows now, intersected with the rule set, is what it
should allow (nothing: remove it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from policycheck import __version__
from policycheck.catalog import Catalog
from policycheck.engine.access import ResolvedRule
from policycheck.engine.compare import rule_ref
from policycheck.engine.context import Context
from policycheck.engine.evaluate import VMExpectations, evaluate, vm_access
from policycheck.engine.intervals import ALL_PORT_SET, IntervalSet, addr_set, to_cidrs
from policycheck.engine.layouts import RuleSet, layout
from policycheck.engine.regions import (
    RegionBuilder,
    canonical,
    port_ranges,
    port_set,
    region_part,
    rule_region,
)
from policycheck.engine.roles import assign_roles
from policycheck.expected import Expected
from policycheck.findings import (
    OTHER_PROTOCOLS,
    PORT_PROTOCOLS,
    Finding,
    RegionPart,
    RuleRef,
    protocol_rank,
)
from policycheck.fixes import (
    ChangeAction,
    FixResult,
    FixRule,
    RuleChange,
    SetupStep,
    SharedRule,
    SkippedVM,
    VMFix,
)
from policycheck.model import VM, Direction, Inventory, PortRange
from policycheck.profile import Profile

DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound")
#: Findings a rule change answers: access beyond the flows (001, 002, 004), a
#: required flow blocked (003), a rule that never takes effect (007).
CHANGED_BY_FIX = ("SWYX001", "SWYX002", "SWYX003", "SWYX004", "SWYX007")
#: Firewall objects whose rules a VM's rule set replaces.
REPLACED_KINDS = ("security_group", "nsg", "vpc_firewall")


# ------------------------------------------------------------- the rule set


def minimal_rules(expected: Expected) -> tuple[FixRule, ...]:
    """The fewest rules (one per direction, protocol and distinct peer set) that
    permit exactly ``expected``'s flows. Loopback flows need no rule."""
    out: list[FixRule] = []
    for direction in DIRECTIONS:
        pieces: dict[str, list[tuple[IntervalSet, IntervalSet, tuple[str, ...]]]] = {}
        for flow in expected.for_direction(direction):
            if not flow.peers:
                continue
            addrs = addr_set(flow.peers)
            for protocol, ports in _protocol_ports(flow.protocol, flow.ports):
                pieces.setdefault(protocol, []).append((ports, addrs, flow.rows))
        for protocol in sorted(pieces, key=protocol_rank):
            found = pieces[protocol]
            for ports, addrs in canonical([(p, a) for p, a, _ in found]):
                ranges = port_ranges(ports)
                out.append(
                    FixRule(
                        direction=direction,
                        protocol=protocol,
                        ports=tuple(ranges),
                        peers=tuple(to_cidrs(addrs)),
                        catalog_rows=_rows(found, ports, addrs),
                        rows_by_range=tuple(_rows(found, port_set([r]), addrs) for r in ranges),
                    )
                )
    return tuple(sorted(out, key=_rule_key))


def _rows(
    found: Sequence[tuple[IntervalSet, IntervalSet, tuple[str, ...]]],
    ports: IntervalSet,
    addrs: IntervalSet,
) -> tuple[str, ...]:
    """The rows of the flows that reach into ``ports`` x ``addrs``."""
    hit = [r for p, a, rows in found if (p & ports) and (a & addrs) for r in rows]
    return tuple(dict.fromkeys(hit))


def _protocol_ports(protocol: str, ports: Sequence[PortRange]) -> list[tuple[str, IntervalSet]]:
    """A flow's protocol cells: ``all`` on some ports only is tcp and udp on them (a
    port-restricted rule matches no protocol without ports); a protocol without
    ports is documented only by a flow on all ports, as the comparison reads it
    (``icmp`` on port 8443 documents no ICMP at all)."""
    wanted = port_set(ports)
    if protocol == "all":
        if wanted == ALL_PORT_SET:
            return [("all", ALL_PORT_SET)]
        return [("tcp", wanted), ("udp", wanted)]
    if protocol in PORT_PROTOCOLS:
        return [(protocol, wanted)]
    return [(protocol, ALL_PORT_SET)] if wanted == ALL_PORT_SET else []


def _rule_key(rule: FixRule) -> tuple[object, ...]:
    return (
        DIRECTIONS.index(rule.direction),
        protocol_rank(rule.protocol),
        tuple((p.lo, p.hi) for p in rule.ports),
        rule.peers,
    )


# --------------------------------------------------------------- changes


def allowed_part(
    part: RegionPart, rules: Iterable[FixRule], internal: IntervalSet
) -> list[RegionPart]:
    """The share of ``part`` that ``rules`` permit, exactly, as parts."""
    have_ports = port_set(part.ports) if part.protocol in PORT_PROTOCOLS else ALL_PORT_SET
    have_addrs = addr_set(part.peers)
    builder = RegionBuilder()
    for rule in rules:
        if part.protocol == OTHER_PROTOCOLS:
            if rule.protocol == "all":
                protocol = OTHER_PROTOCOLS
            elif rule.protocol not in PORT_PROTOCOLS and rule.protocol not in part.excluding:
                protocol = rule.protocol  # every other protocol includes this one
            else:
                continue
        elif rule.protocol in (part.protocol, "all"):
            protocol = part.protocol
        else:
            continue
        builder.add(protocol, have_ports & port_set(rule.ports), have_addrs & addr_set(rule.peers))
    return builder.parts(internal, part.excluding)


def change_for(
    current: Sequence[RegionPart], rules: Sequence[FixRule], internal: IntervalSet
) -> tuple[ChangeAction, list[RegionPart]] | None:
    """What a rule allowing ``current`` must become so it allows only ``rules``'
    share of it; None when it already does."""
    keep = sorted(
        (p for part in current for p in allowed_part(part, rules, internal)),
        key=RegionPart.key,
    )
    if not keep:
        return "remove", []
    if [p.canonical_text() for p in keep] == [p.canonical_text() for p in current]:
        return None
    if len(current) == 1 and len(keep) == 1 and keep[0].protocol == current[0].protocol:
        now, then = current[0], keep[0]
        if then.ports == now.ports:
            return "narrow_source", keep
        if then.peers == now.peers:
            return ("narrow_ports" if len(then.ports) == 1 else "split_ports"), keep
    return "replace", keep


class _Changes:
    """The changes for one VM's findings, against the rules its layers resolved."""

    def __init__(
        self,
        resolved: dict[tuple[str, str], ResolvedRule],
        rules: Sequence[FixRule],
        internal: IntervalSet,
    ) -> None:
        self.resolved = resolved
        self.rules = rules
        self.internal = internal

    def for_finding(self, finding: Finding) -> list[RuleChange]:
        if finding.rule_id not in CHANGED_BY_FIX:
            return []
        base: dict[str, object] = {
            "finding": finding.fingerprint(),
            "finding_rule": finding.rule_id,
            "direction": finding.direction,
            "suppressed": finding.suppression is not None,
        }
        if finding.rule_id == "SWYX003":
            return [self._add(finding, base)] if finding.rules else []
        out: list[RuleChange] = []
        wanted = [r for r in self.rules if r.direction == finding.direction]
        for ref in finding.rules:
            rr = self.resolved.get((ref.firewall_id, ref.rule_id))
            if rr is None or not rr.addrs:
                continue  # a synthetic catch-all, or a rule with nothing resolved
            current = rule_region(rr.protocol, rr.ports, rr.source_ports, rr.addrs, self.internal)
            if finding.rule_id == "SWYX007":
                decided: tuple[ChangeAction, list[RegionPart]] | None = ("remove", [])
            else:
                decided = change_for(current, wanted, self.internal)
            if decided is None:
                continue
            action, keep = decided
            if rr.synthetic:
                action = "override"  # a platform default: nothing to edit, only to outrank
            out.append(
                RuleChange(
                    **base,
                    action=action,
                    rule=ref,
                    current=tuple(current),
                    replacement=tuple(keep),
                )
            )
        return out

    def _add(self, finding: Finding, base: dict[str, object]) -> RuleChange:
        """A blocked required flow: a rule allowing its first alternative from its peers."""
        protocol = finding.region[0].protocol if finding.region else "tcp"
        ports = finding.alternatives[0] if finding.alternatives else list(finding.region[0].ports)
        part = region_part(protocol, port_set(ports), addr_set(finding.peers), self.internal)
        return RuleChange(**base, action="add", rule=finding.rules[0], replacement=(part,))


# ----------------------------------------------------------------- driver


def plan_fix(
    inventory: Inventory,
    profile: Profile,
    catalog: Catalog,
    *,
    today: dt.date | None = None,
) -> FixResult:
    """Per VM with a Swyx role: its rule set, its placement and the changes per finding."""
    scan = evaluate(inventory, profile, catalog, today=today)
    ctx = Context(inventory, profile.internal_networks)
    roles = {id(vm): assign_roles(vm, ctx, profile, catalog.role_slugs) for vm in inventory.vms}
    expectations = VMExpectations(inventory, roles, profile, catalog, ctx)
    findings: dict[tuple[str, str], list[Finding]] = {}
    for finding in scan.findings:
        findings.setdefault((finding.provider or "", finding.vm_id), []).append(finding)
    sets: list[RuleSet] = []
    fixes: list[tuple[VM, tuple[str, ...], tuple[FixRule, ...], list[RuleChange], list[RuleRef]]]
    fixes = []
    skipped: list[SkippedVM] = []
    resolved_of = {id(vm): _resolved(vm, ctx) for vm in inventory.vms}
    # Which VMs each replaceable rule applies to: a rule set may replace a rule that
    # other VMs rely on too, and the output says so.
    users: dict[tuple[str, str], list[VM]] = {}
    for vm in inventory.vms:
        for key, rr in resolved_of[id(vm)].items():
            if not rr.synthetic and rr.firewall.kind in REPLACED_KINDS:
                users.setdefault(key, []).append(vm)
    for vm in inventory.vms:
        assignment = roles[id(vm)]
        if not assignment.roles:
            skipped.append(
                SkippedVM(
                    vm_id=vm.id,
                    vm_name=vm.name,
                    provider=vm.provider,
                    reason="no recognised Swyx role (SWYX006): nothing to derive a rule set from",
                )
            )
            continue
        rules = minimal_rules(expectations.expected(vm, assignment.roles))
        resolved = resolved_of[id(vm)]
        changer = _Changes(resolved, rules, ctx.internal)
        changes = [
            c for f in findings.get((vm.provider, vm.id), []) for c in changer.for_finding(f)
        ]
        # Every rule that applies to the VM, on the kinds of objects a rule set replaces
        # (GCP firewall policies are evaluated apart from VPC rules and stay).
        replaced = [
            rule_ref(rr)
            for rr in resolved.values()
            if not rr.synthetic and rr.firewall.kind in REPLACED_KINDS
        ]
        sets.append(RuleSet(vm=vm, rules=rules))
        fixes.append((vm, tuple(assignment.roles), rules, changes, replaced))
    laid = layout(sets, ctx)
    unplaced = {s.vm_id for s in laid.skipped}
    fixed = {vm.id for vm, *_ in fixes} - unplaced
    vms = [
        VMFix(
            vm_id=vm.id,
            vm_name=vm.name,
            provider=vm.provider,
            roles=vm_roles,
            rules=rules,
            changes=tuple(changes),
            replaces=tuple(replaced),
            placements=tuple(laid.placement_names.get(vm.id, ())),
            setup=tuple(laid.setup.get(vm.id, ())),
            shared=_shared(replaced, laid.setup.get(vm.id, ()), users, fixed),
        )
        for vm, vm_roles, rules, changes, replaced in fixes
    ]
    skipped.extend(laid.skipped)
    done = {(r.firewall_id, r.rule_id) for v in vms if v.vm_id in fixed for r in v.replaces}
    placements = [
        p.model_copy(
            update={
                "inline_kept": tuple(r for r in p.inline_rules if (p.firewall_id, r) not in done)
            }
        )
        for p in laid.placements
    ]
    return FixResult(
        tool_version=__version__,
        sources=list(inventory.sources),
        vms=[v for v in vms if v.vm_id not in unplaced],
        placements=placements,
        limits=laid.limits,
        skipped=skipped,
        errors=list(inventory.errors),
    )


def _resolved(vm: VM, ctx: Context) -> dict[tuple[str, str], ResolvedRule]:
    """Every rule the engine resolved for the VM, both directions, by (firewall, rule)."""
    resolved: dict[tuple[str, str], ResolvedRule] = {}
    for direction in DIRECTIONS:
        layers, _ = vm_access(vm, direction, ctx)
        for layer in layers.layers:
            for rr in layer.rules:
                resolved.setdefault((rr.firewall.id, rr.rule.id), rr)
    return resolved


def _shared(
    replaced: Sequence[RuleRef],
    setup: Sequence[SetupStep],
    users: dict[tuple[str, str], list[VM]],
    fixed: set[str],
) -> tuple[SharedRule, ...]:
    """The replaced rules that also apply to VMs without a rule set here. Rules of a
    group the VM is detached from (a setup step) stay as they are for the others."""
    detached = {
        fw for step in setup if step.action == "attach_security_group" for fw in step.replaces
    }
    out: list[SharedRule] = []
    for ref in replaced:
        if ref.firewall_id in detached:
            continue
        others = {
            vm.name for vm in users.get((ref.firewall_id, ref.rule_id), []) if vm.id not in fixed
        }
        if others:
            out.append(SharedRule(rule=ref, vms=tuple(sorted(others))))
    return tuple(out)
