"""The Swyx port matrix as validated data.

``policies/swyx-catalog.yaml`` holds every table row of the vendor's port matrix
(``swyx-port-matrix.txt``) as one record, the component roles and the parameters
(registry keys and formula inputs) that move ports. This module only describes
and validates that file; turning rows into expected firewall flows is
``policycheck.expected``. Rego policies read the same file as data, so the file is
the single source of truth.

The document's oddities are kept, not fixed: each record carries the documented
text (``source``, ``target``, ``transport``, ``configurable_via``) next to the
normalized fields, and ``notes`` explains every interpretation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from policycheck.errors import InputError
from policycheck.model import MAX_PORT

#: ``policycheck/policies`` links to the top-level ``policies/`` so the same files
#: serve a source checkout and an installed wheel.
POLICIES_DIR = Path(__file__).parent / "policies"
CATALOG_PATH = POLICIES_DIR / "swyx-catalog.yaml"
#: libyaml's safe loader when PyYAML was built with it: the same data as
#: ``yaml.SafeLoader`` in a fifth of the time (0.04 s instead of 0.19 s, a third of
#: a one-VM scan; tests/test_scale.py checks the data is identical).
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Transport = Literal["tcp", "udp"]
CatalogDirection = Literal["inbound", "outbound", "mutual"]
SLUG_RE = r"^[a-z0-9]+(-[a-z0-9]+)*$"
#: The role the document calls ``IpPbxSrv``.
SERVER_ROLE = "swyxware-server"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VersionCondition(_Strict):
    """A SwyxWare version condition such as ``< 12.0`` or ``since 12.20``.

    ``until X`` is read as ``< X`` and ``since X`` as ``>= X``; the documented
    wording is kept in ``text``.
    """

    op: Literal["<", "<=", ">", ">="]
    version: Annotated[str, Field(pattern=r"^\d+(\.\d+)*$")]
    text: str

    def holds(self, version: str) -> bool:
        have, want = _version_key(version), _version_key(self.version)
        return {
            "<": have < want,
            "<=": have <= want,
            ">": have > want,
            ">=": have >= want,
        }[self.op]


def _version_key(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", text)]
    # 12.2 and 12.20 are different releases in Swyx numbering (12.20 > 12.3),
    # so compare component-wise as integers; pad to equal length.
    return tuple(parts + [0] * (4 - len(parts)))


class Formula(_Strict):
    """``base .. base + per * <param>``, e.g. RemoteConnector audio 15000 + connections*2."""

    base: int
    per: int
    param: str


class PortSpec(_Strict):
    """A documented port or range and what can move it.

    - ``lo_param``/``hi_param`` move one bound each (``RTPFirstPort``/``RTPLastPort``).
    - ``param`` replaces the whole entry; every entry of a row that names the same
      ``param`` is replaced together (``TunnelListeningPorts`` = 16203 and 57203).
    - ``formula`` computes ``hi`` from a parameter (``lo`` is ``formula.base``).
    - ``sdc`` is the alternative single port when the profile's SDC switch is on
      (``9094 / for SDC 9095``).
    - ``version`` limits the entry to some SwyxWare versions.
    """

    lo: Annotated[int, Field(ge=0, le=MAX_PORT)]
    hi: Annotated[int, Field(ge=0, le=MAX_PORT)]
    lo_param: str | None = None
    hi_param: str | None = None
    param: str | None = None
    formula: Formula | None = None
    sdc: Annotated[int, Field(ge=0, le=MAX_PORT)] | None = None
    version: VersionCondition | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PortSpec:
        if self.lo > self.hi:
            raise ValueError(f"port range {self.lo}-{self.hi} is reversed")
        if self.formula and self.formula.base != self.lo:
            raise ValueError("formula.base must equal lo")
        return self

    @property
    def is_any(self) -> bool:
        return self.lo == 0 and self.hi == MAX_PORT


PeerKind = Literal[
    "any",  # "Any IP" / "Any" / "any to 80": any address (internet only with WAN access)
    "ippbxsrv",  # "IpPbxSrv IP": the SwyxWare server
    "localhost",  # loopback on the same machine: never a firewall rule
    "host",  # a named host or URL such as license.swyx.com
    "unspecified",  # the document names a port but no peer; read like "any"
    "unknown",  # the document writes "?"
]


class CatalogPeer(_Strict):
    kind: PeerKind
    #: Host name for ``host`` peers, e.g. ``license.swyx.com``.
    host: str | None = None
    #: Extra wording, e.g. ``(IpPbxSrv, RemoteConnector, Clients)``.
    qualifier: str | None = None

    @model_validator(mode="after")
    def _host(self) -> CatalogPeer:
        if (self.kind == "host") != (self.host is not None):
            raise ValueError("host is required for kind 'host' and only for it")
        return self


class CatalogRow(_Strict):
    """One table row of the port matrix."""

    #: ``<section>/<direction>/<n>``, n counting rows of that direction from 1 in
    #: document order (a mode's rows continue the count: ``1.22/outbound/7``).
    id: Annotated[str, Field(pattern=r"^1\.\d+(\.\d+)?/(inbound|outbound|mutual)/\d+$")]
    section: Annotated[str, Field(pattern=r"^1\.\d+(\.\d+)?$")]
    component: str
    role: Annotated[str, Field(pattern=SLUG_RE)]
    direction: CatalogDirection
    #: SwyxMobile: ``internal`` (without RemoteConnector) or ``external`` (with it).
    mode: Literal["internal", "external"] | None = None
    classification: str | None = None
    #: Application protocol as documented (SIP, RTP, RTP/T.38, CDS, HTTPS, ...).
    protocol: str | None = None
    #: The documented Type column, verbatim (``TCP + UDP``, ``TCP, TLS``, ``UDP/TCP``).
    transport: str
    transports: Annotated[list[Transport], Field(min_length=1)]
    #: TLS over TCP.
    tls: bool = False
    #: Documented source and target columns, verbatim.
    source: str
    target: str
    source_ports: Annotated[list[PortSpec], Field(min_length=1)]
    target_ports: list[PortSpec]
    #: The remote peer: the source of an inbound row, the target of an outbound row.
    peer: CatalogPeer
    wan: bool = False
    #: ``wan`` is this catalog's reading, not the document's words: the row's table
    #: has no Comment column, and its target is a named public host (see ``notes``).
    wan_inferred: bool = False
    #: The role whose VM the target is, where the target cell names no host but the
    #: service belongs to that role (VisualContacts 712, the phone book on LDAP).
    #: ``IpPbxSrv IP`` targets need no such field: they are ``swyxware-server``.
    target_role: Annotated[str, Field(pattern=SLUG_RE)] | None = None
    #: The target ports are the target ports of these rows (each with its own
    #: role's parameters), because the cell refers to them: HealthMonitor's
    #: ``(see SwyxWare services above)``. ``target_ports`` is then empty.
    refers_to: list[str] = Field(default_factory=list)
    configurable_via: str | None = None
    #: Parameter names mentioned by the row (registry keys or formula inputs).
    parameters: list[str] = Field(default_factory=list)
    version: VersionCondition | None = None
    #: The document marks the row with ``?`` (Swyx Connect).
    uncertain: bool = False
    comment: str | None = None
    #: Why a field reads as it does where the document is odd.
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _id_matches(self) -> CatalogRow:
        section, direction, _ = self.id.split("/")
        if section != self.section or direction != self.direction:
            raise ValueError(f"id {self.id} does not match section/direction")
        if bool(self.target_ports) == bool(self.refers_to):
            raise ValueError("a row has either target_ports or refers_to, not both or neither")
        if self.wan_inferred and not self.wan:
            raise ValueError("wan_inferred needs wan")
        if self.target_role is not None and self.direction != "outbound":
            raise ValueError("target_role is for outbound rows only")
        return self

    @property
    def server_targeted(self) -> str | None:
        """The role whose VM this outbound row's target is, if the document says so."""
        if self.direction != "outbound":
            return None
        if self.peer.kind == "ippbxsrv":
            return SERVER_ROLE
        return self.target_role


class Role(_Strict):
    slug: Annotated[str, Field(pattern=SLUG_RE)]
    section: str
    component: str
    kind: Literal["server", "client", "device", "tool"]
    description: str | None = None


ParameterKind = Literal["port", "range", "ports", "forwards", "count"]


class Parameter(_Strict):
    """A registry/config key or formula input that moves ports."""

    name: str
    #: Default value: a port, a ``"lo-hi"`` range, a list of ports, a forwarding
    #: list (``"712,9100,9980 80"``: entries ``port`` or ``local-port target-port``),
    #: or a count.
    default: int | str | list[int]
    kind: ParameterKind
    description: str
    #: The document gives no default: ``default`` is this catalog's assumption, and
    #: ranges computed from it are marked assumed in ``expected`` and findings.
    assumed: bool = False
    #: The key acts only in these SwyxWare versions (``TcpForwardingPorts`` until
    #: 12.20, ``TcpForwarding`` since); a profile setting it for another version is
    #: an error, not silently ignored.
    version: VersionCondition | None = None


class TrunkEndpoint(_Strict):
    """A role that can terminate a SIP trunk, and the rows a trunk's traffic uses.

    ``signalling`` are the role's SIP rows (inbound and outbound), ``media`` its
    RTP rows; a profile's ``sip_trunks`` entry expands them with the trunk's
    peers (``policycheck.expected``).
    """

    role: Annotated[str, Field(pattern=SLUG_RE)]
    signalling: Annotated[list[str], Field(min_length=1)]
    media: Annotated[list[str], Field(min_length=1)]


class Catalog(_Strict):
    document: str
    roles: list[Role]
    parameters: list[Parameter]
    rows: list[CatalogRow]
    sip_trunk_endpoints: list[TrunkEndpoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Catalog:
        slugs = {r.slug for r in self.roles}
        params = {p.name for p in self.parameters}
        rows: dict[str, CatalogRow] = {}
        for row in self.rows:
            if row.id in rows:
                raise ValueError(f"duplicate row id {row.id}")
            rows[row.id] = row
        for row in self.rows:
            if row.role not in slugs:
                raise ValueError(f"row {row.id}: unknown role {row.role!r}")
            if row.target_role is not None and row.target_role not in slugs:
                raise ValueError(f"row {row.id}: unknown target_role {row.target_role!r}")
            for ref in row.refers_to:
                if ref not in rows or rows[ref].refers_to:
                    raise ValueError(f"row {row.id}: refers_to {ref!r} is not a row with ports")
            for spec in [*row.source_ports, *row.target_ports]:
                for name in (spec.lo_param, spec.hi_param, spec.param):
                    if name and name not in params:
                        raise ValueError(f"row {row.id}: undeclared parameter {name!r}")
                if spec.formula and spec.formula.param not in params:
                    raise ValueError(f"row {row.id}: undeclared parameter {spec.formula.param!r}")
        for end in self.sip_trunk_endpoints:
            for row_id in [*end.signalling, *end.media]:
                if row_id not in rows or rows[row_id].role != end.role:
                    raise ValueError(
                        f"sip_trunk_endpoints {end.role}: {row_id!r} is not a row of that role"
                    )
        return self

    def row(self, row_id: str) -> CatalogRow:
        for row in self.rows:
            if row.id == row_id:
                return row
        raise KeyError(row_id)

    def trunk_endpoint(self, role: str) -> TrunkEndpoint | None:
        return next((e for e in self.sip_trunk_endpoints if e.role == role), None)

    @property
    def role_slugs(self) -> frozenset[str]:
        return frozenset(r.slug for r in self.roles)

    def rows_for(self, roles: Iterable[str]) -> list[CatalogRow]:
        wanted = set(roles)
        return [row for row in self.rows if row.role in wanted]

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Read and validate the catalog; errors name the file and the field."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read catalog: {exc}") from exc
    try:
        return Catalog.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{path}: invalid catalog: {_first_error(exc)}") from exc


@cache
def default_catalog() -> Catalog:
    """The bundled catalog, loaded and validated once per process."""
    return load_catalog()


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else err["msg"]
