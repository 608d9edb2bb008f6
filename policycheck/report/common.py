"""What every report format shares: ordering, summary counts and short renderings.

Reports only present a :class:`~policycheck.findings.ScanResult`; nothing here
evaluates a rule or looks anything up beyond :data:`~policycheck.findings.RULES`.
Keeping ordering and counting in one place means the text, Markdown, JSON and SARIF
reports never disagree about which finding comes first or how many there are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata

from policycheck.findings import LEVEL_ORDER, RULES, Finding, RuleRef, ScanResult
from policycheck.model import ALL_PORTS, PortRange

TOOL_NAME = "policycheck"
LEVELS: tuple[str, ...] = ("error", "warning", "note")
#: How many peers a one-line rendering names before it says "+N more".
PEERS_SHOWN = 4


def information_uri() -> str:
    """The project's home page from the installed package metadata.

    Read from ``[project.urls] Homepage`` so the URL lives in pyproject.toml only;
    a URN stands in (still an absolute URI, as SARIF requires) until one is set.
    """
    try:
        urls = metadata.metadata(TOOL_NAME).get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "home", "repository", "source"):
            return str(url).strip()
    return f"urn:{TOOL_NAME}"


def sort_key(finding: Finding) -> tuple[object, ...]:
    """Level (worst first), VM, rule id, resource, ports; the rest breaks ties."""
    return (
        -LEVEL_ORDER[finding.level],
        finding.vm_name,
        finding.vm_id,
        finding.rule_id,
        finding.resource,
        tuple((p.lo, p.hi) for p in finding.ports),
        finding.direction,
        finding.protocol,
        tuple(finding.peers),
        finding.fingerprint(),
    )


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=sort_key)


def group_by_vm(findings: Iterable[Finding]) -> Iterator[tuple[Finding, list[Finding]]]:
    """Sorted findings grouped per VM; the VM with the worst finding comes first.

    Yields the first finding of each group (for the VM's name, id and provider)
    with the whole group.
    """
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in sorted_findings(findings):
        groups.setdefault((finding.provider, finding.vm_id), []).append(finding)
    for group in groups.values():
        yield group[0], group


@dataclass(frozen=True)
class Summary:
    """Counts over a result. Active means not suppressed; only active findings
    count per level and rule, because suppressed ones do not fail a run."""

    vms: int
    firewalls: int
    by_rule: dict[str, int]
    by_level: dict[str, int]
    suppressed_by_rule: dict[str, int]
    suppressed: int
    errors: int

    @property
    def active(self) -> int:
        return sum(self.by_level.values())

    @property
    def incomplete(self) -> bool:
        return self.errors > 0


def summarize(result: ScanResult) -> Summary:
    active = result.active()
    suppressed = [f for f in result.findings if f.suppression is not None]
    rule_counts: Counter[str] = Counter(f.rule_id for f in active)
    level_counts: Counter[str] = Counter(f.level for f in active)
    suppressed_counts: Counter[str] = Counter(f.rule_id for f in suppressed)
    return Summary(
        vms=result.vm_count,
        firewalls=result.firewall_count,
        by_rule={rule_id: rule_counts[rule_id] for rule_id in sorted(RULES)},
        by_level={level: level_counts[level] for level in LEVELS},
        suppressed_by_rule={rule_id: suppressed_counts[rule_id] for rule_id in sorted(RULES)},
        suppressed=len(suppressed),
        errors=len(result.errors),
    )


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def level_counts_text(summary: Summary) -> str:
    """``2 errors, 0 warnings, 5 notes``."""
    return ", ".join(plural(summary.by_level[level], level) for level in LEVELS)


# ------------------------------------------------------------ short renderings


def port_text(port: PortRange) -> str:
    return str(port.lo) if port.lo == port.hi else f"{port.lo}-{port.hi}"


def ports_text(ports: list[PortRange]) -> str:
    """``3389``, ``16203, 57203``, ``all ports``; empty when the finding has none."""
    if ports == [ALL_PORTS]:
        return "all ports"
    return ", ".join(port_text(p) for p in ports)


def protocol_text(protocol: str) -> str:
    return "all protocols" if protocol == "all" else protocol


def peers_text(peers: list[str], limit: int = PEERS_SHOWN) -> str:
    shown = ", ".join(peers[:limit])
    hidden = len(peers) - limit
    return f"{shown} (+{hidden} more)" if hidden > 0 else shown


def rule_ref_text(ref: RuleRef) -> str:
    """``swyx-pbx/B1``: the firewall and the rule a reader looks for in the console.

    A GCP VPC firewall rule is its own firewall object, so its name is said once.
    """
    rule = ref.rule_name or ref.rule_id
    return ref.firewall_name if rule == ref.firewall_name else f"{ref.firewall_name}/{rule}"


def vm_text(finding: Finding) -> str:
    """``pbx1 (aws)``: VM names repeat across clouds in one scan."""
    return f"{finding.vm_name} ({finding.provider})"


def rule_refs_text(finding: Finding) -> str:
    return ", ".join(rule_ref_text(ref) for ref in finding.rules)


def flow_text(finding: Finding) -> str:
    """``inbound tcp 3389 from 0.0.0.0/0``: the region a finding is about."""
    parts: list[str] = [finding.direction]
    if finding.protocol:
        parts.append(protocol_text(finding.protocol))
    ports = ports_text(finding.ports)
    if ports and finding.protocol in ("tcp", "udp", "all", ""):
        parts.append(ports)
    if finding.peers:
        parts.append("from" if finding.direction == "inbound" else "to")
        parts.append(peers_text(finding.peers))
    return " ".join(parts)


def headline(finding: Finding) -> str:
    """One sentence naming rule, VM, flow and responsible firewall rules.

    GitHub shows only the first sentence of a result message when space is short,
    so everything needed to triage is in it.
    """
    title = RULES[finding.rule_id].title
    refs = rule_refs_text(finding)
    via = f" via {refs}" if refs else ""
    # A VM-level finding (no ports, no peers, no rule) has no flow worth naming.
    flow = f": {flow_text(finding)}" if finding.ports or finding.peers or refs else ""
    return f"{finding.rule_id} {title} on VM {finding.vm_name}{flow}{via}."
