"""``--baseline``: what is new since a previous report, and what is gone.

A baseline is a report policycheck wrote earlier: its JSON report
(``policycheck/report/v2``) or its SARIF log. Findings are matched by their
fingerprint (rule, VM, resource, direction and the exact region, no line
numbers), so one newly opened port beside an old one is new, while a rule that
only moved in its file is unchanged. Matching ignores suppressions: a finding is
new or not whether or not it was, or is, suppressed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policycheck.errors import InputError
from policycheck.findings import (
    BaselineComparison,
    BaselineFinding,
    Level,
    RuleId,
    ScanResult,
)
from policycheck.inputs import describe_validation_error, parse_json, read_text

#: The JSON report schema whose fingerprints this version computes (v1 hashed the
#: collapsed protocol/ports, so its fingerprints never match).
JSON_SCHEMA = "policycheck/report/v2"
TOOL_NAME = "policycheck"
_FINGERPRINT = r"^[0-9a-f]{32}$"
_LEVELS: dict[str, Level] = {"error": "error", "warning": "warning", "note": "note"}
_PSEUDO = re.compile(r"^policycheck/(aws|azure|gcp)/")


class Baseline(BaseModel):
    """A previous report's findings (absent ones of a baselined report left out)."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: Literal["json", "sarif"]
    findings: list[BaselineFinding] = Field(default_factory=list)


def load_baseline(path: Path) -> Baseline:
    """The findings of a policycheck JSON report or SARIF log; anything else is an
    InputError naming the file and what is wrong with it."""
    where = f"--baseline {path}"
    doc = parse_json(read_text(path, "baseline report"), where)
    if isinstance(doc, dict) and "runs" in doc:
        kind: Literal["json", "sarif"] = "sarif"
        findings = _from_sarif(doc, where)
    elif isinstance(doc, dict) and "schema" in doc:
        kind = "json"
        findings = _from_json(doc, where)
    else:
        raise InputError(
            f"{where}: not a policycheck report (expected a JSON report with "
            f'"schema": "{JSON_SCHEMA}" or a SARIF log with "runs")'
        )
    unique = {f.fingerprint: f for f in reversed(findings)}
    ordered = [f for f in findings if unique.get(f.fingerprint) is f]
    return Baseline(path=str(path), kind=kind, findings=ordered)


def compare(result: ScanResult, baseline: Baseline) -> ScanResult:
    """``result`` with each finding's ``baseline_state`` and the baseline's
    findings it no longer has."""
    known = {f.fingerprint for f in baseline.findings}
    findings = [
        f.model_copy(update={"baseline_state": "unchanged" if f.fingerprint() in known else "new"})
        for f in result.findings
    ]
    current = {f.fingerprint() for f in result.findings}
    comparison = BaselineComparison(
        path=baseline.path,
        kind=baseline.kind,
        baseline_findings=len(baseline.findings),
        absent=[f for f in baseline.findings if f.fingerprint not in current],
    )
    return result.model_copy(update={"findings": findings, "baseline": comparison})


# ---------------------------------------------------------------------- JSON


class _Provenance(BaseModel):
    model_config = ConfigDict(extra="ignore")

    file: str | None = None
    start_line: int | None = None
    end_line: int | None = None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provenance: _Provenance = Field(default_factory=_Provenance)


class _JsonFinding(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fingerprint: str = Field(pattern=_FINGERPRINT)
    rule_id: RuleId
    level: Level
    provider: str
    vm_id: str
    vm_name: str
    direction: str
    resource: str
    message: str
    rules: list[_Rule] = Field(default_factory=list)
    suppression: dict[str, Any] | None = None


class _JsonReport(BaseModel):
    model_config = ConfigDict(extra="ignore")

    findings: list[_JsonFinding]


def _from_json(doc: dict[str, Any], where: str) -> list[BaselineFinding]:
    schema = doc.get("schema")
    if schema != JSON_SCHEMA:
        raise InputError(
            f"{where}: report schema {str(schema)[:40]!r} is not {JSON_SCHEMA!r}: its "
            "fingerprints differ; write a new baseline with this policycheck"
        )
    try:
        report = _JsonReport.model_validate(doc)
    except ValidationError as exc:
        raise InputError(f"{where}: {describe_validation_error(exc)}") from None
    out = []
    for f in report.findings:
        prov = f.rules[0].provenance if f.rules else _Provenance()
        out.append(
            BaselineFinding(
                fingerprint=f.fingerprint,
                rule_id=f.rule_id,
                level=f.level,
                provider=f.provider,
                vm_id=f.vm_id,
                vm_name=f.vm_name,
                direction=f.direction,
                resource=f.resource,
                message=f.message,
                file=prov.file,
                start_line=prov.start_line,
                end_line=prov.end_line,
                suppressed=f.suppression is not None,
            )
        )
    return out


# --------------------------------------------------------------------- SARIF


class _Text(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = ""


class _ArtifactLocation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    uri: str


class _Region(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    start_line: int | None = Field(default=None, alias="startLine")
    end_line: int | None = Field(default=None, alias="endLine")


class _Physical(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    artifact_location: _ArtifactLocation = Field(alias="artifactLocation")
    region: _Region = Field(default_factory=_Region)


class _Location(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    physical: _Physical | None = Field(default=None, alias="physicalLocation")


class _Fingerprints(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    line_hash: str = Field(alias="primaryLocationLineHash", pattern=_FINGERPRINT)


class _Properties(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    vm: str
    vm_id: str = Field(alias="vmId")
    resource: str
    provider: str
    direction: str


class _SarifResult(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    rule_id: RuleId = Field(alias="ruleId")
    level: str = "warning"
    message: _Text = Field(default_factory=_Text)
    locations: list[_Location] = Field(default_factory=list)
    fingerprints: _Fingerprints = Field(alias="partialFingerprints")
    properties: _Properties
    baseline_state: str | None = Field(default=None, alias="baselineState")
    suppressions: list[dict[str, Any]] = Field(default_factory=list)


class _Driver(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str


class _Tool(BaseModel):
    model_config = ConfigDict(extra="ignore")

    driver: _Driver


class _Run(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tool: _Tool
    results: list[_SarifResult] = Field(default_factory=list)


class _SarifLog(BaseModel):
    model_config = ConfigDict(extra="ignore")

    runs: list[_Run]


def _from_sarif(doc: dict[str, Any], where: str) -> list[BaselineFinding]:
    # The tool is checked first: another tool's results would fail field by field.
    for i, run in enumerate(doc.get("runs") or []):
        name = run.get("tool", {}).get("driver", {}).get("name") if isinstance(run, dict) else None
        if name != TOOL_NAME:
            raise InputError(
                f"{where}: runs[{i}] is a SARIF log of {str(name)[:40]!r}, not of policycheck"
            )
    try:
        log = _SarifLog.model_validate(doc)
    except ValidationError as exc:
        raise InputError(f"{where}: {describe_validation_error(exc)}") from None
    out = []
    for run in log.runs:
        for r in run.results:
            if r.baseline_state == "absent":
                continue  # already gone when that log was written
            physical = r.locations[0].physical if r.locations else None
            file = unquote(physical.artifact_location.uri) if physical else None
            if file is not None and _PSEUDO.match(file):
                file = None  # a live resource's stand-in path, not a file
            level = _LEVELS.get(r.level, "note")
            out.append(
                BaselineFinding(
                    fingerprint=r.fingerprints.line_hash,
                    rule_id=r.rule_id,
                    level=level,
                    provider=r.properties.provider,
                    vm_id=r.properties.vm_id,
                    vm_name=r.properties.vm,
                    direction=r.properties.direction,
                    resource=r.properties.resource,
                    message=r.message.text,
                    file=file,
                    start_line=physical.region.start_line if physical else None,
                    end_line=physical.region.end_line if physical else None,
                    suppressed=bool(r.suppressions),
                )
            )
    return out


__all__ = ["Baseline", "compare", "load_baseline"]
