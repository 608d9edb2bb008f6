"""Read-only views of the catalog for the ``catalog`` and ``roles`` commands.

Views return strings so the CLI decides where they go; JSON views dump the
pydantic models as they are, so scripts see exactly the catalog's fields.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from policycheck.catalog import Catalog, CatalogPeer, CatalogRow, PortSpec, default_catalog
from policycheck.engine.intervals import IntervalSet
from policycheck.expected import Expected, ExpectedFlow
from policycheck.model import PortRange

#: Wide enough that no column of the catalog table wraps mid-port-list.
TABLE_WIDTH = 200


def catalog_json(rows: Sequence[CatalogRow]) -> str:
    """Every field of every row, so the JSON is a faithful export of the catalog."""
    payload = {
        "document": default_catalog().document,
        "count": len(rows),
        "rows": [row.model_dump(mode="json") for row in rows],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def catalog_table(rows: Sequence[CatalogRow]) -> str:
    """A human-readable table; the JSON view carries the full detail."""
    table = Table(title=f"Swyx port matrix ({len(rows)} rows)", show_lines=False)
    for header in ("id", "role", "dir", "proto/transport", "source ports", "target ports"):
        table.add_column(header, no_wrap=header in ("id", "dir"))
    for header in ("peer", "WAN", "configurable via", "flags"):
        table.add_column(header)
    for row in rows:
        table.add_row(
            row.id,
            row.role,
            row.direction + (f" ({row.mode})" if row.mode else ""),
            f"{row.protocol or '-'}/{'+'.join(row.transports)}{'+tls' if row.tls else ''}",
            format_ports(row.source_ports),
            format_ports(row.target_ports)
            if row.target_ports
            else f"those of {len(row.refers_to)} rows (refers_to)",
            format_peer(row.peer),
            "WAN" if row.wan else "",
            row.configurable_via or "",
            _flags(row),
        )
    return _render(table)


def roles_view(catalog: Catalog, fmt: str) -> str:
    """Role slugs a VM can hold, with the section and component they come from."""
    if fmt == "json":
        roles = [role.model_dump(mode="json") for role in catalog.roles]
        return json.dumps({"roles": roles}, indent=2, ensure_ascii=False) + "\n"
    table = Table(title=f"Swyx roles ({len(catalog.roles)})")
    for header in ("slug", "section", "component", "kind"):
        table.add_column(header)
    for role in catalog.roles:
        table.add_row(role.slug, role.section, role.component, role.kind)
    return _render(table)


def format_ports(specs: Sequence[PortSpec]) -> str:
    """Compact port text: ``51000-51499``, ``any``, ``9094 (SDC 9095)``,
    ``15000-16000 (=15000+2*TypicalConnections)``, ``80 (since 12.20)``."""
    return ", ".join(_format_spec(spec) for spec in specs)


def format_peer(peer: CatalogPeer) -> str:
    text = peer.host if peer.kind == "host" and peer.host else peer.kind
    return f"{text} {peer.qualifier}" if peer.qualifier else text


def _format_spec(spec: PortSpec) -> str:
    text = "any" if spec.is_any else str(spec.lo) if spec.lo == spec.hi else f"{spec.lo}-{spec.hi}"
    extras: list[str] = []
    if spec.sdc is not None:
        extras.append(f"SDC {spec.sdc}")
    if spec.formula:
        f = spec.formula
        extras.append(f"={f.base}+{f.per}*{f.param}")
    if spec.version:
        extras.append(spec.version.text)
    return f"{text} ({'; '.join(extras)})" if extras else text


def _flags(row: CatalogRow) -> str:
    flags: list[str] = []
    if row.uncertain:
        flags.append("?")
    if row.version:
        flags.append(row.version.text)
    if row.wan_inferred:
        flags.append("WAN inferred")
    if row.target_role:
        flags.append(f"target: {row.target_role}")
    if row.notes:
        flags.append(f"{len(row.notes)} note{'s' if len(row.notes) > 1 else ''}")
    return " ".join(flags)


def _render(table: Table) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=TABLE_WIDTH, no_color=True, highlight=False).print(table)
    return buffer.getvalue()


_PEER_WORDS = {
    "internet": "internet",
    "internal": "internal networks",
    "ippbxsrv": "SwyxWare server (IpPbxSrv)",
    "remote-connector": "RemoteConnector",
    "loopback": "none: stays on the VM, no rule needed",
    "group": "profile peers",
    "trunk": "SIP trunk",
}
_PEER_ORDER = {
    "internet": 0,
    "internal": 1,
    "ippbxsrv": 2,
    "remote-connector": 3,
    "trunk": 4,
    "group": 5,
    "loopback": 6,
}


def expected_view(expected: Expected, fmt: str) -> str:
    """The flows a VM's firewall must permit, merged per direction, protocol, peers
    and markers; every peer set is shown as its CIDRs."""
    if fmt == "json":
        return json.dumps(expected.model_dump(mode="json"), indent=2) + "\n"
    merged: dict[tuple[str, str, str, tuple[str, ...], str], tuple[list[PortRange], list[str]]] = {}
    for flow in expected.flows:
        key = (flow.direction, flow.peer, flow.protocol, flow.peers, _markers(flow))
        ports, rows = merged.setdefault(key, ([], []))
        ports.extend(flow.ports)
        rows.extend(flow.rows)
    table = Table(title=f"Expected flows for {', '.join(expected.roles)}")
    for column in ("direction", "protocol", "ports", "peers", "catalog rows", "marks"):
        table.add_column(column)
    for (direction, peer, protocol, peers, marks), (ports, rows) in sorted(
        merged.items(), key=lambda kv: (kv[0][0], _PEER_ORDER[kv[0][1]], kv[0][2], kv[0][4])
    ):
        words = _PEER_WORDS[peer]
        if peers:
            words = f"{words}: {', '.join(peers)}"
        table.add_row(
            direction, protocol, _port_list(ports), words, ", ".join(dict.fromkeys(rows)), marks
        )
    out = _render(table)
    legend = _legend(expected)
    if legend:
        out += legend
    for req in expected.requirements:
        alternatives = " or ".join(_port_list(list(alt)) for alt in req.alternatives)
        row_ids = ", ".join(req.rows)
        out += f"required: {req.description}: {req.protocol} {alternatives} ({row_ids})\n"
    return out


def _markers(flow: ExpectedFlow) -> str:
    marks: list[str] = []
    if flow.version:
        marks.append(flow.version)
    for a in flow.assumed:
        marks.append(f"assumed {a.parameter}={a.value}")
    if flow.uncertain:
        marks.append("uncertain (?)")
    if flow.derived == "server_counterpart":
        marks.append("counterpart")
    return "; ".join(marks)


def _legend(expected: Expected) -> str:
    """One line per marker kind in use, saying what it means and what to do."""
    lines: list[str] = []
    assumed = {(a.parameter, str(a.value), a.role) for f in expected.flows for a in f.assumed}
    for parameter, value, role in sorted(assumed):
        lines.append(
            f"assumed: {parameter}={value} is this catalog's default (the document gives "
            f"none); set parameters.{parameter} or role_parameters.{role}.{parameter}\n"
        )
    if any(f.uncertain for f in expected.flows):
        lines.append(
            "uncertain: the document marks these rows with '?'; accepted, never required\n"
        )
    if any(f.derived == "server_counterpart" for f in expected.flows):
        lines.append(
            "counterpart: the server side of a client flow the document lists only from "
            "the client (docs/counterparts.md; profile server_counterparts: false turns it off)\n"
        )
    return "".join(lines)


def _port_list(ports: Sequence[PortRange]) -> str:
    spans = IntervalSet((p.lo, p.hi) for p in ports)
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in spans)
