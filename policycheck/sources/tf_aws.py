"""AWS resources of a Terraform plan: security groups, their rules, NACLs, instances, ENIs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from policycheck.model import (
    VM,
    AddressGroup,
    Attachment,
    Direction,
    Network,
    Peer,
    PortRange,
    Rule,
)
from policycheck.sources.normalize import aws_ports, cidr_peers
from policycheck.sources.tfbuild import Context, Fields, FirewallDraft, unknown_peer
from policycheck.sources.tfplan import PlannedResource

SG = ("aws_security_group",)
NACL = ("aws_network_acl", "aws_default_network_acl")
SUBNET = ("aws_subnet",)
ENI = ("aws_network_interface",)
INSTANCE = ("aws_instance",)
TEMPLATE = ("aws_launch_template",)
PREFIX_LIST = ("aws_ec2_managed_prefix_list",)
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
    _prefix_lists(ctx)
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


def _prefix_lists(ctx: Context) -> None:
    """Managed prefix lists the plan declares, with their entries (inline ``entry``
    blocks and ``aws_ec2_managed_prefix_list_entry`` resources); a list with an entry
    unknown until apply is marked incomplete."""
    lists: dict[str, tuple[PlannedResource, list[str], bool]] = {}
    for res in ctx.of_type(*PREFIX_LIST):
        f = ctx.fields(res)
        cidrs: list[str] = []
        incomplete = f.is_unknown("entry") and not isinstance(res.values.get("entry"), list)
        for entry in f.blocks("entry"):
            cidrs.extend(v for v in [entry.text("cidr")] if v)
            incomplete = incomplete or entry.is_unknown("cidr")
        lists[ctx.object_id(res)] = (res, cidrs, incomplete)
    for res in ctx.of_type("aws_ec2_managed_prefix_list_entry"):
        f = ctx.fields(res)
        for list_id in ctx.linked(res, "prefix_list_id", PREFIX_LIST)[0]:
            if list_id in lists:
                owner, cidrs, incomplete = lists[list_id]
                cidr = f.text("cidr")
                lists[list_id] = (
                    owner,
                    [*cidrs, *([cidr] if cidr else [])],
                    incomplete or f.is_unknown("cidr"),
                )
    for list_id, (res, cidrs, incomplete) in lists.items():
        try:
            networks = [str(ipaddress.ip_network(c.strip(), strict=False)) for c in cidrs]
        except ValueError as exc:
            raise ctx.fields(res).error("entry", "CIDR blocks", cidrs) from exc
        ctx.address_groups.append(
            AddressGroup(
                provider="aws",
                kind="prefix_list",
                id=list_id,
                name=ctx.fields(res).text("name"),
                cidrs=tuple(dict.fromkeys(networks)),
                incomplete=incomplete,
            )
        )


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
                peers.append(Peer.of("security_group", self_id))
            continue
        if kind in _LINKED:
            # Groups and prefix lists planned alongside: followed by reference.
            values, unresolved = f.linked(key, _LINKED[kind])
            peers.extend(Peer.of(kind, v) for v in values)
        else:
            values = (
                f.strings(key)
                if isinstance(f.data.get(key), list)
                else [v for v in [f.text(key)] if v]
            )
            try:
                peers.extend(cidr_peers(values))
            except ValueError as exc:
                raise f.error(key, "CIDR blocks", values) from exc
            unresolved = f.is_unknown(key)
        if unresolved:
            unknown.append(key)
            peers.append(unknown_peer(key))
    return peers, unknown


_LINKED: dict[str, tuple[str, ...]] = {"security_group": SG, "prefix_list": PREFIX_LIST}


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
    peers = [*rule.peers, *(Peer.of("security_group", s) for s in referenced)]
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
    if res.type == "aws_default_network_acl":
        # The VPC's default ACL: named by the VPC's default_network_acl_id.
        named, _ = ctx.linked(res, "default_network_acl_id", ("aws_vpc",))
        vpc = next(
            (
                ctx.object_id(v)
                for v in ctx.of_type("aws_vpc")
                if ctx.object_id(v) in named or v.values.get("default_network_acl_id") in named
            ),
            None,
        )
    else:
        vpc = _vpc(ctx, res)
    draft = FirewallDraft(
        provider="aws",
        kind="network_acl",
        id=ctx.object_id(res),
        name=f.mapping("tags").get("Name") or res.address,
        network=vpc,
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


def _subnet_acls(ctx: Context) -> dict[str, str]:
    """Subnet id -> network ACL id, from ``subnet_ids`` and association resources;
    ``vpc:<id>`` -> the VPC's default ACL for subnets no ACL names."""
    out: dict[str, str] = {}
    for res in ctx.of_type(*NACL):
        acl_id = ctx.object_id(res)
        for subnet in ctx.linked(res, "subnet_ids", SUBNET)[0]:
            out[subnet] = acl_id
        if res.type == "aws_default_network_acl":
            draft = ctx.firewalls.get(acl_id)
            if draft is not None and draft.network:
                out[f"vpc:{draft.network}"] = acl_id
    for link in ctx.of_type("aws_network_acl_association"):
        acls, _ = ctx.linked(link, "network_acl_id", NACL)
        for subnet in ctx.linked(link, "subnet_id", SUBNET)[0] if acls else []:
            out[subnet] = acls[0]
    return out


def _sg_ids_by_name(ctx: Context) -> dict[str, str]:
    return {d.name: d.id for d in ctx.firewalls.values() if d.provider == "aws"}


@dataclass
class _Groups:
    """Security groups something names, and whether some stayed unknown until apply."""

    ids: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    def add(self, ids: list[str], unresolved: bool, what: str) -> None:
        self.ids.extend(ids)
        if unresolved:
            self.unresolved.append(what)


@dataclass
class _Interfaces:
    """ENIs of the plan, and the attachments that name instances or interfaces."""

    groups: dict[str, _Groups] = field(default_factory=dict)
    addresses: dict[str, list[str]] = field(default_factory=dict)
    subnets: dict[str, list[str]] = field(default_factory=dict)
    of_instance: dict[str, list[str]] = field(default_factory=dict)
    #: Groups attached to an instance's primary interface (``primary_network_interface_id``).
    primary_groups: dict[str, _Groups] = field(default_factory=dict)


def _interfaces(ctx: Context) -> _Interfaces:
    out = _Interfaces()
    for eni in ctx.of_type(*ENI):
        eni_id = ctx.object_id(eni)
        out.groups.setdefault(eni_id, _Groups()).add(
            *ctx.linked(eni, "security_groups", SG), f"{eni_id}.security_groups"
        )
        out.subnets[eni_id] = ctx.linked(eni, "subnet_id", SUBNET)[0]
        f = ctx.fields(eni)
        out.addresses[eni_id] = [*f.addresses("private_ips"), *f.addresses("private_ip")]
        for block in f.blocks("attachment"):
            instance = block.text("instance")
            if instance:
                out.of_instance.setdefault(instance, []).append(eni_id)
    # An instance's primary interface is named by the instance attribute
    # primary_network_interface_id: by reference while unknown, by value once known.
    instance_ids = {ctx.object_id(r) for r in ctx.of_type(*INSTANCE)}
    primary = {
        str(r.values["primary_network_interface_id"]): ctx.object_id(r)
        for r in ctx.of_type(*INSTANCE)
        if r.values.get("primary_network_interface_id")
    }
    for extra in ctx.of_type("aws_network_interface_sg_attachment"):
        targets, _ = ctx.linked(extra, "network_interface_id", (*ENI, *INSTANCE))
        sg_ids, unresolved = ctx.linked(extra, "security_group_id", SG)
        for target in targets:
            instance = target if target in instance_ids else primary.get(target)
            holder = out.primary_groups if instance else out.groups
            holder.setdefault(instance or target, _Groups()).add(
                sg_ids, unresolved, f"{extra.address}.security_group_id"
            )
    for link in ctx.of_type("aws_network_interface_attachment"):
        instance_ids_linked, _ = ctx.linked(link, "instance_id", INSTANCE)
        eni_ids, _ = ctx.linked(link, "network_interface_id", ENI)
        for instance in instance_ids_linked:
            out.of_instance.setdefault(instance, []).extend(eni_ids)
    return out


@dataclass
class _Template:
    """What a launch template says about the instances it launches."""

    resource: PlannedResource
    groups: _Groups
    subnets: list[str]
    #: Template tags, then the tags it gives the instances it launches.
    tags: dict[str, str]


def _templates(ctx: Context, names: dict[str, str]) -> dict[str, _Template]:
    """Launch templates by id and by name (instances and ASGs name them either way)."""
    out: dict[str, _Template] = {}
    for res in ctx.of_type(*TEMPLATE):
        f = ctx.fields(res)
        groups = _Groups()
        groups.add(*ctx.linked(res, "vpc_security_group_ids", SG), "vpc_security_group_ids")
        groups.ids.extend(names.get(n, n) for n in f.strings("security_group_names"))
        subnets: list[str] = []
        for nic in f.blocks("network_interfaces"):
            groups.add(*nic.linked("security_groups", SG), "network_interfaces.security_groups")
            subnets.extend(nic.linked("subnet_id", SUBNET)[0])
        tags = f.mapping("tags")
        for spec in f.blocks("tag_specifications"):
            if spec.text("resource_type") == "instance":
                tags = {**tags, **spec.mapping("tags")}
        template = _Template(res, groups, subnets, tags)
        out[ctx.object_id(res)] = template
        for name in (f.text("name"), res.address):
            if name:
                out.setdefault(name, template)
    return out


def _template_of(ctx: Context, f: Fields, templates: dict[str, _Template]) -> _Template | None:
    """The template a ``launch_template``-style block names (by id or name)."""
    for key, kind in (("id", "launch_template_id"), ("name", "launch_template_name")):
        for attr in (key, kind):
            if attr not in f.data and not f.is_unknown(attr):
                continue
            for ref in f.linked(attr, TEMPLATE)[0]:
                if ref in templates:
                    return templates[ref]
    return None


def _instances(ctx: Context) -> None:
    names = _sg_ids_by_name(ctx)
    interfaces = _interfaces(ctx)
    templates = _templates(ctx, names)
    used: set[int] = set()
    vpc_of_subnet = {ctx.object_id(s): _vpc(ctx, s) for s in ctx.of_type(*SUBNET)}
    subnet_acl = _subnet_acls(ctx)

    def vm(
        res: PlannedResource,
        name: str,
        groups: _Groups,
        subnets: list[str],
        addresses: list[str],
        tags: dict[str, str],
        interface_attachments: list[Attachment],
    ) -> VM:
        vm_id = ctx.object_id(res)
        attachments = [
            *(Attachment(firewall_id=g, level="interface", via=vm_id) for g in groups.ids),
            *interface_attachments,
        ]
        unknown = list(groups.unresolved)
        if not attachments and not unknown:
            # No group named anywhere: the VPC's default group applies, which the plan lacks.
            unknown.append("vpc_security_group_ids")
        for subnet in dict.fromkeys(subnets):
            acl = subnet_acl.get(subnet) or subnet_acl.get(f"vpc:{vpc_of_subnet.get(subnet)}")
            if acl:
                attachments.append(Attachment(firewall_id=acl, level="subnet", via=subnet))
        return VM(
            provider="aws",
            id=vm_id,
            name=name,
            addresses=tuple(dict.fromkeys(addresses)),
            tags=tags,
            networks=tuple(dict.fromkeys(n for s in subnets if (n := vpc_of_subnet.get(s)))),
            attachments=tuple(dict.fromkeys(attachments)),
            unknown=tuple(dict.fromkeys(unknown)),
            provenance=ctx.provenance(res),
        )

    for res in ctx.of_type(*INSTANCE):
        f = ctx.fields(res)
        vm_id = ctx.object_id(res)
        groups = _Groups()
        groups.add(*ctx.linked(res, "vpc_security_group_ids", SG), "vpc_security_group_ids")
        groups.ids.extend(names.get(n, n) for n in f.strings("security_groups"))
        primary = interfaces.primary_groups.get(vm_id)
        if primary is not None:
            groups.add(primary.ids, False, "")
            groups.unresolved.extend(primary.unresolved)
        subnets, _ = ctx.linked(res, "subnet_id", SUBNET)
        tags = f.mapping("tags")
        template = next(
            (t for b in f.blocks("launch_template") if (t := _template_of(ctx, b, templates))),
            None,
        )
        if template is not None:
            used.add(id(template))
            if not groups.ids and not groups.unresolved:
                groups = template.groups  # the instance names none: the template's apply
            subnets = subnets or template.subnets
            tags = {**template.tags, **tags}
        addresses = f.addresses("private_ip")
        eni_ids = list(interfaces.of_instance.get(vm_id, []))
        for block in f.blocks("network_interface"):
            eni_ids.extend(v for v in [block.text("network_interface_id")] if v)
        if f.is_unknown("network_interface"):
            eni_ids.extend(
                ctx.object_id(ctx.plan.resources[a])
                for a in ctx.plan.references(res, "network_interface")
                if ctx.plan.resources[a].type in ENI
            )
        eni_attachments: list[Attachment] = []
        for eni_id in dict.fromkeys(eni_ids):
            eni = interfaces.groups.get(eni_id, _Groups())
            groups.unresolved.extend(eni.unresolved)
            eni_attachments.extend(
                Attachment(firewall_id=g, level="interface", via=eni_id) for g in eni.ids
            )
            addresses.extend(interfaces.addresses.get(eni_id, []))
            subnets = [*subnets, *interfaces.subnets.get(eni_id, [])]
        ctx.vms.append(
            vm(
                res,
                tags.get("Name") or res.address,
                groups,
                subnets,
                addresses,
                tags,
                eni_attachments,
            )
        )

    # An autoscaling group's future instances exist in the plan only as its launch
    # template: the group is evaluated as one VM with the template's groups and tags.
    for res in ctx.of_type("aws_autoscaling_group"):
        f = ctx.fields(res)
        blocks = [
            *f.blocks("launch_template"),
            *(
                spec
                for policy in f.blocks("mixed_instances_policy")
                for lt in policy.blocks("launch_template")
                for spec in lt.blocks("launch_template_specification")
            ),
        ]
        template = next((t for b in blocks if (t := _template_of(ctx, b, templates))), None)
        if template is None:
            continue
        used.add(id(template))
        propagated = {
            key: tag.text("value") or ""
            for tag in f.blocks("tag")
            if (key := tag.text("key")) and tag.boolean("propagate_at_launch")
        }
        subnets = ctx.linked(res, "vpc_zone_identifier", SUBNET)[0] or template.subnets
        tags = {**template.tags, **propagated}
        name = f.text("name") or tags.get("Name") or res.address
        ctx.vms.append(vm(res, name, template.groups, subnets, [], tags, []))
    # A template nothing in the plan launches yet: its future instances, as one VM.
    unused = {id(t): t for t in templates.values() if id(t) not in used}
    for template in unused.values():
        res = template.resource
        name = ctx.fields(res).text("name") or template.tags.get("Name") or res.address
        ctx.vms.append(vm(res, name, template.groups, template.subnets, [], template.tags, []))
