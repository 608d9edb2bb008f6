"""The GCP collector in-process, through the real google-cloud-compute SDK and
google-auth, against the local fake Compute API (tests/gcp_fake.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from gcp_fake import READONLY_SCOPE, FakeCompute, gcp_fake, isolated_env
from google.cloud import compute_v1
from google.oauth2 import service_account

from policycheck.errors import InputError
from policycheck.model import (
    VM,
    Attachment,
    CollectionError,
    FirewallObject,
    Inventory,
    Network,
    Provenance,
)
from policycheck.sources import gcp
from policycheck.sources.gcp import GcpOptions, collect

__all__ = ["gcp_fake"]  # the fixture, imported so pytest finds it

API = "https://www.googleapis.com/compute/v1"
W4, W6, TEN = ("0.0.0.0/0",), ("::/0",), ("10.0.0.0/8",)
PBX = ("network_tag:swyx-pbx",)
ALL = ("0-65535",)
ROLE_TAGS = (
    "swyx-pbx",
    "swyx-role-swyxware-server",
    "swyx-role-cds",
    "swyx-role-linkmanager",
    "swyx-role-remote-connector",
)
#: (rule id, direction, action, priority, protocol, ports, peers, targets, disabled, unknown)
RuleRow = tuple[
    str,
    str,
    str,
    int | None,
    str,
    tuple[str, ...],
    tuple[str, ...],
    tuple[str, ...],
    bool,
    tuple[str, ...],
]


def _row(
    rid: str,
    prio: int,
    proto: str,
    ports: tuple[str, ...],
    peers: tuple[str, ...],
    *,
    action: str = "allow",
    direction: str = "inbound",
    targets: tuple[str, ...] = PBX,
    disabled: bool = False,
    unknown: tuple[str, ...] = (),
) -> RuleRow:
    return (rid, direction, action, prio, proto, ports, peers, targets, disabled, unknown)


EXPECTED_BROKEN: dict[str, list[RuleRow]] = {
    "b1-allow-rdp": [_row("b1-allow-rdp", 1000, "tcp", ("3389-3389",), W4)],
    "b2-allow-sip-tcp": [_row("b2-allow-sip-tcp", 1010, "tcp", ("5060-5060",), W4)],
    "b3-allow-internal-all": [_row("b3-allow-internal-all", 1020, "all", ALL, TEN)],
    "b4-allow-ssh-v6": [_row("b4-allow-ssh-v6", 1030, "tcp", ("22-22",), W6)],
    "b5-allow-remote-connector": [
        _row("b5-allow-remote-connector", 1040, "tcp", ("16203-16203", "57203-57203"), W4)
    ],
    "b6-allow-9094": [_row("b6-allow-9094", 1050, "tcp", ("9094-9094",), TEN)],
    "b7-allow-9101": [_row("b7-allow-9101", 1060, "tcp", ("9101-9101",), W4)],
    # No ports on a udp entry means every udp port.
    "b8-allow-udp-all-ports": [
        _row("b8-allow-udp-all-ports", 1070, "udp", ALL, ("192.168.0.0/16",))
    ],
    "x-disabled-8080": [_row("x-disabled-8080", 1080, "tcp", ("8080-8080",), W4, disabled=True)],
    "x-other-target-8081": [
        _row("x-other-target-8081", 1090, "tcp", ("8081-8081",), W4, targets=("network_tag:other",))
    ],
    "x-deny-ssh-v4": [_row("x-deny-ssh-v4", 100, "tcp", ("22-22",), W4, action="deny")],
    "allow-ssh-v4-shadowed": [_row("allow-ssh-v4-shadowed", 1000, "tcp", ("22-22",), W4)],
}

EXPECTED_COMPLIANT: dict[str, list[RuleRow]] = {
    "c1-allow-remote-connector": [
        _row("c1-allow-remote-connector", 1000, "tcp", ("16203-16203", "57203-57203"), W4)
    ],
    "c2-allow-9101": [_row("c2-allow-9101", 1010, "tcp", ("9101-9101",), W4)],
    "c3-allow-internal-tcp": [
        _row("c3-allow-internal-tcp", 1020, "tcp", ("9094-9094", "9100-9100", "9200-9200"), TEN)
    ],
    # One firewall, two `allowed` entries: two rules.
    "c4-allow-sip": [
        _row("c4-allow-sip#1", 1030, "tcp", ("5060-5060",), TEN),
        _row("c4-allow-sip#2", 1030, "udp", ("5060-5060",), TEN),
    ],
    "c5-allow-media": [_row("c5-allow-media", 1040, "udp", ("51000-51499",), TEN)],
    "c-egress-allow-tcp-udp": [
        _row("c-egress-allow-tcp-udp#1", 1000, "tcp", ALL, W4, direction="outbound"),
        _row("c-egress-allow-tcp-udp#2", 1000, "udp", ALL, W4, direction="outbound"),
    ],
    "c-egress-deny-all": [
        _row("c-egress-deny-all", 65000, "all", ALL, W4, action="deny", direction="outbound")
    ],
}

#: Every list the collector makes per project, as the SDK spells the paths.
PROJECT_PATHS = (
    "/compute/v1/projects/{p}/global/firewalls",
    "/compute/v1/projects/{p}/global/networks",
    "/compute/v1/projects/{p}/aggregated/instances",
    "/compute/v1/projects/{p}/aggregated/subnetworks",
    "/compute/v1/projects/{p}/aggregated/firewallPolicies",
)


def rows(fw: FirewallObject) -> list[RuleRow]:
    return [
        (
            r.id,
            r.direction,
            r.action,
            r.priority,
            r.protocol,
            tuple(str(p) for p in r.ports),
            tuple(str(p) for p in r.peers),
            tuple(str(t) for t in r.targets),
            r.disabled,
            r.unknown,
        )
        for r in fw.rules
    ]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient Google credentials or project can leak into a test."""
    for name in list(os.environ):
        if name.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_")):
            monkeypatch.delenv(name)
    for name, value in isolated_env(tmp_path, None).items():
        monkeypatch.setenv(name, value)


def _credentials(fake: FakeCompute, directory: Path, project: str = "swyx-broken") -> Any:
    key = fake.service_account(directory, project)
    return service_account.Credentials.from_service_account_file(str(key.path))


def _collect(fake: FakeCompute, directory: Path, *projects: str, **extra: Any) -> Inventory:
    return collect(
        GcpOptions(
            projects=list(projects),
            api_endpoint=fake.url,
            credentials=_credentials(fake, directory),
            **extra,
        )
    )


def _firewalls(inv: Inventory) -> dict[str, FirewallObject]:
    return {fw.name: fw for fw in inv.firewalls}


# ------------------------------------------------------------- estates


def test_broken_estate_comes_back_exactly(gcp_fake: FakeCompute, tmp_path: Path) -> None:
    gcp_fake.serve_estate("broken")
    inv = _collect(gcp_fake, tmp_path, "swyx-broken")

    assert inv.errors == []
    assert inv.sources == ["gcp:swyx-broken"]
    fws = _firewalls(inv)
    assert {name: rows(fw) for name, fw in fws.items()} == EXPECTED_BROKEN
    b1 = fws["b1-allow-rdp"]
    link = f"{API}/projects/swyx-broken/global/firewalls/b1-allow-rdp"
    net = "projects/swyx-broken/global/networks/swyx-net"  # its project and its name
    assert (b1.provider, b1.kind, b1.id, b1.network) == ("gcp", "vpc_firewall", link, net)
    assert b1.rules[0].provenance == Provenance(source="gcp", cloud_id=link, scope="swyx-broken")
    assert b1.rules[0].description == "B1"

    pbx1 = f"{API}/projects/swyx-broken/zones/europe-west3-a/instances/pbx1"
    assert inv.vms == [
        VM(
            provider="gcp",
            id=pbx1,
            name="pbx1",
            addresses=("10.0.1.10", "203.0.113.10"),
            tags={"app": "swyxware", "env": "broken"},
            network_tags=ROLE_TAGS,
            service_accounts=("pbx1@swyx-broken.iam.gserviceaccount.com",),
            networks=(net,),
            provenance=Provenance(
                source="gcp", cloud_id=pbx1, scope="swyx-broken", region="europe-west3"
            ),
        )
    ]
    assert inv.networks == [
        Network(
            provider="gcp",
            id=net,
            name="swyx-net",
            address_spaces=("10.0.1.0/24",),
            policy_enforcement_order="AFTER_CLASSIC_FIREWALL",
        )
    ]


def test_compliant_estate_comes_back_exactly(gcp_fake: FakeCompute, tmp_path: Path) -> None:
    gcp_fake.serve_estate("compliant")
    inv = _collect(gcp_fake, tmp_path, "swyx-compliant")

    assert inv.errors == []
    assert {name: rows(fw) for name, fw in _firewalls(inv).items()} == EXPECTED_COMPLIANT
    assert [vm.name for vm in inv.vms] == ["pbx1"]


# ---------------------------------------------- paths, paging, read-only


def test_every_list_is_paged_through_on_the_sdk_paths(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("broken")
    gcp_fake.serve_estate("policies")
    _collect(gcp_fake, tmp_path, "swyx-broken", organization="123456789012")

    expected = {path.format(p="swyx-broken") for path in PROJECT_PATHS}
    expected.add("/compute/v1/locations/global/firewallPolicies")
    assert {r.path for r in gcp_fake.api_requests()} == expected
    for path in expected:
        tokens = gcp_fake.pages_served(path)
        # First page without a token, then every token the server handed out.
        assert len(tokens) >= 2, path
        assert tokens[0] is None and all(tokens[1:]), (path, tokens)
    org_requests = [
        r for r in gcp_fake.api_requests() if r.path.startswith("/compute/v1/locations")
    ]
    assert {r.param("parentId") for r in org_requests} == {"organizations/123456789012"}


def test_collection_only_reads_with_the_readonly_scope(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("broken")
    gcp_fake.serve_estate("compliant")
    _collect(gcp_fake, tmp_path, "swyx-broken", "swyx-compliant")

    assert gcp_fake.requests, "the SDK made no request at all"
    assert {r.method for r in gcp_fake.api_requests()} == {"GET"}
    assert all(r.method == "POST" for r in gcp_fake.requests if r.path == "/token")
    assert gcp_fake.scopes_seen and set(gcp_fake.scopes_seen) == {READONLY_SCOPE}


def test_max_workers_one_gives_the_same_inventory(gcp_fake: FakeCompute, tmp_path: Path) -> None:
    gcp_fake.serve_estate("broken")
    gcp_fake.serve_estate("compliant")
    wide = _collect(gcp_fake, tmp_path, "swyx-broken", "swyx-compliant", max_workers=8)
    narrow = _collect(gcp_fake, tmp_path, "swyx-broken", "swyx-compliant", max_workers=1)
    assert wide == narrow
    assert wide.sources == ["gcp:swyx-broken", "gcp:swyx-compliant"]


# ------------------------------------------------------------ failures


@pytest.mark.parametrize("status", [403, 500])
def test_a_failing_project_is_reported_and_the_other_kept(
    gcp_fake: FakeCompute, tmp_path: Path, status: int
) -> None:
    gcp_fake.serve_estate("broken")
    gcp_fake.serve_estate("compliant")
    gcp_fake.fail("projects/swyx-compliant", status)
    inv = _collect(gcp_fake, tmp_path, "swyx-broken", "swyx-compliant")

    assert [(e.provider, e.scope) for e in inv.errors] == [("gcp", "swyx-compliant")]
    assert inv.errors[0].message.startswith(f"HTTP {status}: ")
    assert inv.sources == ["gcp:swyx-broken"]
    assert set(_firewalls(inv)) == set(EXPECTED_BROKEN)
    assert [vm.provenance.scope for vm in inv.vms] == ["swyx-broken"]


def test_a_project_failing_mid_paging_is_dropped_whole(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("broken")
    gcp_fake.serve_estate("compliant")
    gcp_fake.fail("projects/swyx-broken/aggregated/instances?page=2", 500)
    inv = _collect(gcp_fake, tmp_path, "swyx-broken", "swyx-compliant")

    # Its firewalls were read, but without its VMs they must not be half-reported.
    assert {vm.provenance.scope for vm in inv.vms} == {"swyx-compliant"}
    assert {fw.provenance.scope for fw in inv.firewalls} == {"swyx-compliant"}
    assert [e.scope for e in inv.errors] == ["swyx-broken"]
    assert "HTTP 500" in inv.errors[0].message
    # A 5xx is retried with backoff, a bounded number of times, then reported.
    pages = gcp_fake.pages_served("/compute/v1/projects/swyx-broken/aggregated/instances")
    assert len(pages) == 1 + gcp.MAX_ATTEMPTS and pages[0] is None


def test_an_unreachable_endpoint_reading_nothing_is_an_input_error(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on any more
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    options = GcpOptions(
        projects=["a", "b"], api_endpoint=closed, credentials=_credentials(gcp_fake, tmp_path)
    )
    # Not one project read: no estate at all, which is an input error, not "incomplete".
    with pytest.raises(InputError) as caught:
        collect(options)
    assert str(caught.value) == (
        "gcp: nothing could be read, so nothing was checked: "
        "a: network error reaching Google APIs: ConnectionError (and 1 more scope)"
    )


def test_an_unknown_project_is_a_collection_error(gcp_fake: FakeCompute, tmp_path: Path) -> None:
    gcp_fake.serve_estate("broken")
    inv = _collect(gcp_fake, tmp_path, "swyx-broken", "no-such-project")
    assert [(e.scope, e.message[:8]) for e in inv.errors] == [("no-such-project", "HTTP 404")]
    assert inv.sources == ["gcp:swyx-broken"]


def test_refused_credentials_everywhere_are_one_input_error(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("broken")
    key = gcp_fake.service_account(tmp_path, "swyx-broken", trusted=False)
    creds = service_account.Credentials.from_service_account_file(str(key.path))
    with pytest.raises(InputError) as caught:
        collect(GcpOptions(projects=["swyx-broken"], api_endpoint=gcp_fake.url, credentials=creds))

    message = str(caught.value)
    assert message.startswith("gcp: credentials refused: HTTP 401")
    assert "\n" not in message
    assert key.private_key_pem.splitlines()[1] not in message
    assert "eyJ" not in message  # no JWT (base64url of '{"') in the message


def test_no_project_anywhere_is_an_input_error(gcp_fake: FakeCompute, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^gcp: no project given"):
        collect(GcpOptions(api_endpoint=gcp_fake.url, credentials=_credentials(gcp_fake, tmp_path)))
    assert gcp_fake.requests == []


def test_missing_credentials_file_is_an_input_error(
    isolated: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(InputError, match=r"^gcp: no usable credentials: .*absent\.json"):
        collect(GcpOptions(projects=["swyx-broken"]))


@pytest.mark.parametrize("value", ["acme", "organizations/", "folders/12"])
def test_organization_must_be_numeric(gcp_fake: FakeCompute, tmp_path: Path, value: str) -> None:
    gcp_fake.serve_estate("broken")
    with pytest.raises(InputError, match="--organization"):
        _collect(gcp_fake, tmp_path, "swyx-broken", organization=value)


# ------------------------------------------------- application default creds


def test_project_comes_from_the_adc_key_file(
    isolated: None, gcp_fake: FakeCompute, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcp_fake.serve_estate("broken")
    key = gcp_fake.service_account(tmp_path, "swyx-broken")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key.path))
    inv = collect(GcpOptions(api_endpoint=gcp_fake.url))
    assert inv.sources == ["gcp:swyx-broken"] and inv.errors == []
    assert set(_firewalls(inv)) == set(EXPECTED_BROKEN)


def test_workload_identity_adc_gets_a_token_from_token_url(
    isolated: None, gcp_fake: FakeCompute, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcp_fake.serve_estate("broken")
    path, _subject = gcp_fake.workload_identity(tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    inv = collect(GcpOptions(projects=["swyx-broken"], api_endpoint=gcp_fake.url))

    assert inv.errors == [] and [vm.name for vm in inv.vms] == ["pbx1"]
    token_calls = [r for r in gcp_fake.requests if r.path == "/token"]
    assert token_calls and {r.method for r in token_calls} == {"POST"}
    assert set(gcp_fake.scopes_seen) == {READONLY_SCOPE}


def test_refused_subject_token_is_one_line_without_secrets(
    isolated: None, gcp_fake: FakeCompute, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcp_fake.serve_estate("broken")
    path, subject = gcp_fake.workload_identity(tmp_path, accepted=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    with pytest.raises(InputError) as caught:
        collect(GcpOptions(projects=["swyx-broken"], api_endpoint=gcp_fake.url))
    message = str(caught.value)
    assert message.startswith("gcp: credentials refused: cannot obtain an access token")
    assert "invalid_grant" in message and "\n" not in message
    assert subject not in message
    assert gcp_fake.api_requests() == []


# ------------------------------------------------------ firewall policies


NET_LINK = "https://www.googleapis.com/compute/v1/projects/swyx-policies/global/networks/swyx-net"
POLICIES_NET = "projects/swyx-policies/global/networks/swyx-net"


def test_network_and_hierarchical_policies(gcp_fake: FakeCompute, tmp_path: Path) -> None:
    gcp_fake.serve_estate("policies")
    inv = _collect(gcp_fake, tmp_path, "swyx-policies", organization="organizations/123456789012")
    fws = _firewalls(inv)
    sa = "service_account:pbx1@swyx-policies.iam.gserviceaccount.com"
    global_policy = fws["swyx-global-policy"]
    assert global_policy.kind == "firewall_policy"
    assert rows(global_policy)[:7] == [
        _row(
            "swyx-global-policy:900", 900, "tcp", ("3389-3389",), W4 + W6, action="deny", targets=()
        ),
        _row(
            "swyx-global-policy:1000#1", 1000, "tcp", ("5060-5060", "5061-5061"), TEN, targets=(sa,)
        ),
        _row("swyx-global-policy:1000#2", 1000, "udp", ("5060-5060",), TEN, targets=(sa,)),
        # Secure tags are not collected: the source stays symbolic and unresolved.
        _row(
            "swyx-global-policy:1100",
            1100,
            "tcp",
            ("9101-9101",),
            ("unknown:secure tag tagValues/281484375624424",),
            targets=(),
        ),
        # goto_next hands matching traffic to the next policy level.
        _row(
            "swyx-global-policy:1200",
            1200,
            "tcp",
            ("22-22",),
            TEN,
            action="goto_next",
            targets=(),
        ),
        _row(
            "swyx-global-policy:1300",
            1300,
            "udp",
            ("51000-51499",),
            TEN,
            # Which VMs a secure tag selects is not read: an unknown target.
            targets=("unknown:secure tag tagValues/281484375624425",),
        ),
        # esp is IP protocol 50; destination ranges of an ingress rule narrow the VM side.
        _row(
            "swyx-global-policy:1400",
            1400,
            "50",
            ALL,
            ("198.51.100.0/24",),
            targets=("10.0.1.10/32",),
            disabled=True,
        ),
    ]
    # The predefined lowest-priority rules are emitted too, as goto_next.
    assert [(r.priority, r.direction, r.action) for r in global_policy.rules[7:]] == [
        (2147483644, "outbound", "goto_next"),
        (2147483645, "inbound", "goto_next"),
        (2147483646, "outbound", "goto_next"),
        (2147483647, "inbound", "goto_next"),
    ]
    regional = fws["swyx-regional-policy"]
    assert regional.provenance.region == "europe-west3"
    assert [str(p) for p in regional.rules[0].peers] == [
        "10.0.0.0/8",
        "unknown:FQDN cds.example.com",
    ]

    org = fws["swyx-org-baseline"]
    assert org.provenance.scope == "organizations/123456789012"
    assert [(r.id, r.action, [str(t) for t in r.targets]) for r in org.rules[:3]] == [
        ("swyx-org-baseline:100", "deny", []),
        ("swyx-org-baseline:200", "goto_next", []),
        ("swyx-org-baseline:300", "deny", [f"unknown:target resource {NET_LINK}"]),
    ]

    (pbx1,) = inv.vms
    assert pbx1.attachments == (
        Attachment(firewall_id=org.id, level="network", via="organizations/123456789012"),
        Attachment(firewall_id=global_policy.id, level="network", via=POLICIES_NET),
        Attachment(firewall_id=regional.id, level="network", via=POLICIES_NET),
    )
    # The folder-associated policy is kept, attached to nothing, and said so.
    assert "swyx-folder-policy" in fws
    assert inv.errors == [
        CollectionError(
            provider="gcp",
            scope="organizations/123456789012",
            message=(
                "firewall policy swyx-folder-policy is associated with folders/334455667788, "
                "whose projects are not collected; it is applied to no VM"
            ),
        )
    ]
    assert inv.sources == ["gcp:swyx-policies", "gcp:organizations/123456789012"]


def test_an_unreadable_organization_is_reported_and_the_projects_kept(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("policies")
    gcp_fake.fail("locations/global/firewallPolicies", 403)
    inv = _collect(gcp_fake, tmp_path, "swyx-policies", organization="123456789012")

    assert [(e.scope, e.message[:8]) for e in inv.errors] == [
        ("organizations/123456789012", "HTTP 403")
    ]
    assert inv.sources == ["gcp:swyx-policies"]
    (pbx1,) = inv.vms
    assert [a.via for a in pbx1.attachments] == [POLICIES_NET, POLICIES_NET]


def test_a_regional_policy_only_attaches_in_its_region() -> None:
    net = f"{API}/projects/p/global/networks/swyx-net"
    policy = compute_v1.FirewallPolicy(
        name="regional",
        self_link=f"{API}/projects/p/regions/us-east1/firewallPolicies/regional",
        region=f"{API}/projects/p/regions/us-east1",
        associations=[compute_v1.FirewallPolicyAssociation(attachment_target=net)],
    )

    def instance(zone: str) -> compute_v1.Instance:
        return compute_v1.Instance(
            name="vm",
            zone=f"{API}/projects/p/zones/{zone}",
            network_interfaces=[compute_v1.NetworkInterface(network=net)],
        )

    assert gcp._network_policy_attachments(instance("europe-west3-a"), [policy]) == []
    assert len(gcp._network_policy_attachments(instance("us-east1-b"), [policy])) == 1


# ------------------------------------------------- VPC rule normalization


def _firewall(**fields: Any) -> FirewallObject:
    base: dict[str, Any] = {"name": "fw", "network": f"{API}/projects/p/global/networks/n"}
    return gcp._vpc_firewall(compute_v1.Firewall(**{**base, **fields}), "p")


def test_egress_source_ranges_narrow_the_vm_side() -> None:
    fw = _firewall(
        direction="EGRESS",
        priority=10,
        destination_ranges=["192.0.2.0/24"],
        source_ranges=["10.0.1.10"],
        allowed=[compute_v1.Allowed(I_p_protocol="sctp", ports=["9-10"])],
    )
    assert rows(fw) == [
        _row(
            "fw",
            10,
            "132",
            ("9-10",),
            ("192.0.2.0/24",),
            direction="outbound",
            targets=("10.0.1.10/32",),
        )
    ]


def test_a_rule_without_sources_matches_every_ipv4_address() -> None:
    fw = _firewall(priority=5, allowed=[compute_v1.Allowed(I_p_protocol="6", ports=["443"])])
    assert rows(fw) == [_row("fw", 5, "tcp", ("443-443",), W4, targets=())]


def test_source_tags_and_service_accounts_are_symbolic_peers() -> None:
    fw = _firewall(
        priority=1,
        source_tags=["swyx-pbx"],
        source_service_accounts=["a@p.iam.gserviceaccount.com"],
        target_service_accounts=["b@p.iam.gserviceaccount.com"],
        denied=[compute_v1.Denied(I_p_protocol="udp")],
    )
    assert rows(fw) == [
        _row(
            "fw",
            1,
            "udp",
            ALL,
            ("network_tag:swyx-pbx", "service_account:a@p.iam.gserviceaccount.com"),
            action="deny",
            targets=("service_account:b@p.iam.gserviceaccount.com",),
        )
    ]


def test_what_cannot_be_read_is_widened_and_marked_unknown() -> None:
    fw = _firewall(
        priority=1,
        source_ranges=["10.0.0.0/8", "not-a-range"],
        allowed=[compute_v1.Allowed(I_p_protocol="gre-ish", ports=["http"])],
    )
    assert rows(fw) == [
        _row(
            "fw",
            1,
            "all",
            ALL,
            ("10.0.0.0/8", "unknown:range:not-a-range"),
            targets=(),
            unknown=("protocol", "ports"),
        )
    ]
