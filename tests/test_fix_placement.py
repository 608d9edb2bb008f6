"""Where a rule set goes when the VM's firewall object is not its own, and the
cloud limits: each class through the same round trip as the reference estates
(tests/fix_support.py), on plan variants with a second VM.

- AWS: a security group shared by VMs needing different rules gets neither rule
  set; each VM gets a group of its own, attached in place of the shared one.
- Azure: an NSG shared by such VMs carries both rule sets, each naming its VM's
  address as destination.
- GCP: a VM with no network tag of its own gets a new one to carry.
- Limits: more AWS rules than a group holds are reported (exit 1), GCP ranges
  beyond 5,000 are split over rules, an Azure VM without any NSG is skipped.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fix_support import TODAY, applying, assert_exact, fix_plan, load, round_trip, run_fix
from tf_render import clone, parse_resources, set_reference

from policycheck.catalog import default_catalog
from policycheck.engine.context import Context
from policycheck.engine.fix import plan_fix
from policycheck.engine.layouts import GCP_RANGES_PER_RULE, RuleSet, gcp_layout
from policycheck.fixes import FixRule
from policycheck.model import ALL_PORTS, VM, Inventory, Provenance
from policycheck.profile import Profile

REPO = Path(__file__).resolve().parent.parent
PLANS = REPO / "fixtures" / "terraform"
PROFILES = REPO / "examples" / "profiles"


def _plan(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((PLANS / name / "plan.json").read_text(encoding="utf-8"))
    return doc


def _write(doc: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "variant" / "plan.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_aws_group_shared_by_different_roles_gives_each_vm_its_own(tmp_path: Path) -> None:
    doc = clone(
        _plan("aws-compliant"),
        "aws_instance.pbx1",
        "cds2",
        {
            "id": "i-0cd5000000000000a",
            "private_ip": "10.0.1.20",
            "tags": {"Name": "cds2", "swyx-roles": "cds"},
        },
    )
    plan = _write(doc, tmp_path)
    inventory, fixed, terraform = round_trip(plan, None, tmp_path)
    steps = {s["vm_name"]: s for vm in fixed["vms"] for s in vm["setup"]}
    assert {name: s["action"] for name, s in steps.items()} == {
        "pbx1": "attach_security_group",
        "cds2": "attach_security_group",
    }
    assert steps["cds2"]["value"] == "swyx-cds2"
    assert steps["cds2"]["replaces"] == ["sg-0c1d2e3f4a5b6c7d8"]
    assert 'resource "aws_security_group" "swyx_cds2"' in terraform
    assert "security_group_id = aws_security_group.swyx_cds2.id" in terraform
    assert "attach security group swyx-cds2 to cds2 (aws_instance.cds2)" in terraform
    assert_exact(inventory, fixed, None, fix_plan(tmp_path / "fixed" / "plan.json", None))


def test_aws_group_shared_by_equal_rule_sets_is_kept(tmp_path: Path) -> None:
    # Two CDS servers behind one group need the same rules: the group carries them.
    doc = _plan("aws-compliant")
    for rc in doc["resource_changes"]:
        if rc["address"] == "aws_instance.pbx1":
            rc["change"]["after"]["tags"] = {"Name": "cds1", "swyx-roles": "cds"}
    for res in doc["planned_values"]["root_module"]["resources"]:
        if res["address"] == "aws_instance.pbx1":
            res["values"]["tags"] = {"Name": "cds1", "swyx-roles": "cds"}
    doc = clone(
        doc,
        "aws_instance.pbx1",
        "cds2",
        {
            "id": "i-0cd5000000000000b",
            "private_ip": "10.0.1.21",
            "tags": {"Name": "cds2", "swyx-roles": "cds"},
        },
    )
    plan = _write(doc, tmp_path)
    inventory, fixed, _ = round_trip(plan, None, tmp_path)
    assert [s for vm in fixed["vms"] for s in vm["setup"]] == []
    (placement,) = fixed["placements"]
    assert placement["name"] == "swyx-pbx" and len(placement["vms"]) == 2
    assert_exact(inventory, fixed, None, fix_plan(tmp_path / "fixed" / "plan.json", None))


def _dmz_with(name: str, address: str, tags: dict[str, str]) -> dict[str, Any]:
    """The example DMZ plan with a second VM in rc1's subnet (behind its subnet NSG)."""
    nic = next(
        r
        for r in _plan("example-azure-dmz")["planned_values"]["root_module"]["resources"]
        if r["address"] == "azurerm_network_interface.rc1"
    )
    config = {**nic["values"]["ip_configuration"][0], "private_ip_address": address}
    doc = clone(
        _plan("example-azure-dmz"),
        "azurerm_network_interface.rc1",
        name,
        {"name": f"{name}-nic", "ip_configuration": [config]},
    )
    doc = clone(
        doc,
        "azurerm_windows_virtual_machine.rc1",
        name,
        {"name": name, "computer_name": name, "tags": tags},
    )
    return set_reference(
        doc,
        f"azurerm_windows_virtual_machine.{name}",
        "network_interface_ids",
        f"azurerm_network_interface.{name}",
    )


def test_azure_nsg_shared_by_different_roles_names_each_vm(tmp_path: Path) -> None:
    doc = _dmz_with("cds2", "10.0.9.20", {"swyx-roles": "cds"})
    plan = _write(doc, tmp_path)
    profile = PROFILES / "azure-dmz-remote-connector.yaml"
    inventory, fixed, _ = round_trip(plan, profile, tmp_path)
    dmz = next(p for p in fixed["placements"] if p["name"] == "dmz-nsg")
    allows = [r for r in dmz["rules"] if r["action"] == "allow" and r["direction"] == "inbound"]
    assert {tuple(r["local"]) for r in allows} == {("10.0.9.10/32",), ("10.0.9.20/32",)}
    priorities = [r["priority"] for r in dmz["rules"] if r["direction"] == "inbound"]
    assert len(priorities) == len(set(priorities)) and max(priorities) == 4096
    assert_exact(inventory, fixed, profile, fix_plan(tmp_path / "fixed" / "plan.json", profile))


def test_azure_nsg_serving_a_vm_without_roles_leaves_it_alone(tmp_path: Path) -> None:
    # web1 (no Swyx role) sits in rc1's DMZ subnet: the subnet NSG serves both.
    doc = _dmz_with("web1", "10.0.9.30", {})
    plan = _write(doc, tmp_path)
    profile = PROFILES / "azure-dmz-remote-connector.yaml"
    inventory, fixed, terraform = round_trip(plan, profile, tmp_path)
    rc1 = next(v for v in fixed["vms"] if v["vm_name"] == "rc1")
    # Every dmz-nsg rule rc1's rule set replaces serves web1 too, and the output says so.
    dmz = {(r["firewall_id"], r["rule_id"]) for r in rc1["replaces"] if "dmz" in r["firewall_id"]}
    assert dmz and {(s["rule"]["firewall_id"], s["rule"]["rule_id"]) for s in rc1["shared"]} == dmz
    assert {tuple(s["vms"]) for s in rc1["shared"]} == {("web1",)}
    assert "also applies to web1" in terraform
    # The deny of everything names rc1 alone: web1 is not cut off from the VNet.
    placement = next(p for p in fixed["placements"] if p["name"] == "dmz-nsg")
    denies = [r for r in placement["rules"] if r["action"] == "deny"]
    assert [(r["direction"], r["local"]) for r in denies] == [
        ("inbound", ["10.0.9.10/32"]),
        ("outbound", ["10.0.9.10/32"]),
    ]
    generated = {f"azurerm_network_security_rule.{r.name}" for r in parse_resources(terraform)}
    on_web1 = {
        address
        for *_, address in applying(
            inventory, load(profile), "azurerm_windows_virtual_machine.web1"
        )
    }
    assert generated and not on_web1 & generated
    assert_exact(inventory, fixed, profile, fix_plan(tmp_path / "fixed" / "plan.json", profile))


def test_inline_rules_must_go_and_those_not_replaced_are_kept(tmp_path: Path) -> None:
    # An inline rule of pbx1's NSG for another address (10.0.1.99) does not apply to
    # pbx1: it is not replaced, yet its block cannot stay beside rule resources.
    doc = _plan("example-azure-dmz")
    other = {
        "access": "Allow",
        "description": "",
        "destination_address_prefix": "10.0.1.99",
        "destination_address_prefixes": [],
        "destination_application_security_group_ids": [],
        "destination_port_range": "443",
        "destination_port_ranges": [],
        "direction": "Inbound",
        "name": "other-host-https",
        "priority": 1500,
        "protocol": "Tcp",
        "source_address_prefix": "10.0.0.0/8",
        "source_address_prefixes": [],
        "source_application_security_group_ids": [],
        "source_port_range": "*",
        "source_port_ranges": [],
    }
    unknown = {"destination_address_prefixes": [], "source_address_prefixes": []}
    for res in doc["planned_values"]["root_module"]["resources"]:
        if res["address"] == "azurerm_network_security_group.pbx":
            res["values"]["security_rule"].append(other)
    for rc in doc["resource_changes"]:
        if rc["address"] == "azurerm_network_security_group.pbx":
            rc["change"]["after"]["security_rule"].append(other)
            rc["change"]["after_unknown"]["security_rule"].append(unknown)
    plan = _write(doc, tmp_path)
    profile = PROFILES / "azure-dmz-remote-connector.yaml"
    inventory, fixed, terraform = round_trip(plan, profile, tmp_path)
    placement = next(p for p in fixed["placements"] if p["name"] == "pbx1-nsg")
    kept = "azurerm_network_security_group.pbx/security_rule/other-host-https"
    assert len(placement["inline_rules"]) == 11 and kept in placement["inline_rules"]
    assert [r.rsplit("/", 1)[-1] for r in placement["inline_kept"]] == ["other-host-https"]
    assert "azurerm_network_security_group.pbx: remove its inline security_rule blocks" in terraform
    assert f"#   - {placement['inline_kept'][0]}" in terraform
    dmz = next(p for p in fixed["placements"] if p["name"] == "dmz-nsg")
    assert dmz["inline_rules"] and dmz["inline_kept"] == []
    assert_exact(inventory, fixed, profile, fix_plan(tmp_path / "fixed" / "plan.json", profile))


def test_gcp_vm_without_a_tag_of_its_own_gets_one(tmp_path: Path) -> None:
    # lm2 holds CDS and LinkManager: its role tags are cds1's and pbx1's too.
    doc = clone(
        _plan("example-gcp-split"),
        "google_compute_instance.cds1",
        "lm2",
        {"name": "lm2", "tags": ["swyx-role-cds", "swyx-role-linkmanager"]},
    )
    for rc in doc["resource_changes"]:
        if rc["address"] == "google_compute_instance.lm2":
            rc["change"]["after"]["network_interface"][0]["network_ip"] = "10.0.1.30"
    plan = _write(doc, tmp_path)
    profile = PROFILES / "gcp-split-roles.yaml"
    inventory, fixed, terraform = round_trip(plan, profile, tmp_path)
    steps = [s for vm in fixed["vms"] for s in vm["setup"]]
    assert [(s["vm_name"], s["action"], s["value"]) for s in steps] == [
        ("lm2", "add_network_tag", "swyx-lm2")
    ]
    tags = {p["name"]: p["target_tags"] for p in fixed["placements"]}
    assert tags["swyx-net/swyx-cds"] == ["swyx-cds"]  # cds1 keeps its own tag
    assert 'target_tags   = ["swyx-lm2"]' in terraform
    assert_exact(inventory, fixed, profile, fix_plan(tmp_path / "fixed" / "plan.json", profile))


# ------------------------------------------------------------------ limits


def test_more_aws_rules_than_a_group_holds_is_reported(tmp_path: Path) -> None:
    carriers = [f"198.51.100.{i}/32" for i in range(1, 41)]
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "peer_groups": {"carrier": carriers},
                "sip_trunks": [
                    {"name": "carrier", "peers": ["carrier"], "role": "swyxware-server"}
                ],
            }
        ),
        encoding="utf-8",
    )
    plan = PLANS / "aws-broken" / "plan.json"
    data = json.loads(run_fix(plan, profile, "json", exit_code=1))
    (limit,) = [x for x in data["limits"] if x["limit"] == "inbound IPv4 rules per security group"]
    assert limit["maximum"] == 60 and limit["needed"] > 60
    assert limit["where"] == "swyx-pbx" and limit["reference"].startswith("https://docs.aws")
    text = run_fix(plan, profile, "terraform", exit_code=1)
    assert "# LIMITS EXCEEDED" in text and "inbound IPv4 rules per security group" in text


def test_gcp_splits_ranges_beyond_a_rules_limit() -> None:
    peers = tuple(f"10.{i // 256}.{i % 256}.1/32" for i in range(GCP_RANGES_PER_RULE + 10))
    rule = FixRule(
        direction="inbound", protocol="tcp", ports=(ALL_PORTS,), peers=peers, catalog_rows=("r",)
    )
    vm = VM(
        provider="gcp",
        id="vm",
        name="vm",
        networks=("net",),
        network_tags=("own",),
        provenance=Provenance(source="gcp"),
    )
    laid = gcp_layout([RuleSet(vm=vm, rules=(rule,))], Context(Inventory(vms=[vm]), []))
    allows = [r for r in laid.placements[0].rules if r.action == "allow"]
    assert [len(r.peers) for r in allows] == [GCP_RANGES_PER_RULE, 10]
    assert laid.limits == []


def test_azure_vm_without_an_nsg_is_skipped_with_the_reason() -> None:
    vm = VM(
        provider="azure",
        id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/pbx9",
        name="pbx9",
        addresses=("10.0.1.9",),
        tags={"swyx-roles": "cds"},
        provenance=Provenance(source="azure"),
    )
    result = plan_fix(Inventory(vms=[vm]), Profile(), default_catalog(), today=TODAY)
    assert result.vms == []
    (skipped,) = result.skipped
    assert skipped.vm_name == "pbx9" and "no NSG" in skipped.reason


@pytest.mark.parametrize("name", ["aws-broken", "azure-broken", "gcp-broken"])
def test_a_vm_without_roles_gets_no_rule_set(name: str) -> None:
    from policycheck.sources.terraform import load_plan

    inventory = load_plan(PLANS / name / "plan.json")
    bare = copy.deepcopy(inventory)
    bare.vms = [vm.model_copy(update={"tags": {}, "network_tags": ()}) for vm in inventory.vms]
    bare.firewalls = [fw.model_copy(update={"tags": {}}) for fw in inventory.firewalls]
    result = plan_fix(bare, Profile(), default_catalog(), today=TODAY)
    assert result.vms == [] and result.placements == []
    assert [s.vm_name for s in result.skipped] == ["pbx1"]
    assert "SWYX006" in result.skipped[0].reason
