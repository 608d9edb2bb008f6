"""``--evidence``: each VM's checked flows and their status, for audits.

Self-contained pieces the JSON, Markdown and SARIF reports add when the result
carries evidence (:attr:`~policycheck.findings.ScanResult.evidence`); nothing
here evaluates, every status comes from the engine (engine/evidence.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from policycheck.findings import FlowEvidence, VMEvidence
from policycheck.model import ALL_PORTS
from policycheck.report.common import peers_text, plural, ports_text

STATUS_TEXT = {
    "required_open": "required and open",
    "required_blocked": "required but blocked",
    "documented_open": "documented and open, for its peers only",
    "documented_closed": "documented and closed",
    "documented_too_broad": "documented but open beyond its peers",
    "undocumented_closed": "undocumented and closed",
    "undocumented_open": "undocumented and open",
}
#: The check a flow's status answers, as SARIF names it: a pass result of that rule.
_CHECK = {
    "required_open": "SWYX003",
    "required_blocked": "SWYX003",
    "documented_open": "SWYX002",
    "documented_closed": "SWYX002",
    "documented_too_broad": "SWYX002",
}
#: Markdown rows per VM before "... and N more" (JSON and SARIF hold them all).
MAX_ROWS = 200


def evidence_json(evidence: list[VMEvidence]) -> list[dict[str, Any]]:
    return [vm.model_dump(mode="json") for vm in evidence]


def flow_text(flow: FlowEvidence) -> str:
    """``inbound tcp 5060 from 10.0.0.0/8, ...``; ``inbound: everything undocumented``."""
    if flow.status.startswith("undocumented"):
        return f"{flow.direction}: everything no documented flow covers"
    what = flow.protocol
    if flow.protocol in ("tcp", "udp") and flow.ports != [ALL_PORTS]:
        what += f" {ports_text(flow.ports)}"
    elif flow.protocol in ("tcp", "udp"):
        what += " all ports"
    preposition = "from" if flow.direction == "inbound" else "to"
    peers = peers_text(flow.peers) if flow.peers else "nowhere (stays on the VM)"
    return f"{flow.direction} {what} {preposition} {peers}"


def status_line(flow: FlowEvidence) -> str:
    rows = f" ({', '.join(flow.rows)})" if flow.rows else ""
    return f"{flow_text(flow)}{rows}: {STATUS_TEXT[flow.status]}"


def check_of(flow: FlowEvidence) -> str:
    """The rule whose check the flow passed (or failed)."""
    if flow.status.startswith("undocumented"):
        return "SWYX001" if flow.direction == "inbound" else "SWYX004"
    return _CHECK[flow.status]


def evidence_markdown(evidence: list[VMEvidence], escape: Any) -> str:
    """A section per VM: its checked flows and their status, folded."""
    flows = [f for vm in evidence for f in vm.flows]
    passed = sum(f.passed for f in flows)
    failed = len(flows) - passed
    why = " (the findings above say why)" if failed else ""
    parts = [
        "### Evidence\n\n"
        f"{plural(len(flows), 'checked flow')} of {plural(len(evidence), 'VM')}: "
        f"{passed} passed, {failed} failed{why}."
    ]
    for vm in evidence:
        counts = Counter(STATUS_TEXT[f.status] for f in vm.flows)
        summary = "; ".join(f"{n} {text}" for text, n in counts.items())
        lines = [
            "| Pass | Direction | Protocol/ports | Peers | Rows | Status |",
            "|---|---|---|---|---|---|",
        ]
        for flow in vm.flows[:MAX_ROWS]:
            ports = "" if flow.protocol == "all" else ports_text(flow.ports)
            peers = peers_text(flow.peers) if flow.peers else "—"
            lines.append(
                f"| {'yes' if flow.passed else '**no**'} | {flow.direction} | "
                f"{escape(f'{flow.protocol} {ports}'.strip())} | {escape(peers)} | "
                f"{escape(', '.join(flow.rows))} | {escape(STATUS_TEXT[flow.status])} |"
            )
        hidden = len(vm.flows) - MAX_ROWS
        if hidden > 0:
            lines.append(f"\n_... and {hidden} more; the SARIF and JSON reports list every flow._")
        title = escape(f"{vm.vm_name} ({vm.provider}): {summary}")
        body = "\n".join(lines)
        parts.append(f"<details>\n<summary>{title}</summary>\n\n{body}\n\n</details>")
    return "\n\n".join(parts)


def evidence_sarif_results(
    evidence: list[VMEvidence], rule_ids: list[str], location: Any
) -> list[dict[str, Any]]:
    """Every passing flow as a SARIF result of ``kind: pass`` (level ``none``, as
    SARIF requires for results that are not failures). ``location(vm)`` gives
    the result's location; failing flows are already there as findings."""
    results = []
    for vm in evidence:
        for flow in vm.flows:
            if not flow.passed:
                continue
            rule = check_of(flow)
            results.append(
                {
                    "ruleId": rule,
                    "ruleIndex": rule_ids.index(rule),
                    "kind": "pass",
                    "level": "none",
                    "message": {"text": f"{vm.vm_name}: {status_line(flow)}."},
                    "locations": [location(vm)],
                    "properties": {
                        "vm": vm.vm_name,
                        "vmId": vm.vm_id,
                        "provider": vm.provider,
                        "evidence": flow.model_dump(mode="json"),
                    },
                }
            )
    return results
