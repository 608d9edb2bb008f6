"""GCP resources of a Terraform plan: VPC firewall rules, network firewall policies, instances.

GCP rules apply network-wide and select VMs by target tag or service account, so
VMs carry their network names, tags and service accounts rather than attachments;
the engine matches them (and adds the implied rules).
"""

from __future__ import annotations

from policycheck.model import (
    VM,
    Action,
    Attachment,
    Direction,
    Network,
    Peer,
    Rule,
    last_segment,
)
from policycheck.sources.normalize import cidr_peers, gcp_ports
from policycheck.sources.tfbuild import Context, Fields, FirewallDraft, unknown_peer
from policycheck.sources.tfplan import PlannedResource

NETWORK = ("google_compute_network",)
POLICY = ("google_compute_network_firewall_policy",)
_DIRECTIONS: dict[str, Direction] = {"INGRESS": "inbound", "EGRESS": "outbound"}
#: GCP's documented defaults when a rule names no source (ingress) / destination (egress).
_ANYWHERE = ("0.0.0.0/0",)


def translate(ctx: Context) -> None:
    names = {
        ctx.object_id(n): ctx.fields(n).text("name") or n.address for n in ctx.of_type(*NETWORK)
    }
    for res in ctx.of_type("google_compute_firewall"):
        _firewall(ctx, res, names)
    _policies(ctx, names)
    _instances(ctx, names)
    _networks(ctx, names)


def _networks(ctx: Context, names: dict[str, str]) -> None:
    """Networks by name (as VMs and rules name them), with their subnetworks' ranges."""
    ranges: dict[str, list[str]] = {}
    for sub in ctx.of_type("google_compute_subnetwork"):
        network = _network_name(ctx, sub, "network", names)
        cidrs = ctx.fields(sub).cidrs("ip_cidr_range")
        if network and cidrs:
            ranges.setdefault(network, []).extend(cidrs)
    for name in dict.fromkeys(names.values()):
        ctx.networks.append(
            Network(provider="gcp", id=name, name=name, address_spaces=tuple(ranges.get(name, [])))
        )


def _network_name(
    ctx: Context, res: PlannedResource, key: str, names: dict[str, str]
) -> str | None:
    """A network's name from a self link, a name, or a reference to a planned network."""
    ids, _ = ctx.linked(res, key, NETWORK)
    for value in ids:
        return names.get(value) or last_segment(value)
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
    peers = [Peer(kind=kind, value=v) for v in f.strings(key)]
    if f.is_unknown(key):
        return [*peers, unknown_peer(key)], [key]
    return peers, []


def _firewall(ctx: Context, res: PlannedResource, names: dict[str, str]) -> None:
    f = ctx.fields(res)
    direction = _DIRECTIONS.get((f.text("direction") or "INGRESS").upper())
    if direction is None:
        raise f.error("direction", '"INGRESS" or "EGRESS"', f.data.get("direction"))
    unknown: list[str] = []
    parts = [
        _ranges(f, "source_ranges"),
        _symbols(f, "source_tags", "network_tag"),
        _symbols(f, "source_service_accounts", "service_account"),
    ]
    sources = [p for peers, _ in parts for p in peers]
    unknown.extend(k for _, keys in parts for k in keys)
    destinations, unknown_destinations = _ranges(f, "destination_ranges")
    unknown.extend(unknown_destinations)
    selected = [
        _symbols(f, "target_tags", "network_tag"),
        _symbols(f, "target_service_accounts", "service_account"),
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
        network=_network_name(ctx, res, "network", names),
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
    for res in ctx.of_type(*POLICY):
        f = ctx.fields(res)
        ctx.add_firewall(
            FirewallDraft(
                provider="gcp",
                kind="firewall_policy",
                id=ctx.object_id(res),
                name=f.text("name") or res.address,
                provenance=ctx.provenance(res),
            )
        )
    for link in ctx.of_type("google_compute_network_firewall_policy_association"):
        policy = _policy_id(ctx, link)
        ctx.firewall(policy, link, "gcp", "firewall_policy").network = _network_name(
            ctx, link, "attachment_target", names
        )
    for res in ctx.of_type("google_compute_network_firewall_policy_rule"):
        _policy_rule(ctx, res)


def _policy_id(ctx: Context, res: PlannedResource) -> str:
    """Policies are named by name or id; match both to the planned policy."""
    ids, _ = ctx.linked(res, "firewall_policy", POLICY)
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
    targets: list[Peer] = [
        Peer(kind="service_account", value=v) for v in f.strings("target_service_accounts")
    ]
    secure = [b.text("name") for b in f.blocks("target_secure_tags")]
    if secure:
        # The model has no secure-tag selector: say so instead of matching nothing.
        targets.extend(unknown_peer(f"target_secure_tags {s}") for s in secure if s)
        unknown.append("target_secure_tags")
    source_tags = [b.text("name") for b in match.blocks("src_secure_tags")]
    if source_tags:
        src.extend(unknown_peer(f"src_secure_tags {s}") for s in source_tags if s)
        unknown.append("src_secure_tags")
    peers = (src if direction == "inbound" else dst) or [Peer.cidr(c) for c in _ANYWHERE]
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


def _instances(ctx: Context, names: dict[str, str]) -> None:
    policies_by_network: dict[str, list[str]] = {}
    for draft in ctx.firewalls.values():
        if draft.kind == "firewall_policy" and draft.network:
            policies_by_network.setdefault(draft.network, []).append(draft.id)
    for res in ctx.of_type("google_compute_instance"):
        f = ctx.fields(res)
        networks: list[str] = []
        addresses: list[str] = []
        unknown: list[str] = []
        for i, nic in enumerate(f.blocks("network_interface")):
            addresses.extend(nic.addresses("network_ip"))
            network = nic.text("network")
            if network:
                networks.append(names.get(network) or last_segment(network))
            else:
                refs = ctx.nested_linked(res, "network_interface", i, "network", NETWORK)
                networks.extend(names.get(r, r) for r in refs)
                if not refs and nic.is_unknown("network"):
                    unknown.append(f"network_interface[{i}].network")
        accounts = [a for sa in f.blocks("service_account") if (a := sa.text("email"))]
        attachments = [
            Attachment(firewall_id=p, level="network", via=n)
            for n in networks
            for p in policies_by_network.get(n, [])
        ]
        ctx.vms.append(
            VM(
                provider="gcp",
                id=ctx.object_id(res),
                name=f.text("name") or res.address,
                addresses=tuple(dict.fromkeys(addresses)),
                tags=f.mapping("labels"),
                network_tags=tuple(f.strings("tags")),
                service_accounts=tuple(accounts),
                networks=tuple(dict.fromkeys(networks)),
                attachments=tuple(attachments),
                unknown=tuple(unknown),
                provenance=ctx.provenance(res),
            )
        )
