""".policycheck.yaml: the profile a scan uses when --profile is not given.

Found in the current directory, else at the root of the git repository the
current directory is in, never above it; every report names the profile used.
The CLI runs as a subprocess in temporary repositories.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_policycheck

from policycheck import api

ROOT = Path(__file__).parent.parent
PLAN = ROOT / "fixtures/terraform/aws-broken/plan.json"
#: Accepts the broken estate's RDP finding: a scan that used it has one suppressed.
SUPPRESS_RDP = """\
suppressions:
  - rule: SWYX001
    resource: aws_security_group.pbx
    reason: jump host
    expires: 2099-12-31
"""
#: A profile that also accepts SSH, to tell two files apart by their effect.
SUPPRESS_RDP_AND_SSH = (
    SUPPRESS_RDP
    + """\
  - rule: SWYX001
    resource: "*.b4_ssh_v6"
    reason: bastion
    expires: 2099-12-31
"""
)


def policycheck(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_policycheck(*args, cwd=cwd)


def scan_json(cwd: Path, *args: str) -> dict[str, Any]:
    proc = policycheck(cwd, "scan", "terraform", str(PLAN), "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository (its root holds .git) with a subdirectory to run in."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "infra" / "prod").mkdir(parents=True)
    return root


def test_without_a_profile_file_the_defaults_are_used_and_named(repo: Path) -> None:
    data = scan_json(repo / "infra")
    assert data["profile"] is None
    assert data["summary"]["suppressed"] == 0
    text = policycheck(repo, "scan", "terraform", str(PLAN), "--format", "text").stdout
    assert "Profile: none (the built-in defaults)" in text


def test_the_repository_roots_file_is_used_from_a_subdirectory(repo: Path) -> None:
    (repo / ".policycheck.yaml").write_text(SUPPRESS_RDP)
    data = scan_json(repo / "infra" / "prod")
    assert data["profile"] == str(repo.resolve() / ".policycheck.yaml")
    assert data["summary"]["suppressed"] == 1


def test_the_current_directorys_file_comes_before_the_roots(repo: Path) -> None:
    (repo / ".policycheck.yaml").write_text(SUPPRESS_RDP)
    (repo / "infra" / ".policycheck.yaml").write_text(SUPPRESS_RDP_AND_SSH)
    data = scan_json(repo / "infra")
    assert data["profile"] == ".policycheck.yaml"
    assert data["summary"]["suppressed"] == 2
    # A directory between the two is neither: from infra/prod the root's is used.
    assert scan_json(repo / "infra" / "prod")["summary"]["suppressed"] == 1


def test_an_explicit_profile_wins(repo: Path, tmp_path: Path) -> None:
    (repo / ".policycheck.yaml").write_text(SUPPRESS_RDP)
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("version: '14.0'\n")
    data = scan_json(repo, "--profile", str(explicit))
    assert data["profile"] == str(explicit)
    assert data["summary"]["suppressed"] == 0


def test_nothing_above_the_repository_root_is_used(repo: Path) -> None:
    # A stray file in the directory holding the repository (a home directory).
    (repo.parent / ".policycheck.yaml").write_text(SUPPRESS_RDP)
    data = scan_json(repo / "infra")
    assert data["profile"] is None
    assert data["summary"]["suppressed"] == 0


def test_outside_a_repository_only_the_current_directory_counts(tmp_path: Path) -> None:
    (tmp_path / ".policycheck.yaml").write_text(SUPPRESS_RDP)
    (tmp_path / "sub").mkdir()
    assert scan_json(tmp_path)["summary"]["suppressed"] == 1
    assert scan_json(tmp_path / "sub")["profile"] is None


def test_a_worktree_root_counts_as_a_repository_root(tmp_path: Path) -> None:
    # In a git worktree (and a submodule), .git is a file.
    root = tmp_path / "wt"
    (root / "sub").mkdir(parents=True)
    (root / ".git").write_text("gitdir: /elsewhere/.git/worktrees/wt\n")
    (root / ".policycheck.yaml").write_text(SUPPRESS_RDP)
    assert scan_json(root / "sub")["summary"]["suppressed"] == 1


def test_a_broken_discovered_profile_is_exit_2_naming_the_file(repo: Path) -> None:
    (repo / ".policycheck.yaml").write_text(
        "suppressions:\n  - reason: legacy exception\n    expires: 2099-01-01\n"
    )
    out = repo / "r.sarif"
    proc = policycheck(repo / "infra", "scan", "terraform", str(PLAN), "-o", str(out))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line and ".policycheck.yaml" in line and "selector" in line, line
    assert not out.exists()


def test_every_report_names_the_profile_used(repo: Path) -> None:
    (repo / ".policycheck.yaml").write_text(SUPPRESS_RDP)
    out = repo / "out"
    out.mkdir()
    proc = policycheck(
        repo,
        "scan",
        "terraform",
        str(PLAN),
        "-o",
        str(out / "r.sarif"),
        "-o",
        str(out / "r.md"),
        "-o",
        str(out / "r.txt"),
    )
    assert proc.returncode == 1, proc.stderr
    sarif = json.loads((out / "r.sarif").read_text())
    assert sarif["runs"][0]["properties"]["profile"] == ".policycheck.yaml"
    assert "Profile: .policycheck.yaml." in (out / "r.md").read_text()
    assert "Profile: .policycheck.yaml\n" in (out / "r.txt").read_text()


def test_profile_check_without_a_path_checks_the_discovered_file(repo: Path) -> None:
    proc = policycheck(repo / "infra", "profile", "check")
    assert proc.returncode == 2
    assert "no PATH given and no .policycheck.yaml" in proc.stderr
    (repo / ".policycheck.yaml").write_text(SUPPRESS_RDP)
    proc = policycheck(repo / "infra", "profile", "check")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{repo.resolve() / '.policycheck.yaml'}: valid"


def test_expected_uses_the_discovered_profile(repo: Path) -> None:
    (repo / ".policycheck.yaml").write_text("sdc: true\n")  # CDS moves to 9095
    args = ("expected", "--roles", "cds", "--format", "json")
    with_sdc = policycheck(repo, *args).stdout
    without = policycheck(repo.parent, *args).stdout
    assert with_sdc != without and "9095" in with_sdc


def test_the_api_discovers_like_the_cli(repo: Path) -> None:
    assert api.discover_profile(repo / "infra") is None
    (repo / ".policycheck.yaml").write_text(SUPPRESS_RDP)
    found = api.discover_profile(repo / "infra" / "prod")
    assert found == repo.resolve() / ".policycheck.yaml"
    result = api.evaluate(api.load_plan(PLAN), api.load_profile(found))
    assert result.profile == str(found)
    assert api.evaluate(api.load_plan(PLAN)).profile is None
