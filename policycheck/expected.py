"""Roles + profile -> the exact flows a VM's firewall must permit.

This is where the document's peers become address sets:

- ``Any IP`` (and unspecified or named-host peers) **with** WAN access: the whole
  internet, ``0.0.0.0/0`` and ``::/0``.
- the same **without** WAN access: the profile's internal networks only.
- ``IpPbxSrv IP``: the SwyxWare server's addresses; when the VM itself holds
  ``swyxware-server`` the flow is loopback and needs no firewall rule at all.
- ``localhost``: never a firewall rule.

Version conditions and port parameters (registry keys, formulas, the SDC switch)
are applied here, so the engine only ever sees concrete port ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from policycheck.catalog import Catalog, CatalogRow, PortSpec
from policycheck.errors import InputError
from policycheck.model import PortRange
from policycheck.profile import IPPBXSRV_GROUP, Profile

PeerClass = Literal["internet", "internal", "ippbxsrv", "loopback", "group"]
INTERNET = ("0.0.0.0/0", "::/0")
SERVER_ROLE = "swyxware-server"
REMOTE_CONNECTOR = "remote-connector"
TUNNEL_PARAM = "TunnelListeningPorts"


class ExpectedFlow(BaseModel):
    """One protocol's documented access for a role, with peers resolved to CIDRs."""

    model_config = ConfigDict(frozen=True)

    role: str
    direction: Literal["inbound", "outbound"]
    protocol: str
    ports: tuple[PortRange, ...]
    peer: PeerClass
    #: Allowed remote addresses; empty for loopback flows.
    peers: tuple[str, ...]
    #: Catalog row ids (or ``profile:<name>`` for extra flows).
    rows: tuple[str, ...]
    wan: bool = False
    note: str | None = None


class Requirement(BaseModel):
    """A flow that must be allowed: one of ``alternatives`` reachable from ``peers``."""

    model_config = ConfigDict(frozen=True)

    description: str
    direction: Literal["inbound", "outbound"]
    protocol: str
    alternatives: tuple[tuple[PortRange, ...], ...]
    peers: tuple[str, ...]
    rows: tuple[str, ...]


class Expected(BaseModel):
    model_config = ConfigDict(frozen=True)

    roles: tuple[str, ...]
    flows: tuple[ExpectedFlow, ...]
    requirements: tuple[Requirement, ...]

    def for_direction(self, direction: str) -> list[ExpectedFlow]:
        return [f for f in self.flows if f.direction == direction]


def expected_flows(
    catalog: Catalog,
    profile: Profile,
    roles: Iterable[str],
    *,
    server_addresses: Sequence[str] = (),
) -> Expected:
    """The flows a VM holding ``roles`` must permit, per direction.

    ``server_addresses`` are the SwyxWare server's addresses known from the
    inventory; the profile's ``IpPbxSrv`` peer group adds to them. When neither
    knows the server, IpPbxSrv flows fall back to the internal networks.
    """
    role_list = tuple(dict.fromkeys(roles))
    resolver = _PeerResolver(profile, role_list, server_addresses)
    flows: list[ExpectedFlow] = []
    for row in catalog.rows_for(role_list):
        if row.version and not row.version.holds(profile.version):
            continue
        ports = tuple(resolve_ports(row, row.target_ports, catalog, profile))
        if not ports:
            continue
        peer_class, peers, note = resolver.resolve(row)
        directions: tuple[Literal["inbound", "outbound"], ...] = (
            ("inbound", "outbound") if row.direction == "mutual" else (row.direction,)
        )
        for direction in directions:
            for transport in row.transports:
                flows.append(
                    ExpectedFlow(
                        role=row.role,
                        direction=direction,
                        protocol=transport,
                        ports=ports,
                        peer=peer_class,
                        peers=peers,
                        rows=(row.id,),
                        wan=row.wan,
                        note=note,
                    )
                )
    flows.extend(_extra_flows(profile, role_list))
    return Expected(
        roles=role_list,
        flows=tuple(flows),
        requirements=tuple(_requirements(catalog, profile, role_list, flows)),
    )


class _PeerResolver:
    def __init__(self, profile: Profile, roles: Sequence[str], servers: Sequence[str]) -> None:
        self.internal = tuple(profile.internal_networks)
        self.co_located = SERVER_ROLE in roles
        known = [*servers, *profile.peer_groups.get(IPPBXSRV_GROUP, [])]
        self.servers = tuple(dict.fromkeys(_host_cidr(a) for a in known))

    def resolve(self, row: CatalogRow) -> tuple[PeerClass, tuple[str, ...], str | None]:
        kind = row.peer.kind
        if kind == "localhost":
            return "loopback", (), "loopback on the VM: no firewall rule"
        if kind == "ippbxsrv":
            if self.co_located:
                return "loopback", (), "IpPbxSrv is this VM (swyxware-server): no firewall rule"
            if self.servers:
                return "ippbxsrv", self.servers, None
            return (
                "internal",
                self.internal,
                f"IpPbxSrv address unknown (set peer_groups.{IPPBXSRV_GROUP}): internal networks",
            )
        if row.wan:
            return "internet", INTERNET, None
        return "internal", self.internal, None


def _host_cidr(address: str) -> str:
    if "/" in address:
        return address
    return f"{address}/128" if ":" in address else f"{address}/32"


def parameter_value(
    name: str, role: str, catalog: Catalog, profile: Profile
) -> int | str | list[int] | None:
    """A parameter as the profile sets it for ``role``; ``None`` when not set."""
    per_role = profile.role_parameters.get(role, {})
    if name in per_role:
        return per_role[name]
    return profile.parameters.get(name)


def _parse_ports(name: str, value: int | str | list[int]) -> list[PortRange]:
    try:
        if isinstance(value, int):
            return [PortRange(lo=value, hi=value)]
        if isinstance(value, list):
            return [PortRange(lo=int(v), hi=int(v)) for v in value]
        return [PortRange.parse(part) for part in str(value).replace(";", ",").split(",") if part]
    except ValueError as exc:
        raise InputError(f"parameters.{name}: invalid port value {value!r}") from exc


def _parse_int(name: str, value: int | str | list[int]) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"parameters.{name}: expected a number, got {value!r}") from exc


def resolve_ports(
    row: CatalogRow, specs: Sequence[PortSpec], catalog: Catalog, profile: Profile
) -> list[PortRange]:
    """Concrete port ranges of ``specs`` after version, SDC and parameters."""
    out: list[PortRange] = []
    replaced: set[str] = set()
    for spec in specs:
        if spec.version and not spec.version.holds(profile.version):
            continue
        if spec.param:
            value = parameter_value(spec.param, row.role, catalog, profile)
            if value is not None:
                if spec.param not in replaced:
                    replaced.add(spec.param)
                    out.extend(_parse_ports(spec.param, value))
                continue
        lo, hi = spec.lo, spec.hi
        if spec.sdc is not None and profile.sdc:
            lo = hi = spec.sdc
        if spec.lo_param:
            value = parameter_value(spec.lo_param, row.role, catalog, profile)
            if value is not None:
                lo = _parse_int(spec.lo_param, value)
        if spec.formula:
            # The formula's base moves with lo (MediaPack BaseUDPPort), its length
            # with the count parameter.
            value = parameter_value(spec.formula.param, row.role, catalog, profile)
            count = _parse_int(
                spec.formula.param,
                value if value is not None else catalog.parameter(spec.formula.param).default,
            )
            hi = lo + spec.formula.per * count
        if spec.hi_param:
            value = parameter_value(spec.hi_param, row.role, catalog, profile)
            if value is not None:
                hi = _parse_int(spec.hi_param, value)
        if not (0 <= lo <= hi <= 65535):
            raise InputError(
                f"parameters: row {row.id} gives port range {lo}-{hi}, which is not valid"
            )
        out.append(PortRange(lo=lo, hi=hi))
    return out


def _extra_flows(profile: Profile, roles: Sequence[str]) -> list[ExpectedFlow]:
    out: list[ExpectedFlow] = []
    for extra in profile.extra_flows:
        if extra.roles is not None and not set(extra.roles) & set(roles):
            continue
        peers: list[str] = []
        for peer in extra.peers:
            peers.extend(profile.peer_groups.get(peer, [peer]))
        out.append(
            ExpectedFlow(
                role="profile",
                direction=extra.direction,
                protocol=extra.protocol,
                ports=tuple(PortRange.parse(p) for p in extra.ports),
                peer="group",
                peers=tuple(peers),
                rows=(f"profile:{extra.name}",),
                note=extra.justification,
            )
        )
    return out


def _requirements(
    catalog: Catalog, profile: Profile, roles: Sequence[str], flows: Sequence[ExpectedFlow]
) -> list[Requirement]:
    out: list[Requirement] = []
    if profile.default_requirements and REMOTE_CONNECTOR in roles:
        for row in catalog.rows_for([REMOTE_CONNECTOR]):
            tunnel = [s for s in row.target_ports if s.param == TUNNEL_PARAM]
            if row.direction != "inbound" or not tunnel:
                continue
            ports = resolve_ports(row, tunnel, catalog, profile)
            out.append(
                Requirement(
                    description="RemoteConnector tunnel reachable from the internet",
                    direction="inbound",
                    protocol="tcp",
                    alternatives=tuple((p,) for p in ports),
                    peers=INTERNET,
                    rows=(row.id,),
                )
            )
    wanted = set(profile.required)
    for flow in flows:
        if wanted & set(flow.rows) and flow.peer != "loopback":
            out.append(
                Requirement(
                    description=f"required by profile: {', '.join(flow.rows)}",
                    direction=flow.direction,
                    protocol=flow.protocol,
                    alternatives=(flow.ports,),
                    peers=flow.peers,
                    rows=flow.rows,
                )
            )
    return out
