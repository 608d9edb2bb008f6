"""Fixes: what ``policycheck fix`` concludes and its formats render.

Per VM, the minimal rule set that permits exactly its expected flows
(:class:`FixRule`, provider-neutral), where that rule set goes in the VM's cloud
(:class:`Placement` with cloud-shaped :class:`CloudRule` objects), which existing
rules it replaces, and per finding the concrete change to the existing rule
(:class:`RuleChange`). Only data: ``policycheck.report`` words and renders it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from policycheck.findings import RegionPart, RuleId, RuleRef
from policycheck.model import CollectionError, Direction, PortRange, Provider


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class FixRule(_Frozen):
    """One rule of a VM's replacement rule set: a protocol, its ports and the remote
    peers, with the catalog rows (or profile entries) that need it.

    Protocols without ports (``all``, ``icmp``, ``47``) carry every port.
    """

    direction: Direction
    protocol: str
    ports: tuple[PortRange, ...]
    peers: tuple[str, ...]
    catalog_rows: tuple[str, ...]
    #: The rows behind each of ``ports`` (clouds that write one rule per range say
    #: which rows that range serves); not part of the JSON rule set.
    rows_by_range: tuple[tuple[str, ...], ...] = Field(default=(), exclude=True)

    def rows_for(self, ports: PortRange) -> tuple[str, ...]:
        """The rows one of the rule's ranges serves (all rows for a protocol without ports)."""
        if ports in self.ports and len(self.rows_by_range) == len(self.ports):
            return self.rows_by_range[self.ports.index(ports)]
        return self.catalog_rows


ChangeAction = Literal[
    "remove", "narrow_source", "narrow_ports", "split_ports", "replace", "add", "override"
]


class RuleChange(_Frozen):
    """The concrete change one finding asks of one existing rule.

    - ``remove``: nothing the rule allows is documented (or it never takes effect);
    - ``narrow_source``: same protocol and ports, fewer peers (``replacement``);
    - ``narrow_ports``: same peers, one smaller port range;
    - ``split_ports``: same peers, the range split into several;
    - ``replace``: anything else: the rule becomes the ``replacement`` parts;
    - ``add``: a required flow no rule allows (SWYX003), to add to ``rule``'s firewall;
    - ``override``: a platform default rule (Azure's AllowInternetOutBound, GCP's
      implied egress allow) cannot be edited: allow ``replacement`` and deny the
      rest before it, as the rule set does.

    ``current`` is what the rule allows now (``add``: nothing), ``replacement`` what
    it should allow; both exact, in the finding region's form.
    """

    finding: str
    finding_rule: RuleId
    action: ChangeAction
    direction: Direction
    rule: RuleRef
    current: tuple[RegionPart, ...] = ()
    replacement: tuple[RegionPart, ...] = ()
    #: The finding is suppressed; the rule set still drops the access it accepts.
    suppressed: bool = False


CloudRuleAction = Literal["allow", "deny"]


class CloudRule(_Frozen):
    """One rule as the cloud writes it (one Terraform resource or block).

    ``protocols`` pairs each protocol with its ports (AWS and Azure rules hold one
    protocol, a GCP rule several); ``peers`` are CIDRs of one address family, or
    empty for "any address" (deny rules, Azure ``*``); ``local`` narrows the VM
    side where the firewall object also serves other VMs (Azure destination
    prefixes); ``rows`` say which catalog rows the rule serves.
    """

    name: str
    direction: Direction
    action: CloudRuleAction = "allow"
    priority: int | None = None
    protocols: tuple[tuple[str, tuple[PortRange, ...]], ...]
    peers: tuple[str, ...] = ()
    local: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()


PlacementKind = Literal["security_group", "nsg", "vpc_firewall"]


class Placement(_Frozen):
    """Where a rule set goes: an existing firewall object, or a new one.

    AWS: a security group; Azure: an NSG (the subnet's or the NIC's); GCP: VPC
    firewall rules of ``network`` selecting ``target_tags``.
    """

    provider: Provider
    kind: PlacementKind
    #: The existing object's id (None when ``new``).
    firewall_id: str | None = None
    name: str
    #: Terraform address of the existing object, when the input was a plan.
    address: str | None = None
    new: bool = False
    #: AWS: the VPC of a new group; GCP: the network name.
    network: str | None = None
    #: Azure: the NSG's resource group; GCP: the project, where known.
    scope: str | None = None
    target_tags: tuple[str, ...] = ()
    #: The VMs (ids) whose rule sets this placement carries.
    vms: tuple[str, ...] = ()
    rules: tuple[CloudRule, ...] = ()
    #: Rules declared inline in the existing object's Terraform resource (AWS
    #: ``ingress``/``egress``, Azure ``security_rule``): Terraform cannot manage
    #: them beside rule resources, so the blocks must go.
    inline_rules: tuple[str, ...] = ()
    #: Those of ``inline_rules`` no rule set replaces: they move into rule
    #: resources of their own rather than disappear.
    inline_kept: tuple[str, ...] = ()


SetupAction = Literal["attach_security_group", "add_network_tag"]


class SetupStep(_Frozen):
    """Something to change on the VM itself so its rule set applies to it."""

    action: SetupAction
    vm_id: str
    vm_name: str
    value: str
    #: Terraform address of the VM, when the input was a plan.
    address: str | None = None
    #: attach_security_group: the groups it replaces.
    replaces: tuple[str, ...] = ()


class LimitIssue(_Frozen):
    """A cloud limit the rule set would exceed (it is still written, but the cloud
    would refuse it as it is), or a construct the cloud cannot express."""

    provider: Provider
    limit: str
    maximum: int
    needed: int
    #: The placement (firewall name) concerned.
    where: str
    #: The documentation the limit is taken from.
    reference: str


class SharedRule(_Frozen):
    """A rule the VM's rule set replaces that also applies to VMs given no rule set
    here (no Swyx role, or skipped): taking it out changes their access too."""

    rule: RuleRef
    #: Names of those VMs.
    vms: tuple[str, ...]


class VMFix(_Frozen):
    """One VM's replacement rule set, what it replaces and the changes per finding."""

    vm_id: str
    vm_name: str
    provider: Provider
    roles: tuple[str, ...]
    rules: tuple[FixRule, ...]
    changes: tuple[RuleChange, ...] = ()
    #: The existing rules the rule set replaces (every rule that applies to the VM).
    replaces: tuple[RuleRef, ...] = ()
    #: Names of the placements that carry the rule set.
    placements: tuple[str, ...] = ()
    setup: tuple[SetupStep, ...] = ()
    #: Replaced rules that other VMs rely on too (to give those a firewall object of
    #: their own, or to keep in mind before removing the rule).
    shared: tuple[SharedRule, ...] = ()


class SkippedVM(_Frozen):
    vm_id: str
    vm_name: str
    provider: Provider
    reason: str


class FixResult(BaseModel):
    """Everything a fix format needs; formats never recompute any of it."""

    tool_version: str
    sources: list[str] = Field(default_factory=list)
    vms: list[VMFix] = Field(default_factory=list)
    placements: list[Placement] = Field(default_factory=list)
    limits: list[LimitIssue] = Field(default_factory=list)
    skipped: list[SkippedVM] = Field(default_factory=list)
    errors: list[CollectionError] = Field(default_factory=list)
