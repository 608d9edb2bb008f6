"""policies/swyx.rego reaches the native verdicts, embedded and through OPA's REST API.

The native engine is the reference: on every estate here, the Rego run's
SWYX001-SWYX003 findings must equal the native ones field by field (rule, VM,
direction, the exact region part by part, responsible rules, catalog rows, the
SWYX002/SWYX003 details; everything a finding holds). The policy's own
``message`` (for conftest-style ``deny``) is not part of a finding.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_estates import estate, rule
from opa_compatible_server import OpaCompatibleServer

from policycheck.catalog import POLICIES_DIR, default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.engine.intervals import IntervalSet, addr_set, to_cidrs
from policycheck.errors import InputError
from policycheck.findings import Finding, ScanResult
from policycheck.model import VM, Inventory, Peer
from policycheck.profile import Profile, load_profile
from policycheck.rego import (
    POLICY_PATH,
    REGO_RULES,
    build_input,
    catalog_document,
    evaluate_rego,
    query_embedded,
)
from policycheck.sources.snapshot import dumps

CATALOG = default_catalog()
DEFAULT_PROFILE = load_profile(None, CATALOG)
REPO = Path(__file__).resolve().parent.parent
PROVIDERS = ("aws", "azure", "gcp")

Key = tuple[Any, ...]


def finding_key(f: Finding) -> Key:
    """Everything the finding holds, as canonical JSON."""
    return (json.dumps(f.model_dump(mode="json"), sort_keys=True),)


def keys(result: ScanResult, *, rego_rules: bool) -> Counter[Key]:
    return Counter(
        finding_key(f) for f in result.findings if (f.rule_id in REGO_RULES) == rego_rules
    )


def assert_agree(inventory: Inventory, profile: Profile = DEFAULT_PROFILE) -> ScanResult:
    """Rego and native agree on SWYX001-SWYX003; everything else is the native run's."""
    native = evaluate(inventory, profile, CATALOG)
    rego = evaluate_rego(inventory, profile, CATALOG, engine="embedded")
    assert keys(rego, rego_rules=True) == keys(native, rego_rules=True)
    assert keys(rego, rego_rules=False) == keys(native, rego_rules=False)
    assert [f.level for f in rego.findings] == [f.level for f in native.findings]
    return native


# ------------------------------------------------------- reference estates


@pytest.mark.parametrize("variant", ["broken", "compliant"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_reference_estates_agree(provider: str, variant: str) -> None:
    native = assert_agree(estate(provider, variant))  # type: ignore[arg-type]
    found = {f.rule_id for f in native.findings}
    # The comparison is not vacuous: broken estates have SWYX001 and SWYX002.
    if variant == "broken":
        assert {"SWYX001", "SWYX002"} <= found
    else:
        assert not found & REGO_RULES


# ----------------------------------------------- estates beyond the reference


def without_rule(inventory: Inventory, rule_id: str) -> Inventory:
    firewalls = [
        fw.model_copy(update={"rules": tuple(r for r in fw.rules if r.id != rule_id)})
        for fw in inventory.firewalls
    ]
    return inventory.model_copy(update={"firewalls": firewalls})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_blocked_tunnel_is_swyx003_in_both(provider: str) -> None:
    # Without C1 the RemoteConnector tunnel (16203/57203 from the internet) is closed.
    native = assert_agree(without_rule(estate(provider, "compliant"), "C1"))  # type: ignore[arg-type]
    blocked = [f for f in native.findings if f.rule_id == "SWYX003"]
    assert [[(p.lo, p.hi) for p in part.ports] for f in blocked for part in f.region] == [
        [(16203, 16203), (57203, 57203)]
    ]


def with_load_balancer_rule() -> Inventory:
    inv = estate("azure", "compliant")
    lb = rule(
        "azure",
        "AllowLB",
        "tcp",
        [(0, 65535)],
        [],
        priority=900,
        peer_objs=(Peer(kind="service_tag", value="AzureLoadBalancer"),),
    )
    firewalls = [
        fw.model_copy(update={"rules": (lb, *fw.rules)}) if fw.id == "nsg-pbx" else fw
        for fw in inv.firewalls
    ]
    return inv.model_copy(update={"firewalls": firewalls})


def test_azure_load_balancer_probe_is_ignored_by_both() -> None:
    native = assert_agree(with_load_balancer_rule())
    assert not [f for f in native.findings if f.rule_id in REGO_RULES]


def test_azure_load_balancer_probe_reported_by_both_when_asked(tmp_path: Path) -> None:
    profile = profile_from(tmp_path, {"report_azure_load_balancer": True})
    native = assert_agree(with_load_balancer_rule(), profile)
    assert any(f.peers == ["168.63.129.16/32"] for f in native.findings if f.rule_id == "SWYX001")


def test_second_vm_with_ippbxsrv_flows() -> None:
    # A LinkManager VM next to the server: its IpPbxSrv flows allow only the
    # server's /32, so 10.0.0.0/8 on them is too broad (10/8 minus one host).
    inv = estate("gcp", "broken")
    linkmanager = VM(
        provider="gcp",
        id="vm-lm1",
        name="lm1",
        addresses=("10.0.2.20",),
        network_tags=("swyx-pbx", "swyx-role-linkmanager"),
        networks=("swyx-net",),
        provenance=inv.vms[0].provenance,
    )
    inv = inv.model_copy(update={"vms": [*inv.vms, linkmanager]})
    native = assert_agree(inv)
    assert any(
        f.vm_id == "vm-lm1" and f.rule_id == "SWYX002" and "10.0.1.11/32" in f.peers
        for f in native.findings
    )


def profile_from(tmp_path: Path, data: dict[str, Any]) -> Profile:
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_profile(path, CATALOG)


def test_profile_extra_flows_ipv6_and_required_rows(tmp_path: Path) -> None:
    profile = profile_from(
        tmp_path,
        {
            "internal_networks": ["10.0.0.0/8", "fd00::/8"],
            "extra_flows": [
                {
                    "name": "admin-ssh",
                    "justification": "jump hosts",
                    "protocol": "tcp",
                    "ports": ["22"],
                    "peers": ["2001:db8::/32", "192.0.2.0/24"],
                }
            ],
            "required": ["1.11/inbound/4", "1.4/inbound/3"],
        },
    )
    native = assert_agree(estate("aws", "compliant"), profile)
    assert any(f.rule_id == "SWYX003" for f in native.findings)
    native = assert_agree(estate("aws", "broken"), profile)
    ssh = [
        f
        for f in native.findings
        if f.rule_id == "SWYX002"
        and f.region[0].protocol == "tcp"
        and f.region[0].ports[0].lo == 22
    ]
    assert ssh and "::/3" in ssh[0].peers and "2001:db8::/32" not in ssh[0].peers


# --------------------------------------------------- arithmetic, exhaustively


@pytest.fixture(scope="module")
def interpreter() -> Any:
    from regopy import Interpreter

    rego = Interpreter()
    rego.add_module("swyx", POLICY_PATH.read_text())
    return rego


def rego_value(rego: Any, expression: str) -> Any:
    output = rego.query(f"x := {expression}")
    assert output.ok(), str(output)
    return output.results[0].bindings["x"]


v4 = st.builds(
    lambda a, n: f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}/{n}",
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
v6 = st.builds(
    lambda a, n: str(ipaddress.IPv6Network((a, n), strict=False)),
    st.integers(0, 2**128 - 1),
    st.integers(0, 40),
)
cidr_lists = st.lists(st.one_of(v4, v6), max_size=4)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(left=cidr_lists, right=cidr_lists)
def test_address_difference_matches_native(
    interpreter: Any, left: list[str], right: list[str]
) -> None:
    expr = (
        f"data.swyx._cidrs(data.swyx._interval_diff(data.swyx._cidr_intervals({json.dumps(left)}),"
        f" data.swyx._cidr_intervals({json.dumps(right)})))"
    )
    assert rego_value(interpreter, expr) == to_cidrs(addr_set(left) - addr_set(right))


port_ranges = st.lists(
    st.tuples(st.integers(0, 65535), st.integers(0, 300)).map(
        lambda t: [t[0], min(65535, t[0] + t[1])]
    ),
    max_size=6,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(left=port_ranges, right=port_ranges)
def test_port_arithmetic_matches_native(
    interpreter: Any, left: list[list[int]], right: list[list[int]]
) -> None:
    a, b = IntervalSet(map(tuple, left)), IntervalSet(map(tuple, right))  # type: ignore[arg-type]
    pl, pr = (f"data.swyx._port_intervals({json.dumps(x)})" for x in (left, right))
    union = rego_value(
        interpreter, f"data.swyx._inclusive(data.swyx._interval_union(array.concat({pl}, {pr})))"
    )
    diff = rego_value(interpreter, f"data.swyx._inclusive(data.swyx._interval_diff({pl}, {pr}))")
    meet = rego_value(
        interpreter, f"data.swyx._inclusive(data.swyx._interval_intersect({pl}, {pr}))"
    )
    assert union == [list(iv) for iv in a | b]
    assert diff == [list(iv) for iv in a - b]
    assert meet == [list(iv) for iv in a & b]


def rego_unit_tests() -> list[str]:
    text = (POLICIES_DIR / "swyx_test.rego").read_text()
    return re.findall(r"^(test_\w+) if", text, re.M)


@pytest.mark.parametrize("name", rego_unit_tests())
def test_rego_unit_test_passes(name: str) -> None:
    """policies/swyx_test.rego, run with rego-cpp (OPA runs it with `opa test`)."""
    from regopy import Interpreter

    rego = Interpreter()
    rego.add_module("swyx", POLICY_PATH.read_text())
    rego.add_module("swyx_test", (POLICIES_DIR / "swyx_test.rego").read_text())
    assert rego_value(rego, f"data.swyx_test.{name}") is True


# ------------------------------------------------ findings from hand-made input

RULE = {
    "firewall_id": "sg-1",
    "firewall_name": "pbx",
    "rule_id": "r1",
    "rule_name": None,
    "protocol": "tcp",
}
SIP = {
    "role": "swyxware-server",
    "direction": "inbound",
    "protocol": "tcp",
    "ports": [[5060, 5060]],
    "peer": "internal",
    "peers": ["10.0.0.0/8"],
    "rows": ["1.1/inbound/1"],
}
TUNNEL = {
    "description": "tunnel",
    "direction": "inbound",
    "protocol": "tcp",
    "alternatives": [[[16203, 16203]], [[57203, 57203]]],
    "peers": ["0.0.0.0/0", "::/0"],
    "rows": ["1.11/inbound/1"],
}


def document(regions: list[dict[str, Any]], flows: list[Any], reqs: list[Any]) -> dict[str, Any]:
    vm = {
        "id": "vm-1",
        "name": "pbx1",
        "provider": "aws",
        "roles": ["swyxware-server"],
        "firewalls": [{"id": "sg-1", "name": "pbx", "level": "interface"}],
        "inbound": regions,
        "outbound": [],
        "expected": flows,
        "requirements": reqs,
    }
    return {"internal_networks": ["10.0.0.0/8"], "vms": [vm]}


def region(ports: list[list[int]], peers: list[str]) -> dict[str, Any]:
    return {"protocol": "tcp", "ports": ports, "peers": peers, "excluding": [], "rules": [RULE]}


def run_policy(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return query_embedded(POLICY_PATH.read_text(), catalog_document(CATALOG), doc)


def test_policy_undocumented_port() -> None:
    [f] = run_policy(document([region([[3389, 3389]], ["0.0.0.0/0"])], [], []))
    assert (f["rule_id"], f["region"], f["rules"]) == (
        "SWYX001",
        [{"protocol": "tcp", "ports": [[3389, 3389]], "peers": ["0.0.0.0/0"], "excluding": []}],
        [RULE],
    )
    assert f["message"] == (
        "undocumented inbound access to pbx1: tcp 3389 from 0.0.0.0/0 (allowed by pbx/r1)"
    )


def test_policy_source_too_broad_names_the_catalog_row() -> None:
    [f] = run_policy(document([region([[5060, 5060]], ["0.0.0.0/0", "::/0"])], [SIP], []))
    assert f["rule_id"] == "SWYX002"
    [part] = f["region"]
    assert part["peers"] == to_cidrs(addr_set(["0.0.0.0/0", "::/0"]) - addr_set(["10.0.0.0/8"]))
    assert f["documented_peers"] == ["10.0.0.0/8"]
    assert "1.1/inbound/1 (SwyxWare Server SIP)" in f["message"]


def test_policy_documented_peers_are_clean() -> None:
    assert run_policy(document([region([[5060, 5060]], ["10.0.0.0/8"])], [SIP], [])) == []


def test_policy_requirement_blocked_and_satisfied() -> None:
    inside = run_policy(document([region([[16203, 16203]], ["10.0.0.0/8"])], [], [TUNNEL]))
    blocked = [f for f in inside if f["rule_id"] == "SWYX003"]
    assert [(f["region"][0]["ports"], f["rules"][0]["rule_id"]) for f in blocked] == [
        ([[16203, 16203], [57203, 57203]], "sg-1/(inbound rule missing)")
    ]
    assert blocked[0]["alternatives"] == TUNNEL["alternatives"]
    outside = run_policy(document([region([[57203, 57203]], ["0.0.0.0/0"])], [], [TUNNEL]))
    assert not [f for f in outside if f["rule_id"] == "SWYX003"]


# ---------------------------------------------------------- input document


def document_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from document_keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from document_keys(v)


def test_input_document_is_json_and_documented() -> None:
    doc = build_input(with_load_balancer_rule(), DEFAULT_PROFILE, CATALOG).document
    assert json.loads(json.dumps(doc)) == doc
    docs = (REPO / "docs" / "rego.md").read_text()
    missing = sorted({k for k in document_keys(doc) if f"`{k}`" not in docs})
    assert missing == []
    [vm] = doc["vms"]
    lb = [r for r in vm["inbound"] if r["excluded_peers"]]
    assert lb and all(r["excluded_peers"] == ["168.63.129.16/32"] for r in lb)


# ------------------------------------------------------------------ errors


def test_broken_policy_is_one_line_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rego"
    bad.write_text("package swyx\n\nfindings contains f if {\n")
    with pytest.raises(InputError) as err:
        evaluate_rego(
            estate("aws", "broken"), DEFAULT_PROFILE, CATALOG, engine="embedded", policy_path=bad
        )
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{bad}: line 3: ")


def test_opa_engine_needs_a_usable_url() -> None:
    inv = estate("aws", "compliant")
    with pytest.raises(InputError, match="--opa-url is required"):
        evaluate_rego(inv, DEFAULT_PROFILE, CATALOG, engine="opa")
    with pytest.raises(InputError, match="give only scheme, host and port"):
        evaluate_rego(
            inv, DEFAULT_PROFILE, CATALOG, engine="opa", opa_url="http://127.0.0.1:8181/opa"
        )
    with pytest.raises(InputError, match=r"OPA request failed \(ConnectionError\)"):
        evaluate_rego(inv, DEFAULT_PROFILE, CATALOG, engine="opa", opa_url="http://127.0.0.1:1")


# --------------------------------------------------------------------- OPA


def test_opa_path_through_the_client_agrees(tmp_path: Path) -> None:
    inv = estate("azure", "broken")
    with OpaCompatibleServer() as server:
        through_opa = evaluate_rego(inv, DEFAULT_PROFILE, CATALOG, engine="opa", opa_url=server.url)
        requests = list(server.state.requests)
        assert server.state.data["catalog"]["rows"][0]["id"] == CATALOG.rows[0].id
    native = evaluate(inv, DEFAULT_PROFILE, CATALOG)
    assert keys(through_opa, rego_rules=True) == keys(native, rego_rules=True)
    assert requests == [
        ("PUT", "/v1/policies/swyx"),
        ("PUT", "/v1/data/catalog"),
        ("POST", "/v1/data/swyx/findings"),
    ]


def test_opa_rejecting_the_policy_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rego"
    bad.write_text("package swyx\n\nfindings contains f if {\n")
    with OpaCompatibleServer() as server, pytest.raises(InputError) as err:
        evaluate_rego(
            estate("aws", "broken"),
            DEFAULT_PROFILE,
            CATALOG,
            engine="opa",
            opa_url=server.url,
            policy_path=bad,
        )
    assert str(err.value).startswith(f"--opa-url {server.url}: OPA refused the request")


def test_real_opa_server_agrees() -> None:
    url = os.environ.get("OPA_URL")
    if not url:
        reason = (
            "OPA_URL is not set: no OPA server on this machine "
            "(set OPA_URL=http://host:8181 to run this test against a real OPA)"
        )
        print(reason)
        pytest.skip(reason)
    for provider in PROVIDERS:
        inv = estate(provider, "broken")  # type: ignore[arg-type]
        through_opa = evaluate_rego(inv, DEFAULT_PROFILE, CATALOG, engine="opa", opa_url=url)
        native = evaluate(inv, DEFAULT_PROFILE, CATALOG)
        assert keys(through_opa, rego_rules=True) == keys(native, rego_rules=True)


# --------------------------------------------------------------------- CLI


def scan(snapshot: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "policycheck",
            "scan",
            "snapshot",
            str(snapshot),
            "--format",
            "json",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def report_keys(stdout: str) -> Counter[Key]:
    """Every finding of a JSON report, whole (message and fingerprint included)."""
    return Counter((json.dumps(f, sort_keys=True),) for f in json.loads(stdout)["findings"])


@pytest.fixture
def broken_snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "gcp-broken.json"
    path.write_bytes(dumps(estate("gcp", "broken")))
    return path


def test_cli_rego_embedded_matches_native(broken_snapshot: Path) -> None:
    native = scan(broken_snapshot)
    rego = scan(broken_snapshot, "--rego", "embedded")
    assert (native.returncode, rego.returncode) == (1, 1), rego.stderr
    assert report_keys(rego.stdout) == report_keys(native.stdout)


def test_cli_rego_opa_against_the_compatible_server(broken_snapshot: Path) -> None:
    native = scan(broken_snapshot)
    with OpaCompatibleServer() as server:
        rego = scan(broken_snapshot, "--rego", "opa", "--opa-url", server.url)
    assert rego.returncode == 1, rego.stderr
    assert report_keys(rego.stdout) == report_keys(native.stdout)


def test_cli_rego_opa_without_url_exits_2(broken_snapshot: Path) -> None:
    result = scan(broken_snapshot, "--rego", "opa")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--opa-url is required" in result.stderr
