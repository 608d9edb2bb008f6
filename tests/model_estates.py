"""The reference estate (fixtures/ESTATE.md) built directly in the normalized model.

Engine tests use these so they exercise provider semantics without any source;
source tests check that Terraform, live clouds and snapshots produce findings equal
to the ones these give.
"""

from __future__ import annotations

from typing import Literal

from policycheck.model import (
    ALL_PORTS,
    VM,
    Action,
    Attachment,
    Direction,
    FirewallObject,
    Inventory,
    Network,
    Peer,
    PortRange,
    Provenance,
    Provider,
    Rule,
)

ROLES = "swyxware-server, cds, linkmanager, remote-connector"
ROLE_TAGS = tuple(
    f"swyx-role-{r}" for r in ("swyxware-server", "cds", "linkmanager", "remote-connector")
)
Variant = Literal["broken", "compliant"]

# id, protocol, ports, peers, priority
Spec = tuple[str, str, list[tuple[int, int]], list[str], int]
BROKEN: list[Spec] = [
    ("B1", "tcp", [(3389, 3389)], ["0.0.0.0/0"], 1000),
    ("B2", "tcp", [(5060, 5060)], ["0.0.0.0/0"], 1010),
    ("B3", "all", [(0, 65535)], ["10.0.0.0/8"], 1020),
    ("B4", "tcp", [(22, 22)], ["::/0"], 1030),
    ("B5", "tcp", [(16203, 16203), (57203, 57203)], ["0.0.0.0/0"], 1040),
    ("B6", "tcp", [(9094, 9094)], ["10.0.0.0/8"], 1050),
    ("B7", "tcp", [(9101, 9101)], ["0.0.0.0/0"], 1060),
]
COMPLIANT: list[Spec] = [
    ("C1", "tcp", [(16203, 16203), (57203, 57203)], ["0.0.0.0/0"], 1000),
    ("C2", "tcp", [(9101, 9101)], ["0.0.0.0/0"], 1010),
    ("C3", "tcp", [(9094, 9094), (9100, 9100), (9200, 9200)], ["10.0.0.0/8"], 1020),
    ("C4", "tcp", [(5060, 5060)], ["10.0.0.0/8"], 1030),
    ("C4u", "udp", [(5060, 5060)], ["10.0.0.0/8"], 1031),
    ("C5", "udp", [(51000, 51499)], ["10.0.0.0/8"], 1040),
]


def prov(provider: Provider) -> Provenance:
    return Provenance(source="snapshot", cloud_id=f"{provider}-test")


def rule(
    provider: Provider,
    rule_id: str,
    protocol: str,
    ports: list[tuple[int, int]],
    peers: list[str],
    *,
    priority: int | None = None,
    direction: Direction = "inbound",
    action: Action = "allow",
    targets: tuple[Peer, ...] = (),
    disabled: bool = False,
    peer_objs: tuple[Peer, ...] = (),
    source_ports: tuple[PortRange, ...] = (ALL_PORTS,),
) -> Rule:
    return Rule(
        id=rule_id,
        name=rule_id,
        direction=direction,
        action=action,
        priority=priority,
        protocol=protocol,
        ports=tuple(PortRange(lo=lo, hi=hi) for lo, hi in ports),
        source_ports=source_ports,
        peers=tuple(Peer.cidr(p) for p in peers) + peer_objs,
        targets=targets,
        disabled=disabled,
        provenance=prov(provider),
    )


def _specs(provider: Provider, variant: Variant) -> list[Rule]:
    specs = BROKEN if variant == "broken" else COMPLIANT
    with_priority = provider != "aws"
    rules = [
        rule(provider, rid, proto, ports, peers, priority=prio if with_priority else None)
        for rid, proto, ports, peers, prio in specs
    ]
    if provider == "gcp" and variant == "broken":
        rules.append(rule(provider, "B8", "udp", [(0, 65535)], ["192.168.0.0/16"], priority=1070))
    return rules


def estate(provider: Provider, variant: Variant) -> Inventory:
    """pbx1 and its firewall, in the provider's own structure."""
    inbound = _specs(provider, variant)
    vm_kwargs: dict[str, object] = {}
    networks = [
        Network(provider=provider, id="net-1", name="swyx-net", address_spaces=("10.0.0.0/16",))
    ]
    firewalls: list[FirewallObject] = []
    if provider == "aws":
        egress = (
            [rule(provider, "E1", "all", [(0, 65535)], ["0.0.0.0/0"], direction="outbound")]
            if variant == "broken"
            else [
                rule(provider, "E1", "tcp", [(0, 65535)], ["0.0.0.0/0"], direction="outbound"),
                rule(provider, "E2", "udp", [(0, 65535)], ["0.0.0.0/0"], direction="outbound"),
            ]
        )
        firewalls.append(
            FirewallObject(
                provider=provider,
                kind="security_group",
                id="sg-pbx",
                name="swyx-pbx",
                network="net-1",
                rules=tuple(inbound + egress),
                provenance=prov(provider),
            )
        )
        vm_kwargs = {
            "tags": {"swyx-roles": ROLES},
            "attachments": (Attachment(firewall_id="sg-pbx"),),
        }
    elif provider == "azure":
        rules = list(inbound)
        if variant == "compliant":
            rules += [
                rule(
                    provider,
                    "DenyAll",
                    "all",
                    [(0, 65535)],
                    [],
                    priority=4096,
                    action="deny",
                    peer_objs=(Peer(kind="service_tag", value="*"),),
                ),
                rule(
                    provider,
                    "E1",
                    "tcp",
                    [(0, 65535)],
                    ["0.0.0.0/0"],
                    priority=1000,
                    direction="outbound",
                ),
                rule(
                    provider,
                    "E2",
                    "udp",
                    [(0, 65535)],
                    ["0.0.0.0/0"],
                    priority=1010,
                    direction="outbound",
                ),
                rule(
                    provider,
                    "DenyAllOut",
                    "all",
                    [(0, 65535)],
                    [],
                    priority=4096,
                    action="deny",
                    direction="outbound",
                    peer_objs=(Peer(kind="service_tag", value="*"),),
                ),
            ]
        firewalls.append(
            FirewallObject(
                provider=provider,
                kind="nsg",
                id="nsg-pbx",
                name="pbx1-nsg",
                rules=tuple(rules),
                provenance=prov(provider),
            )
        )
        attachments = [Attachment(firewall_id="nsg-pbx", level="interface")]
        if variant == "broken":
            firewalls.append(
                FirewallObject(
                    provider=provider,
                    kind="nsg",
                    id="nsg-subnet",
                    name="subnet-nsg",
                    rules=(
                        rule(
                            provider,
                            "AllowAll",
                            "all",
                            [(0, 65535)],
                            [],
                            priority=100,
                            peer_objs=(Peer(kind="service_tag", value="*"),),
                        ),
                    ),
                    provenance=prov(provider),
                )
            )
            attachments.append(Attachment(firewall_id="nsg-subnet", level="subnet"))
        vm_kwargs = {
            "tags": {"swyx-roles": ROLES},
            "attachments": tuple(attachments),
            "networks": ("net-1",),
        }
    else:
        target = (Peer(kind="network_tag", value="swyx-pbx"),)
        for r in inbound:
            firewalls.append(
                FirewallObject(
                    provider=provider,
                    kind="vpc_firewall",
                    id=f"fw-{r.id}",
                    name=r.id,
                    network="swyx-net",
                    rules=(r.model_copy(update={"targets": target}),),
                    provenance=prov(provider),
                )
            )
        if variant == "compliant":
            for rid, proto, action, prio in [
                ("E1", "tcp", "allow", 1000),
                ("E2", "udp", "allow", 1000),
                ("E3", "all", "deny", 65000),
            ]:
                firewalls.append(
                    FirewallObject(
                        provider=provider,
                        kind="vpc_firewall",
                        id=f"fw-{rid}",
                        name=rid,
                        network="swyx-net",
                        rules=(
                            rule(
                                provider,
                                rid,
                                proto,
                                [(0, 65535)],
                                ["0.0.0.0/0", "::/0"],
                                priority=prio,
                                direction="outbound",
                                action=action,
                                targets=target,
                            ),
                        ),  # type: ignore[arg-type]
                        provenance=prov(provider),
                    )
                )
        vm_kwargs = {"network_tags": ("swyx-pbx", *ROLE_TAGS), "networks": ("swyx-net",)}
    vm = VM(
        provider=provider,
        id="vm-pbx1",
        name="pbx1",
        addresses=("10.0.1.10",),
        provenance=prov(provider),
        **vm_kwargs,
    )  # type: ignore[arg-type]
    return Inventory(
        sources=[f"model:{provider}-{variant}"], vms=[vm], firewalls=firewalls, networks=networks
    )


def aws_pbx(
    rules: list[Rule],
    roles: str = "swyxware-server",
    extra_vms: tuple[VM, ...] = (),
    extra_fws: tuple[FirewallObject, ...] = (),
) -> Inventory:
    """One AWS VM ``pbx1`` (10.0.1.10) with ``roles`` behind security group ``sg-1``
    holding ``rules``, plus any other VMs and firewalls."""
    sg = FirewallObject(
        provider="aws",
        kind="security_group",
        id="sg-1",
        name="pbx",
        rules=tuple(rules),
        provenance=prov("aws"),
    )
    vm = VM(
        provider="aws",
        id="i-1",
        name="pbx1",
        addresses=("10.0.1.10",),
        tags={"swyx-roles": roles},
        attachments=(Attachment(firewall_id="sg-1"),),
        provenance=prov("aws"),
    )
    return Inventory(vms=[vm, *extra_vms], firewalls=[sg, *extra_fws])
