"""A finding's region as exact data: canonical parts, peer summaries, port cuts.

A region is a set of (protocol, destination port, remote address) triples. It is
written as :class:`~policycheck.findings.RegionPart` objects in one canonical
form, so the same region always gives the same parts (and fingerprint) however
the rules that produced it were split: per protocol, the port axis is cut where
the set of addresses changes, and port cells reached from the same address set
form one part. No part claims a triple outside the region.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from policycheck.engine.intervals import (
    ALL_ADDRS,
    ALL_PORT_SET,
    ALL_V4,
    ALL_V6,
    IntervalSet,
    addr_set,
    cidr_interval,
    to_cidrs,
    union_all,
)
from policycheck.findings import (
    OTHER_PROTOCOLS,
    PORT_PROTOCOLS,
    PeerBase,
    PeerFamily,
    PeerSummary,
    RegionPart,
    protocol_rank,
)
from policycheck.model import PortRange

#: A summary names at most this many CIDRs cut out of its base; beyond, the
#: set is plain CIDRs.
MAX_EXCLUDING = 4


@dataclass
class RegionBuilder:
    """Collects (protocol, ports, addresses) pieces; :meth:`parts` merges them exactly."""

    pieces: dict[str, list[tuple[IntervalSet, IntervalSet]]] = field(default_factory=dict)

    def add(self, protocol: str, ports: IntervalSet, addrs: IntervalSet) -> None:
        if ports and addrs:
            self.pieces.setdefault(protocol, []).append((ports, addrs))

    def __bool__(self) -> bool:
        return bool(self.pieces)

    def addrs(self) -> IntervalSet:
        """Every remote address of the region."""
        return union_all(a for pieces in self.pieces.values() for _, a in pieces)

    def parts(self, internal: IntervalSet, excluding: Sequence[str] = ()) -> list[RegionPart]:
        """Canonical parts; ``excluding`` is what an ``other`` part does not cover."""
        out: list[RegionPart] = []
        for protocol, pieces in self.pieces.items():
            for ports, addrs in canonical(pieces):
                out.append(
                    region_part(
                        protocol,
                        ports,
                        addrs,
                        internal,
                        excluding=excluding if protocol == OTHER_PROTOCOLS else (),
                    )
                )
        return out


def canonical(
    pieces: Sequence[tuple[IntervalSet, IntervalSet]],
) -> list[tuple[IntervalSet, IntervalSet]]:
    """One protocol's pieces as (ports, addresses) pairs, one per distinct address set."""
    if len(pieces) == 1:
        return list(pieces)
    cuts = sorted({b for ports, _ in pieces for lo, hi in ports for b in (lo, hi + 1)})
    reached: list[list[IntervalSet]] = [[] for _ in cuts]
    for ports, addrs in pieces:
        for lo, hi in ports:
            for i in range(bisect.bisect_left(cuts, lo), bisect.bisect_left(cuts, hi + 1)):
                reached[i].append(addrs)
    cells: dict[IntervalSet, list[tuple[int, int]]] = {}
    for i, sets in enumerate(reached):
        if sets:
            cells.setdefault(union_all(sets), []).append((cuts[i], cuts[i + 1] - 1))
    return [(IntervalSet(ranges), addrs) for addrs, ranges in cells.items()]


def region_part(
    protocol: str,
    ports: IntervalSet,
    addrs: IntervalSet,
    internal: IntervalSet,
    *,
    excluding: Iterable[str] = (),
) -> RegionPart:
    """One part; protocols without ports carry no port list (the engine holds them
    as every port)."""
    return _region_part(protocol, ports, addrs, internal, tuple(excluding))


# A part is frozen and a pure function of its arguments: the findings of VMs behind
# alike firewalls name the same (protocol, ports, peers), built and validated once.
@lru_cache(maxsize=1 << 14)
def _region_part(
    protocol: str,
    ports: IntervalSet,
    addrs: IntervalSet,
    internal: IntervalSet,
    excluding: tuple[str, ...],
) -> RegionPart:
    return RegionPart(
        protocol=protocol,
        ports=port_ranges(ports) if protocol in PORT_PROTOCOLS else [],
        peers=to_cidrs(addrs),
        excluding=sorted(excluding, key=protocol_rank),
        peers_summary=summarize_peers(addrs, internal),
    )


def rule_region(
    protocol: str,
    ports: IntervalSet,
    source_ports: IntervalSet,
    peers: IntervalSet | Sequence[str],
    internal: IntervalSet,
) -> list[RegionPart]:
    """What one rule matches, as parts (SWYX005, SWYX007).

    An all-protocols rule is tcp and udp on its ports plus, when it covers every
    port, every other protocol; a port-restricted rule cannot match a protocol
    without ports (see :mod:`policycheck.engine.access`). ``peers`` is an address
    set, or symbolic peers that could not be resolved.
    """
    whole = ports == ALL_PORT_SET and source_ports == ALL_PORT_SET
    protocols: list[tuple[str, tuple[str, ...]]] = []
    if protocol == "all":
        protocols = [("tcp", ()), ("udp", ())]
        if whole:
            protocols.append((OTHER_PROTOCOLS, ("tcp", "udp")))
    elif protocol in PORT_PROTOCOLS or whole:
        protocols = [(protocol, ())]
    if not ports:
        return []
    if isinstance(peers, IntervalSet):
        if not peers:
            return []
        return [region_part(p, ports, peers, internal, excluding=ex) for p, ex in protocols]
    return [
        RegionPart(
            protocol=p,
            ports=port_ranges(ports) if p in PORT_PROTOCOLS else [],
            peers=list(dict.fromkeys(peers)),
            excluding=list(ex),
        )
        for p, ex in protocols
    ]


def port_ranges(ports: IntervalSet) -> list[PortRange]:
    return [PortRange(lo=lo, hi=hi) for lo, hi in ports]


def port_set(ranges: Iterable[PortRange]) -> IntervalSet:
    return IntervalSet((r.lo, r.hi) for r in ranges)


def split_ports(
    region: Sequence[RegionPart], ports: IntervalSet
) -> tuple[list[RegionPart], list[RegionPart]]:
    """The region inside ``ports`` and the rest, exactly.

    Only tcp/udp parts have ports; a part of a protocol without ports is never
    inside a port range.
    """
    inside: list[RegionPart] = []
    outside: list[RegionPart] = []
    for part in region:
        if part.protocol not in PORT_PROTOCOLS:
            outside.append(part)
            continue
        have = port_set(part.ports)
        hit, rest = have & ports, have - ports
        if hit:
            inside.append(part.model_copy(update={"ports": port_ranges(hit)}))
        if rest:
            outside.append(part.model_copy(update={"ports": port_ranges(rest)}))
    return inside, outside


def region_addrs(region: Iterable[RegionPart]) -> IntervalSet:
    """Every remote address of a region's CIDR peers (symbolic peers have none)."""
    return union_all(addr_set(c for c in part.peers if _is_cidr(c)) for part in region)


def _is_cidr(text: str) -> bool:
    try:
        cidr_interval(text)  # parsed once per text
    except ValueError:
        return False
    return True


# -------------------------------------------------------------- summaries


def peers_summary(region: Iterable[RegionPart], internal: IntervalSet) -> PeerSummary | None:
    """The summary of a region's peers (None when it has no address, e.g. symbols)."""
    addrs = region_addrs(region)
    return summarize_peers(addrs, internal) if addrs else None


def _bases(internal: IntervalSet) -> list[tuple[PeerBase, PeerFamily, IntervalSet]]:
    internet = ALL_ADDRS - internal
    return [
        ("anywhere", "any", ALL_ADDRS),
        ("anywhere", "ipv4", ALL_V4),
        ("anywhere", "ipv6", ALL_V6),
        ("internet", "any", internet),
        ("internet", "ipv4", internet & ALL_V4),
        ("internet", "ipv6", internet & ALL_V6),
        ("internal", "any", internal),
        ("internal", "ipv4", internal & ALL_V4),
        ("internal", "ipv6", internal & ALL_V6),
    ]


@lru_cache(maxsize=1 << 12)
def summarize_peers(addrs: IntervalSet, internal: IntervalSet) -> PeerSummary:
    """The shortest exact description of ``addrs``: a named base (anywhere, the
    internet, the internal networks; per family) minus at most
    :data:`MAX_EXCLUDING` CIDRs, unless the set's own CIDRs are fewer than the
    exceptions (``cidrs``). A named base wins ties."""
    if not addrs:
        return PeerSummary(base="none")
    own = len(addrs.intervals)  # a lower bound on the set's own CIDR count
    best: tuple[int, PeerSummary] | None = None
    for base, family, space in _bases(internal):
        if not space or not space.covers(addrs):
            continue
        rest = space - addrs
        if len(rest.intervals) > MAX_EXCLUDING:
            continue  # every interval is at least one CIDR
        cut = to_cidrs(rest)
        if len(cut) > MAX_EXCLUDING or (best is not None and len(cut) >= best[0]):
            continue
        best = (len(cut), PeerSummary(base=base, family=family, excluding=cut))
    if best is None or (best[0] > own and best[0] > len(to_cidrs(addrs))):
        return PeerSummary(base="cidrs")
    return best[1]
