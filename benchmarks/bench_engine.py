"""Time ``vm_access`` (provider semantics + exact effective access) per VM.

Plain script, no pytest: ``.venv/bin/python benchmarks/bench_engine.py``.
Rule sets are generated from a fixed seed so every run measures the same
work; each scenario is timed for inbound and outbound and the median of
several repeats is reported, as a Markdown table for benchmarks/engine.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from policycheck.engine.context import Context
from policycheck.engine.evaluate import vm_access
from policycheck.model import (
    ALL_PORTS,
    VM,
    Action,
    Attachment,
    Direction,
    FirewallObject,
    Inventory,
    Network,
    Peer,
    PortRange,
    Provenance,
    Provider,
    Rule,
)

INTERNAL = ("10.0.0.0/8",)
DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound")
#: Ports a SwyxWare estate's rules typically name, so boundaries repeat as in real NSGs.
COMMON_PORTS = (22, 53, 80, 443, 1433, 3389, 5060, 5061, 8021, 9094, 9100, 9101, 9102, 65535)


@dataclass
class Scenario:
    name: str
    provider: Provider
    rules: int
    build: Callable[[random.Random], tuple[Inventory, VM]]


def prov(provider: Provider) -> Provenance:
    return Provenance(source=provider)


def random_ports(rnd: random.Random) -> tuple[PortRange, ...]:
    roll = rnd.random()
    if roll < 0.15:
        return (ALL_PORTS,)
    if roll < 0.6:
        port = rnd.choice(COMMON_PORTS)
        return (PortRange(lo=port, hi=port),)
    lo = rnd.randint(1024, 60000)
    return (PortRange(lo=lo, hi=min(65535, lo + rnd.choice((0, 9, 99, 4999)))),)


def random_cidr(rnd: random.Random) -> str:
    if rnd.random() < 0.8:
        plen = rnd.choice((8, 16, 24, 24, 28, 32, 32))
        return str(ipaddress.IPv4Network((rnd.getrandbits(32), plen), strict=False))
    plen = rnd.choice((32, 48, 64, 128))
    return str(ipaddress.IPv6Network((rnd.getrandbits(128), plen), strict=False))


def random_rule(
    rnd: random.Random,
    rid: str,
    provider: Provider,
    direction: Direction,
    *,
    action: Action = "allow",
    priority: int | None = None,
    targets: tuple[Peer, ...] = (),
    extra_peers: tuple[Peer, ...] = (),
) -> Rule:
    protocol = rnd.choice(("tcp", "tcp", "tcp", "udp", "udp", "icmp", "all"))
    peers = tuple(Peer.cidr(random_cidr(rnd)) for _ in range(rnd.randint(1, 4)))
    if rnd.random() < 0.05:
        peers += (Peer.cidr("0.0.0.0/0"),)
    return Rule(
        id=rid,
        direction=direction,
        action=action,
        priority=priority,
        protocol=protocol,
        ports=random_ports(rnd) if protocol != "icmp" else (ALL_PORTS,),
        peers=peers + extra_peers,
        targets=targets,
        provenance=prov(provider),
    )


def directions(rnd: random.Random) -> Direction:
    return "inbound" if rnd.random() < 0.7 else "outbound"


# ------------------------------------------------------------------- estates


def aws_estate(groups: int, per_group: int) -> Callable[[random.Random], tuple[Inventory, VM]]:
    def build(rnd: random.Random) -> tuple[Inventory, VM]:
        ids = [f"sg-{i:04d}" for i in range(groups)]
        firewalls = []
        for gid in ids:
            rules = []
            for k in range(per_group):
                ref = (Peer(kind="security_group", value=rnd.choice(ids)),)
                rules.append(
                    random_rule(
                        rnd,
                        f"{gid}-r{k}",
                        "aws",
                        directions(rnd),
                        extra_peers=ref if rnd.random() < 0.1 else (),
                    )
                )
            firewalls.append(
                FirewallObject(
                    provider="aws",
                    kind="security_group",
                    id=gid,
                    name=gid,
                    rules=tuple(rules),
                    provenance=prov("aws"),
                )
            )
        vms = [
            VM(
                provider="aws",
                id=f"i-{n}",
                name=f"vm{n}",
                addresses=(f"10.0.{n}.10",),
                attachments=tuple(Attachment(firewall_id=g) for g in ids[n % groups :][:groups]),
                provenance=prov("aws"),
            )
            for n in range(20)
        ]
        inventory = Inventory(vms=vms, firewalls=firewalls)
        return inventory, vms[0]

    return build


VNET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"


def azure_estate(
    nic_rules: int, subnet_rules: int, source_port_share: float = 0.1
) -> Callable[[random.Random], tuple[Inventory, VM]]:
    """Subnet + NIC NSGs; ``source_port_share`` of the rules restrict source ports,
    which multiplies the cells the engine sweeps (destination x source ports)."""

    def nsg(rnd: random.Random, name: str, count: int) -> FirewallObject:
        rules = []
        for k in range(count):
            rule = random_rule(
                rnd,
                f"{name}-r{k}",
                "azure",
                directions(rnd),
                action="deny" if rnd.random() < 0.25 else "allow",
                priority=100 + 10 * k,
            )
            if rnd.random() < 0.1:
                rule = rule.model_copy(
                    update={"peers": (Peer(kind="service_tag", value="VirtualNetwork"),)}
                )
            if rnd.random() < source_port_share:
                rule = rule.model_copy(update={"source_ports": random_ports(rnd)})
            rules.append(rule)
        return FirewallObject(
            provider="azure",
            kind="nsg",
            id=name,
            name=name,
            rules=tuple(rules),
            provenance=prov("azure"),
        )

    def build(rnd: random.Random) -> tuple[Inventory, VM]:
        firewalls = [nsg(rnd, "nsg-nic", nic_rules), nsg(rnd, "nsg-subnet", subnet_rules)]
        vm = VM(
            provider="azure",
            id="vm-pbx",
            name="pbx",
            addresses=("10.0.1.5",),
            networks=(VNET,),
            attachments=(
                Attachment(firewall_id="nsg-subnet", level="subnet"),
                Attachment(firewall_id="nsg-nic", level="interface"),
            ),
            provenance=prov("azure"),
        )
        network = Network(provider="azure", id=VNET, address_spaces=("10.0.0.0/16",))
        return Inventory(vms=[vm], firewalls=firewalls, networks=[network]), vm

    return build


def gcp_estate(count: int) -> Callable[[random.Random], tuple[Inventory, VM]]:
    tags = ("pbx", "web", "db", "sbc", "mgmt")

    def build(rnd: random.Random) -> tuple[Inventory, VM]:
        firewalls = []
        for k in range(count):
            targets = (
                (Peer(kind="network_tag", value=rnd.choice(tags)),) if rnd.random() < 0.6 else ()
            )
            rule = random_rule(
                rnd,
                f"fw-{k}",
                "gcp",
                directions(rnd),
                action="deny" if rnd.random() < 0.2 else "allow",
                priority=rnd.choice((100, 500, 1000, 1000, 1000, 2000, 65534)),
                targets=targets,
            )
            firewalls.append(
                FirewallObject(
                    provider="gcp",
                    kind="vpc_firewall",
                    id=f"projects/p/global/firewalls/fw-{k}",
                    name=f"fw-{k}",
                    network="projects/p/global/networks/net",
                    rules=(rule,),
                    provenance=prov("gcp"),
                )
            )
        vm = VM(
            provider="gcp",
            id="pbx",
            name="pbx",
            addresses=("10.0.1.5",),
            networks=("projects/p/global/networks/net",),
            network_tags=("pbx", "sbc"),
            provenance=prov("gcp"),
        )
        return Inventory(vms=[vm], firewalls=firewalls), vm

    return build


SCENARIOS = [
    Scenario("AWS, 3 SGs x 10 rules", "aws", 30, aws_estate(3, 10)),
    Scenario("AWS, 10 SGs x 50 rules", "aws", 500, aws_estate(10, 50)),
    Scenario("Azure, NIC 20 + subnet 10 rules", "azure", 30, azure_estate(20, 10)),
    Scenario("Azure, NIC 200 + subnet 50 rules", "azure", 250, azure_estate(200, 50)),
    Scenario("Azure, same, no source-port rules", "azure", 250, azure_estate(200, 50, 0.0)),
    Scenario("GCP, network with 40 rules", "gcp", 40, gcp_estate(40)),
    Scenario("GCP, network with 500 rules", "gcp", 500, gcp_estate(500)),
]


def measure(scenario: Scenario, repeats: int) -> tuple[float, float, int]:
    """Median ms per VM for inbound and outbound, and the regions produced."""
    inventory, vm = scenario.build(random.Random(2024))
    timings: dict[Direction, list[float]] = {"inbound": [], "outbound": []}
    regions = 0
    for _ in range(repeats):
        for direction in DIRECTIONS:
            # A fresh context each time: what one scan shares between its VMs (a GCP
            # network's rules in order) must not carry over from the last repeat.
            ctx = Context(inventory, INTERNAL)
            start = time.perf_counter()
            _, access = vm_access(vm, direction, ctx)
            timings[direction].append((time.perf_counter() - start) * 1000)
            regions = max(regions, len(access.regions))
    return statistics.median(timings["inbound"]), statistics.median(timings["outbound"]), regions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.repeats} repeats\n")
    print("| scenario | rules | inbound ms | outbound ms | per VM ms | regions |")
    print("|---|---:|---:|---:|---:|---:|")
    for scenario in SCENARIOS:
        inbound, outbound, regions = measure(scenario, args.repeats)
        print(
            f"| {scenario.name} | {scenario.rules} | {inbound:.1f} | {outbound:.1f} "
            f"| {inbound + outbound:.1f} | {regions} |"
        )


if __name__ == "__main__":
    main()
