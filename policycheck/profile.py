"""The deployment profile: what a hosting provider tells policycheck about its estate.

Every field is optional; no profile at all means the defaults below. The profile
is validated strictly (unknown keys, bad CIDRs, unknown role slugs and
suppressions without expiry are errors) because a typo in an audit profile must
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
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from policycheck.catalog import Catalog, default_catalog
from policycheck.errors import InputError
from policycheck.inputs import describe_validation_error, parse_yaml, read_text
from policycheck.model import normalize_protocol

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
DEFAULT_VERSION = "14.0"
ROLE_SPLIT = re.compile(r"[\s,]+")


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

    name: str
    justification: Annotated[str, Field(min_length=3)]
    direction: Literal["inbound", "outbound"] = "inbound"
    protocol: str
    ports: list[str] = Field(default_factory=lambda: ["0-65535"])
    peers: Annotated[list[str], Field(min_length=1)] = Field(
        description="CIDRs or peer group names."
    )
    roles: list[str] | None = Field(
        default=None, description="Only VMs holding one of these roles (default: all VMs)."
    )

    _roles = field_validator("roles")(lambda v, info: None if v is None else _check_roles(v, info))

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        return normalize_protocol(value)

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: list[str]) -> list[str]:
        from policycheck.model import PortRange

        for text in value:
            try:
                PortRange.parse(text)
            except ValueError as exc:
                raise ValueError(f"invalid port or range {text!r}") from exc
        return value


class Suppression(_Strict):
    """Accept a finding until a date. Expired suppressions stop applying."""

    reason: Annotated[str, Field(min_length=3)]
    expires: dt.date
    rule: str | None = Field(default=None, pattern=r"^SWYX00[1-7]$")
    vm: str | None = Field(default=None, description="Glob on VM name or id.")
    resource: str | None = Field(
        default=None, description="Glob on the responsible resource address or cloud id."
    )
    ports: str | None = Field(default=None, description="Only findings touching this port/range.")


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

    version: Annotated[str, Field(pattern=r"^\d+(\.\d+)*$")] = Field(
        default=DEFAULT_VERSION, description="SwyxWare version, for version-bound flows."
    )
    sdc: bool = Field(default=False, description="Swyx Deployment Center: CDS on 9095.")
    internal_networks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INTERNAL_NETWORKS),
        description="Where 'Any IP' without WAN access may come from.",
    )
    peer_groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description=f"Named CIDR lists; '{IPPBXSRV_GROUP}' names the SwyxWare server.",
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
        if params is not None:
            for name in [*self.parameters, *(k for p in self.role_parameters.values() for k in p)]:
                if name not in params:
                    raise ValueError(f"parameters: unknown parameter {name!r}")
        rows = context.get("rows")
        if rows is not None:
            for row_id in self.required:
                if row_id not in rows:
                    raise ValueError(f"required: unknown catalog row {row_id!r}")
        for flow in self.extra_flows:
            for peer in flow.peers:
                if peer not in self.peer_groups:
                    try:
                        _check_cidr(peer)
                    except ValueError:
                        raise ValueError(
                            f"extra_flows {flow.name!r}: peer {peer!r} is neither a CIDR "
                            "nor a peer group"
                        ) from None
        return self


def validation_context(catalog: Catalog) -> dict[str, object]:
    return {
        "roles": catalog.role_slugs,
        "parameters": {p.name for p in catalog.parameters},
        "rows": {r.id for r in catalog.rows},
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
    _check_ports(profile, cat, where)
    return profile


def _check_ports(profile: Profile, catalog: Catalog, where: str) -> None:
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
