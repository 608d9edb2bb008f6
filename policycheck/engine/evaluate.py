"""The engine's entry point: inventory + profile + catalog -> findings.

Knows nothing about files or SDKs: sources build the inventory, reports render
the result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from policycheck import __version__
from policycheck.catalog import SERVER_ROLE, Catalog
from policycheck.engine.access import Access, effective_access
from policycheck.engine.compare import Comparer, rule_ref
from policycheck.engine.context import Context
from policycheck.engine.hints import with_hints
from policycheck.engine.providers import PROVIDERS, VMLayers
from policycheck.engine.roles import RoleAssignment, assign_roles
from policycheck.engine.suppress import Suppressor
from policycheck.expected import REMOTE_CONNECTOR, Expected, expected_flows
from policycheck.findings import RULES, Finding, RuleRef, ScanResult
from policycheck.model import VM, Direction, Inventory
from policycheck.profile import Profile


def vm_access(vm: VM, direction: Direction, ctx: Context) -> tuple[VMLayers, Access]:
    """The provider's layers for one VM and direction, and the access they allow."""
    layers = PROVIDERS[vm.provider](vm, direction, ctx)
    return layers, effective_access(layers.layers)


#: Roles whose VMs other VMs' flows point at: the server (``IpPbxSrv IP``) and the
#: RemoteConnector (the server's counterparts of its forwarding).
PEER_ROLES = (SERVER_ROLE, REMOTE_CONNECTOR)


class VMExpectations:
    """Each VM's expected flows, with the addresses of the other VMs its roles'
    flows point at (found once per scan). The native comparison and the Rego
    input both use it, so both compare against the same flows."""

    def __init__(
        self,
        inventory: Inventory,
        roles: Mapping[int, RoleAssignment],
        profile: Profile,
        catalog: Catalog,
    ) -> None:
        self.profile, self.catalog = profile, catalog
        self.holders = {
            role: [vm for vm in inventory.vms if role in roles[id(vm)].roles] for role in PEER_ROLES
        }

    def expected(self, vm: VM, roles: list[str]) -> Expected:
        others = {
            role: [addr for other in vms if other is not vm for addr in other.addresses]
            for role, vms in self.holders.items()
        }
        return expected_flows(self.catalog, self.profile, roles, role_addresses=others)


def evaluate(
    inventory: Inventory,
    profile: Profile,
    catalog: Catalog,
    *,
    today: dt.date | None = None,
) -> ScanResult:
    """Every finding of the inventory, with the profile's and inline suppressions."""
    findings, expected_of = compare_all(inventory, profile, catalog)
    return scan_result(inventory, findings, profile, expected_of, today=today)


def compare_all(
    inventory: Inventory, profile: Profile, catalog: Catalog
) -> tuple[list[Finding], dict[str, Expected]]:
    """Every VM's findings before suppressions, and each VM's expected flows (by id)."""
    ctx = Context(inventory, profile.internal_networks)
    known = catalog.role_slugs
    roles = {id(vm): assign_roles(vm, ctx, profile, known) for vm in inventory.vms}
    findings: list[Finding] = []
    expectations = VMExpectations(inventory, roles, profile, catalog)
    expected_of: dict[str, Expected] = {}
    for vm in inventory.vms:
        assignment = roles[id(vm)]
        findings.extend(_unassigned(vm, assignment))
        if not assignment.roles:
            continue
        expected = expectations.expected(vm, assignment.roles)
        layers_in, access_in = vm_access(vm, "inbound", ctx)
        layers_out, access_out = vm_access(vm, "outbound", ctx)
        comparer = Comparer(vm, expected, profile, ctx)
        comparer.inbound(access_in)
        comparer.outbound(access_out)
        comparer.requirements(access_in, access_out)
        comparer.unresolved([layers_in, layers_out])
        comparer.shadowed([access_in, access_out])
        findings.extend(comparer.finish())
        expected_of[vm.id] = expected
    return findings, expected_of


def scan_result(
    inventory: Inventory,
    findings: list[Finding],
    profile: Profile,
    expected_of: Mapping[str, Expected],
    *,
    today: dt.date | None = None,
) -> ScanResult:
    """The result of a scan: suppressions applied (and accounted for), hints added
    (after suppressions split findings, so each part's hints are its own), sorted.

    The native and the Rego comparison both end here, so both suppress alike.
    """
    suppressor = Suppressor(
        profile, inventory.vms, inventory.inline_ignores, today or dt.date.today()
    )
    suppressed, statuses = suppressor.run(findings)
    suppressed = [with_hints(f, expected_of.get(f.vm_id)) for f in suppressed]
    suppressed.sort(key=Finding.sort_key)
    return ScanResult(
        tool_version=__version__,
        sources=list(inventory.sources),
        vm_count=len(inventory.vms),
        firewall_count=len(inventory.firewalls),
        findings=suppressed,
        errors=list(inventory.errors),
        suppressions=statuses,
    )


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
    "VMExpectations",
    "compare_all",
    "evaluate",
    "rule_ref",
    "scan_result",
    "vm_access",
]
