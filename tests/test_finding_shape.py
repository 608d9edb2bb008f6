"""What the engine hands the reports beyond the findings' regions: one finding per
change to make (platform splits merged), the names of the peers a finding
mentions, and every VM checked with its roles and where each came from."""

from __future__ import annotations

import datetime as dt

import pytest
from model_estates import estate, prov, rule

from policycheck.catalog import default_catalog
from policycheck.engine.compare import merge_duplicates
from policycheck.engine.evaluate import evaluate, peer_names
from policycheck.engine.intervals import addr_set
from policycheck.findings import Finding, RoleOrigin, ScanResult
from policycheck.model import VM, Attachment, FirewallObject, Inventory
from policycheck.profile import Profile
from policycheck.report.common import message
from policycheck.report.text import render_text

TODAY = dt.date(2026, 1, 1)


def scan(inventory: Inventory, profile: Profile | None = None) -> ScanResult:
    return evaluate(inventory, profile or Profile(), default_catalog(), today=TODAY)


def of(result: ScanResult, rule_id: str) -> list[Finding]:
    return [f for f in result.findings if f.rule_id == rule_id]


# ------------------------------------------------------------------ duplicates


def test_azure_default_outbound_rules_of_nic_and_subnet_nsg_are_one_finding() -> None:
    """Azure's AllowVnetOutBound and AllowInternetOutBound, on the NIC NSG and on
    the subnet NSG, split "every other protocol to anywhere" in two: one finding
    naming all four platform rules."""
    (egress,) = of(scan(estate("azure", "broken")), "SWYX004")
    assert [(r.firewall_name, r.rule_name, r.default) for r in egress.rules] == [
        ("pbx1-nsg", "AllowInternetOutBound", True),
        ("subnet-nsg", "AllowInternetOutBound", True),
        ("pbx1-nsg", "AllowVnetOutBound", True),
        ("subnet-nsg", "AllowVnetOutBound", True),
    ]
    (part,) = egress.region
    assert (part.protocol, part.excluding) == ("other", ["tcp", "udp"])
    assert part.peers == ["0.0.0.0/0", "::/0"]
    assert "every protocol except tcp, udp to anywhere (0.0.0.0/0, ::/0)" in message(egress)


def _same_nsg_twice(inventory: Inventory) -> Inventory:
    """The NIC NSG attached to the subnet as well, as Azure allows."""
    (vm,) = inventory.vms
    nic = [a for a in vm.attachments if a.level == "interface"]
    twice = (Attachment(firewall_id=nic[0].firewall_id, level="subnet"), *nic)
    firewalls = [fw for fw in inventory.firewalls if fw.id == nic[0].firewall_id]
    return inventory.model_copy(
        update={"vms": [vm.model_copy(update={"attachments": twice})], "firewalls": firewalls}
    )


def test_an_nsg_on_subnet_and_nic_gives_each_finding_and_rule_once() -> None:
    once = Inventory.model_validate(estate("azure", "broken").model_dump())
    nic_only = once.model_copy(
        update={
            "vms": [
                vm.model_copy(
                    update={"attachments": [a for a in vm.attachments if a.level == "interface"]}
                )
                for vm in once.vms
            ],
            "firewalls": [fw for fw in once.firewalls if fw.name == "pbx1-nsg"],
        }
    )
    single = scan(nic_only)
    double = scan(_same_nsg_twice(nic_only))
    assert len(of(double, "SWYX007")) == len(of(single, "SWYX007")) == 1

    def shape(result: ScanResult) -> list[tuple[object, ...]]:
        return sorted(
            (f.rule_id, tuple(p.key() for p in f.region), tuple(r.rule_id for r in f.rules))
            for f in result.findings
        )

    assert shape(double) == shape(single)
    for finding in double.findings:
        ids = [(r.firewall_id, r.rule_id) for r in finding.rules]
        assert len(ids) == len(set(ids)), finding


def test_rules_someone_wrote_stay_separate_findings() -> None:
    """Each written rule is its own change: B1 (RDP) and B4 (SSH) stay two."""
    found = of(scan(estate("aws", "broken")), "SWYX001")
    assert sorted(r.rule_id for f in found for r in f.rules) == ["B1", "B3", "B4"]


def test_merge_is_the_exact_union() -> None:
    """Merged regions claim exactly what the pieces claimed, nothing more."""
    internal = addr_set(["10.0.0.0/8"])
    (base,) = of(scan(estate("azure", "broken")), "SWYX004")
    halves = [
        base.model_copy(update={"region": [p.model_copy(update={"peers": [cidr]})], "rules": [r]})
        for p in base.region
        for cidr, r in [("0.0.0.0/1", base.rules[0]), ("128.0.0.0/1", base.rules[2])]
    ]
    (merged,) = merge_duplicates(halves, internal)
    assert [p.peers for p in merged.region] == [["0.0.0.0/0"]]
    assert [r.rule_name for r in merged.rules] == ["AllowInternetOutBound", "AllowVnetOutBound"]
    # A written rule on one half keeps the halves apart.
    written = base.rules[0].model_copy(update={"default": False})
    apart = [halves[0].model_copy(update={"rules": [written]}), halves[1]]
    assert len(merge_duplicates(apart, internal)) == 2


# ----------------------------------------------------------------- peer names


def _aws_with(extra: list[object], vms: list[VM] | None = None) -> Inventory:
    inventory = estate("aws", "broken")
    (sg,) = inventory.firewalls
    sg = sg.model_copy(update={"rules": (*sg.rules, *extra)})
    return inventory.model_copy(update={"firewalls": [sg], "vms": vms or inventory.vms})


def test_peers_are_named_after_the_profiles_peer_groups() -> None:
    inventory = _aws_with([rule("aws", "jump", "tcp", [(3390, 3390)], ["10.20.0.5/32"])])
    profile = Profile.model_validate(
        {"internal_networks": ["192.168.0.0/16"], "peer_groups": {"bastion": ["10.20.0.5/32"]}}
    )
    result = scan(inventory, profile)
    (jump,) = [f for f in of(result, "SWYX001") if f.rules[0].rule_id == "jump"]
    assert jump.peer_names == {"10.20.0.5/32": "bastion"}
    assert "tcp 3390 from 10.20.0.5/32 (bastion)" in message(jump)
    assert "tcp 3390 from 10.20.0.5/32 (bastion)" in render_text(result, width=100)


def test_the_internet_except_a_named_trunk() -> None:
    inventory = _aws_with([rule("aws", "sip-udp", "udp", [(5060, 5060)], ["0.0.0.0/0"])])
    profile = Profile.model_validate(
        {
            "internal_networks": ["10.0.0.0/8"],
            "peer_groups": {"carrier": ["203.0.113.0/24"]},
            "sip_trunks": [{"name": "carrier", "peers": ["carrier"]}],
        }
    )
    result = scan(inventory, profile)
    (sip,) = [f for f in of(result, "SWYX002") if f.rules[0].rule_id == "sip-udp"]
    assert "udp 5060 from the IPv4 internet except 203.0.113.0/24 (carrier)" in message(sip)
    # Never the fragments the set is made of.
    assert "0.0.0.0/1" not in message(sip) and "11.0.0.0/8" not in message(sip)


def test_vm_addresses_name_a_peer_only_when_unique() -> None:
    def vm(name: str, address: str) -> VM:
        return VM(provider="aws", id=name, name=name, addresses=(address,), provenance=prov("aws"))

    inventory = Inventory(vms=[vm("pbx1", "10.0.1.10"), vm("a", "10.9.0.1"), vm("b", "10.9.0.1")])
    names = peer_names(inventory, Profile.model_validate({"peer_groups": {"IpPbxSrv": []}}))
    assert names == {"10.0.1.10/32": "VM pbx1"}  # 10.9.0.1 is two tenants' address
    groups = Profile.model_validate({"peer_groups": {"IpPbxSrv": ["10.0.1.10/32"]}})
    assert peer_names(inventory, groups)["10.0.1.10/32"] == "IpPbxSrv"  # groups first


# ------------------------------------------------------------------- VM roles


def test_every_vm_is_listed_with_where_each_role_came_from() -> None:
    inventory = estate("aws", "compliant")
    (sg,) = inventory.firewalls
    tagged = sg.model_copy(update={"tags": {"swyx-role-linkmanager": "true"}})
    (pbx,) = inventory.vms
    plain = VM(
        provider="aws",
        id="vm-cds",
        name="cds1",
        addresses=("10.0.1.20",),
        attachments=(Attachment(firewall_id="sg-pbx"),),
        provenance=prov("aws"),
    )
    profile = Profile.model_validate(
        {"role_assignments": [{"match": {"name": "cds*"}, "roles": ["cds"]}]}
    )
    result = scan(
        inventory.model_copy(update={"firewalls": [tagged], "vms": [pbx, plain]}), profile
    )
    assert [vm.name for vm in result.vms] == ["cds1", "pbx1"]  # by name
    roles = {r.role: r.origins for r in result.vms[1].roles}
    assert roles["swyxware-server"] == [RoleOrigin(kind="vm_tag", key="swyx-roles")]
    assert roles["linkmanager"] == [
        RoleOrigin(kind="vm_tag", key="swyx-roles"),
        RoleOrigin(kind="firewall_tag", key="swyx-role-linkmanager", firewall="swyx-pbx"),
    ]
    cds = {r.role: r.origins for r in result.vms[0].roles}
    assert cds == {
        "linkmanager": [
            RoleOrigin(kind="firewall_tag", key="swyx-role-linkmanager", firewall="swyx-pbx")
        ],
        "cds": [RoleOrigin(kind="profile", key="role_assignments[0]")],
    }


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_a_clean_vm_is_listed_as_checked(provider: str) -> None:
    result = scan(estate(provider, "compliant"))  # type: ignore[arg-type]
    assert [f for f in result.findings if f.rule_id in ("SWYX001", "SWYX002", "SWYX003")] == []
    clean = result.model_copy(update={"findings": []})
    text = render_text(clean, width=100)
    assert "Checked, no findings (1 VM):" in text
    assert "pbx1 (" in text and "roles: swyxware-server, cds, linkmanager, remote-connector" in text


def test_firewall_objects_without_a_vm_change_nothing() -> None:
    inventory = estate("aws", "compliant")
    spare = FirewallObject(
        provider="aws", kind="security_group", id="sg-x", name="x", provenance=prov("aws")
    )
    result = scan(inventory.model_copy(update={"firewalls": [*inventory.firewalls, spare]}))
    assert [vm.name for vm in result.vms] == ["pbx1"]
