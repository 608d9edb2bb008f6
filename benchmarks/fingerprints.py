"""Prove that a change leaves findings alone: a manifest of every input's findings.

A speed-up must not change a single finding. Before it, write a manifest; after
it, check against it:

    .venv/bin/python benchmarks/fingerprints.py write before.json
    ... change the engine ...
    .venv/bin/python benchmarks/fingerprints.py check before.json

Every input is scanned by the CLI in a child process (``--format json``), as a
user runs it:

- every Terraform plan under ``fixtures/`` (reference estates, real-world plans,
  and the malformed ones, whose error line is recorded instead);
- the reference estate in the model (tests/model_estates.py) as snapshots;
- the live reference estates: AWS on a moto server, Azure on the fake ARM, GCP
  on the fake Compute API (tests/*_fake.py);
- the generated benchmark estates (benchmarks/estates.py), plan and snapshot, at
  ``--sizes`` VMs with their profile.

Per input the manifest keeps the exit code, the sorted finding fingerprints and a
digest of the findings' full content (level, message, rules, ...), so ``check``
reports both a changed set of findings and a changed finding with the same
fingerprint. Compare manifests written by one version of the Finding model only:
a change to the model or to fingerprints (not a speed-up) changes every entry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent / "tests"))

import estates  # noqa: E402
from measure import REPO, load_average, machine, policycheck, run  # noqa: E402

FIXTURES = REPO / "fixtures"
DEFAULT_SIZES = "100,1000"


@dataclass
class Input:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    #: Starts what the input needs (a fake server) just before its scan.
    setup: Callable[[], None] | None = None


@dataclass
class Entry:
    exit: int | None
    findings: int = 0
    fingerprints: list[str] = field(default_factory=list)
    content: str = ""
    error: str = ""


def entry_from(done: Any) -> Entry:
    if done.timed_out:
        return Entry(exit=None, error=done.status)
    entry = Entry(exit=done.returncode)
    if done.returncode not in (0, 1, 3):
        entry.error = (done.stderr.strip().splitlines() or [""])[-1]
        return entry
    report = json.loads(done.stdout)
    findings = report["findings"]
    entry.findings = len(findings)
    entry.fingerprints = sorted(f["fingerprint"] for f in findings)
    canonical = json.dumps(
        sorted(findings, key=lambda f: (f["fingerprint"], json.dumps(f, sort_keys=True))),
        sort_keys=True,
    )
    entry.content = hashlib.sha256(canonical.encode()).hexdigest()
    return entry


# ------------------------------------------------------------------ inputs


def _json_scan(*args: str) -> list[str]:
    return policycheck(*args, "--format", "json", "--quiet")


def plan_inputs() -> Iterator[Input]:
    plans = sorted(FIXTURES.glob("terraform/**/*.json")) + sorted(
        FIXTURES.glob("realworld/terraform-plans/*.json")
    )
    for path in plans:
        name = path.relative_to(FIXTURES).as_posix()
        yield Input(name, _json_scan("scan", "terraform", str(path)))


def snapshot_inputs(work: Path) -> Iterator[Input]:
    from model_estates import estate

    from policycheck.sources import snapshot

    for provider in ("aws", "azure", "gcp"):
        for variant in ("broken", "compliant"):
            path = work / f"model-{provider}-{variant}.json"
            path.write_bytes(snapshot.dumps(estate(provider, variant)))  # type: ignore[arg-type]
            yield Input(f"model/{provider}-{variant}", _json_scan("scan", "snapshot", str(path)))


def live_inputs(stack: ExitStack, work: Path) -> Iterator[Input]:
    # Not ``policycheck demo``: its in-process moto draws new resource ids (and so
    # new fingerprints) on every run; the AWS estates below run on a seeded server.
    yield from _aws_inputs(stack)
    yield from _azure_inputs(stack)
    yield from _gcp_inputs(stack, work)


def _aws_inputs(stack: ExitStack) -> Iterator[Input]:
    import logging

    import boto3
    from aws_estate import build_estate
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stack.callback(server.stop)
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    creds = {"AWS_ACCESS_KEY_ID": "AKIAFINGERPRINTS0001", "AWS_SECRET_ACCESS_KEY": "fp-secret"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(creds, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    for variant in ("broken", "compliant"):

        def setup(variant: str = variant) -> None:
            reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
            urllib.request.urlopen(reset, timeout=30).close()
            # moto draws resource ids at random, and ids are part of fingerprints:
            # a fixed seed gives the same ids on every run.
            seed = urllib.request.Request(f"{url}/moto-api/seed?a=9", method="POST")
            urllib.request.urlopen(seed, timeout=30).close()
            ec2 = boto3.client(
                "ec2",
                endpoint_url=url,
                region_name="eu-central-1",
                aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            )
            build_estate(ec2, variant)  # type: ignore[arg-type]

        argv = _json_scan("scan", "aws", "--endpoint-url", url, "--region", "eu-central-1")
        yield Input(f"live/aws-{variant}", argv, env, setup)


def _azure_inputs(stack: ExitStack) -> Iterator[Input]:
    from azure_fake import running_fake_arm

    fake = stack.enter_context(running_fake_arm())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(fake.env())
    for variant in ("broken", "compliant"):
        argv = _json_scan("scan", "azure", "--endpoint", fake.url, "--no-instance-discovery")
        yield Input(f"live/azure-{variant}", argv, env, lambda v=variant: fake.use_estate(v))


def _gcp_inputs(stack: ExitStack, work: Path) -> Iterator[Input]:
    from gcp_fake import isolated_env, running_gcp_fake

    fake = stack.enter_context(running_gcp_fake())
    for variant, extra in (
        ("broken", []),
        ("compliant", []),
        ("policies", ["--organization", "123456789012"]),
    ):
        project = f"swyx-{variant}"
        key = fake.service_account(work, project)
        argv = _json_scan("scan", "gcp", "--project", project, "--endpoint", fake.url, *extra)
        env = isolated_env(work, key.path)
        yield Input(f"live/gcp-{variant}", argv, env, lambda v=variant: fake.serve_estate(v))


def generated_inputs(sizes: list[int], out: Path) -> Iterator[Input]:
    profile = estates.write_profile(out)
    for vms in sizes:
        for kind, command in (("plan", "terraform"), ("snapshot", "snapshot")):
            estate = estates.write_estate(out, kind, vms)  # type: ignore[arg-type]
            argv = _json_scan("scan", command, str(estate.path), "--profile", str(profile))
            yield Input(f"generated/{kind}-{vms}", argv)


# ---------------------------------------------------------------- commands


def scan_all(sizes: list[int], out: Path, timeout: float) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="fingerprints-") as tmp:
        work = Path(tmp)
        sources: list[Callable[[], Iterator[Input]]] = [
            plan_inputs,
            lambda: snapshot_inputs(work),
            lambda: live_inputs(stack, work),
            lambda: generated_inputs(sizes, out),
        ]
        for source in sources:
            for item in source():
                if item.setup is not None:
                    item.setup()
                done = run(item.argv, timeout=timeout, env=item.env, cwd=REPO)
                entries[item.name] = entry_from(done)
                e = entries[item.name]
                print(
                    f"{item.name:70} exit {e.exit}  {e.findings:6} findings  {done.seconds:6.1f} s",
                    flush=True,
                )
    return entries


def write(manifest: Path, sizes: list[int], out: Path, timeout: float) -> int:
    entries = scan_all(sizes, out, timeout)
    doc = {
        "written_by": "benchmarks/fingerprints.py",
        "machine": machine(),
        "sizes": sizes,
        "inputs": {name: vars(entry) for name, entry in sorted(entries.items())},
    }
    manifest.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(
        f"{manifest}: {len(entries)} inputs, {sum(e.findings for e in entries.values())} findings"
    )
    return 0


def check(manifest: Path, out: Path, timeout: float) -> int:
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    expected = {name: Entry(**entry) for name, entry in doc["inputs"].items()}
    actual = scan_all(doc["sizes"], out, timeout)
    problems = compare(expected, actual)
    for line in problems:
        print(line)
    if problems:
        written = doc["machine"]["commit"]
        print(f"{len(problems)} difference(s) against {manifest} (written at {written})")
        return 1
    print(f"identical: {len(actual)} inputs, {sum(e.findings for e in actual.values())} findings")
    return 0


def _portable(error: str) -> str:
    """An error line without the checkout it ran in: a manifest written in one
    worktree names its fixtures by that worktree's absolute path."""
    return re.sub(r"\S*/fixtures/", "fixtures/", error)


def compare(expected: dict[str, Entry], actual: dict[str, Entry]) -> list[str]:
    problems: list[str] = []
    for name in sorted(set(expected) | set(actual)):
        old, new = expected.get(name), actual.get(name)
        if old is None or new is None:
            problems.append(f"{name}: {'new input' if old is None else 'input gone'}")
            continue
        if (old.exit, _portable(old.error)) != (new.exit, _portable(new.error)):
            problems.append(
                f"{name}: exit {old.exit} {old.error!r} -> exit {new.exit} {new.error!r}"
            )
        gone = sorted(set(old.fingerprints) - set(new.fingerprints))
        added = sorted(set(new.fingerprints) - set(old.fingerprints))
        if gone or added or len(old.fingerprints) != len(new.fingerprints):
            problems.append(
                f"{name}: {len(gone)} finding(s) gone, {len(added)} new "
                f"({old.findings} -> {new.findings}); e.g. gone {gone[:3]}, new {added[:3]}"
            )
        elif old.content != new.content:
            problems.append(f"{name}: same fingerprints, but the findings' content changed")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("manifest", type=Path)
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help="Generated estates (VMs), for write."
    )
    parser.add_argument("--out", type=Path, default=HERE / "out" / "estates")
    parser.add_argument("--timeout", type=float, default=1800.0, help="Seconds per scan.")
    args = parser.parse_args()
    print(f"load average {load_average()}", flush=True)
    if args.command == "write":
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
        sys.exit(write(args.manifest, sizes, args.out, args.timeout))
    sys.exit(check(args.manifest, args.out, args.timeout))


if __name__ == "__main__":
    main()
