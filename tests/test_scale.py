"""Scale plumbing: streamed reports, streamed snapshot loading, the GC policy, the
catalog loader, and the benchmark harness at a tiny size.

No timings here: speed is claimed in benchmarks/RESULTS.md only. These tests show
that the faster paths give exactly what the plain ones give.
"""

from __future__ import annotations

import gc
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from model_estates import estate

from policycheck.catalog import CATALOG_PATH, SAFE_LOADER, default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.errors import InputError
from policycheck.memory import bulk_load
from policycheck.model import Inventory
from policycheck.profile import Profile
from policycheck.report import render, write_report
from policycheck.report.stream import Streamed, dump
from policycheck.sources import snapshot

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
POLICYCHECK = (sys.executable, "-m", "policycheck")

# ------------------------------------------------------------ streamed JSON

scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def documents(draw: st.DrawFn) -> tuple[Any, Any]:
    """A document with some lists marked Streamed, and the same document plain."""

    def build(value: Any) -> tuple[Any, Any]:
        if isinstance(value, dict):
            pairs = {k: build(v) for k, v in value.items()}
            return {k: s for k, (s, _) in pairs.items()}, {k: p for k, (_, p) in pairs.items()}
        if isinstance(value, list):
            items = [build(v) for v in value]
            plain = [p for _, p in items]
            # Items of a Streamed list are serialized as they are: no nested Streamed.
            if draw(st.booleans()):
                return Streamed(iter(plain)), plain
            return [s for s, _ in items], plain
        return value, value

    return build(draw(json_values))


@settings(max_examples=300)
@given(documents(), st.booleans())
def test_streamed_document_is_byte_identical_to_orjson(doc: tuple[Any, Any], indent: bool) -> None:
    streamed, plain = doc
    out = io.BytesIO()
    dump(streamed, out.write, indent=indent)
    assert out.getvalue() == orjson.dumps(plain, option=orjson.OPT_INDENT_2 if indent else 0)


def broken_result() -> Any:
    inventory = estate("aws", "broken").merge(estate("gcp", "broken"))
    return evaluate(inventory, Profile(), default_catalog())


@pytest.mark.parametrize("fmt", ["json", "sarif", "markdown", "text"])
def test_written_report_equals_rendered_report(fmt: str) -> None:
    result = broken_result()
    assert result.findings
    chunks: list[bytes] = []
    write_report(result, fmt, chunks.append, category="ci/x")  # type: ignore[arg-type]
    assert b"".join(chunks).decode() == render(result, fmt, category="ci/x")  # type: ignore[arg-type]
    if fmt in ("json", "sarif"):
        assert len(chunks) > len(result.findings), "one write per finding at least"


def test_cli_report_file_and_stdout_agree(tmp_path: Path) -> None:
    plan = REPO / "fixtures" / "terraform" / "gcp-broken" / "plan.json"
    for fmt in ("json", "sarif"):
        out = tmp_path / f"r.{fmt}"
        base = [sys.executable, "-m", "policycheck", "scan", "terraform", str(plan)]
        to_file = subprocess.run(
            [*base, "--format", fmt, "-o", str(out)], capture_output=True, check=False
        )
        to_stdout = subprocess.run([*base, "--format", fmt], capture_output=True, check=False)
        assert to_file.returncode == to_stdout.returncode == 1, to_file.stderr
        written = out.read_bytes()
        assert json.loads(written)
        # stdout ends with exactly one newline; the file is the report as rendered.
        assert to_stdout.stdout == (written if written.endswith(b"\n") else written + b"\n")
        assert not list(tmp_path.glob(".*.tmp"))


# --------------------------------------------------------- snapshot loading


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_streamed_snapshot_load_equals_whole_validation(provider: str) -> None:
    inventory = estate(provider, "broken")  # type: ignore[arg-type]
    raw = snapshot.dumps(inventory)
    loaded = snapshot.loads(raw, "x.json")
    whole = Inventory.model_validate(orjson.loads(raw))
    assert loaded.vms == whole.vms and loaded.firewalls == whole.firewalls
    assert loaded.networks == whole.networks and loaded.errors == whole.errors
    assert loaded.sources == [*whole.sources, "snapshot:x.json"]
    assert type(loaded.vms) is list and all(type(v).__name__ == "VM" for v in loaded.vms)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d["vms"][0].update(addresses=7), "at vms.0.addresses"),
        (
            lambda d: d["firewalls"][0]["rules"][1].update(protocol="bogus"),
            "at firewalls.0.rules.1",
        ),
        (lambda d: d.update(vms={"a": 1}), "at vms"),
        (lambda d: d["vms"].append("not a vm"), "at vms.1"),
        (lambda d: d.update(surprise=1), "at surprise"),
    ],
)
def test_streamed_snapshot_errors_name_the_place(edit: Any, where: str) -> None:
    doc = orjson.loads(snapshot.dumps(estate("aws", "broken")))
    edit(doc)
    with pytest.raises(InputError) as info:
        snapshot.loads(orjson.dumps(doc), "bad.json")
    message = str(info.value)
    assert message.startswith("bad.json: invalid snapshot ") and where in message, message


# ----------------------------------------------------------- GC and catalog


def test_bulk_load_pauses_and_restores_the_collector() -> None:
    assert gc.isenabled()
    with bulk_load():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), bulk_load():
        raise RuntimeError("input error")
    assert gc.isenabled()


def test_catalog_loader_gives_the_pure_python_loaders_data() -> None:
    if SAFE_LOADER is yaml.SafeLoader:
        pytest.skip("PyYAML was built without libyaml here; both loaders are the same class")
    text = CATALOG_PATH.read_text(encoding="utf-8")
    assert yaml.load(text, Loader=SAFE_LOADER) == yaml.load(text, Loader=yaml.SafeLoader)


# ------------------------------------------------------ benchmark harness


def _bench_module(name: str) -> Any:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_generated_estates_are_deterministic_and_agree(tmp_path: Path) -> None:
    estates = _bench_module("estates")
    assert estates.plan_document(12) == estates.plan_document(12)
    first = estates.write_estate(tmp_path / "a", "snapshot", 12).path.read_bytes()
    assert first == estates.write_estate(tmp_path / "b", "snapshot", 12).path.read_bytes()
    counts = dict(estates.summary(12))
    assert counts["vms"] == 12 and counts["deployments"] >= 6 and counts["rules"] > 12 * 15

    # 40 VMs: 20 deployments, among them one with a source known only after apply.
    plan = estates.write_estate(tmp_path, "plan", 40).path
    snap = estates.write_estate(tmp_path, "snapshot", 40).path
    profile = estates.write_profile(tmp_path)
    reports = {}
    for kind, path in (("terraform", plan), ("snapshot", snap)):
        done = subprocess.run(
            [*POLICYCHECK, "scan", kind, str(path), "--profile", str(profile), "--format", "json"],
            capture_output=True,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        reports[kind] = json.loads(done.stdout)
    assert reports["terraform"]["summary"]["vms"] == reports["snapshot"]["summary"]["vms"] == 40

    def kinds(report: dict[str, Any]) -> set[tuple[str, str, str]]:
        return {(f["rule_id"], f["vm_name"], f["direction"]) for f in report["findings"]}

    # The same estate from a plan and from a live-shaped snapshot: the same findings,
    # except the rule whose source is known only after apply (plans only).
    plan_only = kinds(reports["terraform"]) - kinds(reports["snapshot"])
    assert {k[0] for k in plan_only} == {"SWYX005"}
    assert kinds(reports["snapshot"]) <= kinds(reports["terraform"])
    assert {"SWYX001", "SWYX002"} <= {k[0] for k in kinds(reports["snapshot"])}


def test_runner_and_manifest_work_at_a_tiny_size(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n<!-- results:begin -->\nold\n<!-- results:end -->\n\nProse.\n")
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "run.py"),
            "--sizes",
            "4",
            "--paths",
            "plan,snapshot",
            "--repeat",
            "2",
            "--out",
            str(tmp_path / "out"),
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    text = results.read_text()
    assert "old" not in text and text.endswith("Prose.\n")
    rows = [line for line in text.splitlines() if line.startswith("| 4 |")]
    # Two rows (plan, snapshot) measured, each with findings (the VMs' SWYX004 notes).
    assert len(rows) == 2 and all(row.endswith("| exit 0 |") for row in rows), text
    assert all(int(row.split("|")[-3]) > 0 for row in rows), text
    # Two runs each: the median ratio and its range over the two pairs.
    assert all(re.search(r"\| [\d.,]+x \([\d.,]+-[\d.,]+x\) \|", row) for row in rows), text


def test_manifest_comparison_reports_every_kind_of_change() -> None:
    fp = _bench_module("fingerprints")
    entry = fp.Entry(exit=1, findings=2, fingerprints=["a", "b"], content="c1")
    same = fp.Entry(exit=1, findings=2, fingerprints=["a", "b"], content="c1")
    assert fp.compare({"x": entry}, {"x": same}) == []
    changes = {
        "finding gone": fp.Entry(exit=1, findings=1, fingerprints=["a"], content="c2"),
        "finding doubled": fp.Entry(exit=1, findings=3, fingerprints=["a", "b", "b"], content="c3"),
        "content": fp.Entry(exit=1, findings=2, fingerprints=["a", "b"], content="c9"),
        "exit": fp.Entry(exit=2, error="policycheck: error: x", content="c1"),
    }
    for label, other in changes.items():
        problems = fp.compare({"x": entry}, {"x": other})
        assert problems and all(p.startswith("x: ") for p in problems), label
    assert fp.compare({"x": entry}, {}) == ["x: input gone"]
    assert fp.compare({}, {"y": entry}) == ["y: new input"]
