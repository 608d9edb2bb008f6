"""What a scan shares between VMs changes nothing any VM is told.

The engine resolves a shared firewall object's rules once per scan, keeps one
sweep plan per distinct protocols and ports of the layers, and one access per
distinct content of the layers (``Context``, ``AccessMemo``). Each VM evaluated
in one scan-wide context must get exactly what it gets alone in a fresh context:
the same regions naming its own rules (firewall and rule ids), the same shadowed
and unresolved rules, the same problems.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from model_estates import prov, rule

from policycheck.engine.access import Access
from policycheck.engine.context import Context
from policycheck.engine.evaluate import vm_access
from policycheck.engine.providers import VMLayers
from policycheck.model import (
    ALL_PORTS,
    VM,
    Attachment,
    Direction,
    FirewallObject,
    Inventory,
    Network,
    Peer,
    PortRange,
)
from policycheck.sources import snapshot

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

INTERNAL = ("10.0.0.0/8",)
DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound")


def _rules(rrs: Any) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return tuple((rr.firewall.id, rr.rule.id, rr.unresolved) for rr in rrs)


def view(layers: VMLayers, access: Access) -> object:
    """Everything a finding is built from, by value and by the rules' own ids."""
    return (
        sorted(
            (
                r.protocol,
                r.ports.intervals,
                r.source_ports.intervals,
                r.addrs.intervals,
                _rules(r.rules),
            )
            for r in access.regions
        ),
        access.named,
        _rules(access.shadowed),
        [(layer.label, layer.ordered, _rules(layer.rules)) for layer in layers.layers],
        _rules(layers.unresolved),
        layers.problems,
    )


def assert_shared_equals_alone(inventory: Inventory) -> None:
    ctx = Context(inventory, INTERNAL)
    for vm in inventory.vms:
        for direction in DIRECTIONS:
            shared = vm_access(vm, direction, ctx)
            alone = vm_access(vm, direction, Context(inventory, INTERNAL))
            assert view(*shared) == view(*alone), (vm.id, direction)


def test_generated_estate_shared_equals_alone(tmp_path: Path) -> None:
    # Three clouds, shared subnet NSGs and security groups, per-VM firewalls,
    # one GCP network per project holding every tenant's rules, broken tenants.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import estates
    finally:
        sys.path.remove(str(BENCHMARKS))
    path = estates.write_estate(tmp_path, "snapshot", 60).path
    assert_shared_equals_alone(snapshot.load(path))


def _vm(
    provider: str,
    name: str,
    address: str,
    attachments: tuple[Attachment, ...],
    network: str = "vnet",
    asgs: tuple[str, ...] = (),
) -> VM:
    return VM(
        provider=provider,
        id=name,
        name=name,
        addresses=(address,),
        attachments=attachments,
        networks=(network,) if provider == "azure" else (),
        app_security_groups=asgs,
        provenance=prov(provider),
    )


def _fw(provider: str, kind: str, fw_id: str, rules: list[Any]) -> FirewallObject:
    return FirewallObject(
        provider=provider,
        kind=kind,
        id=fw_id,
        name=fw_id,
        rules=tuple(rules),
        provenance=prov(provider),
    )


def _sg_rules(source_ports: tuple[PortRange, ...] = (ALL_PORTS,)) -> list[Any]:
    return [
        rule("aws", "sip", "udp", [(5060, 5060)], ["192.0.2.0/24"]),
        rule("aws", "https", "tcp", [(443, 443)], ["198.51.100.0/24"], source_ports=source_ports),
    ]


def test_aws_group_shared_and_named_twice() -> None:
    """A shared group's prefix rules are resolved once for its VMs; a rule naming
    the group (its *other* members) is each VM's own. A VM with the group on two
    interfaces has two copies of its rules, so a VM behind two equal groups (the
    same content, a sweep shared with it) still names each group's rule."""
    shared = _fw(
        "aws",
        "security_group",
        "sg-shared",
        [
            *_sg_rules(),
            rule(
                "aws",
                "peers",
                "tcp",
                [(1, 65535)],
                [],
                peer_objs=(Peer(kind="security_group", value="sg-shared"),),
            ),
        ],
    )
    plain = _fw("aws", "security_group", "sg-plain", _sg_rules())
    copies = [_fw("aws", "security_group", f"sg-copy{i}", _sg_rules()) for i in (1, 2)]
    # Equal ports but for a source-port range: a sweep plan of its own.
    sport = _fw("aws", "security_group", "sg-sport", _sg_rules((PortRange(lo=1024, hi=2047),)))
    on = [Attachment(firewall_id=fw.id) for fw in (shared, plain, *copies, sport)]
    vms = [
        _vm("aws", "a", "10.0.1.1", (on[0], on[1])),
        _vm("aws", "b", "10.0.1.2", (on[0],)),
        _vm("aws", "twice", "10.0.1.3", (on[1], on[1])),
        _vm("aws", "plain", "10.0.1.4", (on[1],)),
        _vm("aws", "copies", "10.0.1.5", (on[2], on[3])),
        _vm("aws", "sport", "10.0.1.6", (on[4],)),
    ]
    assert_shared_equals_alone(Inventory(vms=vms, firewalls=[shared, plain, *copies, sport]))


def _nsg_rules() -> list[Any]:
    return [
        rule(
            "azure",
            "vnet",
            "tcp",
            [(443, 443)],
            [],
            peer_objs=(Peer(kind="service_tag", value="VirtualNetwork"),),
            priority=100,
        ),
        rule(
            "azure",
            "internet",
            "udp",
            [(5060, 5060)],
            [],
            peer_objs=(Peer(kind="service_tag", value="Internet"),),
            priority=110,
        ),
    ]


def test_azure_nsg_shared_by_vms_vnets_and_levels() -> None:
    """A shared NSG's VirtualNetwork/Internet rules mean each VM's VNet space; an
    ASG peer means the other members; a prefix target selects per VM. An NSG at
    both the subnet and the NIC has two layers of its own rules, so a VM behind
    two equal NSGs (a sweep shared with it) still names each NSG's rule."""
    nsg = _fw(
        "azure",
        "nsg",
        "nsg-shared",
        [
            *_nsg_rules(),
            rule(
                "azure",
                "asg",
                "tcp",
                [(3389, 3389)],
                [],
                peer_objs=(Peer(kind="app_security_group", value="asg-1"),),
                priority=120,
            ),
            rule(
                "azure",
                "to-one",
                "tcp",
                [(22, 22)],
                ["198.51.100.0/24"],
                targets=(Peer.cidr("10.0.1.1/32"),),
                priority=130,
            ),
        ],
    )
    plain = _fw("azure", "nsg", "nsg-plain", _nsg_rules())
    copies = [_fw("azure", "nsg", f"nsg-copy{i}", _nsg_rules()) for i in (1, 2)]

    def at(fw: FirewallObject, level: str) -> Attachment:
        return Attachment(firewall_id=fw.id, level=level)  # type: ignore[arg-type]

    vms = [
        _vm("azure", "a", "10.0.1.1", (at(nsg, "subnet"),), asgs=("asg-1",)),
        _vm("azure", "b", "10.0.1.2", (at(nsg, "subnet"),), asgs=("asg-1",)),
        _vm("azure", "other-vnet", "10.1.2.3", (at(nsg, "subnet"),), network="vnet2"),
        _vm("azure", "twice", "10.0.1.4", (at(plain, "subnet"), at(plain, "interface"))),
        _vm("azure", "plain", "10.0.1.5", (at(plain, "subnet"),)),
        _vm("azure", "copies", "10.0.1.6", (at(copies[0], "subnet"), at(copies[1], "interface"))),
    ]
    networks = [
        Network(provider="azure", id="vnet", address_spaces=("10.0.0.0/16",)),
        Network(provider="azure", id="vnet2", address_spaces=("10.1.0.0/16",)),
    ]
    assert_shared_equals_alone(
        Inventory(vms=vms, firewalls=[nsg, plain, *copies], networks=networks)
    )
