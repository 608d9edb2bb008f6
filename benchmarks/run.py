"""Measure policycheck on generated estates and write benchmarks/RESULTS.md.

Reproduce (from the repository root, after ``make setup``):

    .venv/bin/python benchmarks/run.py --sizes 100,1000,2000,3000,10000 \\
        --rego-sizes 100,1000 --repeat 3

For every size (VMs) it generates the estate of benchmarks/estates.py as a
Terraform plan and as a snapshot (into benchmarks/out/, gitignored; generation is
deterministic and not timed), then measures, each in a fresh child process:

- the floor: ``json.load`` and ``orjson.loads`` of the same file;
- ``policycheck scan terraform`` / ``scan snapshot`` with the estate's profile,
  writing SARIF to a file (the CI gate's shape);
- the Rego path, ``scan snapshot --rego embedded``.

Each run gets wall time, the child's own peak RSS (``wait4``), its exit status
and the number of findings. With ``--repeat N`` every floor and every scan runs N
times, alternating, and the table shows the median run of each (the floor's median,
the scan whose wall time is the median) plus the range of the ratio over the N
pairs: on a shared machine one sample of a 0.5 s floor can be off by a third.
A run that exceeds ``--timeout`` is killed and recorded as such; larger sizes
of that path are then skipped, since they would only time out too. The table
between the markers in RESULTS.md is replaced; the prose around it is kept.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import REPO, Run, generate, load_average, machine, policycheck, run

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "out"
RESULTS = HERE / "RESULTS.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
Path_ = Literal["plan", "snapshot", "rego"]

FLOOR = """
import sys, time
path, how = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
start = time.perf_counter()
if how == "orjson":
    import orjson
    orjson.loads(raw)
else:
    import json
    json.loads(raw)
print(time.perf_counter() - start)
"""


@dataclass
class Row:
    path: Path_
    vms: int
    deployments: int
    rules: int
    file_mib: float
    json_s: float | None
    orjson_s: float | None
    seconds: float | None
    cpu_seconds: float | None
    peak_mib: float | None
    findings: int | None
    status: str
    #: The lowest and highest ratio over the repeated pairs of floor and scan.
    ratio_range: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        if self.seconds is None or not self.json_s:
            return None
        return self.seconds / self.json_s


def floor(path: Path, how: str) -> float:
    done = run([sys.executable, "-c", FLOOR, str(path), how])
    if done.returncode != 0:
        raise SystemExit(f"floor measurement failed: {done.stderr.strip()}")
    return float(done.stdout.strip())


def count_findings(report: Path) -> int | None:
    try:
        doc = json.loads(report.read_bytes())
    except (OSError, ValueError):
        return None
    return sum(len(r.get("results", [])) for r in doc.get("runs", []))


def scan(path: Path_, estate: Path, vms: int, profile: Path, out: Path, timeout: float) -> Run:
    report = out / "reports" / f"{path}-{vms}.sarif"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    command = "terraform" if path == "plan" else "snapshot"
    args = ["scan", command, str(estate), "--profile", str(profile)]
    args += ["--format", "sarif", "-o", str(report), "--quiet"]
    if path == "rego":
        args += ["--rego", "embedded"]
    return run(policycheck(*args), timeout=timeout, cwd=REPO)


def measure(
    path: Path_,
    vms: int,
    out: Path,
    profile: Path,
    timeout: float,
    skip: str | None,
    repeat: int = 1,
) -> Row:
    counts = generate("plan" if path == "plan" else "snapshot", vms, out / "estates")
    estate = Path(counts["path"])
    row = Row(
        path=path,
        vms=vms,
        deployments=counts["deployments"],
        rules=counts["rules"],
        file_mib=estate.stat().st_size / 2**20,
        json_s=None,
        orjson_s=None,
        seconds=None,
        cpu_seconds=None,
        peak_mib=None,
        findings=None,
        status=skip or "",
    )
    if skip:
        if path != "rego":
            row.json_s = floor(estate, "json")
            row.orjson_s = floor(estate, "orjson")
        return row
    floors: list[float] = []
    orjsons: list[float] = []
    runs: list[Run] = []
    # Floor and scan alternate, so a busy moment of the machine falls on both.
    for _ in range(repeat):
        if path != "rego":
            floors.append(floor(estate, "json"))
            orjsons.append(floor(estate, "orjson"))
        done = scan(path, estate, vms, profile, out, timeout)
        runs.append(done)
        if done.timed_out or done.returncode not in (0, 1):
            break
    if floors:
        row.json_s, row.orjson_s = statistics.median(floors), statistics.median(orjsons)
        if len(runs) > 1:
            ratios = [r.seconds / f for r, f in zip(runs, floors, strict=False)]
            row.ratio_range = (min(ratios), max(ratios))
    done = sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2]
    row.seconds, row.peak_mib, row.status = done.seconds, done.peak_mib, done.status
    row.cpu_seconds = done.cpu_seconds
    if not done.timed_out:
        row.findings = count_findings(out / "reports" / f"{path}-{vms}.sarif")
        if done.returncode not in (0, 1):
            row.status += f": {done.stderr.strip().splitlines()[-1:]}"
    print(
        f"{path:8} {vms:>6} VMs: {row.status:>14}  {row.seconds:8.1f} s  "
        f"(CPU {row.cpu_seconds:.1f} s)  "
        f"{row.peak_mib:7.0f} MiB  findings={row.findings}",
        flush=True,
    )
    return row


# ------------------------------------------------------------------ report


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


TITLES = {
    "plan": "Terraform plan: `policycheck scan terraform PLAN --profile P --format sarif -o F`",
    "snapshot": "Snapshot: `policycheck scan snapshot FILE --profile P --format sarif -o F`",
    "rego": "Rego: `policycheck scan snapshot FILE --rego embedded ...` (same snapshots)",
}


def _spread(ratios: tuple[float, float] | None) -> str:
    return "" if ratios is None else f" ({ratios[0]:.1f}-{ratios[1]:.1f}x)"


def table(rows: list[Row], path: Path_) -> list[str]:
    lines = [f"### {TITLES[path]}", ""]
    if path == "rego":
        lines += [
            "| VMs | rules | wall | CPU | peak RSS | findings | result |",
            "|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row.vms:,} | {row.rules:,} | {_num(row.seconds, '.1f')} s "
                f"| {_num(row.cpu_seconds, '.1f')} s "
                f"| {_num(row.peak_mib, ',.0f')} MiB | {_num(row.findings, ',')} | {row.status} |"
            )
        return [*lines, ""]
    lines += [
        "| VMs | deployments | rules | file | `json.load` | orjson | policycheck "
        "| CPU | x `json.load` | peak RSS | findings | result |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.vms:,} | {row.deployments:,} | {row.rules:,} | {row.file_mib:.1f} MiB "
            f"| {_num(row.json_s, '.2f')} s | {_num(row.orjson_s, '.2f')} s "
            f"| {_num(row.seconds, '.1f')} s | {_num(row.cpu_seconds, '.1f')} s "
            f"| {_num(row.ratio, ',.1f')}x{_spread(row.ratio_range)} "
            f"| {_num(row.peak_mib, ',.0f')} MiB | {_num(row.findings, ',')} | {row.status} |"
        )
    return [*lines, ""]


def render(rows: list[Row], info: dict[str, str], startup: Run, command: str) -> str:
    lines = [
        BEGIN,
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, {info['python']}, "
        f"{info['os']}; policycheck at `{info['commit']}`"
        + (" (with uncommitted changes)" if info["dirty"] == "yes" else "")
        + f"; load average {info['load_before']} before, {info['load_after']} after.",
        "",
        f"Process start-up (`policycheck --version`): {startup.seconds:.2f} s, "
        f"{startup.peak_mib:.0f} MiB; it is included in every policycheck figure. "
        f"Peak RSS is each child's own (`wait4`); the runner stayed at "
        f"{info['runner_peak_mib']} MiB, the floor below which no child's figure can go.",
        "",
    ]
    for path in ("plan", "snapshot", "rego"):
        selected = [r for r in rows if r.path == path]
        if selected:
            lines += table(selected, path)  # type: ignore[arg-type]
    lines.append(END)
    return "\n".join(lines)


def write_results(results: Path, generated: str) -> None:
    text = results.read_text(encoding="utf-8") if results.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + generated + tail
    else:
        text = "# Benchmark results\n\n" + generated + "\n" + text
    results.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="100,1000,2000,3000,10000", help="VM counts, e.g. 100,1000"
    )
    parser.add_argument(
        "--paths",
        default="plan,snapshot,rego",
        help="What to measure: plan, snapshot, rego (comma separated).",
    )
    parser.add_argument(
        "--rego-sizes", default=None, help="VM counts for the Rego path (default: --sizes)."
    )
    parser.add_argument("--timeout", type=float, default=1200.0, help="Seconds per run.")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="Runs per figure (floor and scan alternate); the table shows the median.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Estates and reports.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown to update.")
    parser.add_argument("--no-write", action="store_true", help="Print, do not update RESULTS.md.")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    for p in paths:
        if p not in ("plan", "snapshot", "rego"):
            parser.error(f"--paths: unknown {p!r}")

    info = machine()
    info["load_before"] = load_average()
    profile = Path(generate("profile", 0, args.out / "estates")["path"])
    startup = run(policycheck("--version"), cwd=REPO)
    rows: list[Row] = []
    rego_sizes = (
        sorted({int(s) for s in args.rego_sizes.split(",") if s.strip()})
        if args.rego_sizes
        else sizes
    )
    for path in paths:
        skip: str | None = None
        for vms in rego_sizes if path == "rego" else sizes:
            row = measure(
                path,  # type: ignore[arg-type]
                vms,
                args.out,
                profile,
                args.timeout,
                skip,
                max(1, args.repeat),
            )
            rows.append(row)
            if row.status.startswith(("timeout", "killed")) and skip is None:
                skip = f"not run: {row.vms:,} VMs already hit the limit"
    info["load_after"] = load_average()
    # Children inherit this process's peak RSS (see estates.main): it must stay small.
    info["runner_peak_mib"] = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    generated = render(rows, info, startup, command.strip())
    (args.out / "results.json").write_text(
        json.dumps({"machine": info, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"
    )
    print(generated)
    if not args.no_write:
        write_results(args.results, generated)


if __name__ == "__main__":
    main()
