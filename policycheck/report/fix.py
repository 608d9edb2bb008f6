"""``policycheck fix`` output: the words for changes, and ``--format json``.

A :class:`~policycheck.fixes.FixResult` is data; this module words its changes,
setup steps and limits (the only place they become sentences, for both formats)
and renders the JSON document (docs/fix.md). The Terraform format is
:mod:`policycheck.report.terraform`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from policycheck.findings import RegionPart
from policycheck.fixes import (
    FixResult,
    LimitIssue,
    Placement,
    RuleChange,
    SetupStep,
    SharedRule,
)
from policycheck.report.common import (
    part_text,
    peers_phrase,
    ports_text,
    rule_ref_text,
    tool_json,
)

FIX_SCHEMA_ID = "policycheck/fix/v1"


def parts_text(parts: Iterable[RegionPart], preposition: str) -> str:
    """``tcp 5060 from the internal networks; udp 5060 from 10.0.0.0/8``."""
    text = "; ".join(
        f"{part_text(p)} {preposition} {peers_phrase(p.peers, p.peers_summary)}" for p in parts
    )
    return text or "nothing"


def change_text(change: RuleChange) -> str:
    """The change in one sentence, from its fields only."""
    inbound = change.direction == "inbound"
    side, preposition = ("source", "from") if inbound else ("destination", "to")
    rule = rule_ref_text(change.rule)
    action = change.action
    if action == "add":
        where = change.rule.firewall_name
        text = f"{where}: add a rule allowing {parts_text(change.replacement, preposition)}"
    elif action == "remove":
        why = (
            "it never takes effect"
            if change.finding_rule == "SWYX007"
            else "no documented flow needs any of it"
        )
        text = f"{rule}: remove this rule ({why})"
    elif action == "narrow_source":
        new = change.replacement[0]
        text = f"{rule}: narrow the {side} to {peers_phrase(new.peers, new.peers_summary)}"
    elif action == "narrow_ports":
        text = f"{rule}: narrow the ports to {ports_text(change.replacement[0].ports)}"
    elif action == "split_ports":
        old, new = change.current[0], change.replacement[0]
        text = (
            f"{rule}: split the range {ports_text(old.ports)} into {ports_text(new.ports)}"
            if old.ports
            else f"{rule}: allow only {ports_text(new.ports)}"
        )
    elif action == "override":
        allowed = parts_text(change.replacement, preposition)
        text = (
            f"{rule} is a platform default and cannot be edited: allow only {allowed} "
            "and deny the rest at a higher priority"
        )
    else:
        text = f"{rule}: replace it with {parts_text(change.replacement, preposition)}"
    suffix = f" ({change.finding_rule}"
    suffix += ", suppressed: the rule set drops the accepted access)" if change.suppressed else ")"
    return text + suffix


def setup_text(step: SetupStep) -> str:
    where = f" ({step.address})" if step.address else ""
    if step.action == "attach_security_group":
        instead = f" in place of {', '.join(step.replaces)}" if step.replaces else ""
        return f"attach security group {step.value} to {step.vm_name}{where}{instead}"
    return f"add network tag {step.value} to {step.vm_name}{where}"


def shared_text(shared: SharedRule) -> str:
    return (
        f"{rule_ref_text(shared.rule)} also applies to {', '.join(shared.vms)} "
        "(no rule set here): taking it out changes their access too"
    )


def inline_text(placement: Placement) -> str:
    """What to do with the inline rule blocks of an existing object."""
    blocks = "security_rule" if placement.kind == "nsg" else "ingress/egress"
    where = placement.address or placement.name
    text = f"{where}: remove its inline {blocks} blocks (Terraform cannot mix them"
    text += " with rule resources)"
    if placement.inline_kept:
        return text + "; these are not replaced, keep them as rule resources of their own:"
    return text + "; the rule set replaces each of them"


def limit_text(limit: LimitIssue) -> str:
    return (
        f"{limit.provider} {limit.where}: {limit.limit}: {limit.needed} needed, "
        f"{limit.maximum} allowed ({limit.reference})"
    )


# ------------------------------------------------------------------- JSON


def render_fix_json(result: FixResult) -> str:
    return orjson.dumps(build_fix_json(result), option=orjson.OPT_INDENT_2).decode() + "\n"


def build_fix_json(result: FixResult) -> dict[str, Any]:
    return {
        "schema": FIX_SCHEMA_ID,
        "tool": tool_json(result.tool_version),
        "sources": list(result.sources),
        "summary": {
            "vms": len(result.vms),
            "rules": sum(len(v.rules) for v in result.vms),
            "changes": sum(len(v.changes) for v in result.vms),
            "limits_exceeded": len(result.limits),
            "skipped": len(result.skipped),
            "incomplete": bool(result.errors),
        },
        "vms": [
            {
                "vm_id": vm.vm_id,
                "vm_name": vm.vm_name,
                "provider": vm.provider,
                "roles": list(vm.roles),
                "rules": [rule.model_dump(mode="json") for rule in vm.rules],
                "changes": [
                    {**change.model_dump(mode="json"), "message": change_text(change)}
                    for change in vm.changes
                ],
                "replaces": [ref.model_dump(mode="json") for ref in vm.replaces],
                "placements": list(vm.placements),
                "shared": [
                    {**shared.model_dump(mode="json"), "message": shared_text(shared)}
                    for shared in vm.shared
                ],
                "setup": [
                    {**step.model_dump(mode="json"), "message": setup_text(step)}
                    for step in vm.setup
                ],
            }
            for vm in result.vms
        ],
        "placements": [p.model_dump(mode="json") for p in result.placements],
        "limits": [
            {**limit.model_dump(mode="json"), "message": limit_text(limit)}
            for limit in result.limits
        ],
        "skipped": [s.model_dump(mode="json") for s in result.skipped],
        "errors": [e.model_dump(mode="json") for e in result.errors],
    }
