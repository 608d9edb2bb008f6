"""Each cloud's semantics, in one place per provider.

A provider turns "this VM, this direction" into the :class:`Layer` list that
:func:`policycheck.engine.access.effective_access` evaluates, resolving symbolic
peers on the way. Nothing here knows about Swyx.

- AWS: the security groups of all the VM's interfaces form one allow-only union
  layer; ``-1`` is all protocols and ports; a referenced group means the addresses
  of the interfaces carrying it. Network ACLs stay in the inventory only.
- Azure: inbound traffic passes the subnet NSG, then the NIC NSG (outbound the
  reverse); each NSG is first-match by ascending priority with Deny honoured and
  the platform default rules appended; ``VirtualNetwork`` is the VNet address
  space (else the internal networks), ``Internet`` is everything outside it,
  ``AzureLoadBalancer`` is 168.63.129.16.
- GCP: the organization policy, folder policies, VPC firewall rules, the global
  and then regional network policies, then the implied rules (deny all ingress,
  allow all egress) form one ordered layer of steps; inside a step lower priority
  numbers come first and deny wins ties; ``goto_next`` moves on to the next step;
  disabled rules and rules whose targets do not select the VM are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Literal, cast

from policycheck.engine.access import Layer, ResolvedRule, effective_access
from policycheck.engine.context import Context, Resolution, host_set
from policycheck.engine.intervals import (
    ALL_ADDRS,
    ALL_PORT_SET,
    V6_OFFSET,
    IntervalSet,
    addr_set,
    cidr_interval,
    port_set,
)
from policycheck.errors import safe_text
from policycheck.findings import PORT_PROTOCOLS
from policycheck.model import (
    ALL_PORTS,
    AZURE_ANY,
    UNKNOWN_SERVICE_ACCOUNT,
    VM,
    Action,
    Direction,
    FirewallObject,
    Peer,
    Provenance,
    Rule,
    last_segment,
)

#: Azure's platform address (the ``AzureLoadBalancer`` tag): health probes, DNS, DHCP.
AZURE_PLATFORM = "168.63.129.16/32"
#: Per provider, the addresses of the cloud's own infrastructure. They are neither
#: internet users nor internal peers: never "the internet" for a required flow.
PLATFORM_ADDRESSES: dict[str, IntervalSet] = {"azure": addr_set([AZURE_PLATFORM])}


def platform_addresses(provider: str) -> IntervalSet:
    return PLATFORM_ADDRESSES.get(provider, _NO_ADDRESSES)


def probe_exemption(provider: str, rules: Iterable[ResolvedRule]) -> IntervalSet:
    """Addresses of access granted through the platform's probe tag (Azure's
    ``AzureLoadBalancer``): the health probe, which SWYX001/SWYX002 leave out unless
    the profile asks to report it."""
    if provider == "azure" and any(
        p.kind == "service_tag" and p.value.lower() == "azureloadbalancer"
        for r in rules
        for p in r.rule.peers
    ):
        return PLATFORM_ADDRESSES["azure"]
    return _NO_ADDRESSES


#: Immutable: handed out, not built, for each of the ~130,000 regions of a large scan.
_NO_ADDRESSES = IntervalSet()


@dataclass
class VMLayers:
    """What a provider says about one VM and direction."""

    layers: list[Layer] = field(default_factory=list)
    #: Rules evaluated conservatively because something was unresolved.
    unresolved: list[ResolvedRule] = field(default_factory=list)
    #: VM-level problems (e.g. its security groups are unknown).
    problems: list[str] = field(default_factory=list)
    #: Stateless filters the *replies* pass (AWS network ACLs): layers in the reply's
    #: direction, whose remote side is the client. Empty where the cloud is stateful.
    reply: list[Layer] = field(default_factory=list)
    #: The client ports replies go to (the ephemeral range), which ``reply`` must allow.
    reply_ports: IntervalSet = field(default_factory=IntervalSet)


def return_path_blocked(layers: VMLayers, protocol: str) -> IntervalSet:
    """Remote addresses whose replies on ``protocol`` the stateless return path drops
    for some client port: a connection from them cannot complete."""
    if not layers.reply:
        return IntervalSet()
    access = effective_access(layers.reply)
    ports = layers.reply_ports if protocol in PORT_PROTOCOLS else ALL_PORT_SET
    return ALL_ADDRS - access.addrs_on_all_ports(protocol, ports)


Semantics = Callable[[VM, Direction, Context], VMLayers]
PROVIDERS: dict[str, Semantics] = {}


def provider(name: str) -> Callable[[Semantics], Semantics]:
    def register(fn: Semantics) -> Semantics:
        PROVIDERS[name] = fn
        return fn

    return register


def _resolved(
    rule: Rule,
    fw: FirewallObject,
    res: Resolution,
    *,
    synthetic: bool = False,
    tier: int = 0,
) -> ResolvedRule:
    unresolved: tuple[str, ...] = ()
    if res.unresolved or rule.unknown:
        found = list(res.unresolved)
        # Unknown fields that a peer already explains (e.g. "cidr_blocks (known after
        # apply)") are not repeated.
        found.extend(
            f"{name} unknown" for name in rule.unknown if not any(name in u for u in found)
        )
        unresolved = tuple(dict.fromkeys(found))
    return ResolvedRule(
        rule=rule,
        firewall=fw,
        protocol=rule.protocol,
        ports=port_set(rule.ports),
        source_ports=port_set(rule.source_ports),
        addrs=res.addrs,
        unresolved=unresolved,
        synthetic=synthetic,
        tier=tier,
    )


def _shared_resolved(
    ctx: Context,
    rule: Rule,
    fw: FirewallObject,
    resolve: Callable[[Rule], Resolution],
    *,
    synthetic: bool = False,
    tier: int = 0,
    depends: Hashable = None,
) -> ResolvedRule:
    """:func:`_resolved` once per scan, for a rule whose resolution does not depend on
    the VM (beyond ``depends``): every VM behind a shared firewall object gets the
    same object, so its rules are resolved once, not once per VM. The entry holds
    the rule and the object, so the ids in its key stay theirs."""
    key = ("resolved", id(rule), id(fw), synthetic, tier, depends)
    found = ctx.memo.get(key)
    if found is None:
        found = ctx.memo[key] = _resolved(rule, fw, resolve(rule), synthetic=synthetic, tier=tier)
    return cast(ResolvedRule, found)


def _collect(out: VMLayers, rr: ResolvedRule) -> ResolvedRule:
    if rr.unresolved:
        out.unresolved.append(rr)
    return rr


#: Does a rule's VM side select this VM? "maybe" when that depends on something
#: unknown (an address assigned at apply, a service account known after apply).
Match = Literal["yes", "no", "maybe"]


def any_of(matches: Iterable[Match]) -> Match:
    found = set(matches)
    return "yes" if "yes" in found else "maybe" if "maybe" in found else "no"


def all_of(matches: Iterable[Match]) -> Match:
    found = set(matches)
    return "no" if "no" in found else "maybe" if "maybe" in found else "yes"


def vm_in(vm: VM, prefixes: IntervalSet) -> Match:
    """Is an address of the VM inside ``prefixes``?

    Known addresses decide when one is inside. An address known only to lie in a
    range (``VM.address_ranges``) is inside when the whole range is, outside when
    the range misses the prefixes, else unknown; so is a VM whose addresses are
    wholly unknown.
    """
    if host_set(vm.addresses) & prefixes:
        return "yes"
    if not vm.addresses and not vm.address_ranges:
        return "maybe"
    verdict: Match = "no"
    for text in vm.address_ranges:
        within = addr_set([text])
        if not within & prefixes:
            continue
        if not within - prefixes:
            return "yes"
        verdict = "maybe"
    return verdict


def _vm_address_text(vm: VM) -> str:
    known = ", ".join(vm.addresses)
    ranges = ", ".join(vm.address_ranges)
    if ranges:
        return f"{known + '; ' if known else ''}unknown until apply, within {ranges}"
    return known or "unknown"


def _applying(
    out: VMLayers,
    match: Match,
    rule: Rule,
    fw: FirewallObject,
    resolve: Callable[[Rule], Resolution],
    why: Callable[[Rule], str],
    *,
    synthetic: bool = False,
    tier: int = 0,
) -> ResolvedRule | None:
    """The rule resolved for evaluation, or None when it does not apply to the VM.

    A rule that *may* apply is evaluated the way that hides nothing: an allow as
    applying, a deny or goto_next as not applying; either way it is reported
    (SWYX005) with ``why(rule)``. Peers are resolved only for rules that (may)
    apply: most rules of a large estate select other VMs.
    """
    if match == "no":
        return None
    res = resolve(rule)
    if match == "yes":
        return _collect(out, _resolved(rule, fw, res, synthetic=synthetic, tier=tier))
    applies = rule.action == "allow"
    treatment = "counted as applying to it" if applies else "counted as not applying to it"
    res = Resolution(addrs=res.addrs, unresolved=[*res.unresolved, f"{why(rule)}: {treatment}"])
    rr = _resolved(rule, fw, res, synthetic=synthetic, tier=tier)
    out.unresolved.append(rr)
    return rr if applies else None


# ------------------------------------------------------------------------ AWS


#: AWS network ACLs: rule numbers users may give, and the default rule ``*`` that
#: denies whatever no numbered rule matched.
NACL_DEFAULT_RULE = 32767
#: Client ports replies go to. AWS documents 1024-65535 as the range a network ACL
#: must let replies reach to serve clients of every kind (NAT gateways, ELB, Lambda).
AWS_EPHEMERAL_PORTS = IntervalSet([(1024, 65535)])


_ANY_BY_FAMILY = {4: "0.0.0.0/0", 6: "::/0"}


def nacl_default_rules(fw: FirewallObject, direction: Direction) -> list[Rule]:
    """What a network ACL does after its numbered rules.

    The ``*`` rule (32767) denies the rest, unless the source listed it. An ACL has
    ``*`` rules only for the address families of its VPC: one without any entry for a
    family (an IPv4-only VPC's ACL, as AWS lists it) does not filter that family,
    since adding IPv6 to the VPC adds IPv6 rules to it; its groups alone decide. An
    ACL without any entry at all denies everything.
    """
    families = {
        ipaddress.ip_network(p.value).version for r in fw.rules for p in r.peers if p.kind == "cidr"
    } or {4, 6}
    out: list[Rule] = []
    if not any(r.direction == direction and r.priority == NACL_DEFAULT_RULE for r in fw.rules):
        out.append(_nacl_star(fw, direction, "deny", sorted(families)))
    if len(families) < 2:
        out.append(_nacl_star(fw, direction, "allow", sorted({4, 6} - families)))
    return out


def _nacl_star(
    fw: FirewallObject, direction: Direction, action: Action, families: list[int]
) -> Rule:
    return Rule(
        id=f"{fw.id}/{direction}/*" + ("" if action == "deny" else "/unfiltered"),
        name="*" if action == "deny" else "* (address family without entries)",
        direction=direction,
        action=action,
        priority=NACL_DEFAULT_RULE,
        peers=tuple(Peer.cidr(_ANY_BY_FAMILY[f]) for f in families),
        description="network ACL default rule",
        provenance=fw.provenance,
    )


@provider("aws")
def aws_layers(vm: VM, direction: Direction, ctx: Context) -> VMLayers:
    out = VMLayers()

    def special(peer: Peer) -> Resolution | None:
        if peer.kind == "security_group":
            if ctx.firewall(peer.value) is None:
                return None  # another account or not collected
            return ctx.member_addresses(
                ctx.members.get(peer.value.lower(), []), str(peer), exclude=vm
            )
        if peer.kind == "prefix_list":
            return ctx.group_addresses("prefix_list", peer)
        return None

    rules: list[ResolvedRule] = []
    groups = [a for a in vm.attachments if a.level == "interface"]
    if not groups:
        out.problems.append(
            "no security group is known for this VM"
            + (" (known after apply)" if vm.unknown else "")
        )

    def resolve(rule: Rule) -> Resolution:
        return ctx.resolve(rule.peers, special)

    laid: set[int] = set()  # a group on two interfaces: its second copy is its own
    for att in groups:
        fw = ctx.firewall(att.firewall_id)
        if fw is None:
            out.problems.append(f"security group {att.firewall_id} is not in the inventory")
            continue
        if fw.kind != "security_group":
            continue
        shared, entries = _sg_rules(ctx, fw, direction)
        shared = shared and id(fw) not in laid
        laid.add(id(fw))
        for rule, by_vm in entries:
            rr = (
                _shared_resolved(ctx, rule, fw, resolve)
                if shared and not by_vm
                else _resolved(rule, fw, resolve(rule))
            )
            rules.append(_collect(out, rr))
    out.layers.append(Layer(label="security groups", ordered=False, rules=rules))

    acls = _network_acls(vm, ctx, out)
    if acls:
        # Stateless: each direction has its own rules, and a reply needs the rules of
        # the other direction (the client's ephemeral port is the reply's port).
        out.layers.extend(_nacl_layer(fw, direction, ctx, out) for fw in acls)
        reply: Direction = "outbound" if direction == "inbound" else "inbound"
        out.reply = [_nacl_layer(fw, reply, ctx, VMLayers()) for fw in acls]
        out.reply_ports = AWS_EPHEMERAL_PORTS
    return out


def _sg_rules(
    ctx: Context, fw: FirewallObject, direction: Direction
) -> tuple[bool, list[tuple[Rule, bool]]]:
    """Whether the group is attached to more than one VM, and its rules of one
    direction, each with whether its peers depend on the VM (a group reference means
    the *other* members): once per group."""

    def build() -> tuple[bool, list[tuple[Rule, bool]]]:
        return _attached_to_many(ctx, fw), [
            (rule, any(p.kind == "security_group" for p in rule.peers))
            for rule in fw.rules
            if rule.direction == direction and not rule.disabled
        ]

    return ctx.shared(("sg-rules", id(fw), direction), build)


def _attached_to_many(ctx: Context, fw: FirewallObject) -> bool:
    """Whether VMs share the object: only then are its rules worth resolving once for
    all of them (a per-VM object's rules are met once anyway)."""
    return len(ctx.members.get(fw.id.lower(), ())) > 1


def _network_acls(vm: VM, ctx: Context, out: VMLayers) -> list[FirewallObject]:
    """The network ACL of the VM's subnet. A VM with interfaces in subnets with
    different ACLs is reachable through either; the ACLs are then not applied (its
    security groups alone decide, the wider answer) and the VM says so."""
    found: dict[str, FirewallObject] = {}
    for att in vm.attachments:
        if att.level != "subnet":
            continue
        fw = ctx.firewall(att.firewall_id)
        if fw is None:
            out.problems.append(f"network ACL {att.firewall_id} is not in the inventory")
        elif fw.kind == "network_acl":
            found.setdefault(fw.id, fw)
    if len(found) > 1:
        out.problems.append(
            "interfaces in subnets with different network ACLs "
            f"({', '.join(fw.name for fw in found.values())}): the ACLs were not applied"
        )
        return []
    return list(found.values())


def _nacl_layer(fw: FirewallObject, direction: Direction, ctx: Context, out: VMLayers) -> Layer:
    """First match by ascending rule number, explicit deny, the ``*`` rule last."""

    def build() -> list[Rule]:
        candidates = [r for r in fw.rules if r.direction == direction and not r.disabled]
        return sorted(
            [*candidates, *nacl_default_rules(fw, direction)],
            key=lambda r: r.priority if r.priority is not None else NACL_DEFAULT_RULE,
        )

    def resolved() -> list[ResolvedRule]:
        # Nothing of an ACL rule depends on the VM (its peers are prefixes).
        return [
            _resolved(
                r,
                fw,
                ctx.resolve(r.peers, lambda _peer: None),
                synthetic=r.priority == NACL_DEFAULT_RULE,
            )
            for r in build()
        ]

    # Built and resolved once per ACL and direction, for every VM of its subnets.
    rules = ctx.shared(("nacl-rules", id(fw), direction), resolved)
    out.unresolved.extend(rr for rr in rules if rr.unresolved)
    return Layer(label=f"network ACL {fw.name}", ordered=True, rules=list(rules))


# ---------------------------------------------------------------------- Azure

_AZURE_DEFAULTS: dict[Direction, list[tuple[str, int, str, str, str]]] = {
    # name, priority, action, remote side, local side
    "inbound": [
        ("AllowVnetInBound", 65000, "allow", "VirtualNetwork", "VirtualNetwork"),
        ("AllowAzureLoadBalancerInBound", 65001, "allow", "AzureLoadBalancer", AZURE_ANY),
        ("DenyAllInBound", 65500, "deny", AZURE_ANY, AZURE_ANY),
    ],
    "outbound": [
        ("AllowVnetOutBound", 65000, "allow", "VirtualNetwork", "VirtualNetwork"),
        ("AllowInternetOutBound", 65001, "allow", "Internet", AZURE_ANY),
        ("DenyAllOutBound", 65500, "deny", AZURE_ANY, AZURE_ANY),
    ],
}
AZURE_DEFAULT_FLOOR = 65000


def azure_default_rules(fw: FirewallObject, direction: Direction) -> list[Rule]:
    """The platform rules every NSG has, unless the source already listed them."""
    if any(r.direction == direction and (r.priority or 0) >= AZURE_DEFAULT_FLOOR for r in fw.rules):
        return []
    prov = fw.provenance.model_copy(update={"address": fw.provenance.address})
    # Every NSG's defaults differ only in id and provenance: copies of one validated
    # rule each, not a validation per NSG.
    return [
        rule.model_copy(
            update={
                "id": safe_text(f"{fw.id}/defaultSecurityRules/{rule.name}"),
                "provenance": prov,
            }
        )
        for rule in _azure_default_templates(direction)
    ]


@cache
def _azure_default_templates(direction: Direction) -> tuple[Rule, ...]:
    prov = Provenance(source="azure")
    return tuple(
        Rule(
            id=name,
            name=name,
            direction=direction,
            action=action,
            priority=priority,
            protocol="all",
            ports=(ALL_PORTS,),
            peers=(Peer(kind="service_tag", value=remote),),
            targets=() if local == AZURE_ANY else (Peer(kind="service_tag", value=local),),
            description="Azure default security rule",
            provenance=prov,
        )
        for name, priority, action, remote, local in _AZURE_DEFAULTS[direction]
    )


#: How an NSG rule's peers resolve: the same for every VM, per VNet address space
#: (``VirtualNetwork``/``Internet``), or per VM (application security groups).
PeerScope = Literal["scan", "vnet", "vm"]
#: An NSG rule in evaluation order: synthetic (a platform default), whether its
#: targets select a VM whatever the VM (None: it depends on the VM), peer scope.
NsgEntry = tuple[Rule, bool, "Match | None", PeerScope]


def _nsg_order(
    ctx: Context, fw: FirewallObject, direction: Direction
) -> tuple[bool, list[NsgEntry]]:
    """Whether VMs share the NSG, and its rules of one direction with the platform
    defaults, by priority, and what each depends on: built once per NSG and
    direction, for every VM behind it."""

    def build() -> tuple[bool, list[NsgEntry]]:
        entries = [
            _nsg_entry(r, _azure_static_match(r), _azure_peer_scope(r))
            for r in fw.rules
            if r.direction == direction and not r.disabled
        ]
        # The defaults' targets and peers are their template's: looked at once.
        entries.extend(
            _nsg_entry(r, static, peers)
            for r, (static, peers) in zip(
                azure_default_rules(fw, direction), _azure_default_traits(direction), strict=False
            )
        )
        entries.sort(key=lambda e: e[0].priority if e[0].priority is not None else 0)
        return _attached_to_many(ctx, fw), entries

    return ctx.shared(("nsg-order", id(fw), direction), build)


def _nsg_entry(rule: Rule, static: Match | None, peers: PeerScope) -> NsgEntry:
    return (rule, (rule.priority or 0) >= AZURE_DEFAULT_FLOOR, static, peers)


@cache
def _azure_default_traits(direction: Direction) -> tuple[tuple[Match | None, PeerScope], ...]:
    """Of each default rule (in :func:`azure_default_rules` order): whether its targets
    select a VM whatever the VM, and how its peers resolve."""
    return tuple(
        (_azure_static_match(r), _azure_peer_scope(r)) for r in _azure_default_templates(direction)
    )


def _azure_static_match(rule: Rule) -> Match | None:
    """Whether the rule's targets select a VM when that needs nothing of the VM:
    no targets, or only service tags (a VM is in its VNet); None otherwise."""
    if any(t.kind in ("app_security_group", "cidr") for t in rule.targets):
        return None
    if not rule.targets:
        return "yes"
    return any_of(_azure_tag_target(t) for t in rule.targets)


def _azure_tag_target(target: Peer) -> Match:
    """A target that is no ASG and no prefix: service tag names are case-insensitive
    in Azure, and the VM is in its VNet."""
    if target.kind == "service_tag":
        return "yes" if target.value.lower() in (AZURE_ANY, "virtualnetwork") else "no"
    return "no"


def _azure_peer_scope(rule: Rule) -> PeerScope:
    scope: PeerScope = "scan"
    for p in rule.peers:
        if p.kind == "app_security_group":
            return "vm"  # the other members of the group
        if p.kind == "service_tag" and p.value.lower() in ("internet", "virtualnetwork"):
            scope = "vnet"
    return scope


@provider("azure")
def azure_layers(vm: VM, direction: Direction, ctx: Context) -> VMLayers:
    out = VMLayers()
    vnet = ctx.vm_network_space(vm) or ctx.internal
    asgs = {a.lower() for a in vm.app_security_groups}

    def special(peer: Peer) -> Resolution | None:
        if peer.kind == "service_tag":
            tag = peer.value
            if tag == AZURE_ANY:
                return Resolution(addrs=ALL_ADDRS)
            if tag.lower() == "internet":
                return Resolution(addrs=ALL_ADDRS - vnet)
            if tag.lower() == "virtualnetwork":
                return Resolution(addrs=vnet)
            if tag.lower() == "azureloadbalancer":
                return Resolution(addrs=PLATFORM_ADDRESSES["azure"])
            return ctx.group_addresses("service_tag", peer)
        if peer.kind == "app_security_group":
            members = ctx.asg_members.get(peer.value.lower(), [])
            return ctx.member_addresses(members, str(peer), exclude=vm) if members else None
        return None

    def applies(rule: Rule) -> Match:
        """Does the rule's VM-side prefix/ASG select this VM?"""
        if not rule.targets:
            return "yes"
        return any_of(target_match(t) for t in rule.targets)

    def target_match(target: Peer) -> Match:
        if target.kind == "app_security_group":
            return "yes" if target.value.lower() in asgs else "no"
        if target.kind == "cidr":
            return vm_in(vm, addr_set([target.value]))
        return _azure_tag_target(target)

    def resolve(rule: Rule) -> Resolution:
        return ctx.resolve(rule.peers, special)

    def why(rule: Rule) -> str:
        targets = ", ".join(str(t) for t in rule.targets)
        return f"whether {targets} holds this VM's address ({_vm_address_text(vm)})"

    def vnet_key(peers: PeerScope) -> IntervalSet | None:
        return vnet if peers == "vnet" else None

    levels = ("subnet", "interface") if direction == "inbound" else ("interface", "subnet")
    laid: set[int] = set()  # an NSG met twice: its second layer has rules of its own
    for level in levels:
        for att in (a for a in vm.attachments if a.level == level):
            fw = ctx.firewall(att.firewall_id)
            if fw is None:
                out.problems.append(f"NSG {att.firewall_id} is not in the inventory")
                continue
            shared, entries = _nsg_order(ctx, fw, direction)
            shared = shared and id(fw) not in laid
            laid.add(id(fw))
            rules: list[ResolvedRule] = []
            for r, synthetic, static, peers in entries:
                match = applies(r) if static is None else static
                if match == "yes" and peers != "vm" and shared:
                    # What every VM (of this VNet) shares: resolved once per scan.
                    rr = _shared_resolved(
                        ctx, r, fw, resolve, synthetic=synthetic, depends=vnet_key(peers)
                    )
                    rules.append(_collect(out, rr))
                elif (
                    found := _applying(out, match, r, fw, resolve, why, synthetic=synthetic)
                ) is not None:
                    rules.append(found)
            out.layers.append(Layer(label=f"{level} NSG {fw.name}", ordered=True, rules=rules))
    if not out.layers:
        out.problems.append("no NSG on its NIC or subnet: Azure allows all traffic")
        out.layers.append(_allow_all_layer(vm, direction))
    return out


def _allow_all_layer(vm: VM, direction: Direction) -> Layer:
    """Stands for 'no firewall at all' so findings still have something to blame."""
    fw = FirewallObject(
        provider=vm.provider,
        kind="nsg",
        id=f"{vm.id}/no-nsg",
        name="(no network security group)",
        provenance=vm.provenance,
    )
    rule = Rule(
        id=f"{vm.id}/no-nsg/{direction}",
        name="(no NSG: all traffic allowed)",
        direction=direction,
        peers=(Peer.cidr("0.0.0.0/0"), Peer.cidr("::/0")),
        provenance=vm.provenance,
    )
    rr = ResolvedRule(
        rule=rule,
        firewall=fw,
        protocol="all",
        ports=ALL_PORT_SET,
        source_ports=ALL_PORT_SET,
        addrs=ALL_ADDRS,
        synthetic=True,
    )
    return Layer(label="no NSG", ordered=True, rules=[rr])


# ------------------------------------------------------------------------ GCP

IMPLIED_PRIORITY = 65535
#: Firewall policy rules 2147483644-2147483647: the predefined goto_next rules every
#: policy ends with (IPv6 and IPv4, egress and ingress). Nobody wrote or can delete them.
PREDEFINED_POLICY_PRIORITY = 2147483644
BEFORE_CLASSIC = "BEFORE_CLASSIC_FIREWALL"


def _gcp_level(fw: FirewallObject, policies_first: bool) -> int:
    """GCP's evaluation levels: organization policy, folder policies, then (default
    order AFTER_CLASSIC_FIREWALL) VPC firewall rules, the global network policy,
    regional network policies; with BEFORE_CLASSIC_FIREWALL the network policies
    come before the VPC rules. The implied rules come last."""
    if fw.kind != "firewall_policy":
        return 5 if policies_first else 2
    scope = fw.provenance.scope or ""
    if scope.startswith("folders/"):
        return 1
    if scope.startswith("organizations/") or "/locations/global/firewallPolicies/" in fw.id:
        return 0
    return 4 if fw.provenance.region or "/regions/" in fw.id else 3


#: The implied rules' tier: after every policy and the VPC rules.
IMPLIED_TIER = 1_000_000


def _gcp_tiers(objects: list[FirewallObject], policies_first: bool) -> dict[int, int]:
    """Tier per object (by ``id()``): each policy is its own step, since goto_next
    or no match moves on to the next one; all VPC firewall rules share one."""
    tiers: dict[int, int] = {}
    vpc_tier: int | None = None
    tier = 0
    ordered = sorted(
        enumerate(objects), key=lambda item: (_gcp_level(item[1], policies_first), item[0])
    )
    for _, fw in ordered:
        if fw.kind == "firewall_policy":
            tier += 1
            tiers[id(fw)] = tier
            continue
        if vpc_tier is None:
            tier += 1
            vpc_tier = tier
        tiers[id(fw)] = vpc_tier
    return tiers


def address_families(vm: VM) -> set[int]:
    """IP versions the VM has addresses of (known, or known to exist); both when its
    addresses are wholly unknown."""
    # From the cached intervals (IPv6 lies above IPv4): each address parsed once.
    versions: set[int] = {
        6 if cidr_interval(a)[0] >= V6_OFFSET else 4 for a in (*vm.addresses, *vm.address_ranges)
    }
    return versions or {4, 6}


def gcp_implied_rules(
    direction: Direction, network: str, prov: Provenance, families: Iterable[int] = (4, 6)
) -> FirewallObject:
    """Deny all ingress, allow all egress, for the address families the VM has: the
    IPv6 implied rules exist only where there is IPv6."""
    # Each VM's differ only in provenance (the VM's): copies of one validated object.
    template = _gcp_implied_template(direction, network, tuple(sorted(families)))
    rule = template.rules[0].model_copy(update={"provenance": prov})
    return template.model_copy(update={"rules": (rule,), "provenance": prov})


@lru_cache(maxsize=1 << 10)
def _gcp_implied_template(
    direction: Direction, network: str, families: tuple[int, ...]
) -> FirewallObject:
    prov = Provenance(source="gcp")
    action = "deny" if direction == "inbound" else "allow"
    name = "implied-deny-ingress" if direction == "inbound" else "implied-allow-egress"
    rule = Rule(
        id=f"{network}/{name}",
        name=name,
        direction=direction,
        action=action,
        priority=IMPLIED_PRIORITY,
        protocol="all",
        peers=tuple(Peer.cidr({4: "0.0.0.0/0", 6: "::/0"}[f]) for f in sorted(families)),
        description="GCP implied rule",
        provenance=prov,
    )
    return FirewallObject(
        provider="gcp",
        kind="vpc_firewall",
        id=f"{network}/{name}",
        name=name,
        network=network,
        rules=(rule,),
        provenance=prov,
    )


def _policies_first(vm: VM, ctx: Context, out: VMLayers) -> bool:
    """The VM's networks' networkFirewallPolicyEnforcementOrder (default after)."""
    orders = {
        net.policy_enforcement_order or "AFTER_CLASSIC_FIREWALL"
        for n in vm.networks
        if (net := ctx.network(n)) is not None
    }
    if len(orders) > 1:
        out.problems.append(
            "the VM's networks enforce firewall policies in different orders: "
            "AFTER_CLASSIC_FIREWALL was assumed"
        )
        return False
    return orders == {BEFORE_CLASSIC}


GcpEntry = tuple[tuple[int, int, int], Rule, FirewallObject, bool]


@dataclass
class _GcpScope:
    """The firewall rules of some networks and attached policies for one direction,
    in evaluation order, with the rules that select VMs by network tag or service
    account indexed by them. Built once per (networks, attached policies, direction,
    enforcement order) and shared by every VM there: a network of a hundred tenants
    holds every tenant's rules, and a VM is selected by few."""

    #: (order key, rule, object, synthetic), sorted by the order key (stable).
    entries: list[GcpEntry] = field(default_factory=list)
    #: Positions of rules any VM may be selected by (no tag/service-account target,
    #: or a target the model cannot resolve).
    unselective: list[int] = field(default_factory=list)
    by_selector: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: Positions of every rule with a service-account target.
    by_account: list[int] = field(default_factory=list)
    #: Per position: the rule's targets are network tags only, so a VM it is a
    #: candidate for (by one of its tags) is selected.
    tag_only: list[bool] = field(default_factory=list)
    #: Per position: the rule's peers name VMs (tags, service accounts), which
    #: leaves out the VM under evaluation; else it is resolved once (``resolved``).
    by_member: list[bool] = field(default_factory=list)
    resolved: dict[int, ResolvedRule] = field(default_factory=dict)

    def candidates(self, tags: set[str], accounts: set[str]) -> list[int]:
        """The positions of every rule whose targets may select a VM with ``tags``
        and ``accounts`` (a superset: ``selects`` decides), in evaluation order."""
        positions = set(self.unselective)
        for tag in tags:
            positions.update(self.by_selector.get(("network_tag", tag), ()))
        if UNKNOWN_SERVICE_ACCOUNT in accounts:
            positions.update(self.by_account)  # any target account may be the VM's
        for account in accounts | ({UNKNOWN_SERVICE_ACCOUNT} if accounts else set()):
            positions.update(self.by_selector.get(("service_account", account), ()))
        return sorted(positions)


def _gcp_order(rule: Rule, fw: FirewallObject, tier: int) -> tuple[int, int, int]:
    """Evaluation order inside the layer: tier, then priority, deny before allow."""
    priority = priority_of(rule)
    if fw.kind == "vpc_firewall" and priority == IMPLIED_PRIORITY:
        # A VPC rule at 65535 ties with the implied rules, and deny wins ties
        # (Compute API: "use a priority number less than 65535").
        tier = IMPLIED_TIER
    return (tier, priority, 0 if rule.action == "deny" else 1)


def _gcp_objects(
    ctx: Context, networks: tuple[str, ...], attached: frozenset[str], policies_first: bool
) -> tuple[dict[Direction, list[tuple[Rule, FirewallObject]]], dict[int, int]]:
    """The enabled rules of the firewall objects of the networks and policies per
    direction, and the objects' tiers."""
    known: dict[str, bool] = {}  # the objects of a network name it alike

    def on_networks(network: str | None) -> bool:
        if network is None:
            return False
        found = known.get(network)
        if found is None:
            found = known[network] = any(ctx.same_network("gcp", network, n) for n in networks)
        return found

    def in_scope(fw: FirewallObject) -> bool:
        if fw.kind == "vpc_firewall":
            return fw.network is None or on_networks(fw.network)
        if fw.kind == "firewall_policy":
            # Attached explicitly (live), or associated with the VM's network (plan).
            return fw.id.lower() in attached or on_networks(fw.network)
        return False

    # The objects of the networks and policies (an index), not the whole estate's.
    objects = [fw for fw in ctx.gcp_candidates(networks, attached) if in_scope(fw)]
    rules: dict[Direction, list[tuple[Rule, FirewallObject]]] = {"inbound": [], "outbound": []}
    for fw in objects:
        for rule in fw.rules:
            if not rule.disabled:
                rules[rule.direction].append((rule, fw))
    return rules, _gcp_tiers(objects, policies_first)


def _build_gcp_scope(
    ctx: Context,
    networks: tuple[str, ...],
    attached: frozenset[str],
    direction: Direction,
    policies_first: bool,
) -> _GcpScope:
    # Both directions have the same objects and tiers: found once.
    objects, tiers = ctx.shared(
        ("gcp-objects", networks, attached, policies_first),
        lambda: _gcp_objects(ctx, networks, attached, policies_first),
    )
    unsorted: list[GcpEntry] = [
        (
            _gcp_order(rule, fw, tiers[id(fw)]),
            rule,
            fw,
            # Predefined policy rules: nobody can fix or delete them.
            fw.kind == "firewall_policy" and priority_of(rule) >= PREDEFINED_POLICY_PRIORITY,
        )
        for rule, fw in objects[direction]
    ]
    scope = _GcpScope(entries=sorted(unsorted, key=lambda e: e[0]))
    for position, (_, rule, _, _) in enumerate(scope.entries):
        # Each rule's target and peer kinds looked at once (every rule of a network).
        kinds = {t.kind for t in rule.targets}
        scope.tag_only.append(kinds == _TAGS_ONLY)
        scope.by_member.append(not _GCP_MEMBERS.isdisjoint([p.kind for p in rule.peers]))
        kinds.discard("cidr")
        if not kinds or not kinds <= _GCP_MEMBERS:
            scope.unselective.append(position)
            continue
        for t in rule.targets:
            if t.kind != "cidr":
                scope.by_selector.setdefault((t.kind, t.value), []).append(position)
        if "service_account" in kinds:
            scope.by_account.append(position)
    return scope


#: Targets and peers naming VMs: network tags and service accounts.
_GCP_MEMBERS = frozenset({"network_tag", "service_account"})
_TAGS_ONLY = {"network_tag"}


@dataclass
class _GcpMembers:
    """The VMs of some networks, and those of them with each network tag and service
    account: what a source tag or account means there."""

    vms: list[VM]
    by_tag: dict[str, list[VM]] = field(default_factory=dict)
    by_account: dict[str, list[VM]] = field(default_factory=dict)


def _build_gcp_members(ctx: Context, networks: tuple[str, ...]) -> _GcpMembers:
    vms = list({id(m): m for net in networks for m in ctx.network_vms("gcp", net)}.values())
    out = _GcpMembers(vms)
    for m in vms:
        for tag in dict.fromkeys(m.network_tags):
            out.by_tag.setdefault(tag, []).append(m)
        for account in dict.fromkeys(m.service_accounts):
            out.by_account.setdefault(account, []).append(m)
    return out


@provider("gcp")
def gcp_layers(vm: VM, direction: Direction, ctx: Context) -> VMLayers:
    out = VMLayers()
    networks = tuple(dict.fromkeys(ctx.network_key("gcp", n) for n in vm.networks))
    tags = set(vm.network_tags)
    accounts = set(vm.service_accounts)
    attached = frozenset(a.firewall_id.lower() for a in vm.attachments if a.level == "network")

    # VMs sharing a network with this one: what source tags/service accounts mean.
    members = ctx.shared(("gcp-members", networks), lambda: _build_gcp_members(ctx, networks))

    def special(peer: Peer) -> Resolution | None:
        if peer.kind == "network_tag":
            return ctx.member_addresses(members.by_tag.get(peer.value, []), str(peer), exclude=vm)
        if peer.kind == "service_account":
            return ctx.member_addresses(
                members.by_account.get(peer.value, []), str(peer), exclude=vm
            )
        if peer.kind == "address_group":
            return ctx.group_addresses("address_group", peer)
        return None

    def account_selected(target: str) -> Match:
        """A target service account against the VM's: an account known only after
        apply may be any account, but only a VM that runs as one can match it."""
        if target in accounts and target != UNKNOWN_SERVICE_ACCOUNT:
            return "yes"
        if accounts and (target == UNKNOWN_SERVICE_ACCOUNT or UNKNOWN_SERVICE_ACCOUNT in accounts):
            return "maybe"
        return "no"

    def selector(target: Peer) -> Match:
        if target.kind == "network_tag":
            return "yes" if target.value in tags else "no"
        if target.kind == "service_account":
            return account_selected(target.value)
        return "maybe"  # a selector the model cannot resolve (secure tags, resources)

    def selects(rule: Rule) -> Match:
        """Target tags / service accounts (any of them) AND destination ranges."""
        selectors = [t for t in rule.targets if t.kind != "cidr"]
        ranges = [t.value for t in rule.targets if t.kind == "cidr"]
        verdict = any_of([selector(t) for t in selectors]) if selectors else "yes"
        if verdict == "no" or not ranges:
            return verdict
        return all_of([verdict, vm_in(vm, addr_set(ranges))])

    policies_first = _policies_first(vm, ctx, out)
    scope = ctx.shared(
        ("gcp-scope", networks, attached, direction, policies_first),
        lambda: _build_gcp_scope(ctx, networks, attached, direction, policies_first),
    )
    families = address_families(vm)
    # Named by network name, as reports have always shown them.
    implied: list[tuple[GcpEntry, int]] = [
        ((_gcp_order(rule, fw, IMPLIED_TIER), rule, fw, True), -1)
        for name in sorted({last_segment(n) for n in networks})
        for fw in [gcp_implied_rules(direction, name, vm.provenance, families)]
        for rule in fw.rules
    ]
    # The shared entries are in order already; the implied rules (the VM's own, at
    # no position of the scope) go after equal keys.
    entries = sorted(
        [*((scope.entries[i], i) for i in scope.candidates(tags, accounts)), *implied],
        key=lambda e: e[0][0],
    )

    def resolve(rule: Rule) -> Resolution:
        return ctx.resolve(rule.peers, special)

    def why(rule: Rule) -> str:
        targets = ", ".join(str(t) for t in rule.targets)
        accounts = ", ".join(vm.service_accounts) or "none"
        return (
            f"whether its targets ({targets}) select this VM "
            f"(address {_vm_address_text(vm)}; service accounts {accounts})"
        )

    rules: list[ResolvedRule] = []
    for (key, rule, fw, synthetic), position in entries:
        match = "yes" if position >= 0 and scope.tag_only[position] else selects(rule)
        if match == "no":
            continue
        if match == "yes" and position >= 0 and not scope.by_member[position]:
            # A rule of the shared scope whose peers mean the same for every VM.
            rr = scope.resolved.get(position)
            if rr is None:
                rr = scope.resolved[position] = _resolved(
                    rule, fw, resolve(rule), synthetic=synthetic, tier=key[0]
                )
            rules.append(_collect(out, rr))
        elif (
            found := _applying(out, match, rule, fw, resolve, why, synthetic=synthetic, tier=key[0])
        ) is not None:
            rules.append(found)
    if not networks:
        out.problems.append("the VM's network is unknown")
    out.layers.append(Layer(label="VPC firewall", ordered=True, rules=rules))
    return out


def priority_of(rule: Rule) -> int:
    return rule.priority if rule.priority is not None else 1000


# ---------------------------------------------------------------------- drift

#: GCP's predefined firewall-policy rules (goto_next for everything not decided).
GCP_POLICY_PREDEFINED_FLOOR = 2147483644


def cloud_name(provider: str, text: str) -> str:
    """A name or id as the cloud compares it: Azure's are case-insensitive."""
    return text.lower() if provider == "azure" else text


def platform_rule(fw: FirewallObject, rule: Rule) -> bool:
    """A rule the cloud adds to every object of its kind, which no Terraform
    configuration declares: never drift."""
    priority = rule.priority or 0
    if fw.kind == "nsg":
        return priority >= AZURE_DEFAULT_FLOOR
    if fw.kind == "network_acl":
        return priority == NACL_DEFAULT_RULE
    if fw.kind == "firewall_policy":
        return priority >= GCP_POLICY_PREDEFINED_FLOOR
    return False


def rule_identity(fw: FirewallObject, rule: Rule) -> tuple[str, ...] | None:
    """What names a rule inside its object in the cloud, so the same rule with
    other values is *changed* rather than removed and added: an NSG rule's name
    (case-insensitive in Azure); a network ACL's rule number and a firewall
    policy's priority per direction (each unique there). AWS security-group
    rules and a GCP VPC firewall's allow/deny entries have no name of their own:
    None, they are matched by their values."""
    if fw.kind == "nsg" and rule.name:
        return ("name", rule.name.lower())
    if fw.kind in ("network_acl", "firewall_policy") and rule.priority is not None:
        return (rule.direction, str(rule.priority))
    return None


def drift_targets(fw: FirewallObject, rule: Rule) -> tuple[str, ...]:
    """The rule's VM side as drift compares it: Azure's ``*`` destination is no
    narrowing at all, whether a source wrote it or left it out."""
    targets = rule.targets
    if fw.kind == "nsg":
        targets = tuple(t for t in targets if (t.kind, t.value) != ("service_tag", AZURE_ANY))
    return tuple(sorted(drift_peer(t) for t in targets))


def drift_peer(peer: Peer) -> str:
    """A peer as drift compares it."""
    # Service tag names are case-insensitive in Azure.
    return f"service_tag:{peer.value.lower()}" if peer.kind == "service_tag" else str(peer)
