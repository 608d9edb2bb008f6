"""How much of a scan is CPython's cyclic garbage collector, and what each policy saves.

    .venv/bin/python benchmarks/gc_phases.py --vms 1000 [--kind snapshot|plan]

Each policy runs in its own child process (load the estate, evaluate, render
SARIF), timing every collection through ``gc.callbacks``, so the collector's share
is measured directly rather than inferred from noisy wall times on a shared
machine. The policy policycheck uses (policycheck/memory.py) is ``paused+frozen``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import REPO, generate, run

POLICIES = {
    "default": "CPython's default thresholds throughout",
    "frozen": "default, and gc.freeze() once the inventory is loaded",
    "paused+frozen": "no collection while loading, then gc.freeze() (policycheck's policy)",
    "off": "gc.disable() for the whole run",
}

CHILD = r"""
import gc, json, sys, time, resource
from pathlib import Path
policy, kind, path, profile_path = sys.argv[1:5]
spent = {"load": 0.0, "evaluate": 0.0, "render": 0.0}
collections = {"load": 0, "evaluate": 0, "render": 0}
phase = ["load"]
started = [0.0]
def timer(event, info):
    if event == "start":
        started[0] = time.perf_counter()
    else:
        spent[phase[0]] += time.perf_counter() - started[0]
        collections[phase[0]] += 1
from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.profile import load_profile
from policycheck.report.sarif import render_sarif
from policycheck.sources import snapshot, terraform
catalog = default_catalog()
profile = load_profile(Path(profile_path), catalog)
gc.collect()
gc.callbacks.append(timer)
if policy in ("paused+frozen", "off"):
    gc.disable()
t0 = time.perf_counter()
inventory = snapshot.load(Path(path)) if kind == "snapshot" else terraform.load_plan(Path(path))
t1 = time.perf_counter()
if policy in ("frozen", "paused+frozen"):
    gc.freeze()
if policy == "paused+frozen":
    gc.enable()
phase[0] = "evaluate"
result = evaluate(inventory, profile, catalog)
t2 = time.perf_counter()
phase[0] = "render"
render_sarif(result)
t3 = time.perf_counter()
print(json.dumps({
    "wall": {"load": t1 - t0, "evaluate": t2 - t1, "render": t3 - t2},
    "gc": spent, "collections": collections,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--kind", choices=["snapshot", "plan"], default="snapshot")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "estates")
    args = parser.parse_args()
    path = Path(generate(args.kind, args.vms, args.out)["path"])
    profile = Path(generate("profile", 0, args.out)["path"])
    print(f"{args.kind}, {args.vms:,} VMs ({path.stat().st_size / 2**20:.0f} MiB)\n")
    print("| policy | load (GC) | evaluate (GC) | render (GC) | GC total | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for policy, meaning in POLICIES.items():
        argv = [sys.executable, "-c", CHILD, policy, args.kind, str(path), str(profile)]
        done = run(argv, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        data = json.loads(done.stdout)
        cells = [
            f"{data['wall'][p]:.1f} s ({data['gc'][p]:.1f} s)"
            for p in ("load", "evaluate", "render")
        ]
        print(
            f"| `{policy}`: {meaning} | {' | '.join(cells)} "
            f"| {sum(data['gc'].values()):.1f} s | {data['peak_mib']:,.0f} MiB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
