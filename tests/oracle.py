"""A deliberately simple per-packet reference evaluator for the property tests.

It answers one question -- would this one packet reach (inbound) or leave
(outbound) this VM? -- by walking the rules the way each cloud's documentation
describes, packet by packet. It shares no code with ``policycheck.engine``: only
the model types and :mod:`ipaddress`. It is slow on purpose; every branch
should be checkable against the docs line by line.

A packet is ``(protocol, dport, sport, remote_address)``: the protocol by name
(``"tcp"``) or IANA number (``6`` or ``"6"``), destination and source port
(``None`` for protocols without ports), and the remote end (source of an
inbound packet, destination of an outbound one).

Project decisions the docs leave open, applied the same way on every provider:

- Only TCP and UDP carry ports. A packet of any other protocol is matched only
  by a rule whose destination AND source port ranges cover every port; a
  port-restricted rule (e.g. Azure protocol ``*`` with port 80) cannot match it.
- The packet model has no local address, so a VM-side selector that is a prefix
  (Azure destination prefix, GCP destination range) selects the VM when any of
  the VM's addresses is inside it.
- A symbolic peer the inventory cannot resolve matches no address (the engine
  reports such rules separately).
- A group/tag/service-account peer means every address of its member VMs other
  than the VM under evaluation (its traffic to itself never crosses its own
  firewall). The docs say the *private* (primary internal) addresses only, but
  ``VM.addresses`` does not say which addresses are private.
- AWS: a network ACL without any entry for an address family (an IPv4-only
  VPC's ACL) does not filter that family; one without any entry denies all.
- AWS: a VM whose interfaces sit in subnets with *different* network ACLs is
  reachable through either; the engine then applies no ACL (and says so), and so
  does this oracle.
- Azure ``VirtualNetwork`` is the VM's VNet address spaces, else the profile's
  internal networks (the docs add peered VNets, gateways and on-premises
  prefixes, which the inventory does not describe); ``Internet`` is the rest.
- A VM-side prefix (Azure destination, GCP destination range) against a VM whose
  address is known only to lie in a range (``VM.address_ranges``, e.g. a Dynamic
  IP before apply) or not at all: selected when the range lies inside the prefix,
  not when it misses it, and otherwise *undecidable*. So is a GCP target service
  account against a VM account known only after apply, and a target the model
  cannot resolve (secure tags). An undecidable rule counts as selecting the VM
  when it allows, and as not selecting it otherwise (it hides no exposure).
- GCP implied rules exist for the address families the VM has (both when its
  addresses are wholly unknown).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Iterator

from policycheck.model import (
    UNKNOWN_SERVICE_ACCOUNT,
    VM,
    Action,
    Direction,
    FirewallObject,
    Inventory,
    Peer,
    PortRange,
    Provenance,
    Rule,
)

Packet = tuple[str | int, int | None, int | None, str]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: IANA protocol numbers of the protocols the model names.
IANA = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58}
#: The only protocols whose packets have ports.
PORT_PROTOCOLS = {6, 17}
LAST_PORT = 65535


def allowed(
    inventory: Inventory,
    vm: VM,
    direction: Direction,
    packet: Packet,
    internal_networks: Iterable[str],
) -> bool:
    """Does the VM's provider let ``packet`` through in ``direction``?"""
    if vm.provider == "aws":
        return _aws_allowed(inventory, vm, direction, packet)
    if vm.provider == "azure":
        return _azure_allowed(inventory, vm, direction, packet, list(internal_networks))
    return _gcp_allowed(inventory, vm, direction, packet)


# --------------------------------------------------------------- packet matching


def protocol_number(protocol: str | int) -> int:
    text = str(protocol).lower()
    return IANA[text] if text in IANA else int(text)


def _covers_every_port(ranges: Iterable[PortRange]) -> bool:
    next_uncovered = 0
    for r in sorted(ranges, key=lambda r: r.lo):
        if r.lo > next_uncovered:
            return False
        next_uncovered = max(next_uncovered, r.hi + 1)
    return next_uncovered > LAST_PORT


def _port_in(port: int, ranges: Iterable[PortRange]) -> bool:
    return any(r.lo <= port <= r.hi for r in ranges)


def _l4_matches(rule: Rule, packet: Packet) -> bool:
    """Protocol, destination port and source port of the packet against the rule."""
    protocol, dport, sport, _ = packet
    number = protocol_number(protocol)
    if rule.protocol != "all" and protocol_number(rule.protocol) != number:
        return False
    if number in PORT_PROTOCOLS:
        assert dport is not None and sport is not None, "TCP/UDP packets have ports"
        return _port_in(dport, rule.ports) and _port_in(sport, rule.source_ports)
    return _covers_every_port(rule.ports) and _covers_every_port(rule.source_ports)


# Parsing is cached only because the property tests ask millions of questions.
@functools.cache
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


@functools.cache
def _address(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def _in_cidrs(address: IPAddress, cidrs: Iterable[str]) -> bool:
    for cidr in cidrs:
        network = _network(cidr)
        if network.version == address.version and address in network:
            return True
    return False


def _is_address_of(address: IPAddress, vms: Iterable[VM]) -> bool:
    return any(_address(a) == address for vm in vms for a in vm.addresses)


def _address_group(inventory: Inventory, kind: str, group_id: str) -> list[str] | None:
    for group in inventory.address_groups:
        if group.kind == kind and group.id.lower() == group_id.lower():
            return list(group.cidrs)
    return None


def _remote(packet: Packet) -> IPAddress:
    return _address(packet[3])


# ------------------------------------------------------------------------ AWS
# Security groups (docs: "Security group rules"): allow rules only; the rules of
# every group associated with the instance's interfaces are aggregated, and a
# packet is allowed if ANY rule allows it. A rule naming another security group
# means the addresses of the interfaces associated with that group.
#
# Network ACLs (docs: "Control subnet traffic with network access control
# lists"): the ACL of the instance's subnet filters the packet too, in or out.
# "We process the entries in the network ACL in order, starting with the lowest
# numbered rule... As soon as a rule matches traffic, it's applied"; the last
# rule, "*", denies what no numbered rule matched. ACLs are stateless: a reply is
# a packet of its own (see nacl_allows).


def _aws_allowed(inventory: Inventory, vm: VM, direction: Direction, packet: Packet) -> bool:
    return _aws_groups_allow(inventory, vm, direction, packet) and nacl_allows(
        inventory, vm, direction, packet
    )


def nacl_allows(inventory: Inventory, vm: VM, direction: Direction, packet: Packet) -> bool:
    """The network ACL of the VM's subnet alone: first match by rule number."""
    acls = {fw.id: fw for fw in _attached(inventory, vm, levels=("subnet",))}
    if len(acls) != 1:
        return True  # no ACL; or several, which are not applied (see above)
    [acl] = acls.values()
    # An ACL has entries only for its VPC's address families; a family it has no
    # entry for at all is not filtered by it (project decision, docs/semantics.md).
    families = {_network(p.value).version for r in acl.rules for p in r.peers if p.kind == "cidr"}
    if families and _remote(packet).version not in families:
        return True
    rules = sorted(
        (r for r in acl.rules if r.direction == direction and not r.disabled),
        key=lambda r: r.priority if r.priority is not None else 32767,
    )
    for rule in rules:
        if _l4_matches(rule, packet) and any(
            peer.kind == "cidr" and _in_cidrs(_remote(packet), [peer.value]) for peer in rule.peers
        ):
            return rule.action == "allow"
    return False  # the "*" rule


def _aws_groups_allow(inventory: Inventory, vm: VM, direction: Direction, packet: Packet) -> bool:
    for group in _attached(inventory, vm, levels=("interface",)):
        if group.kind != "security_group":
            continue
        for rule in group.rules:
            if (
                rule.direction == direction
                and rule.action == "allow"
                and not rule.disabled
                and _l4_matches(rule, packet)
                and any(_aws_peer_has(inventory, vm, peer, _remote(packet)) for peer in rule.peers)
            ):
                return True
    return False


def _aws_peer_has(inventory: Inventory, vm: VM, peer: Peer, address: IPAddress) -> bool:
    if peer.kind == "cidr":
        return _in_cidrs(address, [peer.value])
    if peer.kind == "security_group":
        if not any(fw.id.lower() == peer.value.lower() for fw in inventory.firewalls):
            return False  # not resolvable: a group outside the inventory
        members = [
            m
            for m in _others(inventory, vm)
            if any(a.firewall_id.lower() == peer.value.lower() for a in m.attachments)
        ]
        return _is_address_of(address, members)
    if peer.kind == "prefix_list":
        return _in_cidrs(address, _address_group(inventory, "prefix_list", peer.value) or [])
    return False


# ---------------------------------------------------------------------- Azure
# NSGs (docs: "How network security groups filter network traffic"): inbound
# traffic is evaluated by the subnet NSG, then the NIC NSG; outbound by the NIC
# NSG, then the subnet NSG; each must allow. Within an NSG, rules are processed
# in priority order (lowest number first) and processing stops at the first
# match. Every NSG carries the default rules below. No NSG at all: allowed.

AZURE_DEFAULT_RULES: dict[Direction, list[tuple[str, int, Action, str, str]]] = {
    # name, priority, access, remote side, VM side
    "inbound": [
        ("AllowVnetInBound", 65000, "allow", "VirtualNetwork", "VirtualNetwork"),
        ("AllowAzureLoadBalancerInBound", 65001, "allow", "AzureLoadBalancer", "*"),
        ("DenyAllInBound", 65500, "deny", "*", "*"),
    ],
    "outbound": [
        ("AllowVnetOutBound", 65000, "allow", "VirtualNetwork", "VirtualNetwork"),
        ("AllowInternetOutBound", 65001, "allow", "Internet", "*"),
        ("DenyAllOutBound", 65500, "deny", "*", "*"),
    ],
}
AZURE_LOAD_BALANCER = "168.63.129.16/32"


def _azure_allowed(
    inventory: Inventory,
    vm: VM,
    direction: Direction,
    packet: Packet,
    internal_networks: list[str],
) -> bool:
    nsgs = list(_attached(inventory, vm, levels=("subnet", "interface")))
    if not nsgs:
        return True
    # Both must allow, so the subnet/NIC order does not change the verdict.
    return all(
        _azure_nsg_allows(inventory, vm, nsg, direction, packet, internal_networks) for nsg in nsgs
    )


def _azure_nsg_allows(
    inventory: Inventory,
    vm: VM,
    nsg: FirewallObject,
    direction: Direction,
    packet: Packet,
    internal_networks: list[str],
) -> bool:
    rules = [r for r in nsg.rules if r.direction == direction and not r.disabled]
    # A source that read the NSG's defaultSecurityRules lists them (>= 65000).
    if not any((r.priority or 0) >= 65000 for r in rules):
        rules += _azure_default_rules(direction)
    vnet = _azure_vnet_space(inventory, vm) or internal_networks
    for rule in sorted(rules, key=lambda r: r.priority or 0):
        if (
            _azure_rule_selects_vm(rule, vm)
            and _l4_matches(rule, packet)
            and any(
                _azure_peer_has(inventory, vm, peer, _remote(packet), vnet) for peer in rule.peers
            )
        ):
            return rule.action == "allow"
    return False


@functools.cache
def _azure_default_rules(direction: Direction) -> list[Rule]:
    return [
        Rule(
            id=name,
            direction=direction,
            action=action,
            priority=priority,
            peers=(Peer(kind="service_tag", value=remote),),
            targets=() if local == "*" else (Peer(kind="service_tag", value=local),),
            provenance=Provenance(source="azure"),
        )
        for name, priority, action, remote, local in AZURE_DEFAULT_RULES[direction]
    ]


def _azure_vnet_space(inventory: Inventory, vm: VM) -> list[str]:
    wanted = {n.lower() for n in vm.networks}
    return [
        space
        for net in inventory.networks
        if net.id.lower() in wanted
        for space in net.address_spaces
    ]


def _azure_peer_has(
    inventory: Inventory, vm: VM, peer: Peer, address: IPAddress, vnet: list[str]
) -> bool:
    if peer.kind == "cidr":
        return _in_cidrs(address, [peer.value])
    if peer.kind == "service_tag":
        tag = peer.value.lower()
        if tag == "*":
            return True
        if tag == "virtualnetwork":
            return _in_cidrs(address, vnet)
        if tag == "internet":
            return not _in_cidrs(address, vnet)
        if tag == "azureloadbalancer":
            return _in_cidrs(address, [AZURE_LOAD_BALANCER])
        return _in_cidrs(address, _address_group(inventory, "service_tag", peer.value) or [])
    if peer.kind == "app_security_group":
        members = [m for m in _others(inventory, vm) if _has_asg(m, peer.value)]
        return _is_address_of(address, members)
    return False


def _azure_rule_selects_vm(rule: Rule, vm: VM) -> bool:
    """The VM side of the rule (destination of inbound, source of outbound)."""
    if not rule.targets:
        return True
    verdicts = set()
    for target in rule.targets:
        if target.kind == "service_tag" and target.value.lower() in ("*", "virtualnetwork"):
            verdicts.add(True)  # the VM is in its VNet
        if target.kind == "app_security_group" and _has_asg(vm, target.value):
            verdicts.add(True)
        if target.kind == "cidr":
            verdicts.add(_vm_in(vm, [target.value]))
    return _selected(rule, True if True in verdicts else None if None in verdicts else False)


def _vm_in(vm: VM, cidrs: list[str]) -> bool | None:
    """Is an address of the VM in ``cidrs``? None: undecidable (see the module doc)."""
    if any(_in_cidrs(_address(a), cidrs) for a in vm.addresses):
        return True
    if not vm.addresses and not vm.address_ranges:
        return None
    verdict: bool | None = False
    for text in vm.address_ranges:
        inside = _network(text)
        hits = [c for c in cidrs if _network(c).version == inside.version]
        if any(inside.subnet_of(_network(c)) for c in hits):  # type: ignore[arg-type]
            return True
        if any(_network(c).overlaps(inside) for c in hits):  # type: ignore[arg-type]
            verdict = None
    return verdict


def _selected(rule: Rule, verdict: bool | None) -> bool:
    """An undecidable VM side counts as selecting the VM for allow rules only."""
    return verdict if verdict is not None else rule.action == "allow"


def _has_asg(vm: VM, asg: str) -> bool:
    return asg.lower() in (a.lower() for a in vm.app_security_groups)


# ------------------------------------------------------------------------ GCP
# Docs "Evaluation order for firewall policies and rules": the levels below, in
# this order (networkFirewallPolicyEnforcementOrder AFTER_CLASSIC_FIREWALL, the
# default; BEFORE_CLASSIC_FIREWALL puts the network policies before the VPC
# rules), then the implied rules. Within a level, the highest-priority
# (lowest number) matching rule acts: allow or deny ends evaluation; goto_next,
# or no matching rule, hands the packet to the next level.
#
# VPC firewall rules (docs "VPC firewall rules"): the rules of the VM's network
# whose targets select the VM, default priority 1000, deny before allow at equal
# priority, disabled rules ignored. Implied rules at 65535: deny all ingress,
# allow all egress; "because deny rules take precedence over allow rules of the
# same priority, an ingress allow rule with a priority of 65535 never takes
# effect", so VPC rules at 65535 are weighed together with the implied rules.
# (Whether they also come after the network policies is not documented; the
# property tests do not generate that combination.)
# Firewall policies: hierarchical ones (organization first, then folders), then
# the global network policy, then regional network policies.

GCP_IMPLIED_PRIORITY = 65535
Level = tuple[str, list[Rule]]


def _gcp_allowed(inventory: Inventory, vm: VM, direction: Direction, packet: Packet) -> bool:
    def matches(rule: Rule) -> bool:
        return (
            rule.direction == direction
            and not rule.disabled
            and _gcp_selects_vm(rule, vm)
            and _l4_matches(rule, packet)
            and any(_gcp_peer_has(inventory, vm, peer, _remote(packet)) for peer in rule.peers)
        )

    for _, rules in _gcp_levels(inventory, vm):
        first = next((rule for rule in rules if matches(rule)), None)
        if first is not None and first.action != "goto_next":
            return first.action == "allow"
    # The implied rules, with any VPC rule at their priority; deny wins the tie.
    ties = [r for r in _vpc_rules(inventory, vm) if _gcp_priority(r) == GCP_IMPLIED_PRIORITY]
    if any(r.action == "deny" and matches(r) for r in ties):
        return False
    # Implied: deny all ingress, allow all egress, for the VM's address families;
    # for another family only a VPC allow at 65535 lets the packet through.
    families = {_network(a).version for a in (*vm.addresses, *vm.address_ranges)} or {4, 6}
    if _remote(packet).version in families:
        return direction == "outbound"
    return any(r.action == "allow" and matches(r) for r in ties)


def _gcp_levels(inventory: Inventory, vm: VM) -> list[Level]:
    policies = [
        fw
        for fw in inventory.firewalls
        if fw.provider == "gcp" and fw.kind == "firewall_policy" and _policy_applies(fw, vm)
    ]

    def policy_rules(fw: FirewallObject) -> list[Rule]:
        return sorted(fw.rules, key=_gcp_priority)  # priorities are unique in a policy

    scope = {fw.id: fw.provenance.scope or "" for fw in policies}
    organization = [fw for fw in policies if scope[fw.id].startswith("organizations/")]
    folders = [fw for fw in policies if scope[fw.id].startswith("folders/")]
    hierarchical = {fw.id for fw in organization + folders}
    network = [fw for fw in policies if fw.id not in hierarchical]
    vpc = [r for r in _vpc_rules(inventory, vm) if _gcp_priority(r) < GCP_IMPLIED_PRIORITY]
    vpc_level = (
        "VPC firewall rules",
        sorted(vpc, key=lambda r: (_gcp_priority(r), r.action != "deny")),
    )
    network_levels = [
        *(("global policy", policy_rules(fw)) for fw in network if not fw.provenance.region),
        *(("regional policy", policy_rules(fw)) for fw in network if fw.provenance.region),
    ]
    # networkFirewallPolicyEnforcementOrder: network policies before or after the VPC rules.
    names = {_last_segment(n) for n in vm.networks}
    orders = {
        net.policy_enforcement_order or "AFTER_CLASSIC_FIREWALL"
        for net in inventory.networks
        if _last_segment(net.id) in names
    }
    before = orders == {"BEFORE_CLASSIC_FIREWALL"}
    return [
        *(("organization policy", policy_rules(fw)) for fw in organization),
        *(("folder policy", policy_rules(fw)) for fw in folders),
        *([*network_levels, vpc_level] if before else [vpc_level, *network_levels]),
    ]


def _vpc_rules(inventory: Inventory, vm: VM) -> list[Rule]:
    networks = {_last_segment(n) for n in vm.networks}
    return [
        rule
        for fw in inventory.firewalls
        if fw.provider == "gcp"
        and fw.kind == "vpc_firewall"
        and fw.network is not None
        and _last_segment(fw.network) in networks
        for rule in fw.rules
    ]


def _policy_applies(fw: FirewallObject, vm: VM) -> bool:
    """Associated with the VM (live: its network's association) or its network."""
    attached = any(
        a.level == "network" and a.firewall_id.lower() == fw.id.lower() for a in vm.attachments
    )
    networks = {_last_segment(n) for n in vm.networks}
    return attached or (fw.network is not None and _last_segment(fw.network) in networks)


def _gcp_priority(rule: Rule) -> int:
    return rule.priority if rule.priority is not None else 1000


def _gcp_selects_vm(rule: Rule, vm: VM) -> bool:
    """Target tags / service accounts (any of them), and destination ranges."""
    selectors = [t for t in rule.targets if t.kind in ("network_tag", "service_account", "unknown")]
    verdict: bool | None = True
    if selectors:
        found = {_gcp_selector(t, vm) for t in selectors}
        verdict = True if True in found else None if None in found else False
    ranges = [t.value for t in rule.targets if t.kind == "cidr"]
    if verdict is not False and ranges:
        inside = _vm_in(vm, ranges)
        verdict = False if inside is False else None if None in (verdict, inside) else True
    return _selected(rule, verdict)


def _gcp_selector(target: Peer, vm: VM) -> bool | None:
    if target.kind == "network_tag":
        return target.value in vm.network_tags
    if target.kind == "unknown":
        return None
    unknown = UNKNOWN_SERVICE_ACCOUNT
    if target.value != unknown and target.value in vm.service_accounts:
        return True
    if vm.service_accounts and unknown in (target.value, *vm.service_accounts):
        return None  # an account known only after apply may be this one
    return False


def _gcp_peer_has(inventory: Inventory, vm: VM, peer: Peer, address: IPAddress) -> bool:
    if peer.kind == "cidr":
        return _in_cidrs(address, [peer.value])
    # Source tags / service accounts: instances in the same VPC network.
    networks = {_last_segment(n) for n in vm.networks}
    same_network = [
        m
        for m in _others(inventory, vm)
        if m.provider == "gcp" and networks & {_last_segment(n) for n in m.networks}
    ]
    if peer.kind == "network_tag":
        return _is_address_of(address, [m for m in same_network if peer.value in m.network_tags])
    if peer.kind == "service_account":
        return _is_address_of(
            address, [m for m in same_network if peer.value in m.service_accounts]
        )
    if peer.kind == "address_group":
        return _in_cidrs(address, _address_group(inventory, "address_group", peer.value) or [])
    return False


def _last_segment(self_link: str) -> str:
    return self_link.rstrip("/").rsplit("/", 1)[-1]


# ----------------------------------------------------------------- attachments


def _others(inventory: Inventory, vm: VM) -> list[VM]:
    """The VMs a group/tag/service-account peer can stand for: all but ``vm``."""
    return [m for m in inventory.vms if m.id != vm.id]


def _attached(inventory: Inventory, vm: VM, levels: tuple[str, ...]) -> Iterator[FirewallObject]:
    for attachment in vm.attachments:
        if attachment.level not in levels:
            continue
        for fw in inventory.firewalls:
            if fw.id.lower() == attachment.firewall_id.lower():
                yield fw
                break
