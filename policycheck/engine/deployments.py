"""Whose server is ``IpPbxSrv``? Each VM trusts the SwyxWare server of its own deployment.

A hosting provider's estate holds many tenants' deployments; tenant B's server
reaching tenant A's SwyxGate on a server-only port is an exposure, not a
documented flow. So the server addresses a VM's ``IpPbxSrv`` flows allow (and
likewise the RemoteConnector's, for the server's counterpart flows) are chosen by
the first rule that applies:

1. the profile's ``peer_groups.IpPbxSrv`` (``RemoteConnector``): exactly those
   addresses, for every VM (the profile describes one deployment);
2. a ``swyx-deployment`` tag / label (GCP also: network tag
   ``swyx-deployment-<name>``) on the VM or on a firewall object that applies to
   it: the servers carrying the same value;
3. otherwise the servers sharing a VPC / VNet / GCP network with the VM (VMs whose
   network is unknown group with servers whose network is unknown).

A VM that holds ``swyxware-server`` itself talks to its server over loopback
(:mod:`policycheck.expected`). When no server is found, ``IpPbxSrv`` flows fall
back to the internal networks, as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from policycheck.engine.context import Context
from policycheck.model import VM, last_segment
from policycheck.profile import Profile

DEPLOYMENT_TAG = "swyx-deployment"
DEPLOYMENT_PREFIX = f"{DEPLOYMENT_TAG}-"


def _from_tags(tags: Mapping[str, str], names: Iterable[str] = ()) -> str | None:
    for key, value in tags.items():
        if key.lower() == DEPLOYMENT_TAG and str(value).strip():
            return str(value).strip().lower()
    for name in names:
        if name.lower().startswith(DEPLOYMENT_PREFIX) and len(name) > len(DEPLOYMENT_PREFIX):
            return name[len(DEPLOYMENT_PREFIX) :].lower()
    return None


def deployment_of(vm: VM, ctx: Context) -> str | None:
    """The VM's ``swyx-deployment`` marker: on the VM first, then on its firewall objects."""
    found = _from_tags(vm.tags, vm.network_tags)
    for att in vm.attachments:
        if found is not None:
            break
        fw = ctx.firewall(att.firewall_id)
        if fw is not None:
            found = _from_tags(fw.tags)
    return found


class Deployments:
    """The VMs holding each peer role, indexed by deployment marker and by network,
    built once per scan."""

    def __init__(
        self,
        vms: Sequence[VM],
        roles: Mapping[int, Sequence[str]],
        ctx: Context,
        peer_roles: Mapping[str, str],
    ) -> None:
        """``peer_roles``: role slug -> the profile peer group that names it instead."""
        self.ctx = ctx
        self.peer_roles = dict(peer_roles)
        self.by_marker: dict[tuple[str, str], list[VM]] = defaultdict(list)
        #: (role, provider, network name) -> (network key, holder); ``holders`` keeps
        #: those whose network is the VM's (``Context.same_network``).
        self.by_network: dict[tuple[str, str, str], list[tuple[str, VM]]] = defaultdict(list)
        for vm in vms:
            for role in self.peer_roles:
                if role not in roles[id(vm)]:
                    continue
                marker = deployment_of(vm, ctx)
                if marker is not None:
                    self.by_marker[(role, marker)].append(vm)
                for network in self._networks(vm):
                    self.by_network[(role, vm.provider, last_segment(network))].append(
                        (network, vm)
                    )

    def _networks(self, vm: VM) -> list[str]:
        keys = [self.ctx.network_key(vm.provider, n) for n in vm.networks]
        return keys or [""]  # network unknown: its own group

    def holders(self, vm: VM, role: str, profile: Profile) -> list[VM]:
        """The other VMs holding ``role`` in ``vm``'s deployment (none when the
        profile's peer group names that role's addresses)."""
        if self.peer_roles[role] in profile.peer_groups:
            return []
        marker = deployment_of(vm, self.ctx)
        if marker is not None:
            candidates = self.by_marker.get((role, marker), [])
        else:
            candidates = [
                other
                for network in self._networks(vm)
                for key, other in self.by_network.get(
                    (role, vm.provider, last_segment(network)), []
                )
                if self.ctx.same_network(vm.provider, key, network)
            ]
        return [other for other in dict.fromkeys(candidates) if other is not vm]

    def addresses(self, vm: VM, profile: Profile) -> dict[str, list[str]]:
        """Per peer role, the addresses ``vm``'s flows to that role may come from."""
        return {
            role: [a for other in self.holders(vm, role, profile) for a in other.addresses]
            for role in self.peer_roles
        }
