"""Findings: what the engine concludes and every report renders.

The rule ids (SWYX001..SWYX007) are fixed: SARIF, JSON and the Rego policies use
the same ids, titles and default levels from :data:`RULES`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

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
    #: The rule's action and priority where the rule exists (``None`` for a rule
    #: that is missing, and for priorities where order does not exist).
    action: str | None = None
    priority: int | None = None
    provenance: Provenance


class Suppression(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str
    expires: dt.date
    #: Which profile entry suppressed it, for the audit trail.
    match: str


#: Protocols whose parts carry ports; every other part covers its whole protocol.
PORT_PROTOCOLS = frozenset({"tcp", "udp"})
#: The protocol of a part that covers every protocol not in its ``excluding``.
OTHER_PROTOCOLS = "other"


PeerBase = Literal["anywhere", "internet", "internal", "cidrs", "none"]
PeerFamily = Literal["any", "ipv4", "ipv6"]


class PeerSummary(BaseModel):
    """An exact, short characterisation of an address set, for wording.

    The set is ``base`` (restricted to ``family``) minus ``excluding``. ``base``
    is ``anywhere`` (every address), ``internet`` (every address outside the
    profile's internal networks) or ``internal`` (the internal networks); ``cidrs``
    means no named base describes the set briefly: read the CIDR list it
    summarizes; ``none`` is the empty set.
    """

    model_config = ConfigDict(frozen=True)

    base: PeerBase
    family: PeerFamily = "any"
    excluding: list[str] = Field(default_factory=list)


class RegionPart(BaseModel):
    """One protocol's share of a finding's region, exactly.

    The part claims every (protocol, port, peer) combination of ``ports`` x
    ``peers`` and nothing else; a finding's region is the union of its parts.
    """

    model_config = ConfigDict(frozen=True)

    #: ``tcp``, ``udp``, another named protocol (``icmp``, ``icmpv6``), an IP
    #: protocol number (``47``), or ``other``: every protocol not in ``excluding``.
    protocol: str
    #: Inclusive destination port ranges, sorted and disjoint; ``tcp``/``udp`` only.
    #: Empty for protocols without ports: the part covers the whole protocol.
    ports: list[PortRange] = Field(default_factory=list)
    #: The remote side: exact CIDRs (fewest, IPv4 first). Symbolic ``kind:value``
    #: peers only where nothing resolves (SWYX005).
    peers: list[str] = Field(default_factory=list)
    #: For ``other``: the protocols it does not cover (they have parts of their
    #: own, or are not part of the region). Empty for every other protocol.
    excluding: list[str] = Field(default_factory=list)
    #: ``peers`` characterised for wording (None for symbolic peers).
    peers_summary: PeerSummary | None = None

    def canonical_text(self) -> str:
        """The part as canonical text, e.g. ``tcp 80-80,443-443 <- 0.0.0.0/0``:
        what fingerprints hash and cross-source comparisons compare."""
        ports = ",".join(str(p) for p in self.ports)
        excluding = f" -{','.join(self.excluding)}" if self.excluding else ""
        return f"{self.protocol}{excluding} {ports} <- {','.join(self.peers)}"

    def key(self) -> tuple[object, ...]:
        """Canonical order: tcp, udp, named protocols, numbers, other; then ports, peers."""
        return (
            protocol_rank(self.protocol),
            tuple((p.lo, p.hi) for p in self.ports),
            tuple(self.peers),
            tuple(self.excluding),
        )


def protocol_rank(protocol: str) -> tuple[int, int, str]:
    if protocol in ("tcp", "udp"):
        return (0, 0, protocol)
    if protocol == OTHER_PROTOCOLS:
        return (3, 0, protocol)
    if protocol.isdigit():
        return (2, int(protocol), protocol)
    return (1, 0, protocol)


class AssumedParameterHint(BaseModel):
    """The finding's ports lie just above a range the catalog sized from a default
    the document does not give: the deployment may simply use more than assumed
    (a RemoteConnector with more connections), which the parameter says."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["assumed_parameter"] = "assumed_parameter"
    #: The parameter (``TypicalConnections``), its assumed value, and the role
    #: whose ``role_parameters`` set it.
    parameter: str
    value: int | str | list[int]
    role: str
    #: The catalog rows whose range it is, and the range as assumed.
    rows: list[str]
    assumed_range: PortRange
    #: The finding's ports the hint is about, and the smallest value of the
    #: parameter whose range would cover them.
    ports: list[PortRange]
    covering: int


class UncertainRowsHint(BaseModel):
    """The finding cites rows the document marks with ``?``."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["uncertain_rows"] = "uncertain_rows"
    rows: list[str]


Hint = Annotated[AssumedParameterHint | UncertainRowsHint, Field(discriminator="kind")]


class Finding(BaseModel):
    """One conclusion, merged per (VM, responsible rules, kind).

    Only data: the words a report shows are rendered from these fields by
    ``policycheck.report.common.message``.
    """

    model_config = ConfigDict(frozen=True)

    rule_id: RuleId
    level: Level
    provider: Provider
    vm_id: str
    vm_name: str
    direction: Direction
    #: The exact excess (SWYX001/002/004), missing (SWYX003) or rule (SWYX005/007)
    #: region, in canonical order; empty for a finding about a whole VM.
    region: list[RegionPart] = Field(default_factory=list)
    #: ``peers`` (the union of the parts' peers) characterised for wording; None
    #: when they are symbols or empty.
    peers_summary: PeerSummary | None = None
    rules: list[RuleRef] = Field(default_factory=list)
    #: Catalog rows the region was compared against.
    catalog_rows: list[str] = Field(default_factory=list)
    #: The VM's recognised Swyx roles (what its access was compared with).
    roles: list[str] = Field(default_factory=list)
    #: SWYX002: who may reach the finding's ports (union over its ports).
    documented_peers: list[str] = Field(default_factory=list)
    documented_summary: PeerSummary | None = None
    #: SWYX003: what is required, and the port alternatives (any one suffices).
    requirement: str | None = None
    alternatives: list[list[PortRange]] = Field(default_factory=list)
    #: SWYX005: what could not be resolved; SWYX006: unknown role slugs.
    unresolved: list[str] = Field(default_factory=list)
    #: What changes what to do about the finding: an assumed parameter its ports lie
    #: just above (SWYX001), uncertain rows it cites (SWYX002). Not part of its identity.
    hints: list[Hint] = Field(default_factory=list)
    remediation: str
    suppression: Suppression | None = None

    @field_validator("region")
    @classmethod
    def _canonical_order(cls, value: list[RegionPart]) -> list[RegionPart]:
        # Part order carries no meaning, so it never changes fingerprints or
        # comparisons, whoever built the finding (engine, Rego, a JSON report).
        return sorted(value, key=RegionPart.key)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def peers(self) -> list[str]:
        """The union of the parts' peers: fewest CIDRs (IPv4 first), then symbols."""
        return union_peers(p.peers for p in self.region)

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

    @property
    def protocols(self) -> list[str]:
        """The region's protocols in canonical order, each once."""
        return list(dict.fromkeys(part.protocol for part in self.region))

    def fingerprint(self) -> str:
        """Stable across runs and unrelated edits: no line numbers, no ordering.

        Identity is the rule, VM, resource, direction and the canonical region;
        what could not be resolved tells apart SWYX005 findings without a region.
        """
        parts = [
            self.rule_id,
            self.vm_id,
            self.resource,
            self.direction,
            *(p.canonical_text() for p in self.region),
            ",".join(sorted(self.unresolved)),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    def sort_key(self) -> tuple[object, ...]:
        """Level (worst first), VM, rule id, resource, region; the fingerprint breaks ties."""
        return (
            -LEVEL_ORDER[self.level],
            self.vm_name,
            self.vm_id,
            self.rule_id,
            self.resource,
            tuple(p.key() for p in self.region),
            self.direction,
            self.fingerprint(),
        )


def union_peers(lists: Iterable[list[str]]) -> list[str]:
    """Peers of several parts as one exact list: CIDRs collapsed, symbols kept."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    symbols: dict[str, None] = {}
    for peers in lists:
        for peer in peers:
            try:
                net = ipaddress.ip_network(peer, strict=False)
            except ValueError:
                symbols[peer] = None
                continue
            if isinstance(net, ipaddress.IPv4Network):
                v4.append(net)
            else:
                v6.append(net)
    cidrs = [str(n) for n in ipaddress.collapse_addresses(v4)]
    cidrs += [str(n) for n in ipaddress.collapse_addresses(v6)]
    return cidrs + list(symbols)


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
