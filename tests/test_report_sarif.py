"""SARIF: valid against the official schema and shaped the way GitHub code scanning needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_samples import (
    COLLECTION_ERROR,
    TF_FILE,
    aws_findings,
    clean_result,
    finding,
    mixed_result,
    part,
    terraform_result,
    with_shifted_lines,
)

from policycheck.findings import RULES, ScanResult
from policycheck.report import render
from policycheck.report.common import flow_text, part_text
from policycheck.report.sarif import (
    automation_id,
    pseudo_uri,
    relative_uri,
)

SCHEMA_PATH = Path(__file__).parent.parent / "policycheck/report/schemas/sarif-schema-2.1.0.json"
PROPERTY_KEYS = {"vm", "resource", "region", "peers", "catalogRows", "direction"}


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    # The official schema declares draft-04; use exactly that dialect.
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    cls = jsonschema.validators.validator_for(schema)
    assert cls is jsonschema.Draft4Validator
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def sarif(result: ScanResult, category: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render(result, "sarif", category=category))
    return data


def run_of(result: ScanResult, category: str | None = None) -> dict[str, Any]:
    log = sarif(result, category)
    assert len(log["runs"]) == 1
    run: dict[str, Any] = log["runs"][0]
    return run


@pytest.mark.parametrize("make", [mixed_result, terraform_result, clean_result])
def test_valid_against_official_schema(
    validator: jsonschema.protocols.Validator, make: Any
) -> None:
    errors = sorted(validator.iter_errors(sarif(make())), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_validator_catches_a_broken_log(validator: jsonschema.protocols.Validator) -> None:
    """The validation above can fail: a result without a message is rejected."""
    log = sarif(mixed_result())
    del log["runs"][0]["results"][0]["message"]
    assert not validator.is_valid(log)


def test_log_header_and_single_run() -> None:
    log = sarif(mixed_result())
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    assert len(log["runs"]) == 1


def test_driver_describes_tool_and_every_rule() -> None:
    driver = run_of(mixed_result())["tool"]["driver"]
    assert driver["name"] == "policycheck"
    assert driver["version"] == "0.1.0"
    assert driver["semanticVersion"] == "0.1.0"
    assert ":" in driver["informationUri"]  # an absolute URI
    assert [r["id"] for r in driver["rules"]] == sorted(RULES)
    for rule in driver["rules"]:
        info = RULES[rule["id"]]
        assert rule["name"] == info.name
        assert rule["shortDescription"]["text"] == info.title
        assert rule["fullDescription"]["text"] == info.description
        assert len(rule["fullDescription"]["text"]) <= 1000  # GitHub's limit
        assert info.remediation in rule["help"]["text"]
        assert "```hcl\n" in rule["help"]["markdown"]
        assert 'resource "' in rule["help"]["markdown"]
        assert "Why it matters" in rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] == info.level
        props = rule["properties"]
        assert {"security", "aws", "azure", "gcp"} <= set(props["tags"])
        assert isinstance(props["security-severity"], str)
        assert float(props["security-severity"]) == info.security_severity
        assert props["precision"] == info.precision
        assert props["problem.severity"] in ("error", "warning", "recommendation")


def test_rules_are_listed_even_without_findings() -> None:
    run = run_of(clean_result())
    assert len(run["tool"]["driver"]["rules"]) == len(RULES) == 8
    assert run["results"] == []


def test_every_result_has_what_github_requires() -> None:
    result = mixed_result()
    run = run_of(result)
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(result.findings)
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"]
        loc = res["locations"][0]
        phys = loc["physicalLocation"]
        uri = phys["artifactLocation"]["uri"]
        assert uri and not uri.startswith("/") and "\\" not in uri and "://" not in uri
        assert phys["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert phys["region"]["startLine"] >= 1
        assert phys["region"]["endLine"] >= phys["region"]["startLine"]
        assert loc["logicalLocations"][0]["kind"] == "resource"
        assert loc["logicalLocations"][0]["fullyQualifiedName"] == res["properties"]["resource"]
        assert len(res["partialFingerprints"]["primaryLocationLineHash"]) == 32
        assert PROPERTY_KEYS | {"provider"} <= set(res["properties"])


def test_message_names_vm_rule_protocol_ports_and_peers() -> None:
    run = run_of(terraform_result())
    by_line = {
        r["locations"][0]["physicalLocation"]["region"]["startLine"]: r for r in run["results"]
    }
    rdp = by_line[12]
    text = rdp["message"]["text"]
    assert rdp["ruleId"] == "SWYX001"
    for word in ("pbx1", "tcp", "3389", "0.0.0.0/0", "swyx-pbx/rdp"):
        assert word in text
    [only] = rdp["properties"]["region"]
    assert (only["protocol"], only["ports"]) == ("tcp", [{"lo": 3389, "hi": 3389}])
    assert only["peers"] == rdp["properties"]["peers"] == ["0.0.0.0/0"]
    assert rdp["properties"]["direction"] == "inbound"
    assert rdp["properties"]["provider"] == "aws"


@pytest.mark.parametrize("make", [mixed_result, terraform_result])
def test_message_says_each_thing_once(make: Any) -> None:
    """The message is not the title followed by the same content again: the title
    is the rule's shortDescription, and the region is said once."""
    result = make()
    by_fingerprint = {f.fingerprint(): f for f in result.findings}
    for res in run_of(result)["results"]:
        text = res["message"]["text"]
        finding = by_fingerprint[res["partialFingerprints"]["primaryLocationLineHash"]]
        assert RULES[res["ruleId"]].title.lower() not in text.lower()
        assert res["ruleId"] not in text
        if finding.rule_id in ("SWYX001", "SWYX002", "SWYX004"):
            assert text.count(flow_text(finding)) == 1, text
        for each in finding.region:  # said only where the region is said
            assert text.count(part_text(each)) == flow_text(finding).count(part_text(each))


def test_help_shows_the_examples_of_the_scanned_clouds_only() -> None:
    """An AWS scan's help has AWS resources, never azurerm or google ones."""
    for rule in run_of(terraform_result())["tool"]["driver"]["rules"]:
        for help_text in (rule["help"]["text"], rule["help"]["markdown"]):
            assert 'resource "aws_' in help_text
            assert "azurerm_" not in help_text
            assert "google_" not in help_text
        assert "Terraform example (AWS)" in rule["help"]["markdown"]
    for rule in run_of(mixed_result())["tool"]["driver"]["rules"]:
        markdown = rule["help"]["markdown"]
        for cloud in ("AWS", "Azure", "Google Cloud"):
            assert f"### Terraform example ({cloud})" in markdown
        assert 'resource "azurerm_' in markdown and 'resource "google_' in markdown


def test_live_results_carry_their_console_pages() -> None:
    results = run_of(mixed_result())["results"]
    azure = next(
        r for r in results if r["properties"]["provider"] == "azure" and r["ruleId"] == "SWYX004"
    )
    assert azure["properties"]["consoleUrls"] == [
        "https://portal.azure.com/#@/resource/subscriptions/11111111-2222-3333-4444-555555555555"
        "/resourceGroups/swyx/providers/Microsoft.Network/networkSecurityGroups/pbx1-nsg"
    ]
    gcp = next(
        r for r in results if r["properties"]["provider"] == "gcp" and r["ruleId"] == "SWYX002"
    )
    assert gcp["properties"]["consoleUrls"] == [
        "https://console.cloud.google.com/networking/firewalls/details/b2-sip?project=swyx-prod"
    ]
    # A plan's findings point at files, not consoles.
    assert all("consoleUrls" not in r["properties"] for r in run_of(terraform_result())["results"])


def test_terraform_finding_points_at_declaration() -> None:
    run = run_of(terraform_result())
    rdp = next(r for r in run["results"] if "swyx-pbx/rdp" in r["message"]["text"])
    phys = rdp["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == TF_FILE
    assert phys["region"] == {"startLine": 12, "endLine": 20}
    logical = rdp["locations"][0]["logicalLocations"][0]
    assert logical["fullyQualifiedName"] == "module.pbx.aws_security_group_rule.rdp"


def test_finding_without_file_uses_the_plan_path() -> None:
    """SWYX006 on a VM has no responsible rule, so no file: the plan stands in."""
    run = run_of(terraform_result())
    unassigned = next(r for r in run["results"] if r["ruleId"] == "SWYX006")
    phys = unassigned["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == "plans/broken.json"
    assert phys["region"] == {"startLine": 1, "endLine": 1}


def test_live_finding_gets_stable_pseudo_location() -> None:
    run = run_of(mixed_result())
    azure_rdp = next(
        r
        for r in run["results"]
        if r["properties"]["provider"] == "azure"
        and r["properties"]["region"][0]["ports"] == [{"lo": 3389, "hi": 3389}]
    )
    uri = azure_rdp["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.startswith("policycheck/azure/subscriptions/")
    assert uri.endswith("/networkSecurityGroups/pbx1-nsg/securityRules/allow-rdp")
    assert azure_rdp["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    # Same input, same location: a re-scan does not move the alert.
    again = run_of(mixed_result())["results"]
    assert [r["locations"] for r in again] == [r["locations"] for r in run["results"]]


def test_pseudo_uri_strips_scheme_and_escapes() -> None:
    gcp = pseudo_uri("gcp", "https://www.googleapis.com/compute/v1/projects/p/global/firewalls/x")
    assert gcp == "policycheck/gcp/www.googleapis.com/compute/v1/projects/p/global/firewalls/x"
    arn = pseudo_uri("aws", "arn:aws:ec2:eu-central-1:123456789012:security-group/sg-1 a")
    assert arn == "policycheck/aws/arn:aws:ec2:eu-central-1:123456789012:security-group/sg-1%20a"


def test_relative_uri_normalizes_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert relative_uri(str(tmp_path / "infra" / "main.tf")) == "infra/main.tf"
    assert relative_uri("./infra/../infra/main.tf") == "infra/main.tf"
    assert relative_uri("infra\\net\\sg.tf") == "infra/net/sg.tf"
    assert relative_uri("C:\\work\\infra\\main.tf") == "work/infra/main.tf"
    assert relative_uri("/elsewhere/plan.json") == "elsewhere/plan.json"
    assert relative_uri("my plan#1.json") == "my%20plan%231.json"


def test_result_order_is_deterministic_and_worst_first() -> None:
    levels = [r["level"] for r in run_of(mixed_result())["results"]]
    rank = {"error": 0, "warning": 1, "note": 2}
    assert levels == sorted(levels, key=rank.__getitem__)
    shuffled = mixed_result()
    shuffled = shuffled.model_copy(update={"findings": sorted(shuffled.findings, key=id)})
    assert render(shuffled, "sarif") == render(mixed_result(), "sarif")


def test_fingerprints_survive_line_moves() -> None:
    before = run_of(terraform_result())["results"]
    after = run_of(with_shifted_lines(terraform_result(), 17))["results"]
    moved = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after]
    assert moved != [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in before]
    assert [r["partialFingerprints"] for r in after] == [r["partialFingerprints"] for r in before]


def test_unrelated_finding_leaves_other_fingerprints_alone() -> None:
    base = terraform_result()
    extra = finding(
        "SWYX001",
        provider="aws",
        vm_id="i-0a1b2c3d4e5f60718",
        region=[part("tcp", "8080", peers=["192.0.2.0/24"])],
    )
    grown = base.model_copy(update={"findings": [*base.findings, extra]})
    before = {r["partialFingerprints"]["primaryLocationLineHash"] for r in run_of(base)["results"]}
    after = {r["partialFingerprints"]["primaryLocationLineHash"] for r in run_of(grown)["results"]}
    assert before < after
    assert after - before == {extra.fingerprint()}


def test_fingerprints_distinguish_findings() -> None:
    hashes = [
        r["partialFingerprints"]["primaryLocationLineHash"]
        for r in run_of(mixed_result())["results"]
    ]
    assert len(set(hashes)) == len(hashes)


def test_suppressed_finding_is_kept_with_suppression() -> None:
    run = run_of(mixed_result())
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert len(suppressed) == 1
    (sup,) = suppressed[0]["suppressions"]
    assert sup["kind"] == "external"
    assert sup["status"] == "accepted"
    assert sup["justification"].startswith("Vendor support access")
    assert sup["properties"]["expires"] == "2031-03-31"
    assert sup["properties"]["match"] == "suppressions[0]"
    assert all("suppressions" not in r for r in run["results"] if r is not suppressed[0])


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        (None, "policycheck/aws+azure+gcp/"),
        ("policycheck/terraform", "policycheck/terraform/"),
        ("terraform/prod/", "terraform/prod/"),
        ("  ", "policycheck/aws+azure+gcp/"),
    ],
)
def test_automation_details_category(category: str | None, expected: str) -> None:
    assert run_of(mixed_result(), category)["automationDetails"]["id"] == expected


def test_default_category_follows_source_kind() -> None:
    assert run_of(terraform_result())["automationDetails"]["id"] == "policycheck/terraform/"
    assert automation_id(None, []) == "policycheck/scan/"


def test_invocation_reports_collection_errors() -> None:
    run = run_of(mixed_result())
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert COLLECTION_ERROR.scope in note["message"]["text"]
    assert COLLECTION_ERROR.message in note["message"]["text"]
    notifications = run["tool"]["driver"]["notifications"]
    assert notifications[note["descriptor"]["index"]]["id"] == note["descriptor"]["id"]
    assert run["properties"]["incomplete"] is True


def test_invocation_successful_without_errors() -> None:
    (invocation,) = run_of(terraform_result())["invocations"]
    assert invocation == {"executionSuccessful": True}


def test_original_uri_base_ids_declares_srcroot() -> None:
    run = run_of(terraform_result())
    assert "%SRCROOT%" in run["originalUriBaseIds"]


def test_findings_without_terraform_file_but_snapshot_use_snapshot() -> None:
    result = ScanResult(
        tool_version="0.1.0",
        sources=["snapshot:fixtures/broken-aws.json"],
        findings=[f.model_copy(update={"rules": []}) for f in aws_findings()[:1]],
    )
    (res,) = run_of(result)["results"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "fixtures/broken-aws.json"
    )
