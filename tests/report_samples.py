"""Hand-built ScanResults for the report tests.

They mirror the broken reference estate (fixtures/ESTATE.md) on all three clouds,
so every SWYX id appears several times: the AWS findings carry Terraform
provenance (file and lines), the Azure and GCP ones come from a live scan (cloud
ids, no file), one Azure finding is suppressed and one subscription could not be
read. Reports must render exactly what is here; nothing is evaluated.
"""

from __future__ import annotations

import datetime as dt

from policycheck.findings import RULES, Finding, RuleRef, ScanResult, Suppression
from policycheck.model import ALL_PORTS, CollectionError, PortRange, Provenance

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


def tf_ref(rule_id: str, name: str, address: str, start: int, end: int) -> RuleRef:
    """A rule declared in Terraform: address plus file and lines."""
    return RuleRef(
        firewall_id="sg-0123456789abcdef0",
        firewall_name="swyx-pbx",
        rule_id=rule_id,
        rule_name=name,
        provenance=Provenance(
            source="terraform",
            address=address,
            file=TF_FILE,
            start_line=start,
            end_line=end,
        ),
    )


def azure_ref(rule_name: str) -> RuleRef:
    return RuleRef(
        firewall_id=AZURE_NSG,
        firewall_name="pbx1-nsg",
        rule_id=f"{AZURE_NSG}/securityRules/{rule_name}",
        rule_name=rule_name,
        provenance=Provenance(
            source="azure",
            cloud_id=f"{AZURE_NSG}/securityRules/{rule_name}",
            scope="11111111-2222-3333-4444-555555555555",
            region="westeurope",
        ),
    )


def gcp_ref(rule_name: str) -> RuleRef:
    return RuleRef(
        firewall_id=f"{GCP_FIREWALLS}/{rule_name}",
        firewall_name=rule_name,
        rule_id=rule_name,
        provenance=Provenance(
            source="gcp", cloud_id=f"{GCP_FIREWALLS}/{rule_name}", scope="swyx-prod"
        ),
    )


def finding(
    rule_id: str,
    *,
    provider: str,
    vm_id: str,
    vm_name: str = "pbx1",
    direction: str = "inbound",
    protocol: str = "tcp",
    port_ranges: list[PortRange] | None = None,
    peers: list[str] | None = None,
    rules: list[RuleRef] | None = None,
    catalog_rows: list[str] | None = None,
    message: str = "",
    suppression: Suppression | None = None,
) -> Finding:
    """A finding with the rule's default level and remediation."""
    info = RULES[rule_id]
    return Finding.model_validate(
        {
            "rule_id": rule_id,
            "level": info.level,
            "provider": provider,
            "vm_id": vm_id,
            "vm_name": vm_name,
            "direction": direction,
            "protocol": protocol,
            "ports": port_ranges or [],
            "peers": peers or [],
            "rules": rules or [],
            "catalog_rows": catalog_rows or [],
            "message": message or info.description,
            "remediation": info.remediation,
            "suppression": suppression,
        }
    )


def aws_findings() -> list[Finding]:
    """Terraform plan of the broken estate: every finding has a file and lines."""
    aws = {"provider": "aws", "vm_id": AWS_VM}
    return [
        finding(
            "SWYX001",
            **aws,
            port_ranges=ports("3389"),
            peers=["0.0.0.0/0"],
            rules=[tf_ref("B1", "rdp", "module.pbx.aws_security_group_rule.rdp", 12, 20)],
            message="tcp 3389 is open to the internet; no role of pbx1 documents it.",
        ),
        finding(
            "SWYX002",
            **aws,
            port_ranges=ports("5060"),
            peers=["0.0.0.0/0"],
            rules=[tf_ref("B2", "sip", "module.pbx.aws_security_group_rule.sip", 22, 30)],
            catalog_rows=["swyxware-server/inbound/CallControl/SIP/TCP/5060"],
            message="SIP 5060 is documented for internal peers only, but open to 0.0.0.0/0.",
        ),
        finding(
            "SWYX001",
            **aws,
            protocol="all",
            port_ranges=[ALL_PORTS],
            peers=["10.0.0.0/8"],
            rules=[tf_ref("B3", "internal-any", "module.pbx.aws_security_group.pbx", 1, 60)],
            message="All protocols and ports are open to 10.0.0.0/8.",
        ),
        finding(
            "SWYX002",
            **aws,
            protocol="udp",
            port_ranges=ports("10000-15000"),
            peers=["10.0.0.0/8"],
            rules=[tf_ref("B3", "internal-any", "module.pbx.aws_security_group.pbx", 1, 60)],
            catalog_rows=["remote-connector/inbound/CallControl/SIP/UDP/10000-15000"],
            message="The RemoteConnector SIP range stays on the VM but is open to 10.0.0.0/8.",
        ),
        finding(
            "SWYX001",
            **aws,
            port_ranges=ports("22"),
            peers=["::/0"],
            rules=[tf_ref("B4", "ssh", "module.pbx.aws_security_group_rule.ssh", 32, 40)],
            message="tcp 22 is open to every IPv6 address.",
        ),
        finding(
            "SWYX004",
            **aws,
            direction="outbound",
            protocol="all",
            port_ranges=[ALL_PORTS],
            peers=["0.0.0.0/0"],
            rules=[tf_ref("E1", "egress-all", "module.pbx.aws_security_group.pbx", 52, 58)],
            message="Egress allows every protocol to everywhere.",
        ),
        finding(
            "SWYX005",
            **aws,
            port_ranges=ports("8443"),
            peers=["unknown:cidr_blocks"],
            rules=[tf_ref("B9", "portal", "module.pbx.aws_security_group_rule.portal", 42, 50)],
            message="The source of tcp 8443 is known only after apply.",
        ),
        finding(
            "SWYX006",
            provider="aws",
            vm_id="i-0fedcba9876543210",
            vm_name="media1",
            protocol="all",
            message="media1 has no `swyx-roles` tag | its access cannot be compared.",
        ),
    ]


def azure_findings() -> list[Finding]:
    """Live Azure scan: cloud ids, no files; one finding is suppressed."""
    azure = {"provider": "azure", "vm_id": AZURE_VM}
    return [
        finding(
            "SWYX001",
            **azure,
            port_ranges=ports("3389"),
            peers=["0.0.0.0/0"],
            rules=[azure_ref("allow-rdp")],
            message="tcp 3389 is open to the internet.",
            suppression=Suppression(
                reason="Vendor support access until the migration, ticket OPS-1234",
                expires=dt.date(2031, 3, 31),
                match="suppressions[0]",
            ),
        ),
        finding(
            "SWYX001",
            **azure,
            protocol="all",
            port_ranges=[ALL_PORTS],
            peers=["service_tag:VirtualNetwork"],
            rules=[azure_ref("AllowVnetInBound")],
            message="The default AllowVnetInBound rule opens undocumented ports to the VNet.",
        ),
        finding(
            "SWYX004",
            **azure,
            direction="outbound",
            protocol="all",
            port_ranges=[ALL_PORTS],
            peers=["service_tag:Internet"],
            rules=[azure_ref("AllowInternetOutBound")],
            message="The default AllowInternetOutBound rule allows all egress.",
        ),
        finding(
            "SWYX003",
            **azure,
            protocol="udp",
            port_ranges=ports("51000-51499"),
            peers=["10.0.0.0/8"],
            catalog_rows=["swyxware-server/inbound/Audio/RTP/UDP/51000-51499"],
            message="RTP audio from internal clients is not allowed.",
        ),
        finding(
            "SWYX007",
            **azure,
            port_ranges=ports("9094"),
            peers=["10.0.0.0/8"],
            rules=[azure_ref("allow-cds-late"), azure_ref("deny-all-early")],
            message="allow-cds-late never applies: deny-all-early decides first.",
        ),
    ]


def gcp_findings() -> list[Finding]:
    gcp = {"provider": "gcp", "vm_id": f"{GCP_VM}/pbx1"}
    return [
        finding(
            "SWYX001",
            **gcp,
            protocol="udp",
            port_ranges=[ALL_PORTS],
            peers=["10.0.0.0/8"],
            rules=[gcp_ref("b8-udp-internal")],
            message="udp without ports opens every udp port to 10.0.0.0/8.",
        ),
        finding(
            "SWYX002",
            **gcp,
            port_ranges=ports("5060"),
            peers=["0.0.0.0/0"],
            rules=[gcp_ref("b2-sip")],
            message="SIP 5060 is open to the internet.",
        ),
        finding(
            "SWYX003",
            **gcp,
            port_ranges=ports("9094"),
            peers=["10.0.0.0/8"],
            catalog_rows=["cds/inbound/CDS API (configuration)/WCF/TCP/9094"],
            message="The CDS configuration API is not reachable from internal networks.",
        ),
        finding(
            "SWYX005",
            **gcp,
            port_ranges=ports("9200"),
            peers=["service_account:provisioner@other-project.iam.gserviceaccount.com"],
            rules=[gcp_ref("provisioning-from-sa")],
            message="The service account lives in another project; its members are unknown.",
        ),
        finding(
            "SWYX006",
            provider="gcp",
            vm_id=f"{GCP_VM}/worker-7",
            vm_name="worker-7",
            protocol="all",
            message="worker-7 has the target tag swyx-pbx but no swyx-role-* tag.",
        ),
        finding(
            "SWYX007",
            **gcp,
            port_ranges=ports("16203", "57203"),
            peers=["0.0.0.0/0"],
            rules=[gcp_ref("allow-rc-dup"), gcp_ref("b5-remote-connector")],
            message="allow-rc-dup repeats b5-remote-connector at a lower priority.",
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
        vm_count=5,
        firewall_count=9,
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
        tool_version="0.1.0", sources=["snapshot:fixtures/compliant.json"], vm_count=1
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
