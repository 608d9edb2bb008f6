"""Comparing findings across sources (Terraform, live clouds, snapshots, model).

Rule ids and names differ by source (a Terraform address vs an ``sgr-`` id), so
findings are compared by what they say about the VM: kind, direction and the
exact region (per part: protocol, ports, peers, excluded protocols).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from policycheck.findings import Finding

GATE_RULES = ("SWYX001", "SWYX002", "SWYX003")

Signature = tuple[str, str, str, tuple[str, ...]]


def signature(f: Finding) -> Signature:
    return (f.rule_id, f.vm_name, f.direction, tuple(p.canonical_text() for p in f.region))


def signatures(
    findings: Iterable[Finding], rules: Iterable[str] = GATE_RULES
) -> Counter[Signature]:
    wanted = set(rules)
    return Counter(signature(f) for f in findings if f.rule_id in wanted)
