"""Scanning an inventory and picking findings, for the cloud-semantics tests."""

from __future__ import annotations

import datetime as dt

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.findings import Finding, ScanResult
from policycheck.model import Inventory
from policycheck.profile import Profile
from policycheck.report.common import message

TODAY = dt.date(2026, 11, 26)


def scan(inventory: Inventory, profile: Profile | None = None) -> ScanResult:
    return evaluate(inventory, profile or Profile(), default_catalog(), today=TODAY)


def touches(finding: Finding, port: int) -> bool:
    """Does the finding's region hold tcp/udp ``port``? (A finding about a whole VM,
    without a region, counts as touching every port.)"""
    if not finding.region:
        return True
    return any(
        part.protocol in ("tcp", "udp") and any(p.lo <= port <= p.hi for p in part.ports)
        for part in finding.region
    )


def on_port(result: ScanResult, rule_id: str, port: int, vm: str | None = None) -> list[Finding]:
    return [
        f
        for f in result.findings
        if f.rule_id == rule_id and (vm is None or f.vm_name == vm) and touches(f, port)
    ]


def unresolved(result: ScanResult, vm: str | None = None) -> list[Finding]:
    return [
        f for f in result.findings if f.rule_id == "SWYX005" and (vm is None or f.vm_name == vm)
    ]


def text(finding: Finding) -> str:
    """The finding as reports word it."""
    return message(finding)
