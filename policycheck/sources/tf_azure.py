"""Azure resources of a Terraform plan: NSGs and rules, NICs, subnets, VNets, VMs, ASGs.

The engine adds Azure's default rules (AllowVnetInBound...); this module only reads
what the plan declares.
"""

from __future__ import annotations

from policycheck.model import VM, Action, Attachment, Direction, Network, Peer, Rule
from policycheck.sources.normalize import azure_port_ranges, azure_prefixes
from policycheck.sources.tfbuild import Context, Fields, FirewallDraft, unknown_peer
from policycheck.sources.tfplan import PlannedResource

NSG = ("azurerm_network_security_group",)
NIC = ("azurerm_network_interface",)
SUBNET = ("azurerm_subnet",)
ASG = ("azurerm_application_security_group",)
VNET = ("azurerm_virtual_network",)
VM_TYPES = (
    "azurerm_linux_virtual_machine",
    "azurerm_windows_virtual_machine",
    "azurerm_virtual_machine",
)
_DIRECTIONS: dict[str, Direction] = {"inbound": "inbound", "outbound": "outbound"}
_ACTIONS: dict[str, Action] = {"allow": "allow", "deny": "deny"}


def translate(ctx: Context) -> None:
    for res in ctx.of_type(*NSG):
        _nsg(ctx, res)
    # Separate rules name their NSG (and resource group), they do not hold its id.
    by_name: dict[tuple[str | None, str | None], str] = {}
    for res in ctx.of_type(*NSG):
        f = ctx.fields(res)
        by_name[(f.text("name"), f.text("resource_group_name"))] = ctx.object_id(res)
        by_name.setdefault((f.text("name"), None), ctx.object_id(res))
    for res in ctx.of_type("azurerm_network_security_rule"):
        _separate_rule(ctx, res, by_name)
    for res in ctx.of_type(*VNET):
        f = ctx.fields(res)
        ctx.networks.append(
            Network(
                provider="azure",
                id=ctx.object_id(res),
                name=f.text("name"),
                address_spaces=tuple(f.cidrs("address_space")),
            )
        )
    _vms(ctx)


def _side(f: Fields, end: str) -> tuple[list[Peer], list[str]]:
    """Peers of one end (``source``/``destination``): prefixes and ASGs."""
    single, plural, asgs = (
        f"{end}_address_prefix",
        f"{end}_address_prefixes",
        f"{end}_application_security_group_ids",
    )
    try:
        peers = azure_prefixes(f.text(single), f.strings(plural))
    except ValueError as exc:
        bad = [v for v in [f.text(single), *f.strings(plural)] if v]
        raise f.error(single, "valid address prefixes (CIDR), * or tag names", bad) from exc
    unknown: list[str] = []
    ctx = f.ctx
    asg_ids = f.strings(asgs)
    if f.is_unknown(asgs) and not f.label:
        resolved, unresolved = ctx.linked(f.res, asgs, ASG)
        asg_ids = resolved
        if unresolved:
            unknown.append(asgs)
    elif f.is_unknown(asgs):
        unknown.append(asgs)
    peers.extend(Peer.of("app_security_group", a) for a in dict.fromkeys(asg_ids))
    for key in (single, plural):
        if f.is_unknown(key):
            unknown.append(key)
    peers.extend(unknown_peer(k) for k in unknown)
    return peers, unknown


def _rule(f: Fields, rule_id: str, nested: tuple[str, dict[str, object], int] | None) -> Rule:
    direction = _DIRECTIONS.get((f.text("direction") or "").lower())
    if direction is None:
        raise f.error("direction", '"Inbound" or "Outbound"', f.data.get("direction"))
    action = _ACTIONS.get((f.text("access") or "").lower())
    if action is None:
        raise f.error("access", '"Allow" or "Deny"', f.data.get("access"))
    sources, unknown_sources = _side(f, "source")
    destinations, unknown_destinations = _side(f, "destination")
    # Inbound: the remote side is the source; outbound the other way round.
    peers, targets = (sources, destinations) if direction == "inbound" else (destinations, sources)
    unknown = [*unknown_sources, *unknown_destinations]
    for key in ("protocol", "priority", "destination_port_range", "destination_port_ranges"):
        if f.is_unknown(key):
            unknown.append(key)
    try:
        ports = azure_port_ranges(
            f.text("destination_port_range"), f.strings("destination_port_ranges")
        )
        source_ports = azure_port_ranges(
            f.text("source_port_range"), f.strings("source_port_ranges")
        )
    except ValueError as exc:
        raise f.error(
            "destination_port_range",
            "port ranges like 80 or 1000-2000",
            [f.data.get("destination_port_range"), f.data.get("destination_port_ranges")],
        ) from exc
    return Rule(
        id=rule_id,
        name=f.text("name"),
        direction=direction,
        action=action,
        priority=f.integer("priority"),
        protocol=f.protocol("protocol"),
        ports=ports,
        source_ports=source_ports,
        peers=tuple(peers),
        targets=tuple(targets),
        unknown=tuple(unknown),
        description=f.text("description") or None,
        provenance=f.ctx.provenance(f.res, nested),
    )


def _nsg(ctx: Context, res: PlannedResource) -> None:
    f = ctx.fields(res)
    draft = FirewallDraft(
        provider="azure",
        kind="nsg",
        id=ctx.object_id(res),
        name=f.text("name") or res.address,
        tags=f.mapping("tags"),
        provenance=ctx.provenance(res),
    )
    if f.is_unknown("security_rule") and not isinstance(res.values.get("security_rule"), list):
        draft.rules.append(
            Rule(
                id=f"{res.address}/security_rule",
                direction="inbound",
                peers=(unknown_peer("security_rule"),),
                unknown=("security_rule",),
                provenance=ctx.provenance(res),
            )
        )
    for i, block in enumerate(f.blocks("security_rule")):
        name = block.text("name") or str(i)
        draft.rules.append(
            _rule(block, f"{res.address}/security_rule/{name}", ("security_rule", block.data, i))
        )
    ctx.add_firewall(draft)


def _separate_rule(
    ctx: Context, res: PlannedResource, by_name: dict[tuple[str | None, str | None], str]
) -> None:
    f = ctx.fields(res)
    name = f.text("network_security_group_name")
    nsg_id = by_name.get((name, f.text("resource_group_name"))) or by_name.get((name, None))
    if nsg_id is None:
        referenced = [
            ctx.object_id(ctx.plan.resources[a])
            for a in ctx.plan.references(res, "network_security_group_name")
            if ctx.plan.resources[a].type in NSG
        ]
        nsg_id = (
            next(iter(referenced), None) or name or f"{res.address}:network_security_group_name"
        )
    ctx.firewall(nsg_id, res, "azure", "nsg").rules.append(_rule(f, res.address, None))


def _associations(
    ctx: Context,
    rtype: str,
    subject_key: str,
    subject_types: tuple[str, ...],
    object_key: str,
    object_types: tuple[str, ...],
) -> dict[str, list[tuple[str, bool]]]:
    """subject id -> [(object id, unresolved)] for an association resource type."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for link in ctx.of_type(rtype):
        subjects, _ = ctx.linked(link, subject_key, subject_types)
        objects, unresolved = ctx.linked(link, object_key, object_types)
        for subject in subjects:
            out.setdefault(subject, []).extend((o, unresolved) for o in objects)
            if unresolved and not objects:
                out[subject].append(("", True))
    return out


def _vms(ctx: Context) -> None:
    nic_nsg = _associations(
        ctx,
        "azurerm_network_interface_security_group_association",
        "network_interface_id",
        NIC,
        "network_security_group_id",
        NSG,
    )
    subnet_nsg = _associations(
        ctx,
        "azurerm_subnet_network_security_group_association",
        "subnet_id",
        SUBNET,
        "network_security_group_id",
        NSG,
    )
    nic_asg = _associations(
        ctx,
        "azurerm_network_interface_application_security_group_association",
        "network_interface_id",
        NIC,
        "application_security_group_id",
        ASG,
    )
    vnet_by_name = {ctx.fields(v).text("name"): ctx.object_id(v) for v in ctx.of_type(*VNET)}
    subnet_vnet = {
        ctx.object_id(s): vnet_by_name.get(ctx.fields(s).text("virtual_network_name"))
        or next(iter(ctx.linked(s, "virtual_network_name", VNET)[0]), None)
        for s in ctx.of_type(*SUBNET)
    }
    nics = {ctx.object_id(n): n for n in ctx.of_type(*NIC)}
    subnet_prefixes = {
        ctx.object_id(s): [
            *ctx.fields(s).cidrs("address_prefixes"),
            *ctx.fields(s).cidrs("address_prefix"),
        ]
        for s in ctx.of_type(*SUBNET)
    }
    for res in ctx.of_type(*VM_TYPES):
        f = ctx.fields(res)
        nic_ids, nics_unresolved = ctx.linked(res, "network_interface_ids", NIC)
        attachments: list[Attachment] = []
        unknown: list[str] = ["network_interface_ids"] if nics_unresolved else []
        addresses: list[str] = []
        ranges: list[str] = []
        networks: list[str] = []
        asgs: list[str] = []
        for nic_id in nic_ids:
            nic = nics.get(nic_id)
            for nsg, unresolved in nic_nsg.get(nic_id, []):
                if unresolved:
                    unknown.append(f"{nic_id}.network_security_group_id")
                if nsg:
                    attachments.append(Attachment(firewall_id=nsg, level="interface", via=nic_id))
            asgs.extend(a for a, _ in nic_asg.get(nic_id, []) if a)
            if nic is None:
                continue
            nf = ctx.fields(nic)
            legacy, _ = ctx.linked(nic, "network_security_group_id", NSG)
            attachments.extend(
                Attachment(firewall_id=n, level="interface", via=nic_id) for n in legacy
            )
            for i, ipc in enumerate(nf.blocks("ip_configuration")):
                known = ipc.addresses("private_ip_address")
                address = known[0] if known else None
                addresses.extend(known)
                subnet_ids = [v for v in [ipc.text("subnet_id")] if v]
                if ipc.is_unknown("subnet_id"):
                    subnet_ids.extend(
                        ctx.nested_linked(nic, "ip_configuration", i, "subnet_id", SUBNET)
                    )
                if not address:
                    # Dynamic (or not yet known): somewhere in the subnet's prefixes.
                    ranges.extend(p for sub in subnet_ids for p in subnet_prefixes.get(sub, []))
                for subnet in subnet_ids:
                    for nsg, unresolved in subnet_nsg.get(subnet, []):
                        if unresolved:
                            unknown.append(f"{subnet}.network_security_group_id")
                        if nsg:
                            attachments.append(
                                Attachment(firewall_id=nsg, level="subnet", via=subnet)
                            )
                    vnet = subnet_vnet.get(subnet)
                    if vnet:
                        networks.append(vnet)
        ctx.vms.append(
            VM(
                provider="azure",
                id=ctx.object_id(res),
                name=f.text("name") or res.address,
                addresses=tuple(dict.fromkeys(addresses)),
                address_ranges=tuple(dict.fromkeys(ranges)),
                tags=f.mapping("tags"),
                app_security_groups=tuple(dict.fromkeys(asgs)),
                networks=tuple(dict.fromkeys(networks)),
                attachments=tuple(dict.fromkeys(attachments)),
                unknown=tuple(dict.fromkeys(unknown)),
                provenance=ctx.provenance(res),
            )
        )
