"""policies/swyx.rego reaches the native verdicts, embedded and through OPA's REST API.

The native engine is the reference: on every estate here, the Rego run's
SWYX001-SWYX003 findings must equal the native ones field by field (rule, VM,
direction, the exact region part by part, responsible rules, catalog rows, the
SWYX002/SWYX003 details; everything a finding holds). The policy decides from
the comparison facts of the input document (docs/rego.md); its own unit tests
(policies/swyx_test.rego) run through `policycheck policy test`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import run_policycheck
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_estates import estate, rule
from opa_compatible_server import OpaCompatibleServer
from test_engine_properties import Case, aws_cases, azure_cases, gcp_cases

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.errors import InputError
from policycheck.findings import Finding, ScanResult
from policycheck.model import VM, Inventory, Peer
from policycheck.policy.document import SCHEMA_VERSION, DocumentBuilder
from policycheck.profile import Profile, load_profile
from policycheck.rego import REGO_RULES, evaluate_rego
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


# ------------------------------------------------------ generated estates

ROLES_FOR_ALL = {
    "role_assignments": [
        {"match": {"name": "*"}, "roles": ["swyxware-server", "remote-connector"]},
    ],
    "internal_networks": ["10.0.0.0/8", "fd00::/8"],
}
RANDOM_ESTATES = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def roles_for_all(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    return profile_from(tmp_path_factory.mktemp("profile"), ROLES_FOR_ALL)


@RANDOM_ESTATES
@given(case=st.one_of(aws_cases(), azure_cases(), gcp_cases()))
def test_generated_estates_agree(case: Case, roles_for_all: Profile) -> None:
    """On the engine properties' generated estates (every cloud's semantics), with
    server and RemoteConnector roles on every VM, the policy agrees with native."""
    assert_agree(case.inventory, roles_for_all)


# ------------------------------------------------------ the policy's tests


def test_swyx_policy_unit_tests_pass() -> None:
    """policies/swyx_test.rego, as `make test` and CI run it (OPA runs it too)."""
    done = cli("policy", "test", "policies", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS: 6/6" in done.stdout


# ---------------------------------------------------------- input document


def document_keys(value: Any, *, under: str = "") -> Iterator[str]:
    """Every key of the document, except the ids that index its objects."""
    if isinstance(value, dict):
        indexed = under in ("firewalls", "vms", "rules", "within", "tags", "peer_groups")
        for k, v in value.items():
            if not indexed:
                yield k
            yield from document_keys(v, under=k)
    elif isinstance(value, list):
        for v in value:
            yield from document_keys(v, under=under)


def build(inventory: Inventory, profile: Profile = DEFAULT_PROFILE) -> dict[str, Any]:
    builder = DocumentBuilder(inventory, profile)
    evaluate(inventory, profile, CATALOG, observe=builder)
    return builder.finish()


def test_input_document_is_json_versioned_and_documented() -> None:
    doc = build(with_load_balancer_rule())
    assert json.loads(json.dumps(doc)) == doc
    assert doc["schema_version"] == SCHEMA_VERSION
    docs = (REPO / "docs" / "rego.md").read_text()
    missing = sorted({k for k in document_keys(doc) if f"`{k}`" not in docs})
    assert missing == []
    [vm] = doc["vms"].values()
    lb = [r for r in vm["inbound"] if r["excluded_peers"]]
    assert lb and all(r["excluded_peers"] == ["168.63.129.16/32"] for r in lb)
    # The comparison ignores the probe: neither internet nor internal.
    assert all(not r["reach"]["internet"] and not r["reach"]["internal"] for r in lb)


def test_input_document_indexes_by_id_and_names_rules_that_exist() -> None:
    doc = build(estate("azure", "broken"))
    for vm_id, vm in doc["vms"].items():
        assert vm["id"] == vm_id
        for region in [*vm["inbound"], *vm["outbound"]]:
            assert region["rules"] == vm["rule_sets"][region["rule_set"]]
            for ref in region["rules"]:
                assert doc["firewalls"][ref["firewall"]]["rules"][ref["rule"]]["id"] == ref["rule"]
    # Azure's default rules are named, and marked as the platform's.
    synthetic = [
        r for fw in doc["firewalls"].values() for r in fw["rules"].values() if r["synthetic"]
    ]
    assert {r["name"] for r in synthetic} >= {"AllowAzureLoadBalancerInBound"}


# ------------------------------------------------------------------ errors


def test_broken_policy_is_one_line_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rego"
    bad.write_text("package swyx\n\nfindings contains f if {\n")
    with pytest.raises(InputError) as err:
        evaluate_rego(
            estate("aws", "broken"), DEFAULT_PROFILE, CATALOG, engine="embedded", policy_path=bad
        )
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{bad}:3: ")


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


def test_opa_path_through_the_client_agrees_and_cleans_up() -> None:
    inv = estate("azure", "broken")
    with OpaCompatibleServer() as server:
        through_opa = evaluate_rego(inv, DEFAULT_PROFILE, CATALOG, engine="opa", opa_url=server.url)
        requests = list(server.state.requests)
        left = (dict(server.state.policies), dict(server.state.data))
    native = evaluate(inv, DEFAULT_PROFILE, CATALOG)
    assert keys(through_opa, rego_rules=True) == keys(native, rego_rules=True)
    assert requests == [
        ("PUT", "/v1/policies/policycheck/policies/swyx.rego"),
        ("POST", "/v1/data/swyx/findings"),
        ("DELETE", "/v1/policies/policycheck/policies/swyx.rego"),
    ]
    assert left == ({}, {})


def test_opa_rejecting_the_policy_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rego"
    bad.write_text("package swyx\n\nimport rego.v1\n\nfindings contains f if {\n")
    with OpaCompatibleServer() as server, pytest.raises(InputError) as err:
        evaluate_rego(
            estate("aws", "broken"),
            DEFAULT_PROFILE,
            CATALOG,
            engine="opa",
            opa_url=server.url,
            policy_path=bad,
        )
    message = str(err.value)
    assert message.startswith(f"--opa-url {server.url} policy policycheck/")
    assert f"OPA refused the policy: {bad}:5: " in message


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


cli = run_policycheck


def scan(snapshot: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("scan", "snapshot", str(snapshot), "--format", "json", *extra)


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


def test_cli_opa_url_without_rego_opa_exits_2(broken_snapshot: Path) -> None:
    result = scan(broken_snapshot, "--opa-url", "http://127.0.0.1:8181")
    assert result.returncode == 2
    assert "add --rego opa" in result.stderr
