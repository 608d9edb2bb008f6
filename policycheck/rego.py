"""The Rego path: policies/swyx.rego and the users' policies over one input document.

The native pass evaluates the estate once and writes the input document as it
goes (:mod:`policycheck.policy.document`): each VM's roles, expected flows,
exact effective access and what the comparison with the matrix found. Then one
engine evaluates every module on that input:

- ``--rego embedded|opa``: ``policies/swyx.rego`` decides SWYX001-SWYX003, which
  replace the native ones (everything else stays native);
- ``--policy-dir DIR``: the users' policies report through ``deny``/``warn``/
  ``info`` and become findings of their own rules.

Suppressions, hints, ordering, reports and exit codes treat every finding alike.
Shape of the input and of the results: docs/rego.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

from policycheck.catalog import POLICIES_DIR, Catalog
from policycheck.engine.compare import blocked_finding, make_finding, merge_duplicates, rule_ref
from policycheck.engine.evaluate import compare_all, scan_result
from policycheck.engine.intervals import ALL_PORT_SET, IntervalSet, addr_set
from policycheck.engine.regions import RegionBuilder
from policycheck.errors import InputError
from policycheck.findings import PORT_PROTOCOLS, Finding, ScanResult
from policycheck.model import VM, Inventory
from policycheck.policy.batches import DEFAULT_BATCH, split
from policycheck.policy.document import DocumentBuilder
from policycheck.policy.embedded import DEFAULT_ENGINE, DEFAULT_TIMEOUT, EngineName
from policycheck.policy.load import PolicySet, display_path, load_policy_dirs
from policycheck.policy.results import Converter, Resolver
from policycheck.policy.session import Answers, Query, run_embedded
from policycheck.policy.source import Source, SourceError, parse_source
from policycheck.profile import Profile
from policycheck.report.output import write_atomic

Engine = Literal["embedded", "opa"]
POLICY_PATH = POLICIES_DIR / "swyx.rego"
#: The findings the Swyx policy decides; the rest of a run stays native.
REGO_RULES = frozenset({"SWYX001", "SWYX002", "SWYX003"})
FINDINGS_QUERY = "data.swyx.findings"

Json = dict[str, Any]


def evaluate_rego(
    inventory: Inventory,
    profile: Profile,
    catalog: Catalog,
    *,
    engine: Engine = "embedded",
    swyx: bool = True,
    policy_dirs: Sequence[Path] = (),
    opa_url: str | None = None,
    policy_path: Path = POLICY_PATH,
    timeout: float = DEFAULT_TIMEOUT,
    today: dt.date | None = None,
    select: Callable[[VM], bool] | None = None,
    write_input: Path | None = None,
    evidence: bool = False,
    batch: int | None = DEFAULT_BATCH,
    embedded: EngineName = DEFAULT_ENGINE,
) -> ScanResult:
    """A native scan plus the Rego policies.

    ``swyx``: decide SWYX001-SWYX003 with ``policy_path`` (policies/swyx.rego).
    ``policy_dirs``: the users' policies (their findings are added). ``engine``:
    ``embedded`` (``embedded``: rego-cpp or OPA's Go library, in child processes)
    or ``opa`` (the server at ``opa_url``, through opa-python-client).
    ``timeout``: seconds each step (loading, one query) may take.
    ``write_input``: also write the input document there (when the evaluation
    succeeds). ``select``: only the VMs it accepts (one shard's) are evaluated
    and in the input document's ``vms``. ``evidence``: see
    :func:`policycheck.engine.evaluate.evaluate` (judged by the findings Rego decided).
    """
    if engine not in ("embedded", "opa"):
        raise InputError(f"--rego: unknown engine {engine!r} (embedded or opa)")
    if batch is not None and batch < 1:
        raise InputError(f"--rego-batch: {batch} VMs; give a number from 1, or all")
    if engine == "opa" and not opa_url:
        raise InputError("--rego opa: --opa-url is required (e.g. http://127.0.0.1:8181)")
    user = load_policy_dirs(policy_dirs) if policy_dirs else PolicySet()
    builder = DocumentBuilder(inventory, profile)
    native = compare_all(
        inventory, profile, catalog, select=select, observe=builder, evidence=evidence
    )
    document = builder.finish()

    sources: list[Source] = []
    queries: list[Query] = []
    if swyx:
        own = read_policy(policy_path)
        sources.append(own)
        queries.append(Query(FINDINGS_QUERY, own.where("findings")))
    sources += user.policies
    reports = user.reports()
    queries += [Query(r.query, r.where) for r in reports]
    documents = split(document, batch)
    answers = run_policies(
        engine, sources, user.data, documents, queries, opa_url, timeout, embedded
    )

    decided: list[Finding] = []
    if swyx:
        swyx_found = swyx_findings(answers.get(FINDINGS_QUERY, (False, None)), builder, sources[0])
        # One finding per change to make, as the native comparison merges them.
        decided += merge_duplicates(swyx_found, builder.internal)
    converter = Converter(
        Resolver.of(inventory, builder.extra_rules.values()),
        builder.internal,
        {pkg: user.sources_of(pkg) for pkg in {s.package or "" for s in user.policies}},
    )
    for report in reports:
        defined, value = answers.get(report.query, (False, None))
        decided += converter.findings(report, value if defined else None)

    kept = [f for f in native.findings if not (swyx and f.rule_id in REGO_RULES)]
    # Suppressions, hints, peer names and order: exactly as for a native scan.
    result = scan_result(inventory, native._replace(findings=kept + decided), profile, today=today)
    if write_input is not None:
        whole = split(document, None)[0]
        write_atomic(write_input, orjson.dumps(whole, option=orjson.OPT_INDENT_2) + b"\n")
    return result.model_copy(
        update={"policy_rules": sorted(converter.rules.values(), key=lambda r: r.id)}
    )


def read_policy(path: Path) -> Source:
    # The packaged policy is named as it is in the repository, wherever installed.
    display = "policies/swyx.rego" if path == POLICY_PATH else display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{display}: cannot read the Rego policy ({exc})") from exc
    try:
        return parse_source(path, display, text)
    except SourceError as exc:
        raise InputError(str(exc)) from exc


def run_policies(
    engine: Engine,
    sources: Sequence[Source],
    data: Json,
    documents: Sequence[Json],
    queries: Sequence[Query],
    opa_url: str | None,
    timeout: float,
    embedded: EngineName = DEFAULT_ENGINE,
) -> Answers:
    if not sources:
        return {}
    if engine == "opa":
        from policycheck.policy.opa import run_opa

        assert opa_url is not None
        return run_opa(opa_url, sources, data, documents, queries, timeout=timeout)
    return run_embedded(sources, data, documents, queries, timeout=timeout, engine=embedded)


# ---------------------------------------------------------- Swyx findings


def swyx_findings(
    answer: tuple[bool, Any], builder: DocumentBuilder, policy: Source
) -> list[Finding]:
    """The policy's findings as Findings, put together as native ones are."""
    defined, value = answer
    where = policy.where("findings")
    if not defined:
        raise InputError(f"{where}: {FINDINGS_QUERY} is undefined")
    if not isinstance(value, list):
        raise InputError(f"{where}: {FINDINGS_QUERY} is not a set of objects")
    return [_swyx_finding(obj, builder, where) for obj in value]


def _swyx_finding(obj: Any, builder: DocumentBuilder, where: str) -> Finding:
    try:
        kind = str(obj["rule_id"])
        record = builder.records[str(obj["vm"])]
        vm = record.vm
        if kind == "SWYX003":
            assert record.expected is not None and builder.ctx is not None
            req = record.expected.requirements[int(obj["requirement"])]
            return blocked_finding(vm, req, record.roles, builder.ctx)
        if kind not in ("SWYX001", "SWYX002"):
            raise ValueError(f"rule_id {kind!r} is not SWYX001, SWYX002 or SWYX003")
        rules = record.rule_sets[int(obj["rule_set"])]
        region = RegionBuilder()
        for part in obj["region"]:
            protocol = str(part["protocol"])
            ports = (
                IntervalSet((int(lo), int(hi)) for lo, hi in part["ports"])
                if protocol in PORT_PROTOCOLS
                else ALL_PORT_SET
            )
            region.add(protocol, ports, addr_set(str(p) for p in part["peers"]))
        documented = (
            addr_set(str(p) for p in obj.get("documented_peers", [])) if kind == "SWYX002" else None
        )
        return make_finding(
            kind,
            vm,
            "inbound",
            region.parts(builder.internal, record.named_inbound),
            [rule_ref(r) for r in rules],
            roles=record.roles,
            internal=builder.internal,
            catalog_rows=sorted(str(r) for r in obj.get("rows", [])),
            documented=documented,
        )
    except (KeyError, IndexError, TypeError, ValueError, AssertionError) as exc:
        shown = str(obj)[:160]
        raise InputError(
            f"{where}: finding {shown} is not in the documented shape ({exc!r})"
        ) from exc
