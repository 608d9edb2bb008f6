"""Findings: what the engine concludes and every report renders.

The rule ids (SWYX001..SWYX007) are fixed: SARIF, JSON and the Rego policies use
the same ids, titles and default levels from :data:`RULES`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from policycheck.model import CollectionError, Direction, PortRange, Provenance, Provider

Level = Literal["error", "warning", "note"]
RuleId = Literal["SWYX001", "SWYX002", "SWYX003", "SWYX004", "SWYX005", "SWYX006", "SWYX007"]
LEVEL_ORDER: dict[str, int] = {"note": 1, "warning": 2, "error": 3}


class RuleInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: RuleId
    name: str
    title: str
    level: Level
    description: str
    remediation: str
    #: GitHub code scanning security severity (0.0-10.0).
    security_severity: float
    precision: Literal["very-high", "high", "medium", "low"]


RULES: dict[str, RuleInfo] = {
    r.id: r
    for r in [
        RuleInfo(
            id="SWYX001",
            name="UndocumentedInbound",
            title="Undocumented inbound access",
            level="error",
            description=(
                "Inbound traffic is allowed on a protocol/port that no documented inbound "
                "flow of the VM's Swyx roles uses."
            ),
            remediation=(
                "Remove the rule, or narrow it to the documented ports; if the access is "
                "intended (e.g. RDP from an admin jump host), declare it under "
                "extra_flows in the deployment profile with a justification."
            ),
            security_severity=8.0,
            precision="high",
        ),
        RuleInfo(
            id="SWYX002",
            name="InboundSourceTooBroad",
            title="Inbound source too broad",
            level="error",
            description=(
                "The port is documented, but reachable from beyond the documented peers "
                "(an internal-only flow reachable from the internet, a flow from the "
                "SwyxWare server open to a whole network, or any rule for a loopback flow)."
            ),
            remediation=(
                "Restrict the rule's sources to the documented peers: internal networks "
                "for flows without WAN access, the SwyxWare server's addresses for "
                "IpPbxSrv flows, nothing for flows that stay on the VM."
            ),
            security_severity=7.5,
            precision="high",
        ),
        RuleInfo(
            id="SWYX003",
            name="RequiredFlowBlocked",
            title="Required flow blocked",
            level="warning",
            description="A documented flow the deployment needs is not allowed.",
            remediation=(
                "Add a rule allowing the documented protocol and port from the documented "
                "peers, or mark the flow as not required in the deployment profile."
            ),
            security_severity=4.0,
            precision="high",
        ),
        RuleInfo(
            id="SWYX004",
            name="UndocumentedOutbound",
            title="Undocumented outbound access",
            level="note",
            description=(
                "Egress is broader than the documented outbound flows of the VM's roles, "
                "at the profile's egress strictness."
            ),
            remediation="Narrow egress rules to the documented outbound protocols and ports.",
            security_severity=3.0,
            precision="medium",
        ),
        RuleInfo(
            id="SWYX005",
            name="Unresolved",
            title="Rule could not be fully evaluated",
            level="note",
            description=(
                "A rule's peer or port is unknown here (unknown until apply, a security "
                "group in another account, a service tag that cannot be expanded). It was "
                "evaluated conservatively and is reported instead of being dropped."
            ),
            remediation=(
                "Re-run against the applied state or live cloud, or replace the reference "
                "with explicit prefixes."
            ),
            security_severity=2.0,
            precision="medium",
        ),
        RuleInfo(
            id="SWYX006",
            name="Unassigned",
            title="VM without a recognised Swyx role",
            level="note",
            description=(
                "A VM behind a checked firewall has no recognised Swyx role (or names an "
                "unknown role slug), so its access cannot be compared with the matrix."
            ),
            remediation=(
                "Tag the VM or its firewall with swyx-roles=<slug,...> or swyx-role-<slug>, "
                "or map it in the deployment profile's role_assignments."
            ),
            security_severity=1.0,
            precision="high",
        ),
        RuleInfo(
            id="SWYX007",
            name="ShadowedRule",
            title="Shadowed rule",
            level="note",
            description=(
                "The rule never takes effect because higher-priority rules already decide "
                "all the traffic it matches."
            ),
            remediation="Delete the rule or fix its priority so the intent is visible.",
            security_severity=1.0,
            precision="high",
        ),
    ]
}


class RuleRef(BaseModel):
    """A firewall rule responsible for a finding."""

    model_config = ConfigDict(frozen=True)

    firewall_id: str
    firewall_name: str
    rule_id: str
    rule_name: str | None = None
    provenance: Provenance


class Suppression(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str
    expires: dt.date
    #: Which profile entry suppressed it, for the audit trail.
    match: str


class Finding(BaseModel):
    """One conclusion, merged per (VM, responsible rule, kind)."""

    model_config = ConfigDict(frozen=True)

    rule_id: RuleId
    level: Level
    provider: Provider
    vm_id: str
    vm_name: str
    direction: Direction
    #: The exact excess or missing region.
    protocol: str
    ports: list[PortRange] = Field(default_factory=list)
    peers: list[str] = Field(default_factory=list)
    #: Short wording of ``peers`` for tables, e.g. "the internet (everything outside
    #: the internal networks)" instead of 38 prefixes.
    peers_summary: str | None = None
    rules: list[RuleRef] = Field(default_factory=list)
    #: Catalog rows the region was compared against.
    catalog_rows: list[str] = Field(default_factory=list)
    message: str
    remediation: str
    suppression: Suppression | None = None

    @property
    def primary(self) -> RuleRef | None:
        return self.rules[0] if self.rules else None

    @property
    def resource(self) -> str:
        """The resource address or cloud id to blame, for messages and SARIF."""
        ref = self.primary
        if ref is None:
            return self.vm_id
        prov = ref.provenance
        return prov.address or prov.cloud_id or ref.firewall_id

    def fingerprint(self) -> str:
        """Stable across runs and unrelated edits: no line numbers, no ordering."""
        parts = [
            self.rule_id,
            self.vm_id,
            self.resource,
            self.direction,
            self.protocol,
            ",".join(str(p) for p in self.ports),
            ",".join(sorted(self.peers)),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class ShardMark(BaseModel):
    """Which part of which scan a shard report is: part ``index`` of ``count`` of a
    ``scan`` of this kind (terraform, snapshot, aws, azure, gcp)."""

    model_config = ConfigDict(frozen=True)

    index: int
    count: int
    scan: str

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class ScanResult(BaseModel):
    """Everything a report needs; reports never recompute any of it."""

    tool_version: str
    sources: list[str] = Field(default_factory=list)
    vm_count: int = 0
    firewall_count: int = 0
    findings: list[Finding] = Field(default_factory=list)
    errors: list[CollectionError] = Field(default_factory=list)
    #: Set when this is one shard of a scan (``--shard``); merge checks all N came.
    shard: ShardMark | None = None

    @property
    def incomplete(self) -> bool:
        return bool(self.errors)

    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.suppression is None]
