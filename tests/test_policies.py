"""Users' own Rego policies (--policy-dir): findings in every format, errors, tests, OPA.

The example policies (examples/policies/) run on the reference estate's
Terraform plans; what they must find is stated per policy from the estate
(fixtures/ESTATE.md), and checked in SARIF, JSON, text and Markdown.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_policycheck
from opa_compatible_server import OpaCompatibleServer

from policycheck.catalog import default_catalog
from policycheck.errors import InputError
from policycheck.policy.session import ENGINE_EXTRAS
from policycheck.profile import load_profile
from policycheck.rego import evaluate_rego
from policycheck.report.markdown import escape as escape_md
from policycheck.sources import terraform

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "policies"
PLANS = REPO / "fixtures" / "terraform"
AWS_PLAN = PLANS / "aws-broken" / "plan.json"
GCP_PLAN = PLANS / "gcp-broken" / "plan.json"
CATALOG = default_catalog()
USER_RULES = {"NET001", "NET002", "NET003", "TAG001"}


cli = run_policycheck


def scan(plan: Path, fmt: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("scan", "terraform", str(plan.relative_to(REPO)), "--format", fmt, *extra)


# ------------------------------------------------------------ every format


@pytest.fixture(scope="module", params=["embedded", "embedded-opa", "opa"])
def engine(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """The embedded engine (rego-cpp, or OPA's Go library in the same child-process
    design), or the OPA-server path (opa-python-client against the OPA-compatible
    test server): the same tests pass on all three."""
    if request.param == "embedded":
        yield []
        return
    if request.param == "embedded-opa":
        yield ["--rego-engine", "opa"]
        return
    with OpaCompatibleServer() as server:
        yield ["--rego", "opa", "--opa-url", server.url]


@pytest.fixture(scope="module")
def aws_sarif(engine: list[str]) -> dict[str, Any]:
    done = scan(AWS_PLAN, "sarif", "--policy-dir", "examples/policies", *engine)
    assert done.returncode == 1, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def test_sarif_rules_come_from_metadata(aws_sarif: dict[str, Any]) -> None:
    rules = {r["id"]: r for r in aws_sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert set(rules) >= USER_RULES
    rdp = rules["NET001"]
    assert rdp["name"] == "RemoteAdministrationOnlyFromTheJumpHosts"
    assert rdp["shortDescription"]["text"] == "Remote administration only from the jump hosts"
    assert rdp["fullDescription"]["text"].startswith("SSH and RDP must be reachable only")
    assert rdp["helpUri"] == "https://www.cisa.gov/news-events/cybersecurity-advisories/aa23-025a"
    assert "Narrow the rule's sources to the jump hosts" in rdp["help"]["markdown"]
    assert rdp["properties"]["security-severity"] == "8.0"  # custom.severity: high
    assert rdp["defaultConfiguration"]["level"] == "error"  # deny
    assert rules["NET002"]["defaultConfiguration"]["level"] == "warning"  # warn
    assert rules["TAG001"]["defaultConfiguration"]["level"] == "note"  # info
    assert rules["TAG001"]["properties"]["security-severity"] == "2.5"  # low


def test_sarif_results_point_at_the_terraform_declaration(aws_sarif: dict[str, Any]) -> None:
    run = aws_sarif["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = [r for r in run["results"] if r["ruleId"] in USER_RULES]
    assert all(ids[r["ruleIndex"]] == r["ruleId"] for r in results)

    def location(r: dict[str, Any]) -> tuple[str, int]:
        loc = r["locations"][0]["physicalLocation"]
        return loc["artifactLocation"]["uri"], loc["region"]["startLine"]

    # B1 (RDP from 0.0.0.0/0) is the first inline ingress block of the group.
    rdp = [r for r in results if r["ruleId"] == "NET001" and "port 3389" in r["message"]["text"]]
    main_tf = (PLANS / "aws-broken" / "main.tf").read_text().splitlines()
    b1 = next(i for i, line in enumerate(main_tf, 1) if "B1: RDP from anywhere" in line) + 1
    assert ("fixtures/terraform/aws-broken/main.tf", b1) in {location(r) for r in rdp}
    # B4 (SSH from ::/0) is a rule resource in the child module.
    ssh = [r for r in results if r["ruleId"] == "NET001" and "(::/0)" in r["message"]["text"]]
    [where] = {location(r) for r in ssh}
    assert where[0] == "fixtures/terraform/aws-broken/modules/pbx-rules/main.tf"
    # The owner policy blames the VM: the instance's declaration.
    [owner] = [r for r in results if r["ruleId"] == "TAG001"]
    assert owner["level"] == "note"
    assert owner["message"]["text"].endswith("pbx1 has no owner tag")
    assert owner["properties"]["resource"] == "aws_instance.pbx1"
    assert location(owner)[0] == "fixtures/terraform/aws-broken/main.tf"
    assert owner["properties"]["policy"]["file"] == "examples/policies/ownership.rego"


def test_json_text_and_markdown_carry_the_same_user_findings(engine: list[str]) -> None:
    json_run = scan(AWS_PLAN, "json", "--policy-dir", "examples/policies", *engine)
    assert json_run.returncode == 1, json_run.stderr
    report = json.loads(json_run.stdout)
    mine = [f for f in report["findings"] if f["rule_id"] in USER_RULES]
    assert {f["rule_id"] for f in mine} == {"NET001", "NET003", "TAG001"}
    assert report["summary"]["findings_by_rule"]["NET001"] == 4
    rdp = next(f for f in mine if f["rule_id"] == "NET001" and "3389" in f["message"])
    assert rdp["level"] == "error" and rdp["vm_name"] == "pbx1"
    # An inline rule: its group's address, the block's own lines (SARIF test).
    assert rdp["resource"] == "aws_security_group.pbx"
    assert rdp["policy"]["package"] == "examples.admin_access"
    assert [p["ports"] for p in rdp["region"]] == [[{"lo": 3389, "hi": 3389}]]
    # Every NET001 finding's region is the port its message names (the SSH one
    # comes from a region of several ports).
    for f in mine:
        if f["rule_id"] == "NET001":
            port = int(re.findall(r"port (\d+)", f["message"])[0])
            assert [p["ports"] for p in f["region"]] == [[{"lo": port, "hi": port}]], f

    text = scan(AWS_PLAN, "text", "--policy-dir", "examples/policies", *engine).stdout
    markdown = scan(AWS_PLAN, "markdown", "--policy-dir", "examples/policies", *engine).stdout
    # Text and Markdown list each finding once, under its rule id and title.
    for rule_id in {f["rule_id"] for f in mine}:
        rows = sum(1 for f in mine if f["rule_id"] == rule_id)
        assert len(re.findall(rf"^\s+(error|warning|note)\s+{rule_id}\s", text, re.M)) == rows
        assert len(re.findall(rf"^\| (error|warning|note) \| {rule_id} ", markdown, re.M)) == rows
    assert "TAG001   Every VM has an owner" in text
    # Each user finding's own message is shown, not only its rule's title.
    for finding in mine:
        first_words = " ".join(finding["message"].split()[:4])
        assert first_words in " ".join(text.split()), finding["message"]
        assert escape_md(first_words) in markdown, finding["message"]
    assert "fixtures/terraform/aws-broken/modules/pbx-rules/main.tf:23-30" in markdown
    assert "| NET001 | Remote administration only from the jump hosts | error | 4 | 0 |" in markdown


def test_warnings_and_notes_of_policies_count_for_fail_on(tmp_path: Path) -> None:
    # Only the owner policy (info -> note) and the description policy (warn).
    policies = tmp_path / "p"
    policies.mkdir()
    for name in ("ownership.rego", "rule_descriptions.rego", "data.yaml"):
        shutil.copy(EXAMPLES / name, policies / name)
    # The compliant estate has no native finding at or above warning: what
    # fails the gate is the policies' own findings.
    compliant = PLANS / "gcp-compliant" / "plan.json"
    by_level = {
        level: scan(compliant, "json", "--policy-dir", str(policies), "--fail-on", level)
        for level in ("error", "warning", "note", "never")
    }
    report = json.loads(by_level["note"].stdout)
    levels = {f["rule_id"]: f["level"] for f in report["findings"] if f["policy"]}
    assert levels == {"NET002": "warning", "TAG001": "note"}
    assert {k: v.returncode for k, v in by_level.items()} == {
        "error": 0,
        "warning": 1,
        "note": 1,
        "never": 0,
    }


def test_profile_policy_dirs_are_relative_to_the_profile(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "rego")
    profile = tmp_path / "swyx.yaml"
    profile.write_text("policy_dirs: [rego]\n")
    done = scan(GCP_PLAN, "json", "--profile", str(profile))
    assert done.returncode == 1, done.stderr
    found = {f["rule_id"] for f in json.loads(done.stdout)["findings"]}
    assert found >= USER_RULES


def test_suppressions_apply_to_policy_findings(tmp_path: Path) -> None:
    profile = tmp_path / "swyx.yaml"
    profile.write_text(
        "suppressions:\n"
        "  - rule: TAG001\n    vm: pbx1\n    reason: owner tags come with the CMDB import\n"
        "    expires: 2999-01-01\n"
    )
    done = scan(GCP_PLAN, "json", "--policy-dir", "examples/policies", "--profile", str(profile))
    [owner] = [f for f in json.loads(done.stdout)["findings"] if f["rule_id"] == "TAG001"]
    assert owner["suppression"]["reason"] == "owner tags come with the CMDB import"


def test_rego_input_is_the_document_policies_see(tmp_path: Path) -> None:
    out = tmp_path / "input.json"
    done = scan(AWS_PLAN, "json", "--rego-input", str(out))
    assert done.returncode == 1, done.stderr
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1
    [vm] = doc["vms"].values()
    assert vm["name"] == "pbx1" and vm["compared"]
    rdp = [r for r in vm["inbound"] if r["ports"] == [[3389, 3389]]]
    assert rdp and rdp[0]["reach"]["internet"] and rdp[0]["reach"]["anywhere"]


# ------------------------------------------------------------------ errors


def policy_dir(tmp_path: Path, text: str, name: str = "broken.rego") -> Path:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def failing_scan(folder: Path, *extra: str) -> str:
    done = cli(
        "scan", "terraform", str(AWS_PLAN), "--format", "json", "--policy-dir", str(folder), *extra
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


HEAD = "package acme.check\n\nimport rego.v1\n\n"


def test_a_policy_that_does_not_parse_names_its_line(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path, HEAD + "deny contains msg if {\n\tmsg := 1 +\n}\n")
    line = failing_scan(folder)
    assert re.match(rf"policycheck: error: {re.escape(str(folder))}/broken\.rego:6: ", line), line


def test_a_missing_builtin_is_an_error_not_silence(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        HEAD
        + "deny contains msg if {\n"
        + "\tsome vm in input.vms\n"
        + '\tnet.cidr_contains("10.0.0.0/8", vm.addresses[0])\n'
        + '\tmsg := "internal"\n}\n',
    )
    line = failing_scan(folder)
    assert f"{folder}/broken.rego:7: net.cidr_contains is neither defined" in line
    assert "built-in function of the embedded Rego engine (rego-cpp" in line


def test_an_unknown_function_is_an_error(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path, HEAD + "deny contains msg if {\n\tmsg := acme.lookup(1)\n}\n")
    assert f"{folder}/broken.rego:6: acme.lookup is neither defined" in failing_scan(folder)


def test_a_failing_builtin_carries_the_engine_message(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path, HEAD + 'deny contains msg if {\n\tn := to_number("many")\n\tmsg := "x"\n}\n'
    )
    line = failing_scan(folder)
    assert line.startswith(f"policycheck: error: {folder}/broken.rego:6: ")
    assert "(embedded Rego engine)" in line
    assert line.removeprefix(f"policycheck: error: {folder}/broken.rego:6: ").strip() != ""


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("deny contains 42 if true\n", "expected an object with a message, or a string"),
        ('deny contains {"id": "X1"} if true\n', "no message"),
        ('deny contains {"message": "m", "vm": "nope"} if true\n', "vm 'nope' is not a VM id"),
        ('deny := "not a set"\n', "the rule is not a set"),
        ('deny contains {"message": "m", "id": "SWYX001"} if true\n', "reserved"),
        ('deny contains {"message": "m", "direction": "up"} if true\n', "inbound or outbound"),
    ],
)
def test_a_malformed_result_names_the_rule(
    tmp_path: Path, body: str, problem: str, engine: list[str]
) -> None:
    folder = policy_dir(tmp_path, HEAD + body)
    line = failing_scan(folder, *engine)
    assert line.startswith(f"policycheck: error: {folder}/broken.rego:5: deny"), line
    assert problem in line


def test_a_policy_past_the_time_limit_is_stopped(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        HEAD
        + "deny contains msg if {\n"
        + "\tn := count([x | some x in numbers.range(0, 100000000)])\n"
        + "\tmsg := format_int(n, 10)\n}\n",
    )
    line = failing_scan(folder, "--rego-timeout", "2")
    assert line == (
        f"policycheck: error: {folder}/broken.rego:5: data.acme.check.deny did not finish "
        "within 2 s (raise the limit with --rego-timeout)"
    )


def test_same_function_name_with_other_arity_is_caught(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        "package a\n\nimport rego.v1\n\n_f(x) := x\n\ndeny contains _f(1) if false\n",
        "a.rego",
    )
    policy_dir(tmp_path, "package b\n\nimport rego.v1\n\n_f(x, y) := x\n", "b.rego")
    line = failing_scan(folder)
    assert f"{folder}/b.rego:5: function _f takes 2 argument(s) here and 1 at" in line


def test_policy_dir_errors(tmp_path: Path) -> None:
    missing = failing_scan(tmp_path / "nowhere")
    assert missing == f"policycheck: error: --policy-dir {tmp_path}/nowhere: no such directory"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert failing_scan(empty).endswith("no .rego files in it")
    own = policy_dir(tmp_path, "package swyx\n", "mine.rego")
    assert "package swyx is policycheck's own" in failing_scan(own)


# ---------------------------------------------------------- policy test


def test_policy_test_passes_on_the_examples() -> None:
    done = cli("policy", "test", "examples/policies")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "PASS: 17/17"


def test_policy_test_fails_when_a_test_is_broken(tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(EXAMPLES, copy)
    test = copy / "ownership_test.rego"
    test.write_text(test.read_text().replace('{"vm-2", "vm-3"}', '{"vm-2"}'))
    done = cli("policy", "test", str(copy))
    assert done.returncode == 1
    assert (
        f"{copy}/ownership_test.rego:12: data.examples.ownership_test."
        "test_vms_without_an_owner_are_reported: FAIL"
    ) in done.stdout
    assert done.stdout.strip().endswith("PASS: 16/17, FAIL: 1/17")


def test_policy_test_reports_errors_skips_and_crashes(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        "package t\n\nimport rego.v1\n\n"
        "g contains x if { some x in input.xs }\n"
        "h := count(g)\n\n"
        'test_error if { to_number("x") == 1 }\n\n'
        "todo_test_later if { false }\n\n"
        'test_crash if { h == 1 with input as {"xs": [1]} }\n\n'
        "test_ok if { h == 2 with input.xs as [1, 2] }\n",
        "t_test.rego",
    )
    done = cli("policy", "test", str(folder), "-v")
    assert done.returncode == 1
    out = done.stdout
    # rego-cpp crashes on the module as a whole: every test errs, and says where.
    assert "data.t.todo_test_later: SKIP" in out
    for line, name in ((8, "test_error"), (12, "test_crash"), (14, "test_ok")):
        assert f"t_test.rego:{line}: data.t.{name}: ERROR" in out
    assert "mock `input.<key>` instead" in out
    assert f"(`with input as` at {folder}/t_test.rego:12)" in out
    assert out.strip().endswith("PASS: 0/4, ERROR: 3/4, SKIP: 1/4")


def test_policy_test_reports_a_failing_builtin_as_an_error(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        HEAD + 'test_error if { to_number("x") == 1 }\n\ntest_ok if { 1 == 1 }\n',
        "e_test.rego",
    )
    done = cli("policy", "test", str(folder))
    assert done.returncode == 1
    assert f"{folder}/e_test.rego:5: data.acme.check.test_error: ERROR" in done.stdout
    assert done.stdout.strip().endswith("PASS: 1/2, ERROR: 1/2")


def test_policy_test_without_tests_or_with_a_load_error_exits_2(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path, HEAD + "x := 1\n")
    done = cli("policy", "test", str(folder))
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"policycheck: error: {folder}: no test_* rules",
    )
    folder = policy_dir(tmp_path, HEAD + "test_x if {\n", "b_test.rego")
    done = cli("policy", "test", str(folder))
    assert done.returncode == 2 and f"{folder}/b_test.rego:" in done.stderr


def test_with_as_a_rule_is_refused_for_the_embedded_engine(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        HEAD + "v := {1}\nx := input.v\ntest_x if { x == {1} with input.v as v }\n",
        "w_test.rego",
    )
    done = cli("policy", "test", str(folder))
    assert done.returncode == 2
    assert f"{folder}/w_test.rego:7: `with ... as v`" in done.stderr


# -------------------------------------------------------------------- OPA


def user_keys(findings: list[Any]) -> list[str]:
    return sorted(json.dumps(f.model_dump(mode="json"), sort_keys=True) for f in findings)


def test_the_opa_path_gives_the_same_findings_and_cleans_up() -> None:
    inventory = terraform.load_plan(AWS_PLAN)
    profile = load_profile(None, CATALOG)
    dirs = [EXAMPLES]
    embedded = evaluate_rego(inventory, profile, CATALOG, policy_dirs=dirs)
    with OpaCompatibleServer() as server:
        opa = evaluate_rego(
            inventory, profile, CATALOG, engine="opa", opa_url=server.url, policy_dirs=dirs
        )
        requests = list(server.state.requests)
        left = (dict(server.state.policies), dict(server.state.data))
    assert user_keys(opa.findings) == user_keys(embedded.findings)
    assert {f.rule_id for f in opa.findings} >= {"NET001", "NET003", "TAG001"}
    uploads = [path for method, path in requests if method == "PUT"]
    assert "/v1/policies/policycheck/policies/swyx.rego" in uploads
    assert "/v1/policies/policycheck/examples/policies/admin_access.rego" in uploads
    assert ("POST", "/v1/data/examples/admin_access/deny") in requests
    assert ("DELETE", "/v1/data/admin_access") in requests
    assert left == ({}, {})


def test_opa_errors_name_the_url_and_carry_opas_message(tmp_path: Path) -> None:
    inventory = terraform.load_plan(AWS_PLAN)
    profile = load_profile(None, CATALOG)
    folder = policy_dir(
        tmp_path, HEAD + 'deny contains msg if {\n\tn := to_number("many")\n\tmsg := "x"\n}\n'
    )
    with OpaCompatibleServer() as server, pytest.raises(InputError) as err:
        evaluate_rego(
            inventory,
            profile,
            CATALOG,
            engine="opa",
            opa_url=server.url,
            swyx=False,
            policy_dirs=[folder],
        )
    message = str(err.value)
    assert message.startswith(
        f"--opa-url {server.url} {folder}/broken.rego:5: OPA answered HTTP 500"
    )
    assert "eval_builtin_error" in message


# ------------------------------------------------------- engine built-ins


def listed(marker: str) -> list[str]:
    text = (REPO / "docs" / "rego.md").read_text()
    block = text.split(f"<!-- builtins:{marker} -->", 1)[1].split("<!-- builtins:end -->", 1)[0]
    return re.findall(r"`([a-z0-9_.]+)`", block)


def test_docs_list_what_the_embedded_engine_supports() -> None:
    from regopy import Interpreter

    rego = Interpreter()
    supported, missing = listed("supported"), listed("missing")
    assert len(supported) > 100 and len(missing) > 10
    assert [n for n in supported if not rego.is_builtin(n) and n not in ENGINE_EXTRAS] == []
    assert [n for n in missing if rego.is_builtin(n)] == []


def test_strings_of_the_input_keep_their_quotes(tmp_path: Path) -> None:
    # rego-cpp writes strings it was handed as Python objects back unescaped
    # (`"m["x"]"`), so the input goes in as JSON text: a Terraform address with
    # `["key"]`, or a tag with a quote, comes back exactly.
    inventory = terraform.load_plan(AWS_PLAN)
    team = 'net "core" \\ ops'
    vms = [vm.model_copy(update={"tags": {**vm.tags, "team": team}}) for vm in inventory.vms]
    inventory = inventory.model_copy(update={"vms": vms})
    folder = policy_dir(
        tmp_path,
        HEAD + "deny contains msg if {\n\tsome vm in input.vms\n\tmsg := vm.tags.team\n}\n",
    )
    result = evaluate_rego(
        inventory, load_profile(None, CATALOG), CATALOG, swyx=False, policy_dirs=[folder]
    )
    assert [f.policy.message for f in result.findings if f.policy is not None] == [team]


# ------------------------------------------- the embedded OPA engine (Go library)

OPA_ENGINE = ("--rego-engine", "opa")


def test_embedded_opa_gives_the_findings_of_rego_cpp_and_the_opa_server() -> None:
    inventory = terraform.load_plan(AWS_PLAN)
    profile = load_profile(None, CATALOG)
    dirs = [EXAMPLES]
    cpp = evaluate_rego(inventory, profile, CATALOG, policy_dirs=dirs)
    opa = evaluate_rego(inventory, profile, CATALOG, policy_dirs=dirs, embedded="opa")
    with OpaCompatibleServer() as server:
        remote = evaluate_rego(
            inventory, profile, CATALOG, engine="opa", opa_url=server.url, policy_dirs=dirs
        )
    assert user_keys(opa.findings) == user_keys(cpp.findings) == user_keys(remote.findings)
    assert {f.rule_id for f in opa.findings} >= {"SWYX001", "NET001", "NET003", "TAG001"}


def test_embedded_opa_parse_error_names_the_line(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path, HEAD + "deny contains msg if {\n\tmsg := 1 +\n}\n")
    line = failing_scan(folder, *OPA_ENGINE)
    assert line.startswith(f"policycheck: error: {folder}/broken.rego:7: rego_parse_error: "), line


def test_embedded_opa_unknown_function_names_the_line(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        HEAD + "deny contains msg if {\n\tsome vm in input.vms\n\tmsg := acme.lookup(vm)\n}\n",
    )
    line = failing_scan(folder, *OPA_ENGINE)
    assert line == (
        f"policycheck: error: {folder}/broken.rego:7: rego_type_error: undefined function "
        "acme.lookup (embedded Rego engine)"
    )


def test_embedded_opa_has_the_net_cidr_builtins(tmp_path: Path) -> None:
    # What rego-cpp lacks (test_a_missing_builtin_is_an_error_not_silence) OPA has.
    folder = policy_dir(
        tmp_path,
        HEAD
        + "deny contains msg if {\n"
        + "\tsome vm in input.vms\n"
        + '\tnet.cidr_contains("0.0.0.0/0", vm.addresses[0])\n'
        + '\tmsg := sprintf("%s has an address", [vm.name])\n}\n',
    )
    done = cli(
        "scan",
        "terraform",
        str(AWS_PLAN),
        "--format",
        "json",
        "--policy-dir",
        str(folder),
        *OPA_ENGINE,
    )
    assert done.returncode == 1, done.stderr
    mine = [f for f in json.loads(done.stdout)["findings"] if f.get("policy")]
    assert sorted(f["message"] for f in mine) == ["pbx1 has an address"]


def test_embedded_opa_past_the_time_limit_is_stopped(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        HEAD
        + "deny contains msg if {\n"
        + "\tn := count([x | some x in numbers.range(0, 1000000000)])\n"
        + "\tmsg := format_int(n, 10)\n}\n",
    )
    line = failing_scan(folder, "--rego-timeout", "2", *OPA_ENGINE)
    assert line == (
        f"policycheck: error: {folder}/broken.rego:5: data.acme.check.deny did not finish "
        "within 2 s (raise the limit with --rego-timeout)"
    )


def hiding_opa(tmp_path: Path) -> dict[str, str]:
    """An environment where `import opa_bindings` fails, as without the package:
    a package of that name first on the path that raises ImportError."""
    shim = tmp_path / "shim" / "opa_bindings"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError(\"No module named 'opa_bindings'\")\n")
    return {**os.environ, "PYTHONPATH": str(shim.parent)}


def test_without_the_opa_package_one_line_says_how_to_install_it(tmp_path: Path) -> None:
    env = hiding_opa(tmp_path)
    install = "pip install --no-deps --ignore-requires-python opa-golib-python-bindings==0.4.4"
    for args in (
        ["scan", "terraform", str(AWS_PLAN), "--rego", "embedded", *OPA_ENGINE],
        ["policy", "test", str(EXAMPLES), "--engine", "opa"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "policycheck", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            env=env,
        )
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr.strip().splitlines() == [
            "policycheck: error: the embedded Rego engine opa needs opa_bindings, which is "
            f"not installed: {install}"
        ]


def test_policy_test_with_opa_passes_and_fails_on_a_broken_test(tmp_path: Path) -> None:
    done = cli("policy", "test", "examples/policies", "--engine", "opa")
    assert (done.returncode, done.stdout.strip()) == (0, "PASS: 17/17"), done.stderr
    copy = tmp_path / "policies"
    shutil.copytree(EXAMPLES, copy)
    test = copy / "ownership_test.rego"
    test.write_text(test.read_text().replace('{"vm-2", "vm-3"}', '{"vm-2"}'))
    done = cli("policy", "test", str(copy), "--engine", "opa")
    assert done.returncode == 1
    assert (
        f"{copy}/ownership_test.rego:12: data.examples.ownership_test."
        "test_vms_without_an_owner_are_reported: FAIL"
    ) in done.stdout
    assert done.stdout.strip().endswith("PASS: 16/17, FAIL: 1/17")


def test_policy_test_with_opa_load_errors_exit_2_naming_the_line(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path, HEAD + "test_x if {\n\tnofunc(1)\n}\n", "u_test.rego")
    done = cli("policy", "test", str(folder), "--engine", "opa")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"policycheck: error: {folder}/u_test.rego:6: rego_type_error: undefined function "
        "nofunc (embedded Rego engine)"
    )
