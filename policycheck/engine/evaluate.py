"""The engine's entry point: inventory + profile + catalog -> findings.

Knows nothing about files or SDKs: sources build the inventory, reports render
the result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from fnmatch import fnmatchcase

from policycheck import __version__
from policycheck.catalog import Catalog
from policycheck.engine.access import Access, effective_access
from policycheck.engine.compare import Comparer, rule_ref
from policycheck.engine.context import Context
from policycheck.engine.providers import PROVIDERS, VMLayers
from policycheck.engine.roles import RoleAssignment, assign_roles
from policycheck.expected import SERVER_ROLE, expected_flows
from policycheck.findings import LEVEL_ORDER, RULES, Finding, RuleRef, ScanResult, Suppression
from policycheck.model import VM, Direction, Inventory
from policycheck.profile import Profile


def vm_access(vm: VM, direction: Direction, ctx: Context) -> tuple[VMLayers, Access]:
    """The provider's layers for one VM and direction, and the access they allow."""
    layers = PROVIDERS[vm.provider](vm, direction, ctx)
    return layers, effective_access(layers.layers)


def evaluate(
    inventory: Inventory,
    profile: Profile,
    catalog: Catalog,
    *,
    today: dt.date | None = None,
    select: Callable[[VM], bool] | None = None,
) -> ScanResult:
    """Findings for the inventory's VMs, or only for those ``select`` accepts (one
    shard's); the whole inventory still resolves peers and servers either way."""
    ctx = Context(inventory, profile.internal_networks)
    known = catalog.role_slugs
    roles = {id(vm): assign_roles(vm, ctx, profile, known) for vm in inventory.vms}
    findings: list[Finding] = []
    server_vms = [vm for vm in inventory.vms if SERVER_ROLE in roles[id(vm)].roles]
    evaluated = [vm for vm in inventory.vms if select is None or select(vm)]
    for vm in evaluated:
        assignment = roles[id(vm)]
        findings.extend(_unassigned(vm, assignment))
        if not assignment.roles:
            continue
        servers = [addr for other in server_vms if other is not vm for addr in other.addresses]
        expected = expected_flows(catalog, profile, assignment.roles, server_addresses=servers)
        layers_in, access_in = vm_access(vm, "inbound", ctx)
        layers_out, access_out = vm_access(vm, "outbound", ctx)
        comparer = Comparer(vm, expected, profile, ctx)
        comparer.inbound(access_in)
        comparer.outbound(access_out)
        comparer.requirements(access_in, access_out)
        comparer.unresolved([layers_in, layers_out])
        comparer.shadowed([access_in, access_out])
        findings.extend(comparer.finish())
    findings = [apply_suppressions(f, profile, today or dt.date.today()) for f in findings]
    findings.sort(key=sort_key)
    return ScanResult(
        tool_version=__version__,
        sources=list(inventory.sources),
        vm_count=len(evaluated),
        firewall_count=len(inventory.firewalls),
        findings=findings,
        errors=list(inventory.errors),
    )


def sort_key(f: Finding) -> tuple[object, ...]:
    return (
        -LEVEL_ORDER[f.level],
        f.vm_name,
        f.rule_id,
        f.resource,
        [(p.lo, p.hi) for p in f.ports],
        f.message,
    )


def _unassigned(vm: VM, assignment: RoleAssignment) -> list[Finding]:
    if assignment.roles and not assignment.unknown:
        return []
    info = RULES["SWYX006"]
    if assignment.unknown:
        what = f"unknown role slug(s) {', '.join(repr(s) for s in assignment.unknown)}"
    else:
        what = "no recognised Swyx role"
    ref = RuleRef(firewall_id=vm.id, firewall_name=vm.name, rule_id=vm.id, provenance=vm.provenance)
    return [
        Finding(
            rule_id="SWYX006",
            level=info.level,
            provider=vm.provider,
            vm_id=vm.id,
            vm_name=vm.name,
            direction="inbound",
            protocol="all",
            rules=[ref],
            message=f"{vm.name}: {what}"
            + ("" if assignment.roles else "; its access was not compared with the matrix"),
            remediation=info.remediation,
        )
    ]


def apply_suppressions(finding: Finding, profile: Profile, today: dt.date) -> Finding:
    for i, s in enumerate(profile.suppressions):
        if s.expires < today:
            continue
        if s.rule and s.rule != finding.rule_id:
            continue
        if s.vm and not (fnmatchcase(finding.vm_name, s.vm) or fnmatchcase(finding.vm_id, s.vm)):
            continue
        if s.resource and not fnmatchcase(finding.resource, s.resource):
            continue
        if s.ports:
            lo, _, hi = s.ports.partition("-")
            want_lo, want_hi = int(lo), int(hi or lo)
            if not any(p.lo <= want_hi and want_lo <= p.hi for p in finding.ports):
                continue
        return finding.model_copy(
            update={
                "suppression": Suppression(
                    reason=s.reason, expires=s.expires, match=f"suppressions[{i}]"
                )
            }
        )
    return finding


__all__ = ["apply_suppressions", "evaluate", "rule_ref", "sort_key", "vm_access"]
