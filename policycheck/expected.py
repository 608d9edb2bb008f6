"""Roles + profile -> the exact flows a VM's firewall must permit.

This is where the document's peers become address sets:

- ``Any IP`` (and unspecified or named-host peers) **with** WAN access: the whole
  internet, ``0.0.0.0/0`` and ``::/0``.
- the same **without** WAN access: the profile's internal networks only.
- ``IpPbxSrv IP``: the SwyxWare server's addresses; when the VM itself holds
  ``swyxware-server`` the flow is loopback and needs no firewall rule at all.
- ``localhost``: never a firewall rule.

Version conditions and port parameters (registry keys, formulas, the SDC switch)
are applied here, so the engine only ever sees concrete port ranges. Three kinds
of flows are derived rather than read off one row (each names the rows it comes
from): the server's counterparts of client flows (docs/counterparts.md), a
profile's SIP trunks, and HealthMonitor's probes of the services it refers to.
Every flow says what it rests on: ``assumed`` parameters (a default the document
does not give) and ``uncertain`` rows (the document writes ``?``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from policycheck.catalog import SERVER_ROLE, Catalog, CatalogRow, PortSpec, Transport
from policycheck.engine.intervals import IntervalSet, addr_set, port_set
from policycheck.errors import InputError
from policycheck.model import PortRange
from policycheck.profile import IPPBXSRV_GROUP, REMOTE_CONNECTOR_GROUP, Profile, SipTrunk

PeerClass = Literal[
    "internet", "internal", "ippbxsrv", "remote-connector", "loopback", "group", "trunk"
]
Derived = Literal["server_counterpart", "sip_trunk"]
INTERNET = ("0.0.0.0/0", "::/0")
REMOTE_CONNECTOR = "remote-connector"
TUNNEL_PARAM = "TunnelListeningPorts"
ParamValue = int | str | list[int]
T = TypeVar("T")


class Assumption(BaseModel):
    """A parameter whose value the document does not give; the flow's range rests on
    this catalog's default because the profile does not set it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameter: str
    value: ParamValue
    #: The role whose ``role_parameters`` would set it.
    role: str
    #: The formula the range comes from: ``base .. base + per * parameter``.
    base: int
    per: int

    def covering(self, port: int) -> int:
        """The smallest parameter value whose range reaches ``port``."""
        return max(0, -(-(port - self.base) // self.per))


class ExpectedFlow(BaseModel):
    """One protocol's documented access for a role, with peers resolved to CIDRs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str
    direction: Literal["inbound", "outbound"]
    protocol: str
    ports: tuple[PortRange, ...]
    peer: PeerClass
    #: Allowed remote addresses; empty for loopback flows.
    peers: tuple[str, ...]
    #: Catalog row ids (``profile:<name>`` for extra flows, ``sip_trunk:<name>``
    #: next to the rows a trunk expands).
    rows: tuple[str, ...]
    wan: bool = False
    note: str | None = None
    #: The version condition the flow rests on, as documented (``since 12.20``).
    version: str | None = None
    #: Ranges computed from defaults the document does not give.
    assumed: tuple[Assumption, ...] = ()
    #: Every row behind the flow is marked ``?`` in the document: accepted, never required.
    uncertain: bool = False
    #: Not a row's own flow: the server's counterpart of a client row, or a SIP trunk.
    derived: Derived | None = None


class Requirement(BaseModel):
    """A flow that must be allowed: one of ``alternatives`` reachable from ``peers``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str
    direction: Literal["inbound", "outbound"]
    protocol: str
    alternatives: tuple[tuple[PortRange, ...], ...]
    peers: tuple[str, ...]
    rows: tuple[str, ...]


class Expected(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    roles: tuple[str, ...]
    flows: tuple[ExpectedFlow, ...]
    requirements: tuple[Requirement, ...]
    #: The profile's internal networks, which ``internal`` flows resolve to.
    internal_networks: tuple[str, ...] = ()

    def for_direction(self, direction: str) -> list[ExpectedFlow]:
        return [f for f in self.flows if f.direction == direction]


def expected_flows(
    catalog: Catalog,
    profile: Profile,
    roles: Iterable[str],
    *,
    server_addresses: Sequence[str] = (),
    role_addresses: Mapping[str, Sequence[str]] | None = None,
    memo: FlowMemo | None = None,
) -> Expected:
    """The flows a VM holding ``roles`` must permit, per direction.

    ``role_addresses`` are the addresses of the *other* VMs of the inventory per
    role (``swyxware-server`` and ``remote-connector`` are used);
    ``server_addresses`` adds to the server's. The profile's ``IpPbxSrv`` and
    ``RemoteConnector`` peer groups add to them. When neither knows the server,
    IpPbxSrv flows fall back to the internal networks. ``memo`` (one per catalog
    and profile) shares the flows that do not depend on the VM between calls.
    """
    template, binding = template_for(
        catalog,
        profile,
        roles,
        server_addresses=server_addresses,
        role_addresses=role_addresses,
        memo=memo,
    )
    return template.bind(binding)


def template_for(
    catalog: Catalog,
    profile: Profile,
    roles: Iterable[str],
    *,
    server_addresses: Sequence[str] = (),
    role_addresses: Mapping[str, Sequence[str]] | None = None,
    memo: FlowMemo | None = None,
) -> tuple[FlowTemplate, Binding]:
    """:func:`expected_flows` as a template shared through ``memo`` and the
    addresses its slots take for this VM."""
    role_list = tuple(dict.fromkeys(roles))
    others = dict(role_addresses or {})
    others[SERVER_ROLE] = [*others.get(SERVER_ROLE, ()), *server_addresses]
    resolver = _PeerResolver(profile, role_list, others)
    memo = memo or FlowMemo()
    # The servers' addresses are read by IpPbxSrv rows unless the VM is the server,
    # the connectors' by the server's counterparts of RemoteConnector rows.
    counterpart_rows = memo.get(
        ("counterpart rows", role_list), lambda: _targeting(catalog, profile, role_list)
    )
    used = (
        SERVER_ROLE not in role_list,
        profile.server_counterparts and any(r.role == REMOTE_CONNECTOR for r in counterpart_rows),
    )
    # VMs of one deployment read the same addresses: their shape is computed once.
    shape, stand_ins, binding = memo.get(
        (
            "slots",
            used,
            resolver.servers if used[0] else None,
            resolver.connectors if used[1] else None,
        ),
        lambda: resolver.slotted(used),
    )
    template = memo.get(
        ("expected", role_list, shape),
        lambda: FlowTemplate.build(
            catalog, profile, role_list, resolver.with_slots(stand_ins), binding, memo
        ),
    )
    return template, binding


def _expected(
    catalog: Catalog,
    profile: Profile,
    role_list: tuple[str, ...],
    resolver: _PeerResolver,
    covers: _Covers,
    memo: FlowMemo,
) -> Expected:
    flows: list[ExpectedFlow] = []
    for row in memo.get(("rows", role_list), lambda: catalog.rows_for(role_list)):
        flows.extend(
            memo.get(
                ("row", row.id, resolver.resolve(row)),
                lambda row=row: _row_flows(row, catalog, profile, resolver),  # type: ignore[misc]
            )
        )
    if profile.server_counterparts:
        flows.extend(_counterparts(catalog, profile, role_list, resolver, flows, memo, covers))
    for trunk in profile.sip_trunks:
        if trunk.role in role_list:
            flows.extend(_trunk_flows(trunk, catalog, profile))
    flows.extend(memo.get(("extra", role_list), lambda: _extra_flows(profile, role_list)))
    return Expected(
        roles=role_list,
        flows=tuple(flows),
        requirements=tuple(_requirements(catalog, profile, role_list, flows)),
        internal_networks=tuple(profile.internal_networks),
    )


#: Stand-ins for one deployment's server and RemoteConnector addresses in a
#: template (not prefixes, so never equal to a profile's peers).
SERVER_SLOT = ("<IpPbxSrv>",)
CONNECTOR_SLOT = ("<RemoteConnector>",)
SLOTS = (SERVER_SLOT, CONNECTOR_SLOT)
Binding = Mapping[tuple[str, ...], tuple[str, ...]]
#: What a template holds for the servers' and the connectors' addresses.
StandIns = tuple[tuple[str, ...], tuple[str, ...]]


class FlowTemplate:
    """A role set's expected flows with the server and RemoteConnector addresses
    as slots, shared by every deployment whose addresses relate alike to the
    other peers (:meth:`_PeerResolver.slotted`): what the flows are, and which
    counterparts stay, depends on those relations only; a deployment's
    ``Expected`` is the template with its own addresses put in."""

    def __init__(self, expected: Expected) -> None:
        self.expected = expected
        #: (index, slot) of the flows and requirements whose peers are a slot.
        self.flows = [(i, f.peers) for i, f in enumerate(expected.flows) if f.peers in SLOTS]
        self.requirements = [
            (i, r.peers) for i, r in enumerate(expected.requirements) if r.peers in SLOTS
        ]

    @classmethod
    def build(
        cls,
        catalog: Catalog,
        profile: Profile,
        role_list: tuple[str, ...],
        resolver: _PeerResolver,
        binding: Binding,
        memo: FlowMemo,
    ) -> FlowTemplate:
        # The covers answers that involve a slot are computed on the first
        # deployment's addresses: the template's key holds every such answer.
        return cls(_expected(catalog, profile, role_list, resolver, _Covers(binding), memo))

    def bind(self, binding: Binding) -> Expected:
        if not self.flows and not self.requirements:
            return self.expected
        # The template was validated: a copy with other peers needs no second check.
        flows = list(self.expected.flows)
        for i, slot in self.flows:
            flows[i] = flows[i].model_copy(update={"peers": binding[slot]})
        requirements = list(self.expected.requirements)
        for i, slot in self.requirements:
            requirements[i] = requirements[i].model_copy(update={"peers": binding[slot]})
        return self.expected.model_copy(
            update={"flows": tuple(flows), "requirements": tuple(requirements)}
        )


class FlowMemo:
    """Flows that depend only on a catalog row and the peers it resolves to, shared
    by every VM of one scan (one catalog and profile): most rows resolve alike for
    every VM; only IpPbxSrv and RemoteConnector peers differ between deployments.
    Also a role set's rows and the profile's extra flows for it."""

    def __init__(self) -> None:
        self.entries: dict[tuple[object, ...], Any] = {}

    def get(self, key: tuple[object, ...], build: Callable[[], T]) -> T:
        if key in self.entries:
            found: T = self.entries[key]
            return found
        value = self.entries[key] = build()
        return value


# ------------------------------------------------------------------ peers


class _PeerResolver:
    def __init__(
        self, profile: Profile, roles: Sequence[str], others: Mapping[str, Sequence[str]]
    ) -> None:
        self.internal = tuple(profile.internal_networks)
        self.roles = frozenset(roles)
        self.servers = _cidrs([*others.get(SERVER_ROLE, ()), *_group(profile, IPPBXSRV_GROUP)])
        self.connectors = _cidrs(
            [*others.get(REMOTE_CONNECTOR, ()), *_group(profile, REMOTE_CONNECTOR_GROUP)]
        )

    def slotted(self, used: tuple[bool, bool]) -> tuple[tuple[object, ...], StandIns, Binding]:
        """The template key of these addresses, what stands in for them in the
        template, and the slots' values; ``used``: whether the flows read the
        servers' and the connectors' addresses at all.

        The key holds everything the flows' construction asks of the addresses it
        reads: whether there are any, which of the other peer tuples they equal
        (equal peers merge counterparts), and which of them they cover or are
        covered by (which counterparts stay). A slot that equals an earlier peer
        tuple is that tuple in the template.
        """
        values = [
            v if u else None for v, u in zip((self.servers, self.connectors), used, strict=True)
        ]
        named = [INTERNET, self.internal, *(v for v in values if v is not None)]
        sets = [addr_set(p) for p in named]
        n = len(named)
        shape = (
            tuple(None if v is None else bool(v) for v in values),
            tuple(a == b for i, a in enumerate(named) for b in named[i + 1 :]),
            tuple(
                sets[i].covers(sets[j])
                for i in range(n)
                for j in range(n)
                if i != j and (i >= 2 or j >= 2)
            ),
        )
        binding: dict[tuple[str, ...], tuple[str, ...]] = {}
        stand_ins: list[tuple[str, ...]] = []
        earlier = [(INTERNET, INTERNET), (self.internal, self.internal)]
        for slot, value in zip(SLOTS, values, strict=True):
            if value is None:  # never read: a slot with no value fails loudly if it is
                stand_ins.append(slot)
                continue
            stand_in = next((t for c, t in earlier if c == value), slot) if value else ()
            if stand_in is slot:
                binding[slot] = value
            stand_ins.append(stand_in)
            earlier.append((value, stand_in))
        return shape, (stand_ins[0], stand_ins[1]), binding

    def with_slots(self, stand_ins: StandIns) -> _PeerResolver:
        """This resolver with ``stand_ins`` for the servers' and connectors' addresses."""
        slotted = copy.copy(self)
        slotted.servers, slotted.connectors = stand_ins
        return slotted

    def resolve(self, row: CatalogRow) -> tuple[PeerClass, tuple[str, ...], str | None]:
        kind = row.peer.kind
        if kind == "localhost":
            return "loopback", (), "loopback on the VM: no firewall rule"
        if kind == "ippbxsrv":
            if SERVER_ROLE in self.roles:
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

    def client(self, row: CatalogRow) -> tuple[PeerClass, tuple[str, ...], str | None]:
        """Where the client of ``row`` can be, seen from the server it targets: the
        RemoteConnector's addresses for its rows, the internal networks otherwise."""
        if row.role != REMOTE_CONNECTOR:
            return "internal", self.internal, None
        if self.connectors:
            return "remote-connector", self.connectors, None
        if REMOTE_CONNECTOR in self.roles:
            return "loopback", (), "the RemoteConnector is this VM: no firewall rule"
        return (
            "internal",
            self.internal,
            f"RemoteConnector address unknown (set peer_groups.{REMOTE_CONNECTOR_GROUP}): "
            "internal networks",
        )


def _group(profile: Profile, name: str) -> list[str]:
    return list(profile.peer_groups.get(name, []))


def _cidrs(addresses: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_host_cidr(a) for a in addresses))


def _host_cidr(address: str) -> str:
    if "/" in address:
        return address
    return f"{address}/128" if ":" in address else f"{address}/32"


# ------------------------------------------------------------------ ports


def parameter_value(name: str, role: str, catalog: Catalog, profile: Profile) -> ParamValue | None:
    """A parameter as the profile sets it for ``role``; ``None`` when not set."""
    per_role = profile.role_parameters.get(role, {})
    if name in per_role:
        return per_role[name]
    return profile.parameters.get(name)


def _parse_ports(name: str, value: ParamValue, kind: str) -> list[PortRange]:
    try:
        if isinstance(value, int):
            return [PortRange(lo=value, hi=value)]
        if isinstance(value, list):
            return [PortRange(lo=int(v), hi=int(v)) for v in value]
        entries = [e.strip() for e in str(value).replace(";", ",").split(",") if e.strip()]
        if kind == "forwards":
            # "local-port target-port" forwards a local port to another port of the
            # server: only the target crosses the firewall ("9980 80" -> 80).
            targets = []
            for entry in entries:
                words = entry.split()
                if len(words) > 2:
                    raise ValueError(entry)
                targets.append(words[-1])
            entries = targets
        return [PortRange.parse(e) for e in entries]
    except ValueError as exc:
        shape = " (entries: port or 'local-port target-port')" if kind == "forwards" else ""
        raise InputError(f"parameters.{name}: invalid port value {value!r}{shape}") from exc


def _parse_int(name: str, value: ParamValue) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"parameters.{name}: expected a number, got {value!r}") from exc


@dataclass(frozen=True)
class ResolvedPort:
    """One concrete range of a row, with the version condition and the assumption
    it rests on."""

    range: PortRange
    version: str | None = None
    assumed: Assumption | None = None


def resolve_specs(
    row: CatalogRow, specs: Sequence[PortSpec], catalog: Catalog, profile: Profile
) -> list[ResolvedPort]:
    """Concrete port ranges of ``specs`` after version, SDC and parameters."""
    out: list[ResolvedPort] = []
    replaced: set[str] = set()
    for spec in specs:
        if spec.version and not spec.version.holds(profile.version):
            continue
        version = spec.version.text if spec.version else None
        if spec.param:
            value = parameter_value(spec.param, row.role, catalog, profile)
            if value is not None:
                if spec.param not in replaced:
                    replaced.add(spec.param)
                    kind = catalog.parameter(spec.param).kind
                    out.extend(
                        ResolvedPort(p, version) for p in _parse_ports(spec.param, value, kind)
                    )
                continue
        lo, hi = spec.lo, spec.hi
        assumed: Assumption | None = None
        if spec.sdc is not None and profile.sdc:
            lo = hi = spec.sdc
        if spec.lo_param:
            value = parameter_value(spec.lo_param, row.role, catalog, profile)
            if value is not None:
                lo = _parse_int(spec.lo_param, value)
        if spec.formula:
            # The formula's base moves with lo (MediaPack BaseUDPPort), its length
            # with the count parameter.
            param = catalog.parameter(spec.formula.param)
            value = parameter_value(param.name, row.role, catalog, profile)
            if value is None:
                value = param.default
                if param.assumed:
                    assumed = Assumption(
                        parameter=param.name,
                        value=value,
                        role=row.role,
                        base=lo,
                        per=spec.formula.per,
                    )
            hi = lo + spec.formula.per * _parse_int(param.name, value)
        if spec.hi_param:
            value = parameter_value(spec.hi_param, row.role, catalog, profile)
            if value is not None:
                hi = _parse_int(spec.hi_param, value)
        if not (0 <= lo <= hi <= 65535):
            raise InputError(
                f"parameters: row {row.id} gives port range {lo}-{hi}, which is not valid"
            )
        out.append(ResolvedPort(PortRange(lo=lo, hi=hi), version, assumed))
    return out


def resolve_ports(
    row: CatalogRow, specs: Sequence[PortSpec], catalog: Catalog, profile: Profile
) -> list[PortRange]:
    return [r.range for r in resolve_specs(row, specs, catalog, profile)]


def _flows(
    resolved: Iterable[ResolvedPort],
    row_version: str | None,
    directions: Sequence[Literal["inbound", "outbound"]],
    transports: Sequence[str],
    **fields: Any,
) -> list[ExpectedFlow]:
    """One flow per direction, transport and group of ranges resting on the same
    version condition and assumption, so each flow states its own (a row's
    since-12.20 port is one flow, its other ports another); ``fields`` are the
    rest of the flow (role, peers, rows, ...)."""
    groups: dict[tuple[str | None, str | None], tuple[list[PortRange], Assumption | None]] = {}
    for r in resolved:
        key = (r.version or row_version, r.assumed.parameter if r.assumed else None)
        groups.setdefault(key, ([], r.assumed))[0].append(r.range)
    return [
        ExpectedFlow(
            direction=direction,
            protocol=transport,
            ports=tuple(ports),
            version=version,
            assumed=(assumed,) if assumed else (),
            **fields,
        )
        for (version, _), (ports, assumed) in groups.items()
        for direction in directions
        for transport in transports
    ]


# ------------------------------------------------------------------ flows


def _row_flows(
    row: CatalogRow, catalog: Catalog, profile: Profile, resolver: _PeerResolver
) -> list[ExpectedFlow]:
    if row.version and not row.version.holds(profile.version):
        return []
    peer_class, peers, note = resolver.resolve(row)
    directions: tuple[Literal["inbound", "outbound"], ...] = (
        ("inbound", "outbound") if row.direction == "mutual" else (row.direction,)
    )
    row_version = row.version.text if row.version else None
    # (transports, resolved ports, note) per source of ports: the row's own target
    # ports, or those of the rows it refers to (HealthMonitor).
    sources: list[tuple[list[Transport], list[ResolvedPort], str | None]] = []
    if row.refers_to:
        for ref_id in row.refers_to:
            ref = catalog.row(ref_id)
            if ref.version and not ref.version.holds(profile.version):
                continue
            transports = [t for t in ref.transports if t in row.transports]
            ref_note = f"port of {ref.id} ({ref.component}), which the row refers to"
            sources.append(
                (transports, resolve_specs(ref, ref.target_ports, catalog, profile), ref_note)
            )
    else:
        own = resolve_specs(row, row.target_ports, catalog, profile)
        sources.append((row.transports, own, None))
    return [
        flow
        for transports, resolved, source_note in sources
        for flow in _flows(
            resolved,
            row_version,
            directions,
            transports,
            role=row.role,
            peer=peer_class,
            peers=peers,
            rows=(row.id,),
            wan=row.wan,
            note=_join(note, source_note),
            uncertain=row.uncertain,
        )
    ]


def _join(*notes: str | None) -> str | None:
    text = "; ".join(n for n in notes if n)
    return text or None


def _counterparts(
    catalog: Catalog,
    profile: Profile,
    roles: Sequence[str],
    resolver: _PeerResolver,
    own: Sequence[ExpectedFlow],
    memo: FlowMemo,
    covers: _Covers,
) -> list[ExpectedFlow]:
    """Inbound flows of the VM's roles that the document lists only from the other
    side: every outbound row whose target is this role (``IpPbxSrv IP``, or a
    ``target_role``) gives the role an inbound flow on the row's target ports, from
    where that row's component can be. Kept only where it adds to what the VM's own
    rows, or a counterpart from more peers, already allow (docs/counterparts.md has
    the rule and its reasoning)."""
    candidates: list[ExpectedFlow] = []
    for row in memo.get(
        ("counterpart rows", tuple(roles)), lambda: _targeting(catalog, profile, roles)
    ):
        target = row.server_targeted
        assert target is not None  # _targeting keeps only these
        client = resolver.client(row)
        candidates.extend(
            memo.get(
                ("counterpart", row.id, target, client),
                lambda row=row, target=target, client=client: _counterpart_flows(  # type: ignore[misc]
                    row, target, client, catalog, profile
                ),
            )
        )
    merged: dict[tuple[object, ...], ExpectedFlow] = {}
    # What other flows allow, per protocol and peers: the counterparts from more
    # peers and the flows covering them depend only on a flow's peers.
    allowed_of: dict[tuple[str, tuple[str, ...]], IntervalSet] = {}
    for flow in candidates:
        allowed = allowed_of.get((flow.protocol, flow.peers))
        if allowed is None:
            wanted = covers.set(flow.peers)
            wider = [
                c
                for c in candidates
                if covers.set(c.peers) != wanted and covers(c.peers, flow.peers)
            ]
            allowed = allowed_of[(flow.protocol, flow.peers)] = _allowed_to(
                flow, [*own, *wider], covers
            )
        left = tuple(PortRange(lo=lo, hi=hi) for lo, hi in covers.ports(flow) - allowed)
        if not left:
            continue
        # Many components send to the same server port (9094 from every
        # component): one flow lists every row it mirrors.
        key = (
            flow.protocol,
            left,
            flow.peers,
            flow.version,
            tuple(a.parameter for a in flow.assumed),
            flow.uncertain,
        )
        if key in merged:
            merged[key] = merged[key].model_copy(update={"rows": (*merged[key].rows, *flow.rows)})
        else:
            merged[key] = flow.model_copy(update={"ports": left})
    return list(merged.values())


class _Covers:
    """Does one tuple of peers cover another? Asked for every pair of a VM's flows,
    but a VM's flows name only a few distinct peer tuples: each answer is computed
    once. ``binding`` gives the addresses of a template's slots."""

    def __init__(self, binding: Binding | None = None) -> None:
        self.binding = binding or {}
        self.answers: dict[tuple[tuple[str, ...], tuple[str, ...]], bool] = {}
        #: Each flow's ports as a set, by ``id()`` (the flows outlive this object).
        self.port_sets: dict[int, IntervalSet] = {}

    def ports(self, flow: ExpectedFlow) -> IntervalSet:
        found = self.port_sets.get(id(flow))
        if found is None:
            found = self.port_sets[id(flow)] = port_set(flow.ports)
        return found

    def set(self, peers: tuple[str, ...]) -> IntervalSet:
        return addr_set(self.binding.get(peers, peers))

    def __call__(self, wide: tuple[str, ...], narrow: tuple[str, ...]) -> bool:
        key = (wide, narrow)
        answer = self.answers.get(key)
        if answer is None:
            answer = self.answers[key] = self.set(wide).covers(self.set(narrow))
        return answer


def _targeting(catalog: Catalog, profile: Profile, roles: Sequence[str]) -> list[CatalogRow]:
    """The rows whose server side is one of ``roles``: each gives a counterpart."""
    return [
        row
        for row in catalog.rows
        if row.server_targeted is not None
        and row.server_targeted in roles
        and row.role != row.server_targeted
        and not (row.version and not row.version.holds(profile.version))
    ]


def _counterpart_flows(
    row: CatalogRow,
    target: str,
    client: tuple[PeerClass, tuple[str, ...], str | None],
    catalog: Catalog,
    profile: Profile,
) -> list[ExpectedFlow]:
    peer_class, peers, note = client
    return _flows(
        resolve_specs(row, row.target_ports, catalog, profile),
        row.version.text if row.version else None,
        ("inbound",),
        row.transports,
        role=target,
        peer=peer_class,
        peers=peers,
        rows=(row.id,),
        note=_join(note, "server side of a client flow"),
        uncertain=row.uncertain,
        derived="server_counterpart",
    )


def _allowed_to(
    flow: ExpectedFlow,
    others: Sequence[ExpectedFlow],
    covers: _Covers,
) -> IntervalSet:
    """The ports on which another inbound flow of ``flow``'s protocol allows all of
    ``flow``'s peers."""
    allowed = IntervalSet()
    for other in others:
        if other.direction != "inbound" or other.protocol != flow.protocol:
            continue
        if covers(other.peers, flow.peers):
            allowed = allowed | covers.ports(other)
    return allowed


def _trunk_flows(trunk: SipTrunk, catalog: Catalog, profile: Profile) -> list[ExpectedFlow]:
    """The terminating role's SIP signalling (the trunk's transports) and RTP media
    rows, in and out, with exactly the trunk's peers."""
    endpoint = catalog.trunk_endpoint(trunk.role)
    if endpoint is None:  # the profile validator names the endpoint roles
        raise InputError(f"sip_trunks {trunk.name!r}: role {trunk.role!r} ends no SIP trunk")
    peers = _expand_peers(profile, trunk.peers)
    flows: list[ExpectedFlow] = []
    for row_id in [*endpoint.signalling, *endpoint.media]:
        row = catalog.row(row_id)
        if row.version and not row.version.holds(profile.version):
            continue
        transports = (
            [t for t in row.transports if t in trunk.transports]
            if row_id in endpoint.signalling
            else list(row.transports)
        )
        direction: Literal["inbound", "outbound"] = (
            "outbound" if row.direction == "outbound" else "inbound"
        )
        flows.extend(
            _flows(
                resolve_specs(row, row.target_ports, catalog, profile),
                row.version.text if row.version else None,
                (direction,),
                transports,
                role=trunk.role,
                peer="trunk",
                peers=peers,
                rows=(row.id, f"sip_trunk:{trunk.name}"),
                note=f"SIP trunk {trunk.name}",
                derived="sip_trunk",
            )
        )
    return flows


def _expand_peers(profile: Profile, names: Iterable[str]) -> tuple[str, ...]:
    peers: list[str] = []
    for peer in names:
        peers.extend(profile.peer_groups.get(peer, [peer]))
    return tuple(dict.fromkeys(peers))


def _extra_flows(profile: Profile, roles: Sequence[str]) -> list[ExpectedFlow]:
    out: list[ExpectedFlow] = []
    for extra in profile.extra_flows:
        if extra.roles is not None and not set(extra.roles) & set(roles):
            continue
        out.append(
            ExpectedFlow(
                role="profile",
                direction=extra.direction,
                protocol=extra.protocol,
                ports=tuple(PortRange.parse(p) for p in extra.ports),
                peer="group",
                peers=_expand_peers(profile, extra.peers),
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
        # Uncertain flows are never required (the profile refuses to name them).
        if wanted & set(flow.rows) and flow.peer != "loopback" and not flow.uncertain:
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
