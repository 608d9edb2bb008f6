"""GCP semantics on real-shaped inputs: networkFirewallPolicyEnforcementOrder (live
and plans), implied IPv6 rules only with IPv6, predefined policy rules, sources
that cannot be expanded, target service accounts unknown at plan time,
hierarchical policies from plans, and priority validation.

Live estates are the fixtures under fixtures/gcp/, edited per test and served by
the fake Compute API (tests/gcp_fake.py) to the real SDK; plans are written in
``terraform show -json`` shape (tests/plan_fragments.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gcp_fake import FIXTURES, FakeCompute, gcp_fake  # noqa: F401
from google.oauth2 import service_account
from plan_fragments import Res, const, declaration, ref, write_plan
from scan_helpers import on_port, scan, text, unresolved

from policycheck.errors import InputError
from policycheck.model import Inventory
from policycheck.sources.gcp import GcpOptions, collect
from policycheck.sources.terraform import load_plan

RDP = 3389
Json = dict[str, Any]
NET = "https://www.googleapis.com/compute/v1/projects/swyx-policies/global/networks/swyx-net"


# ------------------------------------------------------------------ live


def live_estate(tmp_path: Path, edit: Callable[[dict[str, Json]], None]) -> Path:
    """A copy of fixtures/gcp/policies (project swyx-policies), its responses edited."""
    target = tmp_path / "estate"
    shutil.copytree(FIXTURES / "policies", target)
    project = target / "projects" / "swyx-policies"
    files = {f"{f.parent.name}/{f.stem}": f for f in project.glob("*/*.json")}
    bodies = {name: json.loads(f.read_text()) for name, f in files.items()}
    edit(bodies)
    for name, body in bodies.items():
        files[name].write_text(json.dumps(body))
    return target


def read_live(fake: FakeCompute, directory: Path, estate: Path) -> Inventory:
    fake.serve_directory(estate)
    key = fake.service_account(directory, "swyx-policies")
    credentials = service_account.Credentials.from_service_account_file(str(key.path))
    return collect(
        GcpOptions(projects=["swyx-policies"], api_endpoint=fake.url, credentials=credentials)
    )


def global_policy(bodies: dict[str, Json]) -> Json:
    policy: Json = bodies["aggregated/firewallPolicies"]["items"]["global"]["firewallPolicies"][0]
    return policy


def open_rdp_in_vpc(bodies: dict[str, Json]) -> None:
    """A VPC rule allowing RDP from anywhere; the global policy denies it at 900."""
    firewall = json.loads(json.dumps(bodies["global/firewalls"]["items"][0]))
    firewall.update(
        name="allow-rdp",
        id="4711000000000009999",
        selfLink=firewall["selfLink"].replace("allow-remote-connector", "allow-rdp"),
        allowed=[{"IPProtocol": "tcp", "ports": ["3389"]}],
    )
    bodies["global/firewalls"]["items"].append(firewall)


def test_live_enforcement_order_before_classic_firewall(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    after = read_live(gcp_fake, tmp_path, live_estate(tmp_path / "a", open_rdp_in_vpc))
    assert on_port(scan(after), "SWYX001", RDP)  # default: VPC rules first, they allow

    def before(bodies: dict[str, Json]) -> None:
        open_rdp_in_vpc(bodies)
        network = bodies["global/networks"]["items"][0]
        network["networkFirewallPolicyEnforcementOrder"] = "BEFORE_CLASSIC_FIREWALL"

    inv = read_live(gcp_fake, tmp_path, live_estate(tmp_path / "b", before))
    [network] = inv.networks
    assert network.policy_enforcement_order == "BEFORE_CLASSIC_FIREWALL"
    assert on_port(scan(inv), "SWYX001", RDP) == []  # the network policy's deny comes first


def test_live_predefined_policy_rules_are_never_shadowed_findings(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A policy that decides all traffic itself leaves its predefined goto_next rules
    (2147483644-2147483647) nothing to do: still not SWYX007, nothing to delete."""

    def edit(bodies: dict[str, Json]) -> None:
        rules = global_policy(bodies)["rules"]
        for direction, priority in (("INGRESS", 60000), ("EGRESS", 60001)):
            side = "srcIpRanges" if direction == "INGRESS" else "destIpRanges"
            rules.append(
                {
                    "kind": "compute#firewallPolicyRule",
                    "priority": priority,
                    "match": {
                        "layer4Configs": [{"ipProtocol": "all"}],
                        side: ["0.0.0.0/0", "::/0"],
                    },
                    "action": "deny",
                    "direction": direction,
                    "ruleName": f"deny-all-{direction.lower()}",
                }
            )
        rules.sort(key=lambda r: r["priority"])

    inv = read_live(gcp_fake, tmp_path, live_estate(tmp_path / "e", edit))
    shadowed = [f for f in scan(inv).findings if f.rule_id == "SWYX007"]
    assert not [f for f in shadowed if any("default-" in (r.rule_name or "") for r in f.rules)]


def test_live_geolocation_source_is_unknown_not_anywhere(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    def edit(bodies: dict[str, Json]) -> None:
        rules = global_policy(bodies)["rules"]
        rules.insert(
            0,
            {
                "kind": "compute#firewallPolicyRule",
                "priority": 800,
                "match": {
                    "layer4Configs": [{"ipProtocol": "tcp", "ports": ["3389"]}],
                    "srcRegionCodes": ["DE"],
                },
                "action": "allow",
                "direction": "INGRESS",
                "ruleName": "rdp-from-germany",
            },
        )

    result = scan(read_live(gcp_fake, tmp_path, live_estate(tmp_path / "g", edit)))
    assert on_port(result, "SWYX001", RDP) == []
    assert [f for f in unresolved(result) if "geolocation DE" in text(f)]


def test_live_priority_outside_the_range_is_an_input_error(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    def edit(bodies: dict[str, Json]) -> None:
        bodies["global/firewalls"]["items"][0]["priority"] = 70000

    with pytest.raises(
        InputError, match=r"allow-remote-connector.*priority 70000 is outside 0-65535"
    ):
        read_live(gcp_fake, tmp_path, live_estate(tmp_path / "p", edit))


# ------------------------------------------------------------------ plans


def network(order: str | None = None) -> list[Res]:
    values: Json = {"name": "swyx-net", "auto_create_subnetworks": False}
    if order:
        values["network_firewall_policy_enforcement_order"] = order
    return [
        Res("google_compute_network", "swyx", values, {"id": True, "self_link": True}),
        Res(
            "google_compute_subnetwork",
            "pbx",
            {"name": "swyx-subnet", "ip_cidr_range": "10.0.1.0/24", "region": "europe-west3"},
            {"id": True, "network": True, "self_link": True, "ipv6_cidr_range": True},
        ),
    ]


NETWORK_CONFIG = [
    declaration("google_compute_network", "swyx", {"name": const("swyx-net")}),
    declaration(
        "google_compute_subnetwork", "pbx", {"network": ref("google_compute_network.swyx.id")}
    ),
]


def instance(
    name: str = "pbx1", *, stack: str = "IPV4_ONLY", accounts: list[Json] | None = None
) -> Res:
    return Res(
        "google_compute_instance",
        name,
        {
            "name": name,
            "zone": "europe-west3-a",
            "project": "swyx-plan",
            "machine_type": "e2-standard-4",
            "tags": ["swyx-pbx", "swyx-role-swyxware-server", "swyx-role-remote-connector"],
            "labels": None,
            "network_interface": [{"stack_type": stack, "access_config": []}],
            "service_account": accounts or [],
        },
        {
            "id": True,
            "self_link": True,
            "network_interface": [
                {"network": True, "subnetwork": True, "network_ip": True, "ipv6_address": True}
            ],
            "service_account": [{"email": True} for _ in accounts or []],
        },
    )


def instance_config(name: str = "pbx1", account_expr: Json | None = None) -> Json:
    exprs: Json = {
        "network_interface": [
            {
                "network": ref("google_compute_network.swyx.id"),
                "subnetwork": ref("google_compute_subnetwork.pbx.id"),
            }
        ]
    }
    if account_expr is not None:
        exprs["service_account"] = [{"email": account_expr}]
    return declaration("google_compute_instance", name, exprs)


def firewall(name: str, ports: list[str], **values: Any) -> Res:
    return Res(
        "google_compute_firewall",
        name,
        {
            "name": name,
            "direction": "INGRESS",
            "priority": 1000,
            "source_ranges": ["0.0.0.0/0"],
            "allow": [{"protocol": "tcp", "ports": ports}],
            "deny": [],
            "disabled": False,
            "target_tags": ["swyx-pbx"],
            **values,
        },
        {"id": True, "network": True, "self_link": True},
    )


def firewall_config(name: str, **exprs: Json) -> Json:
    return declaration(
        "google_compute_firewall",
        name,
        {"network": ref("google_compute_network.swyx.name"), **exprs},
    )


TUNNEL = firewall("tunnel", ["16203"])


def network_policy(
    rule_match: Json, action: str = "deny", priority: int = 900
) -> tuple[list[Res], list[Json]]:
    resources = [
        Res("google_compute_network_firewall_policy", "pol", {"name": "swyx-policy"}, {"id": True}),
        Res(
            "google_compute_network_firewall_policy_association",
            "assoc",
            {"name": "swyx-assoc"},
            {"id": True, "attachment_target": True, "firewall_policy": True},
        ),
        Res(
            "google_compute_network_firewall_policy_rule",
            "rule",
            {
                "action": action,
                "direction": "INGRESS",
                "priority": priority,
                "disabled": False,
                "rule_name": "policy-rule",
                "match": [rule_match],
            },
            {"id": True, "firewall_policy": True},
        ),
    ]
    config = [
        declaration(
            "google_compute_network_firewall_policy", "pol", {"name": const("swyx-policy")}
        ),
        declaration(
            "google_compute_network_firewall_policy_association",
            "assoc",
            {
                "attachment_target": ref("google_compute_network.swyx.id"),
                "firewall_policy": ref("google_compute_network_firewall_policy.pol.name"),
            },
        ),
        declaration(
            "google_compute_network_firewall_policy_rule",
            "rule",
            {"firewall_policy": ref("google_compute_network_firewall_policy.pol.name")},
        ),
    ]
    return resources, config


RDP_MATCH: Json = {
    "src_ip_ranges": ["0.0.0.0/0"],
    "layer4_configs": [{"ip_protocol": "tcp", "ports": ["3389"]}],
}


def test_plan_enforcement_order_before_classic_firewall(tmp_path: Path) -> None:
    policy, policy_config = network_policy(RDP_MATCH)
    config = [
        *NETWORK_CONFIG,
        firewall_config("rdp"),
        firewall_config("tunnel"),
        *policy_config,
        instance_config(),
    ]
    rdp = firewall("rdp", ["3389"])
    plan = write_plan(tmp_path, [*network(), rdp, TUNNEL, *policy, instance()], config)
    assert on_port(scan(load_plan(plan)), "SWYX001", RDP)  # VPC allow first
    plan = write_plan(
        tmp_path,
        [*network("BEFORE_CLASSIC_FIREWALL"), rdp, TUNNEL, *policy, instance()],
        config,
    )
    inv = load_plan(plan)
    assert inv.networks[0].policy_enforcement_order == "BEFORE_CLASSIC_FIREWALL"
    assert on_port(scan(inv), "SWYX001", RDP) == []


def test_plan_ipv4_only_vm_gets_no_ipv6_implied_egress(tmp_path: Path) -> None:
    config = [*NETWORK_CONFIG, firewall_config("tunnel"), instance_config()]
    plan = write_plan(tmp_path, [*network(), TUNNEL, instance()], config)
    inv = load_plan(plan)
    [vm] = inv.vms
    assert vm.address_ranges == ("10.0.1.0/24",)
    egress = [f for f in scan(inv).findings if f.rule_id == "SWYX004"]
    assert egress and all("::/0" not in f.peers for f in egress)

    plan = write_plan(tmp_path, [*network(), TUNNEL, instance(stack="IPV4_IPV6")], config)
    egress = [f for f in scan(load_plan(plan)).findings if f.rule_id == "SWYX004"]
    assert any("::/0" in f.peers for f in egress)


@pytest.mark.parametrize(
    ("field", "values", "shown"),
    [
        ("src_region_codes", ["CN", "RU"], "geolocation CN"),
        ("src_threat_intelligences", ["iplist-known-malicious-ips"], "threat intelligence list"),
        ("src_fqdns", ["admin.example.com"], "FQDN admin.example.com"),
        (
            "src_address_groups",
            ["projects/p/locations/global/addressGroups/admins"],
            "address_group",
        ),
    ],
)
def test_plan_unexpandable_sources_are_unknown(
    tmp_path: Path, field: str, values: list[str], shown: str
) -> None:
    """An allow from a geolocation (threat list, FQDN, address group) alone is
    neither 0.0.0.0/0 (a false SWYX001) nor silently nothing (SWYX005)."""
    match = {field: values, "layer4_configs": [{"ip_protocol": "tcp", "ports": ["3389"]}]}
    policy, policy_config = network_policy(match, action="allow")
    config = [*NETWORK_CONFIG, firewall_config("tunnel"), *policy_config, instance_config()]
    plan = write_plan(tmp_path, [*network(), TUNNEL, *policy, instance()], config)
    result = scan(load_plan(plan))
    assert on_port(result, "SWYX001", RDP) == []
    assert [f for f in unresolved(result) if shown in text(f)]


def test_plan_unexpandable_deny_does_not_deny_everything(tmp_path: Path) -> None:
    match = {
        "src_threat_intelligences": ["iplist-tor-exit-nodes"],
        "layer4_configs": [{"ip_protocol": "all"}],
    }
    policy, policy_config = network_policy(match, action="deny", priority=100)
    rdp = firewall("rdp", ["3389"])
    config = [
        *NETWORK_CONFIG,
        firewall_config("rdp"),
        firewall_config("tunnel"),
        *policy_config,
        instance_config(),
    ]
    plan = write_plan(
        tmp_path, [*network("BEFORE_CLASSIC_FIREWALL"), rdp, TUNNEL, *policy, instance()], config
    )
    result = scan(load_plan(plan))
    assert on_port(result, "SWYX001", RDP)  # the deny cannot be assumed to cover anything
    assert on_port(result, "SWYX003", 16203) == []


def account(name: str = "pbx") -> Res:
    return Res(
        "google_service_account",
        name,
        {"account_id": name, "display_name": name},
        {"id": True, "email": True, "name": True, "unique_id": True},
    )


def test_plan_target_service_account_known_after_apply(tmp_path: Path) -> None:
    """allow RDP to target_service_accounts = [google_service_account.pbx.email]: the VM
    running as that account is exposed; one without any account never is."""
    rdp = firewall("rdp", ["3389"], target_tags=[])
    rdp.unknown["target_service_accounts"] = True
    config = [
        *NETWORK_CONFIG,
        declaration("google_service_account", "pbx", {"account_id": const("pbx")}),
        firewall_config("rdp", target_service_accounts=ref("google_service_account.pbx.email")),
        firewall_config("tunnel"),
        instance_config("pbx1", ref("google_service_account.pbx.email")),
        instance_config("gate1"),
    ]
    pbx1 = instance("pbx1", accounts=[{"scopes": ["cloud-platform"]}])
    gate1 = instance("gate1")
    gate1.values["tags"] = ["swyx-pbx", "swyx-role-swyxgate"]
    plan = write_plan(tmp_path, [*network(), account(), rdp, TUNNEL, pbx1, gate1], config)
    inv = load_plan(plan)
    by_name = {vm.name: vm for vm in inv.vms}
    assert by_name["pbx1"].service_accounts == ("google_service_account.pbx",)
    result = scan(inv)
    assert on_port(result, "SWYX001", RDP, vm="pbx1")
    assert on_port(result, "SWYX001", RDP, vm="gate1") == []
    assert not [f for f in unresolved(result) if "rdp" in text(f)]


def test_plan_target_service_account_not_traceable(tmp_path: Path) -> None:
    """The email comes from outside the plan: a VM with an account may match (reported,
    evaluated as applying), a VM without one never does."""
    rdp = firewall("rdp", ["3389"], target_tags=[])
    rdp.unknown["target_service_accounts"] = True
    config = [
        *NETWORK_CONFIG,
        firewall_config("rdp", target_service_accounts=ref("module.iam.pbx_email")),
        firewall_config("tunnel"),
        instance_config("pbx1"),
        instance_config("gate1"),
    ]
    pbx1 = instance("pbx1", accounts=[{"email": "pbx1@swyx-plan.iam.gserviceaccount.com"}])
    pbx1.unknown["service_account"] = []
    gate1 = instance("gate1")
    gate1.values["tags"] = ["swyx-pbx", "swyx-role-swyxgate"]
    plan = write_plan(tmp_path, [*network(), rdp, TUNNEL, pbx1, gate1], config)
    result = scan(load_plan(plan))
    assert on_port(result, "SWYX001", RDP, vm="pbx1")
    assert [f for f in unresolved(result) if f.vm_name == "pbx1" and "rdp" in text(f)]
    assert on_port(result, "SWYX001", RDP, vm="gate1") == []
    assert not [f for f in unresolved(result) if f.vm_name == "gate1" and "rdp" in text(f)]


def hierarchical(target: Json, rule_action: str = "deny") -> tuple[list[Res], list[Json]]:
    resources = [
        Res(
            "google_compute_firewall_policy",
            "org",
            {"parent": "organizations/123456789012", "short_name": "org-baseline"},
            {"id": True, "name": True, "self_link": True},
        ),
        Res(
            "google_compute_firewall_policy_rule",
            "deny_rdp",
            {
                "action": rule_action,
                "direction": "INGRESS",
                "priority": 100,
                "disabled": False,
                "enable_logging": False,
                "match": [RDP_MATCH],
            },
            {"id": True, "firewall_policy": True},
        ),
        Res(
            "google_compute_firewall_policy_association",
            "org",
            {
                "name": "org-assoc",
                **{k: v for k, v in target.items() if "constant_value" not in str(v)},
            },
            {"id": True, "firewall_policy": True},
        ),
    ]
    config = [
        declaration(
            "google_compute_firewall_policy", "org", {"parent": const("organizations/123456789012")}
        ),
        declaration(
            "google_compute_firewall_policy_rule",
            "deny_rdp",
            {"firewall_policy": ref("google_compute_firewall_policy.org.name")},
        ),
        declaration(
            "google_compute_firewall_policy_association",
            "org",
            {"firewall_policy": ref("google_compute_firewall_policy.org.name")},
        ),
    ]
    return resources, config


def test_plan_hierarchical_policy_comes_before_the_vpc_rules(tmp_path: Path) -> None:
    policy, policy_config = hierarchical({"attachment_target": "organizations/123456789012"})
    rdp = firewall("rdp", ["3389"])
    config = [
        *NETWORK_CONFIG,
        firewall_config("rdp"),
        firewall_config("tunnel"),
        *policy_config,
        instance_config(),
    ]
    inv = load_plan(write_plan(tmp_path, [*network(), rdp, TUNNEL, *policy, instance()], config))
    org = next(f for f in inv.firewalls if f.name == "org-baseline")
    assert (org.kind, org.provenance.scope) == ("firewall_policy", "organizations/123456789012")
    assert [a.firewall_id for a in inv.vms[0].attachments] == [org.id]
    assert on_port(scan(inv), "SWYX001", RDP) == []

    policy, policy_config = hierarchical(
        {"attachment_target": "organizations/123456789012"}, rule_action="goto_next"
    )
    inv = load_plan(write_plan(tmp_path, [*network(), rdp, TUNNEL, *policy, instance()], config))
    assert on_port(scan(inv), "SWYX001", RDP)  # goto_next: the VPC rules decide


def test_plan_folder_policy_without_the_folder_projects_is_reported(tmp_path: Path) -> None:
    policy, policy_config = hierarchical({"attachment_target": "folders/334455667788"})
    config = [*NETWORK_CONFIG, firewall_config("tunnel"), *policy_config, instance_config()]
    inv = load_plan(write_plan(tmp_path, [*network(), TUNNEL, *policy, instance()], config))
    [error] = inv.errors
    assert "folders/334455667788" in error.message and "applied to no VM" in error.message

    project = Res(
        "google_project",
        "plan",
        {"project_id": "swyx-plan", "folder_id": "334455667788", "name": "swyx-plan"},
        {"id": True, "number": True},
    )
    inv = load_plan(
        write_plan(tmp_path, [*network(), TUNNEL, *policy, project, instance()], config)
    )
    assert inv.errors == []
    assert [a.via for a in inv.vms[0].attachments] == ["folders/334455667788"]


def test_plan_priority_outside_the_range_is_an_input_error(tmp_path: Path) -> None:
    policy, policy_config = network_policy(RDP_MATCH, priority=2147483648)
    config = [*NETWORK_CONFIG, *policy_config]
    with pytest.raises(InputError, match=r"swyx-policy: rule policy-rule: priority 2147483648"):
        load_plan(write_plan(tmp_path, [*network(), *policy], config))


# --------------------------------------------- implied IPv6 rules, live


def egress_peers(inv: Inventory) -> set[str]:
    """Remote addresses of the implied egress findings (SWYX004)."""
    return {
        p
        for f in scan(inv).findings
        if f.rule_id == "SWYX004" and any("implied" in (r.rule_name or "") for r in f.rules)
        for p in f.peers
    }


def test_live_implied_ipv6_egress_only_with_ipv6(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The fixture VM is IPV4_ONLY: no ::/0 from the implied rules. The same VM made
    dual-stack (an ipv6Address on its interface) gets them."""
    ipv4 = read_live(gcp_fake, tmp_path, live_estate(tmp_path / "v4", lambda b: None))
    peers = egress_peers(ipv4)
    assert "0.0.0.0/0" in peers and "::/0" not in peers

    def dual_stack(bodies: dict[str, Json]) -> None:
        [nic] = bodies["aggregated/instances"]["items"]["zones/europe-west3-a"]["instances"][0][
            "networkInterfaces"
        ]
        nic.update(stackType="IPV4_IPV6", ipv6Address="2600:1900:4000:1::10")

    dual = read_live(gcp_fake, tmp_path, live_estate(tmp_path / "v6", dual_stack))
    assert "2600:1900:4000:1::10" in dual.vms[0].addresses
    assert "::/0" in egress_peers(dual)


# ------------------------- unexpandable sources: live and plans say the same


UNEXPANDABLE = [
    ("srcRegionCodes", "src_region_codes", ["DE", "AT"]),
    ("srcThreatIntelligences", "src_threat_intelligences", ["iplist-known-malicious-ips"]),
    ("srcFqdns", "src_fqdns", ["admin.example.com"]),
    ("srcAddressGroups", "src_address_groups", ["projects/p/locations/global/addressGroups/ops"]),
]


@pytest.mark.parametrize(("live_key", "plan_key", "values"), UNEXPANDABLE)
def test_unexpandable_sources_read_alike_live_and_from_plans(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
    live_key: str,
    plan_key: str,
    values: list[str],
) -> None:
    """An allow to RDP from sources no address list stands for: never SWYX001 as if
    from 0.0.0.0/0, always SWYX005, and the same peers whichever way it was read."""

    def edit(bodies: dict[str, Json]) -> None:
        global_policy(bodies)["rules"].insert(
            0,
            {
                "kind": "compute#firewallPolicyRule",
                "priority": 800,
                "match": {
                    "layer4Configs": [{"ipProtocol": "tcp", "ports": ["3389"]}],
                    live_key: values,
                },
                "action": "allow",
                "direction": "INGRESS",
                "ruleName": "rdp-from-somewhere",
            },
        )

    live = read_live(gcp_fake, tmp_path, live_estate(tmp_path / "live", edit))
    [live_rule] = [r for fw in live.firewalls for r in fw.rules if r.name == "rdp-from-somewhere"]
    match = {plan_key: values, "layer4_configs": [{"ip_protocol": "tcp", "ports": ["3389"]}]}
    policy, policy_config = network_policy(match, action="allow", priority=800)
    config = [*NETWORK_CONFIG, firewall_config("tunnel"), *policy_config, instance_config()]
    plan = load_plan(write_plan(tmp_path, [*network(), TUNNEL, *policy, instance()], config))
    [plan_rule] = [r for fw in plan.firewalls for r in fw.rules if r.name == "policy-rule"]
    assert [str(p) for p in live_rule.peers] == [str(p) for p in plan_rule.peers]
    assert all(p.kind in ("unknown", "address_group") for p in live_rule.peers)
    for inv in (live, plan):
        result = scan(inv)
        assert on_port(result, "SWYX001", RDP) == []
        assert unresolved(result)


def test_plan_policy_rule_target_service_account_known_after_apply(tmp_path: Path) -> None:
    """The same for a network firewall policy rule: its target account, unknown until
    apply and not traceable, may select a VM with an account, never one without."""
    policy, policy_config = network_policy(RDP_MATCH, action="allow")
    [rule] = [r for r in policy if r.type.endswith("_rule")]
    rule.unknown["target_service_accounts"] = True
    [rule_config] = [c for c in policy_config if c["type"].endswith("_rule")]
    rule_config["expressions"]["target_service_accounts"] = ref("module.iam.pbx_email")
    config = [
        *NETWORK_CONFIG,
        firewall_config("tunnel"),
        *policy_config,
        instance_config("pbx1"),
        instance_config("gate1"),
    ]
    pbx1 = instance("pbx1", accounts=[{"email": "pbx1@swyx-plan.iam.gserviceaccount.com"}])
    pbx1.unknown["service_account"] = []
    gate1 = instance("gate1")
    gate1.values["tags"] = ["swyx-pbx", "swyx-role-swyxgate"]
    plan = write_plan(tmp_path, [*network(), TUNNEL, *policy, pbx1, gate1], config)
    result = scan(load_plan(plan))
    assert on_port(result, "SWYX001", RDP, vm="pbx1")
    assert [f for f in unresolved(result) if f.vm_name == "pbx1" and "policy-rule" in text(f)]
    assert on_port(result, "SWYX001", RDP, vm="gate1") == []
    assert not [f for f in unresolved(result) if f.vm_name == "gate1" and "policy-rule" in text(f)]


def test_cli_folder_policy_without_projects_exits_3(tmp_path: Path) -> None:
    """Through the CLI: the report is written and says what could not be decided;
    the exit code is 3 (incomplete), never a clean 0."""
    policy, policy_config = hierarchical({"attachment_target": "folders/334455667788"})
    config = [*NETWORK_CONFIG, firewall_config("tunnel"), *policy_config, instance_config()]
    plan = write_plan(tmp_path, [*network(), TUNNEL, *policy, instance()], config)
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "scan", "terraform", str(plan), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "folders/334455667788" in proc.stderr and "Traceback" not in proc.stderr
    report = json.loads(out.read_text())
    assert any("folders/334455667788" in json.dumps(e) for e in report["errors"])
