"""Evidence (``--evidence``): every flow checked for a VM, and how it fared.

An audit needs what passed as well as what failed. For each VM with roles, each
expected flow gets a status: a required flow is open or blocked (SWYX003); a
documented flow is open only from its peers, closed, or open too broadly
(SWYX002); per direction, everything the documented flows do not cover is closed
or not (SWYX001 inbound, SWYX004 outbound). Failing statuses come from the
findings themselves (by their catalog rows), so evidence and findings cannot
disagree; what is open is read from the same effective access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from policycheck.engine.access import OTHER, Access
from policycheck.engine.intervals import IntervalSet, addr_set
from policycheck.engine.regions import port_ranges, port_set
from policycheck.expected import Expected, ExpectedFlow
from policycheck.findings import EvidenceStatus, Finding, FlowEvidence, VMEvidence
from policycheck.model import ALL_PORTS, VM, Direction, PortRange
from policycheck.profile import Profile

#: The finding that says an undocumented part of a direction is open.
_UNDOCUMENTED: dict[Direction, str] = {"inbound": "SWYX001", "outbound": "SWYX004"}


def vm_evidence(
    vm: VM,
    expected: Expected,
    access: Mapping[Direction, Access],
    findings: Iterable[Finding],
    profile: Profile,
) -> VMEvidence:
    """The VM's checked flows; ``findings`` are the VM's own (after suppressions)."""
    mine = list(findings)
    flows = [_flow(flow, expected, access[flow.direction], mine) for flow in expected.flows]
    for direction, rule in _UNDOCUMENTED.items():
        if direction == "outbound" and profile.egress.strictness == "off":
            continue  # not checked: no claim either way
        open_ = [f for f in mine if f.rule_id == rule and f.direction == direction]
        flows.append(
            FlowEvidence(
                direction=direction,
                protocol="all",
                ports=[ALL_PORTS],
                status="undocumented_open" if open_ else "undocumented_closed",
                findings=[f.fingerprint() for f in open_],
            )
        )
    return VMEvidence(
        provider=vm.provider,
        vm_id=vm.id,
        vm_name=vm.name,
        roles=list(expected.roles),
        flows=flows,
    )


def _flow(
    flow: ExpectedFlow, expected: Expected, access: Access, mine: list[Finding]
) -> FlowEvidence:
    rows = set(flow.rows)

    def about(rule: str) -> list[Finding]:
        return [
            f
            for f in mine
            if f.rule_id == rule
            and f.direction == flow.direction
            and rows & set(f.catalog_rows)
            and (flow.protocol == "all" or flow.protocol in f.protocols)
        ]

    required = any(
        req.direction == flow.direction and req.protocol == flow.protocol and rows & set(req.rows)
        for req in expected.requirements
    )
    open_ports = _open_ports(flow, access)
    blocked, broad = about("SWYX003"), about("SWYX002")
    status: EvidenceStatus
    if required and blocked:
        status, why = "required_blocked", blocked
    elif broad:
        status, why = "documented_too_broad", broad
    elif required:
        status, why = "required_open", []
    else:
        status, why = ("documented_open" if open_ports else "documented_closed"), []
    return FlowEvidence(
        direction=flow.direction,
        protocol=flow.protocol,
        ports=list(flow.ports),
        peers=list(flow.peers),
        rows=list(flow.rows),
        role=flow.role,
        required=required,
        status=status,
        open_ports=open_ports,
        findings=[f.fingerprint() for f in why],
    )


def _open_ports(flow: ExpectedFlow, access: Access) -> list[PortRange]:
    """The flow's ports reachable from (or reaching) some of its peers."""
    wanted = addr_set(flow.peers)
    need = port_set(flow.ports)
    got = IntervalSet()
    if not wanted:
        return []
    for region in access.regions:
        same = flow.protocol in ("all", region.protocol) or (
            region.protocol == OTHER and flow.protocol not in access.named
        )
        if same and region.addrs & wanted:
            got = got | (region.ports & need)
    return port_ranges(got)
