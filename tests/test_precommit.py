"""The pre-commit hooks: the per-file runner, the hook definitions, and the hooks
run by pre-commit itself from a repository holding this project (slow: pre-commit
builds the hook's environment with pip, core install only)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from policycheck.precommit import HOOKS, main, worst

ROOT = Path(__file__).resolve().parent.parent
HOOKS_FILE = ROOT / ".pre-commit-hooks.yaml"
TF = ROOT / "fixtures" / "terraform"


def hook_definitions() -> dict[str, dict[str, object]]:
    return {h["id"]: h for h in yaml.safe_load(HOOKS_FILE.read_text(encoding="utf-8"))}


def test_every_hook_runs_a_known_precommit_command_of_the_core_install() -> None:
    hooks = hook_definitions()
    assert set(hooks) == {"policycheck-profile", "policycheck-terraform-plan"}
    for hook in hooks.values():
        entry = str(hook["entry"]).split()
        assert entry[:3] == ["python", "-m", "policycheck.precommit"]
        assert entry[3] in HOOKS
        assert hook["language"] == "python"
        # No additional_dependencies: the hooks need no extra.
        assert "additional_dependencies" not in hook


@pytest.mark.parametrize(
    ("hook", "path", "matches"),
    [
        ("policycheck-profile", "swyx-profile.yaml", True),
        ("policycheck-profile", "infra/prod/swyx-profile-prod.yml", True),
        ("policycheck-profile", ".policycheck.yaml", True),
        ("policycheck-profile", "policies/swyx-catalog.yaml", False),
        ("policycheck-profile", "swyx-profile.yaml.bak", False),
        ("policycheck-terraform-plan", "plan.json", True),
        ("policycheck-terraform-plan", "infra/tfplan.json", True),
        ("policycheck-terraform-plan", "infra/prod.plan.json", True),
        ("policycheck-terraform-plan", "package.json", False),
        ("policycheck-terraform-plan", "plans/notes.json", False),
    ],
)
def test_hook_file_patterns(hook: str, path: str, matches: bool) -> None:
    pattern = str(hook_definitions()[hook]["files"])
    assert bool(re.search(pattern, path)) is matches


def test_worst_exit_code_wins() -> None:
    assert worst([]) == 0
    assert worst([0, 1, 0]) == 1
    assert worst([1, 3, 0]) == 3
    assert worst([3, 2, 1]) == 2
    assert worst([0, 130]) == 130


def test_profile_check_runs_once_per_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "swyx-profile.yaml"
    good.write_text("internal_networks: [10.0.0.0/8]\n")
    bad = tmp_path / "swyx-profile-bad.yaml"
    bad.write_text("internal_networks: [10.0.0.300/8]\n")
    assert main(["profile-check", str(good)]) == 0
    assert main(["profile-check", str(bad), str(good)]) == 2
    out, err = capfd.readouterr()
    assert out.count(f"{good}: valid") == 2
    assert err.count("invalid CIDR '10.0.0.300/8'") == 1 and str(bad) in err


def test_scan_terraform_passes_options_and_reports_each_plan(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    broken, compliant = TF / "aws-broken" / "plan.json", TF / "aws-compliant" / "plan.json"
    assert main(["scan-terraform", str(compliant)]) == 0
    assert main(["scan-terraform", str(compliant), str(broken)]) == 1
    assert main(["scan-terraform", "--fail-on=never", str(broken)]) == 0
    profile = tmp_path / "p.yaml"
    profile.write_text("internal_networks: [10.0.0.300/8]\n")
    assert main(["scan-terraform", f"--profile={profile}", str(broken)]) == 2
    out, _ = capfd.readouterr()
    assert "SWYX001" in out  # the text report, not JSON


def test_options_must_be_written_with_equals(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["scan-terraform", "--profile", "p.yaml", "plan.json"]) == 2
    assert "--name=value" in capfd.readouterr().err
    assert main(["no-such-hook", "x"]) == 2
    assert main([]) == 2


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _commit_all(repo: Path) -> None:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "x")


@pytest.mark.slow
def test_hooks_through_pre_commit_try_repo(tmp_path: Path) -> None:
    # The hook repository: this project's files as published (a commit, so that
    # pre-commit builds its environment once and reuses it for both runs).
    hook_repo = tmp_path / "policycheck"
    hook_repo.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml"):
        shutil.copy2(ROOT / name, hook_repo / name)
    for name in ("policies", "policycheck"):
        shutil.copytree(
            ROOT / name,
            hook_repo / name,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    _git(hook_repo, "init", "-q")
    _commit_all(hook_repo)

    user = tmp_path / "infra"
    (user / "broken").mkdir(parents=True)
    (user / "ok").mkdir()
    shutil.copy2(TF / "aws-broken" / "plan.json", user / "broken" / "plan.json")
    shutil.copy2(TF / "aws-compliant" / "plan.json", user / "ok" / "plan.json")
    (user / "swyx-profile.yaml").write_text("internal_networks: [10.0.0.0/8]\n")
    (user / "swyx-profile-bad.yaml").write_text("internal_networks: [10.0.0.300/8]\n")
    _git(user, "init", "-q")
    _commit_all(user)

    def try_repo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), *args],
            cwd=user,
            capture_output=True,
            text=True,
            timeout=600,
            env={
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                "HOME": str(tmp_path),
                "PRE_COMMIT_HOME": str(tmp_path / "cache"),
            },
        )

    everything = try_repo("--all-files")
    assert everything.returncode == 1, everything.stdout + everything.stderr
    out = everything.stdout
    profile_part, plan_part = out.split("policycheck scan terraform", 1)
    assert "Failed" in profile_part and "exit code: 2" in profile_part
    assert (
        "invalid CIDR '10.0.0.300/8'" in profile_part and "swyx-profile.yaml: valid" in profile_part
    )
    assert "Failed" in plan_part and "exit code: 1" in plan_part and "SWYX001" in plan_part

    clean = try_repo("--files", "swyx-profile.yaml", "ok/plan.json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.count("Passed") == 2
