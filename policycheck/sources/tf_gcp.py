"""GCP resources of a Terraform plan: VPC firewall rules, network firewall policies, instances.

GCP rules apply network-wide and select VMs by target tag or service account, so
VMs carry their network names, tags and service accounts rather than attachments;
the engine matches them (and adds the implied rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from policycheck.model import (
    UNKNOWN_SERVICE_ACCOUNT,
    VM,
    Action,
    Attachment,
    CollectionError,
    Direction,
    Network,
    Peer,
    Rule,
    gcp_network_ref,
    last_segment,
)
from policycheck.sources.normalize import cidr_peers, gcp_ports
from policycheck.sources.tfbuild import Context, Fields, FirewallDraft, unknown_peer
from policycheck.sources.tfplan import PlannedResource

NETWORK = ("google_compute_network",)
POLICY = ("google_compute_network_firewall_policy",)
#: Hierarchical (organization / folder) firewall policies.
HIERARCHICAL = ("google_compute_firewall_policy",)
ACCOUNT = ("google_service_account",)
SUBNETWORK = ("google_compute_subnetwork",)
#: Rule sources/destinations no address list can stand for here: unknown peers.
_UNEXPANDABLE = {
    "region_codes": "geolocation",
    "threat_intelligences": "threat intelligence list",
    "fqdns": "FQDN",
    "networks": "network",
}
_DIRECTIONS: dict[str, Direction] = {"INGRESS": "inbound", "EGRESS": "outbound"}
#: GCP's documented defaults when a rule names no source (ingress) / destination (egress).
_ANYWHERE = ("0.0.0.0/0",)


def translate(ctx: Context) -> None:
    # Planned network (by id or address) -> its project-qualified reference.
    names = {
        ctx.object_id(n): gcp_network_ref(ctx.fields(n).text("name") or n.address, _project(ctx, n))
        for n in ctx.of_type(*NETWORK)
    }
    for res in ctx.of_type("google_compute_firewall"):
        _firewall(ctx, res, names)
    _policies(ctx, names)
    _instances(ctx, names)
    _networks(ctx, names)


def _project(ctx: Context, res: PlannedResource) -> str | None:
    """The resource's project: its own attribute, else the google provider's default
    when the plan records it; None when the plan does not say."""
    return ctx.fields(res).text("project") or ctx.plan.provider_default("google", "project")


def _networks(ctx: Context, names: dict[str, str]) -> None:
    """Networks by project-qualified reference (as VMs and rules name them), with
    their subnetworks' ranges."""
    ranges: dict[str, list[str]] = {}
    for sub in ctx.of_type("google_compute_subnetwork"):
        network = _network_ref(ctx, sub, "network", names)
        cidrs = ctx.fields(sub).cidrs("ip_cidr_range")
        if network and cidrs:
            ranges.setdefault(network, []).extend(cidrs)
    orders: dict[str, str] = {}
    for net in ctx.of_type(*NETWORK):
        order = ctx.fields(net).text("network_firewall_policy_enforcement_order")
        if order:
            if order not in _ENFORCEMENT_ORDERS:
                raise ctx.fields(net).error(
                    "network_firewall_policy_enforcement_order",
                    " or ".join(_ENFORCEMENT_ORDERS),
                    order,
                )
            orders[names[ctx.object_id(net)]] = order
    for ref in dict.fromkeys(names.values()):
        ctx.networks.append(
            Network(
                provider="gcp",
                id=ref,
                name=last_segment(ref),
                address_spaces=tuple(ranges.get(ref, [])),
                policy_enforcement_order=_ENFORCEMENT_ORDERS.get(orders.get(ref, "")),
            )
        )


_ENFORCEMENT_ORDERS: dict[str, Literal["AFTER_CLASSIC_FIREWALL", "BEFORE_CLASSIC_FIREWALL"]] = {
    "AFTER_CLASSIC_FIREWALL": "AFTER_CLASSIC_FIREWALL",
    "BEFORE_CLASSIC_FIREWALL": "BEFORE_CLASSIC_FIREWALL",
}


def _network_ref(ctx: Context, res: PlannedResource, key: str, names: dict[str, str]) -> str | None:
    """A network's reference from a self link, a name (in the resource's project), or
    a reference to a planned network."""
    ids, _ = ctx.linked(res, key, NETWORK)
    for value in ids:
        return names.get(value) or gcp_network_ref(value, _project(ctx, res))
    return None


def _ranges(f: Fields, key: str) -> tuple[list[Peer], list[str]]:
    try:
        peers = cidr_peers(f.strings(key))
    except ValueError as exc:
        raise f.error(key, "CIDR ranges", f.data.get(key)) from exc
    if f.is_unknown(key):
        return [*peers, unknown_peer(key)], [key]
    return peers, []


def _symbols(f: Fields, key: str, kind: str) -> tuple[list[Peer], list[str]]:
    peers = [Peer.of(kind, v) for v in f.strings(key)]
    if f.is_unknown(key):
        return [*peers, unknown_peer(key)], [key]
    return peers, []


def _accounts(f: Fields, key: str, *, target: bool) -> tuple[list[Peer], list[str]]:
    """Service accounts, followed to planned ``google_service_account`` resources while
    their emails are unknown (VMs name the same resource, so the two still match).
    A target account that stays unknown is ``UNKNOWN_SERVICE_ACCOUNT``: it selects only
    VMs that run as some account, and is reported; an unknown source is a peer
    that cannot be resolved."""
    values, unresolved = f.linked(key, ACCOUNT)
    peers = [Peer.of("service_account", v) for v in values]
    if not unresolved:
        return peers, []
    extra = Peer.of("service_account", UNKNOWN_SERVICE_ACCOUNT) if target else unknown_peer(key)
    return [*peers, extra], [key]


def _unexpandable(match: Fields, side: str) -> tuple[list[Peer], list[str]]:
    """Geolocations, threat-intelligence lists, FQDNs and networks of a policy rule
    (unknown peers: never every address, never none), and address groups."""
    peers: list[Peer] = []
    keys: list[str] = []
    for suffix, what in _UNEXPANDABLE.items():
        key = f"{side}_{suffix}"
        values = match.strings(key) if key in match.data else []
        peers.extend(Peer.of("unknown", f"{what} {v}") for v in values)
        if match.is_unknown(key):
            peers.append(unknown_peer(key))
            keys.append(key)
    groups, group_keys = _symbols(match, f"{side}_address_groups", "address_group")
    return [*peers, *groups], [*keys, *group_keys]


def _firewall(ctx: Context, res: PlannedResource, names: dict[str, str]) -> None:
    f = ctx.fields(res)
    direction = _DIRECTIONS.get((f.text("direction") or "INGRESS").upper())
    if direction is None:
        raise f.error("direction", '"INGRESS" or "EGRESS"', f.data.get("direction"))
    unknown: list[str] = []
    parts = [
        _ranges(f, "source_ranges"),
        _symbols(f, "source_tags", "network_tag"),
        _accounts(f, "source_service_accounts", target=False),
    ]
    sources = [p for peers, _ in parts for p in peers]
    unknown.extend(k for _, keys in parts for k in keys)
    destinations, unknown_destinations = _ranges(f, "destination_ranges")
    unknown.extend(unknown_destinations)
    selected = [
        _symbols(f, "target_tags", "network_tag"),
        _accounts(f, "target_service_accounts", target=True),
    ]
    targets = [p for peers, _ in selected for p in peers]
    unknown.extend(k for _, keys in selected for k in keys)
    if direction == "inbound":
        peers = sources or [Peer.cidr(c) for c in _ANYWHERE]
        targets = [*targets, *destinations]
    else:
        peers = destinations or [Peer.cidr(c) for c in _ANYWHERE]
        targets = [*targets, *sources]
    draft = FirewallDraft(
        provider="gcp",
        kind="vpc_firewall",
        id=ctx.object_id(res),
        name=f.text("name") or res.address,
        network=_network_ref(ctx, res, "network", names),
        provenance=ctx.provenance(res),
    )
    priority = f.integer("priority")
    for key, action in (("allow", "allow"), ("deny", "deny")):
        if f.is_unknown(key) and not isinstance(res.values.get(key), list):
            unknown.append(key)
        for i, block in enumerate(f.blocks(key)):
            block_unknown = [k for k in ("protocol", "ports") if block.is_unknown(k)]
            try:
                ports = gcp_ports(block.strings("ports"))
            except ValueError as exc:
                raise block.error(
                    "ports", "ports like 80 or 1000-2000", block.data.get("ports")
                ) from exc
            draft.rules.append(
                Rule(
                    id=f"{res.address}/{key}/{i}",
                    name=draft.name,
                    direction=direction,
                    action=action,
                    priority=1000 if priority is None else priority,
                    protocol=block.protocol("protocol"),
                    ports=ports,
                    peers=tuple(peers),
                    targets=tuple(targets),
                    disabled=f.boolean("disabled"),
                    unknown=tuple([*unknown, *block_unknown]),
                    description=f.text("description") or None,
                    # One resource is one GCP rule: its sources sit outside the allow block.
                    provenance=ctx.provenance(res),
                )
            )
    ctx.add_firewall(draft)


# --------------------------------------------------------- firewall policies


_POLICY_ACTIONS: dict[str, Action | None] = {
    "allow": "allow",
    "deny": "deny",
    "apply_security_profile_group": "allow",  # allowed, then inspected
    "goto_next": "goto_next",  # no verdict at this level: evaluation continues below
}


def _policies(ctx: Context, names: dict[str, str]) -> None:
    for res in ctx.of_type(*POLICY, *HIERARCHICAL):
        f = ctx.fields(res)
        provenance = ctx.provenance(res)
        if res.type in HIERARCHICAL:
            # organizations/N or folders/N: GCP evaluates these before the network's.
            provenance = provenance.model_copy(update={"scope": _parent(ctx, res, "parent")})
        ctx.add_firewall(
            FirewallDraft(
                provider="gcp",
                kind="firewall_policy",
                id=ctx.object_id(res),
                name=f.text("short_name") or f.text("name") or res.address,
                provenance=provenance,
            )
        )
    for link in ctx.of_type("google_compute_network_firewall_policy_association"):
        policy = _policy_id(ctx, link)
        ctx.firewall(policy, link, "gcp", "firewall_policy").network = _network_ref(
            ctx, link, "attachment_target", names
        )
    for res in ctx.of_type(
        "google_compute_network_firewall_policy_rule", "google_compute_firewall_policy_rule"
    ):
        _policy_rule(ctx, res)


def _parent(ctx: Context, res: PlannedResource, key: str) -> str | None:
    """``organizations/N`` / ``folders/N``, also through a planned google_folder."""
    value = ctx.fields(res).text(key)
    if value:
        return value
    for address in ctx.plan.references(res, key):
        if ctx.plan.resources[address].type == "google_folder":
            return f"folders/{ctx.object_id(ctx.plan.resources[address])}"
    return None


def _policy_id(ctx: Context, res: PlannedResource) -> str:
    """Policies are named by name or id; match both to the planned policy."""
    ids, _ = ctx.linked(res, "firewall_policy", (*POLICY, *HIERARCHICAL))
    for value in ids:
        for draft in ctx.firewalls.values():
            if draft.kind == "firewall_policy" and value in (draft.id, draft.name):
                return draft.id
            if draft.kind == "firewall_policy" and last_segment(value) == draft.name:
                return draft.id
        return value
    return f"{res.address}:firewall_policy"


def _policy_rule(ctx: Context, res: PlannedResource) -> None:
    f = ctx.fields(res)
    raw_action = (f.text("action") or "").lower()
    if raw_action not in _POLICY_ACTIONS:
        raise f.error("action", "allow, deny or goto_next", f.data.get("action"))
    action = _POLICY_ACTIONS[raw_action]
    if action is None:
        return
    direction = _DIRECTIONS.get((f.text("direction") or "").upper())
    if direction is None:
        raise f.error("direction", '"INGRESS" or "EGRESS"', f.data.get("direction"))
    matches = f.blocks("match")
    if not matches:
        raise f.error("match", "one match block", f.data.get("match"))
    match = matches[0]
    src, src_unknown = _ranges(match, "src_ip_ranges")
    dst, dst_unknown = _ranges(match, "dest_ip_ranges")
    unknown = [*src_unknown, *dst_unknown]
    remote_side = "src" if direction == "inbound" else "dest"
    symbolic, symbolic_unknown = _unexpandable(match, remote_side)
    unknown.extend(symbolic_unknown)
    targets, target_unknown = _accounts(f, "target_service_accounts", target=True)
    unknown.extend(target_unknown)
    secure = [b.text("name") for b in f.blocks("target_secure_tags")]
    if secure:
        # The model has no secure-tag selector: which VMs it selects is unknown.
        targets.extend(Peer.of("unknown", f"secure tag {s}") for s in secure if s)
    resources = f.strings("target_resources")
    if resources:
        targets.extend(Peer.of("unknown", f"target resource {r}") for r in resources)
    source_tags = [b.text("name") for b in match.blocks("src_secure_tags")]
    if source_tags:
        src.extend(Peer.of("unknown", f"secure tag {s}") for s in source_tags if s)
    remote = src if direction == "inbound" else dst
    # No remote side at all is GCP's "every IPv4 address"; an unexpandable one is not.
    peers = [*remote, *symbolic] or [Peer.cidr(c) for c in _ANYWHERE]
    if direction == "inbound":
        targets.extend(dst)
    else:
        targets.extend(src)
    policy = _policy_id(ctx, res)
    draft = ctx.firewall(policy, res, "gcp", "firewall_policy")
    configs = match.blocks("layer4_configs") or []
    if not configs:
        raise match.error("layer4_configs", "at least one layer4_configs block", None)
    for i, l4 in enumerate(configs):
        try:
            ports = gcp_ports(l4.strings("ports"))
        except ValueError as exc:
            raise l4.error("ports", "ports like 80 or 1000-2000", l4.data.get("ports")) from exc
        draft.rules.append(
            Rule(
                id=f"{res.address}/{i}" if len(configs) > 1 else res.address,
                name=f.text("rule_name") or None,
                direction=direction,
                action=action,
                priority=f.integer("priority"),
                protocol=l4.protocol("ip_protocol"),
                ports=ports,
                peers=tuple(peers),
                targets=tuple(targets),
                disabled=f.boolean("disabled"),
                unknown=tuple(unknown),
                description=f.text("description") or None,
                provenance=ctx.provenance(res),
            )
        )


# --------------------------------------------------------------- instances


@dataclass
class _Subnet:
    ipv4: str | None
    ipv6: str | None


def _subnets(ctx: Context) -> dict[str, _Subnet]:
    """Planned subnetworks by id and by name: their IPv4 and IPv6 ranges."""
    out: dict[str, _Subnet] = {}
    for sub in ctx.of_type(*SUBNETWORK):
        f = ctx.fields(sub)
        ipv4, ipv6 = f.cidrs("ip_cidr_range"), f.cidrs("ipv6_cidr_range")
        entry = _Subnet(next(iter(ipv4), None), next(iter(ipv6), None))
        out[ctx.object_id(sub)] = entry
        if f.text("name"):
            out.setdefault(str(f.text("name")), entry)
    return out


def _hierarchical_attachments(ctx: Context) -> dict[str, list[Attachment]]:
    """Project (``""``: any) -> organization / folder policies governing its VMs.

    An organization's policy governs every VM of the plan. A folder's governs the
    VMs of projects the plan places in that folder (``google_project.folder_id``);
    for others the plan does not say, which is reported like the live collector
    does, and the policy is applied to none of them.
    """
    folder_of = {
        ctx.fields(p).text("project_id") or "": last_segment(ctx.fields(p).text("folder_id") or "")
        for p in ctx.of_type("google_project")
    }
    out: dict[str, list[Attachment]] = {}
    for link in ctx.of_type("google_compute_firewall_policy_association"):
        policy = _policy_id(ctx, link)
        target = _parent(ctx, link, "attachment_target") or ""
        attachment = Attachment(firewall_id=policy, level="network", via=target)
        if target.startswith("organizations/"):
            out.setdefault("", []).append(attachment)
            continue
        projects = [
            p for p, folder in folder_of.items() if folder and folder == last_segment(target)
        ]
        for project in projects:
            out.setdefault(project, []).append(attachment)
        if not projects:
            ctx.errors.append(
                CollectionError(
                    provider="terraform",
                    scope=link.address,
                    message=(
                        f"firewall policy {policy} is associated with "
                        f"{target or 'an unknown target'}, and the plan does not say which "
                        "projects are in it: it is applied to no VM"
                    ),
                )
            )
    return out


def _instances(ctx: Context, names: dict[str, str]) -> None:
    policies_by_network: dict[str, list[str]] = {}
    for draft in ctx.firewalls.values():
        if draft.kind == "firewall_policy" and draft.network:
            policies_by_network.setdefault(draft.network, []).append(draft.id)
    hierarchical = _hierarchical_attachments(ctx)
    subnets = _subnets(ctx)
    for res in ctx.of_type("google_compute_instance"):
        f = ctx.fields(res)
        networks: list[str] = []
        addresses: list[str] = []
        ranges: list[str] = []
        unknown: list[str] = []
        for i, nic in enumerate(f.blocks("network_interface")):
            network = nic.text("network")
            if network:
                # A shared VPC's NIC names the host project's network: the link decides.
                networks.append(names.get(network) or gcp_network_ref(network, _project(ctx, res)))
            else:
                refs = ctx.nested_linked(res, "network_interface", i, "network", NETWORK)
                networks.extend(names.get(r, r) for r in refs)
                if not refs and nic.is_unknown("network"):
                    unknown.append(f"network_interface[{i}].network")
            subnet_ids = [v for v in [nic.text("subnetwork")] if v] or ctx.nested_linked(
                res, "network_interface", i, "subnetwork", SUBNETWORK
            )
            subnet = next(
                (subnets[k] for v in subnet_ids for k in (v, last_segment(v)) if k in subnets),
                _Subnet(None, None),
            )
            stack = (nic.text("stack_type") or "IPV4_ONLY").upper()
            # An address assigned at apply is somewhere in its subnet (or its family).
            if stack != "IPV6_ONLY":
                ipv4 = nic.addresses("network_ip")
                addresses.extend(ipv4)
                ranges.extend([] if ipv4 else [subnet.ipv4 or "0.0.0.0/0"])
            if stack in ("IPV4_IPV6", "IPV6_ONLY"):
                ipv6 = nic.addresses("ipv6_address")
                addresses.extend(ipv6)
                ranges.extend([] if ipv6 else [subnet.ipv6 or "::/0"])
        accounts: list[str] = []
        for i, sa in enumerate(f.blocks("service_account")):
            email = sa.text("email")
            if email:
                accounts.append(email)
            elif sa.is_unknown("email"):
                # The same planned account a rule's target names, or one unknown.
                refs = ctx.nested_linked(res, "service_account", i, "email", ACCOUNT)
                accounts.extend(refs or [UNKNOWN_SERVICE_ACCOUNT])
        project = f.text("project") or ""
        attachments = [
            *hierarchical.get("", []),
            *(hierarchical.get(project, []) if project else []),
            *(
                Attachment(firewall_id=p, level="network", via=n)
                for n in networks
                for p in policies_by_network.get(n, [])
            ),
        ]
        ctx.vms.append(
            VM(
                provider="gcp",
                id=ctx.object_id(res),
                name=f.text("name") or res.address,
                addresses=tuple(dict.fromkeys(addresses)),
                address_ranges=tuple(dict.fromkeys(ranges)),
                tags=f.mapping("labels"),
                network_tags=tuple(f.strings("tags")),
                service_accounts=tuple(dict.fromkeys(accounts)),
                networks=tuple(dict.fromkeys(networks)),
                attachments=tuple(dict.fromkeys(attachments)),
                unknown=tuple(unknown),
                provenance=ctx.provenance(res),
            )
        )
