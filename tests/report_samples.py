"""Hand-built ScanResults for the report tests.

They mirror the broken reference estate (fixtures/ESTATE.md) on all three clouds,
so every SWYX id appears several times, with multi-protocol regions (B3's
all-protocols rule, Azure's AllowVnetInBound): the AWS findings carry Terraform
provenance (file and lines), the Azure and GCP ones come from a live scan (cloud
ids, no file), one Azure finding is suppressed and one subscription could not be
read. Reports must render exactly what is here; nothing is evaluated.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from policycheck.findings import (
    RULES,
    CheckedVM,
    Finding,
    PeerSummary,
    RegionPart,
    RoleOrigin,
    RuleRef,
    ScanResult,
    Suppression,
    VMRole,
)
from policycheck.model import CollectionError, PortRange, Provenance

AWS_VM = "i-0a1b2c3d4e5f60718"
AZURE_VM = (
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/swyx"
    "/providers/Microsoft.Compute/virtualMachines/pbx1"
)
AZURE_NSG = (
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/swyx"
    "/providers/Microsoft.Network/networkSecurityGroups/pbx1-nsg"
)
GCP_FIREWALLS = "https://www.googleapis.com/compute/v1/projects/swyx-prod/global/firewalls"
GCP_VM = "https://www.googleapis.com/compute/v1/projects/swyx-prod/zones/europe-west3-a/instances"
TF_FILE = "modules/pbx/security.tf"


def ports(*specs: str) -> list[PortRange]:
    return [PortRange.parse(s) for s in specs]


def tf_ref(
    rule_id: str, name: str, address: str, start: int, end: int, *, action: str | None = None
) -> RuleRef:
    """A rule declared in Terraform: address plus file and lines."""
    return RuleRef(
        firewall_id="sg-0123456789abcdef0",
        firewall_name="swyx-pbx",
        rule_id=rule_id,
        rule_name=name,
        action=action,
        provenance=Provenance(
            source="terraform",
            address=address,
            file=TF_FILE,
            start_line=start,
            end_line=end,
        ),
    )


def azure_ref(rule_name: str, *, priority: int | None = None) -> RuleRef:
    return RuleRef(
        firewall_id=AZURE_NSG,
        firewall_name="pbx1-nsg",
        rule_id=f"{AZURE_NSG}/securityRules/{rule_name}",
        rule_name=rule_name,
        action="allow" if priority is not None else None,
        priority=priority,
        provenance=Provenance(
            source="azure",
            cloud_id=f"{AZURE_NSG}/securityRules/{rule_name}",
            scope="11111111-2222-3333-4444-555555555555",
            region="westeurope",
        ),
    )


def gcp_ref(rule_name: str, *, priority: int | None = None) -> RuleRef:
    return RuleRef(
        firewall_id=f"{GCP_FIREWALLS}/{rule_name}",
        firewall_name=rule_name,
        rule_id=rule_name,
        action="allow" if priority is not None else None,
        priority=priority,
        provenance=Provenance(
            source="gcp", cloud_id=f"{GCP_FIREWALLS}/{rule_name}", scope="swyx-prod"
        ),
    )


INTERNET_V4 = PeerSummary(base="internet", family="ipv4")
ANYWHERE_V4 = PeerSummary(base="anywhere", family="ipv4")
ANYWHERE_V6 = PeerSummary(base="anywhere", family="ipv6")
CIDRS = PeerSummary(base="cidrs")


def part(
    protocol: str,
    *port_specs: str,
    peers: list[str],
    summary: PeerSummary | None = CIDRS,
    excluding: list[str] | None = None,
) -> RegionPart:
    """One region part: ``part("tcp", "3389", peers=["0.0.0.0/0"])``."""
    return RegionPart(
        protocol=protocol,
        ports=ports(*port_specs),
        peers=peers,
        excluding=excluding or [],
        peers_summary=summary,
    )


def finding(
    rule_id: str,
    *,
    provider: str,
    vm_id: str,
    vm_name: str = "pbx1",
    direction: str = "inbound",
    region: list[RegionPart] | None = None,
    rules: list[RuleRef] | None = None,
    catalog_rows: list[str] | None = None,
    suppression: Suppression | None = None,
    **details: Any,
) -> Finding:
    """A finding with the rule's default level and remediation; the union of the
    parts' peers is summarized as the parts' summary when they agree."""
    info = RULES[rule_id]
    parts = region or []
    summaries = [p.peers_summary for p in parts]
    return Finding.model_validate(
        {
            "rule_id": rule_id,
            "level": info.level,
            "provider": provider,
            "vm_id": vm_id,
            "vm_name": vm_name,
            "direction": direction,
            "region": parts,
            "peers_summary": summaries[0]
            if summaries.count(summaries[0] if summaries else None) == len(summaries) and summaries
            else CIDRS,
            "rules": rules or [],
            "catalog_rows": catalog_rows or [],
            "roles": ["swyxware-server"],
            "remediation": info.remediation,
            "suppression": suppression,
            **details,
        }
    )


#: B3's exact excess on pbx1: undocumented tcp and udp ranges and every other protocol.
B3_TCP = ("0-5059", "5061-9092", "9095-9099", "9102-9199", "9201-9999", "15001-16202")
B3_TCP_MORE = ("16204-57202", "57204-65000", "65003-65535")


def aws_findings() -> list[Finding]:
    """Terraform plan of the broken estate: every finding has a file and lines."""
    aws: dict[str, Any] = {"provider": "aws", "vm_id": AWS_VM}
    return [
        finding(
            "SWYX001",
            **aws,
            region=[part("tcp", "3389", peers=["0.0.0.0/0"], summary=ANYWHERE_V4)],
            rules=[tf_ref("B1", "rdp", "module.pbx.aws_security_group_rule.rdp", 12, 20)],
        ),
        finding(
            "SWYX002",
            **aws,
            region=[part("tcp", "5060", peers=["0.0.0.0/0"], summary=ANYWHERE_V4)],
            rules=[tf_ref("B2", "sip", "module.pbx.aws_security_group_rule.sip", 22, 30)],
            catalog_rows=["swyxware-server/inbound/CallControl/SIP/TCP/5060"],
            documented_peers=["10.0.0.0/8"],
            documented_summary=CIDRS,
        ),
        finding(
            "SWYX001",
            **aws,
            region=[
                part("tcp", *B3_TCP, *B3_TCP_MORE, peers=["10.0.0.0/8"]),
                part("udp", "0-5059", "5061-9999", peers=["10.0.0.0/8"]),
                part("other", peers=["10.0.0.0/8"], excluding=["tcp", "udp"]),
            ],
            rules=[tf_ref("B3", "internal-any", "module.pbx.aws_security_group.pbx", 1, 60)],
        ),
        finding(
            "SWYX002",
            **aws,
            region=[part("udp", "10000-15000", peers=["10.0.0.0/8"])],
            rules=[tf_ref("B3", "internal-any", "module.pbx.aws_security_group.pbx", 1, 60)],
            catalog_rows=["remote-connector/inbound/CallControl/SIP/UDP/10000-15000"],
            documented_summary=PeerSummary(base="none"),
        ),
        finding(
            "SWYX001",
            **aws,
            region=[part("tcp", "22", peers=["::/0"], summary=ANYWHERE_V6)],
            rules=[tf_ref("B4", "ssh", "module.pbx.aws_security_group_rule.ssh", 32, 40)],
        ),
        finding(
            "SWYX004",
            **aws,
            direction="outbound",
            region=[
                part("tcp", "0-65535", peers=["0.0.0.0/0"], summary=ANYWHERE_V4),
                part("udp", "0-65535", peers=["0.0.0.0/0"], summary=ANYWHERE_V4),
                part("other", peers=["0.0.0.0/0"], summary=ANYWHERE_V4, excluding=["tcp", "udp"]),
            ],
            rules=[
                tf_ref(
                    "E1", "egress-all", "module.pbx.aws_security_group.pbx", 52, 58, action="allow"
                )
            ],
        ),
        finding(
            "SWYX005",
            **aws,
            region=[part("tcp", "8443", peers=["unknown:cidr_blocks"], summary=None)],
            rules=[
                tf_ref(
                    "B9",
                    "portal",
                    "module.pbx.aws_security_group_rule.portal",
                    42,
                    50,
                    action="allow",
                )
            ],
            unresolved=["cidr_blocks (known after apply)"],
        ),
        finding(
            "SWYX006",
            provider="aws",
            vm_id="i-0fedcba9876543210",
            vm_name="media1",
            roles=[],
            unresolved=["media`server|x"],
        ),
    ]


def azure_findings() -> list[Finding]:
    """Live Azure scan: cloud ids, no files; one finding is suppressed."""
    azure: dict[str, Any] = {"provider": "azure", "vm_id": AZURE_VM}
    return [
        finding(
            "SWYX001",
            **azure,
            region=[part("tcp", "3389", peers=["0.0.0.0/0"], summary=ANYWHERE_V4)],
            rules=[azure_ref("allow-rdp")],
            suppression=Suppression(
                reason="Vendor support access until the migration, ticket OPS-1234",
                expires=dt.date(2031, 3, 31),
                match="suppressions[0]",
            ),
        ),
        finding(
            "SWYX001",
            **azure,
            region=[
                part("tcp", "0-5059", "5061-65535", peers=["10.0.0.0/16"]),
                part("udp", "0-5059", "5061-65535", peers=["10.0.0.0/16"]),
                part("icmp", peers=["10.0.0.0/16"]),
                part("other", peers=["10.0.0.0/16"], excluding=["icmp", "tcp", "udp"]),
            ],
            rules=[azure_ref("AllowVnetInBound")],
        ),
        finding(
            "SWYX004",
            **azure,
            direction="outbound",
            region=[
                part("tcp", "0-65535", peers=["0.0.0.0/5"], summary=INTERNET_V4),
                part("udp", "0-65535", peers=["0.0.0.0/5"], summary=INTERNET_V4),
            ],
            rules=[azure_ref("AllowInternetOutBound")],
        ),
        finding(
            "SWYX003",
            **azure,
            region=[part("udp", "51000-51499", peers=["10.0.0.0/8"])],
            catalog_rows=["swyxware-server/inbound/Audio/RTP/UDP/51000-51499"],
            requirement="RTP audio from internal clients",
            alternatives=[ports("51000-51499")],
        ),
        finding(
            "SWYX007",
            **azure,
            region=[part("tcp", "9094", peers=["10.0.0.0/8"])],
            rules=[azure_ref("allow-cds-late", priority=400), azure_ref("deny-all-early")],
        ),
    ]


def gcp_findings() -> list[Finding]:
    gcp: dict[str, Any] = {"provider": "gcp", "vm_id": f"{GCP_VM}/pbx1"}
    return [
        finding(
            "SWYX001",
            **gcp,
            region=[part("udp", "0-5059", "5061-65535", peers=["10.0.0.0/8"])],
            rules=[gcp_ref("b8-udp-internal")],
        ),
        finding(
            "SWYX002",
            **gcp,
            region=[part("tcp", "5060", peers=["0.0.0.0/0"], summary=ANYWHERE_V4)],
            rules=[gcp_ref("b2-sip")],
            documented_peers=["10.0.0.0/8"],
            documented_summary=CIDRS,
        ),
        finding(
            "SWYX003",
            **gcp,
            region=[part("tcp", "9094", peers=["10.0.0.0/8"])],
            catalog_rows=["cds/inbound/CDS API (configuration)/WCF/TCP/9094"],
            requirement="the CDS configuration API from internal clients",
            alternatives=[ports("9094")],
        ),
        finding(
            "SWYX005",
            **gcp,
            region=[
                part(
                    "tcp",
                    "9200",
                    peers=["service_account:provisioner@other-project.iam.gserviceaccount.com"],
                    summary=None,
                )
            ],
            rules=[gcp_ref("provisioning-from-sa")],
            unresolved=["service_account:provisioner@other-project.iam.gserviceaccount.com"],
        ),
        finding(
            "SWYX006",
            provider="gcp",
            vm_id=f"{GCP_VM}/worker-7",
            vm_name="worker-7",
            roles=[],
        ),
        finding(
            "SWYX007",
            **gcp,
            region=[part("tcp", "16203", "57203", peers=["0.0.0.0/0"], summary=ANYWHERE_V4)],
            rules=[gcp_ref("allow-rc-dup", priority=1100), gcp_ref("b5-remote-connector")],
        ),
    ]


def checked_vm(
    provider: str, vm_id: str, name: str, roles: dict[str, list[RoleOrigin]], **prov: Any
) -> CheckedVM:
    return CheckedVM.model_validate(
        {
            "provider": provider,
            "id": vm_id,
            "name": name,
            "provenance": {"source": prov.pop("source", provider), **prov},
            "roles": [VMRole(role=r, origins=o) for r, o in roles.items()],
            **({"unknown_roles": prov.pop("unknown")} if "unknown" in prov else {}),
        }
    )


ROLES_TAG = RoleOrigin(kind="vm_tag", key="swyx-roles")
CLEAN_VM = "cds1"


def checked_vms() -> list[CheckedVM]:
    """The VMs of :func:`mixed_result`: their roles with origins, and one clean VM."""
    return [
        checked_vm(
            "aws",
            AWS_VM,
            "pbx1",
            {"swyxware-server": [ROLES_TAG], "cds": [ROLES_TAG]},
            source="terraform",
            address="module.pbx.aws_instance.pbx1",
            file="modules/pbx/main.tf",
            start_line=3,
            end_line=30,
        ),
        checked_vm(
            "aws",
            "i-0fedcba9876543210",
            "media1",
            {},
            source="terraform",
            address="aws_instance.media1",
            file="main.tf",
            start_line=40,
        ),
        checked_vm(
            "azure",
            AZURE_VM,
            "pbx1",
            {
                "swyxware-server": [
                    ROLES_TAG,
                    RoleOrigin(kind="firewall_tag", key="swyx-roles", firewall="pbx1-nsg"),
                ]
            },
            cloud_id=AZURE_VM,
        ),
        checked_vm(
            "gcp",
            f"{GCP_VM}/pbx1",
            "pbx1",
            {
                "swyxware-server": [
                    RoleOrigin(kind="network_tag", key="swyx-role-swyxware-server")
                ],
                "remote-connector": [
                    RoleOrigin(kind="network_tag", key="swyx-role-remote-connector")
                ],
            },
            cloud_id=f"{GCP_VM}/pbx1",
        ),
        checked_vm("gcp", f"{GCP_VM}/worker-7", "worker-7", {}, cloud_id=f"{GCP_VM}/worker-7"),
        checked_vm(
            "gcp",
            f"{GCP_VM}/{CLEAN_VM}",
            CLEAN_VM,
            {"cds": [RoleOrigin(kind="profile", key="role_assignments[0]")]},
            cloud_id=f"{GCP_VM}/{CLEAN_VM}",
        ),
    ]


COLLECTION_ERROR = CollectionError(
    provider="azure",
    scope="subscription 99999999-0000-0000-0000-000000000000",
    message="AuthorizationFailed: the client may not read Microsoft.Network/networkSecurityGroups",
)


def mixed_result() -> ScanResult:
    """All three clouds, every rule id, a suppression and a collection error."""
    findings = [*aws_findings(), *azure_findings(), *gcp_findings()]
    return ScanResult(
        tool_version="0.1.0",
        sources=[
            "aws:123456789012",
            "azure:11111111-2222-3333-4444-555555555555",
            "gcp:swyx-prod",
        ],
        vm_count=6,
        firewall_count=9,
        vms=checked_vms(),
        # Reversed so that the reports' own ordering is what the tests see.
        findings=list(reversed(findings)),
        errors=[COLLECTION_ERROR],
    )


def terraform_result() -> ScanResult:
    """A Terraform scan: findings without a file fall back to the plan path."""
    return ScanResult(
        tool_version="0.1.0",
        sources=["terraform:plans/broken.json"],
        vm_count=2,
        firewall_count=1,
        findings=aws_findings(),
    )


def clean_result() -> ScanResult:
    return ScanResult(
        tool_version="0.1.0",
        sources=["snapshot:fixtures/compliant.json"],
        vm_count=1,
        vms=[checked_vms()[-1]],
    )


def with_shifted_lines(result: ScanResult, delta: int) -> ScanResult:
    """The same findings after an unrelated edit moved every declaration."""

    def shift(ref: RuleRef) -> RuleRef:
        prov = ref.provenance
        if prov.start_line is None:
            return ref
        moved = prov.model_copy(
            update={"start_line": prov.start_line + delta, "end_line": (prov.end_line or 0) + delta}
        )
        return ref.model_copy(update={"provenance": moved})

    findings = [
        f.model_copy(update={"rules": [shift(r) for r in f.rules]}) for f in result.findings
    ]
    return result.model_copy(update={"findings": findings})
