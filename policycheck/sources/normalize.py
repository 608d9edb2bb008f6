"""Field-level translations shared by the Terraform source and the live collectors.

A Terraform ``aws_security_group`` ingress block and an EC2 ``IpPermission`` say
the same thing with different spellings; both must become the very same
:class:`~policycheck.model.Rule`. The spellings differ, the meaning must not, so
the meaning is decided once, here.
"""

from __future__ import annotations

from collections.abc import Iterable

from policycheck.model import ALL_PORTS, AZURE_ANY, Peer, PortRange, normalize_protocol


def cidr_peers(values: Iterable[str | None]) -> list[Peer]:
    """CIDR strings to peers; empty strings are skipped (Terraform uses ``""``)."""
    return [Peer.cidr(v) for v in values if v]


def aws_ports(protocol: str, from_port: int | None, to_port: int | None) -> tuple[PortRange, ...]:
    """AWS port fields: ``-1`` protocol or ICMP type/code mean all ports."""
    proto = normalize_protocol(protocol)
    if proto not in ("tcp", "udp") or from_port is None or to_port is None:
        return (ALL_PORTS,)
    if from_port == -1 or to_port == -1:
        return (ALL_PORTS,)
    return (PortRange.of(int(from_port), int(to_port)),)


def azure_prefix_peer(text: str) -> Peer:
    """An Azure address prefix: ``*``/``Any``, a service tag, or an address/CIDR.

    Service tag names start with a letter and hold no ``:``; anything starting with
    a digit or holding a ``:`` is an address and must be a valid one (``0.0.0.0/33``
    is a mistake, never "an unknown service tag"). Raises ValueError.
    """
    value = text.strip()
    if value in ("*", "Any", "any"):
        return Peer.of("service_tag", AZURE_ANY)
    if value.lower() == "internet":
        return Peer.of("service_tag", "Internet")
    if not value or not (value[0].isdigit() or ":" in value):
        if not value:
            raise ValueError("an empty address prefix")
        return Peer.of("service_tag", value)
    try:
        return Peer.cidr(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid address prefix") from exc


def azure_prefixes(single: str | None, plural: Iterable[str] | None) -> list[Peer]:
    """Azure has singular and plural prefix fields; either may be set."""
    values = [v for v in (plural or []) if v]
    if single:
        values.insert(0, single)
    return [azure_prefix_peer(v) for v in values]


def azure_port_ranges(single: str | None, plural: Iterable[str] | None) -> tuple[PortRange, ...]:
    """Azure singular/plural port fields; ``*`` means all. Missing both means all."""
    values = [v for v in (plural or []) if v]
    if single:
        values.insert(0, single)
    if not values:
        return (ALL_PORTS,)
    return tuple(PortRange.parse(v) for v in values)


def gcp_ports(ports: Iterable[str] | None) -> tuple[PortRange, ...]:
    """GCP ``allowed``/``denied`` ports: omitted or empty means all ports."""
    values = [p for p in (ports or []) if p]
    if not values:
        return (ALL_PORTS,)
    return tuple(PortRange.parse(p) for p in values)
