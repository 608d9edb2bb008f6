"""The Azure collector in-process, through the real azure-identity and azure-mgmt-*
SDKs, against the fake ARM/Entra server: what comes back is exactly the estate in
fixtures/azure/, read with GET list calls only, every page followed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from azure_fake import (  # noqa: F401
    ACCESS_TOKEN,
    CLIENT_SECRET,
    FIXTURES,
    FakeArm,
    azure_env,
    fake_arm,
    read_arm,
)

from policycheck.errors import InputError
from policycheck.model import VM, Attachment, FirewallObject, Inventory, Rule

BROKEN = "b0000000-0000-4000-8000-000000000001"
COMPLIANT = "c0000000-0000-4000-8000-000000000001"
OTHER = "f0000000-0000-4000-8000-000000000001"
RG = "resourceGroups/rg-swyx/providers"

#: The api-versions azure-mgmt-resource-subscriptions 1.0, azure-mgmt-network 33
#: and azure-mgmt-compute 39 send; an SDK upgrade changes them (update here).
API_VERSIONS = {
    "/subscriptions": "2022-12-01",
    "networkSecurityGroups": "2026-03-01",
    "networkInterfaces": "2026-03-01",
    "virtualNetworks": "2026-03-01",
    "applicationSecurityGroups": "2026-03-01",
    "serviceTags": "2026-03-01",
    "virtualMachines": "2026-04-01",
}
PAGED = [k for k in API_VERSIONS if k != "serviceTags"]

ANY = "service_tag:*"
VNET = "service_tag:VirtualNetwork"
#: name, direction, action, priority, protocol, ports, peers, targets
Shape = tuple[str, str, str, int, str, list[str], list[str], list[str]]
DEFAULTS: list[Shape] = [
    ("AllowVnetInBound", "inbound", "allow", 65000, "all", ["0-65535"], [VNET], [VNET]),
    (
        "AllowAzureLoadBalancerInBound",
        "inbound",
        "allow",
        65001,
        "all",
        ["0-65535"],
        ["service_tag:AzureLoadBalancer"],
        [],
    ),
    ("DenyAllInBound", "inbound", "deny", 65500, "all", ["0-65535"], [ANY], []),
    ("AllowVnetOutBound", "outbound", "allow", 65000, "all", ["0-65535"], [VNET], [VNET]),
    (
        "AllowInternetOutBound",
        "outbound",
        "allow",
        65001,
        "all",
        ["0-65535"],
        ["service_tag:Internet"],
        [],
    ),
    ("DenyAllOutBound", "outbound", "deny", 65500, "all", ["0-65535"], [ANY], []),
]
BROKEN_RULES: list[Shape] = [
    ("B1", "inbound", "allow", 1000, "tcp", ["3389-3389"], ["0.0.0.0/0"], []),
    ("B2", "inbound", "allow", 1010, "tcp", ["5060-5060"], ["0.0.0.0/0"], []),
    ("B3", "inbound", "allow", 1020, "all", ["0-65535"], ["10.0.0.0/8"], []),
    ("B4", "inbound", "allow", 1030, "tcp", ["22-22"], ["::/0"], []),
    ("B5", "inbound", "allow", 1040, "tcp", ["16203-16203", "57203-57203"], ["0.0.0.0/0"], []),
    ("B6", "inbound", "allow", 1050, "tcp", ["9094-9094"], ["10.0.0.0/8"], []),
    ("B7", "inbound", "allow", 1060, "tcp", ["9101-9101"], ["0.0.0.0/0"], []),
]
COMPLIANT_RULES: list[Shape] = [
    ("C1", "inbound", "allow", 1000, "tcp", ["16203-16203", "57203-57203"], ["0.0.0.0/0"], []),
    ("C2", "inbound", "allow", 1010, "tcp", ["9101-9101"], ["0.0.0.0/0"], []),
    (
        "C3",
        "inbound",
        "allow",
        1020,
        "tcp",
        ["9094-9094", "9100-9100", "9200-9200"],
        ["10.0.0.0/8"],
        [],
    ),
    ("C4", "inbound", "allow", 1030, "all", ["5060-5060"], ["10.0.0.0/8"], []),
    ("C5", "inbound", "allow", 1040, "udp", ["51000-51499"], ["10.0.0.0/8"], []),
    ("deny-all-inbound", "inbound", "deny", 4096, "all", ["0-65535"], [ANY], []),
    ("E1", "outbound", "allow", 1000, "tcp", ["0-65535"], ["0.0.0.0/0"], []),
    ("E2", "outbound", "allow", 1010, "udp", ["0-65535"], ["0.0.0.0/0"], []),
    ("deny-all-outbound", "outbound", "deny", 4096, "all", ["0-65535"], [ANY], []),
]


def arm_id(sub: str, provider: str, kind: str, name: str) -> str:
    return f"/subscriptions/{sub}/{RG}/{provider}/{kind}/{name}"


def nsg_id(sub: str, name: str) -> str:
    return arm_id(sub, "Microsoft.Network", "networkSecurityGroups", name)


def shape(rule: Rule) -> tuple[Any, ...]:
    return (
        rule.name,
        rule.direction,
        rule.action,
        rule.priority,
        rule.protocol,
        [str(p) for p in rule.ports],
        [str(p) for p in rule.peers],
        [str(p) for p in rule.targets],
    )


def nsg(inventory: Inventory, name: str) -> FirewallObject:
    found = [f for f in inventory.firewalls if f.name == name]
    assert len(found) == 1, [f.name for f in inventory.firewalls]
    return found[0]


def only_vm(inventory: Inventory) -> VM:
    assert [v.name for v in inventory.vms] == ["pbx1"]
    return inventory.vms[0]


# ----------------------------------------------------------------- the estates


def test_broken_estate_nsgs_and_rules_exactly(azure_env: FakeArm) -> None:  # noqa: F811
    inventory = read_arm(azure_env)
    assert inventory.errors == []
    assert inventory.sources == [f"azure:{BROKEN}"]
    assert [f.name for f in inventory.firewalls] == ["pbx1-nsg", "subnet-nsg"]
    pbx = nsg(inventory, "pbx1-nsg")
    assert (pbx.provider, pbx.kind, pbx.id) == ("azure", "nsg", nsg_id(BROKEN, "pbx1-nsg"))
    assert pbx.tags == {"owner": "telephony"}
    assert [shape(r) for r in pbx.rules] == [*BROKEN_RULES, *DEFAULTS]
    subnet = nsg(inventory, "subnet-nsg")
    assert [shape(r) for r in subnet.rules] == [
        ("allow-all-inbound", "inbound", "allow", 100, "all", ["0-65535"], [ANY], []),
        *DEFAULTS,
    ]
    for rule in pbx.rules:
        assert rule.source_ports == pbx.rules[0].source_ports  # "*" everywhere
        assert rule.provenance.scope == BROKEN
        assert rule.provenance.region == "westeurope"
        assert rule.unknown == ()


def test_compliant_estate_nsg_and_rules_exactly(azure_env: FakeArm) -> None:  # noqa: F811
    azure_env.use_estate("compliant")
    inventory = read_arm(azure_env)
    assert inventory.errors == []
    assert [f.name for f in inventory.firewalls] == ["pbx1-nsg"]
    assert [shape(r) for r in inventory.firewalls[0].rules] == [*COMPLIANT_RULES, *DEFAULTS]
    vm = only_vm(inventory)
    assert vm.attachments == (
        Attachment(
            firewall_id=nsg_id(COMPLIANT, "pbx1-nsg"),
            level="interface",
            via=arm_id(COMPLIANT, "Microsoft.Network", "networkInterfaces", "pbx1-nic"),
        ),
    )


def test_rule_ids_are_arm_ids_and_defaults_stay_distinguishable(azure_env: FakeArm) -> None:  # noqa: F811
    pbx = nsg(read_arm(azure_env), "pbx1-nsg")
    ids = [r.id for r in pbx.rules]
    assert ids[:7] == [f"{pbx.id}/securityRules/B{i}" for i in range(1, 8)]
    assert ids[7:] == [f"{pbx.id}/defaultSecurityRules/{d[0]}" for d in DEFAULTS]
    assert all(r.provenance.cloud_id == r.id for r in pbx.rules)


def test_vm_addresses_tags_asgs_networks_and_both_attachment_levels(azure_env: FakeArm) -> None:  # noqa: F811
    inventory = read_arm(azure_env)
    vm = only_vm(inventory)
    vnet = arm_id(BROKEN, "Microsoft.Network", "virtualNetworks", "swyx-vnet")
    # The fixtures' references use "RG-SWYX"; everything comes back in the
    # referenced resources' own spelling so ids compare exactly.
    assert vm.id == arm_id(BROKEN, "Microsoft.Compute", "virtualMachines", "pbx1")
    assert vm.addresses == ("10.0.1.10",)
    assert vm.tags == {"swyx-roles": "swyxware-server, cds, linkmanager, remote-connector"}
    assert vm.app_security_groups == (
        arm_id(BROKEN, "Microsoft.Network", "applicationSecurityGroups", "asg-swyx"),
    )
    assert vm.networks == (vnet,)
    assert vm.attachments == (
        Attachment(
            firewall_id=nsg_id(BROKEN, "subnet-nsg"),
            level="subnet",
            via=f"{vnet}/subnets/pbx-subnet",
        ),
        Attachment(
            firewall_id=nsg_id(BROKEN, "pbx1-nsg"),
            level="interface",
            via=arm_id(BROKEN, "Microsoft.Network", "networkInterfaces", "pbx1-nic"),
        ),
    )
    assert [(n.id, n.name, n.address_spaces) for n in inventory.networks] == [
        (vnet, "swyx-vnet", ("10.0.0.0/16",))
    ]
    assert inventory.address_groups == []  # no rule uses an expandable service tag


def test_referenced_service_tags_are_expanded_with_the_rules_spelling(
    azure_env: FakeArm,  # noqa: F811
    tmp_path: Path,
) -> None:
    estate = tmp_path / "tags"
    shutil.copytree(FIXTURES / "broken", estate)
    nsgs_file = estate / BROKEN / "networkSecurityGroups.json"
    body = json.loads(nsgs_file.read_text())
    rules = body["value"][0]["properties"]["securityRules"]
    rules[0]["properties"]["sourceAddressPrefix"] = "Storage"
    rules[1]["properties"]["sourceAddressPrefix"] = "storage.westeurope"
    nsgs_file.write_text(json.dumps(body))
    azure_env.use_estate(estate)

    inventory = read_arm(azure_env)
    groups = {(g.id, g.name): g.cidrs for g in inventory.address_groups}
    assert groups == {
        ("Storage", "Storage"): ("13.65.107.32/28", "20.38.96.0/19", "2603:1000:4::/64"),
        ("storage.westeurope", "Storage.WestEurope"): ("20.38.108.0/23", "20.60.0.0/19"),
    }
    assert all(g.kind == "service_tag" and g.provider == "azure" for g in inventory.address_groups)


def test_service_tags_that_cannot_be_read_stay_symbolic(azure_env: FakeArm, tmp_path: Path) -> None:  # noqa: F811
    estate = tmp_path / "notags"
    shutil.copytree(FIXTURES / "broken", estate)
    (estate / BROKEN / "serviceTags.json").unlink()  # the fake then fails that call
    azure_env.use_estate(estate)
    inventory = read_arm(azure_env)
    assert inventory.errors == []
    assert inventory.address_groups == []
    assert len(inventory.firewalls) == 2


# ---------------------------------------------------- what the SDK really sent


def test_paths_api_versions_and_paging_are_the_sdks(azure_env: FakeArm) -> None:  # noqa: F811
    read_arm(azure_env)
    seen: dict[str, list[tuple[str, str | None]]] = {}
    for req in azure_env.arm_requests():
        key = "/subscriptions" if req.path == "/subscriptions" else req.path.rsplit("/", 1)[-1]
        skip = req.query.get("$skiptoken")
        seen.setdefault(key, []).append((req.query["api-version"][0], skip[0] if skip else None))
    assert set(seen) == set(API_VERSIONS)
    for key in PAGED:
        # First page, then the nextLink (api-version kept, $skiptoken added).
        assert seen[key] == [(API_VERSIONS[key], None), (API_VERSIONS[key], "1")], key
    # Service tags come one per page (the fake's choice) and every nextLink is followed.
    tags = json.loads((FIXTURES / "broken" / BROKEN / "serviceTags.json").read_text())["values"]
    version = API_VERSIONS["serviceTags"]
    assert seen["serviceTags"] == [
        (version, None),
        *((version, str(i)) for i in range(1, len(tags))),
    ]
    paths = {r.path for r in azure_env.arm_requests()}
    prefix = f"/subscriptions/{BROKEN}/providers"
    assert paths == {
        "/subscriptions",
        f"{prefix}/Microsoft.Network/networkSecurityGroups",
        f"{prefix}/Microsoft.Network/networkInterfaces",
        f"{prefix}/Microsoft.Network/virtualNetworks",
        f"{prefix}/Microsoft.Network/applicationSecurityGroups",
        f"{prefix}/Microsoft.Network/locations/westeurope/serviceTags",
        f"{prefix}/Microsoft.Compute/virtualMachines",
    }


def test_only_get_requests_reach_arm_and_one_token_request_the_authority(
    azure_env: FakeArm,  # noqa: F811
) -> None:
    read_arm(azure_env)
    arm = azure_env.arm_requests()
    assert arm and {r.method for r in arm} == {"GET"}
    assert {r.authorization for r in arm} == {f"Bearer {ACCESS_TOKEN}"}
    others = [(r.method, r.path) for r in azure_env.requests if not r.is_arm]
    assert [m for m, _ in others].count("POST") == 1
    assert all(p.endswith(("/oauth2/v2.0/token", "/openid-configuration")) for _, p in others)


def test_sdk_provider_registration_post_is_refused_before_it_leaves(azure_env: FakeArm) -> None:  # noqa: F811
    azure_env.failures = {BROKEN: 409}
    with pytest.raises(InputError) as caught:  # the only subscription: nothing was read
        read_arm(azure_env, [BROKEN])
    assert {r.method for r in azure_env.arm_requests()} == {"GET"}
    message = str(caught.value)
    assert message.startswith(f"azure: nothing could be read, so nothing was checked: {BROKEN}:")
    assert "refused POST" in message and "/providers/Microsoft.Network/register" in message


def test_explicit_subscriptions_skip_the_subscription_list(azure_env: FakeArm) -> None:  # noqa: F811
    inventory = read_arm(azure_env, [BROKEN])
    assert inventory.sources == [f"azure:{BROKEN}"]
    assert not any(r.path == "/subscriptions" for r in azure_env.arm_requests())


def test_progress_reports_each_subscription(azure_env: FakeArm) -> None:  # noqa: F811
    messages: list[str] = []
    read_arm(azure_env, progress=messages.append)
    assert messages == [f"azure {BROKEN}: 2 NSGs, 1 VMs"]


# ----------------------------------------------------------------- failures


def test_one_failing_subscription_is_a_collection_error_and_the_rest_is_intact(
    azure_env: FakeArm,  # noqa: F811
) -> None:
    azure_env.extra_subscriptions = [OTHER]
    azure_env.failures = {OTHER: 403}
    inventory = read_arm(azure_env, max_workers=2)
    assert [(e.provider, e.scope) for e in inventory.errors] == [("azure", OTHER)]
    assert "HTTP 403 AuthorizationFailed" in inventory.errors[0].message
    assert inventory.sources == [f"azure:{BROKEN}", f"azure:{OTHER}"]
    assert [shape(r) for r in nsg(inventory, "pbx1-nsg").rules] == [*BROKEN_RULES, *DEFAULTS]
    assert len(only_vm(inventory).attachments) == 2


def test_unknown_subscription_is_a_collection_error(azure_env: FakeArm) -> None:  # noqa: F811
    inventory = read_arm(azure_env, [BROKEN, OTHER])
    assert [e.scope for e in inventory.errors] == [OTHER]
    assert "HTTP 404 SubscriptionNotFound" in inventory.errors[0].message
    assert len(inventory.firewalls) == 2


def test_token_refused_by_arm_everywhere_is_an_input_error(azure_env: FakeArm) -> None:  # noqa: F811
    azure_env.failures = {BROKEN: 401}
    with pytest.raises(InputError, match=r"^azure: authentication refused: HTTP 401"):
        read_arm(azure_env, [BROKEN])


def test_wrong_secret_is_one_line_without_the_secret(
    azure_env: FakeArm,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "WRONG-secret-value-0123456789"
    monkeypatch.setenv("AZURE_CLIENT_SECRET", wrong)
    with pytest.raises(InputError) as caught:
        read_arm(azure_env)
    message = str(caught.value)
    assert message.startswith("azure: cannot get a token:")
    assert "AADSTS7000215" in message
    assert "\n" not in message
    assert wrong not in message and CLIENT_SECRET not in message
    assert not azure_env.arm_requests()  # nothing was read with a bad credential


def test_missing_credential_is_an_input_error(
    azure_env: FakeArm,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    with pytest.raises(InputError, match=r"^azure: cannot get a token: .*EnvironmentCredential"):
        read_arm(azure_env)


def test_no_visible_subscription_is_an_input_error(azure_env: FakeArm, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "subscriptions.json").write_text('{"value": []}')
    azure_env.use_estate(tmp_path)
    with pytest.raises(InputError, match="sees no subscription; pass --subscription"):
        read_arm(azure_env)


def test_malformed_resource_is_a_collection_error(azure_env: FakeArm, tmp_path: Path) -> None:  # noqa: F811
    estate = tmp_path / "malformed"
    shutil.copytree(FIXTURES / "broken", estate)
    nsgs_file = estate / BROKEN / "networkSecurityGroups.json"
    body = json.loads(nsgs_file.read_text())
    body["value"][0]["properties"]["securityRules"][0]["properties"]["direction"] = "Sideways"
    nsgs_file.write_text(json.dumps(body))
    azure_env.use_estate(estate)
    with pytest.raises(InputError) as caught:  # the only subscription: nothing was read
        read_arm(azure_env)
    message = str(caught.value)
    assert message.startswith(f"azure: nothing could be read, so nothing was checked: {BROKEN}:")
    assert "unexpected ARM response" in message and "Sideways" in message
