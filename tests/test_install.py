"""The wheel, installed as users and the container image install it.

The wheel is built from exactly the files the Dockerfile's build stage copies, with
the same ``pip wheel`` command, then installed into fresh venvs (no access to this
checkout or its .venv): core only, as the GitHub Action installs it for a plan, and
with ``[all]``, as the image does. No Docker engine is needed; the Dockerfile's
own shape is checked statically and linted by hadolint in ``make lint``.

The two install tests talk to the package index (pip's cache makes reruns quick)
and take ~15-60 s each, so they are marked slow; ``make test`` runs them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
PLAN = ROOT / "fixtures" / "terraform" / "aws-broken" / "plan.json"

#: Distributions a core install must not contain (normalized names, prefixes).
HEAVY = ("boto3", "botocore", "azure-", "google-", "grpcio", "moto", "regopy", "opa-python-client")
HEAVY += ("flask", "werkzeug", "requests", "jsonschema")


# ------------------------------------------------------------------ Dockerfile


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), one list per stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def build_stage_copies() -> list[str]:
    """The paths the build stage copies from the build context."""
    sources: list[str] = []
    for line in dockerfile_stages()[0]:
        words = shlex.split(line)
        if words[0].upper() == "COPY" and not any(w.startswith("--from") for w in words):
            sources.extend(w.rstrip("/") for w in words[1:-1] if not w.startswith("--"))
    return sources


def test_dockerfile_is_multi_stage_pinned_non_root_with_the_cli_as_entrypoint() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = dockerfile_stages()
    assert len(stages) >= 2, "build and runtime stages"
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base is not None
    # A slim image pinned to a patch release and a Debian release, never `latest`.
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base.group(1))
    assert all(stage[0].startswith("FROM ${PYTHON_IMAGE}") for stage in stages)
    runtime = stages[-1]
    users = [line.split()[1] for line in runtime if line.upper().startswith("USER ")]
    assert users, "the runtime stage must set USER"
    assert users[-1].split(":")[0] not in ("0", "root")
    assert 'ENTRYPOINT ["policycheck"]' in runtime
    assert any("COPY --from=build" in line for line in runtime)
    build = " ".join(stages[0])
    assert "pip wheel --no-deps" in build and '[all]"' in build
    assert not any(line.upper().startswith(("RUN PIP", "COPY . ")) for line in runtime)


def test_dockerfile_copies_only_what_the_wheel_is_built_from() -> None:
    assert sorted(build_stage_copies()) == [
        "LICENSE",
        "README.md",
        "policies",
        "policycheck",
        "pyproject.toml",
    ]


# ----------------------------------------------------------------- the wheel


def build_wheel(tmp: Path) -> Path:
    """Build the wheel the way the image does, from a context holding only the
    Dockerfile's COPY sources (a file the build needs but the Dockerfile does not
    copy fails here)."""
    context = tmp / "context"
    context.mkdir()
    for source in build_stage_copies():
        src = ROOT / source
        if src.is_dir():
            shutil.copytree(
                src, context / source, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(src, context / source)
    dist = tmp / "dist"
    pip(sys.executable, "wheel", "--no-deps", "--wheel-dir", str(dist), str(context))
    (wheel,) = dist.glob("policycheck-*.whl")
    return wheel


def pip(python: str | Path, *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stderr[-3000:]}"


def fresh_venv(path: Path, requirement: str) -> Path:
    venv.create(path, with_pip=True)
    pip(path / "bin" / "python", "install", requirement)
    return path


def installed_distributions(env: Path) -> set[str]:
    out = subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {re.sub(r"[-_.]+", "-", d["name"]).lower() for d in json.loads(out)}


def run(env: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``policycheck ARGS`` from the venv's bin, as the image's entrypoint runs it:
    no access to this checkout's .venv, PYTHONPATH or cloud credentials."""
    home = cwd / "home"
    home.mkdir(exist_ok=True)
    environment = {
        "PATH": f"{env / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CI": "true",
        # Fail fast instead of probing a metadata service for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return subprocess.run(
        ["policycheck", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_dev(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The same command from this checkout's development install."""
    command = [sys.executable, "-m", "policycheck", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


#: Every command that needs an extra, with the extra it must name.
NEEDS_EXTRA: list[tuple[list[str], str]] = [
    (["scan", "aws", "--region", "eu-central-1"], "aws"),
    (["collect", "aws", "-o", "out.json"], "aws"),
    (["scan", "azure", "-o", "out.json"], "azure"),
    (["collect", "azure", "-o", "out.json"], "azure"),
    (["scan", "gcp", "--project", "p", "-o", "out.json"], "gcp"),
    (["collect", "gcp", "--project", "p", "-o", "out.json"], "gcp"),
    (["demo", "-o", "out.json"], "demo"),
    (["scan", "terraform", str(PLAN), "--rego", "embedded", "-o", "out.json"], "rego"),
    (
        ["scan", "terraform", str(PLAN), "--rego", "opa", "--opa-url", "http://127.0.0.1:9"],
        "rego",
    ),
]


@pytest.mark.slow
def test_core_wheel_in_a_clean_venv(tmp_path: Path) -> None:
    env = fresh_venv(tmp_path / "core", str(build_wheel(tmp_path)))
    work = tmp_path / "work"
    work.mkdir()

    heavy = sorted(d for d in installed_distributions(env) if d.startswith(HEAVY))
    assert heavy == [], f"the core install pulled in {heavy}"

    # The plan gate works and reports exactly what the full development install does.
    core = run(env, "scan", "terraform", str(PLAN), "--format", "json", cwd=work)
    assert core.returncode == 1, core.stderr
    dev = run_dev("scan", "terraform", str(PLAN), "--format", "json", cwd=work)
    assert dev.returncode == 1, dev.stderr
    assert core.stdout == dev.stdout
    assert json.loads(core.stdout)["summary"]["findings_by_level"]["error"] > 0

    # SARIF, the bundled catalog, profiles and snapshots need no extra either.
    sarif = run(env, "scan", "terraform", str(PLAN), "--format", "sarif", "-o", "p.sarif", cwd=work)
    assert sarif.returncode == 1 and json.loads((work / "p.sarif").read_text())["runs"]
    catalog = run(env, "catalog", "--format", "json", cwd=work)
    assert catalog.returncode == 0
    assert catalog.stdout == run_dev("catalog", "--format", "json", cwd=work).stdout
    (work / "profile.yaml").write_text("internal_networks: [10.20.0.0/16]\n")
    assert run(env, "profile", "check", "profile.yaml", cwd=work).returncode == 0
    assert run(env, "scan", "aws", "--help", cwd=work).returncode == 0

    # Every command that needs an extra says which, in one line, and writes nothing.
    problems = []
    for args, extra in NEEDS_EXTRA:
        result = run(env, *args, cwd=work)
        line = f"pip install 'policycheck[{extra}]'"
        lines = result.stderr.splitlines()
        if result.returncode != 2 or len(lines) != 1 or not lines[0].endswith(line):
            problems.append(f"{' '.join(args)}: exit {result.returncode}, stderr {lines}")
        if (work / "out.json").exists():
            problems.append(f"{' '.join(args)}: wrote out.json")
    assert problems == []


def decisions(report: str) -> list[tuple[object, ...]]:
    keys = ("rule_id", "level", "vm_id", "direction", "region")
    return [tuple(json.dumps(f[k]) for k in keys) for f in json.loads(report)["findings"]]


@pytest.mark.slow
def test_all_extras_wheel_as_the_image_installs_it(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    env = fresh_venv(tmp_path / "all", f"{wheel}[all]")
    work = tmp_path / "work"
    work.mkdir()

    demo = run(env, "demo", "--format", "json", cwd=work)
    assert demo.returncode == 1, demo.stderr  # the demo estate is broken on purpose
    assert json.loads(demo.stdout)["summary"]["vms"] >= 4

    native = run(env, "scan", "terraform", str(PLAN), "--format", "json", cwd=work)
    rego = run(
        env, "scan", "terraform", str(PLAN), "--rego", "embedded", "--format", "json", cwd=work
    )
    assert (native.returncode, rego.returncode) == (1, 1), rego.stderr
    # regopy works from the installed wheel: the policy decides the same findings.
    assert decisions(rego.stdout) == decisions(native.stdout) != []

    # A live source gets past the extras check and fails on credentials, cleanly.
    aws = run(env, "scan", "aws", "--region", "eu-central-1", cwd=work)
    assert aws.returncode == 2 and "pip install" not in aws.stderr
    assert "Traceback" not in aws.stderr and len(aws.stderr.splitlines()) == 1
