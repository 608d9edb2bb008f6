"""The GitHub integration: the example gate's triggers, permissions and fork
condition, the nightly audit's shape, the action pins, and action.yml's own shell
code run step by step (tests/gha.py stands in for the runner; slow: it installs
the wheel into a fresh venv as the action does).

zizmor and check-jsonschema check the same files in `make lint`.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from aws_estate import build_estate
from gha import Evaluator, expand, run_composite, runner_environment, to_string
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
GATE = ROOT / "examples" / "workflows" / "terraform-gate.yml"
NIGHTLY = ROOT / "examples" / "workflows" / "nightly-audit.yml"
SHARDED = ROOT / "examples" / "workflows" / "sharded-audit.yml"
CI = ROOT / ".github" / "workflows" / "ci.yml"
ACTION = ROOT / "action.yml"
DOCS = ROOT / "docs" / "github.md"
WORKFLOW_FILES = [CI, GATE, NIGHTLY, SHARDED]
TF = ROOT / "fixtures" / "terraform"


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the `on:` key as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


# ------------------------------------------------------------------ the gate


def test_gate_runs_on_pushes_to_the_default_branch_and_on_every_pull_request() -> None:
    on = load(GATE)["on"]
    assert set(on) == {"push", "pull_request"}
    assert on["push"] == {"branches": ["main"]}
    # No paths filter: it would leave a required check pending on other PRs.
    for trigger in on.values():
        assert not {"paths", "paths-ignore"} & set(trigger or {})


def test_gate_permissions_are_exactly_what_code_scanning_needs() -> None:
    workflow = load(GATE)
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {
        "contents": "read",
        "security-events": "write",
        "actions": "read",
    }


def _gate_upload_expression() -> str:
    (step,) = [s for s in steps(load(GATE)) if s.get("name") == "policycheck"]
    return str(step["with"]["upload"])


def _github(event_name: str, head_repo: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {}
    if head_repo is not None:
        event["pull_request"] = {"head": {"repo": {"full_name": head_repo}}}
    return {"event_name": event_name, "repository": "acme/infra", "event": event}


@pytest.mark.parametrize(
    ("github", "uploads"),
    [
        (_github("push"), True),
        (_github("pull_request", head_repo="acme/infra"), True),
        (_github("pull_request", head_repo="Acme/Infra"), True),  # names ignore case
        (_github("pull_request", head_repo="mallory/infra"), False),  # a fork
        (_github("schedule"), True),
        (_github("workflow_dispatch"), True),
    ],
    ids=["push", "same-repo PR", "same-repo PR, other case", "fork PR", "schedule", "dispatch"],
)
def test_gate_fork_condition(github: dict[str, Any], uploads: bool) -> None:
    # Evaluated as GitHub does: the `${{ }}` template becomes the input's string.
    assert expand(_gate_upload_expression(), {"github": github}) == to_string(uploads)


def test_the_action_uploads_exactly_when_its_upload_input_is_true() -> None:
    spec = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    (upload,) = [s for s in spec["runs"]["steps"] if "upload-sarif" in s.get("uses", "")]
    for given, expected in (("true", True), ("false", False)):
        contexts = {
            "inputs": {"upload": given},
            "steps": {"scan": {"outputs": {"sarif-written": "true"}}},
        }
        assert Evaluator(contexts).evaluate(upload["if"]) is expected


# ----------------------------------------------------------- nightly audit


def test_nightly_audit_shape() -> None:
    workflow = load(NIGHTLY)
    assert workflow["permissions"] == {}
    assert [s["cron"] for s in workflow["on"]["schedule"]]
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "security-events": "write",
        "actions": "read",
    }
    entries = job["strategy"]["matrix"]["include"]
    assert {e["source"] for e in entries} == {"aws", "azure", "gcp"}
    names = [e["name"] for e in entries]
    assert len(set(names)) == len(names), "one SARIF category and artifact per account"
    by_name = {s.get("name"): s for s in job["steps"]}
    # The clouds' own OIDC login actions, each only for its entries.
    logins = {
        "aws": "aws-actions/configure-aws-credentials",
        "azure": "azure/login",
        "gcp": "google-github-actions/auth",
    }
    for source, action in logins.items():
        (login,) = [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]
        assert login["if"] == f"matrix.source == '{source}'"
    scan = by_name["policycheck"]["with"]
    assert scan["category"] == "policycheck/${{ matrix.name }}"
    # Last night's log is the baseline: the job fails on new findings only.
    assert scan["baseline"] == "${{ steps.previous.outputs.sarif }}"
    assert scan["fail-on"] == "error"
    assert "previous" in by_name["Previous report (baseline)"]["run"]
    keep = by_name["Keep tonight's report"]
    assert keep["uses"].startswith("actions/upload-artifact@")
    assert keep["if"] == "${{ !cancelled() }}"  # a failing night is tomorrow's baseline


# ------------------------------------------------------------------ pins


def pinned_versions() -> dict[str, tuple[str, str]]:
    """docs/github.md's table: action -> (tag, commit)."""
    rows = re.findall(
        r"^\| `([\w.-]+/[\w./-]+)` \| (v[\d.]+) \| `([0-9a-f]{40})` \|",
        DOCS.read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    return {name: (tag, sha) for name, tag, sha in rows}


def all_uses() -> list[tuple[Path, str, str]]:
    """(file, `uses:` value, trailing comment) of every step in every workflow and action.yml."""
    found = []
    for path in [*WORKFLOW_FILES, ACTION]:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*(?:- )?uses: (\S+)(?:\s+#\s*(.*))?$", line)
            if match:
                found.append((path, match.group(1), match.group(2) or ""))
    return found


def test_every_action_is_pinned_to_the_documented_commit_with_its_tag() -> None:
    versions = pinned_versions()
    assert len(versions) >= 9
    seen = set()
    for path, uses, comment in all_uses():
        if uses == "$/" or uses.startswith("OWNER/policycheck@"):
            continue
        name, _, ref = uses.partition("@")
        # actions/cache/restore is the actions/cache repository at the same commit.
        repo = "/".join(name.split("/")[:2])
        key = name if name in versions else repo
        assert key in versions, f"{path.name}: {uses} is not in docs/github.md's table"
        tag, sha = versions[key]
        assert (ref, comment) == (sha, tag), f"{path.name}: {uses} # {comment}"
        seen.add(key)
    assert seen == set(versions), "docs/github.md lists an action nothing uses"


# ------------------------------------------------ action.yml, run step by step


@pytest.fixture
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's state is per process, shared by every server in it: start empty.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    build_estate(
        boto3.client(
            "ec2",
            endpoint_url=url,
            region_name="eu-central-1",
            aws_access_key_id="AKIAPOLICYCHECKACT01",
            aws_secret_access_key="action-secret",
        ),
        "broken",
    )
    yield url
    server.stop()


class FakeRunner:
    """The `uses:` steps of action.yml, as a runner would resolve them here."""

    def __init__(self, tmp: Path) -> None:
        self.cache_dir = tmp / "cache-store"
        self.cache_dir.mkdir()
        self.uploads: list[dict[str, str]] = []
        self.restores = 0

    def setup_python(self, values: dict[str, str]) -> dict[str, str]:
        assert values["update-environment"] == "false"
        python = Path(sys.base_prefix) / "bin" / "python3"
        return {"python-path": str(python), "python-version": platform.python_version()}

    def restore(self, values: dict[str, str]) -> dict[str, str]:
        stored = self.cache_dir / values["key"]
        if stored.exists():
            self.restores += 1
            shutil.copytree(stored, values["path"], symlinks=True)
            return {"cache-hit": "true"}
        return {"cache-hit": ""}

    def save(self, values: dict[str, str]) -> dict[str, str]:
        shutil.copytree(values["path"], self.cache_dir / values["key"], symlinks=True)
        return {}

    def upload(self, values: dict[str, str]) -> dict[str, str]:
        self.uploads.append(values)
        return {}

    def uses(self) -> dict[str, Any]:
        return {
            "actions/setup-python": self.setup_python,
            "actions/cache/restore": self.restore,
            "actions/cache/save": self.save,
            "github/codeql-action/upload-sarif": self.upload,
        }


@pytest.mark.slow
def test_action_runs_a_plan_gate_a_cached_rerun_and_a_live_aws_audit(
    tmp_path: Path, moto_url: str
) -> None:
    fake = FakeRunner(tmp_path)
    work = tmp_path / "workspace"
    work.mkdir()
    shutil.copy2(TF / "aws-broken" / "plan.json", work / "plan.json")
    env = runner_environment(tmp_path / "home")
    github = {"event_name": "pull_request", "repository": "acme/infra"}

    def run(**inputs: str) -> Any:
        for venv in (work / "_runner_temp").glob("policycheck-venv"):
            shutil.rmtree(venv)  # a fresh runner: only the cache carries the venv over
        return run_composite(
            ACTION.parent, inputs, workdir=work, github=github, uses=fake.uses(), env=env
        )

    # 1. A plan gate with findings: SARIF, summary and upload first, then the failure.
    gate = run(plan="plan.json", category="policycheck/terraform/ci")
    assert gate.failed and gate.outputs["exit-code"] == "1"
    assert gate.step("Fail on findings").returncode == 1
    sarif = json.loads((work / "policycheck.sarif").read_text())
    assert sarif["runs"][0]["automationDetails"]["id"].startswith("policycheck/terraform/ci")
    assert "SWYX001" in gate.summary
    assert fake.uploads == [{"sarif_file": "policycheck.sarif"}]
    # One scan wrote the log, the summary and the text report in the job log.
    scan_log = gate.step("Scan").stdout
    assert "Undocumented inbound access" in scan_log
    assert len(re.findall(r"^\d+ findings?: .* checked$", scan_log, flags=re.M)) == 1
    summary_counts = re.search(r"(\d+) errors?, (\d+) warnings?, (\d+) notes?", gate.summary)
    assert summary_counts is not None
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]].count("SWYX001") == int(
        re.findall(r"\| SWYX001 \| [^|]+ \| error \| (\d+) \|", gate.summary)[0]
    )
    install = gate.step("Install policycheck")
    assert install.returncode == 0, install.stderr
    key = gate.step("Save the policycheck venv")
    assert key.ran and fake.restores == 0
    assert gate.outputs["policycheck"].endswith("/policycheck-venv/bin/policycheck")

    # 2. The same gate again: the cached venv is restored, nothing is installed.
    again = run(plan="plan.json", upload="false", **{"fail-on": "never"})
    assert not again.failed and again.outputs["exit-code"] == "0"
    assert fake.restores == 1 and not again.step("Save the policycheck venv").ran
    assert len(fake.uploads) == 1  # upload: false

    # 2b. Against the previous log as baseline (the same path as sarif-file): nothing
    # is new, so the gate passes; the log is rewritten with every result unchanged.
    rolled = run(plan="plan.json", upload="false", baseline="policycheck.sarif")
    assert not rolled.failed and rolled.outputs["exit-code"] == "0", rolled.step("Scan").stderr
    log = json.loads((work / "policycheck.sarif").read_text())
    assert {r["baselineState"] for r in log["runs"][0]["results"]} == {"unchanged"}
    assert "0 new" in rolled.summary
    no_file = run(plan="plan.json", upload="false", baseline="missing.sarif")
    assert no_file.outputs["exit-code"] == "2"
    assert "baseline missing.sarif: no such file" in no_file.step("Scan").stdout

    # 3. A live AWS audit: the aws extra only, collected once into a snapshot.
    aws_env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "AKIAPOLICYCHECKACT01",
        "AWS_SECRET_ACCESS_KEY": "action-secret",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(aws_env)
    audit = run(source="aws", scope="eu-central-1", category="policycheck/aws/prod", upload="false")
    assert audit.outputs["exit-code"] == "1", audit.step("Scan").stderr
    snapshot = json.loads(Path(audit.outputs["snapshot-file"]).read_text())
    assert [vm["name"] for vm in snapshot["vms"]] == ["pbx1"]
    plan_step = audit.step("Plan the install")
    assert plan_step.outputs["extras"] == "aws" and plan_step.outputs["key"].endswith("-aws")
    for line in (audit.summary, audit.step("Scan").stdout, audit.step("Scan").stderr):
        assert "action-secret" not in line

    # 4. Re-scan the kept snapshot offline: core install (cached), same findings.
    shutil.copy2(audit.outputs["snapshot-file"], work / "inventory.json")
    offline = run(source="snapshot", snapshot="inventory.json", upload="false")
    assert offline.outputs["exit-code"] == "1"
    assert fake.restores == 4

    # 5. A source without its input: one clear error, exit 2, nothing uploaded.
    missing = run(upload="true")
    assert missing.failed and missing.outputs["exit-code"] == "2"
    assert "source terraform needs the plan input" in missing.step("Scan").stdout
    assert len(fake.uploads) == 1

    # 6. A scan that fails on its input never uploads a log left by an earlier run.
    assert (work / "policycheck.sarif").exists()
    (work / "bad.json").write_text("{not json")
    bad = run(plan="bad.json", upload="true")
    assert bad.outputs["exit-code"] == "2" and len(fake.uploads) == 1
    assert "bad.json" in bad.step("Scan").stderr


def test_action_refuses_an_unknown_source_before_installing(tmp_path: Path) -> None:
    fake = FakeRunner(tmp_path)
    work = tmp_path / "workspace"
    work.mkdir()
    result = run_composite(
        ACTION.parent,
        {"source": "kubernetes"},
        workdir=work,
        github={"event_name": "push", "repository": "acme/infra"},
        uses=fake.uses(),
        env=runner_environment(tmp_path / "home"),
    )
    assert result.failed
    plan = result.step("Plan the install")
    assert plan.returncode == 2
    assert "source must be terraform, snapshot, aws, azure or gcp" in plan.stdout
    assert not result.step("Install policycheck").ran
