"""``policycheck profile init``: a commented starter profile that ``profile check`` accepts.

Each section is a key with its active value (the default, so the file means what
no profile means) and, where a section is a list or mapping a user fills in, a
commented example. ``starter_profile(..., examples=True)`` renders the examples
active instead, so the tests can prove every example is valid too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from policycheck.catalog import SERVER_ROLE, Catalog
from policycheck.profile import (
    DEFAULT_INTERNAL_NETWORKS,
    DEFAULT_VERSION,
    IPPBXSRV_GROUP,
    REMOTE_CONNECTOR_GROUP,
)

#: How long the example suppression lasts: suppressions must expire.
EXAMPLE_SUPPRESSION_DAYS = 90


@dataclass(frozen=True)
class _Section:
    key: str
    comment: str
    value: Any
    example: Any = None


def starter_profile(
    catalog: Catalog,
    roles: Sequence[str] = (),
    *,
    examples: bool = False,
    today: dt.date | None = None,
) -> str:
    """The starter profile's YAML text, for VMs holding ``roles`` (may be empty)."""
    lines = [
        "# policycheck deployment profile (SwyxWare port matrix).",
        "# Every key is optional; the active values below are the defaults.",
        "# Check it:  policycheck profile check FILE    All keys:  policycheck profile schema",
        "# See what a VM must allow:  policycheck expected --roles ROLES --profile FILE",
        "",
    ]
    for section in _sections(catalog, roles, today or dt.date.today()):
        lines.extend(f"# {line}" if line else "#" for line in section.comment.splitlines())
        value = section.example if examples and section.example is not None else section.value
        lines.extend(_entry(section.key, value))
        if section.example is not None and not examples:
            example = _entry(section.key, section.example)
            # A one-line example is the whole entry; else the lines under the key.
            lines.extend(f"# {line}" for line in (example if len(example) == 1 else example[1:]))
        lines.append("")
    return "\n".join(lines)


def _entry(key: str, value: Any) -> list[str]:
    """``key: value`` in block style, short lists of scalars in flow style; an empty
    or scalar value stays on the key's line."""
    if not isinstance(value, (list, dict)) or not value:
        return [f"{key}: {_flow(value)}"]
    items = value if isinstance(value, list) else list(value.values())
    if all(not isinstance(v, (list, dict)) for v in items):
        return [f"{key}: {_flow(value)}"]
    body = yaml.safe_dump(value, sort_keys=False, default_flow_style=None, width=100)
    return [f"{key}:", *(f"  {line}" for line in body.splitlines())]


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000)
    return text.removesuffix("\n...\n").strip()


def _sections(catalog: Catalog, roles: Sequence[str], today: dt.date) -> list[_Section]:
    role_list = list(dict.fromkeys(roles))
    server = SERVER_ROLE in role_list or not role_list
    return [
        _Section(
            "version",
            "SwyxWare version: selects version-bound flows (phone book LDAP 389 before\n"
            "12.30, LDAPS 636 since; RemoteConnector forwarding of 80 since 12.20).\n"
            'Quote it: "12.30" and 12.3 are different releases.',
            DEFAULT_VERSION,
        ),
        _Section("sdc", "Swyx Deployment Center: CDS listens on 9095 instead of 9094.", False),
        _Section(
            "internal_networks",
            "Where the document's 'Any IP' flows without WAN access may come from.",
            list(DEFAULT_INTERNAL_NETWORKS),
        ),
        _Section(
            "peer_groups",
            f"Named address lists. {IPPBXSRV_GROUP}: the SwyxWare server and "
            f"{REMOTE_CONNECTOR_GROUP}: the\nRemoteConnector, when they are not VMs "
            "of the scan; any other name is yours.",
            {},
            {
                IPPBXSRV_GROUP: ["10.0.1.10"],
                "admin-jump": ["198.51.100.10/32"],
                "carrier": ["203.0.113.0/24"],
            },
        ),
        _Section(
            "role_assignments",
            "Roles of VMs that carry no swyx-roles / swyx-role-<slug> tag (globs on the\n"
            "VM name, cloud id or Terraform address). Slugs: policycheck roles",
            [],
            [{"match": {"name": "pbx-*"}, "roles": role_list or [SERVER_ROLE, "cds"]}],
        ),
        *_parameter_sections(catalog, role_list),
        _Section(
            "sip_trunks",
            "SIP trunk providers: SIP signalling and the terminating role's current RTP\n"
            "range from and to exactly these peers (CIDRs or peer groups).",
            [],
            [
                {
                    "name": "carrier",
                    "peers": ["carrier"],
                    "transports": ["udp", "tcp"],
                    "role": SERVER_ROLE if server else "linkmanager",
                }
            ],
        ),
        _Section(
            "server_counterparts",
            "The server accepts what clients send it but the document lists only from\n"
            "the client's side (712, 9100, 80, phone book): docs/counterparts.md.",
            True,
        ),
        _Section(
            "extra_flows",
            "Flows the matrix does not document but this deployment needs; each with a\n"
            "justification.",
            [],
            [
                {
                    "name": "rdp-admin",
                    "justification": "RDP from the admin jump host",
                    "protocol": "tcp",
                    "ports": [3389],
                    "peers": ["admin-jump"],
                }
            ],
        ),
        _Section(
            "required",
            "Catalog rows whose flows must be allowed (SWYX003 when blocked), besides the\n"
            "RemoteConnector's tunnel. Row ids: policycheck catalog",
            [],
            ["1.1/inbound/1"] if server else None,
        ),
        _Section(
            "egress",
            "SWYX004 for egress beyond the roles' outbound flows: off, protocols, ports.",
            {"strictness": "protocols", "level": "note"},
        ),
        _Section(
            "suppressions",
            "Accept a finding until a date (reason and expires are mandatory).",
            [],
            [
                {
                    "rule": "SWYX001",
                    "vm": "legacy-*",
                    "reason": "migration ticket OPS-12",
                    "expires": today + dt.timedelta(days=EXAMPLE_SUPPRESSION_DAYS),
                }
            ],
        ),
    ]


def _parameter_sections(catalog: Catalog, roles: Sequence[str]) -> list[_Section]:
    """``parameters`` and ``role_parameters``; with roles, every parameter their rows
    use, at its documented default (assumed ones flagged), as the example."""
    used: dict[str, dict[str, Any]] = {}
    assumed: list[str] = []
    for role in roles:
        for row in catalog.rows_for([role]):
            for name in row.parameters:
                param = catalog.parameter(name)
                if param.version is not None and param.version.op == "<":
                    continue  # keys of old versions only: the starter is for DEFAULT_VERSION
                used.setdefault(role, {})[name] = _default(catalog, role, name)
                if param.assumed and name not in assumed:
                    assumed.append(name)
    note = ""
    if assumed:
        note = (
            f"\nSet {', '.join(assumed)}: the document gives no default, the catalog "
            "assumes one\nand marks the flows it sizes as assumed."
        )
    return [
        _Section(
            "parameters",
            "Registry/config keys that move ports, for every role using them\n"
            "(e.g. RTPFirstPort / RTPLastPort for the server's RTP range).",
            {},
            {"RTPFirstPort": 40000, "RTPLastPort": 40499} if not roles else None,
        ),
        _Section(
            "role_parameters",
            "Keys for one role; they win over parameters. Shown: the documented defaults"
            + (" of the roles' keys." if used else ".")
            + note,
            {},
            used or None,
        ),
    ]


def _default(catalog: Catalog, role: str, name: str) -> Any:
    """The default as this role's rows document it (the same key has different
    defaults in different components), else the parameter's catalog default."""
    for row in catalog.rows_for([role]):
        for spec in [*row.source_ports, *row.target_ports]:
            if spec.lo_param == name:
                return spec.lo
            if spec.hi_param == name:
                return spec.hi
    return catalog.parameter(name).default
