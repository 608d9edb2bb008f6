"""The deployment profile: what a hosting provider tells policycheck about its estate.

Every field is optional; no profile at all means the defaults below. The profile
is validated strictly (unknown keys, bad CIDRs, unknown role slugs and
suppressions without expiry or selector are errors) because a typo in an audit profile must
never silently widen what is accepted.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from policycheck.catalog import SERVER_ROLE, Catalog, Transport, VersionCondition, default_catalog
from policycheck.errors import InputError
from policycheck.findings import RULES
from policycheck.inputs import describe_validation_error, parse_yaml, read_text
from policycheck.model import PortRange, Text, normalize_protocol

DEFAULT_INTERNAL_NETWORKS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
)
#: Peer group name that, when given, states the SwyxWare server's addresses
#: (the document's ``IpPbxSrv IP``) for VMs that are not the server themselves.
IPPBXSRV_GROUP = "IpPbxSrv"
#: Peer group name that states the RemoteConnector's addresses, for the server's
#: counterparts of the RemoteConnector's forwarding when it runs on another VM.
REMOTE_CONNECTOR_GROUP = "RemoteConnector"
DEFAULT_VERSION = "14.0"
ROLE_SPLIT = re.compile(r"[\s,]+")
VERSION_RE = r"^\d+(\.\d+)*$"


def _check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise ValueError(f"invalid CIDR {value!r}") from exc


def _check_roles(roles: list[str], info: ValidationInfo) -> list[str]:
    known = (info.context or {}).get("roles")
    if known is not None:
        for slug in roles:
            if slug not in known:
                raise ValueError(f"unknown role slug {slug!r}")
    return roles


def _port_texts(value: object) -> object:
    """YAML reads ``ports: [3389]`` as numbers and ``ports: 3389`` as one number;
    both mean the port text ``"3389"``."""
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


def _check_ports(value: list[str]) -> list[str]:
    for text in value:
        try:
            PortRange.parse(text)
        except ValueError as exc:
            raise ValueError(f"invalid port or range {text!r}") from exc
    return value


def _version_text(value: object, info: ValidationInfo) -> object:
    """``version: 14.1`` is a YAML number; read it as the text ``"14.1"``.

    A number loses trailing zeros: ``version: 12.30`` arrives as 12.3, and Swyx
    numbers compare per component (12.3 < 12.20 < 12.30). Where the two readings
    would select different flows of the catalog, the number is refused and the
    user is asked to quote it, instead of silently taking the wrong one.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    text = str(value)
    conditions: list[VersionCondition] = list((info.context or {}).get("version_conditions", ()))
    whole, _, fraction = text.partition(".")
    if len(fraction) == 1 and conditions:
        padded = f"{whole}.{fraction}0"
        if any(c.holds(text) != c.holds(padded) for c in conditions):
            raise ValueError(
                f"{text} is a YAML number and may stand for {text} or {padded}, which select "
                f'different flows; quote it: version: "{padded}" or version: "{text}"'
            )
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleMatch(_Strict):
    """Which VMs an assignment applies to; every given field must match (globs)."""

    name: str | None = Field(default=None, description="Glob on the VM name, e.g. 'pbx-*'.")
    id: str | None = Field(default=None, description="Glob on the cloud ID / ARN / self link.")
    address: str | None = Field(
        default=None, description="Glob on the Terraform address, e.g. 'module.pbx.*'."
    )

    @model_validator(mode="after")
    def _something(self) -> RoleMatch:
        if not (self.name or self.id or self.address):
            raise ValueError("match needs at least one of name, id, address")
        return self


class RoleAssignment(_Strict):
    match: RoleMatch
    roles: Annotated[list[str], Field(min_length=1)]

    _roles = field_validator("roles")(_check_roles)


class ExtraFlow(_Strict):
    """A flow the matrix does not document but this deployment needs (e.g. RDP from
    an admin jump host). It is accepted like a documented flow; the justification is
    mandatory so every exception is explained in the profile itself."""

    name: Text
    justification: Annotated[Text, Field(min_length=3)]
    direction: Literal["inbound", "outbound"] = "inbound"
    protocol: str
    ports: list[str] = Field(
        default_factory=lambda: ["0-65535"],
        description="Ports or ranges: [3389], ['5000-5100'] (default: all ports).",
    )
    peers: Annotated[list[str], Field(min_length=1)] = Field(
        description="CIDRs or peer group names."
    )
    roles: list[str] | None = Field(
        default=None, description="Only VMs holding one of these roles (default: all VMs)."
    )

    _roles = field_validator("roles")(lambda v, info: None if v is None else _check_roles(v, info))
    _port_input = field_validator("ports", mode="before")(_port_texts)
    _ports = field_validator("ports")(_check_ports)

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        return normalize_protocol(value)


class SipTrunk(_Strict):
    """A SIP trunk provider. It expands to the documented SIP signalling and the
    terminating role's current RTP range (as ``parameters`` move it), in and out,
    from and to exactly the provider's peers; the same ports from anywhere else
    stay as the document says (internal-only SIP from the internet is SWYX002)."""

    name: Annotated[str, Field(min_length=1)]
    peers: Annotated[list[str], Field(min_length=1)] = Field(
        description="The provider's signalling and media addresses: CIDRs or peer group names."
    )
    transports: Annotated[list[Transport], Field(min_length=1)] = Field(
        default_factory=lambda: list[Transport](["udp"]),
        description="SIP transports the trunk uses (default: [udp]).",
    )
    role: str = Field(
        default=SERVER_ROLE,
        description=f"Role that terminates the trunk (default: {SERVER_ROLE}; or linkmanager).",
    )

    @field_validator("role")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get("trunk_roles")
        if known is not None and value not in known:
            raise ValueError(
                f"role {value!r} does not terminate SIP trunks (one of: {', '.join(sorted(known))})"
            )
        return value


#: The keys of a suppression that select findings; at least one is required.
SUPPRESSION_SELECTORS = (
    "rule",
    "vm",
    "resource",
    "ports",
    "account",
    "subscription",
    "project",
    "region",
    "tag",
)


class Suppression(_Strict):
    """Accept findings until a date. Expired suppressions stop applying and are
    reported, as are suppressions that suppress nothing.

    Every given selector must match; at least one is required, because a
    suppression with only a reason and a date would accept every finding.
    """

    reason: Annotated[Text, Field(min_length=3)]
    expires: dt.date
    rule: str | None = Field(
        default=None,
        # SWYX001..SWYX008, or the id of a rule of your own Rego policies.
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$",
        description="SWYX001..SWYX008, or a rule id of your Rego policies (e.g. NET001).",
    )
    vm: str | None = Field(default=None, description="Glob on VM name or id.")
    resource: str | None = Field(
        default=None, description="Glob on the responsible resource address or cloud id."
    )
    ports: str | None = Field(
        default=None,
        description=(
            "Exactly these tcp/udp ports of a finding's region: the finding splits, and "
            "the rest of its region stays an active finding."
        ),
    )
    account: str | None = Field(default=None, description="Glob on the AWS VM's account id.")
    subscription: str | None = Field(
        default=None, description="Glob on the Azure VM's subscription id."
    )
    project: str | None = Field(default=None, description="Glob on the GCP VM's project id.")
    region: str | None = Field(
        default=None,
        description="Glob on the VM's cloud region (AWS/GCP region, Azure location).",
    )
    tag: dict[str, str] | None = Field(
        default=None,
        description="VM tags (GCP labels) that must all be present; values are globs, "
        "e.g. {env: lab}.",
    )

    @field_validator("rule")
    @classmethod
    def _rule_id(cls, value: str | None) -> str | None:
        if value is not None and value.upper().startswith("SWYX") and value not in RULES:
            raise ValueError(f"unknown rule {value!r} (SWYX001..SWYX008)")
        return value

    @field_validator("ports", mode="before")
    @classmethod
    def _port_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("ports")
    @classmethod
    def _port_range(cls, value: str | None) -> str | None:
        return None if value is None else _check_ports([value])[0]

    @field_validator("tag", mode="before")
    @classmethod
    def _tag_texts(cls, value: object) -> object:
        # ``tag: {tier: 2}`` means the tag value "2", as the cloud stores it.
        if isinstance(value, dict):
            return {
                k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for k, v in value.items()
            }
        return value

    @field_validator("tag")
    @classmethod
    def _some_tag(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and not value:
            raise ValueError("tag needs at least one key: value, e.g. {env: lab}")
        return value

    @model_validator(mode="after")
    def _selected(self) -> Suppression:
        if not self.selectors():
            raise ValueError(
                "a suppression needs at least one selector ("
                + ", ".join(SUPPRESSION_SELECTORS)
                + "): with only reason and expires it would accept every finding"
            )
        return self

    def selectors(self) -> dict[str, str]:
        """The given selectors as text, in :data:`SUPPRESSION_SELECTORS` order."""
        out: dict[str, str] = {}
        for name in SUPPRESSION_SELECTORS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            out[name] = str(value)
        return out


class Egress(_Strict):
    strictness: Literal["off", "protocols", "ports"] = Field(
        default="protocols",
        description=(
            "off: no SWYX004; protocols: report egress on protocols the roles' outbound "
            "flows do not use; ports: also report undocumented tcp/udp ports."
        ),
    )
    level: Literal["note", "warning", "error"] = "note"


class Profile(_Strict):
    """A hosting provider's deployment profile. All fields optional."""

    #: The file it was read from (None: the built-in defaults), for the reports.
    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        return self._source

    def __eq__(self, other: object) -> bool:
        # Equal profiles mean the same, wherever they were read from.
        if not isinstance(other, Profile):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = BaseModel.__hash__

    version: Annotated[str, Field(pattern=VERSION_RE)] = Field(
        default=DEFAULT_VERSION,
        description=f"SwyxWare version, for version-bound flows (default: {DEFAULT_VERSION}).",
    )
    sdc: bool = Field(default=False, description="Swyx Deployment Center: CDS on 9095.")
    internal_networks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INTERNAL_NETWORKS),
        description=(
            "Where 'Any IP' without WAN access may come from (default: "
            f"{', '.join(DEFAULT_INTERNAL_NETWORKS)})."
        ),
    )
    peer_groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            f"Named CIDR lists; '{IPPBXSRV_GROUP}' names the SwyxWare server and "
            f"'{REMOTE_CONNECTOR_GROUP}' the RemoteConnector when they are not VMs in the scan."
        ),
    )
    role_markers: bool = Field(
        default=True,
        description="Read roles from swyx-roles / swyx-role-<slug> tags, labels, network tags.",
    )
    role_assignments: list[RoleAssignment] = Field(default_factory=list)
    parameters: dict[str, int | str | list[int]] = Field(
        default_factory=dict,
        description="Registry/config keys for every role using them, e.g. RTPFirstPort: 40000.",
    )
    role_parameters: dict[str, dict[str, int | str | list[int]]] = Field(
        default_factory=dict, description="Per-role parameters; win over `parameters`."
    )
    extra_flows: list[ExtraFlow] = Field(default_factory=list)
    sip_trunks: list[SipTrunk] = Field(
        default_factory=list,
        description="SIP trunk providers: SIP and RTP from and to exactly their peers.",
    )
    server_counterparts: bool = Field(
        default=True,
        description=(
            "Give the SwyxWare server the inbound counterparts of client flows the document "
            "lists only from the client's side (712, 9100, 80, phone book); docs/counterparts.md."
        ),
    )
    required: list[str] = Field(
        default_factory=list,
        description="Catalog row ids whose flows must be allowed (besides the defaults).",
    )
    default_requirements: bool = Field(
        default=True,
        description="RemoteConnector: a tunnel port reachable from the internet.",
    )
    egress: Egress = Field(default_factory=Egress)
    report_azure_load_balancer: bool = Field(
        default=False, description="Report AzureLoadBalancer (168.63.129.16) access as findings."
    )
    suppressions: list[Suppression] = Field(default_factory=list)
    policy_dirs: list[str] = Field(
        default_factory=list,
        description=(
            "Folders of your own Rego policies, evaluated in every scan like --policy-dir "
            "(relative to this file's folder); docs/rego.md."
        ),
    )

    _version_input = field_validator("version", mode="before")(_version_text)

    @field_validator("internal_networks")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return [_check_cidr(v) for v in value]

    @field_validator("peer_groups")
    @classmethod
    def _groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {name: [_check_cidr(v) for v in cidrs] for name, cidrs in value.items()}

    @field_validator("role_parameters")
    @classmethod
    def _role_params(
        cls, value: dict[str, dict[str, int | str | list[int]]], info: ValidationInfo
    ) -> dict[str, dict[str, int | str | list[int]]]:
        _check_roles(list(value), info)
        return value

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Profile:
        context = info.context or {}
        params = context.get("parameters")
        versions: dict[str, tuple[VersionCondition, list[str]]] = context.get(
            "parameter_versions", {}
        )
        settings = [("parameters", name) for name in self.parameters] + [
            (f"role_parameters.{role}", name)
            for role, values in self.role_parameters.items()
            for name in values
        ]
        for where, name in settings:
            if params is not None and name not in params:
                raise ValueError(f"{where}: unknown parameter {name!r}")
            if name in versions:
                condition, others = versions[name]
                if not condition.holds(self.version):
                    use = [o for o in others if versions[o][0].holds(self.version)]
                    hint = f"; for this version set {' or '.join(use)}" if use else ""
                    raise ValueError(
                        f"{where}: {name} acts {condition.text} only, but the profile's "
                        f"version is {self.version}{hint}"
                    )
        rows = context.get("rows")
        uncertain = context.get("uncertain_rows", frozenset())
        for row_id in self.required:
            if rows is not None and row_id not in rows:
                raise ValueError(f"required: unknown catalog row {row_id!r}")
            if row_id in uncertain:
                raise ValueError(
                    f"required: catalog row {row_id!r} is uncertain (the document marks it "
                    "with '?'); uncertain flows are accepted but never required"
                )
        named = [("extra_flows", f.name, f.peers) for f in self.extra_flows] + [
            ("sip_trunks", t.name, t.peers) for t in self.sip_trunks
        ]
        for where, name, peers in named:
            for peer in peers:
                if peer not in self.peer_groups:
                    try:
                        _check_cidr(peer)
                    except ValueError:
                        raise ValueError(
                            f"{where} {name!r}: peer {peer!r} is neither a CIDR nor a peer group"
                        ) from None
        for where, names in (
            ("extra_flows", [f.name for f in self.extra_flows]),
            ("sip_trunks", [t.name for t in self.sip_trunks]),
        ):
            for i, name in enumerate(names):
                if name in names[:i]:
                    raise ValueError(f"{where}: the name {name!r} is used twice")
        return self


def validation_context(catalog: Catalog) -> dict[str, object]:
    """What the profile is checked against: the catalog's roles, parameters (with
    the version range a key acts in, and the key acting instead elsewhere), rows,
    version conditions and SIP trunk endpoints."""
    conditions = [r.version for r in catalog.rows if r.version] + [
        s.version for r in catalog.rows for s in r.target_ports if s.version
    ]
    bounded = {p.name: p.version for p in catalog.parameters if p.version}
    siblings: dict[str, set[str]] = {name: set() for name in bounded}
    for row in catalog.rows:
        named = {n for n in row.parameters if n in bounded}
        for name in named:
            siblings[name] |= named - {name}
    return {
        "roles": catalog.role_slugs,
        "parameters": {p.name for p in catalog.parameters},
        "parameter_versions": {
            name: (cond, sorted(siblings[name])) for name, cond in bounded.items()
        },
        "rows": {r.id for r in catalog.rows},
        "uncertain_rows": frozenset(r.id for r in catalog.rows if r.uncertain),
        "version_conditions": conditions,
        "trunk_roles": frozenset(e.role for e in catalog.sip_trunk_endpoints),
    }


def load_profile(path: Path | None, catalog: Catalog | None = None) -> Profile:
    """Read and validate a profile; ``None`` gives the defaults.

    This is the whole validation, for ``profile check`` and every scan alike: the
    model, and then every port the profile's parameters move, resolved for every
    catalog row, so a profile a scan would reject is never reported valid.
    """
    cat = catalog or default_catalog()
    if path is None:
        return Profile.model_validate({}, context=validation_context(cat))
    where = str(path)
    data = parse_yaml(read_text(path, "profile"), where)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: a profile must be a YAML mapping")
    try:
        profile = Profile.model_validate(data, context=validation_context(cat))
    except ValidationError as exc:
        raise InputError(f"{path}: {describe_validation_error(exc)}") from exc
    _check_moved_ports(profile, cat, where)
    # policy_dirs are relative to the profile's folder, wherever the scan runs.
    base = path.parent
    dirs = [d if Path(d).is_absolute() else str(base / d) for d in profile.policy_dirs]
    profile = profile.model_copy(update={"policy_dirs": dirs})
    profile._source = where
    return profile


#: The profile a scan uses when --profile is not given, found in the current
#: directory or else at the root of the repository it is in.
DISCOVERED_NAME = ".policycheck.yaml"


def discover_profile(start: Path | None = None) -> Path | None:
    """``.policycheck.yaml`` in ``start`` (default: the current directory), else at
    the root of the git repository ``start`` is in (the nearest ancestor holding
    ``.git``, a directory or a worktree's file); None if neither has one. Nothing
    above the repository root is looked at, so a stray file in a home directory
    never changes a scan."""
    here = (start or Path.cwd()).resolve()
    candidate = here / DISCOVERED_NAME
    if candidate.is_file():
        return candidate
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            found = directory / DISCOVERED_NAME
            return found if found.is_file() else None
    return None


def _check_moved_ports(profile: Profile, catalog: Catalog, where: str) -> None:
    """Resolve every port the profile's parameters move, as a scan would."""
    from policycheck.expected import resolve_ports  # expected.py builds on this module

    try:
        for row in catalog.rows:
            resolve_ports(row, row.target_ports, catalog, profile)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def parse_roles(text: str, catalog: Catalog) -> list[str]:
    """``'a, b c'`` to ``['a', 'b', 'c']``, refusing unknown slugs (for --roles)."""
    roles = [r for r in ROLE_SPLIT.split(text.strip()) if r]
    if not roles:
        raise InputError("--roles: no role given")
    for slug in roles:
        if slug not in catalog.role_slugs:
            raise InputError(f"--roles: unknown role slug {slug!r} (see 'policycheck roles')")
    return list(dict.fromkeys(roles))
