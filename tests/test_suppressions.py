"""Suppressions that cannot hide everything: selectors, expiry, unmatched, inline ignores.

Profile suppressions need a selector; account/subscription/project, region and VM
tags select findings by the VM's data; expired and unmatched suppressions are
reported in every format (and expired ones on stderr); ``policycheck:ignore``
comments in ``.tf`` files suppress the findings of their block (SARIF ``inSource``).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import jsonschema
import pytest

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.engine.suppress import Suppressor
from policycheck.errors import InputError
from policycheck.findings import Finding, ScanResult
from policycheck.model import (
    VM,
    Attachment,
    FirewallKind,
    FirewallObject,
    InlineIgnore,
    Inventory,
    Provenance,
    Provider,
)
from policycheck.profile import Profile, load_profile
from policycheck.report import render
from policycheck.sources import terraform
from policycheck.sources.tflocations import read_ignores
from tests.model_estates import rule

ROOT = Path(__file__).parent.parent
FIXTURE = ROOT / "fixtures/terraform/aws-inline-ignore"
SCHEMA_PATH = ROOT / "policycheck/report/schemas/sarif-schema-2.1.0.json"
TODAY = dt.date(2026, 11, 26)
SCOPES: dict[Provider, tuple[str, str]] = {
    "aws": ("111122223333", "eu-central-1"),
    "azure": ("00000000-0000-0000-0000-0000000000aa", "westeurope"),
    "gcp": ("swyx-prod", "europe-west3"),
}


def _vm_estate(tags: dict[Provider, dict[str, str]] | None = None) -> Inventory:
    """One VM per cloud with RDP open to the internet (SWYX001 each), in its own
    account/subscription/project and region."""
    vms, firewalls = [], []
    kinds: dict[Provider, FirewallKind] = {
        "aws": "security_group",
        "azure": "nsg",
        "gcp": "vpc_firewall",
    }
    for provider, (scope, region) in SCOPES.items():
        where = Provenance(source=provider, cloud_id=f"{provider}-fw", scope=scope, region=region)
        rdp = rule(
            provider,
            "rdp",
            "tcp",
            [(3389, 3389)],
            ["0.0.0.0/0"],
            priority=None if provider == "aws" else 1000,
        )
        firewalls.append(
            FirewallObject(
                provider=provider,
                kind=kinds[provider],
                id=f"fw-{provider}",
                name=f"fw-{provider}",
                network=f"net-{provider}",
                rules=(rdp,),
                provenance=where,
            )
        )
        # GCP VPC rules apply network-wide; AWS and Azure firewalls attach to the VM.
        attached = () if provider == "gcp" else (Attachment(firewall_id=f"fw-{provider}"),)
        vms.append(
            VM(
                provider=provider,
                id=f"vm-{provider}",
                name=f"pbx-{provider}",
                addresses=("10.0.1.10",),
                tags={"swyx-roles": "swyxware-server", **(tags or {}).get(provider, {})},
                networks=(f"net-{provider}",),
                attachments=attached,
                provenance=Provenance(
                    source=provider, cloud_id=f"vm-{provider}", scope=scope, region=region
                ),
            )
        )
    return Inventory(vms=vms, firewalls=firewalls)


def _scan(inventory: Inventory, *suppressions: dict[str, Any]) -> ScanResult:
    profile = Profile.model_validate(
        {"suppressions": list(suppressions)},
        context={"roles": default_catalog().role_slugs},
    )
    return evaluate(inventory, profile, default_catalog(), today=TODAY)


def _rdp(result: ScanResult) -> dict[str, Finding]:
    """The SWYX001 RDP finding per provider."""
    return {
        f.provider: f
        for f in result.findings
        if f.rule_id == "SWYX001" and any(r.rule_id == "rdp" for r in f.rules)
    }


def _suppressed(result: ScanResult) -> set[str]:
    return {p for p, f in _rdp(result).items() if f.suppression is not None}


KEEP = {"reason": "ticket OPS-9", "expires": "2030-01-01"}


# ------------------------------------------------------------------ selectors


@pytest.mark.parametrize(
    "text",
    [
        "suppressions:\n  - {reason: accepted risk, expires: 2030-01-01}\n",
        "suppressions:\n  - {reason: accepted risk, expires: 2030-01-01, tag: {}}\n",
    ],
)
def test_suppression_without_selector_is_a_profile_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=r"suppressions\.0"):
        load_profile(path)


def test_suppression_without_selector_exits_2_in_check_and_scan(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("suppressions:\n  - reason: everything is fine\n    expires: 2030-01-01\n")
    out = tmp_path / "r.json"
    for args in (
        ["profile", "check", str(path)],
        ["scan", "terraform", str(FIXTURE / "plan.json"), "--profile", str(path), "-o", str(out)],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "policycheck", *args], capture_output=True, text=True, cwd=ROOT
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "at least one selector" in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("selector", "suppressed"),
    [
        ({"account": "111122223333"}, {"aws"}),
        ({"account": "1111*"}, {"aws"}),
        # The account-like key of another cloud never matches: each cloud has its own.
        ({"account": "swyx-prod"}, set()),
        ({"subscription": "00000000-*"}, {"azure"}),
        ({"project": "swyx-prod"}, {"gcp"}),
        ({"project": "swyx-dev"}, set()),
        ({"region": "eu*"}, {"aws", "gcp"}),
        ({"region": "westeurope"}, {"azure"}),
        ({"tag": {"env": "lab"}}, {"aws", "gcp"}),
        ({"tag": {"env": "l*"}}, {"aws", "gcp"}),
        ({"tag": {"env": "lab", "owner": "ops"}}, {"aws"}),
        # Azure tag names are case-insensitive, as ARM treats them.
        ({"tag": {"ENV": "prod"}}, {"azure"}),
        ({"tag": {"ENV": "lab"}}, set()),
        ({"region": "eu*", "tag": {"env": "lab"}, "rule": "SWYX001"}, {"aws", "gcp"}),
        ({"region": "eu*", "rule": "SWYX002"}, set()),
    ],
)
def test_scope_region_and_tag_selectors(selector: dict[str, Any], suppressed: set[str]) -> None:
    tags: dict[Provider, dict[str, str]] = {
        "aws": {"env": "lab", "owner": "ops"},
        "azure": {"Env": "prod"},
        "gcp": {"env": "lab"},
    }
    result = _scan(_vm_estate(tags), {**KEEP, **selector})
    assert set(_rdp(result)) == {"aws", "azure", "gcp"}
    assert _suppressed(result) == suppressed
    [status] = result.suppressions
    assert status.state == ("applied" if suppressed else "unmatched")
    assert status.findings == sum(1 for f in result.findings if f.suppression is not None)


def test_tag_values_are_text_whatever_yaml_makes_of_them(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("suppressions:\n  - {reason: lab, expires: 2030-01-01, tag: {tier: 2}}\n")
    [sup] = load_profile(path).suppressions
    assert sup.tag == {"tier": "2"}
    assert sup.selectors() == {"tag": "tier=2"}


# ------------------------------------------------------- expired and unmatched


def test_expired_suppression_is_reported_and_its_finding_active_again() -> None:
    expired = {"reason": "ticket OPS-2", "expires": "2026-11-25", "vm": "pbx-*"}
    valid = {"reason": "ticket OPS-3", "expires": "2026-11-26", "vm": "pbx-aws"}
    unmatched = {"reason": "ticket OPS-4", "expires": "2030-01-01", "vm": "no-such-vm"}
    result = _scan(_vm_estate(), expired, valid, unmatched)
    # The expiry day itself still counts: a suppression expires after its date.
    assert _suppressed(result) == {"aws"}
    states = [(s.match, s.state, s.findings) for s in result.suppressions]
    matched = sum(1 for f in result.findings if f.vm_name.startswith("pbx-"))
    assert states == [
        ("suppressions[0]", "expired", matched),
        ("suppressions[1]", "applied", 1),
        ("suppressions[2]", "unmatched", 0),
    ]


def test_a_suppression_that_an_earlier_one_preempts_suppressed_nothing() -> None:
    first = {**KEEP, "rule": "SWYX001"}
    second = {**KEEP, "vm": "pbx-aws"}
    result = _scan(_vm_estate(), first, second)
    assert [s.state for s in result.suppressions] == ["applied", "unmatched"]
    assert {f.suppression.match for f in _rdp(result).values() if f.suppression} == {
        "suppressions[0]"
    }


def _expired_and_unmatched() -> ScanResult:
    return _scan(
        _vm_estate(),
        {"reason": "ticket OPS-2", "expires": "2025-01-31", "vm": "pbx-azure"},
        {"reason": "ticket OPS-4", "expires": "2030-01-01", "tag": {"env": "nowhere"}},
    )


def test_every_format_lists_expired_and_unmatched_suppressions() -> None:
    result = _expired_and_unmatched()
    doc = json.loads(render(result, "json"))
    assert doc["summary"]["suppressions_expired"] == 1
    assert doc["summary"]["suppressions_unmatched"] == 1
    assert [(s["match"], s["state"]) for s in doc["suppressions"]] == [
        ("suppressions[0]", "expired"),
        ("suppressions[1]", "unmatched"),
    ]
    assert doc["suppressions"][1]["selectors"] == {"tag": "env=nowhere"}
    log = json.loads(render(result, "sarif"))
    [invocation] = log["runs"][0]["invocations"]
    notices = invocation["toolConfigurationNotifications"]
    assert [n["descriptor"]["id"] for n in notices] == [
        "suppression-expired",
        "suppression-unmatched",
    ]
    driver = log["runs"][0]["tool"]["driver"]
    for notice in notices:
        assert (
            driver["notifications"][notice["descriptor"]["index"]]["id"]
            == (notice["descriptor"]["id"])
        )
    assert invocation["executionSuccessful"] is True
    for fmt in ("text", "markdown"):
        text = render(result, fmt)  # type: ignore[arg-type]
        assert "Expired suppressions" in text, fmt
        assert "expired on 2025-01-31" in text and "OPS-2" in text, fmt
        assert "suppressed nothing" in text and "env=nowhere" in text, fmt


def test_without_expired_or_unmatched_suppressions_reports_say_nothing_of_them() -> None:
    result = _scan(_vm_estate(), {**KEEP, "vm": "pbx-aws"})
    for fmt in ("text", "markdown"):
        assert "suppressed nothing" not in render(result, fmt)  # type: ignore[arg-type]
        assert "Expired" not in render(result, fmt)  # type: ignore[arg-type]
    invocation = json.loads(render(result, "sarif"))["runs"][0]["invocations"][0]
    assert "toolConfigurationNotifications" not in invocation


def test_sarif_with_suppression_notifications_is_valid() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls(schema).validate(json.loads(render(_expired_and_unmatched(), "sarif")))


def test_expired_suppression_warns_on_stderr(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "suppressions:\n"
        "  - {rule: SWYX001, vm: pbx1, reason: old ticket OPS-1, expires: 2020-01-31}\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "policycheck",
            "scan",
            "terraform",
            str(FIXTURE / "plan.json"),
            "--profile",
            str(profile),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "expired on" in line]
    # The profile's expired entry and the fixture's expired inline ignore.
    assert len(warnings) == 2, proc.stderr
    assert all(w.startswith("policycheck: warning: suppression ") for w in warnings)
    assert any("suppressions[0]" in w and "2020-01-31" in w for w in warnings)
    assert any("main.tf:" in w and "2024-06-30" in w for w in warnings)


# ------------------------------------------------------------- inline ignores


def _ignores(text: str) -> list[InlineIgnore]:
    return read_ignores(hcl2.parses_to_tree(text), text, "main.tf")


SG = """\
resource "aws_security_group" "pbx" {{
  name = "swyx-pbx"
{inside}
  ingress {{
    from_port   = 3389
    to_port     = 3389
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]{trailing}
  }}
}}
"""
IGNORE = '# policycheck:ignore SWYX001 expires=2027-03-31 reason="jump host RDP"'


def test_ignore_directly_above_an_inline_block_covers_that_block() -> None:
    [ig] = _ignores(SG.format(inside=f"  {IGNORE}", trailing=""))
    assert (ig.line, ig.start_line, ig.end_line) == (3, 4, 9)
    assert ig.rules == ("SWYX001",) and ig.reason == "jump host RDP"
    assert ig.expires == dt.date(2027, 3, 31)


def test_trailing_ignore_inside_a_block_covers_the_innermost_block() -> None:
    [ig] = _ignores(SG.format(inside="", trailing=f"  {IGNORE}"))
    assert (ig.line, ig.start_line, ig.end_line) == (8, 4, 9)


def test_ignore_above_the_group_covers_the_whole_group() -> None:
    text = f"# about the group\n{IGNORE}\n// and more words\n" + SG.format(inside="", trailing="")
    [ig] = _ignores(text)
    assert (ig.line, ig.start_line, ig.end_line) == (2, 4, 13)


def test_ignore_inside_the_group_but_not_above_a_block_covers_the_group() -> None:
    text = SG.format(inside=f"  {IGNORE}\n", trailing="")
    [ig] = _ignores(text)
    assert (ig.start_line, ig.end_line) == (1, 11)


@pytest.mark.parametrize(
    "comment",
    [
        "// policycheck:ignore SWYX001,SWYX002 expires=2027-03-31 reason=maintenance",
        "/* policycheck:ignore SWYX001 SWYX002 reason='two rules' expires=2027-03-31 */",
    ],
)
def test_comment_styles_and_several_rules(comment: str) -> None:
    [ig] = _ignores(SG.format(inside=f"  {comment}", trailing=""))
    assert ig.rules == ("SWYX001", "SWYX002") and ig.start_line == 4


def test_marker_in_prose_strings_and_heredocs_is_not_an_ignore() -> None:
    text = """\
# See the docs on policycheck:ignore comments.
resource "aws_instance" "pbx1" {
  user_data = <<EOT
# policycheck:ignore SWYX001 expires=2027-03-31 reason="not a comment"
EOT
  description = "# policycheck:ignore SWYX001"
}
"""
    assert _ignores(text) == []


@pytest.mark.parametrize(
    ("comment", "problem"),
    [
        ('# policycheck:ignore SWYX001 reason="jump host"', "needs expires=YYYY-MM-DD"),
        ("# policycheck:ignore SWYX001 expires=2027-03-31", 'needs reason="..."'),
        ('# policycheck:ignore expires=2027-03-31 reason="why not"', "names no rule"),
        ('# policycheck:ignore SWYX001 expires=31.03.2027 reason="why not"', "is not a date"),
        ('# policycheck:ignore SWYX001 expires=2027-03-31 reason="open', "No closing quotation"),
        ('# policycheck:ignore SWYX001 until=2027-03-31 reason="why not"', "unknown key 'until'"),
        ('# policycheck:ignore rdp expires=2027-03-31 reason="why not"', "'rdp' is not a rule id"),
    ],
)
def test_bad_ignore_names_file_line_and_problem(comment: str, problem: str) -> None:
    with pytest.raises(InputError) as err:
        _ignores(SG.format(inside=f"  {comment}", trailing=""))
    assert str(err.value).startswith("main.tf:3: ")
    assert problem in str(err.value)


def test_ignore_covering_no_block_is_an_error() -> None:
    text = f'{IGNORE}\n\nvariable "x" {{\n  default = 1\n}}\n'
    with pytest.raises(InputError, match=r"^main\.tf:1: .*neither inside nor directly above"):
        _ignores(text)


def test_unknown_rule_id_in_an_ignore_is_an_input_error() -> None:
    inv = _vm_estate().model_copy(
        update={
            "inline_ignores": [
                InlineIgnore(
                    file="main.tf",
                    line=3,
                    start_line=4,
                    end_line=9,
                    rules=("SWYX009",),
                    reason="typo",
                    expires=dt.date(2030, 1, 1),
                )
            ]
        }
    )
    with pytest.raises(InputError, match=r"main\.tf:3: .*unknown rule 'SWYX009'"):
        _scan(inv)


def _declared(inventory: Inventory, lines: dict[str, tuple[int, int]]) -> Inventory:
    """The AWS VM's firewall rules declared in main.tf at the given lines."""
    fws = []
    for fw in inventory.firewalls:
        rules = tuple(
            r.model_copy(
                update={
                    "provenance": r.provenance.model_copy(
                        update={
                            "file": "main.tf",
                            "start_line": lines[r.id][0],
                            "end_line": lines[r.id][1],
                        }
                    )
                }
            )
            if r.id in lines
            else r
            for r in fw.rules
        )
        fws.append(fw.model_copy(update={"rules": rules}))
    return inventory.model_copy(update={"firewalls": fws})


def _aws_only(extra_rules: list[Any]) -> Inventory:
    inv = _vm_estate()
    fw = inv.firewalls[0]
    return Inventory(
        vms=[inv.vms[0]],
        firewalls=[fw.model_copy(update={"rules": (*fw.rules, *extra_rules)})],
    )


def _ignore(start: int, end: int, *rules: str, expires: str = "2030-01-01") -> InlineIgnore:
    return InlineIgnore(
        file="main.tf",
        line=start - 1,
        start_line=start,
        end_line=end,
        rules=rules,
        reason="jump host RDP",
        expires=dt.date.fromisoformat(expires),
    )


def test_inline_ignore_suppresses_findings_of_its_block_only() -> None:
    inv = _declared(_aws_only([]), {"rdp": (10, 16)})
    for ignore, suppressed in [
        (_ignore(10, 16, "SWYX001"), True),
        (_ignore(2, 30, "SWYX001"), True),  # the group's block
        (_ignore(10, 16, "SWYX002"), False),  # another rule
        (_ignore(18, 24, "SWYX001"), False),  # another block
        (_ignore(10, 16, "SWYX001", expires="2026-01-01"), False),  # expired
    ]:
        result = _scan(inv.model_copy(update={"inline_ignores": [ignore]}))
        [finding] = _rdp(result).values()
        assert (finding.suppression is not None) is suppressed, ignore
        if suppressed:
            assert finding.suppression is not None
            assert finding.suppression.kind == "inSource"
            assert (finding.suppression.file, finding.suppression.line) == ("main.tf", ignore.line)
            assert [s.state for s in result.suppressions] == ["applied"]


def test_inline_ignore_applies_where_the_finding_is_located() -> None:
    """A finding two rules are responsible for (Azure: the subnet's and the NIC's
    NSG) is located at its primary rule, where SARIF annotates it; an ignore there
    accepts it, one at the other rule does not."""
    [finding] = _rdp(_scan(_declared(_aws_only([]), {"rdp": (10, 16)}))).values()
    other = finding.rules[0].model_copy(
        update={
            "rule_id": "subnet-allow",
            "provenance": finding.rules[0].provenance.model_copy(
                update={"start_line": 30, "end_line": 36}
            ),
        }
    )
    two = finding.model_copy(update={"rules": [*finding.rules, other]})
    for ignore, suppressed in [
        (_ignore(10, 16, "SWYX001"), True),
        (_ignore(30, 36, "SWYX001"), False),
    ]:
        after, [status] = Suppressor(Profile(), [], [ignore], TODAY).run([two])
        assert [f.suppression is not None for f in after] == [suppressed]
        assert status.state == ("applied" if suppressed else "unmatched")


def test_fixture_plan_reads_its_three_ignores() -> None:
    inv = terraform.load_plan(FIXTURE / "plan.json")
    got = {(ig.rules, ig.reason, ig.expires.isoformat()) for ig in inv.inline_ignores}
    assert got == {
        (("SWYX002",), "client login from home offices", "2035-12-31"),
        (("SWYX001",), "jump host RDP", "2035-03-31"),
        (("SWYX001",), "migration OPS-77", "2024-06-30"),
    }


def test_fixture_inline_ignore_is_an_in_source_suppression_in_sarif(tmp_path: Path) -> None:
    out = tmp_path / "r.sarif"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "policycheck",
            "scan",
            "terraform",
            str(FIXTURE / "plan.json"),
            "--format",
            "sarif",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    # SSH from 10.0.0.0/8 stays an error: its ignore expired in 2024.
    assert proc.returncode == 1, proc.stderr
    log = json.loads(out.read_text())
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    [run] = log["runs"]
    suppressed = [r for r in run["results"] if r.get("suppressions")]
    assert len(suppressed) == 1
    [sup] = suppressed[0]["suppressions"]
    assert sup["kind"] == "inSource" and sup["status"] == "accepted"
    assert sup["justification"] == "jump host RDP"
    where = sup["location"]["physicalLocation"]
    assert where["artifactLocation"]["uri"] == "fixtures/terraform/aws-inline-ignore/main.tf"
    tf_lines = (FIXTURE / "main.tf").read_text().splitlines()
    assert "policycheck:ignore SWYX001" in tf_lines[where["region"]["startLine"] - 1]
    assert "tcp 3389" in suppressed[0]["message"]["text"]
    active = [r for r in run["results"] if not r.get("suppressions")]
    assert [r["ruleId"] for r in active] == ["SWYX001"]
    assert "tcp 22" in active[0]["message"]["text"]
    notices = run["invocations"][0]["toolConfigurationNotifications"]
    assert [n["descriptor"]["id"] for n in notices] == [
        "suppression-expired",
        "suppression-unmatched",
    ]
