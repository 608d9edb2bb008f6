"""Deterministic synthetic estates of hosted SwyxWare deployments, for benchmarks.

A hosting provider runs many small tenant deployments side by side on the three
clouds. Each deployment (tenant ``t00042``) has a SwyxWare server VM ``pbx`` and,
depending on the tenant, a RemoteConnector VM ``rc`` and a SwyxGate/Conference
VM ``gate`` (2 VMs per deployment on average). Tenants share a network per
account / subscription / project (50 tenants each, a subnet per tenant) and a
shared firewall (AWS: a base security group per VPC; Azure: a baseline NSG per
subscription on every tenant subnet; GCP: network-wide rules); each VM also has
its own firewall (security group, NIC NSG, or rules targeting its network tag).
That gives about 20 rules per VM, and every VM is attached to its firewalls, so
the engine really evaluates every rule.

Some deployments are broken in the ways real estates are (RDP or SIP open to the
internet, an everything-from-10/8 rule, SSH from ``::/0``, a RemoteConnector
without its tunnel ports, a rule whose source is known only after apply); one in
ten deployments is new in the plan (its ids are unknown until apply, so its
resources connect through ``configuration`` references, as in a real plan).

Nothing is random: deployment ``d`` always looks the same, so the same size
always gives the same files, and the fingerprints of their findings can be
compared across engine versions (benchmarks/fingerprints.py).

Two renderings of the same estate:
- :func:`plan_document`: ``terraform show -json`` output, one ``for_each`` module
  per cloud (``module.aws_tenant["t00042"]``...), as a hosting provider's root
  module would instantiate tenants;
- :func:`snapshot_inventory`: the normalized inventory the live collectors would
  write (``policycheck collect``), with accounts, subscriptions, projects and
  regions as scopes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from policycheck.model import (
    VM,
    Attachment,
    FirewallObject,
    Inventory,
    Network,
    Peer,
    PortRange,
    Provenance,
    Provider,
    Rule,
)
from policycheck.sources import snapshot

CLOUDS: tuple[Provider, ...] = ("aws", "azure", "gcp")
TENANTS_PER_SCOPE = 50
BASTIONS = "10.255.0.0/24"
INTERNAL = "10.0.0.0/8"
ANY4, ANY6 = "0.0.0.0/0", "::/0"
SERVER_ROLES = "swyxware-server, cds, linkmanager, remote-connector"
VM_ROLES = {
    "pbx": SERVER_ROLES,
    "rc": "remote-connector",
    "gate": "swyxgate, conference-manager",
}
VM_HOST = {"pbx": 10, "rc": 11, "gate": 12}
TF_VERSION = "1.9.5"
J = dict[str, Any]
Kind = Literal["plan", "snapshot"]

# ----------------------------------------------------------------- the estate


@dataclass(frozen=True)
class RuleSpec:
    """One rule, cloud-neutral: rendered as an SG block, NSG rule or GCP firewall."""

    name: str
    direction: Literal["inbound", "outbound"]
    protocol: Literal["tcp", "udp", "icmp", "all"]
    #: Inclusive port ranges; empty means all ports.
    ports: tuple[tuple[int, int], ...]
    peers: tuple[str, ...]
    action: Literal["allow", "deny"] = "allow"
    #: The peers are known only after apply (plans only; a live cloud always knows).
    unknown_peers: bool = False


def r(
    name: str,
    proto: Literal["tcp", "udp", "icmp", "all"],
    ports: tuple[tuple[int, int], ...] | tuple[int, ...],
    *peers: str,
    out: bool = False,
    action: Literal["allow", "deny"] = "allow",
    unknown: bool = False,
) -> RuleSpec:
    ranges = tuple(p if isinstance(p, tuple) else (p, p) for p in ports)
    return RuleSpec(name, "outbound" if out else "inbound", proto, ranges, peers, action, unknown)


@dataclass(frozen=True)
class VMSpec:
    kind: str  # pbx, rc, gate
    name: str
    address: str
    roles: str
    rules: tuple[RuleSpec, ...]


@dataclass(frozen=True)
class Deployment:
    index: int
    tenant: str
    cloud: Provider
    #: Account, subscription or project, shared by TENANTS_PER_SCOPE tenants.
    scope: str
    scope_index: int
    region: str
    subnet: str
    vms: tuple[VMSpec, ...]
    #: New in the plan: ids unknown until apply, linked through references.
    new: bool
    broken: tuple[str, ...] = field(default=())


def _vm_rules(kind: str, server: str, subnet: str) -> list[RuleSpec]:
    """The documented flows of each VM kind, as a careful administrator writes them,
    plus the management rules hosting providers put on every VM."""
    # First, so that on Azure and GCP (first match) the broader rules below do not
    # shadow them.
    mgmt = [
        r("mgmt-rdp", "tcp", (3389,), BASTIONS),
        r("mgmt-winrm", "tcp", ((5985, 5986),), BASTIONS),
        r("updates", "tcp", (443,), ANY4, out=True),
        r("dns", "udp", (53,), INTERNAL, out=True),
    ]
    if kind == "pbx":
        return [
            *mgmt,
            r("rc-tunnel", "tcp", (16203,), ANY4),
            r("rc-tunnel-2", "tcp", (57203,), ANY4),
            r("rc-tunnel-v6", "tcp", (16203, 57203), ANY6),
            r("swyxit-web", "tcp", (9101,), ANY4, ANY6),
            r("cds-wan", "tcp", (9093,), ANY4),
            r("lm-wan", "tcp", (65002,), ANY4),
            r("lm-wan-udp", "udp", (65002,), ANY4),
            r("lm-media-wan", "udp", ((55000, 56000),), ANY4),
            r("sip", "tcp", (5060,), INTERNAL),
            r("sip-udp", "udp", (5060,), INTERNAL),
            r("cds", "tcp", (9094,), INTERNAL),
            r("cds-2", "tcp", (9100,), INTERNAL),
            r("cds-3", "tcp", (9200,), INTERNAL),
            r("rtp", "udp", ((15000, 16000),), INTERNAL),
            r("media", "udp", ((51000, 51499),), INTERNAL),
            r("out-tcp", "tcp", (), ANY4, out=True),
            r("out-udp", "udp", (), ANY4, out=True),
        ]
    if kind == "rc":
        return [
            *mgmt,
            r("rc-tunnel", "tcp", (16203,), ANY4),
            r("rc-tunnel-2", "tcp", (57203,), ANY4),
            r("rc-tunnel-v6", "tcp", (16203, 57203), ANY6),
            r("rc-media-server", "udp", ((10000, 14999),), server),
            r("rc-rtp", "udp", ((15000, 16000),), subnet),
            *(
                r(f"to-server-{p}", "tcp", (p,), subnet, out=True)
                for p in (80, 712, 5060, 5096, 9094, 9100, 9980)
            ),
            r("to-server-udp", "udp", (), subnet, out=True),
        ]
    return [
        *mgmt,
        r("from-server-sip", "tcp", (5064,), server),
        r("from-server-conf", "tcp", (5062,), server),
        r("gate-media", "udp", ((52000, 52499),), INTERNAL),
        r("conf-media", "udp", ((56000, 57000),), INTERNAL),
        r("to-server-cds", "tcp", (9094,), server, out=True),
        r("to-server-sip", "tcp", (5060,), server, out=True),
        r("media-out", "udp", (), INTERNAL, out=True),
    ]


def shared_rules(cloud: Provider) -> list[RuleSpec]:
    """The firewall every tenant of a scope shares (base SG, baseline NSG, network rules)."""
    rules = [
        r("base-icmp", "icmp", (), INTERNAL),
        r("base-monitoring", "tcp", (9182,), BASTIONS),
    ]
    if cloud == "azure":
        # A subnet NSG is passed before the NIC NSG: it must let through what any
        # tenant VM needs, and the NIC NSGs narrow it per VM.
        rules += [
            r("allow-wan-tcp", "tcp", (9093, 9101, 16203, 57203, 65002), ANY4, ANY6),
            r("allow-wan-udp", "udp", ((55000, 56000), 65002), ANY4, ANY6),
            r("allow-internal", "all", (), INTERNAL),
        ]
    if cloud != "aws":  # AWS security groups deny what they do not allow
        rules.append(r("base-deny-in", "all", (), ANY4, ANY6, action="deny"))
    return rules


def vm_firewall_rules(cloud: Provider, vm: VMSpec, *, plan: bool) -> list[RuleSpec]:
    """The rules of the VM's own firewall on ``cloud``.

    Azure NIC NSGs end in an explicit deny, or the default AllowVnetInBound would
    open everything to the VNet; rules whose source is known only after apply exist
    in plans only (a live cloud always knows).
    """
    rules = [x for x in vm.rules if plan or not x.unknown_peers]
    if cloud == "azure":
        rules.append(r("deny-in", "all", (), action="deny"))
    return rules


def _broken(d: int, has_rc: bool) -> tuple[str, ...]:
    """Deterministic defects: roughly one deployment in four has at least one."""
    out = []
    if d % 10 == 3:
        out.append("rdp-internet")
    if d % 10 == 7:
        out.append("sip-internet")
    if d % 25 == 11:
        out.append("all-from-10/8")
    if d % 30 == 17:
        out.append("ssh-v6")
    if d % 20 == 13 and has_rc:
        out.append("rc-tunnel-missing")
    if d % 40 == 19:
        out.append("unknown-source")
    return tuple(out)


def _apply_broken(kind: str, rules: list[RuleSpec], broken: tuple[str, ...]) -> list[RuleSpec]:
    if kind == "pbx":
        if "rdp-internet" in broken:
            rules.append(r("rdp-anywhere", "tcp", (3389,), ANY4))
        if "sip-internet" in broken:
            rules.append(r("sip-anywhere", "tcp", (5060,), ANY4))
        if "all-from-10/8" in broken:
            rules.append(r("allow-internal", "all", (), INTERNAL))
        if "ssh-v6" in broken:
            rules.append(r("ssh", "tcp", (22,), ANY6))
        if "unknown-source" in broken:
            rules.append(r("partner-api", "tcp", (8443,), unknown=True))
    if kind == "rc" and "rc-tunnel-missing" in broken:
        rules = [x for x in rules if not x.name.startswith("rc-tunnel")]
    return rules


def deployments(vm_count: int) -> list[Deployment]:
    """Deployments until ``vm_count`` VMs exist (the last one may be cut short)."""
    out: list[Deployment] = []
    made = 0
    d = 0
    while made < vm_count:
        cloud = CLOUDS[d % 3]
        k = d // 3  # index among this cloud's tenants
        scope_index = k // TENANTS_PER_SCOPE
        slot = k % TENANTS_PER_SCOPE
        octet2 = (CLOUDS.index(cloud) * 80 + scope_index) % 256
        subnet = f"10.{octet2}.{slot}.0/24"
        base = f"10.{octet2}.{slot}"
        kinds = {0: ["pbx"], 1: ["pbx", "rc"], 2: ["pbx", "gate"], 3: ["pbx", "rc", "gate"]}[d % 4]
        kinds = kinds[: vm_count - made]
        tenant = f"t{d:05d}"
        broken = _broken(d, "rc" in kinds)
        server = f"{base}.{VM_HOST['pbx']}/32"
        vms = tuple(
            VMSpec(
                kind=kind,
                name=f"{tenant}-{kind}",
                address=f"{base}.{VM_HOST[kind]}",
                roles=VM_ROLES[kind],
                rules=tuple(_apply_broken(kind, _vm_rules(kind, server, subnet), broken)),
            )
            for kind in kinds
        )
        scope = {
            "aws": f"{100000000000 + scope_index:012d}",
            "azure": f"5e000000-0000-4000-8000-{scope_index:012d}",
            "gcp": f"swyx-hosting-{scope_index:03d}",
        }[cloud]
        region = {
            "aws": ("eu-central-1", "eu-west-1")[scope_index % 2],
            "azure": "westeurope",
            "gcp": "europe-west3",
        }[cloud]
        out.append(
            Deployment(
                index=d,
                tenant=tenant,
                cloud=cloud,
                scope=scope,
                scope_index=scope_index,
                region=region,
                subnet=subnet,
                vms=vms,
                new=d % 10 == 9,
                broken=broken,
            )
        )
        made += len(vms)
        d += 1
    return out


def vnet_name(scope_index: int) -> str:
    """Azure VNet names are unique per resource group only; keep them unique here so
    subnets (which name their VNet) connect to the right one."""
    return f"hosting-{scope_index:03d}"


def scope_network(cloud: Provider, scope_index: int) -> str:
    """The address space of a scope's shared VPC / VNet / network."""
    return f"10.{(CLOUDS.index(cloud) * 80 + scope_index) % 256}.0.0/16"


def profile_document() -> J:
    """The hosting provider's profile: its management flows, justified."""
    return {
        "extra_flows": [
            {
                "name": "bastion-rdp",
                "justification": "Hosting operations administer every VM from the bastions",
                "protocol": "tcp",
                "ports": ["3389", "5985-5986"],
                "peers": [BASTIONS],
            },
            {
                "name": "monitoring",
                "justification": "Windows exporter scraped by the hosting monitoring",
                "protocol": "tcp",
                "ports": ["9182"],
                "peers": [BASTIONS],
            },
            {
                "name": "icmp",
                "justification": "Reachability checks from the hosting network",
                "protocol": "icmp",
                "peers": [INTERNAL],
            },
            {
                "name": "os-updates",
                "justification": "Windows Update and certificate revocation checks",
                "direction": "outbound",
                "protocol": "tcp",
                "ports": ["443"],
                "peers": ["0.0.0.0/0"],
            },
            {
                "name": "dns",
                "justification": "Internal resolvers",
                "direction": "outbound",
                "protocol": "udp",
                "ports": ["53"],
                "peers": [INTERNAL],
            },
        ]
    }


# --------------------------------------------------------------- plan (JSON)


def _ports_text(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


class _PlanWriter:
    """Accumulates one plan's planned values, changes and configuration."""

    def __init__(self) -> None:
        self.modules: dict[str, list[J]] = {}  # module instance address -> planned resources
        self.changes: list[J] = []
        self.root: list[J] = []
        self.config: dict[str, dict[str, J]] = {}  # module call -> resource address -> config

    def add(
        self,
        module: str | None,
        rtype: str,
        name: str,
        values: J,
        *,
        new: bool,
        unknown: J | None = None,
        exprs: J | None = None,
        index: str | None = None,
        call: str | None = None,
    ) -> None:
        key = "" if index is None else f'["{index}"]'
        local = f"{rtype}.{name}{key}"
        address = f"{module}.{local}" if module else local
        provider = {"aws": "aws", "azurerm": "azurerm", "google": "google"}[rtype.split("_")[0]]
        head: J = {"address": address, "mode": "managed", "type": rtype, "name": name}
        if index is not None:
            head["index"] = index
        head["provider_name"] = f"registry.terraform.io/hashicorp/{provider}"
        planned = {**head, "schema_version": 0, "values": values, "sensitive_values": {}}
        (self.modules.setdefault(module, []) if module else self.root).append(planned)
        self.changes.append(
            {
                **head,
                "change": {
                    "actions": ["create"] if new else ["no-op"],
                    "before": None if new else values,
                    "after": values,
                    "after_unknown": unknown or {},
                    "before_sensitive": False if new else {},
                    "after_sensitive": {},
                },
            }
        )
        config_key = call or ""
        config = self.config.setdefault(config_key, {})
        config.setdefault(
            f"{rtype}.{name}",
            {
                "address": f"{rtype}.{name}",
                "mode": "managed",
                "type": rtype,
                "name": name,
                "provider_config_key": provider,
                "expressions": exprs or {},
                "schema_version": 0,
                **({"for_each_expression": {"references": ["local.rules"]}} if index else {}),
            },
        )

    def document(self) -> J:
        child_modules = [
            {"address": module, "resources": resources}
            for module, resources in self.modules.items()
        ]
        calls = {
            call: {
                "source": f"./modules/{call}",
                "for_each_expression": {"references": ["local.tenants"]},
                "module": {"resources": list(resources.values())},
            }
            for call, resources in self.config.items()
            if call
        }
        return {
            "format_version": "1.2",
            "terraform_version": TF_VERSION,
            "planned_values": {
                "root_module": {"resources": self.root, "child_modules": child_modules}
            },
            "resource_changes": self.changes,
            "configuration": {
                "provider_config": {
                    p: {"name": p, "full_name": f"registry.terraform.io/hashicorp/{p}"}
                    for p in ("aws", "azurerm", "google")
                },
                "root_module": {
                    "resources": list(self.config.get("", {}).values()),
                    "module_calls": calls,
                },
            },
            "timestamp": "2026-11-20T09:12:44Z",
            "applyable": True,
            "complete": True,
            "errored": False,
        }


def ref(*refs: str) -> J:
    """An expression with references, listed as Terraform lists them."""
    out: list[str] = []
    for item in refs:
        out.append(item)
        parts = item.split(".")
        if len(parts) > 2:
            out.append(".".join(parts[:2]))
    return {"references": out}


def _hex(d: int, salt: int) -> str:
    return f"{(d * 7919 + salt) & 0xFFFFFFFFFFFFF:017x}"


def _aws_block(rule: RuleSpec, lo: int, hi: int) -> J:
    v6 = [p for p in rule.peers if ":" in p]
    return {
        "cidr_blocks": [p for p in rule.peers if ":" not in p]
        or ([None] if rule.unknown_peers else []),
        "description": rule.name,
        "from_port": lo,
        "ipv6_cidr_blocks": v6,
        "prefix_list_ids": [],
        "protocol": {"all": "-1", "icmp": "icmp"}.get(rule.protocol, rule.protocol),
        "security_groups": [],
        "self": False,
        "to_port": hi,
    }


def _aws_blocks(rules: tuple[RuleSpec, ...] | list[RuleSpec]) -> tuple[J, J]:
    """Inline ingress/egress blocks (one per port range, as AWS stores them) and
    their ``after_unknown`` trees."""
    blocks: dict[str, list[J]] = {"ingress": [], "egress": []}
    unknown: dict[str, list[J]] = {"ingress": [], "egress": []}
    for rule in rules:
        key = "ingress" if rule.direction == "inbound" else "egress"
        if rule.protocol in ("tcp", "udp"):
            ranges = list(rule.ports) or [(0, 65535)]
        else:
            ranges = [(-1, -1)] if rule.protocol == "icmp" else [(0, 0)]
        for lo, hi in ranges:
            blocks[key].append(_aws_block(rule, lo, hi))
            unknown[key].append({"cidr_blocks": [True]} if rule.unknown_peers else {})
    return blocks, unknown


def _aws_plan(w: _PlanWriter, deps: list[Deployment]) -> None:
    scopes: dict[tuple[str, str], Deployment] = {}
    for dep in deps:
        scopes.setdefault((dep.scope, dep.region), dep)
    vpc_ids: dict[str, str] = {}
    base_ids: dict[str, str] = {}
    for (account, region), first in scopes.items():
        key = f"{account}-{region}"
        vpc_id = f"vpc-{_hex(first.scope_index, 11)}"
        sg_id = f"sg-{_hex(first.scope_index, 13)}"
        vpc_ids[key], base_ids[key] = vpc_id, sg_id
        w.add(
            None,
            "aws_vpc",
            "hosting",
            {
                "cidr_block": scope_network("aws", first.scope_index),
                "tags": {"Name": f"hosting-{key}"},
                "id": vpc_id,
            },
            new=False,
            index=key,
        )
        blocks, _ = _aws_blocks(shared_rules("aws"))
        w.add(
            None,
            "aws_security_group",
            "base",
            {
                "name": f"hosting-base-{key}",
                "description": "shared by every tenant VM",
                "vpc_id": vpc_id,
                "tags": {},
                **blocks,
                "id": sg_id,
            },
            new=False,
            index=key,
        )
    for dep in deps:
        module = f'module.aws_tenant["{dep.tenant}"]'
        key = f"{dep.scope}-{dep.region}"
        subnet_id = f"subnet-{_hex(dep.index, 17)}"
        known = {} if dep.new else {"id": subnet_id}
        w.add(
            module,
            "aws_subnet",
            "tenant",
            {"cidr_block": dep.subnet, "vpc_id": vpc_ids[key], **known},
            new=dep.new,
            unknown={"id": True} if dep.new else {},
            exprs={"vpc_id": ref("var.vpc_id"), "cidr_block": ref("var.cidr")},
            call="aws_tenant",
        )
        for vm in dep.vms:
            sg_id = f"sg-{_hex(dep.index, 100 + VM_HOST[vm.kind])}"
            blocks, blocks_unknown = _aws_blocks(vm_firewall_rules("aws", vm, plan=True))
            w.add(
                module,
                "aws_security_group",
                vm.kind,
                {
                    "name": vm.name,
                    "description": f"{vm.kind} of {dep.tenant}",
                    "vpc_id": vpc_ids[key],
                    "tags": {"swyx-deployment": dep.tenant},
                    **blocks,
                    **({} if dep.new else {"id": sg_id}),
                },
                new=dep.new,
                unknown={"id": True, "arn": True, **blocks_unknown} if dep.new else blocks_unknown,
                exprs={"vpc_id": ref("var.vpc_id")},
                call="aws_tenant",
            )
            tags = {"Name": vm.name, "swyx-roles": vm.roles, "swyx-deployment": dep.tenant}
            values: J = {"ami": "ami-0b5673b5f6e8f7fa7", "instance_type": "t3.large"}
            values |= {"private_ip": vm.address, "tags": tags, "tags_all": tags}
            if dep.new:
                # The shared group exists; the VM's own group gets its id at apply.
                values["vpc_security_group_ids"] = [base_ids[key], None]
            else:
                values |= {
                    "id": f"i-{_hex(dep.index, 200 + VM_HOST[vm.kind])}",
                    "subnet_id": subnet_id,
                    "vpc_security_group_ids": [base_ids[key], sg_id],
                }
            w.add(
                module,
                "aws_instance",
                vm.kind,
                values,
                new=dep.new,
                unknown={"id": True, "subnet_id": True, "vpc_security_group_ids": [False, True]}
                if dep.new
                else {},
                exprs={
                    "subnet_id": ref("aws_subnet.tenant.id"),
                    "vpc_security_group_ids": ref(
                        "var.base_security_group_id", f"aws_security_group.{vm.kind}.id"
                    ),
                },
                call="aws_tenant",
            )


AZURE_RG = "/subscriptions/{sub}/resourceGroups/hosting"


def _azure_rule(rule: RuleSpec, priority: int) -> J:
    """An ``azurerm_network_security_group`` inline ``security_rule`` block."""
    ports = [_ports_text(lo, hi) for lo, hi in rule.ports]
    peers = list(rule.peers) or (["*"] if not rule.unknown_peers else [])
    return {
        "access": rule.action.capitalize(),
        "description": "",
        "destination_address_prefix": "*",
        "destination_address_prefixes": [],
        "destination_application_security_group_ids": [],
        "destination_port_range": "*" if not ports else (ports[0] if len(ports) == 1 else ""),
        "destination_port_ranges": ports if len(ports) > 1 else [],
        "direction": "Inbound" if rule.direction == "inbound" else "Outbound",
        "name": rule.name,
        "priority": priority,
        "protocol": {"all": "*", "tcp": "Tcp", "udp": "Udp", "icmp": "Icmp"}[rule.protocol],
        "source_address_prefix": None
        if rule.unknown_peers
        else (peers[0] if len(peers) == 1 else ""),
        "source_address_prefixes": peers if len(peers) > 1 else [],
        "source_application_security_group_ids": [],
        "source_port_range": "*",
        "source_port_ranges": [],
    }


def _azure_rules(rules: tuple[RuleSpec, ...] | list[RuleSpec]) -> tuple[list[J], list[J]]:
    out, unknown = [], []
    for i, rule in enumerate(rules):
        priority = 4096 if rule.action == "deny" else 100 + 10 * i
        block = _azure_rule(rule, priority)
        if rule.direction == "outbound":
            # Outbound rules name the remote side as the destination.
            block["source_address_prefix"], block["destination_address_prefix"] = (
                "*",
                block["source_address_prefix"],
            )
            block["source_address_prefixes"], block["destination_address_prefixes"] = (
                [],
                block["source_address_prefixes"],
            )
        out.append(block)
        unknown.append({"source_address_prefix": True} if rule.unknown_peers else {})
    return out, unknown


def _azure_plan(w: _PlanWriter, deps: list[Deployment]) -> None:
    subs: dict[str, Deployment] = {}
    for dep in deps:
        subs.setdefault(dep.scope, dep)
    vnet_ids: dict[str, str] = {}
    baseline_ids: dict[str, str] = {}
    for sub, first in subs.items():
        rg = AZURE_RG.format(sub=sub)
        vnet_ids[sub] = (
            f"{rg}/providers/Microsoft.Network/virtualNetworks/{vnet_name(first.scope_index)}"
        )
        baseline_ids[sub] = f"{rg}/providers/Microsoft.Network/networkSecurityGroups/baseline"
        w.add(
            None,
            "azurerm_virtual_network",
            "hosting",
            {
                "name": vnet_name(first.scope_index),
                "resource_group_name": "hosting",
                "location": "westeurope",
                "address_space": [scope_network("azure", first.scope_index)],
                "id": vnet_ids[sub],
            },
            new=False,
            index=sub,
        )
        rules, _ = _azure_rules(shared_rules("azure"))
        w.add(
            None,
            "azurerm_network_security_group",
            "baseline",
            {
                "name": "baseline",
                "resource_group_name": "hosting",
                "location": "westeurope",
                "tags": {},
                "security_rule": rules,
                "id": baseline_ids[sub],
            },
            new=False,
            index=sub,
        )
    for dep in deps:
        module = f'module.azure_tenant["{dep.tenant}"]'
        rg = AZURE_RG.format(sub=dep.scope)
        subnet_id = f"{vnet_ids[dep.scope]}/subnets/{dep.tenant}"
        w.add(
            module,
            "azurerm_subnet",
            "tenant",
            {
                "name": dep.tenant,
                "resource_group_name": "hosting",
                "virtual_network_name": vnet_name(dep.scope_index),
                "address_prefixes": [dep.subnet],
                **({} if dep.new else {"id": subnet_id}),
            },
            new=dep.new,
            unknown={"id": True} if dep.new else {},
            call="azure_tenant",
        )
        w.add(
            module,
            "azurerm_subnet_network_security_group_association",
            "tenant",
            {
                "network_security_group_id": baseline_ids[dep.scope],
                **({} if dep.new else {"subnet_id": subnet_id, "id": subnet_id}),
            },
            new=dep.new,
            unknown={"id": True, "subnet_id": True} if dep.new else {},
            exprs={
                "subnet_id": ref("azurerm_subnet.tenant.id"),
                "network_security_group_id": ref("var.baseline_nsg_id"),
            },
            call="azure_tenant",
        )
        for vm in dep.vms:
            nsg_id = f"{rg}/providers/Microsoft.Network/networkSecurityGroups/{vm.name}-nsg"
            nic_id = f"{rg}/providers/Microsoft.Network/networkInterfaces/{vm.name}-nic"
            rules, rules_unknown = _azure_rules(vm_firewall_rules("azure", vm, plan=True))
            w.add(
                module,
                "azurerm_network_security_group",
                vm.kind,
                {
                    "name": f"{vm.name}-nsg",
                    "resource_group_name": "hosting",
                    "location": "westeurope",
                    "tags": {"swyx-deployment": dep.tenant},
                    "security_rule": rules,
                    **({} if dep.new else {"id": nsg_id}),
                },
                new=dep.new,
                unknown={"id": True, "security_rule": rules_unknown}
                if dep.new
                else {"security_rule": rules_unknown},
                call="azure_tenant",
            )
            ipc: J = {
                "name": "internal",
                "private_ip_address": vm.address,
                "private_ip_address_allocation": "Static",
                "private_ip_address_version": "IPv4",
                "primary": True,
            }
            if not dep.new:
                ipc["subnet_id"] = subnet_id
            w.add(
                module,
                "azurerm_network_interface",
                vm.kind,
                {
                    "name": f"{vm.name}-nic",
                    "resource_group_name": "hosting",
                    "location": "westeurope",
                    "ip_configuration": [ipc],
                    **({} if dep.new else {"id": nic_id, "private_ip_address": vm.address}),
                },
                new=dep.new,
                unknown={"id": True, "ip_configuration": [{"subnet_id": True}]} if dep.new else {},
                exprs={"ip_configuration": [{"subnet_id": ref("azurerm_subnet.tenant.id")}]},
                call="azure_tenant",
            )
            w.add(
                module,
                "azurerm_network_interface_security_group_association",
                vm.kind,
                {}
                if dep.new
                else {
                    "network_interface_id": nic_id,
                    "network_security_group_id": nsg_id,
                    "id": f"{nic_id}|{nsg_id}",
                },
                new=dep.new,
                unknown={
                    "id": True,
                    "network_interface_id": True,
                    "network_security_group_id": True,
                }
                if dep.new
                else {},
                exprs={
                    "network_interface_id": ref(f"azurerm_network_interface.{vm.kind}.id"),
                    "network_security_group_id": ref(
                        f"azurerm_network_security_group.{vm.kind}.id"
                    ),
                },
                call="azure_tenant",
            )
            tags = {"swyx-roles": vm.roles, "swyx-deployment": dep.tenant}
            w.add(
                module,
                "azurerm_windows_virtual_machine",
                vm.kind,
                {
                    "name": vm.name,
                    "resource_group_name": "hosting",
                    "location": "westeurope",
                    "size": "Standard_D4s_v5",
                    "tags": tags,
                    **(
                        {}
                        if dep.new
                        else {
                            "network_interface_ids": [nic_id],
                            "id": f"{rg}/providers/Microsoft.Compute/virtualMachines/{vm.name}",
                        }
                    ),
                },
                new=dep.new,
                unknown={"id": True, "network_interface_ids": True} if dep.new else {},
                exprs={"network_interface_ids": ref(f"azurerm_network_interface.{vm.kind}.id")},
                call="azure_tenant",
            )


def _gcp_firewall(
    project: str, network: str, rule: RuleSpec, name: str, priority: int, tags: list[str]
) -> tuple[J, J]:
    entry = {"protocol": rule.protocol, "ports": [_ports_text(lo, hi) for lo, hi in rule.ports]}
    ranges = list(rule.peers)
    values: J = {
        "name": name,
        "project": project,
        "network": network,
        "direction": "INGRESS" if rule.direction == "inbound" else "EGRESS",
        "priority": priority,
        "disabled": False,
        "allow": [entry] if rule.action == "allow" else [],
        "deny": [entry] if rule.action == "deny" else [],
        "source_ranges": ranges if rule.direction == "inbound" else [],
        "destination_ranges": ranges if rule.direction == "outbound" else [],
        "source_tags": None,
        "source_service_accounts": None,
        "target_service_accounts": None,
        "target_tags": tags or None,
        "id": f"projects/{project}/global/firewalls/{name}",
    }
    return values, ({"source_ranges": True} if rule.unknown_peers else {})


def _unknown_id(values: J, new: bool) -> tuple[J, J]:
    """A new resource's ``id`` is unknown until apply: absent from the values."""
    if not new:
        return values, {}
    return {k: v for k, v in values.items() if k != "id"}, {"id": True}


def _gcp_plan(w: _PlanWriter, deps: list[Deployment]) -> None:
    projects: dict[str, Deployment] = {}
    for dep in deps:
        projects.setdefault(dep.scope, dep)
    for project, _first in projects.items():
        network = f"{project}-net"
        w.add(
            None,
            "google_compute_network",
            "hosting",
            {
                "name": network,
                "project": project,
                "auto_create_subnetworks": False,
                "id": f"projects/{project}/global/networks/{network}",
                "self_link": f"https://www.googleapis.com/compute/v1/projects/{project}/global/networks/{network}",
            },
            new=False,
            index=project,
        )
        for i, rule in enumerate(shared_rules("gcp")):
            priority = 65000 if rule.action == "deny" else 900 + i
            values, _ = _gcp_firewall(
                project, network, rule, f"{network}-{rule.name}", priority, []
            )
            w.add(
                None,
                "google_compute_firewall",
                "base",
                values,
                new=False,
                index=f"{project}/{rule.name}",
            )
    for dep in deps:
        module = f'module.gcp_tenant["{dep.tenant}"]'
        network = f"{dep.scope}-net"
        link = (
            f"https://www.googleapis.com/compute/v1/projects/{dep.scope}/global/networks/{network}"
        )
        values, unknown = _unknown_id(
            {
                "name": dep.tenant,
                "project": dep.scope,
                "region": dep.region,
                "ip_cidr_range": dep.subnet,
                "network": link,
                "id": f"projects/{dep.scope}/regions/{dep.region}/subnetworks/{dep.tenant}",
            },
            dep.new,
        )
        w.add(
            module,
            "google_compute_subnetwork",
            "tenant",
            values,
            new=dep.new,
            unknown=unknown,
            call="gcp_tenant",
        )
        for vm in dep.vms:
            tag = vm.name
            for i, rule in enumerate(vm_firewall_rules("gcp", vm, plan=True)):
                name = f"{vm.name}-{rule.name}"
                values, unknown = _gcp_firewall(dep.scope, network, rule, name, 1000 + i, [tag])
                if rule.unknown_peers:
                    values.pop("source_ranges")
                values, id_unknown = _unknown_id(values, dep.new)
                w.add(
                    module,
                    "google_compute_firewall",
                    vm.kind,
                    values,
                    new=dep.new,
                    unknown={**unknown, **id_unknown},
                    exprs={"network": ref("var.network")},
                    index=rule.name,
                    call="gcp_tenant",
                )
            roles = [f"swyx-role-{x.strip()}" for x in vm.roles.split(",")]
            values, unknown = _unknown_id(
                {
                    "name": vm.name,
                    "project": dep.scope,
                    "zone": f"{dep.region}-a",
                    "machine_type": "n2-standard-4",
                    "labels": {"swyx-deployment": dep.tenant},
                    "tags": [tag, *roles],
                    "network_interface": [
                        {"network": link, "network_ip": vm.address, "subnetwork": dep.tenant}
                    ],
                    "id": f"projects/{dep.scope}/zones/{dep.region}-a/instances/{vm.name}",
                },
                dep.new,
            )
            w.add(
                module,
                "google_compute_instance",
                vm.kind,
                values,
                new=dep.new,
                unknown=unknown,
                call="gcp_tenant",
            )


def plan_document(vm_count: int) -> J:
    deps = deployments(vm_count)
    w = _PlanWriter()
    _aws_plan(w, [d for d in deps if d.cloud == "aws"])
    _azure_plan(w, [d for d in deps if d.cloud == "azure"])
    _gcp_plan(w, [d for d in deps if d.cloud == "gcp"])
    return w.document()


# --------------------------------------------------------- snapshot (model)


def _model_rule(
    rule: RuleSpec, rule_id: str, prov: Provenance, *, priority: int | None = None, **extra: Any
) -> Rule:
    return Rule(
        id=rule_id,
        name=rule.name,
        direction=rule.direction,
        action=rule.action,
        priority=priority,
        protocol=rule.protocol,
        ports=tuple(PortRange(lo=lo, hi=hi) for lo, hi in rule.ports)
        or (PortRange(lo=0, hi=65535),),
        peers=tuple(Peer.cidr(p) for p in rule.peers),
        provenance=prov,
        **extra,
    )


def _azure_model_rules(
    rules: list[RuleSpec] | tuple[RuleSpec, ...], fw_id: str, prov: Provenance
) -> tuple[Rule, ...]:
    out = []
    for i, rule in enumerate(rules):
        priority = 4096 if rule.action == "deny" else 100 + 10 * i
        model = _model_rule(rule, f"{fw_id}/securityRules/{rule.name}", prov, priority=priority)
        if not rule.peers:
            model = model.model_copy(update={"peers": (Peer(kind="service_tag", value="*"),)})
        out.append(model)
    return tuple(out)


def snapshot_inventory(vm_count: int) -> Inventory:
    """The estate as the live collectors would write it."""
    inv = Inventory(sources=[])
    seen_scopes: set[tuple[str, str]] = set()
    for dep in deployments(vm_count):
        scope_key = (dep.cloud, f"{dep.scope}/{dep.region}")
        first = scope_key not in seen_scopes
        seen_scopes.add(scope_key)
        if first:
            inv.sources.append(f"{dep.cloud}:{dep.scope}/{dep.region}")
        {"aws": _aws_snapshot, "azure": _azure_snapshot, "gcp": _gcp_snapshot}[dep.cloud](
            inv, dep, first
        )
    return inv


def _aws_snapshot(inv: Inventory, dep: Deployment, first: bool) -> None:
    arn = f"arn:aws:ec2:{dep.region}:{dep.scope}"
    vpc_id = f"vpc-{_hex(dep.scope_index, 11)}"
    base_id = f"sg-{_hex(dep.scope_index, 13)}"

    def prov(cloud_id: str) -> Provenance:
        return Provenance(source="aws", cloud_id=cloud_id, scope=dep.scope, region=dep.region)

    if first:
        inv.networks.append(
            Network(
                provider="aws",
                id=vpc_id,
                name=f"hosting-{dep.scope}-{dep.region}",
                address_spaces=(scope_network("aws", dep.scope_index),),
            )
        )
        p = prov(f"{arn}:security-group/{base_id}")
        inv.firewalls.append(
            FirewallObject(
                provider="aws",
                kind="security_group",
                id=base_id,
                name=f"hosting-base-{dep.scope}-{dep.region}",
                network=vpc_id,
                rules=tuple(
                    _model_rule(x, f"{base_id}/sgr-{i:04d}", p)
                    for i, x in enumerate(shared_rules("aws"))
                ),
                provenance=p,
            )
        )
    for vm in dep.vms:
        sg_id = f"sg-{_hex(dep.index, 100 + VM_HOST[vm.kind])}"
        p = prov(f"{arn}:security-group/{sg_id}")
        inv.firewalls.append(
            FirewallObject(
                provider="aws",
                kind="security_group",
                id=sg_id,
                name=vm.name,
                network=vpc_id,
                tags={"swyx-deployment": dep.tenant},
                rules=tuple(
                    _model_rule(x, f"{sg_id}/sgr-{i:04d}", p)
                    for i, x in enumerate(vm_firewall_rules("aws", vm, plan=False))
                ),
                provenance=p,
            )
        )
        instance = f"i-{_hex(dep.index, 200 + VM_HOST[vm.kind])}"
        eni = f"eni-{_hex(dep.index, 300 + VM_HOST[vm.kind])}"
        inv.vms.append(
            VM(
                provider="aws",
                id=instance,
                name=vm.name,
                addresses=(vm.address,),
                tags={"Name": vm.name, "swyx-roles": vm.roles, "swyx-deployment": dep.tenant},
                networks=(vpc_id,),
                attachments=(
                    Attachment(firewall_id=base_id, via=eni),
                    Attachment(firewall_id=sg_id, via=eni),
                ),
                provenance=prov(f"{arn}:instance/{instance}"),
            )
        )


def _azure_snapshot(inv: Inventory, dep: Deployment, first: bool) -> None:
    rg = AZURE_RG.format(sub=dep.scope)
    vnet = f"{rg}/providers/Microsoft.Network/virtualNetworks/{vnet_name(dep.scope_index)}"
    baseline = f"{rg}/providers/Microsoft.Network/networkSecurityGroups/baseline"

    def prov(cloud_id: str) -> Provenance:
        return Provenance(source="azure", cloud_id=cloud_id, scope=dep.scope, region=dep.region)

    if first:
        inv.networks.append(
            Network(
                provider="azure",
                id=vnet,
                name=vnet_name(dep.scope_index),
                address_spaces=(scope_network("azure", dep.scope_index),),
            )
        )
        p = prov(baseline)
        inv.firewalls.append(
            FirewallObject(
                provider="azure",
                kind="nsg",
                id=baseline,
                name="baseline",
                rules=_azure_model_rules(shared_rules("azure"), baseline, p),
                provenance=p,
            )
        )
    subnet = f"{vnet}/subnets/{dep.tenant}"
    for vm in dep.vms:
        nsg = f"{rg}/providers/Microsoft.Network/networkSecurityGroups/{vm.name}-nsg"
        nic = f"{rg}/providers/Microsoft.Network/networkInterfaces/{vm.name}-nic"
        p = prov(nsg)
        inv.firewalls.append(
            FirewallObject(
                provider="azure",
                kind="nsg",
                id=nsg,
                name=f"{vm.name}-nsg",
                tags={"swyx-deployment": dep.tenant},
                rules=_azure_model_rules(vm_firewall_rules("azure", vm, plan=False), nsg, p),
                provenance=p,
            )
        )
        vm_id = f"{rg}/providers/Microsoft.Compute/virtualMachines/{vm.name}"
        inv.vms.append(
            VM(
                provider="azure",
                id=vm_id,
                name=vm.name,
                addresses=(vm.address,),
                tags={"swyx-roles": vm.roles, "swyx-deployment": dep.tenant},
                networks=(vnet,),
                attachments=(
                    Attachment(firewall_id=baseline, level="subnet", via=subnet),
                    Attachment(firewall_id=nsg, level="interface", via=nic),
                ),
                provenance=prov(vm_id),
            )
        )


def _gcp_snapshot(inv: Inventory, dep: Deployment, first: bool) -> None:
    network = f"projects/{dep.scope}/global/networks/{dep.scope}-net"

    def prov(cloud_id: str) -> Provenance:
        return Provenance(source="gcp", cloud_id=cloud_id, scope=dep.scope, region=dep.region)

    def firewall(rule: RuleSpec, name: str, priority: int, tags: tuple[Peer, ...]) -> None:
        fw_id = f"projects/{dep.scope}/global/firewalls/{name}"
        p = prov(fw_id)
        inv.firewalls.append(
            FirewallObject(
                provider="gcp",
                kind="vpc_firewall",
                id=fw_id,
                name=name,
                network=network,
                rules=(_model_rule(rule, fw_id, p, priority=priority, targets=tags),),
                provenance=p,
            )
        )

    if first:
        inv.networks.append(
            Network(
                provider="gcp",
                id=network,
                name=f"{dep.scope}-net",
                address_spaces=(scope_network("gcp", dep.scope_index),),
            )
        )
        for i, rule in enumerate(shared_rules("gcp")):
            priority = 65000 if rule.action == "deny" else 900 + i
            firewall(rule, f"{dep.scope}-net-{rule.name}", priority, ())
    for vm in dep.vms:
        target = (Peer(kind="network_tag", value=vm.name),)
        for i, rule in enumerate(vm_firewall_rules("gcp", vm, plan=False)):
            firewall(rule, f"{vm.name}-{rule.name}", 1000 + i, target)
        vm_id = f"projects/{dep.scope}/zones/{dep.region}-a/instances/{vm.name}"
        roles = tuple(f"swyx-role-{x.strip()}" for x in vm.roles.split(","))
        inv.vms.append(
            VM(
                provider="gcp",
                id=vm_id,
                name=vm.name,
                addresses=(vm.address,),
                tags={"swyx-deployment": dep.tenant},
                network_tags=(vm.name, *roles),
                networks=(network,),
                provenance=prov(vm_id),
            )
        )


# ----------------------------------------------------------------- writing


@dataclass(frozen=True)
class Estate:
    kind: Kind
    vms: int
    path: Path

    @property
    def label(self) -> str:
        return f"{self.kind}-{self.vms}"


def estate_path(directory: Path, kind: Kind, vm_count: int) -> Path:
    return directory / f"{kind}-{vm_count}" / ("plan.json" if kind == "plan" else "snapshot.json")


def write_estate(directory: Path, kind: Kind, vm_count: int) -> Estate:
    """Write (or reuse: generation is deterministic) one estate file."""
    path = estate_path(directory, kind, vm_count)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        if kind == "plan":
            tmp.write_text(json.dumps(plan_document(vm_count)) + "\n", encoding="utf-8")
        else:
            tmp.write_bytes(snapshot.dumps(snapshot_inventory(vm_count)))
        tmp.replace(path)
    return Estate(kind, vm_count, path)


def write_profile(directory: Path) -> Path:
    path = directory / "profile.yaml"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(profile_document(), sort_keys=False), encoding="utf-8")
    return path


def summary(vm_count: int) -> Iterator[tuple[str, int]]:
    """Counts of the estate, for the results table. Rules are counted as the
    snapshot holds them (a GCP firewall or an SG rule with two ports is one)."""
    deps = deployments(vm_count)
    scopes = {(d.cloud, d.scope, d.region) for d in deps}
    yield "deployments", len(deps)
    yield "vms", sum(len(d.vms) for d in deps)
    yield "broken deployments", sum(bool(d.broken) for d in deps)
    yield (
        "rules",
        sum(len(vm_firewall_rules(d.cloud, vm, plan=False)) for d in deps for vm in d.vms)
        + sum(len(shared_rules(cloud)) for cloud, _, _ in scopes),
    )


def main() -> None:
    """Write one estate (if missing) and print its path and counts as JSON
    (measure.generate runs this in a child process)."""
    import argparse

    parser = argparse.ArgumentParser(
        description=main.__doc__.splitlines()[0] if main.__doc__ else ""
    )
    parser.add_argument("kind", choices=["plan", "snapshot", "profile"])
    parser.add_argument("vms", type=int)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.kind == "profile":
        print(json.dumps({"path": str(write_profile(args.out))}))
        return
    estate = write_estate(args.out, args.kind, args.vms)
    print(json.dumps({"path": str(estate.path), **dict(summary(args.vms))}))


if __name__ == "__main__":
    main()
