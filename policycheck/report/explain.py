"""``policycheck explain`` output: one packet's verdict, as text or JSON.

Words only: every verdict, rule and outcome comes from the
:class:`~policycheck.explanation.Explanation` the engine built.
"""

from __future__ import annotations

from typing import Any

import orjson

from policycheck.explanation import Explanation, RuleCheck, Step
from policycheck.findings import RuleRef
from policycheck.model import ALL_PORTS
from policycheck.report.common import ports_text, rule_ref_text

EXPLAIN_SCHEMA_ID = "policycheck/explain/v1"

_MISMATCH = {
    "protocol": "other protocol",
    "ports": "limited to ports; the packet has none",
    "port": "other port",
    "source_port": "other source port",
    "address": "other address",
}


def render_explain_json(explanation: Explanation) -> str:
    return orjson.dumps(build_explain_json(explanation), option=orjson.OPT_INDENT_2).decode() + "\n"


def build_explain_json(explanation: Explanation) -> dict[str, Any]:
    data = explanation.model_dump(mode="json")
    # The documented keys first, so a reader sees the answer before the detail.
    head = {key: data.pop(key) for key in ("allowed", "decisive_rules", "steps")}
    return {"schema": EXPLAIN_SCHEMA_ID, **head, **data}


def packet_text(explanation: Explanation) -> str:
    """``inbound tcp 5060 from 203.0.113.7``."""
    p = explanation.packet
    parts = [p.direction, p.protocol if not p.protocol.isdigit() else f"protocol {p.protocol}"]
    if p.port is not None:
        parts.append(str(p.port))
    if p.source_port is not None:
        parts.append(f"(source port {p.source_port})")
    parts += ["from" if p.direction == "inbound" else "to", p.remote]
    return " ".join(parts)


def _ref_text(ref: RuleRef) -> str:
    priority = f" (priority {ref.priority})" if ref.priority is not None else ""
    return f"{rule_ref_text(ref)}{priority}"


def render_explain_text(explanation: Explanation) -> str:
    e = explanation
    verdict = "ALLOWED" if e.allowed else "DENIED"
    lines = [f"{e.vm_name} ({e.provider}): {packet_text(e)}: {verdict}"]
    if e.decisive_rules:
        joiner = " and " if e.allowed else ", "
        what = "allowed by" if e.allowed else "denied by"
        lines.append(f"  {what} {joiner.join(_ref_text(r) for r in e.decisive_rules)}")
    elif not e.allowed:
        lines.append("  denied: no rule allows it (the step's implicit deny)")
    if e.source_ports:
        lines.append(
            f"  only from source ports {ports_text(e.source_ports)}; the steps show the first"
        )
    for check in e.uncertain:
        lines.append(
            f"  uncertain: {rule_ref_text(check.rule)} has peers not known here "
            f"({'; '.join(check.unresolved)}); the verdict is for its known peers"
        )
    for problem in e.problems:
        lines.append(f"  note: {problem}")
    for number, step in enumerate(e.steps, 1):
        lines.append("")
        lines.extend(_step_lines(number, step, "from" if e.packet.direction == "inbound" else "to"))
    return "\n".join(lines) + "\n"


def _step_lines(number: int, step: Step, preposition: str) -> list[str]:
    how = "first match by priority" if step.ordered else "any matching allow rule allows"
    verdict = {"allow": "passes", "deny": "dropped here", "not_reached": "not reached"}
    lines = [f"Step {number}: {step.label} ({how}): {verdict[step.verdict]}"]
    shown = [c for c in step.rules if _shown(c, step)]
    # Level headings only where a step has levels (GCP policies, default rules).
    headed = len({_stage(c) for c in shown}) > 1
    stage: str | None = None
    for check in shown:
        if headed and _stage(check) != stage:
            stage = _stage(check)
            lines.append(f"  -- {stage}")
        lines.append(f"  {_check_line(check, preposition)}")
    skipped = len(step.rules) - len(shown)
    if skipped:
        lines.append(f"  ({skipped} further rule{'s' if skipped != 1 else ''} not reached)")
    return lines


def _shown(check: RuleCheck, step: Step) -> bool:
    """Every rule the packet met; of those after the decision only the allows a deny
    overrode (what would have let it through), never the catch-alls after an allow."""
    if check.outcome != "not_reached":
        return True
    return step.verdict == "deny" and check.mismatch is None and check.rule.action == "allow"


_STAGES = {
    # kind -> (its own rules, its platform rules)
    "nsg": ("security rules", "default security rules"),
    "vpc_firewall": ("VPC firewall rules", "implied rules"),
    "network_acl": ("numbered rules", "default rule"),
    "security_group": ("security group rules", "default rules"),
}


def _stage(check: RuleCheck) -> str:
    """The level of an ordered step a rule belongs to."""
    if check.firewall_kind == "firewall_policy":
        return f"firewall policy {check.rule.firewall_name}"
    own, platform = _STAGES.get(check.firewall_kind, ("rules", "default rules"))
    return platform if check.synthetic else own


def _check_line(check: RuleCheck, preposition: str) -> str:
    ref = check.rule
    priority = str(ref.priority) if ref.priority is not None else "-"
    if check.protocol == "all":
        protocol = "any protocol" if check.ports == [ALL_PORTS] else "any protocol, ports"
    else:
        protocol = f"protocol {check.protocol}" if check.protocol.isdigit() else check.protocol
    ported = check.protocol in ("tcp", "udp") or (
        check.protocol == "all" and check.ports != [ALL_PORTS]
    )
    ports = ports_text(check.ports) if ported else ""
    what = f"{ref.action or 'allow'} {protocol} {ports}".rstrip()
    peers = ", ".join(check.peers[:3]) + (
        f" (+{len(check.peers) - 3})" if len(check.peers) > 3 else ""
    )
    if check.outcome == "no_match":
        result = f"no match: {_MISMATCH[check.mismatch]}" if check.mismatch else "no effect"
    elif check.outcome == "not_reached":
        result = "would allow, but the deny above decided first"
    elif check.outcome == "goto_next":
        result = "matches: goes to the next level"
    elif check.outcome == "allows":
        result = "matches: allows"
    else:
        result = "matches: denies" if ref.action == "deny" else "matches: allows"
    unknown = f" [unknown: {'; '.join(check.unresolved)}]" if check.unresolved else ""
    return (
        f"{priority:>6}  {rule_ref_text(ref)}: {what} {preposition} {peers}  -> {result}{unknown}"
    )
