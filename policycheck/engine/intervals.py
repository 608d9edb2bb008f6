"""Exact sets of ports and addresses as sorted, merged integer intervals.

Ports are 0..65535. Addresses of both families live in one integer line so a
single set can hold ``0.0.0.0/0`` and ``::/0`` together: IPv4 occupies
``[0, 2**32)`` and IPv6 is shifted to start at ``2**32``. Every operation is exact
(no sampling), which is what lets the engine claim "reachable" or "not reachable"
for every port and address.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from functools import lru_cache, reduce

from policycheck.model import PortRange

V4_SIZE = 1 << 32
V6_OFFSET = V4_SIZE
V6_SIZE = 1 << 128
ADDR_MAX = V6_OFFSET + V6_SIZE - 1


class IntervalSet:
    """An immutable union of inclusive integer intervals, kept sorted and merged."""

    __slots__ = ("_iv",)

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        self._iv: tuple[tuple[int, int], ...] = _normalize(intervals)

    @classmethod
    def _raw(cls, intervals: tuple[tuple[int, int], ...]) -> IntervalSet:
        obj = cls.__new__(cls)
        obj._iv = intervals
        return obj

    @classmethod
    def from_sorted(cls, intervals: list[tuple[int, int]]) -> IntervalSet:
        """From intervals already sorted, disjoint and not adjacent (no normalizing)."""
        return cls._raw(tuple(intervals))

    @property
    def intervals(self) -> tuple[tuple[int, int], ...]:
        return self._iv

    def __bool__(self) -> bool:
        return bool(self._iv)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._iv)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntervalSet) and self._iv == other._iv

    def __hash__(self) -> int:
        return hash(self._iv)

    def __repr__(self) -> str:
        return f"IntervalSet({list(self._iv)!r})"

    def __or__(self, other: IntervalSet) -> IntervalSet:
        if not other._iv:
            return self
        if not self._iv:
            return other
        return IntervalSet._raw(_merge_sorted(self._iv, other._iv))

    def __and__(self, other: IntervalSet) -> IntervalSet:
        a, b = self._iv, other._iv
        if not a or not b:
            return _EMPTY
        # One side a single interval spanning the other (e.g. every address): the other.
        if len(a) == 1 and a[0][0] <= b[0][0] and b[-1][1] <= a[0][1]:
            return other
        if len(b) == 1 and b[0][0] <= a[0][0] and a[-1][1] <= b[0][1]:
            return self
        if len(a) > _FEW * len(b):
            return IntervalSet._raw(_and_few(b, a))
        if len(b) > _FEW * len(a):
            return IntervalSet._raw(_and_few(a, b))
        out: list[tuple[int, int]] = []
        i = j = 0
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return IntervalSet._raw(tuple(out))

    def __sub__(self, other: IntervalSet) -> IntervalSet:
        a, b = self._iv, other._iv
        if not a or not b or b[-1][1] < a[0][0] or a[-1][1] < b[0][0]:
            return self  # nothing of ``other`` lies within ``self``'s bounds
        if len(b) == 1 and b[0][0] <= a[0][0] and a[-1][1] <= b[0][1]:
            return _EMPTY  # ``other`` spans all of it
        if len(self._iv) > _FEW * len(other._iv):
            return IntervalSet._raw(_sub_few(self._iv, other._iv))
        out: list[tuple[int, int]] = []
        b = other._iv
        j = 0
        for lo, hi in self._iv:
            cur = lo
            while j < len(b) and b[j][1] < cur:
                j += 1
            k = j
            while k < len(b) and b[k][0] <= hi:
                if b[k][0] > cur:
                    out.append((cur, b[k][0] - 1))
                cur = max(cur, b[k][1] + 1)
                if cur > hi:
                    break
                k += 1
            if cur <= hi:
                out.append((cur, hi))
        return IntervalSet._raw(tuple(out))

    def contains(self, value: int) -> bool:
        for lo, hi in self._iv:  # sorted: stop at the first interval past ``value``
            if value < lo:
                return False
            if value <= hi:
                return True
        return False

    def covers(self, other: IntervalSet) -> bool:
        return not (other - self)

    def size(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self._iv)


_EMPTY = IntervalSet._raw(())

#: Where one side has this many times fewer intervals than the other, set operations
#: find the few places it touches by bisection instead of walking the whole other
#: side: what remains of an ordered layer's addresses fragments into hundreds of
#: intervals, while each rule taken from it names a handful of prefixes.
_FEW = 8
#: Sorts after every interval starting at the same point (bisection on the starts).
_PAST = 1 << 160


Intervals = tuple[tuple[int, int], ...]


def _first_touching(many: Intervals, lo: int) -> int:
    """Index of the first interval of ``many`` ending at or after ``lo``."""
    i = bisect_right(many, (lo, _PAST)) - 1
    return i if i >= 0 and many[i][1] >= lo else i + 1


def _and_few(few: Intervals, many: Intervals) -> Intervals:
    """``few & many`` visiting only the intervals of ``many`` that ``few`` touches."""
    out: list[tuple[int, int]] = []
    for lo, hi in few:
        k = _first_touching(many, lo)
        while k < len(many) and many[k][0] <= hi:
            out.append((max(lo, many[k][0]), min(hi, many[k][1])))
            k += 1
    return tuple(out)


def _sub_few(many: Intervals, few: Intervals) -> Intervals:
    """``many - few``: each interval of ``few`` cuts the intervals it touches out of
    ``many`` and puts back what sticks out on either side; the rest is copied."""
    for lo, hi in few:
        i = _first_touching(many, lo)
        j = bisect_right(many, (hi, _PAST))
        if i >= j:
            continue
        ends: list[tuple[int, int]] = []
        if many[i][0] < lo:
            ends.append((many[i][0], lo - 1))
        if many[j - 1][1] > hi:
            ends.append((hi + 1, many[j - 1][1]))
        many = many[:i] + tuple(ends) + many[j:]
        if not many:
            break
    return many


def union_all(sets: Iterable[IntervalSet]) -> IntervalSet:
    return reduce(lambda a, b: a | b, sets, IntervalSet())


def _merge_sorted(
    a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    """The union of two normalized interval tuples in one pass: both are already
    sorted and merged, so nothing needs sorting again."""
    out: list[tuple[int, int]] = []
    i = j = 0
    na, nb = len(a), len(b)
    while i < na or j < nb:
        if j >= nb or (i < na and a[i][0] <= b[j][0]):
            lo, hi = a[i]
            i += 1
        else:
            lo, hi = b[j]
            j += 1
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def _normalize(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    items = [(lo, hi) for lo, hi in intervals if lo <= hi]
    if len(items) < 2:
        return tuple(items)
    items.sort()
    out: list[tuple[int, int]] = []
    for lo, hi in items:
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


# ---------------------------------------------------------------------- ports

ALL_PORT_SET = IntervalSet([(0, 65535)])


def port_set(ranges: Iterable[object]) -> IntervalSet:
    """From PortRange-like objects (``lo``/``hi`` attributes)."""
    if type(ranges) is tuple and len(ranges) == 1 and type(ranges[0]) is PortRange:
        # Most rules and flows name one range, and an estate's equal ranges are one
        # frozen object (the model shares them): found by identity, no key built.
        one = ranges[0]
        found = _ONE_RANGE.get(id(one))
        if found is not None:
            return found[1]
        if len(_ONE_RANGE) >= _ONE_RANGE_MAX:
            _ONE_RANGE.clear()
        made = _port_set(((one.lo, one.hi),))
        _ONE_RANGE[id(one)] = (one, made)
        return made
    return _port_set(tuple((int(r.lo), int(r.hi)) for r in ranges))  # type: ignore[attr-defined]


#: ``port_set`` of one range, by the range object's id; each entry holds the object,
#: so its id is not reused while the entry lives.
_ONE_RANGE: dict[int, tuple[PortRange, IntervalSet]] = {}
_ONE_RANGE_MAX = 1 << 12


@lru_cache(maxsize=1 << 12)
def _port_set(pairs: tuple[tuple[int, int], ...]) -> IntervalSet:
    """Every rule of every VM names ports; an estate names few distinct ones, and
    each set is built once (IntervalSets are immutable, so it is shared)."""
    return IntervalSet(pairs)


def format_ports(ports: IntervalSet) -> list[str]:
    """``["lo-hi", ...]``, the shape SARIF properties and JSON use."""
    return [f"{lo}-{hi}" for lo, hi in ports]


# ------------------------------------------------------------------ addresses

ALL_V4 = IntervalSet([(0, V4_SIZE - 1)])
ALL_V6 = IntervalSet([(V6_OFFSET, ADDR_MAX)])
ALL_ADDRS = IntervalSet([(0, ADDR_MAX)])


@lru_cache(maxsize=1 << 16)
def cidr_interval(text: str) -> tuple[int, int]:
    """A prefix as an interval of the address line. Cached: an estate names the
    same prefixes over and over (every rule, flow and VM), and each is parsed once."""
    net = ipaddress.ip_network(text.strip(), strict=False)
    base = int(net.network_address)
    top = int(net.broadcast_address)
    if net.version == 6:
        return base + V6_OFFSET, top + V6_OFFSET
    return base, top


def addr_set(cidrs: Iterable[str]) -> IntervalSet:
    if isinstance(cidrs, tuple):
        return prefix_set(cidrs)
    return IntervalSet(cidr_interval(c) for c in cidrs)


@lru_cache(maxsize=1 << 14)
def prefix_set(cidrs: tuple[str, ...]) -> IntervalSet:
    """:func:`addr_set` of a tuple (a rule's or a flow's peers), computed once per
    distinct tuple: IntervalSets are immutable, so the result is shared."""
    return IntervalSet(cidr_interval(c) for c in cidrs)


@lru_cache(maxsize=1 << 16)
def address_value(text: str) -> int:
    ip = ipaddress.ip_address(text.strip())
    return int(ip) + (V6_OFFSET if ip.version == 6 else 0)


def to_cidrs(addrs: IntervalSet) -> list[str]:
    """Exact CIDR summary of an address set (v4 first, then v6)."""
    return list(_cidrs(addrs))


@lru_cache(maxsize=1 << 14)
def _cidrs(addrs: IntervalSet) -> tuple[str, ...]:
    """Cached: findings of many VMs name the same sets (a peer group, the internet
    without the internal networks), and every finding summarises its own."""
    out: list[str] = []
    for lo, hi in addrs:
        if lo < V4_SIZE:
            v4_hi = min(hi, V4_SIZE - 1)
            out.extend(
                str(n)
                for n in ipaddress.summarize_address_range(
                    ipaddress.IPv4Address(lo), ipaddress.IPv4Address(v4_hi)
                )
            )
        if hi >= V6_OFFSET:
            v6_lo = max(lo, V6_OFFSET) - V6_OFFSET
            out.extend(
                str(n)
                for n in ipaddress.summarize_address_range(
                    ipaddress.IPv6Address(v6_lo), ipaddress.IPv6Address(hi - V6_OFFSET)
                )
            )
    return tuple(out)


def families(addrs: IntervalSet) -> tuple[IntervalSet, IntervalSet]:
    """Split into the IPv4 part and the IPv6 part."""
    return addrs & ALL_V4, addrs & ALL_V6
