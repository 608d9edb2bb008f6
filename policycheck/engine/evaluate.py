"""The engine's entry point: inventory + profile + catalog -> findings.

Knows nothing about files or SDKs: sources build the inventory, reports render
the result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase

from policycheck import __version__
from policycheck.catalog import SERVER_ROLE, Catalog
from policycheck.engine.access import Access, effective_access
from policycheck.engine.compare import Comparer, rule_ref
from policycheck.engine.context import Context
from policycheck.engine.deployments import Deployments
from policycheck.engine.evidence import vm_evidence
from policycheck.engine.hints import with_hints
from policycheck.engine.intervals import IntervalSet, addr_set
from policycheck.engine.providers import PROVIDERS, VMLayers
from policycheck.engine.regions import peers_summary, port_set, split_ports
from policycheck.engine.roles import RoleAssignment, assign_roles
from policycheck.expected import REMOTE_CONNECTOR, Expected, expected_flows
from policycheck.findings import (
    RULES,
    Finding,
    RegionPart,
    RuleRef,
    ScanResult,
    Suppression,
    VMEvidence,
)
from policycheck.model import VM, Direction, Inventory, PortRange
from policycheck.profile import IPPBXSRV_GROUP, REMOTE_CONNECTOR_GROUP, Profile


def vm_access(vm: VM, direction: Direction, ctx: Context) -> tuple[VMLayers, Access]:
    """The provider's layers for one VM and direction, and the access they allow."""
    layers = PROVIDERS[vm.provider](vm, direction, ctx)
    return layers, effective_access(layers.layers)


#: Roles whose VMs other VMs' flows point at: the server (``IpPbxSrv IP``) and the
#: RemoteConnector (the server's counterparts of its forwarding), with the profile
#: peer group that names each instead.
PEER_ROLES = {SERVER_ROLE: IPPBXSRV_GROUP, REMOTE_CONNECTOR: REMOTE_CONNECTOR_GROUP}


class VMExpectations:
    """Each VM's expected flows, with the addresses of the other VMs of its own
    deployment its roles' flows point at (:mod:`policycheck.engine.deployments`).
    The native comparison and the Rego input both use it, so both compare against
    the same flows."""

    def __init__(
        self,
        inventory: Inventory,
        roles: Mapping[int, RoleAssignment],
        profile: Profile,
        catalog: Catalog,
        ctx: Context,
    ) -> None:
        self.profile, self.catalog = profile, catalog
        self.deployments = Deployments(
            inventory.vms, {k: r.roles for k, r in roles.items()}, ctx, PEER_ROLES
        )

    def expected(self, vm: VM, roles: list[str]) -> Expected:
        others = self.deployments.addresses(vm, self.profile)
        return expected_flows(self.catalog, self.profile, roles, role_addresses=others)


def evaluate(
    inventory: Inventory,
    profile: Profile,
    catalog: Catalog,
    *,
    today: dt.date | None = None,
    select: Callable[[VM], bool] | None = None,
    evidence: bool = False,
) -> ScanResult:
    """Findings for the inventory's VMs, or only for those ``select`` accepts (one
    shard's); the whole inventory still resolves peers and servers either way.
    ``evidence``: also list each VM's checked flows and their status."""
    ctx = Context(inventory, profile.internal_networks)
    known = catalog.role_slugs
    roles = {id(vm): assign_roles(vm, ctx, profile, known) for vm in inventory.vms}
    findings: list[Finding] = []
    expectations = VMExpectations(inventory, roles, profile, catalog, ctx)
    expected_of: dict[str, Expected] = {}
    checked: list[tuple[VM, Expected, dict[Direction, Access]]] = []
    evaluated = [vm for vm in inventory.vms if select is None or select(vm)]
    for vm in evaluated:
        assignment = roles[id(vm)]
        findings.extend(_unassigned(vm, assignment))
        if not assignment.roles:
            continue
        expected = expectations.expected(vm, assignment.roles)
        layers_in, access_in = vm_access(vm, "inbound", ctx)
        layers_out, access_out = vm_access(vm, "outbound", ctx)
        comparer = Comparer(
            vm, expected, profile, ctx, {"inbound": layers_in, "outbound": layers_out}
        )
        comparer.inbound(access_in)
        comparer.outbound(access_out)
        comparer.requirements(access_in, access_out)
        comparer.unresolved([layers_in, layers_out])
        comparer.shadowed([access_in, access_out])
        findings.extend(comparer.finish())
        expected_of[vm.id] = expected
        if evidence:
            checked.append((vm, expected, {"inbound": access_in, "outbound": access_out}))
    day = today or dt.date.today()
    findings = [
        with_hints(s, expected_of.get(s.vm_id))
        for f in findings
        for s in apply_suppressions(f, profile, day)
    ]
    findings.sort(key=Finding.sort_key)
    return ScanResult(
        tool_version=__version__,
        sources=list(inventory.sources),
        vm_count=len(evaluated),
        firewall_count=len(inventory.firewalls),
        findings=findings,
        errors=list(inventory.errors),
        evidence=_evidence(checked, findings, profile) if evidence else None,
    )


def _evidence(
    checked: list[tuple[VM, Expected, dict[Direction, Access]]],
    findings: list[Finding],
    profile: Profile,
) -> list[VMEvidence]:
    by_vm: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        by_vm.setdefault((f.provider, f.vm_id), []).append(f)
    return [
        vm_evidence(vm, expected, access, by_vm.get((vm.provider, vm.id), []), profile)
        for vm, expected, access in checked
    ]


def _unassigned(vm: VM, assignment: RoleAssignment) -> list[Finding]:
    if assignment.roles and not assignment.unknown:
        return []
    info = RULES["SWYX006"]
    ref = RuleRef(firewall_id=vm.id, firewall_name=vm.name, rule_id=vm.id, provenance=vm.provenance)
    return [
        Finding(
            rule_id="SWYX006",
            level=info.level,
            provider=vm.provider,
            vm_id=vm.id,
            vm_name=vm.name,
            direction="inbound",
            rules=[ref],
            roles=list(assignment.roles),
            unresolved=list(assignment.unknown),
            remediation=info.remediation,
        )
    ]


def apply_suppressions(finding: Finding, profile: Profile, today: dt.date) -> list[Finding]:
    """The finding with the first matching suppression applied.

    A suppression with ``ports`` takes exactly those ports: the finding splits
    into the suppressed part of its region and the rest, which stays active (with
    its own fingerprint) and may match a later suppression.
    """
    for i, s in enumerate(profile.suppressions):
        if s.expires < today:
            continue
        if s.rule and s.rule != finding.rule_id:
            continue
        if s.vm and not (fnmatchcase(finding.vm_name, s.vm) or fnmatchcase(finding.vm_id, s.vm)):
            continue
        if s.resource and not fnmatchcase(finding.resource, s.resource):
            continue
        suppression = Suppression(reason=s.reason, expires=s.expires, match=f"suppressions[{i}]")
        if not s.ports:
            return [finding.model_copy(update={"suppression": suppression})]
        inside, outside = split_ports(finding.region, port_set([PortRange.parse(s.ports)]))
        if not inside:
            continue
        internal = addr_set(profile.internal_networks)
        suppressed = _with_region(finding, inside, internal, suppression)
        if not outside:
            return [suppressed]
        rest = _with_region(finding, outside, internal, None)
        return [suppressed, *apply_suppressions(rest, profile, today)]
    return [finding]


def _with_region(
    finding: Finding, region: list[RegionPart], internal: IntervalSet, sup: Suppression | None
) -> Finding:
    return finding.model_validate(
        {
            **dict(finding),
            "region": region,
            "peers_summary": peers_summary(region, internal),
            "suppression": sup,
        }
    )


__all__ = [
    "VMExpectations",
    "apply_suppressions",
    "evaluate",
    "rule_ref",
    "vm_access",
]
