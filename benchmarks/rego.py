"""Measure the Rego path against the native one and write its section of RESULTS.md.

Reproduce (from the repository root, after ``make setup``):

    .venv/bin/python benchmarks/rego.py --sizes 500,2000 --plan 2000

For every size (VMs) it generates the snapshot of benchmarks/estates.py (as
run.py does) and measures, each in a fresh child process (benchmarks/measure.py:
wall time; CPU time, user + system, of the child and its engine processes;
peak RSS of the largest of them):

- ``native``: ``scan snapshot FILE --profile P --format json -o F``;
- ``swyx``: the same with ``--rego embedded`` (SWYX001-SWYX003 from
  policies/swyx.rego on the input document);
- ``policies``: ``--rego embedded --policy-dir examples/policies`` (the Swyx
  policy and the four example user policies).

Both Rego paths run in batches of ``--rego-batch`` VMs (default 10; ``--batch``
here passes another size). Each Rego figure is also given as a multiple of the
native one, wall and CPU (issue 15: at most 5x). ``--plan N`` additionally scans
the N-VM Terraform plan natively and with ``--rego embedded`` and compares the
findings: their fingerprints, and rule, VM, region, rules, message and level.
``--engine opa`` runs both Rego paths (and the plan) with ``--rego-engine opa``
(OPA's Go library in the engine processes) instead of rego-cpp.
The section between the ``rego`` markers of RESULTS.md (``rego-opa`` with
``--engine opa``, placed after the rego-cpp one) is replaced; the rest of the
file is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import REPO, Run, generate, load_average, machine, policycheck, run

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
BEGIN, END = "<!-- rego:begin -->", "<!-- rego:end -->"
ENGINES = ("rego-cpp", "opa")
PATHS = {
    "native": [],
    "swyx": ["--rego", "embedded"],
    "policies": ["--rego", "embedded", "--policy-dir", "examples/policies"],
}


@dataclass
class Row:
    path: str
    vms: int
    run: Run
    findings: int | None

    @property
    def cell(self) -> str:
        if self.run.returncode not in (0, 1) or self.run.timed_out:
            last = (self.run.stderr.strip().splitlines() or [""])[-1]
            return f"{self.run.status} {last}".strip()
        return "ok"


def scan(
    kind: str, estate: Path, profile: Path, out: Path, extra: list[str], timeout: float
) -> Run:
    out.unlink(missing_ok=True)
    command = "terraform" if kind == "plan" else "snapshot"
    args = ["scan", command, str(estate), "--profile", str(profile), "--format", "json"]
    return run(policycheck(*args, "-o", str(out), "--quiet", *extra), timeout=timeout, cwd=REPO)


def findings(report: Path) -> list[dict[str, Any]] | None:
    try:
        doc: dict[str, Any] = json.loads(report.read_bytes())
    except (OSError, ValueError):
        return None
    return list(doc["findings"])


def key(f: dict[str, Any]) -> str:
    """What must agree between the native and the Rego findings."""
    keep = ("rule_id", "vm_id", "direction", "region", "rules", "message", "level")
    return json.dumps({k: f.get(k) for k in keep}, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--sizes", default="500,2000", help="VM counts of the snapshots.")
    parser.add_argument("--plan", type=int, default=0, help="VMs of the plan to compare (0: none).")
    parser.add_argument("--timeout", type=float, default=1800.0, help="Seconds per run.")
    parser.add_argument("--batch", default="", help="--rego-batch for the Rego paths.")
    parser.add_argument(
        "--engine", choices=ENGINES, default="rego-cpp", help="--rego-engine of the Rego paths."
    )
    parser.add_argument("--out", type=Path, default=HERE / "out", help="Estates and reports.")
    parser.add_argument("--no-write", action="store_true", help="Print, do not update RESULTS.md.")
    args = parser.parse_args()
    engine = [] if args.engine == "rego-cpp" else ["--rego-engine", args.engine]
    begin, end = (
        (BEGIN, END)
        if not engine
        else (f"<!-- rego-{args.engine}:begin -->", f"<!-- rego-{args.engine}:end -->")
    )
    info = machine()
    info["load_before"] = load_average()
    estates = args.out / "estates"
    profile = Path(generate("profile", 0, estates)["path"])
    reports = args.out / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for vms in sorted({int(s) for s in args.sizes.split(",") if s.strip()}):
        estate = Path(generate("snapshot", vms, estates)["path"])
        for path, extra in PATHS.items():
            report = reports / f"rego-{path}-{vms}.json"
            extra = [*extra, "--rego-batch", args.batch] if extra and args.batch else extra
            extra = [*extra, *engine] if extra else extra
            done = scan("snapshot", estate, profile, report, extra, args.timeout)
            found = findings(report) if done.returncode in (0, 1) else None
            rows.append(Row(path, vms, done, None if found is None else len(found)))
            print(
                f"{path:9} {vms:>6} VMs {done.seconds:8.1f} s {done.cpu_seconds:8.1f} s CPU "
                f"{done.peak_mib:7.0f} MiB {rows[-1].cell} (load {load_average()})",
                flush=True,
            )
    lines = [begin, "", f"Command: `python benchmarks/rego.py {' '.join(sys.argv[1:])}`", ""]
    lines += [
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, {info['python']}; "
        f"policycheck at `{info['commit']}`; load average {info['load_before']} before, "
        f"{load_average()} after (a shared machine: compare within a size).",
        "",
        "| VMs | path | wall | CPU | x native (wall, CPU) | peak RSS | findings | result |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    native = {r.vms: r.run for r in rows if r.path == "native"}

    def times(run: Run, base: Run | None) -> str:
        if base is None or run is base:
            return "-"
        return f"{run.seconds / base.seconds:.1f}x, {run.cpu_seconds / base.cpu_seconds:.1f}x"

    for r in rows:
        lines.append(
            f"| {r.vms:,} | {r.path} | {r.run.seconds:.1f} s | {r.run.cpu_seconds:.1f} s | "
            f"{times(r.run, native.get(r.vms))} | {r.run.peak_mib:,.0f} MiB | "
            f"{'-' if r.findings is None else f'{r.findings:,}'} | {r.cell} |"
        )
    if args.plan:
        plan = Path(generate("plan", args.plan, estates)["path"])
        got: dict[str, Run] = {}
        keys: dict[str, list[str] | None] = {}
        prints: dict[str, list[str] | None] = {}
        for path in ("native", "swyx"):
            report = reports / f"rego-plan-{path}-{args.plan}.json"
            extra = [*PATHS[path], *engine] if PATHS[path] else []
            got[path] = scan("plan", plan, profile, report, extra, args.timeout)
            found = findings(report)
            keys[path] = None if found is None else sorted(key(f) for f in found)
            prints[path] = None if found is None else sorted(f["fingerprint"] for f in found)
            print(
                f"plan {path:9} {got[path].seconds:8.1f} s {got[path].cpu_seconds:8.1f} s CPU "
                f"{len(keys[path] or [])} findings {got[path].status}",
                flush=True,
            )
        same = keys["native"] is not None and keys["native"] == keys["swyx"]
        same_prints = prints["native"] is not None and prints["native"] == prints["swyx"]
        lines += [
            "",
            f"Plan of {args.plan:,} VMs: native {got['native'].seconds:.1f} s "
            f"({got['native'].cpu_seconds:.1f} s CPU), `{' '.join(['--rego embedded', *engine])}` "
            f"{got['swyx'].seconds:.1f} s ({got['swyx'].cpu_seconds:.1f} s CPU, "
            f"{got['swyx'].peak_mib:,.0f} MiB); fingerprints "
            + (f"identical ({len(prints['native'] or []):,})" if same_prints else "DIFFER")
            + "; findings "
            + ("identical" if same else "DIFFER")
            + " (rule, VM, direction, region, rules, message, level).",
        ]
    lines += ["", end]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
        if begin in old and end in old:
            head, rest = old.split(begin, 1)
            new = head + text + rest.split(end, 1)[1]
        elif engine and END in old:  # after the rego-cpp figures
            head, rest = old.split(END, 1)
            new = head + END + "\n\n" + text + rest
        else:
            new = old.rstrip("\n") + "\n\n## Rego path (issue 15)\n\n" + text + "\n"
        RESULTS.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
