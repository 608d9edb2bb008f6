"""The Rego path in batches of VMs (--rego-batch, policycheck/policy/batches.py).

Batched evaluation must give exactly the findings of one evaluation over the
whole estate for policies about one VM, region, firewall or rule: the Swyx
policy and the example user policies, on a generated hosting estate whose shared
firewalls (a base security group per VPC, a baseline NSG, network-wide GCP
rules) are used by VMs of different batches, plus a firewall no VM uses.
Errors inside a batch still name file.rego:LINE, and --rego-timeout bounds the
whole evaluation, not each batch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_policycheck
from hypothesis import given, settings
from hypothesis import strategies as st
from opa_compatible_server import OpaCompatibleServer

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import compare_all
from policycheck.errors import InputError
from policycheck.findings import ScanResult
from policycheck.model import Inventory
from policycheck.policy.batches import referenced, split, union
from policycheck.policy.document import DocumentBuilder
from policycheck.policy.embedded import EngineName
from policycheck.policy.session import Query, run_embedded
from policycheck.policy.source import parse_source
from policycheck.profile import Profile, load_profile
from policycheck.rego import evaluate_rego
from policycheck.sources.snapshot import dumps

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
EXAMPLES = REPO / "examples" / "policies"
CATALOG = default_catalog()
HEAD = "package acme.check\n\nimport rego.v1\n\n"


def _estates() -> Any:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return __import__("estates")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def hosting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Inventory, Profile]:
    """24 VMs of 12 tenants on three clouds, and a firewall no VM uses."""
    estates = _estates()
    inventory: Inventory = estates.snapshot_inventory(24)
    spare = inventory.firewalls[0]
    unused = spare.model_copy(update={"id": f"{spare.id}-unused", "name": "unused"})
    inventory = inventory.model_copy(update={"firewalls": [*inventory.firewalls, unused]})
    profile = load_profile(estates.write_profile(tmp_path_factory.mktemp("profile")), CATALOG)
    return inventory, profile


def keys(result: ScanResult) -> Counter[str]:
    return Counter(json.dumps(f.model_dump(mode="json"), sort_keys=True) for f in result.findings)


def document_of(inventory: Inventory, profile: Profile) -> dict[str, Any]:
    builder = DocumentBuilder(inventory, profile)
    compare_all(inventory, profile, CATALOG, observe=builder)
    return builder.finish()


def test_batches_hold_their_vms_and_exactly_the_firewalls_they_use(
    hosting: tuple[Inventory, Profile],
) -> None:
    inventory, profile = hosting
    document = document_of(inventory, profile)
    batches = split(document, 3)
    with_vms = [b for b in batches if b["vms"]]
    assert len(with_vms) == 8
    assert [vm for b in with_vms for vm in b["vms"]] == list(document["vms"])
    for i, batch in enumerate(batches):
        assert batch["batch"] == {"index": i, "count": len(batches)}
        assert batch["schema_version"] == document["schema_version"]
        assert batch["profile"] == document["profile"]
        used = {fw for vm in batch["vms"].values() for fw in referenced(vm)}
        if batch["vms"]:
            assert set(batch["firewalls"]) == used
    # A shared firewall is in several batches; every firewall is in one at least.
    seen = Counter(fw for b in batches for fw in b["firewalls"])
    assert max(seen.values()) > 1
    assert set(seen) == set(document["firewalls"])
    # The unused firewall comes in a batch without VMs.
    unused = [b for b in batches if not b["vms"]]
    assert any(f"{inventory.firewalls[0].id}-unused" in b["firewalls"] for b in unused)
    whole = split(document, None)
    assert len(whole) == 1 and whole[0]["vms"] == document["vms"]


def test_union_keeps_an_element_once_and_passes_a_non_set_on() -> None:
    a, b = {"id": 1, "m": "x"}, {"m": "x", "id": 1}
    assert union([(True, [a]), (False, None), (True, [b, {"id": 2}])]) == (
        True,
        [a, {"id": 2}],
    )
    assert union([(False, None), (False, None)]) == (False, None)
    assert union([(True, []), (True, True)]) == (True, True)


@pytest.fixture(scope="module")
def whole_cpp(hosting: tuple[Inventory, Profile]) -> ScanResult:
    inventory, profile = hosting
    return evaluate_rego(inventory, profile, CATALOG, policy_dirs=[EXAMPLES], batch=None)


#: The embedded engines: rego-cpp, and OPA's Go library in the same child-process design.
ENGINES = ("rego-cpp", "opa")


@pytest.mark.parametrize("embedded", ENGINES)
def test_batched_and_whole_evaluation_give_the_same_findings(
    hosting: tuple[Inventory, Profile], whole_cpp: ScanResult, embedded: EngineName
) -> None:
    inventory, profile = hosting
    whole = evaluate_rego(
        inventory, profile, CATALOG, policy_dirs=[EXAMPLES], batch=None, embedded=embedded
    )
    batched = evaluate_rego(
        inventory, profile, CATALOG, policy_dirs=[EXAMPLES], batch=3, embedded=embedded
    )
    assert keys(batched) == keys(whole)
    # Both engines decide alike.
    assert keys(whole) == keys(whole_cpp)
    rules = Counter(f.rule_id for f in whole.findings)
    # Swyx findings, per-VM and per-rule user findings are all there to compare.
    assert rules["SWYX001"] and rules["NET001"] and rules["TAG001"] and rules["NET002"]
    # A rule of a shared firewall (no VM of its own) is reported once, not per batch.
    shared = [
        f
        for f in whole.findings
        if f.rule_id == "NET002" and f.policy is not None and "base" in f.policy.message
    ]
    assert shared and len({f.fingerprint() for f in shared}) == len(shared)
    # The firewall no VM uses is checked too.
    assert any(
        f.rule_id == "NET002" and f.policy is not None and " of unused " in f.policy.message
        for f in batched.findings
    )
    assert [f.policy_rules for f in (batched,)] == [whole.policy_rules]


def test_the_opa_path_batches_alike(hosting: tuple[Inventory, Profile]) -> None:
    inventory, profile = hosting
    embedded = evaluate_rego(inventory, profile, CATALOG, policy_dirs=[EXAMPLES], batch=None)
    with OpaCompatibleServer() as server:
        opa = evaluate_rego(
            inventory,
            profile,
            CATALOG,
            engine="opa",
            opa_url=server.url,
            policy_dirs=[EXAMPLES],
            batch=6,
        )
        posts = [p for m, p in server.state.requests if m == "POST"]
    assert keys(opa) == keys(embedded)
    assert posts.count("/v1/data/examples/ownership/info") == len(
        split(document_of(inventory, profile), 6)
    )


def policy_dir(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    (folder / "broken.rego").write_text(HEAD + body)
    return folder


@pytest.mark.parametrize("embedded", ENGINES)
def test_an_error_in_one_batch_names_the_file_and_line(
    hosting: tuple[Inventory, Profile], tmp_path: Path, embedded: EngineName
) -> None:
    inventory, profile = hosting
    last = inventory.vms[-1].name
    folder = policy_dir(
        tmp_path,
        "deny contains msg if {\n"
        "\tsome vm in input.vms\n"
        f'\tvm.name == "{last}"\n'
        '\tmsg := format_int(to_number("many"), 10)\n'
        "}\n",
    )
    with pytest.raises(InputError) as err:
        evaluate_rego(
            inventory,
            profile,
            CATALOG,
            swyx=False,
            policy_dirs=[folder],
            batch=2,
            embedded=embedded,
        )
    message = str(err.value)
    assert message.startswith(f"{folder}/broken.rego:8: "), message
    assert message.endswith("(embedded Rego engine)")


def test_the_time_limit_bounds_the_whole_evaluation(tmp_path: Path) -> None:
    # Some work per batch, far below the limit for one batch...
    folder = policy_dir(
        tmp_path,
        "deny contains msg if {\n"
        "\tcount(input.vms) > 0\n"
        "\tn := count([x | some x in numbers.range(0, 50000)])\n"
        "\tmsg := format_int(n, 10)\n"
        "}\n",
    )
    path = folder / "broken.rego"
    source = parse_source(path, str(path), path.read_text())
    query = Query("data.acme.check.deny", source.where("deny"))

    def run(batches: int, timeout: float) -> float:
        started = time.monotonic()
        documents = [{"vms": {"vm-1": {}}}] * batches
        run_embedded([source], {}, documents, [query], timeout=timeout, workers=1)
        return time.monotonic() - started

    one, four = run(1, 60), run(4, 60)
    per_batch = max((four - one) / 3, 0.05)
    limit = max(1.0, one + 2 * per_batch)
    # Far more batches than fit: the run stops at the limit however many there are.
    batches = int(10 * limit / per_batch) + 1
    print(f"one batch {one:.2f} s, each more {per_batch:.2f} s: {batches} batches, {limit:.1f} s")
    # ...and past it over all the batches.
    with pytest.raises(InputError) as err:
        run(batches, limit)
    assert str(err.value) == (
        f"{path}:5: data.acme.check.deny did not finish within {limit:g} s "
        "(raise the limit with --rego-timeout)"
    )


cli = run_policycheck


def _policy_scan(inventory: Inventory, tmp_path: Path) -> tuple[str, ...]:
    """The CLI arguments of a JSON scan of ``inventory`` (as a snapshot) with the
    example policies."""
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_bytes(dumps(inventory))
    return ("scan", "snapshot", str(snapshot), "--format", "json",
            "--policy-dir", "examples/policies")  # fmt: skip


def test_cli_rego_batch(hosting: tuple[Inventory, Profile], tmp_path: Path) -> None:
    common = _policy_scan(hosting[0], tmp_path)
    whole = cli(*common, "--rego-batch", "all")
    batched = cli(*common, "--rego-batch", "4")
    assert whole.returncode == batched.returncode == 1, whole.stderr + batched.stderr

    def fingerprints(done: subprocess.CompletedProcess[str]) -> list[str]:
        return sorted(f["fingerprint"] for f in json.loads(done.stdout)["findings"])

    assert fingerprints(batched) == fingerprints(whole)
    bad = cli(*common, "--rego-batch", "0")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "policycheck: error: Invalid value for '--rego-batch': '0' is neither a number of "
        "VMs (1 or more) nor all (see 'policycheck scan snapshot --help')"
    )


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=4))
def test_input_strings_reach_the_engine_exactly(value: dict[str, str]) -> None:
    """The input goes to rego-cpp as nodes with each string given as its JSON
    literal's text: what a policy reads back, and sees, is what parsing the same
    document from JSON text gives."""
    from regopy import Interpreter

    from policycheck.policy.worker import Worker

    worker = Worker()
    worker.handle({"op": "load", "input": {"m": value}})
    parsed = Interpreter()
    parsed.set_input_term(json.dumps({"m": value}))
    for query in ("input.m", "[count(k) | some k, _ in input.m]", "[k | some k in input.m]"):
        got = worker.handle({"op": "query", "query": query})
        assert got["value"] == json.loads(str(parsed.query(query)))["expressions"][0], query
    assert worker.handle({"op": "query", "query": "input.m"})["value"] == value


def test_shards_merge_firewall_level_results_once(
    hosting: tuple[Inventory, Profile], tmp_path: Path
) -> None:
    """Each shard evaluates its VMs with the firewalls they use, so a shared
    firewall's rule is reported by several shards; the merged report holds it
    once, as the whole scan does."""
    common = _policy_scan(hosting[0], tmp_path)
    whole = cli(*common)
    parts = []
    for k in (1, 2):
        out = tmp_path / f"shard-{k}.json"
        done = cli(*common, "--shard", f"{k}/2", "-o", str(out))
        assert done.returncode == 1, done.stderr
        parts.append(out)
    merged = cli("merge", *map(str, parts), "--format", "json")
    assert merged.returncode == 1, merged.stderr

    def net002(text: str) -> Counter[str]:
        return Counter(
            f["fingerprint"] for f in json.loads(text)["findings"] if f["rule_id"] == "NET002"
        )

    shard_total = sum(net002(p.read_text()).total() for p in parts)
    assert shard_total > net002(whole.stdout).total() > 0  # shards repeat shared rules
    assert net002(merged.stdout) == net002(whole.stdout)
