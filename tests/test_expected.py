"""Expected flows: roles + profile -> the exact flows a VM's firewall must permit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policycheck.catalog import default_catalog
from policycheck.engine.intervals import IntervalSet, addr_set
from policycheck.expected import INTERNET, Expected, expected_flows
from policycheck.profile import DEFAULT_INTERNAL_NETWORKS, Profile, load_profile

HOSTED = ["swyxware-server", "cds", "remote-connector"]


def _ports(expected: Expected, direction: str, protocol: str, peer: str) -> IntervalSet:
    out = IntervalSet()
    for f in expected.for_direction(direction):
        if f.protocol == protocol and f.peer == peer:
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
    internal_tcp = _ports(exp, "inbound", "tcp", "internal")
    assert internal_tcp == IntervalSet([(5060, 5060), (9094, 9094), (9100, 9100), (9200, 9200)])
    internal_udp = _ports(exp, "inbound", "udp", "internal")
    for lo, hi in [(5060, 5060), (51000, 51499)]:
        assert internal_udp.covers(IntervalSet([(lo, hi)]))
    # RemoteConnector SIP from IpPbxSrv is loopback: the server is this VM.
    loop = _ports(exp, "inbound", "tcp", "loopback") | _ports(exp, "inbound", "udp", "loopback")
    assert loop == IntervalSet([(10000, 15000)])
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
    tcp = _ports(expected_flows(default_catalog(), prof, HOSTED), "inbound", "tcp", "internal")
    assert tcp.contains(9095) and not tcp.contains(9094)


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
        if f["direction"] == "inbound"
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
