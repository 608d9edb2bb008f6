"""``--shard K/N``: one of N deterministic parts of a scan, for scale-out on CI
matrices and Kubernetes Indexed Jobs; ``policycheck merge`` puts the parts together.

What a part is depends on the input (docs/sharding.md):

- live clouds: accounts (AWS, with two or more ``--role-arn``), else regions (one
  AWS account), subscriptions (Azure), projects (GCP). No VPC, VNet or GCP network
  spans two of them, so every deployment is read whole by exactly one shard.
  Hierarchical GCP policies apply to every project, so every shard reads them.
- a Terraform plan or snapshot (one file): every shard reads the whole file, so
  security-group members, service tags and each VM's IpPbxSrv servers resolve
  exactly as in a whole scan, but evaluates only the VMs of its deployments. A
  VM's deployment is its ``swyx-deployment`` tag/label, else its network, else its
  account/subscription/project, so a deployment is never split.

The units are sorted and dealt round-robin: unit ``i`` (0-based, in sorted order)
belongs to shard ``i mod N + 1``. That is deterministic for the same input and
keeps shards balanced even with a handful of units. Every firewall object is
counted by exactly one shard, so merged counts equal a whole scan's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from policycheck.errors import InputError
from policycheck.findings import ShardMark
from policycheck.model import VM, FirewallObject, Inventory

DEPLOYMENT_TAG = "swyx-deployment"
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
#: Scopes whose firewall objects apply to many projects (GCP hierarchical policies):
#: every shard reads them, shard 1 counts them.
_SHARED_SCOPES = ("organizations/", "folders/")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, as people count)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SPEC.match(text)
        if match is None:
            raise InputError(f"--shard: {text!r} is not K/N (e.g. 2/4: the second of four parts)")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or not 1 <= index <= count:
            raise InputError(f"--shard: {text!r}: K must be between 1 and N (N at least 1)")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, rank: int) -> bool:
        return rank % self.count == self.index - 1

    def take(self, units: Iterable[str]) -> list[str]:
        """This shard's units, in their given order (duplicates kept once)."""
        given = list(dict.fromkeys(units))
        mine = {u for rank, u in enumerate(sorted(given)) if self.owns(rank)}
        return [u for u in given if u in mine]


def vm_unit(vm: VM) -> str:
    """The deployment a VM belongs to, for sharding a plan or snapshot."""
    network = min(n.lower() for n in vm.networks) if vm.networks else None
    return _unit(vm.provider, vm.tags, network, vm.provenance.scope, f"vm:{vm.id}")


def firewall_unit(fw: FirewallObject) -> str:
    """Where a firewall object is counted: its deployment, network, scope or itself."""
    return _unit(fw.provider, fw.tags, fw.network, fw.provenance.scope, f"firewall:{fw.id}")


def _unit(
    provider: str, tags: Mapping[str, str], network: str | None, scope: str | None, itself: str
) -> str:
    """The first of: its deployment tag, its network, its scope, ``itself``."""
    for key, value in tags.items():
        if key.lower() == DEPLOYMENT_TAG and value.strip():
            return f"{provider}:deployment:{value.strip().lower()}"
    if network:
        return f"{provider}:network:{network.lower()}"
    if scope:
        return f"{provider}:scope:{scope.lower()}"
    return f"{provider}:{itself}"


@dataclass(frozen=True)
class Part:
    """What one shard of an already read inventory evaluates and counts."""

    shard: Shard
    #: The kind of scan (terraform, snapshot, aws, azure, gcp), for the report's mark.
    scan: str
    #: ``id()`` of the VMs this shard evaluates.
    vm_ids: frozenset[int]
    firewall_count: int

    def selects(self, vm: VM) -> bool:
        return id(vm) in self.vm_ids

    def mark(self) -> ShardMark:
        return ShardMark(index=self.shard.index, count=self.shard.count, scan=self.scan)


def split_file(inventory: Inventory, shard: Shard, scan: str) -> Part:
    """The part of a whole-file inventory (plan, snapshot) that ``shard`` evaluates."""
    vm_units = set(shard.take(vm_unit(vm) for vm in inventory.vms))
    fw_units = set(shard.take(firewall_unit(fw) for fw in inventory.firewalls))
    return Part(
        shard=shard,
        scan=scan,
        vm_ids=frozenset(id(vm) for vm in inventory.vms if vm_unit(vm) in vm_units),
        firewall_count=sum(firewall_unit(fw) in fw_units for fw in inventory.firewalls),
    )


def read_part(inventory: Inventory, shard: Shard, scan: str) -> Part:
    """The part of a live read that already holds only ``shard``'s scopes: all of
    its VMs, and its firewall objects except the shared hierarchical ones, which
    shard 1 counts."""
    counted = [
        fw
        for fw in inventory.firewalls
        if shard.index == 1 or not (fw.provenance.scope or "").startswith(_SHARED_SCOPES)
    ]
    return Part(
        shard=shard,
        scan=scan,
        vm_ids=frozenset(id(vm) for vm in inventory.vms),
        firewall_count=len(counted),
    )


def take_scopes(shard: Shard | None, scopes: Sequence[str]) -> list[str]:
    """The scopes (subscriptions, projects, regions...) a collector reads."""
    return list(scopes) if shard is None else shard.take(scopes)
