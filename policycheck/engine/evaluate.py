"""The engine's entry point: inventory + profile + catalog -> findings.

Knows nothing about files or SDKs: sources build the inventory, reports render
the result.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from policycheck import __version__
from policycheck.catalog import SERVER_ROLE, Catalog
from policycheck.engine.access import Access, shared_access
from policycheck.engine.compare import Comparer, FlowShapes, rule_ref
from policycheck.engine.context import Context
from policycheck.engine.deployments import Deployments
from policycheck.engine.evidence import vm_evidence
from policycheck.engine.hints import with_hints
from policycheck.engine.providers import PROVIDERS, VMLayers
from policycheck.engine.roles import RoleAssignment, assign_roles
from policycheck.engine.suppress import Suppressor
from policycheck.expected import (
    REMOTE_CONNECTOR,
    Binding,
    Expected,
    FlowMemo,
    FlowTemplate,
    template_for,
)
from policycheck.findings import RULES, CheckedVM, Finding, RuleRef, ScanResult, VMEvidence
from policycheck.model import VM, Direction, Inventory
from policycheck.profile import IPPBXSRV_GROUP, REMOTE_CONNECTOR_GROUP, Profile


def vm_access(vm: VM, direction: Direction, ctx: Context) -> tuple[VMLayers, Access]:
    """The provider's layers for one VM and direction, and the access they allow
    (evaluated once per distinct content of the layers in the scan)."""
    layers = PROVIDERS[vm.provider](vm, direction, ctx)
    return layers, shared_access(layers.layers, ctx.accesses)


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
        self.memo = FlowMemo()
        #: The comparison's view of each template's flows, shared by its VMs.
        self.shapes = FlowShapes()
        #: Expected flows depend on the roles and the peer roles' addresses only:
        #: VMs of one deployment with the same roles share them.
        self.cache: dict[tuple[object, ...], tuple[Expected, FlowTemplate, Binding]] = {}

    def expected(self, vm: VM, roles: list[str]) -> Expected:
        return self.bound(vm, roles)[0]

    def bound(self, vm: VM, roles: list[str]) -> tuple[Expected, FlowTemplate, Binding]:
        """The VM's expected flows, the template they were bound from and its slots'
        addresses (what :class:`Comparer` shares between VMs)."""
        others = self.deployments.addresses(vm, self.profile)
        key = (tuple(roles), tuple((role, tuple(addrs)) for role, addrs in sorted(others.items())))
        found = self.cache.get(key)
        if found is None:
            template, binding = template_for(
                self.catalog, self.profile, roles, role_addresses=others, memo=self.memo
            )
            found = self.cache[key] = (template.bind(binding), template, binding)
        return found


@dataclass(frozen=True)
class VMEvaluation:
    """Everything the native pass computed for one VM, for an observer (the Rego
    input document is written from it, so nothing is computed twice)."""

    vm: VM
    assignment: RoleAssignment
    inbound: Access
    outbound: Access
    #: The comparison with the matrix; None for a VM without a recognised role.
    expected: Expected | None = None
    comparer: Comparer | None = None


#: Receives each VM's evaluation, with the scan's context.
Observer = Callable[[VMEvaluation, Context], None]


def evaluate(
    inventory: Inventory,
    profile: Profile,
    catalog: Catalog,
    *,
    today: dt.date | None = None,
    select: Callable[[VM], bool] | None = None,
    observe: Observer | None = None,
    evidence: bool = False,
) -> ScanResult:
    """Every finding of the inventory (or of the VMs ``select`` accepts: one
    shard's), with the profile's and inline suppressions. ``observe``: see
    :func:`compare_all`; ``evidence``: also each VM's checked flows and their status."""
    compared = compare_all(
        inventory, profile, catalog, select=select, observe=observe, evidence=evidence
    )
    return scan_result(inventory, compared, profile, today=today)


class Compared(NamedTuple):
    """The comparison of every VM, before suppressions."""

    findings: list[Finding]
    #: VM id -> its expected flows (for the hints every finding gets).
    expected: dict[str, Expected]
    #: Every VM checked, with its roles and their origins (CheckedVM.sort_key order).
    vms: list[CheckedVM]
    #: With ``evidence``: each VM compared, its expected flows and its access, from
    #: which :func:`scan_result` states each flow's status (after suppressions).
    checked: list[Checked] | None = None


class Checked(NamedTuple):
    """One VM compared with the matrix: what ``--evidence`` reports on."""

    vm: VM
    expected: Expected
    access: dict[Direction, Access]


def compare_all(
    inventory: Inventory,
    profile: Profile,
    catalog: Catalog,
    *,
    select: Callable[[VM], bool] | None = None,
    observe: Observer | None = None,
    evidence: bool = False,
) -> Compared:
    """Every VM's findings before suppressions, its expected flows and its roles;
    only the VMs ``select`` accepts (one shard's), while the whole inventory still
    resolves peers and servers. With ``observe``, every evaluated VM's access is
    computed (also for VMs without a role, otherwise only SWYX006) and handed to it."""
    ctx = Context(inventory, profile.internal_networks)
    known = catalog.role_slugs
    roles = {id(vm): assign_roles(vm, ctx, profile, known) for vm in inventory.vms}
    findings: list[Finding] = []
    expectations = VMExpectations(inventory, roles, profile, catalog, ctx)
    expected_of: dict[str, Expected] = {}
    checked_flows: list[Checked] | None = [] if evidence else None
    evaluated = [vm for vm in inventory.vms if select is None or select(vm)]
    for vm in evaluated:
        assignment = roles[id(vm)]
        findings.extend(_unassigned(vm, assignment))
        if not assignment.roles:
            if observe is not None:
                _, unassigned_in = vm_access(vm, "inbound", ctx)
                _, unassigned_out = vm_access(vm, "outbound", ctx)
                observe(VMEvaluation(vm, assignment, unassigned_in, unassigned_out), ctx)
            continue
        expected, template, binding = expectations.bound(vm, assignment.roles)
        layers_in, access_in = vm_access(vm, "inbound", ctx)
        layers_out, access_out = vm_access(vm, "outbound", ctx)
        comparer = Comparer(
            vm,
            expected,
            profile,
            ctx,
            {"inbound": layers_in, "outbound": layers_out},
            template=(template, binding),
            shapes=expectations.shapes,
        )
        comparer.inbound(access_in)
        comparer.outbound(access_out)
        comparer.requirements(access_in, access_out)
        comparer.unresolved([layers_in, layers_out])
        comparer.shadowed([access_in, access_out])
        findings.extend(comparer.finish())
        expected_of[vm.id] = expected
        if checked_flows is not None:
            checked_flows.append(
                Checked(vm, expected, {"inbound": access_in, "outbound": access_out})
            )
        if observe is not None:
            observe(VMEvaluation(vm, assignment, access_in, access_out, expected, comparer), ctx)
    checked = sorted((roles[id(vm)].checked(vm) for vm in evaluated), key=CheckedVM.sort_key)
    return Compared(findings, expected_of, checked, checked_flows)


def scan_result(
    inventory: Inventory,
    compared: Compared,
    profile: Profile,
    *,
    today: dt.date | None = None,
) -> ScanResult:
    """The result of a scan: suppressions applied (and accounted for), hints added
    (after suppressions split findings, so each part's hints are its own), peers
    named, sorted.

    The native and the Rego comparison both end here, so both suppress alike.
    """
    suppressor = Suppressor(
        profile, inventory.vms, inventory.inline_ignores, today or dt.date.today()
    )
    suppressed, statuses = suppressor.run(compared.findings)
    findings = [with_hints(f, compared.expected.get(f.vm_id)) for f in suppressed]
    findings = name_peers(findings, peer_names(inventory, profile))
    findings.sort(key=Finding.sort_key)
    return ScanResult(
        tool_version=__version__,
        sources=list(inventory.sources),
        profile=profile.source,
        vm_count=len(compared.vms),
        firewall_count=len(inventory.firewalls),
        vms=compared.vms,
        findings=findings,
        errors=list(inventory.errors),
        suppressions=statuses,
        evidence=None
        if compared.checked is None
        else _evidence(compared.checked, findings, profile),
    )


def _evidence(
    checked: list[Checked], findings: list[Finding], profile: Profile
) -> list[VMEvidence]:
    """Each compared VM's flows, judged by its own findings as the report lists
    them (a suppressed one still fails its flow: accepted is not passed)."""
    by_vm: dict[tuple[str | None, str], list[Finding]] = {}
    for f in findings:
        by_vm.setdefault((f.provider, f.vm_id), []).append(f)
    found = [
        vm_evidence(c.vm, c.expected, c.access, by_vm.get((c.vm.provider, c.vm.id), []), profile)
        for c in checked
    ]
    return sorted(found, key=VMEvidence.sort_key)


def peer_names(inventory: Inventory, profile: Profile) -> dict[str, str]:
    """CIDR -> the name a reader knows it by: the profile's peer groups first,
    then its SIP trunks' own CIDRs, then a VM whose address it is (only when no
    other VM of the inventory has that address, as overlapping private ranges
    of two tenants would make the name a guess)."""
    names: dict[str, str] = {}
    for group, cidrs in profile.peer_groups.items():
        for cidr in cidrs:
            names.setdefault(cidr, group)
    for trunk in profile.sip_trunks:
        for peer in trunk.peers:
            if peer not in profile.peer_groups:
                names.setdefault(str(ipaddress.ip_network(peer, strict=False)), trunk.name)
    owners: dict[str, set[str]] = {}
    for vm in inventory.vms:
        for address in vm.addresses:
            try:
                host = str(ipaddress.ip_network(address, strict=False))
            except ValueError:
                continue
            owners.setdefault(host, set()).add(vm.name)
    for host, vms in owners.items():
        if len(vms) == 1:
            names.setdefault(host, f"VM {next(iter(vms))}")
    return names


def name_peers(findings: Iterable[Finding], names: Mapping[str, str]) -> list[Finding]:
    """Each finding with the names of the CIDRs it mentions (see Finding.peer_names)."""
    out: list[Finding] = []
    for finding in findings:
        mentioned = [*finding.peers, *finding.documented_peers]
        for summary in (finding.peers_summary, finding.documented_summary):
            if summary is not None:
                mentioned.extend(summary.excluding)
        for part in finding.region:
            mentioned.extend(part.peers)
            if part.peers_summary is not None:
                mentioned.extend(part.peers_summary.excluding)
        found = {c: names[c] for c in mentioned if c in names}
        out.append(finding.model_copy(update={"peer_names": found}) if found else finding)
    return out


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


__all__ = [
    "Compared",
    "VMEvaluation",
    "VMExpectations",
    "compare_all",
    "evaluate",
    "name_peers",
    "peer_names",
    "rule_ref",
    "scan_result",
    "vm_access",
]
