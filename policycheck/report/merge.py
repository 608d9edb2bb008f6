"""``policycheck merge``: shard reports (or any reports) combined into one.

Two kinds of input, never mixed:

- JSON reports (``--format json``) hold every finding in full, so they merge into
  a :class:`~policycheck.findings.ScanResult` that renders in any format; merged
  shards of a plan or snapshot give exactly the whole scan's report.
- SARIF logs merge into one SARIF log with one run per category
  (``automationDetails.id``), as GitHub code scanning expects one upload per
  category; SARIF does not carry findings in full, so it merges into SARIF only.

A finding (fingerprint) that an earlier report already holds is dropped, so
overlapping reports (a shard that ran twice, a re-run after a failure) count once.
Shard reports carry a mark (docs/sharding.md): when one is given, all N parts of
that scan must be, each once, or the merge is refused: a missing matrix job must
never pass as a clean estate.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from policycheck.errors import InputError, one_line
from policycheck.findings import (
    LEVEL_ORDER,
    CheckedVM,
    Finding,
    ScanResult,
    ShardMark,
    SuppressionStatus,
    VMEvidence,
)
from policycheck.model import CollectionError
from policycheck.report.json_report import JSON_SCHEMA_ID

Kind = Literal["json", "sarif"]


@dataclass
class Report:
    path: Path
    kind: Kind
    doc: dict[str, Any]


def read_reports(paths: Iterable[Path]) -> list[Report]:
    """Read and classify every report; anything else is an input error."""
    reports = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read report: {exc.strerror or exc}") from exc
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{path}: not a JSON or SARIF report: {exc}") from exc
        if isinstance(doc, dict) and doc.get("schema") == JSON_SCHEMA_ID:
            reports.append(Report(path, "json", doc))
        elif isinstance(doc, dict) and doc.get("version") == "2.1.0" and "runs" in doc:
            reports.append(Report(path, "sarif", doc))
        else:
            raise InputError(
                f"{path}: not a policycheck report (expected --format json, schema "
                f"{JSON_SCHEMA_ID}, or SARIF 2.1.0)"
            )
    if not reports:
        raise InputError("merge: no reports given")
    kinds = {r.kind for r in reports}
    if len(kinds) > 1:
        raise InputError(
            "merge: JSON and SARIF reports cannot be merged together; merge the JSON "
            "reports (they render to every format, SARIF included)"
        )
    return reports


# ------------------------------------------------------------------- shards


@dataclass
class _Parts:
    count: int
    seen: dict[int, Path] = field(default_factory=dict)


def check_shards(marks: list[tuple[Path, ShardMark | None]]) -> None:
    """Every marked scan is complete: parts 1..N, each exactly once."""
    scans: dict[str, _Parts] = {}
    for path, mark in marks:
        if mark is None:
            continue
        parts = scans.setdefault(mark.scan, _Parts(mark.count))
        if mark.count != parts.count:
            raise InputError(
                f"merge: {path} is shard {mark} of the {mark.scan} scan, another report "
                f"is a shard of {parts.count}; all shards of a scan use the same N"
            )
        if mark.index in parts.seen:
            raise InputError(
                f"merge: shard {mark} of the {mark.scan} scan is given twice "
                f"({parts.seen[mark.index]} and {path})"
            )
        parts.seen[mark.index] = path
    for scan, parts in scans.items():
        missing = [i for i in range(1, parts.count + 1) if i not in parts.seen]
        if missing:
            names = ", ".join(f"{i}/{parts.count}" for i in missing)
            raise InputError(
                f"merge: shard {names} of the {scan} scan missing; merging only some "
                "shards would report part of the estate as if it were all of it"
            )


def _mark(value: Any, path: Path) -> ShardMark | None:
    if value is None:
        return None
    try:
        return ShardMark.model_validate(value)
    except ValidationError as exc:
        raise InputError(f"{path}: malformed shard mark: {one_line(str(exc))}") from exc


# --------------------------------------------------------------------- JSON


def merge_json(reports: list[Report]) -> ScanResult:
    """One result from JSON reports: findings deduplicated by fingerprint across
    reports, counts summed, sources and collection errors listed once."""
    check_shards([(r.path, _mark(r.doc.get("shard"), r.path)) for r in reports])
    versions = {str(r.doc.get("tool", {}).get("version")) for r in reports}
    if len(versions) > 1:
        raise InputError(
            f"merge: reports of different policycheck versions ({', '.join(sorted(versions))}); "
            "their fingerprints may differ"
        )
    findings: list[Finding] = []
    errors: list[CollectionError] = []
    sources: list[str] = []
    seen: set[str] = set()
    vms = firewalls = 0
    checked: dict[tuple[str, str], CheckedVM] = {}
    with_evidence = {"evidence" in r.doc for r in reports}
    if len(with_evidence) > 1:
        raise InputError(
            "merge: some reports have --evidence and some do not; merged, part of the "
            "estate would look as if it had no evidence"
        )
    evidence: dict[tuple[str, str], VMEvidence] | None = {} if True in with_evidence else None
    statuses: dict[str, SuppressionStatus] = {}
    for report in reports:
        doc = report.doc
        here: set[str] = set()
        try:
            for raw in doc.get("vms", []):
                vm = CheckedVM.model_validate(raw)
                checked.setdefault((vm.provider, vm.id), vm)
            for raw in doc.get("evidence", []):
                shown = VMEvidence.model_validate(raw)
                if evidence is not None:
                    evidence.setdefault((shown.provider, shown.vm_id), shown)
            for raw in doc.get("suppressions", []):
                status = SuppressionStatus.model_validate(raw)
                statuses[status.match] = _merged_status(statuses.get(status.match), status)
            for raw in doc.get("findings", []):
                finding = Finding.model_validate(raw)
                fingerprint = finding.fingerprint()
                if raw.get("fingerprint") != fingerprint:
                    raise InputError(
                        f"{report.path}: a finding's fingerprint does not match its content "
                        "(written by another policycheck version, or edited)"
                    )
                if fingerprint in seen:
                    continue
                here.add(fingerprint)
                findings.append(finding)
            for raw in doc.get("errors", []):
                error = CollectionError.model_validate(raw)
                if error not in errors:
                    errors.append(error)
        except ValidationError as exc:
            raise InputError(f"{report.path}: malformed report: {one_line(str(exc))}") from exc
        seen |= here
        sources.extend(s for s in doc.get("sources", []) if s not in sources)
        summary = doc.get("summary", {})
        vms += int(summary.get("vms", 0))
        firewalls += int(summary.get("firewalls", 0))
    profiles = {r.doc.get("profile") for r in reports}
    return ScanResult(
        tool_version=versions.pop(),
        sources=sources,
        profile=profiles.pop() if len(profiles) == 1 else None,
        vm_count=vms,
        firewall_count=firewalls,
        vms=sorted(checked.values(), key=CheckedVM.sort_key),
        findings=findings,
        errors=errors,
        suppressions=list(statuses.values()),
        evidence=None if evidence is None else sorted(evidence.values(), key=VMEvidence.sort_key),
    )


def _merged_status(seen: SuppressionStatus | None, status: SuppressionStatus) -> SuppressionStatus:
    """One suppression as the shards saw it: it suppressed nothing only if it did
    so in every shard; the findings it matched are summed."""
    if seen is None:
        return status
    state = seen.state if status.state == "unmatched" else status.state
    return seen.model_copy(update={"state": state, "findings": seen.findings + status.findings})


# -------------------------------------------------------------------- SARIF


def merge_sarif(reports: list[Report]) -> dict[str, Any]:
    """One SARIF log, one run per category; results deduplicated by rule and
    ``partialFingerprints`` across reports."""
    marks: list[tuple[Path, ShardMark | None]] = []
    runs: dict[str, dict[str, Any]] = {}
    seen: dict[str, set[tuple[str, str]]] = {}
    schema = reports[0].doc.get("$schema")
    for report in reports:
        run_list = report.doc.get("runs")
        if not isinstance(run_list, list):
            raise InputError(f"{report.path}: malformed SARIF: runs is not a list")
        for run in run_list:
            if not isinstance(run, dict):
                raise InputError(f"{report.path}: malformed SARIF: a run is not an object")
            properties = run.get("properties") or {}
            marks.append((report.path, _mark(properties.get("shard"), report.path)))
            category = str((run.get("automationDetails") or {}).get("id", ""))
            merged = runs.get(category)
            if merged is None:
                merged = runs[category] = _empty_run(run)
                seen[category] = set()
            elif _driver_version(merged) != _driver_version(run):
                raise InputError(
                    f"merge: {report.path}: category {category!r} holds runs of different "
                    f"policycheck versions ({_driver_version(merged)}, {_driver_version(run)})"
                )
            _add_run(merged, run, seen[category])
    check_shards(marks)
    return {"$schema": schema, "version": "2.1.0", "runs": list(runs.values())}


def _driver_version(run: dict[str, Any]) -> str:
    return str(((run.get("tool") or {}).get("driver") or {}).get("version"))


def _empty_run(run: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy({k: v for k, v in run.items() if k != "results"})
    merged["results"] = []
    merged["invocations"] = [{"executionSuccessful": True}]
    properties = {k: v for k, v in (run.get("properties") or {}).items() if k != "shard"}
    properties.update(sources=[], vmCount=0, firewallCount=0, incomplete=False)
    merged["properties"] = properties
    return merged


def _add_run(merged: dict[str, Any], run: dict[str, Any], seen: set[tuple[str, str]]) -> None:
    here: set[tuple[str, str]] = set()
    for result in run.get("results") or []:
        key = (
            str(result.get("ruleId")),
            str((result.get("partialFingerprints") or {}).get("primaryLocationLineHash")),
        )
        if key in seen:
            continue
        here.add(key)
        merged["results"].append(result)
    seen |= here
    invocation = merged["invocations"][0]
    for other in run.get("invocations") or []:
        invocation["executionSuccessful"] &= bool(other.get("executionSuccessful", True))
        notes = invocation.setdefault("toolExecutionNotifications", [])
        for note in other.get("toolExecutionNotifications") or []:
            if note not in notes:
                notes.append(note)
        if not notes:
            del invocation["toolExecutionNotifications"]
    properties = merged["properties"]
    theirs = run.get("properties") or {}
    properties["sources"] += [
        s for s in theirs.get("sources", []) if s not in properties["sources"]
    ]
    properties["vmCount"] += int(theirs.get("vmCount", 0))
    properties["firewallCount"] += int(theirs.get("firewallCount", 0))
    properties["incomplete"] = bool(properties["incomplete"] or theirs.get("incomplete"))


def sarif_exit(log: dict[str, Any], fail_on: str) -> int:
    """The exit code a scan with these results would have had."""
    from policycheck.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK

    runs = log.get("runs", [])
    if any((run.get("properties") or {}).get("incomplete") for run in runs):
        return EXIT_INCOMPLETE
    if fail_on == "never":
        return EXIT_OK
    threshold = LEVEL_ORDER[fail_on]
    for run in runs:
        for result in run.get("results", []):
            level = LEVEL_ORDER.get(str(result.get("level")), 0)
            if level >= threshold and not result.get("suppressions"):
                return EXIT_FINDINGS
    return EXIT_OK
