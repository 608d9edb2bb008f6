"""Expected flows: roles + profile -> the exact flows a VM's firewall must permit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from policycheck.catalog import default_catalog
from policycheck.engine.intervals import IntervalSet, addr_set
from policycheck.errors import InputError
from policycheck.expected import (
    INTERNET,
    Expected,
    FlowMemo,
    _Covers,
    _expected,
    _PeerResolver,
    expected_flows,
)
from policycheck.model import PortRange
from policycheck.profile import DEFAULT_INTERNAL_NETWORKS, Profile, load_profile

HOSTED = ["swyxware-server", "cds", "remote-connector"]


def _ports(
    expected: Expected, direction: str, protocol: str, peer: str, *, derived: bool | None = None
) -> IntervalSet:
    """Ports of the matching flows; ``derived`` False/True keeps only the rows' own
    flows / only derived ones (counterparts, trunks)."""
    out = IntervalSet()
    for f in expected.for_direction(direction):
        if f.protocol == protocol and f.peer == peer:
            if derived is not None and (f.derived is not None) != derived:
                continue
            out = out | IntervalSet((p.lo, p.hi) for p in f.ports)
    return out


def _write_profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


def test_hosted_vm_inbound_matches_the_document() -> None:
    exp = expected_flows(default_catalog(), Profile(), HOSTED)
    internet_tcp = _ports(exp, "inbound", "tcp", "internet")
    assert internet_tcp == IntervalSet([(9093, 9093), (9101, 9101), (16203, 16203), (57203, 57203)])
    assert _ports(exp, "inbound", "udp", "internet") == IntervalSet()
    internal_tcp = _ports(exp, "inbound", "tcp", "internal", derived=False)
    assert internal_tcp == IntervalSet([(5060, 5060), (9094, 9094), (9100, 9100), (9200, 9200)])
    internal_udp = _ports(exp, "inbound", "udp", "internal", derived=False)
    for lo, hi in [(5060, 5060), (51000, 51499)]:
        assert internal_udp.covers(IntervalSet([(lo, hi)]))
    # RemoteConnector SIP from IpPbxSrv is loopback: the server is this VM.
    loop = _ports(exp, "inbound", "tcp", "loopback", derived=False) | _ports(
        exp, "inbound", "udp", "loopback", derived=False
    )
    assert loop == IntervalSet([(10000, 15000)])
    # Counterparts: VisualContacts and the 14.0 phone book (LDAPS) from the internal
    # networks; what cds already documents (9094, 9100) is not repeated.
    assert _ports(exp, "inbound", "tcp", "internal", derived=True) == IntervalSet(
        [(636, 636), (712, 712)]
    )
    assert _ports(exp, "inbound", "udp", "internal", derived=True) == IntervalSet([(712, 712)])
    for flow in exp.flows:
        if flow.peer == "internet":
            assert flow.peers == INTERNET
        if flow.peer == "internal":
            assert addr_set(flow.peers) == addr_set(DEFAULT_INTERNAL_NETWORKS)
        if flow.peer == "loopback":
            assert flow.peers == ()


def test_remote_connector_requires_a_tunnel_port() -> None:
    exp = expected_flows(default_catalog(), Profile(), HOSTED)
    [req] = exp.requirements
    assert [[(p.lo, p.hi) for p in alt] for alt in req.alternatives] == [
        [(16203, 16203)],
        [(57203, 57203)],
    ]
    assert req.peers == INTERNET


def test_rtp_parameters_move_the_range(tmp_path: Path) -> None:
    prof = load_profile(
        _write_profile(tmp_path, "parameters:\n  RTPFirstPort: 40000\n  RTPLastPort: 40499\n")
    )
    exp = expected_flows(default_catalog(), prof, HOSTED)
    udp = _ports(exp, "inbound", "udp", "internal")
    assert udp.covers(IntervalSet([(40000, 40499)]))
    assert not (udp & IntervalSet([(51000, 51499)]))


def test_sdc_switch_moves_cds_port(tmp_path: Path) -> None:
    prof = load_profile(_write_profile(tmp_path, "sdc: true\n"))
    exp = expected_flows(default_catalog(), prof, HOSTED)
    tcp = _ports(exp, "inbound", "tcp", "internal", derived=False)
    assert tcp.contains(9095) and not tcp.contains(9094)
    # SwyxWare Administration and SCST (1.17, 1.18) document 'IpPbxSrv IP:9094'
    # without an SDC alternative: the server's counterpart keeps 9094 for them.
    [admin] = [f for f in exp.flows if f.derived and f.ports == (PortRange(lo=9094, hi=9094),)]
    assert admin.rows == ("1.17/outbound/1", "1.18/outbound/1")


def test_tunnel_listening_ports_replace_both_ports(tmp_path: Path) -> None:
    prof = load_profile(
        _write_profile(
            tmp_path, "role_parameters:\n  remote-connector:\n    TunnelListeningPorts: [443]\n"
        )
    )
    exp = expected_flows(default_catalog(), prof, HOSTED)
    tcp = _ports(exp, "inbound", "tcp", "internet")
    assert tcp.contains(443) and not tcp.contains(16203) and not tcp.contains(57203)
    [req] = exp.requirements
    assert [[(p.lo, p.hi) for p in alt] for alt in req.alternatives] == [[(443, 443)]]


def test_formula_parameter_sizes_remote_connector_audio(tmp_path: Path) -> None:
    prof = load_profile(_write_profile(tmp_path, "parameters:\n  TypicalConnections: 100\n"))
    udp = _ports(
        expected_flows(default_catalog(), prof, ["remote-connector"]), "inbound", "udp", "internal"
    )
    # 10000-15000 is SIP from IpPbxSrv, which falls back to the internal networks
    # here because no server address is known; the audio range ends at 15000 + 2 * 100.
    assert udp == IntervalSet([(10000, 15200)])
    exp = expected_flows(default_catalog(), prof, ["remote-connector"])
    assert not any(f.assumed for f in exp.flows)


@pytest.mark.parametrize(
    ("version", "h323", "ldaps"),
    [("11.5", True, False), ("12.30", False, True), ("14.0", False, True)],
)
def test_version_conditions(tmp_path: Path, version: str, h323: bool, ldaps: bool) -> None:
    prof = load_profile(_write_profile(tmp_path, f'version: "{version}"\n'))
    phone = expected_flows(default_catalog(), prof, ["phone-manager"])
    assert _ports(phone, "inbound", "tcp", "internal").contains(1720) is h323
    dect = expected_flows(default_catalog(), prof, ["dect-800-enhanced"])
    out = _ports(dect, "outbound", "tcp", "internal")
    assert out.contains(636) is ldaps
    assert out.contains(389) is (not ldaps)


def test_ippbxsrv_resolves_to_server_addresses_when_not_colocated() -> None:
    exp = expected_flows(
        default_catalog(), Profile(), ["linkmanager"], server_addresses=["10.0.1.10"]
    )
    local_ep = [f for f in exp.for_direction("inbound") if f.peer == "ippbxsrv"]
    assert local_ep and all(f.peers == ("10.0.1.10/32",) for f in local_ep)


def test_extra_flow_needs_justification_and_is_accepted(tmp_path: Path) -> None:
    prof = load_profile(
        _write_profile(
            tmp_path,
            "peer_groups:\n  admin-jump: [198.51.100.10/32]\n"
            "extra_flows:\n  - name: rdp-admin\n    justification: admin access via jump host\n"
            "    protocol: tcp\n    ports: ['3389']\n    peers: [admin-jump]\n",
        )
    )
    exp = expected_flows(default_catalog(), prof, HOSTED)
    [extra] = [f for f in exp.flows if f.rows == ("profile:rdp-admin",)]
    assert extra.peers == ("198.51.100.10/32",)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policycheck", *args], capture_output=True, text=True, check=False
    )


def test_cli_expected_text_and_json() -> None:
    proc = _cli("expected", "--roles", "swyxware-server,cds,remote-connector")
    assert proc.returncode == 0, proc.stderr
    assert "16203" in proc.stdout and "57203" in proc.stdout and "no rule needed" in proc.stdout
    proc = _cli("expected", "--roles", "swyxware-server cds,remote-connector", "--format", "json")
    data = json.loads(proc.stdout)
    assert data["roles"] == HOSTED
    assert {r["description"] for r in data["requirements"]} == {
        "RemoteConnector tunnel reachable from the internet"
    }


def test_cli_expected_with_profile(tmp_path: Path) -> None:
    path = _write_profile(
        tmp_path, "sdc: true\nparameters:\n  RTPFirstPort: 40000\n  RTPLastPort: 40499\n"
    )
    proc = _cli(
        "expected", "--roles", "swyxware-server,cds", "--profile", str(path), "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    ports = {
        (p["lo"], p["hi"])
        for f in json.loads(proc.stdout)["flows"]
        if f["direction"] == "inbound" and f["derived"] is None
        for p in f["ports"]
    }
    assert (40000, 40499) in ports and (9095, 9095) in ports
    assert (51000, 51499) not in ports and (9094, 9094) not in ports


def test_cli_expected_unknown_role() -> None:
    proc = _cli("expected", "--roles", "swyxware-server,nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_mediapack_base_port_moves_the_whole_formula_range(tmp_path: Path) -> None:
    prof = load_profile(
        _write_profile(tmp_path, "parameters:\n  BaseUDPPort: 7000\n  Channels: 4\n")
    )
    udp = _ports(
        expected_flows(default_catalog(), prof, ["mediapack"]), "inbound", "udp", "internal"
    )
    assert udp.covers(IntervalSet([(7000, 7040)]))
    assert not udp.contains(6000) and not udp.contains(7041)


def test_cti_plus_audio_is_its_listening_range_not_every_port() -> None:
    exp = expected_flows(default_catalog(), Profile(), ["cti-plus"])
    udp = _ports(exp, "inbound", "udp", "internal")
    assert udp.covers(IntervalSet([(60000, 60100)]))
    assert not udp.contains(1234)


# ------------------------------------------------------------ corrections (1.11)

SERVER_AT = ["10.0.1.10"]


def _forwarded(exp: Expected) -> IntervalSet:
    """Ports of the RemoteConnector's 'TCP Forwarding' row (1.11/outbound/5)."""
    out = IntervalSet()
    for f in exp.for_direction("outbound"):
        if f.rows == ("1.11/outbound/5",):
            out = out | IntervalSet((p.lo, p.hi) for p in f.ports)
    return out


@pytest.mark.parametrize(
    ("version", "ports"),
    [("12.10", [(712, 712), (9100, 9100)]), ("14.0", [(80, 80), (712, 712), (9100, 9100)])],
)
def test_1_11_forwarding_targets_per_version(tmp_path: Path, version: str, ports: list) -> None:  # type: ignore[type-arg]
    """1.11 '"TCP Forwarding"': targets 'IpPbxSrv IP:712 IpPbxSrv IP:9100 IpPbxSrv IP:80',
    80 since 12.20; 9980 (a local port in the registry value) is no target."""
    prof = load_profile(_write_profile(tmp_path, f'version: "{version}"\n'))
    exp = expected_flows(default_catalog(), prof, ["remote-connector"], server_addresses=SERVER_AT)
    assert _forwarded(exp) == IntervalSet(ports)
    out_tcp = _ports(exp, "outbound", "tcp", "ippbxsrv")
    assert not out_tcp.contains(9980)


@pytest.mark.parametrize(
    ("version", "key", "value", "ports"),
    [
        ("12.10", "TcpForwardingPorts", "712", [(712, 712)]),
        (
            "12.10",
            "TcpForwardingPorts",
            [712, 9100, 8443],
            [(712, 712), (8443, 8443), (9100, 9100)],
        ),
        ("14.0", "TcpForwarding", "712,9100,9980 80", [(80, 80), (712, 712), (9100, 9100)]),
        ("14.0", "TcpForwarding", "712, 9981 8080", [(712, 712), (8080, 8080)]),
    ],
)
def test_1_11_each_forwarding_key_acts_in_its_version(
    tmp_path: Path,
    version: str,
    key: str,
    value: object,
    ports: list,  # type: ignore[type-arg]
) -> None:
    """'Until 12.20: Registry: TcpForwardingPorts Since 12.20: Registry: TcpForwarding':
    the key of the profile's version replaces the forwarded ports; a 'local target'
    entry forwards to its target port only."""
    text = (
        f'version: "{version}"\n'
        f"role_parameters:\n  remote-connector:\n    {key}: {json.dumps(value)}\n"
    )
    prof = load_profile(_write_profile(tmp_path, text))
    exp = expected_flows(default_catalog(), prof, ["remote-connector"], server_addresses=SERVER_AT)
    assert _forwarded(exp) == IntervalSet(ports)


@pytest.mark.parametrize(
    ("version", "key", "hint"),
    [
        ("12.10", "TcpForwarding", "TcpForwardingPorts"),
        ("14.0", "TcpForwardingPorts", "TcpForwarding"),
    ],
)
def test_1_11_forwarding_key_outside_its_version_is_refused(
    tmp_path: Path, version: str, key: str, hint: str
) -> None:
    """Setting TcpForwarding on a 12.10 profile would bring back port 80 past the
    version condition; setting TcpForwardingPorts on 14.0 would do nothing."""
    path = _write_profile(tmp_path, f'version: "{version}"\nparameters:\n  {key}: "712"\n')
    with pytest.raises(InputError) as info:
        load_profile(path)
    message = str(info.value)
    assert f"{key} acts" in message and version in message and f"set {hint}" in message


def test_cli_expected_remote_connector_14_0_has_no_tcp_9980(tmp_path: Path) -> None:
    """Must show: `expected --roles remote-connector --profile <14.0 profile>` has no tcp 9980."""
    path = _write_profile(tmp_path, 'version: "14.0"\npeer_groups:\n  IpPbxSrv: [10.0.1.10]\n')
    proc = _cli(
        "expected", "--roles", "remote-connector", "--profile", str(path), "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    flows = json.loads(proc.stdout)["flows"]
    tcp = IntervalSet(
        (p["lo"], p["hi"]) for f in flows if f["protocol"] == "tcp" for p in f["ports"]
    )
    assert not tcp.contains(9980)
    assert tcp.contains(80) and tcp.contains(712) and tcp.contains(9100)
    text = _cli("expected", "--roles", "remote-connector", "--profile", str(path))
    assert text.returncode == 0 and "9980" not in text.stdout


def test_named_hosts_of_1_15_and_1_16_are_reached_over_the_internet() -> None:
    """1.15 Messenger hosts (443, 4006) and 1.16 'https://msteams-app.swyx.com' 443."""
    exp = expected_flows(default_catalog(), Profile(), ["swyx-messenger", "teams-connector"])
    assert _ports(exp, "outbound", "tcp", "internet") == IntervalSet([(443, 443), (4006, 4006)])
    # 9100 'REST API to SwyxWare' has no host and no WAN access: internal.
    assert _ports(exp, "outbound", "tcp", "internal") == IntervalSet([(9100, 9100)])


def test_1_32_health_monitor_probes_the_sip_ports_of_the_services(tmp_path: Path) -> None:
    """1.32 '(see SwyxWare services above)': the services' SIP ports, each with its own
    transport and its own role's parameters, instead of every port."""
    exp = expected_flows(default_catalog(), Profile(), ["health-monitor"])
    tcp = _ports(exp, "outbound", "tcp", "internal")
    udp = _ports(exp, "outbound", "udp", "internal")
    assert tcp == IntervalSet(
        [(5060, 5060), (5062, 5062), (5064, 5064), (5070, 5170), (5096, 5096), (9100, 9100),
         (10000, 15000), (61000, 61000), (65001, 65002), (65007, 65007), (65012, 65012)]
    )  # fmt: skip
    # 5062 (Conference Manager), 5064 (SwyxGate), 61000 (FaxServer) and 65007 (Phone
    # Manager) are SIP over tcp only; 9100 is the HTTP probe (1.32/outbound/1).
    assert udp == IntervalSet(
        [(5060, 5060), (5070, 5170), (5096, 5096), (10000, 15000), (65001, 65002), (65012, 65012)]
    )
    prof = load_profile(
        _write_profile(
            tmp_path,
            "role_parameters:\n  swyxgate: {LowerBoundSipPort: 5075, UpperBoundSipPort: 5076}\n",
        )
    )
    moved = _ports(
        expected_flows(default_catalog(), prof, ["health-monitor"]), "outbound", "tcp", "internal"
    )
    assert moved.covers(IntervalSet([(5075, 5076)])) and not moved.contains(5064)


# ----------------------------------------------------- assumed and uncertain flows


def test_formula_ranges_say_which_parameter_they_assume() -> None:
    exp = expected_flows(default_catalog(), Profile(), ["remote-connector", "mediapack"])
    assumed = {(f.rows, a.parameter, a.value, a.role) for f in exp.flows for a in f.assumed}
    # The outbound rows' formulas size their source ports, which flows do not use.
    assert assumed == {
        (("1.11/inbound/4",), "TypicalConnections", 500, "remote-connector"),
        (("1.28.2/inbound/3",), "Channels", 30, "mediapack"),
    }
    # Only the formula range is assumed, not the row's other flows.
    assert all(
        f.ports == (PortRange(lo=15000, hi=16000),)
        for f in exp.flows
        if f.assumed and f.role == "remote-connector"
    )


def test_uncertain_rows_give_uncertain_flows_and_no_requirement() -> None:
    catalog = default_catalog()
    exp = expected_flows(catalog, Profile(), ["swyx-connect-172x"])
    uncertain_rows = {r.id for r in catalog.rows_for(["swyx-connect-172x"]) if r.uncertain}
    assert uncertain_rows
    for flow in exp.flows:
        assert flow.uncertain == (flow.rows[0] in uncertain_rows), flow.rows
    assert exp.requirements == ()


def test_cli_expected_json_carries_assumed_and_uncertain_markers() -> None:
    """Must show: `expected --format json` carries `assumed` and `uncertain` markers."""
    proc = _cli("expected", "--roles", "remote-connector,swyx-connect-6xxx", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    flows = json.loads(proc.stdout)["flows"]
    assert all("assumed" in f and "uncertain" in f for f in flows)
    assumed = {a["parameter"] for f in flows for a in f["assumed"]}
    assert assumed == {"TypicalConnections", "Channels"}
    uncertain = {f["rows"][0] for f in flows if f["uncertain"]}
    assert uncertain == {"1.28/outbound/1", "1.28/inbound/1"}
    text = _cli("expected", "--roles", "remote-connector,swyx-connect-6xxx")
    assert "assumed TypicalConnections=500" in text.stdout
    assert "uncertain (?)" in text.stdout
    assert "role_parameters.remote-connector.TypicalConnections" in text.stdout


def test_cli_expected_text_shows_the_internal_networks_as_cidrs() -> None:
    proc = _cli("expected", "--roles", "cds")
    assert proc.returncode == 0, proc.stderr
    flat = " ".join(proc.stdout.split())
    for cidr in DEFAULT_INTERNAL_NETWORKS:
        assert cidr in flat


# -------------------------------------------------------- server-side counterparts


def _counterparts(exp: Expected) -> dict[tuple[str, int], tuple[str, ...]]:
    """(protocol, port) -> rows mirrored, for every counterpart flow."""
    out: dict[tuple[str, int], tuple[str, ...]] = {}
    for f in exp.flows:
        if f.derived == "server_counterpart":
            for p in f.ports:
                for port in range(p.lo, min(p.hi, p.lo + 3) + 1):
                    out[(f.protocol, port)] = out.get((f.protocol, port), ()) + f.rows
    return out


@pytest.mark.parametrize(("version", "phonebook"), [("12.10", 389), ("14.0", 636)])
def test_server_gets_counterparts_of_client_flows(
    tmp_path: Path, version: str, phonebook: int
) -> None:
    """Clients send to the server's VisualContacts 712 (1.14), REST 9100 (1.15, 1.22,
    1.23, ...) and the phone book (1.21, 1.25: LDAP 389 < 12.30, LDAPS 636 >= 12.30);
    the server's own table (1.1) lists none of them."""
    prof = load_profile(_write_profile(tmp_path, f'version: "{version}"\n'))
    exp = expected_flows(default_catalog(), prof, ["swyxware-server"])
    parts = _counterparts(exp)
    assert "1.14/outbound/6" in parts[("tcp", 712)] and "1.14/outbound/6" in parts[("udp", 712)]
    assert {"1.15/outbound/1", "1.22/outbound/2", "1.23/outbound/2"} <= set(parts[("tcp", 9100)])
    assert set(parts[("tcp", phonebook)]) == {
        f"1.21/outbound/{2 if phonebook == 389 else 3}",
        f"1.25/outbound/{2 if phonebook == 389 else 3}",
    }
    other = 636 if phonebook == 389 else 389
    assert ("tcp", other) not in parts
    # Each counterpart names the version condition of the row it mirrors.
    [book] = [
        f for f in exp.flows if f.derived and f.ports == (PortRange(lo=phonebook, hi=phonebook),)
    ]
    assert book.version == ("< SwyxWare v12.30" if phonebook == 389 else ">= SwyxWare v12.30")
    assert book.peer == "internal" and addr_set(book.peers) == addr_set(DEFAULT_INTERNAL_NETWORKS)
    # Nothing the server's own rows document twice: 5060 stays 1.1's alone.
    assert ("tcp", 5060) not in parts and ("udp", 5060) not in parts


def test_remote_connector_counterparts_come_from_its_vm() -> None:
    """1.11 '"TCP Forwarding"' to IpPbxSrv IP:712/9100/80 and SIP to 5060/5096: on the
    server VM, from the RemoteConnector VM's addresses when it runs separately."""
    exp = expected_flows(
        default_catalog(),
        Profile(),
        ["swyxware-server", "cds"],
        role_addresses={"remote-connector": ["10.0.2.20"]},
    )
    rc = [f for f in exp.flows if f.peer == "remote-connector"]
    assert rc and all(f.peers == ("10.0.2.20/32",) for f in rc)
    tcp = IntervalSet((p.lo, p.hi) for f in rc if f.protocol == "tcp" for p in f.ports)
    # 712, 9100 and 9094 are already open to the internal networks (SwyxIt! counterpart,
    # cds rows), which hold 10.0.2.20; 80 and 5096 are the RemoteConnector's alone.
    assert tcp == IntervalSet([(80, 80), (5096, 5096)])
    assert {r for f in rc for r in f.rows} == {
        "1.11/outbound/2",
        "1.11/outbound/3",
        "1.11/outbound/5",
    }


def test_remote_connector_outside_the_internal_networks_keeps_all_its_counterparts() -> None:
    exp = expected_flows(
        default_catalog(),
        Profile(),
        ["swyxware-server", "cds"],
        role_addresses={"remote-connector": ["203.0.113.7"]},
    )
    rc = [f for f in exp.flows if f.peer == "remote-connector"]
    tcp = IntervalSet((p.lo, p.hi) for f in rc if f.protocol == "tcp" for p in f.ports)
    assert tcp == IntervalSet(
        [(80, 80), (712, 712), (5060, 5060), (5096, 5096), (9094, 9094), (9100, 9100)]
    )


def test_co_located_remote_connector_counterparts_need_no_rule() -> None:
    exp = expected_flows(
        default_catalog(), Profile(), ["swyxware-server", "cds", "remote-connector"]
    )
    rc = [f for f in exp.flows if f.derived and set(f.rows) & {"1.11/outbound/5"}]
    assert [f.peer for f in rc] == ["loopback"] and rc[0].ports == (PortRange(lo=80, hi=80),)


def test_profile_turns_counterparts_off(tmp_path: Path) -> None:
    prof = load_profile(_write_profile(tmp_path, "server_counterparts: false\n"))
    exp = expected_flows(default_catalog(), prof, ["swyxware-server"])
    assert not [f for f in exp.flows if f.derived]
    assert not _ports(exp, "inbound", "tcp", "internal").contains(712)


def test_remote_connector_peer_group_names_its_addresses(tmp_path: Path) -> None:
    prof = load_profile(
        _write_profile(tmp_path, "peer_groups:\n  RemoteConnector: [192.0.2.10, 192.0.2.11]\n")
    )
    exp = expected_flows(default_catalog(), prof, ["swyxware-server", "cds"])
    rc = [f for f in exp.flows if f.peer == "remote-connector"]
    assert rc and all(f.peers == ("192.0.2.10/32", "192.0.2.11/32") for f in rc)


# ---------------------------------------------------------------------- SIP trunks


def test_sip_trunk_expands_to_signalling_and_the_current_rtp_range(tmp_path: Path) -> None:
    prof = load_profile(
        _write_profile(
            tmp_path,
            "parameters: {RTPFirstPort: 40000, RTPLastPort: 40999}\n"
            "peer_groups:\n  carrier-media: [198.51.100.0/24]\n"
            "sip_trunks:\n  - name: carrier\n    peers: [203.0.113.0/24, carrier-media]\n"
            "    transports: [udp, tcp]\n",
        )
    )
    exp = expected_flows(default_catalog(), prof, ["swyxware-server"])
    trunk = [f for f in exp.flows if f.derived == "sip_trunk"]
    assert all(f.peers == ("203.0.113.0/24", "198.51.100.0/24") for f in trunk)
    assert all("sip_trunk:carrier" in f.rows for f in trunk)
    tin = {(f.protocol, (p.lo, p.hi)) for f in trunk if f.direction == "inbound" for p in f.ports}
    assert tin == {("tcp", (5060, 5060)), ("udp", (5060, 5060)), ("udp", (40000, 40999))}
    outbound = {f.protocol for f in trunk if f.direction == "outbound"}
    assert outbound == {"tcp", "udp"}


def test_sip_trunk_transports_and_role(tmp_path: Path) -> None:
    prof = load_profile(
        _write_profile(
            tmp_path,
            "sip_trunks:\n  - name: carrier\n    peers: [203.0.113.0/24]\n    role: linkmanager\n",
        )
    )
    catalog = default_catalog()
    assert not [
        f
        for f in expected_flows(catalog, prof, ["swyxware-server"]).flows
        if f.derived == "sip_trunk"
    ]
    trunk = [
        f for f in expected_flows(catalog, prof, ["linkmanager"]).flows if f.derived == "sip_trunk"
    ]
    tin = {(f.protocol, (p.lo, p.hi)) for f in trunk if f.direction == "inbound" for p in f.ports}
    # Default transport udp: no tcp signalling.
    assert tin == {("udp", (65002, 65002)), ("udp", (55000, 56000))}


# One deployment's server / RemoteConnector addresses: inside, outside and equal to
# the internal networks, the internet, shared between the two roles, none.
_ADDRESSES = [
    "10.1.0.5",
    "10.1.0.6",
    "192.0.2.10",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "0.0.0.0/0",
    "::/0",
    "fc00::1",
    "2001:db8::1",
]
_ROLE_SETS = [
    ("remote-connector",),
    ("swyxgate", "conference-manager"),
    ("swyxware-server", "cds", "linkmanager", "remote-connector"),
    ("swyxware-server", "cds"),
    ("health-monitor", "swyxware-server"),
]
_deployment = st.tuples(
    st.sampled_from(_ROLE_SETS),
    st.lists(st.sampled_from(_ADDRESSES), max_size=3),
    st.lists(st.sampled_from(_ADDRESSES), max_size=3),
)


@settings(max_examples=150, deadline=None)
# The RemoteConnector's addresses equal to the internal networks, then only
# covering the same addresses: its counterparts merge with theirs only in the first.
@example(
    deployments=[
        (("swyxware-server", "cds"), [], ["10.0.0.0/8"]),
        (("swyxware-server", "cds"), [], ["10.0.0.0/8", "10.1.0.5"]),
    ],
    internal=("10.0.0.0/8",),
)
@given(
    deployments=st.lists(_deployment, min_size=1, max_size=8),
    internal=st.sampled_from(
        [tuple(DEFAULT_INTERNAL_NETWORKS), ("10.0.0.0/8",), ("10.0.0.0/8", "192.0.2.0/24")]
    ),
)
def test_shared_templates_give_each_deployment_its_own_flows(
    deployments: list[tuple[tuple[str, ...], list[str], list[str]]], internal: tuple[str, ...]
) -> None:
    """Flows built from a template another deployment's addresses chose, with this
    deployment's put in, are exactly the flows computed from its own addresses."""
    catalog = default_catalog()
    prof = Profile(internal_networks=list(internal))
    memo = FlowMemo()
    for roles, servers, connectors in deployments:
        others = {"swyxware-server": servers, "remote-connector": connectors}
        shared = expected_flows(catalog, prof, roles, role_addresses=others, memo=memo)
        direct = _expected(
            catalog, prof, roles, _PeerResolver(prof, roles, others), _Covers(), FlowMemo()
        )
        assert shared == direct
