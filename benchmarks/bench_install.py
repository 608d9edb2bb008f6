"""Install size and time of policycheck's core and each extra, in fresh venvs.

Builds the wheel from this checkout, then for each target creates an empty venv
and times ``pip install <wheel>[extra]``. Size is what the install adds to the
venv's site-packages (the empty venv's pip is subtracted). Prints a Markdown
table; docs/install.md records the figures.

    .venv/bin/python benchmarks/bench_install.py --repeats 3          # pip's cache as it is
    .venv/bin/python benchmarks/bench_install.py --repeats 3 --cold   # --no-cache-dir

Each target is installed ``--repeats`` times into a new venv; the median time is
reported (the machine is shared, so single timings scatter).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("core", "aws", "azure", "gcp", "rego", "demo", "all")


def site_packages(env: Path) -> Path:
    return next((env / "lib").glob("python3*/site-packages"))


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
    )
    return next(out.glob("policycheck-*.whl"))


def measure(wheel: Path, target: str, env: Path, cold: bool) -> tuple[float, int, int]:
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    base = tree_size(site_packages(env))
    spec = str(wheel) if target == "core" else f"{wheel}[{target}]"
    cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if cold:
        cmd.append("--no-cache-dir")
    start = time.perf_counter()
    subprocess.run([*cmd, spec], check=True, env={**os.environ, "PIP_NO_INPUT": "1"})
    seconds = time.perf_counter() - start
    added = tree_size(site_packages(env)) - base
    freeze = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--exclude", "pip"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    packages = len([line for line in freeze if not line.startswith("setuptools==")])
    return seconds, added, packages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="pip --no-cache-dir")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=TARGETS, default=list(TARGETS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pc-install-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work / "dist")
        print(f"wheel: {wheel.name}, {wheel.stat().st_size / 1024:.0f} KiB")
        print(f"Python {sys.version.split()[0]}, cache: {'none (--cold)' if args.cold else 'pip'}")
        print()
        print("| install | packages | site-packages | pip install time (median) |")
        print("|---|---:|---:|---:|")
        for target in args.only:
            runs = [
                measure(wheel, target, work / f"{target}-{i}", args.cold)
                for i in range(args.repeats)
            ]
            seconds = statistics.median(r[0] for r in runs)
            _, added, packages = runs[0]
            name = "policycheck" if target == "core" else f"policycheck[{target}]"
            times = ", ".join(f"{r[0]:.1f}" for r in runs)
            print(
                f"| `{name}` | {packages} | {added / 1e6:.1f} MB | {seconds:.1f} s ({times}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
