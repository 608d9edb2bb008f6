"""Indexes over one inventory, and peer resolution common to all providers.

Provider modules ask the context "what addresses does this peer mean?"; the
answer is an exact address set plus a list of what could not be resolved, which
the engine reports as SWYX005 instead of dropping.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar, cast

from policycheck.engine.access import AccessMemo
from policycheck.engine.intervals import IntervalSet, addr_set, address_value, prefix_set
from policycheck.model import (
    VM,
    AddressGroup,
    FirewallObject,
    Inventory,
    Network,
    Peer,
    gcp_network_ref,
    last_segment,
)

T = TypeVar("T")


@cache
def _network_key(provider: str, network: str) -> str:
    # Parsed once per reference: every VM and firewall object of a network names it.
    return (gcp_network_ref(network) if provider == "gcp" else network).lower()


@dataclass
class Resolution:
    addrs: IntervalSet = field(default_factory=IntervalSet)
    unresolved: list[str] = field(default_factory=list)

    def add(self, other: Resolution) -> None:
        self.addrs = self.addrs | other.addrs
        self.unresolved.extend(other.unresolved)


def host_set(addresses: Iterable[str]) -> IntervalSet:
    return IntervalSet((v, v) for v in (address_value(a) for a in addresses))


class Context:
    """Lookups the provider semantics need, built once per inventory."""

    def __init__(self, inventory: Inventory, internal_networks: Iterable[str]) -> None:
        self.inventory = inventory
        #: What the provider semantics share between VMs (e.g. one GCP network's
        #: rules in evaluation order), keyed by everything it depends on.
        self.memo: dict[Hashable, object] = {}
        #: Effective access per distinct content of a VM's layers (``shared_access``).
        self.accesses = AccessMemo()
        self.internal = addr_set(internal_networks)
        self.firewalls: dict[str, FirewallObject] = {}
        for fw in inventory.firewalls:
            self.firewalls[fw.id] = fw
            self.firewalls.setdefault(fw.id.lower(), fw)
        #: Networks by the last segment of their key; ``network`` picks the one meant.
        self.networks: dict[str, list[Network]] = defaultdict(list)
        for net in inventory.networks:
            self.networks[self._bucket(net.id)].append(net)
        #: GCP firewall objects by where they may apply (positions in the inventory):
        #: a VM's rules are found without walking every object of the estate.
        self._gcp_index: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, fw in enumerate(inventory.firewalls):
            if fw.provider != "gcp" or fw.kind not in ("vpc_firewall", "firewall_policy"):
                continue
            if fw.network is not None:
                self._gcp_index[("network", self._bucket(fw.network))].append(i)
            elif fw.kind == "vpc_firewall":
                self._gcp_index[("any", "")].append(i)
            if fw.kind == "firewall_policy":
                self._gcp_index[("id", fw.id.lower())].append(i)
        self.groups: dict[tuple[str, str], AddressGroup] = {
            (g.kind, g.id.lower()): g for g in inventory.address_groups
        }
        self.members: dict[str, list[VM]] = defaultdict(list)
        #: Azure application security group id -> member VMs.
        self.asg_members: dict[str, list[VM]] = defaultdict(list)
        #: Network name -> (network key, VM with an interface in it); see ``network_vms``.
        self._network_members: dict[str, list[tuple[str, VM]]] = defaultdict(list)
        for vm in inventory.vms:
            for att in vm.attachments:
                self.members[att.firewall_id.lower()].append(vm)
            for asg in vm.app_security_groups:
                self.asg_members[asg.lower()].append(vm)
            for key in dict.fromkeys(self.network_key(vm.provider, n) for n in vm.networks):
                self._network_members[self._bucket(key)].append((key, vm))

    @staticmethod
    def network_key(provider: str, network: str) -> str:
        """How references to one network compare: ARM ids and AWS ids ignoring case,
        GCP networks by project and name (``projects/p/global/networks/n``, whether
        named by self link or path), or by name alone where the project is unknown."""
        return _network_key(provider, network)

    @classmethod
    def same_network(cls, provider: str, a: str, b: str) -> bool:
        """Whether two network references mean one network. A GCP reference whose
        project is unknown (a plan without one) matches that name in any project."""
        ka, kb = cls.network_key(provider, a), cls.network_key(provider, b)
        if ka == kb:
            return True
        name_only = provider == "gcp" and ("/" not in ka or "/" not in kb)
        return name_only and last_segment(ka) == last_segment(kb)

    @staticmethod
    def _bucket(network: str) -> str:
        """Index slot of a network: references ``same_network`` may match share it."""
        return last_segment(network.strip()).lower()

    def network_vms(self, provider: str, network: str) -> list[VM]:
        """The VMs of ``provider`` with an interface in ``network``."""
        return [
            vm
            for key, vm in self._network_members.get(self._bucket(network), [])
            if vm.provider == provider and self.same_network(provider, key, network)
        ]

    def gcp_candidates(
        self, networks: Iterable[str], attached: Iterable[str]
    ) -> list[FirewallObject]:
        """The GCP firewall objects that may apply to a VM in ``networks`` with the
        policies ``attached`` (lower-case ids), in inventory order: every object that
        applies is among them (same network name); the provider decides exactly."""
        positions = set(self._gcp_index.get(("any", ""), ()))
        for network in networks:
            positions.update(self._gcp_index.get(("network", self._bucket(network)), ()))
        for policy in attached:
            positions.update(self._gcp_index.get(("id", policy), ()))
        return [self.inventory.firewalls[i] for i in sorted(positions)]

    def shared(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()`` once per scan for ``key`` (naming everything it depends on):
        what the VMs behind the same objects share."""
        if key in self.memo:
            return cast(T, self.memo[key])
        found = self.memo[key] = build()
        return found

    def firewall(self, firewall_id: str) -> FirewallObject | None:
        return self.firewalls.get(firewall_id) or self.firewalls.get(firewall_id.lower())

    def group(self, kind: str, group_id: str) -> AddressGroup | None:
        return self.groups.get((kind, group_id.lower()))

    def group_addresses(self, kind: str, peer: Peer) -> Resolution | None:
        """The prefixes of a named group; None when the group is not in the inventory,
        partly unresolved when some of its entries are unknown."""
        group = self.group(kind, peer.value)
        if group is None:
            return None
        res = Resolution(addrs=addr_set(group.cidrs))
        if group.incomplete:
            res.unresolved.append(f"{peer} (some entries unknown)")
        return res

    def network(self, network_id: str) -> Network | None:
        """The inventory's network a reference means (the exact one first)."""
        candidates = self.networks.get(self._bucket(network_id), [])
        exact = [n for n in candidates if n.id.lower() == network_id.lower()]
        # By name otherwise, except across GCP projects (each has its own "default").
        same = [
            n
            for n in candidates
            if n.provider != "gcp" or self.same_network("gcp", n.id, network_id)
        ]
        return next(iter(exact + same), None)

    def vm_network_space(self, vm: VM) -> IntervalSet:
        """Address space of the VM's networks; empty when unknown."""
        out = IntervalSet()
        for net_id in vm.networks:
            net = self.network(net_id)
            if net:
                out = out | addr_set(net.address_spaces)
        return out

    def member_addresses(
        self, members: Iterable[VM], what: str, *, exclude: VM | None = None
    ) -> Resolution:
        """Addresses of the VMs a symbolic peer stands for.

        ``exclude`` is the VM under evaluation: its traffic to itself never crosses
        its firewall, so a group whose only member is the VM itself allows nothing
        remote. A member whose addresses are unknown (e.g. assigned at apply) makes
        the peer partly unresolved rather than silently smaller.
        """
        res = Resolution()
        for vm in members:
            if vm is exclude:
                continue
            if vm.addresses:
                res.addrs = res.addrs | host_set(vm.addresses)
            else:
                res.unresolved.append(f"{what} (address of {vm.name} unknown)")
        return res

    def resolve(
        self, peers: Iterable[Peer], special: Callable[[Peer], Resolution | None]
    ) -> Resolution:
        """Resolve peers; ``special`` handles the provider's symbolic kinds."""
        peers = tuple(peers)
        # Prefixes: one cached set per distinct tuple (every VM behind a rule asks).
        cidrs = tuple([p.value for p in peers if p.kind == "cidr"])
        res = Resolution(addrs=prefix_set(cidrs))
        if len(cidrs) == len(peers):
            return res  # prefixes only: most rules
        for peer in peers:
            if peer.kind == "cidr":
                continue
            if peer.kind == "unknown":
                res.unresolved.append(peer.value)
                continue
            handled = special(peer)
            if handled is None:
                res.unresolved.append(str(peer))
            else:
                res.add(handled)
        return res
