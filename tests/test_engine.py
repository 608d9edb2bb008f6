"""Engine behaviour per provider: the reference estate and each cloud's semantics."""

from __future__ import annotations

import datetime as dt

import pytest
from model_estates import aws_pbx, estate, prov, rule

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.findings import Finding, ScanResult
from policycheck.model import (
    VM,
    Attachment,
    FirewallObject,
    Inventory,
    Network,
    Peer,
    PortRange,
    Provider,
)
from policycheck.profile import Profile
from policycheck.report.common import message

PROVIDERS: list[Provider] = ["aws", "azure", "gcp"]


def run(inventory: Inventory, profile: Profile | None = None) -> ScanResult:
    return evaluate(inventory, profile or Profile(), default_catalog(), today=dt.date(2026, 11, 26))


def by_rule(result: ScanResult, rule_name: str) -> list[Finding]:
    return [f for f in result.findings if any(r.rule_name == rule_name for r in f.rules)]


def kinds(result: ScanResult, rule_name: str) -> set[str]:
    return {f.rule_id for f in by_rule(result, rule_name)}


def ports(f: Finding) -> set[tuple[int, int]]:
    """The port ranges of every tcp/udp part."""
    return {(p.lo, p.hi) for part in f.region for p in part.ports}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_broken_estate(provider: Provider) -> None:
    result = run(estate(provider, "broken"))
    [rdp] = by_rule(result, "B1")
    assert rdp.rule_id == "SWYX001" and ports(rdp) == {(3389, 3389)}
    assert rdp.peers == ["0.0.0.0/0"] and rdp.level == "error"
    [sip] = by_rule(result, "B2")
    assert sip.rule_id == "SWYX002" and ports(sip) == {(5060, 5060)}
    assert "10.0.0.0/8" not in sip.peers and "1.1/inbound/1" in sip.catalog_rows
    b3 = {f.rule_id: f for f in by_rule(result, "B3")}
    assert set(b3) == {"SWYX001", "SWYX002"}
    # An all-protocols rule: the excess per protocol, never one collapsed "all".
    assert b3["SWYX001"].protocols == ["tcp", "udp", "other"]
    assert b3["SWYX001"].peers == ["10.0.0.0/8"]
    # The loopback-only RemoteConnector SIP range, and the server side of its
    # forwarding to 80 (co-located: loopback), are "too broad" for any rule at all.
    assert (10000, 15000) in ports(b3["SWYX002"]) and (80, 80) in ports(b3["SWYX002"])
    [ssh] = by_rule(result, "B4")
    assert ssh.rule_id == "SWYX001" and ssh.peers == ["::/0"] and ports(ssh) == {(22, 22)}
    for compliant in ("B5", "B6", "B7"):
        assert not kinds(result, compliant) & {"SWYX001", "SWYX002"}, compliant
    assert not [f for f in result.findings if f.rule_id == "SWYX003"]
    assert [f for f in result.findings if f.rule_id == "SWYX004" and f.level == "note"]


def test_gcp_allow_without_ports_means_all_ports() -> None:
    b8 = {f.rule_id: f for f in by_rule(run(estate("gcp", "broken")), "B8")}
    udp = b8["SWYX001"]
    assert udp.protocols == ["udp"] and udp.peers == ["192.168.0.0/16"]
    # udp 712 is VisualContacts from the internal networks (the server's counterpart
    # of SwyxIt!'s 1.14 row), which hold 192.168.0.0/16.
    assert (0, 711) in ports(udp) and (713, 5059) in ports(udp) and (65003, 65535) in ports(udp)


def test_azure_nsg_without_deny_all_reports_default_vnet_rule() -> None:
    inv = _azure([])
    inv = inv.model_copy(
        update={"networks": [Network(provider="azure", id="net", address_spaces=("10.0.0.0/16",))]}
    )
    [vnet] = by_rule(run(inv), "AllowVnetInBound")
    assert vnet.rule_id == "SWYX001" and vnet.peers == ["10.0.0.0/16"]
    assert not by_rule(run(inv), "AllowAzureLoadBalancerInBound")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_compliant_estate_has_no_errors_or_warnings(provider: Provider) -> None:
    result = run(estate(provider, "compliant"))
    bad = [f for f in result.findings if f.rule_id in ("SWYX001", "SWYX002", "SWYX003")]
    assert bad == [], [message(f) for f in bad]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_blocked_tunnel_is_swyx003(provider: Provider) -> None:
    inv = estate(provider, "compliant")
    inv = inv.model_copy(
        update={
            "firewalls": [
                fw.model_copy(update={"rules": tuple(r for r in fw.rules if r.id != "C1")})
                for fw in inv.firewalls
                if fw.id != "fw-C1"
            ]
        }
    )
    [blocked] = [f for f in run(inv).findings if f.rule_id == "SWYX003"]
    assert blocked.level == "warning" and ports(blocked) == {(16203, 16203), (57203, 57203)}


def _azure(nic_rules: list, subnet_rules: list | None = None) -> Inventory:  # type: ignore[type-arg]
    fws = [
        FirewallObject(
            provider="azure",
            kind="nsg",
            id="nic",
            name="nic-nsg",
            rules=tuple(nic_rules),
            provenance=prov("azure"),
        )
    ]
    atts = [Attachment(firewall_id="nic", level="interface")]
    if subnet_rules is not None:
        fws.append(
            FirewallObject(
                provider="azure",
                kind="nsg",
                id="sub",
                name="subnet-nsg",
                rules=tuple(subnet_rules),
                provenance=prov("azure"),
            )
        )
        atts.append(Attachment(firewall_id="sub", level="subnet"))
    vm = VM(
        provider="azure",
        id="vm",
        name="pbx1",
        addresses=("10.0.1.10",),
        tags={"swyx-roles": "swyxware-server"},
        attachments=tuple(atts),
        networks=("net",),
        provenance=prov("azure"),
    )
    return Inventory(vms=[vm], firewalls=fws)


ANY = (Peer(kind="service_tag", value="*"),)


def test_azure_deny_at_higher_priority_wins_and_allow_is_shadowed() -> None:
    result = run(
        _azure(
            [
                rule(
                    "azure",
                    "deny-rdp",
                    "tcp",
                    [(3389, 3389)],
                    [],
                    priority=200,
                    action="deny",
                    peer_objs=ANY,
                ),
                rule("azure", "allow-rdp", "tcp", [(3389, 3389)], [], priority=300, peer_objs=ANY),
            ]
        )
    )
    assert kinds(result, "allow-rdp") == {"SWYX007"}
    assert not [f for f in result.findings if f.rule_id == "SWYX001" and (3389, 3389) in ports(f)]


def test_azure_subnet_deny_blocks_nic_allow() -> None:
    result = run(
        _azure(
            [rule("azure", "allow-rdp", "tcp", [(3389, 3389)], [], priority=300, peer_objs=ANY)],
            [
                rule(
                    "azure",
                    "deny-rdp",
                    "tcp",
                    [(3389, 3389)],
                    [],
                    priority=200,
                    action="deny",
                    peer_objs=ANY,
                ),
                rule("azure", "allow-rest", "all", [(0, 65535)], ["192.0.2.0/24"], priority=300),
            ],
        )
    )
    assert "SWYX001" not in kinds(result, "allow-rdp")
    rdp = [f for f in result.findings if f.rule_id == "SWYX001" and (3389, 3389) in ports(f)]
    assert rdp == []


def test_azure_internet_tag_excludes_the_vnet() -> None:
    inv = _azure(
        [
            rule(
                "azure",
                "sip-internet",
                "tcp",
                [(5060, 5060)],
                [],
                priority=100,
                peer_objs=(Peer(kind="service_tag", value="Internet"),),
            )
        ]
    )
    [f] = by_rule(run(inv), "sip-internet")
    assert (
        f.rule_id == "SWYX002" and "0.0.0.0/0" not in f.peers
    )  # Internet = everything outside the VNet


def test_azure_plural_ports_and_load_balancer() -> None:
    inv = _azure(
        [
            rule(
                "azure",
                "lb",
                "tcp",
                [(3389, 3389)],
                [],
                priority=100,
                peer_objs=(Peer(kind="service_tag", value="AzureLoadBalancer"),),
            )
        ]
    )
    assert kinds(run(inv), "lb") == set()
    assert kinds(run(inv, Profile(report_azure_load_balancer=True)), "lb") == {"SWYX001"}


def test_azure_source_port_restricted_deny_does_not_cover_everything() -> None:
    result = run(
        _azure(
            [
                rule(
                    "azure",
                    "deny-sp",
                    "tcp",
                    [(3389, 3389)],
                    [],
                    priority=100,
                    action="deny",
                    peer_objs=ANY,
                    source_ports=(PortRange(lo=1000, hi=2000),),
                ),
                rule("azure", "allow-rdp", "tcp", [(3389, 3389)], [], priority=200, peer_objs=ANY),
            ]
        )
    )
    assert kinds(result, "allow-rdp") == {"SWYX001"}


def _gcp(extra: list) -> Inventory:  # type: ignore[type-arg]
    fws = [
        FirewallObject(
            provider="gcp",
            kind="vpc_firewall",
            id=f"fw-{r.id}",
            name=r.id,
            network="net",
            rules=(r,),
            provenance=prov("gcp"),
        )
        for r in extra
    ]
    vm = VM(
        provider="gcp",
        id="vm",
        name="pbx1",
        addresses=("10.0.1.10",),
        network_tags=("swyx-role-swyxware-server", "pbx"),
        networks=("net",),
        provenance=prov("gcp"),
    )
    return Inventory(vms=[vm], firewalls=fws)


def test_gcp_deny_priority_and_shadowed_allow() -> None:
    result = run(
        _gcp(
            [
                rule(
                    "gcp", "deny-ssh", "tcp", [(22, 22)], ["0.0.0.0/0"], priority=100, action="deny"
                ),
                rule("gcp", "allow-ssh", "tcp", [(22, 22)], ["0.0.0.0/0"], priority=1000),
            ]
        )
    )
    assert kinds(result, "allow-ssh") == {"SWYX007"}


def test_gcp_deny_wins_ties() -> None:
    result = run(
        _gcp(
            [
                rule("gcp", "allow-ssh", "tcp", [(22, 22)], ["0.0.0.0/0"], priority=1000),
                rule(
                    "gcp",
                    "deny-ssh",
                    "tcp",
                    [(22, 22)],
                    ["0.0.0.0/0"],
                    priority=1000,
                    action="deny",
                ),
            ]
        )
    )
    assert "SWYX001" not in kinds(result, "allow-ssh")


def test_gcp_disabled_and_untargeted_rules_are_ignored() -> None:
    result = run(
        _gcp(
            [
                rule(
                    "gcp",
                    "disabled",
                    "tcp",
                    [(8080, 8080)],
                    ["0.0.0.0/0"],
                    priority=1000,
                    disabled=True,
                ),
                rule(
                    "gcp",
                    "other-tag",
                    "tcp",
                    [(8081, 8081)],
                    ["0.0.0.0/0"],
                    priority=1000,
                    targets=(Peer(kind="network_tag", value="other"),),
                ),
                rule(
                    "gcp",
                    "my-tag",
                    "tcp",
                    [(8082, 8082)],
                    ["0.0.0.0/0"],
                    priority=1000,
                    targets=(Peer(kind="network_tag", value="pbx"),),
                ),
            ]
        )
    )
    assert kinds(result, "disabled") == set() and kinds(result, "other-tag") == set()
    assert kinds(result, "my-tag") == {"SWYX001"}


def test_gcp_implied_egress_is_reported_as_note() -> None:
    [egress] = [f for f in run(_gcp([])).findings if f.rule_id == "SWYX004"]
    assert egress.level == "note" and egress.rules[0].rule_name == "implied-allow-egress"


def _aws(
    rules: list, extra_vms: tuple[VM, ...] = (), extra_fws: tuple[FirewallObject, ...] = ()
) -> Inventory:  # type: ignore[type-arg]
    return aws_pbx(rules, extra_vms=extra_vms, extra_fws=extra_fws)


def test_aws_security_group_reference_resolves_to_member_addresses() -> None:
    jump_sg = FirewallObject(
        provider="aws", kind="security_group", id="sg-jump", name="jump", provenance=prov("aws")
    )
    jump = VM(
        provider="aws",
        id="i-2",
        name="jump",
        addresses=("10.0.9.9",),
        attachments=(Attachment(firewall_id="sg-jump"),),
        provenance=prov("aws"),
    )
    result = run(
        _aws(
            [
                rule(
                    "aws",
                    "rdp-from-jump",
                    "tcp",
                    [(3389, 3389)],
                    [],
                    peer_objs=(Peer(kind="security_group", value="sg-jump"),),
                )
            ],
            (jump,),
            (jump_sg,),
        )
    )
    [f] = by_rule(result, "rdp-from-jump")
    assert f.rule_id == "SWYX001" and f.peers == ["10.0.9.9/32"]


def test_aws_unresolvable_reference_is_swyx005_not_dropped() -> None:
    result = run(
        _aws(
            [
                rule(
                    "aws",
                    "foreign",
                    "tcp",
                    [(3389, 3389)],
                    [],
                    peer_objs=(Peer(kind="security_group", value="111122223333/sg-x"),),
                )
            ]
        )
    )
    [f] = by_rule(result, "foreign")
    assert f.rule_id == "SWYX005" and f.level == "note" and "sg-x" in message(f)


def test_aws_union_attributes_overlap_to_both_rules() -> None:
    result = run(
        _aws(
            [
                rule("aws", "r1", "tcp", [(3380, 3390)], ["0.0.0.0/0"]),
                rule("aws", "r2", "tcp", [(3389, 3389)], ["0.0.0.0/0"]),
            ]
        )
    )
    assert kinds(result, "r1") == {"SWYX001"} and kinds(result, "r2") == {"SWYX001"}
    [r1] = by_rule(result, "r1")
    assert ports(r1) == {(3380, 3390)}  # one finding per rule, not one per port


def test_unknown_role_and_unassigned_vm() -> None:
    inv = _aws([])
    vm = inv.vms[0].model_copy(update={"tags": {"swyx-roles": "swyxware-server, pbx"}})
    bare = inv.vms[0].model_copy(update={"id": "i-9", "name": "bare", "tags": {}})
    result = run(inv.model_copy(update={"vms": [vm, bare]}))
    six = {f.vm_name: f for f in result.findings if f.rule_id == "SWYX006"}
    assert six["pbx1"].unresolved == ["pbx"] and six["bare"].unresolved == []
    assert "'pbx'" in message(six["pbx1"]) and "no recognised" in message(six["bare"])


def test_marker_on_security_group_gives_roles() -> None:
    inv = _aws([rule("aws", "rdp", "tcp", [(3389, 3389)], ["0.0.0.0/0"])])
    sg = inv.firewalls[0].model_copy(update={"tags": {"swyx-role-cds": "true"}})
    vm = inv.vms[0].model_copy(update={"tags": {}})
    result = run(inv.model_copy(update={"vms": [vm], "firewalls": [sg]}))
    assert not [f for f in result.findings if f.rule_id == "SWYX006"]
    assert kinds(result, "rdp") == {"SWYX001"}


def test_extra_flow_accepts_documented_exception() -> None:
    profile = Profile.model_validate(
        {
            "peer_groups": {"admin": ["198.51.100.10/32"]},
            "extra_flows": [
                {
                    "name": "rdp",
                    "justification": "jump host",
                    "protocol": "tcp",
                    "ports": ["3389"],
                    "peers": ["admin"],
                }
            ],
        }
    )
    ok = run(_aws([rule("aws", "rdp", "tcp", [(3389, 3389)], ["198.51.100.10/32"])]), profile)
    assert kinds(ok, "rdp") == set()
    wide = run(_aws([rule("aws", "rdp", "tcp", [(3389, 3389)], ["0.0.0.0/0"])]), profile)
    assert kinds(wide, "rdp") == {"SWYX002"}


def test_suppression_keeps_finding_visible_until_expiry() -> None:
    inv = _aws([rule("aws", "rdp", "tcp", [(3389, 3389)], ["0.0.0.0/0"])])
    active = {"rule": "SWYX001", "vm": "pbx*", "reason": "ticket OPS-1", "expires": "2027-01-01"}
    expired = {**active, "expires": "2026-01-01"}
    [f] = by_rule(run(inv, Profile.model_validate({"suppressions": [active]})), "rdp")
    assert f.suppression is not None and f.suppression.reason == "ticket OPS-1"
    [g] = by_rule(run(inv, Profile.model_validate({"suppressions": [expired]})), "rdp")
    assert g.suppression is None


def test_egress_strictness_ports() -> None:
    inv = _aws([rule("aws", "e", "tcp", [(0, 65535)], ["0.0.0.0/0"], direction="outbound")])
    assert kinds(run(inv), "e") == set()
    vm = inv.vms[0].model_copy(update={"tags": {"swyx-roles": "cds"}})
    strict = Profile.model_validate({"egress": {"strictness": "ports", "level": "warning"}})
    [f] = by_rule(run(inv.model_copy(update={"vms": [vm]}), strict), "e")
    assert f.rule_id == "SWYX004" and f.level == "warning" and (443, 443) not in ports(f)


def test_fingerprints_are_stable_across_line_moves() -> None:
    a = run(estate("aws", "broken"))
    moved = estate("aws", "broken")
    fw = moved.firewalls[0]
    rules = tuple(
        r.model_copy(update={"provenance": r.provenance.model_copy(update={"start_line": 99})})
        for r in fw.rules
    )
    b = run(moved.model_copy(update={"firewalls": [fw.model_copy(update={"rules": rules})]}))
    assert [f.fingerprint() for f in a.findings] == [f.fingerprint() for f in b.findings]


def _policy(
    policy_id: str, rules: list, network: str = "net", scope: str = "proj"
) -> FirewallObject:  # type: ignore[type-arg]
    return FirewallObject(
        provider="gcp",
        kind="firewall_policy",
        id=policy_id,
        name=policy_id.rsplit("/", 1)[-1],
        network=network,
        rules=tuple(rules),
        provenance=prov("gcp").model_copy(update={"scope": scope}),
    )


def test_gcp_goto_next_hands_traffic_to_the_next_level() -> None:
    org = _policy(
        "https://compute/locations/global/firewallPolicies/org",
        [
            rule(
                "gcp",
                "org-next",
                "all",
                [(0, 65535)],
                ["0.0.0.0/0"],
                priority=100,
                action="goto_next",
            ),
            # Never reached for 0.0.0.0/0: goto_next at 100 already left this level.
            rule("gcp", "org-allow-rdp", "tcp", [(3389, 3389)], ["0.0.0.0/0"], priority=200),
        ],
        scope="organizations/1",
    )
    inv = _gcp([rule("gcp", "vpc-ssh", "tcp", [(22, 22)], ["0.0.0.0/0"], priority=1000)])
    inv = inv.model_copy(update={"firewalls": [*inv.firewalls, org]})
    result = run(inv)
    assert kinds(result, "org-allow-rdp") == {"SWYX007"}
    assert kinds(result, "vpc-ssh") == {"SWYX001"}  # the VPC level still decides
    assert kinds(result, "org-next") == set()


def test_gcp_network_policy_is_evaluated_after_vpc_rules() -> None:
    network_policy = _policy(
        "https://compute/projects/p/global/firewallPolicies/netpol",
        [rule("gcp", "np-deny-ssh", "tcp", [(22, 22)], ["0.0.0.0/0"], priority=1, action="deny")],
    )
    inv = _gcp([rule("gcp", "vpc-ssh", "tcp", [(22, 22)], ["0.0.0.0/0"], priority=1000)])
    result = run(inv.model_copy(update={"firewalls": [*inv.firewalls, network_policy]}))
    # VPC rules come first by default, so the allow wins and the policy deny is shadowed.
    assert kinds(result, "vpc-ssh") == {"SWYX001"}
    assert kinds(result, "np-deny-ssh") == {"SWYX007"}
