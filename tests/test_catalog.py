"""The catalog against the vendor document it encodes.

Completeness is proven by re-reading the document with a small parser that is
independent of the catalog: every table row must appear, in order, with the same
verbatim cells. The normalized fields are spot-checked by hand from the document.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import run_policycheck

from policycheck import views
from policycheck.catalog import CATALOG_PATH, Catalog, CatalogRow, load_catalog
from policycheck.errors import InputError

REPO = Path(__file__).resolve().parent.parent
#: The vendor's port matrix, vendored so the suite runs from any clone; the
#: shared original (next to the checkout) is compared with it when present.
DOCUMENT = REPO / "fixtures" / "spec" / "swyx-port-matrix.txt"
SHARED_DOCUMENT = REPO.parent / "shared" / "spec" / "swyx-port-matrix.txt"

SOURCE_HEADERS = {"Port (source)", "Port(source)", "Port (Source)", "Source Port"}
TARGET_HEADERS = {"Port (target)", "Port(target)", "Port (Target)", "Target Port", "Port"}


@dataclass(frozen=True)
class DocRow:
    section: str
    direction: str
    cells: dict[str, str]

    def cell(self, headers: set[str]) -> str:
        """The cell under whichever header spelling this table uses, or ""."""
        return next((v for k, v in self.cells.items() if k in headers), "")


def parse_document(text: str) -> list[DocRow]:
    rows: list[DocRow] = []
    section = direction = ""
    header: list[str] = []
    for line in text.splitlines():
        if m := re.match(r"^(1\.\d+(?:\.\d+)?) ", line):
            section, direction = m.group(1), ""
        elif line in ("Outbound", "Inbound"):
            direction = line.lower()
        elif line.startswith("Mutual"):
            direction = "mutual"
        elif "\t" in line:
            cells = line.split("\t")
            if cells[0] == "Classification":
                header = cells
            else:
                assert section and direction, f"row outside a section/direction: {line!r}"
                rows.append(DocRow(section, direction, dict(zip(header, cells, strict=True))))
    return rows


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def doc_rows() -> list[DocRow]:
    if not DOCUMENT.exists():
        pytest.fail(f"vendor document not found at {DOCUMENT}")
    return parse_document(DOCUMENT.read_text(encoding="utf-8"))


def by_id(catalog: Catalog) -> dict[str, CatalogRow]:
    return {row.id: row for row in catalog.rows}


# ------------------------------------------------------------------ completeness


def test_document_has_220_rows_and_catalog_too(doc_rows: list[DocRow], catalog: Catalog) -> None:
    assert len(doc_rows) == 220
    assert len(catalog.rows) == 220
    assert catalog.document == DOCUMENT.name


def test_rows_per_section_and_direction_match(doc_rows: list[DocRow], catalog: Catalog) -> None:
    doc_counts = Counter((r.section, r.direction) for r in doc_rows)
    cat_counts = Counter((r.section, r.direction) for r in catalog.rows)
    assert cat_counts == doc_counts
    assert len({s for s, _ in doc_counts}) == 34


def test_every_row_matches_the_document_in_order(doc_rows: list[DocRow], catalog: Catalog) -> None:
    # Catalog rows grouped per (section, direction) in id order must line up with
    # the document's rows of that group in document order.
    def groups(rows: list[Any], key: Callable[[Any], tuple[str, str]]) -> dict[Any, list[Any]]:
        out: dict[Any, list[Any]] = {}
        for row in rows:
            out.setdefault(key(row), []).append(row)
        return out

    cat_groups = groups(catalog.rows, lambda r: (r.section, r.direction))
    for key, doc_group in groups(doc_rows, lambda r: (r.section, r.direction)).items():
        cat_group = sorted(cat_groups[key], key=lambda r: int(r.id.rsplit("/", 1)[1]))
        assert [int(r.id.rsplit("/", 1)[1]) for r in cat_group] == list(
            range(1, len(cat_group) + 1)
        ), f"{key}: ids are not 1..n"
        for doc, row in zip(doc_group, cat_group, strict=True):
            got = (row.transport, row.source, row.target, row.classification, row.protocol)
            want = (
                doc.cells["Type"],
                doc.cell(SOURCE_HEADERS),
                doc.cell(TARGET_HEADERS),
                doc.cells["Classification"] or None,
                doc.cells["Protocol"] or None,
            )
            assert got == want, row.id


def test_catalog_rows_are_in_document_order(doc_rows: list[DocRow], catalog: Catalog) -> None:
    assert [(r.section, r.direction) for r in catalog.rows] == [
        (r.section, r.direction) for r in doc_rows
    ]


def test_roles_cover_every_section_once(catalog: Catalog, doc_rows: list[DocRow]) -> None:
    sections = {r.section: r.slug for r in catalog.roles}
    assert len(sections) == len(catalog.roles) == 34
    assert set(sections) == {r.section for r in doc_rows}
    for row in catalog.rows:
        assert row.role == sections[row.section], row.id


def test_mode_only_for_swyxmobile(catalog: Catalog) -> None:
    for row in catalog.rows:
        assert (row.mode is not None) == (row.section in ("1.22", "1.23")), row.id
    modes = [(r.id, r.mode) for r in catalog.rows if r.section == "1.22"]
    assert [i for i, m in modes if m == "external"] == [
        "1.22/outbound/7",
        "1.22/outbound/8",
        "1.22/outbound/9",
    ]


def test_uncertain_exactly_where_the_document_writes_a_question_mark(catalog: Catalog) -> None:
    flagged = {r.id for r in catalog.rows if r.uncertain}
    marked = {r.id for r in catalog.rows if "?" in r.source + r.target}
    assert flagged == marked
    assert {r.split("/")[0] for r in flagged} == {"1.27", "1.28", "1.28.2"}


def test_wan_where_the_document_says_wan_access_or_names_a_public_host(
    doc_rows: list[DocRow], catalog: Catalog
) -> None:
    doc_wan = ["WAN access" in doc.cells.values() for doc in doc_rows]
    assert [r.wan and not r.wan_inferred for r in catalog.rows] == doc_wan
    # The inferred ones: named public hosts in tables without a Comment column
    # (1.15 and 1.16), read like every other named host of the document.
    inferred = {r.id for r in catalog.rows if r.wan_inferred}
    no_comment_hosts = {
        row.id
        for row, doc in zip(catalog.rows, doc_rows, strict=True)
        if row.peer.kind == "host" and "Comment" not in doc.cells
    }
    assert inferred == no_comment_hosts
    assert inferred == {"1.15/outbound/2", "1.15/outbound/3", "1.15/outbound/4", "1.16/outbound/1"}
    assert all(r.wan for r in catalog.rows if r.peer.kind == "host")


def test_parameters_declared_used_and_listed(catalog: Catalog) -> None:
    declared = {p.name for p in catalog.parameters}
    used: set[str] = set()
    for row in catalog.rows:
        named = set()
        for spec in [*row.source_ports, *row.target_ports]:
            named |= {n for n in (spec.lo_param, spec.hi_param, spec.param) if n}
            if spec.formula:
                named.add(spec.formula.param)
        assert named <= set(row.parameters), row.id
        used |= set(row.parameters)
    assert used == declared
    assert catalog.parameter("TypicalConnections").default == 500
    assert catalog.parameter("Channels").default == 30
    assert catalog.parameter("TunnelListeningPorts").default == [16203, 57203]


# ------------------------------------------------------------------- spot checks

ANY = {"lo": 0, "hi": 65535}


def p(lo: int, hi: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"lo": lo, "hi": lo if hi is None else hi, **extra}


def pair(lo: int, hi: int, lo_param: str, hi_param: str) -> dict[str, Any]:
    return p(lo, hi, lo_param=lo_param, hi_param=hi_param)


def host(name: str) -> dict[str, Any]:
    return {"kind": "host", "host": name}


IPPBX = {"kind": "ippbxsrv"}
ANYPEER = {"kind": "any"}
UNSPEC = {"kind": "unspecified"}
SINCE_1220 = {"op": ">=", "version": "12.20", "text": "since 12.20"}
UNTIL_1220 = {"op": "<", "version": "12.20", "text": "until 12.20"}
CONNECTIONS = {"base": 15000, "per": 2, "param": "TypicalConnections"}
CHANNELS = {"base": 6000, "per": 10, "param": "Channels"}
CLIENTS = {"kind": "any", "qualifier": "(IpPbxSrv, RemoteConnector, Clients)"}

# Written from the document, not from the catalog. Fields not named are not checked.
SPOT: dict[str, dict[str, Any]] = {
    "1.1/outbound/1": {"target_ports": [p(9094, sdc=9095)], "peer": UNSPEC},
    "1.1/outbound/3": {"protocol": "IMAP", "target_ports": [ANY], "peer": ANYPEER, "wan": True},
    "1.1/outbound/6": {"transports": ["udp"], "source_ports": [p(5060)], "peer": ANYPEER},
    "1.1/outbound/8": {"target_ports": [p(443)], "peer": host("cpe.swyx.com"), "wan": True},
    "1.1/inbound/3": {
        "transports": ["udp"],
        "source_ports": [ANY],
        "target_ports": [pair(51000, 51499, "RTPFirstPort", "RTPLastPort")],
        "parameters": ["RTPFirstPort", "RTPLastPort"],
        "peer": ANYPEER,
        "wan": False,
    },
    "1.1/inbound/4": {"target_ports": [p(9093)], "wan": True},
    "1.2/outbound/1": {
        "target_ports": [p(443)],
        "peer": host("license.swyx.com"),
        "wan": True,
        "configurable_via": "SwyxFlex, SwyxPerpetual, Instant Messaging, SwyxMeeting",
        "parameters": [],
    },
    "1.2/inbound/1": {"target_ports": [p(9094, sdc=9095)], "peer": ANYPEER},
    "1.2/inbound/3": {"target_ports": [p(9101)], "wan": True},
    "1.3/outbound/1": {"target_ports": [p(9094, sdc=9095)], "peer": IPPBX},
    "1.3/outbound/3": {
        "protocol": "RTP/T.38",
        "source_ports": [pair(52000, 52499, "RtpPortRangeStart", "RtpPortRangeEnd")],
    },
    "1.3/inbound/1": {
        "target_ports": [pair(5064, 5064, "LowerBoundSipPort", "UpperBoundSipPort")],
        "peer": IPPBX,
    },
    "1.4/outbound/3": {
        "transports": ["udp"],
        "source_ports": [p(65001, param="TcpPortOfLocalSipEndpoint")],
        "target_ports": [p(5060)],
        "peer": IPPBX,
    },
    "1.4/outbound/4": {"transports": ["tcp"], "tls": True, "wan": True, "target_ports": [ANY]},
    "1.4/outbound/6": {
        "protocol": "STUN Message",
        "source_ports": [p(65002, param="TcpPortOfRemoteSipEndpoint")],
        "target_ports": [p(3478)],
        "wan": True,
    },
    "1.4/inbound/2": {
        "source_ports": [p(5060)],
        "target_ports": [p(65001, param="TcpPortOfLocalSipEndpoint")],
    },
    "1.4/inbound/6": {
        "target_ports": [pair(55000, 56000, "LowerBoundMediaPortUdp", "UpperBoundMediaPortUdp")],
        "wan": True,
    },
    "1.5/outbound/3": {
        "source_ports": [pair(56000, 57000, "LowerBoundMediaPortUdp", "UpperBoundMediaPortUdp")],
        "wan": False,
    },
    "1.5/inbound/1": {"target_ports": [pair(5062, 5062, "LowerBoundSipPort", "UpperBoundSipPort")]},
    "1.6/inbound/1": {
        "protocol": "CorNet TC",
        "transports": ["tcp"],
        "tls": True,
        "target_ports": [p(4060), p(4061)],
    },
    "1.6/inbound/2": {
        "protocol": "H.323",
        "target_ports": [p(1300), p(1720), p(1721)],
        "version": {"op": "<", "version": "12.0", "text": "< 12.0"},
    },
    "1.6/inbound/3": {"target_ports": [p(65007, param="SipCallSignalingPort")], "peer": IPPBX},
    "1.7/outbound/5": {"source_ports": [pair(2000, 8000, "T38PortRangeStart", "T38PortRangeEnd")]},
    "1.7/inbound/1": {
        "target_ports": [pair(61000, 61000, "LowerBoundSipPort", "UpperBoundSipPort")]
    },
    "1.8/outbound/1": {"target_ports": [p(9094, sdc=9095)], "peer": IPPBX},
    "1.9/inbound/2": {
        "transports": ["udp"],
        "source_ports": [p(5060)],
        "target_ports": [p(5070, 5170, param="SipListenerPort")],
    },
    "1.10/outbound/1": {"target_ports": [p(443)], "peer": host("api.push.apple.com"), "wan": True},
    "1.10/outbound/2": {"target_ports": [p(443)], "peer": host("fcm.googleapis.com"), "wan": True},
    "1.10/outbound/4": {"source_ports": [p(5096, param="BindPort")], "peer": CLIENTS},
    "1.10/inbound/2": {"target_ports": [p(5096, param="BindPort")], "peer": CLIENTS},
    "1.11/outbound/3": {
        "source_ports": [p(10000, 15000)],
        "target_ports": [p(5060), p(5096)],
        "peer": IPPBX,
    },
    "1.11/outbound/4": {
        "source_ports": [p(15000, 16000, formula=CONNECTIONS)],
        "parameters": ["TypicalConnections"],
    },
    # Targets 'IpPbxSrv IP:712 IpPbxSrv IP:9100 IpPbxSrv IP:80'; keys 'Until 12.20:
    # Registry: TcpForwardingPorts Since 12.20: Registry: TcpForwarding'.
    "1.11/outbound/5": {
        "protocol": None,
        "transports": ["tcp"],
        "source_ports": [ANY],
        "target_ports": [
            p(712, param="TcpForwardingPorts", version=UNTIL_1220),
            p(9100, param="TcpForwardingPorts", version=UNTIL_1220),
            p(712, param="TcpForwarding", version=SINCE_1220),
            p(9100, param="TcpForwarding", version=SINCE_1220),
            p(80, param="TcpForwarding", version=SINCE_1220),
        ],
        "peer": IPPBX,
        "parameters": ["TcpForwardingPorts", "TcpForwarding"],
    },
    "1.11/inbound/1": {
        "transports": ["tcp"],
        "target_ports": [
            p(16203, param="TunnelListeningPorts"),
            p(57203, param="TunnelListeningPorts"),
        ],
        "peer": ANYPEER,
        "wan": True,
    },
    "1.11/inbound/4": {"target_ports": [p(15000, 16000, formula=CONNECTIONS)]},
    "1.12/outbound/3": {"source_ports": [p(65009, param="SipCallSignalingPort")]},
    "1.13/inbound/1": {"target_ports": [p(65012, param="Port")], "peer": ANYPEER},
    "1.14/outbound/6": {
        "transports": ["tcp", "udp"],
        "target_ports": [p(712)],
        "target_role": "swyxware-server",
    },
    "1.14/outbound/7": {"target_ports": [p(16203), p(57203)], "wan": True, "parameters": []},
    "1.14/inbound/1": {"target_ports": [p(5070, 5170, param="SIPListenerPort")]},
    "1.14/inbound/4": {"transports": ["udp"], "target_ports": [ANY]},
    "1.15/outbound/1": {"target_ports": [p(9100)], "target_role": "swyxware-server"},
    "1.15/outbound/2": {
        "peer": host("swyx-im-security.k8s.ispworks.nl"),
        "target_ports": [p(443)],
        "wan": True,
    },
    "1.15/outbound/3": {"protocol": "WSS", "peer": host("iam.voipoperator.eu"), "wan": True},
    "1.15/outbound/4": {
        "peer": host("iamfile.voipoperator.eu"),
        "target_ports": [p(4006)],
        "wan": True,
    },
    "1.15/outbound/5": {"peer": {"kind": "localhost"}, "target_ports": [ANY]},
    "1.16/outbound/1": {
        "peer": host("msteams-app.swyx.com"),
        "target_ports": [p(443)],
        "wan": True,
    },
    "1.16/outbound/2": {
        "peer": {"kind": "localhost"},
        "target_ports": [p(x) for x in (12042, 17042, 22042, 27042, 32042, 37042, 42042)],
    },
    "1.17/outbound/1": {"target_ports": [p(9094)], "peer": IPPBX},
    "1.18/outbound/2": {"peer": host("acme-v02.api.letsencrypt.org"), "wan": True},
    "1.19/outbound/1": {"peer": host("bits.swyx.com"), "target_ports": [p(443)], "wan": True},
    "1.20/outbound/2": {"version": None, "tls": True, "target_ports": [p(1300), p(1720), p(1721)]},
    "1.20/outbound/4": {"peer": ANYPEER, "target_ports": [p(21)], "wan": True},
    "1.20/outbound/5": {"peer": UNSPEC, "target_ports": [p(123)], "transports": ["udp"]},
    "1.20/inbound/2": {"transports": ["tcp"], "tls": True, "target_ports": [p(443)]},
    "1.21/outbound/1": {"comment": "configurable via WebInterface", "wan": False},
    "1.21/outbound/2": {
        "protocol": "LDAP",
        "target_ports": [p(389)],
        "version": {"op": "<", "version": "12.30", "text": "< SwyxWare v12.30"},
    },
    "1.21/outbound/3": {
        "protocol": "LDAPS",
        "tls": True,
        "target_ports": [p(636)],
        "version": {"op": ">=", "version": "12.30", "text": ">= SwyxWare v12.30"},
    },
    "1.21/outbound/5": {"transports": ["tcp", "udp"], "source_ports": [ANY]},
    "1.21/outbound/7": {"source_ports": [ANY], "target_ports": [p(80)], "peer": ANYPEER},
    "1.22/outbound/5": {"mode": "internal", "source_ports": [p(5070)]},
    "1.22/outbound/7": {"mode": "external", "target_ports": [p(9101)], "wan": True},
    "1.22/outbound/8": {
        "mode": "external",
        "target_ports": [p(16203), p(57203), p(443)],
        "comment": "all three ports are tried at the same time and the first successful"
        " connect wins.",
    },
    "1.22/inbound/3": {"mode": "internal", "target_ports": [p(50000, 50999)]},
    "1.23/outbound/4": {"transports": ["tcp", "udp"], "target_ports": [p(5060)], "peer": IPPBX},
    "1.23/inbound/1": {"target_ports": [ANY], "peer": IPPBX},
    "1.24/outbound/2": {"source_ports": [p(5060)], "configurable_via": "WebInterface"},
    "1.25/outbound/2": {
        "version": {"op": "<", "version": "12.30", "text": "< SwyxWare v12.30"},
        "configurable_via": None,
    },
    "1.25/outbound/6": {"peer": ANYPEER, "target_ports": [p(80)], "wan": True},
    "1.25/inbound/1": {"target_ports": [p(2048, 65535)], "peer": IPPBX},
    "1.25/mutual/1": {"protocol": "H323", "transports": ["tcp"], "target_ports": [p(726, 1727)]},
    "1.25/mutual/2": {"transports": ["udp"], "target_ports": [p(1718, 1719)]},
    "1.25/mutual/3": {"protocol": "RTP", "target_ports": [p(16384, 65535)]},
    "1.25/mutual/4": {"protocol": "HTTP", "target_ports": [p(8080)]},
    "1.26/outbound/2": {"source_ports": [ANY], "target_ports": [p(5060)]},
    "1.27/outbound/1": {"uncertain": True, "source_ports": [p(5060)]},
    "1.27/outbound/2": {"uncertain": False, "source_ports": [p(5060)]},
    "1.27/outbound/5": {
        "protocol": None,
        "transports": ["tcp", "udp"],
        "source_ports": [p(53248, 57343)],
        "peer": {"kind": "unknown"},
        "uncertain": True,
    },
    "1.27/inbound/4": {
        "target_ports": [p(3072, 19455)],
        "peer": {"kind": "unknown"},
        "uncertain": True,
    },
    "1.28/outbound/1": {"source_ports": [p(5061), p(5081)], "uncertain": True},
    "1.28/inbound/2": {"target_ports": [p(5060), p(5080)], "uncertain": False},
    "1.28/inbound/3": {
        "target_ports": [p(6000, 6300, formula=CHANNELS)],
        "parameters": ["Channels"],
    },
    "1.28.2/outbound/2": {"source_ports": [p(5060, param="LocalSIPPort")]},
    "1.28.2/outbound/3": {
        "source_ports": [p(6000, 6300, lo_param="BaseUDPPort", formula=CHANNELS)],
        "parameters": ["BaseUDPPort", "Channels"],
    },
    "1.28.2/inbound/1": {"target_ports": [p(5061, param="LocalSIPPort")], "uncertain": True},
    "1.29/inbound/1": {"target_ports": [p(80)], "peer": ANYPEER},
    "1.30/inbound/1": {
        "source": "",
        "target": "9443",
        "source_ports": [ANY],
        "target_ports": [p(9443)],
        "peer": UNSPEC,
        "configurable_via": "SCC Installer / IIS",
    },
    "1.31/outbound/2": {"target_ports": [p(9101)], "peer": UNSPEC},
    "1.32/inbound/1": {"source": "", "target_ports": [p(5000)], "peer": UNSPEC},
    "1.32/outbound/2": {"transports": ["tcp", "udp"], "target_ports": []},
    "1.33/outbound/1": {
        "classification": None,
        "peer": host("graph.microsoft.com"),
        "wan": True,
    },
    "1.33/outbound/2": {"peer": host("login.microsoftonline.com"), "target_ports": [p(443)]},
}

_DEFAULTS = {"tls": False, "wan": False, "uncertain": False, "parameters": [], "refers_to": []}


@pytest.mark.parametrize("row_id", sorted(SPOT))
def test_spot_check(catalog: Catalog, row_id: str) -> None:
    dumped = by_id(catalog)[row_id].model_dump(mode="json", exclude_none=True)
    for field, want in SPOT[row_id].items():
        assert dumped.get(field, _DEFAULTS.get(field)) == want, f"{row_id}.{field}"


def test_enough_spot_checks() -> None:
    assert len(SPOT) >= 40


# -------------------------------------------------------------------- corrections
# Readings of the document that an earlier catalog got wrong or weaker than the
# document supports (issue 11). Each test cites the section and the cells.


def _doc_row(doc_rows: list[DocRow], catalog: Catalog, row_id: str) -> DocRow:
    index = [r.id for r in catalog.rows].index(row_id)
    return doc_rows[index]


def _ports_in(cell: str) -> set[int]:
    return {int(n) for n in re.findall(r"IpPbxSrv IP:(\d+)", cell)}


def test_1_11_tcp_forwarding_targets_are_the_three_target_cells(
    doc_rows: list[DocRow], catalog: Catalog
) -> None:
    """1.11 Remote Connector, outbound '"TCP Forwarding"': Port (target) is
    'IpPbxSrv IP:712 IpPbxSrv IP:9100 IpPbxSrv IP:80'; the source cell
    'Until 12.20: 712,9100 Since 12.20: 712,9100,9980 80' is the registry value,
    in which 9980 is a local port forwarded to 80."""
    doc = _doc_row(doc_rows, catalog, "1.11/outbound/5")
    assert doc.cells["Classification"] == '"TCP Forwarding"'
    targets = _ports_in(doc.cell(TARGET_HEADERS))
    assert targets == {712, 9100, 80}
    assert "9980" in doc.cell(SOURCE_HEADERS)
    row = by_id(catalog)["1.11/outbound/5"]
    assert {s.lo for s in row.target_ports} == targets
    assert all(s.lo == s.hi for s in row.target_ports)


def test_1_11_forwarding_keys_act_each_in_its_version_range(
    doc_rows: list[DocRow], catalog: Catalog
) -> None:
    """1.11, Configurable via: 'Until 12.20: Registry: TcpForwardingPorts Since 12.20:
    Registry: TcpForwarding'; source cell 'Until 12.20: 712,9100 Since 12.20:
    712,9100,9980 80'."""
    doc = _doc_row(doc_rows, catalog, "1.11/outbound/5")
    assert doc.cells["Configurable via"] == (
        "Until 12.20: Registry: TcpForwardingPorts Since 12.20: Registry: TcpForwarding"
    )
    old, new = catalog.parameter("TcpForwardingPorts"), catalog.parameter("TcpForwarding")
    assert old.version is not None and (old.version.op, old.version.version) == ("<", "12.20")
    assert new.version is not None and (new.version.op, new.version.version) == (">=", "12.20")
    # The defaults are the documented registry values.
    assert (old.default, new.default) == ("712,9100", "712,9100,9980 80")
    assert old.kind == new.kind == "forwards"
    row = by_id(catalog)["1.11/outbound/5"]
    for spec in row.target_ports:
        key = catalog.parameter(spec.param or "")
        assert spec.version == key.version, spec


def test_named_public_hosts_of_1_15_and_1_16_are_wan(
    doc_rows: list[DocRow], catalog: Catalog
) -> None:
    """1.15 ('https://swyx-im-security.k8s.ispworks.nl/', 'wss://iam.voipoperator.eu/socket',
    'https://iamfile.voipoperator.eu:4006') and 1.16 (Target Host
    'https://msteams-app.swyx.com'): no Comment column, public hosts like the license,
    cpe and push hosts the document marks 'WAN access'."""
    rows = by_id(catalog)
    for row_id, name in [
        ("1.15/outbound/2", "swyx-im-security.k8s.ispworks.nl"),
        ("1.15/outbound/3", "iam.voipoperator.eu"),
        ("1.15/outbound/4", "iamfile.voipoperator.eu"),
        ("1.16/outbound/1", "msteams-app.swyx.com"),
    ]:
        doc = _doc_row(doc_rows, catalog, row_id)
        assert "Comment" not in doc.cells
        assert name in " ".join(doc.cells.values())
        assert rows[row_id].peer.host == name
        assert rows[row_id].wan and rows[row_id].wan_inferred
    other_hosts = [r for r in catalog.rows if r.peer.kind == "host" and not r.wan_inferred]
    assert len(other_hosts) >= 8
    for row in other_hosts:
        assert "WAN access" in _doc_row(doc_rows, catalog, row.id).cells.values(), row.id


def test_1_32_health_monitor_sip_targets_the_services_above(
    doc_rows: list[DocRow], catalog: Catalog
) -> None:
    """1.32 HealthMonitor, 'Health Probing of SwyxWare Services', SIP, 'TCP or UDP',
    Port (Target) '(see SwyxWare services above)': the inbound SIP rows of the
    SwyxWare services (server components, sections 1.1 to 1.13)."""
    doc = _doc_row(doc_rows, catalog, "1.32/outbound/2")
    assert doc.cell(TARGET_HEADERS) == "(see SwyxWare services above)"
    assert doc.cells["Type"] == "TCP or UDP" and doc.cells["Protocol"] == "SIP"
    kinds = {r.slug: r.kind for r in catalog.roles}
    services_above = [
        r.id
        for r in catalog.rows
        if r.direction == "inbound"
        and r.protocol == "SIP"
        and kinds[r.role] == "server"
        and tuple(map(int, r.section.split("."))) < (1, 32)
    ]
    row = by_id(catalog)["1.32/outbound/2"]
    assert row.refers_to == services_above
    assert row.target_ports == []
    assert {r.split("/")[0] for r in services_above} == {
        "1.1",
        "1.3",
        "1.4",
        "1.5",
        "1.6",
        "1.7",
        "1.9",
        "1.10",
        "1.11",
        "1.13",
    }


def test_hostless_targets_served_by_the_server(catalog: Catalog) -> None:
    """Targets that name no host but a service of the SwyxWare server: VisualContacts
    'Any IP:712' (1.14), the phone book '389' / '636' (1.21, 1.25) and 'REST API to
    SwyxWare' '9100' (1.15). Every other target_role-free row keeps its peer."""
    marked = {r.id for r in catalog.rows if r.target_role == "swyxware-server"}
    assert marked == {
        "1.14/outbound/6",
        "1.15/outbound/1",
        "1.21/outbound/2",
        "1.21/outbound/3",
        "1.25/outbound/2",
        "1.25/outbound/3",
    }
    for row_id in marked:
        assert by_id(catalog)[row_id].server_targeted == "swyxware-server"


def test_assumed_parameters_are_the_formula_counts(catalog: Catalog) -> None:
    """1.11 '15000 - max (Typical number of connections * 2)' and 1.28 '6000 -
    (6000+(channels*10))' give no count: the catalog's 500 and 30 are assumptions."""
    assumed = {p.name for p in catalog.parameters if p.assumed}
    formula_params = {
        s.formula.param
        for r in catalog.rows
        for s in [*r.source_ports, *r.target_ports]
        if s.formula
    }
    assert assumed == formula_params == {"TypicalConnections", "Channels"}


# --------------------------------------------------------------- invalid catalogs


def _write_mutated(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    data = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _row(data: dict[str, Any], row_id: str) -> dict[str, Any]:
    return next(r for r in data["rows"] if r["id"] == row_id)


def _unknown_role(data: dict[str, Any]) -> None:
    _row(data, "1.1/inbound/1")["role"] = "nope"


def _undeclared_parameter(data: dict[str, Any]) -> None:
    _row(data, "1.1/inbound/3")["target_ports"][0]["lo_param"] = "NoSuchKey"


def _reversed_range(data: dict[str, Any]) -> None:
    _row(data, "1.1/inbound/3")["target_ports"][0].update(lo=51499, hi=51000)


def _unknown_field(data: dict[str, Any]) -> None:
    _row(data, "1.1/inbound/1")["prot"] = "SIP"


def _duplicate_id(data: dict[str, Any]) -> None:
    _row(data, "1.1/inbound/2")["id"] = "1.1/inbound/1"


def _refers_to_unknown(data: dict[str, Any]) -> None:
    _row(data, "1.32/outbound/2")["refers_to"].append("1.99/inbound/1")


def _ports_and_refers_to(data: dict[str, Any]) -> None:
    _row(data, "1.32/outbound/2")["target_ports"] = [{"lo": 0, "hi": 65535}]


def _trunk_row_of_other_role(data: dict[str, Any]) -> None:
    data["sip_trunk_endpoints"][0]["media"].append("1.4/inbound/6")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_refers_to_unknown, "refers_to '1.99/inbound/1'"),
        (_ports_and_refers_to, "either target_ports or refers_to"),
        (_trunk_row_of_other_role, "'1.4/inbound/6' is not a row of that role"),
        (_unknown_role, "unknown role 'nope'"),
        (_undeclared_parameter, "undeclared parameter 'NoSuchKey'"),
        (_reversed_range, "rows.11.target_ports.0"),
        (_reversed_range, "51499-51000 is reversed"),
        (_unknown_field, "rows.9.prot"),
        (_duplicate_id, "duplicate row id 1.1/inbound/1"),
    ],
)
def test_invalid_catalog_names_the_problem(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    path = _write_mutated(tmp_path, mutate)
    with pytest.raises(InputError) as info:
        load_catalog(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message


def test_unreadable_catalog_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("rows: [unclosed", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read catalog"):
        load_catalog(path)


# -------------------------------------------------------------------------- views


def test_catalog_json_view_is_complete(catalog: Catalog) -> None:
    text = views.catalog_json(catalog.rows)
    assert text.endswith("\n")
    payload = json.loads(text)
    assert payload["count"] == 220
    assert [CatalogRow.model_validate(r) for r in payload["rows"]] == catalog.rows


def test_catalog_table_view_shows_ports_and_flags(catalog: Catalog) -> None:
    text = views.catalog_table([by_id(catalog)[i] for i in ("1.1/inbound/3", "1.27/outbound/1")])
    assert "51000-51499" in text
    assert "1.27/outbound/1" in text and "?" in text
    assert "\x1b[" not in text  # no colour codes in a string meant for any sink


def test_roles_view_text_and_json(catalog: Catalog) -> None:
    assert "remote-connector" in views.roles_view(catalog, "text")
    roles = json.loads(views.roles_view(catalog, "json"))["roles"]
    assert [r["slug"] for r in roles][:3] == ["swyxware-server", "cds", "swyxgate"]
    assert len(roles) == 34


# ---------------------------------------------------------------------------- CLI


run_cli = run_policycheck


def test_cli_catalog_json_lists_every_row_with_every_field() -> None:
    result = run_cli("catalog", "--format", "json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["document"] == "swyx-port-matrix.txt"
    assert payload["count"] == len(payload["rows"]) == 220
    fields = set(CatalogRow.model_fields)
    assert all(set(row) == fields for row in payload["rows"])


def test_cli_catalog_filters_by_role() -> None:
    result = run_cli("catalog", "--role", "remote-connector", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert len(rows) == 9
    assert {r["role"] for r in rows} == {"remote-connector"}
    table = run_cli("catalog", "--role", "remote-connector")
    assert table.returncode == 0, table.stderr
    assert "1.11/inbound/1" in table.stdout and "1.1/inbound/1 " not in table.stdout


def test_cli_catalog_unknown_role_is_one_line_exit_2() -> None:
    result = run_cli("catalog", "--role", "nope")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "nope" in lines[0]
    assert "Traceback" not in result.stderr


def test_vendored_document_matches_the_shared_original() -> None:
    if not SHARED_DOCUMENT.exists():
        pytest.skip(f"no shared original at {SHARED_DOCUMENT} to compare the vendored copy with")
    assert DOCUMENT.read_bytes() == SHARED_DOCUMENT.read_bytes()
