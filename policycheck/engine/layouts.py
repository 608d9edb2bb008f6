"""Each cloud's way of writing a rule set: where it goes, its rule shapes, its limits.

The provider-neutral rule set (:func:`policycheck.engine.fix.minimal_rules`) is cut
into the rule objects each cloud has, placed on a firewall object that applies to
exactly the VMs that need it, and checked against the cloud's documented limits
(a limit the set would exceed is reported, never silently cut).

- AWS: one ``aws_vpc_security_group_*_rule`` per protocol, port range and CIDR, in
  a security group that only these VMs carry (their own, or a new one to attach);
  60 inbound and 60 outbound rules per group, counted apart for IPv4 and IPv6.
- Azure: one NSG rule per protocol and address family (``*`` for every address),
  several port ranges and prefixes each, in every NSG that applies to the VM
  (subnet and NIC, both must allow); where the NSG also serves other VMs, the
  VM's addresses are the destination. Priorities 100-4095, then a deny of
  everything at 4096 that overrides the platform's AllowVnetInBound and
  AllowInternetOutBound; 1,000 rules and 4,000 prefixes per side per NSG.
- GCP: one VPC firewall rule per direction, peer set and address family (a rule
  cannot mix IPv4 and IPv6), the protocols as its allow blocks, at priority 1000
  for a network tag only these VMs carry, and a deny of everything at 1001 so no
  other rule further down opens more; 5,000 ranges per rule (larger sets are
  split over several rules).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from policycheck.engine.context import Context
from policycheck.engine.intervals import ALL_ADDRS, addr_set
from policycheck.fixes import (
    CloudRule,
    FixRule,
    LimitIssue,
    Placement,
    SetupAction,
    SetupStep,
    SkippedVM,
)
from policycheck.model import ALL_PORTS, VM, Direction, FirewallObject, PortRange, last_segment

PORT_PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class RuleSet:
    """One VM and the rule set it needs."""

    vm: VM
    rules: tuple[FixRule, ...]


@dataclass
class Laid:
    """The placements of every rule set, with what the cloud limits and VMs need."""

    placements: list[Placement] = field(default_factory=list)
    limits: list[LimitIssue] = field(default_factory=list)
    setup: dict[str, list[SetupStep]] = field(default_factory=dict)
    placement_names: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[SkippedVM] = field(default_factory=list)

    def place(self, placement: Placement) -> None:
        self.placements.append(placement)
        for vm_id in placement.vms:
            self.placement_names.setdefault(vm_id, []).append(placement.name)

    def step(self, vm: VM, action: SetupAction, value: str, replaces: tuple[str, ...] = ()) -> None:
        """Something to change on ``vm`` before its rule set applies to it."""
        address = vm.provenance.address if vm.provenance.source == "terraform" else None
        self.setup.setdefault(vm.id, []).append(
            SetupStep(
                action=action,
                vm_id=vm.id,
                vm_name=vm.name,
                value=value,
                address=address,
                replaces=replaces,
            )
        )

    def skip(self, vm: VM, reason: str) -> None:
        self.skipped.append(
            SkippedVM(vm_id=vm.id, vm_name=vm.name, provider=vm.provider, reason=reason)
        )

    def extend(self, other: Laid) -> None:
        for placement in other.placements:
            self.place(placement)
        self.limits.extend(other.limits)
        for vm_id, steps in other.setup.items():
            self.setup.setdefault(vm_id, []).extend(steps)
        self.skipped.extend(other.skipped)


Layout = Callable[[list[RuleSet], Context], Laid]
LAYOUTS: dict[str, Layout] = {}


def _layout(name: str) -> Callable[[Layout], Layout]:
    def register(fn: Layout) -> Layout:
        LAYOUTS[name] = fn
        return fn

    return register


def layout(sets: Sequence[RuleSet], ctx: Context) -> Laid:
    """Place every VM's rule set in its cloud."""
    out = Laid()
    for provider, fn in LAYOUTS.items():
        mine = [s for s in sets if s.vm.provider == provider]
        if mine:
            out.extend(fn(mine, ctx))
    return out


# ------------------------------------------------------------------ shared


def same_rules(sets: Iterable[RuleSet]) -> list[list[RuleSet]]:
    """Rule sets grouped by identical rules, in input order: VMs that need the
    same rules can share the firewall object that carries them."""
    groups: dict[tuple[FixRule, ...], list[RuleSet]] = {}
    for s in sets:
        groups.setdefault(s.rules, []).append(s)
    return list(groups.values())


def split_families(cidrs: Iterable[str]) -> list[tuple[int, tuple[str, ...]]]:
    """``[(4, v4 CIDRs), (6, v6 CIDRs)]``, leaving out a family without any."""
    by: dict[int, list[str]] = {4: [], 6: []}
    for cidr in cidrs:
        by[ipaddress.ip_network(cidr, strict=False).version].append(cidr)
    return [(v, tuple(c)) for v, c in by.items() if c]


def host_cidrs(vms: Iterable[VM]) -> tuple[str, ...]:
    out: list[str] = []
    for vm in vms:
        for address in vm.addresses:
            ip = ipaddress.ip_address(address)
            out.append(f"{ip}/{ip.max_prefixlen}")
    return tuple(dict.fromkeys(out))


def is_everything(cidrs: Sequence[str]) -> bool:
    return bool(cidrs) and addr_set(cidrs) == ALL_ADDRS


def rule_ports(rule: FixRule) -> tuple[PortRange, ...]:
    return rule.ports if rule.protocol in PORT_PROTOCOLS else (ALL_PORTS,)


def slug(text: str, sep: str = "-") -> str:
    """Lower-case letters and digits joined by ``sep``: safe in every cloud's names."""
    return re.sub(r"[^a-z0-9]+", sep, text.lower()).strip(sep) or "vm"


def terraform_address(fw: FirewallObject) -> str | None:
    """The Terraform address of an object read from a plan, else None."""
    return fw.provenance.address if fw.provenance.source == "terraform" else None


def inline_rules(fw: FirewallObject) -> tuple[str, ...]:
    """The ids of rules declared inside the object's own Terraform resource."""
    address = terraform_address(fw)
    return tuple(r.id for r in fw.rules if address and r.provenance.address == address)


def _short(direction: Direction) -> str:
    return "in" if direction == "inbound" else "out"


def _attached(vm: VM, ctx: Context, kind: str, levels: tuple[str, ...]) -> list[FirewallObject]:
    found: list[FirewallObject] = []
    for att in vm.attachments:
        fw = ctx.firewall(att.firewall_id)
        if att.level in levels and fw is not None and fw.kind == kind and fw not in found:
            found.append(fw)
    return found


def _only_for(fw: FirewallObject, vm_ids: set[str], ctx: Context) -> bool:
    """Does ``fw`` apply to none but these VMs?"""
    return {m.id for m in ctx.members.get(fw.id.lower(), [])} <= vm_ids


# --------------------------------------------------------------------- AWS

AWS_RULES_PER_GROUP = 60
AWS_QUOTAS = "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html"


@_layout("aws")
def aws_layout(sets: list[RuleSet], ctx: Context) -> Laid:
    out = Laid()
    for group in same_rules(sets):
        vms = [s.vm for s in group]
        ids = {vm.id for vm in vms}
        own = [
            fw
            for fw in _attached(vms[0], ctx, "security_group", ("interface",))
            if _only_for(fw, ids, ctx)
            and all(fw in _attached(vm, ctx, "security_group", ("interface",)) for vm in vms)
        ]
        rules = _aws_rules(group[0].rules)
        if own:
            fw = own[0]
            placement = Placement(
                provider="aws",
                kind="security_group",
                firewall_id=fw.id,
                name=fw.name,
                address=terraform_address(fw),
                network=fw.network,
                vms=tuple(vm.id for vm in vms),
                rules=rules,
                inline_rules=inline_rules(fw),
            )
        else:
            # No group carries exactly these VMs: a group of their own, attached in
            # place of the ones they have.
            name = f"swyx-{slug(vms[0].name)}"
            placement = Placement(
                provider="aws",
                kind="security_group",
                name=name,
                new=True,
                network=next(iter(vms[0].networks), None),
                vms=tuple(vm.id for vm in vms),
                rules=rules,
            )
            for vm in vms:
                current = _attached(vm, ctx, "security_group", ("interface",))
                out.step(vm, "attach_security_group", name, tuple(fw.id for fw in current))
        out.place(placement)
        out.limits.extend(_aws_limits(placement))
    return out


def _aws_rules(rules: Sequence[FixRule]) -> tuple[CloudRule, ...]:
    """One rule per protocol, port range and CIDR: the shape of
    ``aws_vpc_security_group_ingress_rule`` (and of what EC2 counts as a rule)."""
    out: list[CloudRule] = []
    count = {"inbound": 0, "outbound": 0}
    for rule in rules:
        for ports in rule_ports(rule):
            for cidr in rule.peers:
                count[rule.direction] += 1
                out.append(
                    CloudRule(
                        name=f"{_short(rule.direction)}-{count[rule.direction]}",
                        direction=rule.direction,
                        protocols=((rule.protocol, (ports,)),),
                        peers=(cidr,),
                        rows=rule.rows_for(ports),
                    )
                )
    return tuple(out)


def _aws_limits(placement: Placement) -> list[LimitIssue]:
    out: list[LimitIssue] = []
    for direction in ("inbound", "outbound"):
        for family in (4, 6):
            needed = sum(
                1
                for r in placement.rules
                if r.direction == direction
                and ipaddress.ip_network(r.peers[0], strict=False).version == family
            )
            if needed > AWS_RULES_PER_GROUP:
                out.append(
                    LimitIssue(
                        provider="aws",
                        limit=f"{direction} IPv{family} rules per security group",
                        maximum=AWS_RULES_PER_GROUP,
                        needed=needed,
                        where=placement.name,
                        reference=AWS_QUOTAS,
                    )
                )
    return out


# ------------------------------------------------------------------- Azure

AZURE_FIRST_PRIORITY = 100
AZURE_DENY_PRIORITY = 4096
AZURE_RULES_PER_NSG = 1000
AZURE_PREFIXES_PER_NSG = 4000
AZURE_LIMITS = (
    "https://learn.microsoft.com/azure/azure-resource-manager/management/"
    "azure-subscription-service-limits#azure-resource-manager-virtual-networking-limits"
)
#: Protocols an NSG rule can name (Tcp, Udp, Icmp, Esp, Ah, Any).
AZURE_PROTOCOLS = ("tcp", "udp", "icmp", "50", "51", "all")


@_layout("azure")
def azure_layout(sets: list[RuleSet], ctx: Context) -> Laid:
    out = Laid()
    by_nsg: dict[str, tuple[FirewallObject, list[RuleSet]]] = {}
    for s in sets:
        nsgs = _attached(s.vm, ctx, "nsg", ("subnet", "interface"))
        if not nsgs:
            out.skip(
                s.vm,
                "no NSG applies to its NIC or subnet: associate one, then run fix again",
            )
        for fw in nsgs:
            by_nsg.setdefault(fw.id, (fw, []))[1].append(s)
    for fw, members in by_nsg.values():
        groups = same_rules(members)
        exclusive = len(groups) == 1 and _only_for(fw, {s.vm.id for s in members}, ctx)
        rules: list[CloudRule] = []
        # Where the NSG also serves other VMs, its deny of everything names these
        # VMs' addresses too: a deny of `*` would cut the others off from the VNet.
        denied = () if exclusive else host_cidrs(s.vm for s in members if s.vm.addresses)
        for group in groups:
            local: tuple[str, ...] = ()
            if not exclusive:
                # The NSG serves other VMs too: the rules name these VMs' addresses.
                unknown = [s.vm for s in group if not s.vm.addresses]
                for vm in unknown:
                    out.skip(vm, f"shares NSG {fw.name} with other VMs and its address is unknown")
                local = host_cidrs(s.vm for s in group if s.vm.addresses)
                if not local:
                    continue
            rules.extend(_azure_rules(group[0].rules, local))
        unsupported = sorted({p for r in rules for p, _ in r.protocols} - set(AZURE_PROTOCOLS))
        for protocol in unsupported:
            out.limits.append(
                LimitIssue(
                    provider="azure",
                    limit=f"NSG rules name Tcp, Udp, Icmp, Esp, Ah or Any, not protocol {protocol}",
                    maximum=0,
                    needed=sum(1 for r in rules for p, _ in r.protocols if p == protocol),
                    where=fw.name,
                    reference="https://learn.microsoft.com/azure/virtual-network/"
                    "network-security-groups-overview#security-rules",
                )
            )
        placed = _azure_priorities(rules, denied)
        placement = Placement(
            provider="azure",
            kind="nsg",
            firewall_id=fw.id,
            name=fw.name,
            address=terraform_address(fw),
            scope=_resource_group(fw.id),
            vms=tuple(s.vm.id for s in members if s.vm.addresses or exclusive),
            rules=placed,
            inline_rules=inline_rules(fw),
        )
        out.place(placement)
        out.limits.extend(_azure_limits(placement))
    return out


def _azure_rules(rules: Sequence[FixRule], local: tuple[str, ...]) -> list[CloudRule]:
    """One rule per protocol and address family: an NSG rule cannot mix families
    (ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies)."""
    out: list[CloudRule] = []
    for rule in rules:
        ports = rule_ports(rule)
        if not local and is_everything(rule.peers):
            out.append(_azure_rule(rule, ports, (), ()))
            continue
        locals_by = dict(split_families(local))
        for family, peers in split_families(rule.peers):
            if local and family not in locals_by:
                continue  # the VM has no address of this family to reach
            out.append(_azure_rule(rule, ports, peers, locals_by.get(family, ())))
    return out


def _azure_rule(
    rule: FixRule, ports: tuple[PortRange, ...], peers: tuple[str, ...], local: tuple[str, ...]
) -> CloudRule:
    return CloudRule(
        name="",
        direction=rule.direction,
        protocols=((rule.protocol, ports),),
        peers=peers,
        local=local,
        rows=rule.catalog_rows,
    )


def _azure_priorities(rules: list[CloudRule], denied: tuple[str, ...]) -> tuple[CloudRule, ...]:
    """Allows from 100 upwards (every tenth number while they fit, so a rule can be
    put in between later), per direction; then the deny of everything from 4096
    down: one rule to every address, or (``denied``: the NSG serves other VMs too)
    one per address family of these VMs' addresses (a rule cannot mix families)."""
    out: list[CloudRule] = []
    for direction in ("inbound", "outbound"):
        mine = [r for r in rules if r.direction == direction]
        denies = [
            CloudRule(
                name=f"swyx-deny-all-{direction}" + (f"-ipv{family}" if denied else ""),
                direction=direction,
                action="deny",
                priority=AZURE_DENY_PRIORITY - i,
                protocols=(("all", (ALL_PORTS,)),),
                local=local,
            )
            for i, (family, local) in enumerate(split_families(denied) or [(0, ())])
        ]
        room = AZURE_DENY_PRIORITY - len(denies) + 1 - AZURE_FIRST_PRIORITY
        step = 10 if len(mine) * 10 <= room else 1
        for i, rule in enumerate(mine):
            out.append(
                rule.model_copy(
                    update={
                        "name": f"swyx-{_short(direction)}-{i + 1}",
                        "priority": AZURE_FIRST_PRIORITY + i * step,
                    }
                )
            )
        out.extend(denies)
    return tuple(out)


def _azure_limits(placement: Placement) -> list[LimitIssue]:
    out: list[LimitIssue] = []

    def check(limit: str, maximum: int, needed: int) -> None:
        if needed > maximum:
            out.append(
                LimitIssue(
                    provider="azure",
                    limit=limit,
                    maximum=maximum,
                    needed=needed,
                    where=placement.name,
                    reference=AZURE_LIMITS,
                )
            )

    check("rules per NSG", AZURE_RULES_PER_NSG, len(placement.rules))
    for direction in ("inbound", "outbound"):
        mine = [r for r in placement.rules if r.direction == direction]
        allows = sum(1 for r in mine if r.action == "allow")
        first_deny = min(
            (r.priority or 0 for r in mine if r.action == "deny"), default=AZURE_DENY_PRIORITY + 1
        )
        check(
            f"{direction} allow rules between priorities 100 and {first_deny - 1}",
            first_deny - AZURE_FIRST_PRIORITY,
            allows,
        )
    # Inbound rules list their peers as sources, outbound ones as destinations.
    sources = sum(len(r.peers if r.direction == "inbound" else r.local) for r in placement.rules)
    destinations = sum(
        len(r.local if r.direction == "inbound" else r.peers) for r in placement.rules
    )
    check("source addresses and ranges per NSG", AZURE_PREFIXES_PER_NSG, sources)
    check("destination addresses and ranges per NSG", AZURE_PREFIXES_PER_NSG, destinations)
    return out


def _resource_group(arm_id: str) -> str | None:
    match = re.search(r"/resourceGroups/([^/]+)/", arm_id, re.IGNORECASE)
    return match.group(1) if match else None


# --------------------------------------------------------------------- GCP

GCP_ALLOW_PRIORITY = 1000
GCP_DENY_PRIORITY = 1001
GCP_RANGES_PER_RULE = 5000
GCP_NAME_MAX = 63
ROLE_TAG_PREFIX = "swyx-role-"


@_layout("gcp")
def gcp_layout(sets: list[RuleSet], ctx: Context) -> Laid:
    out = Laid()
    by_network: dict[str, list[RuleSet]] = {}
    for s in sets:
        networks = list(dict.fromkeys(ctx.network_key("gcp", n) for n in s.vm.networks))
        if not networks:
            out.skip(s.vm, "its network is unknown: no VPC to put firewall rules in")
        for network in networks:
            by_network.setdefault(network, []).append(s)
    taken: set[str] = set()
    for network, members in by_network.items():
        for group in same_rules(members):
            vms = [s.vm for s in group]
            tag = _gcp_tag(vms, network, ctx, taken)
            taken.add(tag)
            if not all(tag in vm.network_tags for vm in vms):
                for vm in vms:
                    out.step(vm, "add_network_tag", tag)
            # A shared VPC's rules live in the network's (host) project, not the VM's.
            parts = network.split("/")
            project = parts[1] if parts[0] == "projects" else None
            scopes = (vm.provenance.scope for vm in vms if vm.provenance.scope)
            name = last_segment(network)
            out.place(
                Placement(
                    provider="gcp",
                    kind="vpc_firewall",
                    name=f"{name}/{tag}",
                    new=True,
                    network=name,
                    scope=project or next(scopes, None),
                    target_tags=(tag,),
                    vms=tuple(vm.id for vm in vms),
                    rules=_gcp_rules(group[0].rules, tag),
                )
            )
    return out


def _gcp_tag(vms: Sequence[VM], network: str, ctx: Context, taken: set[str]) -> str:
    """A network tag these VMs carry and no other VM of the network does (their own
    tags before their role tags), else a new one to add to them."""
    others = [m for m in ctx.network_vms("gcp", network) if m not in vms]
    common = [t for t in vms[0].network_tags if all(t in vm.network_tags for vm in vms)]
    own = [
        t for t in common if t not in taken and not any(t in other.network_tags for other in others)
    ]
    own.sort(key=lambda t: t.startswith(ROLE_TAG_PREFIX))
    if own:
        return own[0]
    base = f"swyx-{slug(vms[0].name)}"[: GCP_NAME_MAX - 12]
    tag, n = base, 1
    while tag in taken or any(tag in m.network_tags for m in others):
        n += 1
        tag = f"{base}-{n}"
    return tag


def _gcp_rules(rules: Sequence[FixRule], tag: str) -> tuple[CloudRule, ...]:
    """Per direction and peer set one rule per address family (5,000 ranges at
    most each) with the protocols as allow blocks; then the denies at 1001."""
    out: list[CloudRule] = []
    base = tag[: GCP_NAME_MAX - 14]
    for direction in ("inbound", "outbound"):
        by_peers: dict[tuple[str, ...], list[FixRule]] = {}
        for rule in rules:
            if rule.direction == direction:
                by_peers.setdefault(rule.peers, []).append(rule)
        n = 0
        for peers, mine in by_peers.items():
            protocols = tuple((r.protocol, rule_ports(r)) for r in mine)
            rows = tuple(dict.fromkeys(row for r in mine for row in r.catalog_rows))
            for _, cidrs in split_families(peers):
                for start in range(0, len(cidrs), GCP_RANGES_PER_RULE):
                    n += 1
                    out.append(
                        CloudRule(
                            name=f"{base}-{_short(direction)}-{n}",
                            direction=direction,
                            priority=GCP_ALLOW_PRIORITY,
                            protocols=protocols,
                            peers=cidrs[start : start + GCP_RANGES_PER_RULE],
                            rows=rows,
                        )
                    )
        for family, everything in ((4, "0.0.0.0/0"), (6, "::/0")):
            out.append(
                CloudRule(
                    name=f"{base}-{_short(direction)}-deny-v{family}",
                    direction=direction,
                    action="deny",
                    priority=GCP_DENY_PRIORITY,
                    protocols=(("all", (ALL_PORTS,)),),
                    peers=(everything,),
                )
            )
    return tuple(out)
