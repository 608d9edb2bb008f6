"""Findings: what the engine concludes and every report renders.

The rule ids (SWYX001..SWYX008) are fixed: SARIF, JSON and the Rego policies use
the same ids, titles and default levels from :data:`RULES`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from policycheck.model import (
    CollectionError,
    Direction,
    FirewallObject,
    PortRange,
    Provenance,
    Provider,
    Rule,
)

Level = Literal["error", "warning", "note"]
#: A current finding's state against a baseline; ``absent`` ones are BaselineFinding.
FoundState = Literal["new", "unchanged"]
RuleId = Literal[
    "SWYX001", "SWYX002", "SWYX003", "SWYX004", "SWYX005", "SWYX006", "SWYX007", "SWYX008"
]
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
        RuleInfo(
            id="SWYX008",
            name="Drift",
            title="Drift between Terraform and the cloud",
            level="error",
            description=(
                "A firewall rule differs between the Terraform plan and the cloud: it exists "
                "in the cloud but not in the plan (added by hand), is declared in the plan "
                "but missing from the cloud, or exists in both with different values "
                "(policycheck drift)."
            ),
            remediation=(
                "Bring the rule into Terraform (or delete it in the cloud) so the code is the "
                "only way the firewall changes; for a missing or changed rule, apply the "
                "plan or find out who changed the cloud and why."
            ),
            security_severity=6.0,
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
    #: A rule nobody wrote: a platform default (Azure's default security rules),
    #: an implied rule (GCP), or the allow-all of a VM without a firewall.
    default: bool = False

    @classmethod
    def of(cls, firewall: FirewallObject, rule: Rule) -> RuleRef:
        """The reference to ``rule`` of ``firewall`` (a rule someone wrote)."""
        return cls(
            firewall_id=firewall.id,
            firewall_name=firewall.name,
            rule_id=rule.id,
            rule_name=rule.name,
            action=rule.action,
            priority=rule.priority,
            provenance=rule.provenance,
        )


#: Where a suppression is written, in SARIF's words: the deployment profile
#: (``external``) or a ``policycheck:ignore`` comment in the source (``inSource``).
SuppressionKind = Literal["external", "inSource"]


class Suppression(BaseModel):
    """The suppression that accepted a finding."""

    model_config = ConfigDict(frozen=True)

    reason: str
    expires: dt.date
    #: Which entry suppressed it, for the audit trail: ``suppressions[2]`` (the
    #: profile's list) or ``main.tf:36`` (the ignore comment).
    match: str
    kind: SuppressionKind = "external"
    #: The ignore comment's file and line (``inSource`` only).
    file: str | None = None
    line: int | None = None


#: What a suppression did in a scan: suppressed findings (``applied``), nothing
#: because its date has passed (``expired``), or nothing though valid (``unmatched``).
SuppressionState = Literal["applied", "expired", "unmatched"]


class SuppressionStatus(BaseModel):
    """One suppression the scan knew (profile entry or inline ignore) and what it did.

    Reports list the expired and unmatched ones, so an exception nobody needs any
    more, or one that silently stopped applying, is seen.
    """

    model_config = ConfigDict(frozen=True)

    kind: SuppressionKind
    match: str
    reason: str
    expires: dt.date
    #: The selectors as written, e.g. ``{"rule": "SWYX001", "tag": "env=lab"}``; an
    #: inline ignore's as ``{"rule": "SWYX001", "block": "lines 36-42"}`` (of ``file``).
    selectors: dict[str, str] = Field(default_factory=dict)
    state: SuppressionState
    #: applied: findings it suppressed; expired: findings it matches, active again
    #: because it expired; unmatched: 0.
    findings: int = 0
    file: str | None = None
    line: int | None = None


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

DriftKind = Literal["added", "missing", "changed"]


class DriftChange(BaseModel):
    """One field of a rule that differs, as each side states it."""

    model_config = ConfigDict(frozen=True)

    field: str
    plan: str
    cloud: str


class Drift(BaseModel):
    """SWYX008: how a rule differs between the Terraform plan and the cloud.

    ``added``: in the cloud, not in the plan; ``missing``: in the plan, not in the
    cloud; ``changed``: in both, with ``changes``. ``terraform_address`` is the
    rule's address in the plan (for ``added``, the address of the firewall object
    it was added to, when the plan declares that object); ``cloud_id`` is the
    cloud rule's id (for ``missing``, the cloud object's id, when it exists).
    """

    model_config = ConfigDict(frozen=True)

    kind: DriftKind
    terraform_address: str | None = None
    cloud_id: str | None = None
    changes: list[DriftChange] = Field(default_factory=list)


class PolicyRule(BaseModel):
    """A rule of a user Rego policy (``--policy-dir``), described by its METADATA
    annotations where present: what SARIF lists next to SWYX001-SWYX007."""

    model_config = ConfigDict(frozen=True)

    id: str
    #: PascalCase, for SARIF ``rules[].name``.
    name: str
    title: str
    description: str
    #: The level of the rule that reports it (deny: error, warn: warning, info: note).
    level: Level
    security_severity: float
    remediation: str = ""
    #: ``related_resources`` of the METADATA: links for the rule's help.
    related: list[str] = Field(default_factory=list)
    #: The Rego package and where the reporting rule is (``file.rego``, line).
    package: str
    file: str
    line: int


class PolicyOrigin(BaseModel):
    """What a user Rego policy said about a finding, besides its rule id."""

    model_config = ConfigDict(frozen=True)

    package: str
    #: The reporting rule: ``deny``, ``warn``, ``info`` or ``deny_<name>``...
    rule: str
    file: str
    line: int
    #: The rule's METADATA title (its id without one).
    title: str
    #: The policy's message, as it wrote it.
    message: str
    #: ``resource`` as the policy named it, when it names nothing in the input.
    resource: str | None = None
    #: Every other key of the policy's result object, as it gave it.
    details: dict[str, Any] = Field(default_factory=dict)


class Finding(BaseModel):
    """One conclusion, merged per (VM, responsible rules, kind).

    Only data: the words a report shows are rendered from these fields by
    ``policycheck.report.common.message``.
    """

    model_config = ConfigDict(frozen=True)

    #: ``SWYX001``..``SWYX007``, or a user policy's rule id (``policy`` says which).
    rule_id: str
    level: Level
    #: The VM the finding is about; a user policy's finding may be about a
    #: firewall or the whole estate instead (provider None, VM id and name "").
    provider: Provider | None
    vm_id: str
    vm_name: str
    #: None for a user policy's finding that names no direction.
    direction: Direction | None
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
    #: Set for findings of user Rego policies (``--policy-dir``).
    policy: PolicyOrigin | None = None
    #: Names of CIDRs this finding mentions (in ``region``, ``documented_peers``
    #: or a summary's ``excluding``): the profile's peer group whose entry it is,
    #: else the VM whose address it is (``VM pbx1``). For wording only.
    peer_names: dict[str, str] = Field(default_factory=dict)
    #: With ``--baseline``: ``new`` (its fingerprint is not in the baseline) or
    #: ``unchanged``; None without a baseline.
    baseline_state: FoundState | None = None
    #: SWYX008 only: how the rule drifted. A drift finding is about a firewall
    #: object, not a VM: ``vm_id``/``vm_name`` name that object.
    drift: Drift | None = None

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
            if self.policy is not None and self.policy.resource:
                return self.policy.resource
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
            self.direction or "",
            *(p.canonical_text() for p in self.region),
            ",".join(sorted(self.unresolved)),
            *([self.drift.kind] if self.drift is not None else []),
        ]
        if self.policy is not None:
            # A policy may report several things about one resource, and several
            # rules may share one resource (a GCP firewall's allow blocks).
            ref = self.primary
            parts += [self.policy.message, f"{ref.firewall_id}/{ref.rule_id}" if ref else ""]
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
            self.direction or "",
            self.fingerprint(),
        )


def union_peers(lists: Iterable[list[str]]) -> list[str]:
    """Peers of several parts as one exact list: CIDRs collapsed, symbols kept."""
    return list(_union_peers(tuple(tuple(peers) for peers in lists)))


# Every report renders each finding's peers (a large estate: ~12,000 findings,
# most of them naming one of a few peer lists), so a union is computed once per
# distinct list of lists and each spelling is parsed once.
@lru_cache(maxsize=1 << 14)
def _union_peers(lists: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    symbols: dict[str, None] = {}
    for peers in lists:
        for peer in peers:
            net = _network(peer)
            if net is None:
                symbols[peer] = None
            elif isinstance(net, ipaddress.IPv4Network):
                v4.append(net)
            else:
                v6.append(net)
    cidrs = [str(n) for n in ipaddress.collapse_addresses(v4)]
    cidrs += [str(n) for n in ipaddress.collapse_addresses(v6)]
    return (*cidrs, *symbols)


@lru_cache(maxsize=1 << 16)
def _network(peer: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The prefix ``peer`` spells, or None for a symbol (a group, a tag...)."""
    try:
        return ipaddress.ip_network(peer, strict=False)
    except ValueError:
        return None


RoleOriginKind = Literal["vm_tag", "network_tag", "firewall_tag", "profile"]


class RoleOrigin(BaseModel):
    """Where a VM's role came from."""

    model_config = ConfigDict(frozen=True)

    #: ``vm_tag``: a tag (AWS, Azure) or label (GCP) on the VM; ``network_tag``: a
    #: GCP network tag on the VM; ``firewall_tag``: a tag on a firewall object that
    #: applies to the VM; ``profile``: the profile's ``role_assignments``.
    kind: RoleOriginKind
    #: The tag key or network tag (``swyx-roles``, ``swyx-role-cds``), or the
    #: profile entry (``role_assignments[0]``).
    key: str
    #: For ``firewall_tag``: the firewall object's name.
    firewall: str | None = None


class VMRole(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: str
    #: Every place that names the role, in the order they were read.
    origins: list[RoleOrigin] = Field(default_factory=list)


class CheckedVM(BaseModel):
    """A VM the scan checked, whether or not it has findings."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    id: str
    name: str
    provenance: Provenance
    #: Its recognised Swyx roles, each with where it came from.
    roles: list[VMRole] = Field(default_factory=list)
    #: Role slugs its markers name that the catalog does not know.
    unknown_roles: list[str] = Field(default_factory=list)

    @property
    def resource(self) -> str:
        """The Terraform address, else the cloud id: what a reader searches for."""
        return self.provenance.address or self.provenance.cloud_id or self.id

    def sort_key(self) -> tuple[str, str, str]:
        """Reports list VMs by name (then provider, id): the same order whether a
        scan ran whole or in shards that were merged."""
        return (self.name, self.provider, self.id)


class BaselineFinding(BaseModel):
    """A finding of a baseline report, as that report described it: enough to
    match it (``fingerprint``) and to report it as absent when it is gone."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    rule_id: RuleId
    level: Level
    provider: str
    vm_id: str
    vm_name: str
    direction: str
    resource: str
    message: str
    #: Where it was reported: the declaring file and lines, else None (live scans).
    file: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    #: Whether it was suppressed in the baseline.
    suppressed: bool = False


class BaselineComparison(BaseModel):
    """This scan against a previous report (``--baseline``)."""

    model_config = ConfigDict(frozen=True)

    #: The baseline file as given, and what it was: a JSON report or a SARIF log.
    path: str
    kind: Literal["json", "sarif"]
    #: How many findings the baseline had (its absent results not counted).
    baseline_findings: int
    #: Findings of the baseline this scan no longer has (fixed, or gone), in the
    #: baseline's order.
    absent: list[BaselineFinding] = Field(default_factory=list)


class ShardMark(BaseModel):
    """Which part of which scan a shard report is: part ``index`` of ``count`` of a
    ``scan`` of this kind (terraform, snapshot, aws, azure, gcp)."""

    model_config = ConfigDict(frozen=True)

    index: int
    count: int
    scan: str

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


#: A checked flow's status (``--evidence``): ``required_open`` (a flow the
#: deployment needs, allowed), ``documented_open`` / ``documented_closed`` (a
#: documented flow allowed only from its peers, or not at all), and per direction
#: ``undocumented_closed`` (nothing beyond the documented flows is allowed). The
#: failing statuses ``required_blocked``, ``documented_too_broad`` and
#: ``undocumented_open`` name the findings that say why.
EvidenceStatus = Literal[
    "required_open",
    "required_blocked",
    "documented_open",
    "documented_closed",
    "documented_too_broad",
    "undocumented_closed",
    "undocumented_open",
]
PASSING: frozenset[str] = frozenset(
    {"required_open", "documented_open", "documented_closed", "undocumented_closed"}
)


class FlowEvidence(BaseModel):
    """One checked flow of a VM and how it fared."""

    model_config = ConfigDict(frozen=True)

    direction: Direction
    #: ``tcp``, ``udp``, ... For ``undocumented_*``: ``all`` (everything the
    #: documented flows of that direction do not cover).
    protocol: str
    ports: list[PortRange] = Field(default_factory=list)
    #: Who may reach it (CIDRs; empty: the flow stays on the VM).
    peers: list[str] = Field(default_factory=list)
    #: Catalog rows (and ``profile:``/``sip_trunk:`` entries) behind the flow.
    rows: list[str] = Field(default_factory=list)
    role: str | None = None
    required: bool = False
    status: EvidenceStatus
    #: The flow's ports that are open from its peers (empty: closed).
    open_ports: list[PortRange] = Field(default_factory=list)
    #: Fingerprints of the findings behind a failing status.
    findings: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return self.status in PASSING


class VMEvidence(BaseModel):
    """Every flow checked for one VM (``--evidence``)."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    vm_id: str
    vm_name: str
    roles: list[str] = Field(default_factory=list)
    flows: list[FlowEvidence] = Field(default_factory=list)

    def sort_key(self) -> tuple[str, str, str]:
        """As CheckedVM.sort_key: the same order for a whole scan and merged shards."""
        return (self.vm_name, self.provider, self.vm_id)


class ScanResult(BaseModel):
    """Everything a report needs; reports never recompute any of it."""

    tool_version: str
    sources: list[str] = Field(default_factory=list)
    #: The deployment profile file the scan used; None for the built-in defaults.
    profile: str | None = None
    vm_count: int = 0
    firewall_count: int = 0
    #: Every VM checked (in CheckedVM.sort_key order), with its roles: the clean ones too.
    vms: list[CheckedVM] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    errors: list[CollectionError] = Field(default_factory=list)
    #: The rules of the user Rego policies that ran (``--policy-dir``).
    policy_rules: list[PolicyRule] = Field(default_factory=list)
    #: Every suppression of the profile and every inline ignore, with its state.
    suppressions: list[SuppressionStatus] = Field(default_factory=list)
    #: Set when the scan was compared with a baseline: then every finding has a
    #: ``baseline_state`` and only new ones can fail a run.
    baseline: BaselineComparison | None = None
    #: Set when this is one shard of a scan (``--shard``); merge checks all N came.
    shard: ShardMark | None = None
    #: Each VM's checked flows and their status; None unless asked for (``--evidence``).
    evidence: list[VMEvidence] | None = None

    @property
    def incomplete(self) -> bool:
        return bool(self.errors)

    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.suppression is None]

    def gating(self) -> list[Finding]:
        """The findings that decide the exit code: the active ones, and with a
        baseline only those new since it."""
        if self.baseline is None:
            return self.active()
        return [f for f in self.active() if f.baseline_state == "new"]

    def suppressions_in(self, state: SuppressionState) -> list[SuppressionStatus]:
        return [s for s in self.suppressions if s.state == state]
