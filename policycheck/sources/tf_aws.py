"""AWS resources of a Terraform plan: security groups, their rules, NACLs, instances, ENIs."""

from __future__ import annotations

from policycheck.model import VM, Attachment, Direction, Network, Peer, PortRange, Rule
from policycheck.sources.normalize import aws_ports, cidr_peers
from policycheck.sources.tfbuild import Context, Fields, FirewallDraft, unknown_peer
from policycheck.sources.tfplan import PlannedResource

SG = ("aws_security_group",)
NACL = ("aws_network_acl",)
ENI = ("aws_network_interface",)
INSTANCE = ("aws_instance",)
_DIRECTIONS: dict[str, Direction] = {"ingress": "inbound", "egress": "outbound"}


def translate(ctx: Context) -> None:
    for res in ctx.of_type(*SG):
        _security_group(ctx, res)
    for res in ctx.of_type(*NACL):
        _network_acl(ctx, res)
    for res in ctx.of_type("aws_security_group_rule"):
        _security_group_rule(ctx, res)
    for res in ctx.of_type(
        "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"
    ):
        _vpc_security_group_rule(ctx, res)
    for res in ctx.of_type("aws_network_acl_rule"):
        _network_acl_rule(ctx, res)
    for res in ctx.of_type("aws_vpc"):
        f = ctx.fields(res)
        cidrs = f.cidrs("cidr_block")
        ctx.networks.append(
            Network(
                provider="aws",
                id=ctx.object_id(res),
                name=f.mapping("tags").get("Name"),
                address_spaces=tuple(cidrs),
            )
        )
    _instances(ctx)


def _vpc(ctx: Context, res: PlannedResource) -> str | None:
    """The VPC id, or the planned VPC's address while its id is unknown."""
    ids, _ = ctx.linked(res, "vpc_id", ("aws_vpc",))
    return next(iter(ids), None)


# ------------------------------------------------------------------ rules


def _peers(
    f: Fields, fields: tuple[tuple[str, str], ...], self_id: str
) -> tuple[list[Peer], list[str]]:
    """Peers from AWS peer fields, plus the names of those unknown until apply."""
    peers: list[Peer] = []
    unknown: list[str] = []
    for key, kind in fields:
        if kind == "self":
            if f.boolean(key):
                peers.append(Peer(kind="security_group", value=self_id))
            continue
        values = (
            f.strings(key) if isinstance(f.data.get(key), list) else [v for v in [f.text(key)] if v]
        )
        if kind == "cidr":
            try:
                peers.extend(cidr_peers(values))
            except ValueError as exc:
                raise f.error(key, "CIDR blocks", values) from exc
        else:
            peers.extend(Peer(kind=kind, value=v) for v in values)
        if f.is_unknown(key):
            unknown.append(key)
            peers.append(unknown_peer(key))
    return peers, unknown


def _rule(
    f: Fields,
    *,
    rule_id: str,
    direction: Direction,
    protocol_key: str,
    peer_fields: tuple[tuple[str, str], ...],
    self_id: str,
    ctx: Context,
    nested: tuple[str, dict[str, object], int] | None = None,
) -> Rule:
    peers, unknown = _peers(f, peer_fields, self_id)
    protocol = f.protocol(protocol_key)
    for key in (protocol_key, "from_port", "to_port"):
        if f.is_unknown(key):
            unknown.append(key)
    try:
        ports = aws_ports(protocol, f.integer("from_port"), f.integer("to_port"))
    except ValueError as exc:
        raise f.error(
            "from_port", "a port range", [f.data.get("from_port"), f.data.get("to_port")]
        ) from exc
    return Rule(
        id=rule_id,
        direction=direction,
        protocol=protocol,
        ports=ports,
        peers=tuple(peers),
        unknown=tuple(unknown),
        description=f.text("description") or None,
        provenance=ctx.provenance(f.res, nested),
    )


_INLINE_PEERS = (
    ("cidr_blocks", "cidr"),
    ("ipv6_cidr_blocks", "cidr"),
    ("prefix_list_ids", "prefix_list"),
    ("security_groups", "security_group"),
    ("self", "self"),
)


def _security_group(ctx: Context, res: PlannedResource) -> None:
    f = ctx.fields(res)
    sg_id = ctx.object_id(res)
    draft = FirewallDraft(
        provider="aws",
        kind="security_group",
        id=sg_id,
        name=f.text("name") or f.text("name_prefix") or res.address,
        network=_vpc(ctx, res),
        tags=f.mapping("tags"),
        provenance=ctx.provenance(res),
    )
    for key, direction in _DIRECTIONS.items():
        if f.is_unknown(key) and not isinstance(res.values.get(key), list):
            # Configured inline rules whose whole content is unknown until apply.
            draft.rules.append(_unknown_rule(ctx, res, key, direction))
            continue
        for i, block in enumerate(f.blocks(key)):
            draft.rules.append(
                _rule(
                    block,
                    rule_id=f"{res.address}/{key}/{i}",
                    direction=direction,
                    protocol_key="protocol",
                    peer_fields=_INLINE_PEERS,
                    self_id=sg_id,
                    ctx=ctx,
                    nested=(key, block.data, i),
                )
            )
    ctx.add_firewall(draft)


def _unknown_rule(ctx: Context, res: PlannedResource, key: str, direction: Direction) -> Rule:
    return Rule(
        id=f"{res.address}/{key}",
        direction=direction,
        peers=(unknown_peer(key),),
        unknown=(key,),
        provenance=ctx.provenance(res),
    )


def _owner(ctx: Context, res: PlannedResource, key: str, types: tuple[str, ...]) -> str:
    """The firewall a separate rule resource belongs to (by id, or by reference)."""
    ids, unresolved = ctx.linked(res, key, types)
    if ids:
        return ids[0]
    # Unknown and not traceable: keep the rule under a placeholder object, never drop it.
    return f"{res.address}:{key} (known after apply)" if unresolved else f"{res.address}:{key}"


def _with_referenced_group(ctx: Context, res: PlannedResource, rule: Rule, key: str) -> Rule:
    """Add the security group a rule names as its peer (``source_security_group_id``...)."""
    referenced, unresolved = ctx.linked(res, key, SG)
    peers = [*rule.peers, *(Peer(kind="security_group", value=s) for s in referenced)]
    unknown = list(rule.unknown)
    if unresolved:
        peers.append(unknown_peer(key))
        unknown.append(key)
    return rule.model_copy(update={"peers": tuple(peers), "unknown": tuple(unknown)})


def _security_group_rule(ctx: Context, res: PlannedResource) -> None:
    f = ctx.fields(res)
    rule_type = f.text("type")
    if rule_type not in _DIRECTIONS:
        raise f.error("type", '"ingress" or "egress"', rule_type)
    sg_id = _owner(ctx, res, "security_group_id", SG)
    rule = _rule(
        f,
        rule_id=res.address,
        direction=_DIRECTIONS[rule_type],
        protocol_key="protocol",
        peer_fields=(*_INLINE_PEERS[:3], ("self", "self")),
        self_id=sg_id,
        ctx=ctx,
    )
    rule = _with_referenced_group(ctx, res, rule, "source_security_group_id")
    ctx.firewall(sg_id, res, "aws", "security_group").rules.append(rule)


_VPC_RULE_PEERS = (("cidr_ipv4", "cidr"), ("cidr_ipv6", "cidr"), ("prefix_list_id", "prefix_list"))


def _vpc_security_group_rule(ctx: Context, res: PlannedResource) -> None:
    f = ctx.fields(res)
    sg_id = _owner(ctx, res, "security_group_id", SG)
    direction: Direction = "inbound" if res.type.endswith("ingress_rule") else "outbound"
    rule = _rule(
        f,
        rule_id=res.address,
        direction=direction,
        protocol_key="ip_protocol",
        peer_fields=_VPC_RULE_PEERS,
        self_id=sg_id,
        ctx=ctx,
    )
    rule = _with_referenced_group(ctx, res, rule, "referenced_security_group_id")
    ctx.firewall(sg_id, res, "aws", "security_group").rules.append(rule)


# ------------------------------------------------------------------ NACLs


def _acl_rule(
    ctx: Context,
    f: Fields,
    rule_id: str,
    direction: Direction,
    *,
    number_key: str,
    action_key: str,
    nested: tuple[str, dict[str, object], int] | None,
) -> Rule:
    action = (f.text(action_key) or "").lower()
    if action not in ("allow", "deny"):
        raise f.error(action_key, '"allow" or "deny"', f.data.get(action_key))
    base = _rule(
        f,
        rule_id=rule_id,
        direction=direction,
        protocol_key="protocol",
        peer_fields=(("cidr_block", "cidr"), ("ipv6_cidr_block", "cidr")),
        self_id="",
        ctx=ctx,
        nested=nested,
    )
    ports = base.ports
    lo, hi = f.integer("from_port"), f.integer("to_port")
    if base.protocol in ("tcp", "udp") and lo is not None and hi is not None and (lo, hi) == (0, 0):
        ports = (PortRange(lo=0, hi=65535),)  # NACL 0-0 with tcp/udp means all ports
    return base.model_copy(
        update={"action": action, "priority": f.integer(number_key), "ports": ports}
    )


def _network_acl(ctx: Context, res: PlannedResource) -> None:
    f = ctx.fields(res)
    draft = FirewallDraft(
        provider="aws",
        kind="network_acl",
        id=ctx.object_id(res),
        name=f.mapping("tags").get("Name") or res.address,
        network=_vpc(ctx, res),
        tags=f.mapping("tags"),
        provenance=ctx.provenance(res),
    )
    for key, direction in _DIRECTIONS.items():
        for i, block in enumerate(f.blocks(key)):
            draft.rules.append(
                _acl_rule(
                    ctx,
                    block,
                    f"{res.address}/{key}/{i}",
                    direction,
                    number_key="rule_no",
                    action_key="action",
                    nested=(key, block.data, i),
                )
            )
    ctx.add_firewall(draft)


def _network_acl_rule(ctx: Context, res: PlannedResource) -> None:
    f = ctx.fields(res)
    acl_id = _owner(ctx, res, "network_acl_id", NACL)
    direction: Direction = "outbound" if f.boolean("egress") else "inbound"
    rule = _acl_rule(
        ctx,
        f,
        res.address,
        direction,
        number_key="rule_number",
        action_key="rule_action",
        nested=None,
    )
    ctx.firewall(acl_id, res, "aws", "network_acl").rules.append(rule)


# -------------------------------------------------------------- instances


def _sg_ids_by_name(ctx: Context) -> dict[str, str]:
    return {d.name: d.id for d in ctx.firewalls.values() if d.provider == "aws"}


def _instances(ctx: Context) -> None:
    names = _sg_ids_by_name(ctx)
    eni_groups: dict[str, tuple[list[str], bool]] = {}
    eni_addresses: dict[str, list[str]] = {}
    eni_instance: dict[str, list[str]] = {}
    for eni in ctx.of_type(*ENI):
        eni_id = ctx.object_id(eni)
        eni_groups[eni_id] = ctx.linked(eni, "security_groups", SG)
        f = ctx.fields(eni)
        eni_addresses[eni_id] = [*f.addresses("private_ips"), *f.addresses("private_ip")]
        for block in f.blocks("attachment"):
            instance = block.text("instance")
            if instance:
                eni_instance.setdefault(instance, []).append(eni_id)
    for extra in ctx.of_type("aws_network_interface_sg_attachment"):
        eni_ids, _ = ctx.linked(extra, "network_interface_id", ENI)
        sg_ids, unresolved = ctx.linked(extra, "security_group_id", SG)
        for eni_id in eni_ids:
            groups, was_unresolved = eni_groups.get(eni_id, ([], False))
            eni_groups[eni_id] = ([*groups, *sg_ids], was_unresolved or unresolved)
    for link in ctx.of_type("aws_network_interface_attachment"):
        instance_ids, _ = ctx.linked(link, "instance_id", INSTANCE)
        eni_ids, _ = ctx.linked(link, "network_interface_id", ENI)
        for instance in instance_ids:
            eni_instance.setdefault(instance, []).extend(eni_ids)

    vpc_of_subnet = {ctx.object_id(s): _vpc(ctx, s) for s in ctx.of_type("aws_subnet")}
    for res in ctx.of_type(*INSTANCE):
        f = ctx.fields(res)
        vm_id = ctx.object_id(res)
        attachments: list[Attachment] = []
        unknown: list[str] = []
        group_ids, unresolved = ctx.linked(res, "vpc_security_group_ids", SG)
        named = [names.get(n, n) for n in f.strings("security_groups")]
        if unresolved:
            unknown.append("vpc_security_group_ids")
        for sg in dict.fromkeys([*group_ids, *named]):
            attachments.append(Attachment(firewall_id=sg, level="interface", via=vm_id))
        addresses = f.addresses("private_ip")
        eni_ids = list(eni_instance.get(vm_id, []))
        for block in f.blocks("network_interface"):
            eni_ids.extend(v for v in [block.text("network_interface_id")] if v)
        if f.is_unknown("network_interface"):
            eni_ids.extend(
                ctx.object_id(ctx.plan.resources[a])
                for a in ctx.plan.references(res, "network_interface")
                if ctx.plan.resources[a].type in ENI
            )
        for eni_id in dict.fromkeys(eni_ids):
            groups, eni_unresolved = eni_groups.get(eni_id, ([], False))
            if eni_unresolved:
                unknown.append(f"{eni_id}.security_groups")
            attachments.extend(
                Attachment(firewall_id=g, level="interface", via=eni_id) for g in groups
            )
            addresses.extend(eni_addresses.get(eni_id, []))
        subnet_ids, _ = ctx.linked(res, "subnet_id", ("aws_subnet",))
        networks = [vpc_of_subnet[s] for s in subnet_ids if vpc_of_subnet.get(s)]
        if not attachments and not unresolved:
            # No group named anywhere: the VPC's default group applies, which the plan lacks.
            unknown.append("vpc_security_group_ids")
        tags = f.mapping("tags")
        ctx.vms.append(
            VM(
                provider="aws",
                id=vm_id,
                name=tags.get("Name") or res.address,
                addresses=tuple(dict.fromkeys(addresses)),
                tags=tags,
                networks=tuple(dict.fromkeys(networks)),
                attachments=tuple(dict.fromkeys(attachments)),
                unknown=tuple(dict.fromkeys(unknown)),
                provenance=ctx.provenance(res),
            )
        )
