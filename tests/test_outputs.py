"""One scan, every output: repeatable -o, the format from each file's extension,
--format for standard output, contradictions refused before scanning, and every
file written or none."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import click
import jsonschema
import pytest
from cli_run import run_policycheck

from policycheck.cli import cli
from policycheck.errors import InputError
from policycheck.report.output import (
    Destination,
    format_of,
    plan_destinations,
    write_files,
)

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "fixtures" / "terraform" / "aws-broken" / "plan.json"
SCHEMA = REPO / "policycheck" / "report" / "schemas" / "sarif-schema-2.1.0.json"


def policycheck(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return run_policycheck(*args, cwd=cwd, env=env)


def validate_sarif(log: object) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(log)


# ------------------------------------------------------------------ planning


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("r.sarif", "sarif"),
        ("r.SARIF", "sarif"),
        ("r.sarif.json", "sarif"),
        ("r.json", "json"),
        ("r.md", "markdown"),
        ("r.markdown", "markdown"),
        ("r.txt", "text"),
        ("dir.json/report", None),
        ("r.yaml", None),
        (".json", None),
    ],
)
def test_format_from_extension(name: str, fmt: str | None) -> None:
    assert format_of(Path(name)) == fmt


def test_no_output_is_stdout_in_the_chosen_format() -> None:
    assert plan_destinations([], None, stdout_is_terminal=True) == [Destination("text")]
    assert plan_destinations([], None, stdout_is_terminal=False) == [Destination("json")]
    assert plan_destinations([], "sarif", stdout_is_terminal=True) == [Destination("sarif")]


def test_each_file_gets_its_extension_format() -> None:
    got = plan_destinations(["r.sarif", "r.md", "r.json"], None, stdout_is_terminal=False)
    assert got == [
        Destination("sarif", Path("r.sarif")),
        Destination("markdown", Path("r.md")),
        Destination("json", Path("r.json")),
    ]


def test_format_agreeing_with_the_file_is_the_old_spelling() -> None:
    got = plan_destinations(["x.sarif"], "sarif", stdout_is_terminal=False)
    assert got == [Destination("sarif", Path("x.sarif"))]
    # An extension that names no format takes --format's.
    got = plan_destinations(["results"], "sarif", stdout_is_terminal=False)
    assert got == [Destination("sarif", Path("results"))]


@pytest.mark.parametrize(
    ("outputs", "fmt", "says"),
    [
        (["x.sarif"], "json", "--format json contradicts --output x.sarif"),
        (["r.sarif", "r.md"], "sarif", "--format sarif contradicts --output r.md"),
        (["results"], None, "--output results: the file name does not say which format"),
        (["-", "results"], "json", "--output results: the file name does not say"),
        (["r.json", "./r.json"], None, "--output ./r.json: given twice"),
        (["-", "-"], None, "--output -: given twice"),
    ],
)
def test_ambiguity_is_an_error_never_a_guess(
    outputs: list[str], fmt: str | None, says: str
) -> None:
    with pytest.raises(InputError) as err:
        plan_destinations(outputs, fmt, stdout_is_terminal=False)
    assert says in str(err.value)


def test_dash_puts_format_on_stdout_beside_the_files() -> None:
    got = plan_destinations(["-", "r.sarif", "r.md"], "text", stdout_is_terminal=False)
    assert got == [
        Destination("text"),
        Destination("sarif", Path("r.sarif")),
        Destination("markdown", Path("r.md")),
    ]


def test_every_scan_command_and_demo_take_repeatable_output() -> None:
    scan = cli.commands["scan"]
    assert isinstance(scan, click.Group)
    commands = [*scan.commands.values(), cli.commands["demo"]]
    assert {c.name for c in commands} >= {"terraform", "snapshot", "aws", "azure", "gcp", "demo"}
    for command in commands:
        (option,) = [p for p in command.params if p.name == "outputs"]
        assert isinstance(option, click.Option)
        assert option.multiple, command.name
        assert "-o" in option.opts


# ------------------------------------------------------------------- writing


def test_write_files_writes_all(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.md"
    write_files([(a, "A"), (b, b"B")])
    assert (a.read_text(), b.read_text()) == ("A", "B")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.md"]


def test_write_files_writes_none_when_one_cannot_be_staged(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text("old")
    with pytest.raises(InputError, match=r"missing/b\.md: cannot write"):
        write_files([(a, "new"), (tmp_path / "missing" / "b.md", "B")])
    assert a.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # no temporary left


def test_write_files_puts_replaced_files_back_when_a_rename_fails(tmp_path: Path) -> None:
    a, new, blocked = tmp_path / "a.json", tmp_path / "new.txt", tmp_path / "c.md"
    a.write_text("old")
    blocked.mkdir()  # a directory: staging beside it works, the rename onto it fails
    (blocked / "keep").write_text("x")
    with pytest.raises(InputError, match=r"c\.md: cannot write"):
        write_files([(a, "new"), (new, "N"), (blocked, "C")])
    assert a.read_text() == "old"
    assert not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "c.md"]


# ---------------------------------------------------------------------- CLI


def test_one_scan_writes_three_valid_files(tmp_path: Path) -> None:
    """Must show: `scan terraform plan.json -o r.sarif -o r.md -o r.json`."""
    proc = policycheck(
        "scan", "terraform", str(PLAN), "-o", "r.sarif", "-o", "r.md", "-o", "r.json", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md", "r.sarif"]
    log = json.loads((tmp_path / "r.sarif").read_text())
    validate_sarif(log)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["schema"] == "policycheck/report/v2"
    markdown = (tmp_path / "r.md").read_text()
    assert markdown.startswith("## policycheck: :x: 5 errors")
    # The same scan: the same findings, by fingerprint, in both machine formats.
    results = log["runs"][0]["results"]
    assert [r["partialFingerprints"]["primaryLocationLineHash"] for r in results] == [
        f["fingerprint"] for f in report["findings"]
    ]
    assert len(results) == report["summary"]["findings"] == 7


def test_sarif_extension_without_format_writes_sarif(tmp_path: Path) -> None:
    proc = policycheck("scan", "terraform", str(PLAN), "-o", "x.sarif", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    validate_sarif(json.loads((tmp_path / "x.sarif").read_text()))


def test_old_spelling_keeps_working(tmp_path: Path) -> None:
    proc = policycheck(
        "scan", "terraform", str(PLAN), "--format", "sarif", "-o", "x.sarif", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    validate_sarif(json.loads((tmp_path / "x.sarif").read_text()))


def test_contradiction_exits_2_before_reading_anything(tmp_path: Path) -> None:
    # The plan does not exist: the error is about the options, so nothing was read.
    proc = policycheck(
        "scan", "terraform", "no-such-plan.json", "--format", "json", "-o", "x.sarif", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("policycheck: error: --format json contradicts --output x.sarif")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_text_on_stdout_and_files_from_one_scan(tmp_path: Path) -> None:
    proc = policycheck(
        "scan",
        "terraform",
        str(PLAN),
        "--format",
        "text",
        "-o",
        "-",
        "-o",
        "r.sarif",
        "-o",
        "r.txt",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == (tmp_path / "r.txt").read_text()
    assert "SWYX001" in proc.stdout
    validate_sarif(json.loads((tmp_path / "r.sarif").read_text()))


def test_unwritable_output_leaves_no_file(tmp_path: Path) -> None:
    proc = policycheck(
        "scan", "terraform", str(PLAN), "-o", "r.sarif", "-o", "gone/r.md", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "gone/r.md" in proc.stderr
    assert list(tmp_path.iterdir()) == []
