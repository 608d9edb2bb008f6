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

from policycheck.findings import (
    OTHER_PROTOCOLS,
    PORT_PROTOCOLS,
    RULES,
    AssumedParameterHint,
    Drift,
    Finding,
    PeerSummary,
    RegionPart,
    RuleRef,
    ScanResult,
)
from policycheck.model import ALL_PORTS, PortRange

TOOL_NAME = "policycheck"
LEVELS: tuple[str, ...] = ("error", "warning", "note")
#: How many peers a one-line rendering names before it says "+N more".
PEERS_SHOWN = 4
#: How many port ranges a rendering names before it says "and N more ranges".
PORT_RANGES_SHOWN = 8


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


def tool_json(version: str) -> dict[str, str]:
    """The ``tool`` object of every JSON document policycheck writes."""
    return {"name": TOOL_NAME, "version": version, "informationUri": information_uri()}


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=Finding.sort_key)


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
#
# The one place a finding's data becomes words: every format (text, Markdown,
# SARIF, JSON's ``message``) calls these, so no two formats word a finding
# differently, and no wording ever claims more than the data.


def port_text(port: PortRange) -> str:
    return str(port.lo) if port.lo == port.hi else f"{port.lo}-{port.hi}"


def ports_text(ports: list[PortRange], limit: int = PORT_RANGES_SHOWN) -> str:
    """``3389``, ``16203, 57203``, ``all ports``; beyond ``limit`` ranges the rest
    is counted (``... and 12 more ranges``), never cut inside a range. Ranges are
    separated by spaces so a table wraps between ranges, not inside one."""
    if ports == [ALL_PORTS]:
        return "all ports"
    shown = ", ".join(port_text(p) for p in ports[:limit])
    hidden = len(ports) - limit
    return (
        f"{shown} and {hidden} more {'range' if hidden == 1 else 'ranges'}" if hidden > 0 else shown
    )


def protocol_text(part: RegionPart) -> str:
    """``tcp``, ``icmp``, ``protocol 47``, ``every protocol except tcp, udp``."""
    if part.protocol == OTHER_PROTOCOLS:
        if not part.excluding:
            return "every protocol"
        return f"every protocol except {', '.join(part.excluding)}"
    return f"protocol {part.protocol}" if part.protocol.isdigit() else part.protocol


def part_text(part: RegionPart) -> str:
    """``tcp 3389``, ``udp all ports``, ``icmp``: one part without its peers."""
    if part.protocol in PORT_PROTOCOLS:
        return f"{part.protocol} {ports_text(part.ports)}"
    return protocol_text(part)


def region_text(finding: Finding) -> str:
    """``tcp 0-3388,3390-65535; udp 5060``: what a finding covers, per protocol."""
    return "; ".join(part_text(p) for p in finding.region)


_BASE_TEXT = {
    ("anywhere", "any"): "anywhere (0.0.0.0/0, ::/0)",
    ("anywhere", "ipv4"): "0.0.0.0/0",
    ("anywhere", "ipv6"): "::/0",
    ("internet", "any"): "the internet (everything outside the internal networks)",
    ("internet", "ipv4"): "the IPv4 internet (0.0.0.0/0 outside the internal networks)",
    ("internet", "ipv6"): "the IPv6 internet (::/0 outside the internal networks)",
    ("internal", "any"): "the internal networks",
    ("internal", "ipv4"): "the IPv4 internal networks",
    ("internal", "ipv6"): "the IPv6 internal networks",
}


def peers_phrase(peers: list[str], summary: PeerSummary | None, limit: int = PEERS_SHOWN) -> str:
    """Addresses in words: a named base with its exceptions, else the CIDRs."""
    if summary is None or summary.base == "cidrs":
        return peers_text(peers, limit) if peers else "no address"
    if summary.base == "none":
        return "no address"
    text = _BASE_TEXT[(summary.base, summary.family)]
    if summary.excluding:
        text += f" except {', '.join(summary.excluding)}"
    return text


def peers_text(peers: list[str], limit: int = PEERS_SHOWN) -> str:
    shown = ", ".join(peers[:limit])
    hidden = len(peers) - limit
    return f"{shown} (+{hidden} more)" if hidden > 0 else shown


def finding_peers_text(finding: Finding) -> str:
    """All of a finding's peers in words (the union over its parts)."""
    return peers_phrase(finding.peers, finding.peers_summary) if finding.peers else ""


def region_peers_text(finding: Finding, preposition: str) -> str:
    """``tcp 3389 from anywhere (0.0.0.0/0, ::/0); udp 5060 from 10.1.0.0/16``."""
    return "; ".join(
        f"{part_text(p)} {preposition} {peers_phrase(p.peers, p.peers_summary)}"
        for p in finding.region
    )


def rule_ref_text(ref: RuleRef) -> str:
    """``swyx-pbx/B1``: the firewall and the rule a reader looks for in the console.

    A GCP VPC firewall rule is its own firewall object, so its name is said once.
    """
    rule = ref.rule_name or ref.rule_id
    return ref.firewall_name if rule == ref.firewall_name else f"{ref.firewall_name}/{rule}"


def vm_text(finding: Finding) -> str:
    """``pbx1 (aws)``: VM names repeat across clouds in one scan."""
    return f"{finding.vm_name} ({finding.provider})"


def subject_word(finding: Finding) -> str:
    """What ``vm_name`` names: a VM, or (SWYX008 drift) a firewall object."""
    return "firewall" if finding.drift is not None else "VM"


def rule_refs_text(finding: Finding) -> str:
    return ", ".join(rule_ref_text(ref) for ref in finding.rules)


def flow_text(finding: Finding) -> str:
    """``inbound tcp 3389 from 0.0.0.0/0``: the region a finding is about."""
    parts: list[str] = [finding.direction]
    if finding.region:
        parts.append(region_text(finding))
    if finding.peers:
        parts.append("from" if finding.direction == "inbound" else "to")
        parts.append(finding_peers_text(finding))
    return " ".join(parts)


def headline(finding: Finding) -> str:
    """One sentence naming rule, VM, flow and responsible firewall rules.

    GitHub shows only the first sentence of a result message when space is short,
    so everything needed to triage is in it.
    """
    title = RULES[finding.rule_id].title
    refs = rule_refs_text(finding)
    via = f" via {refs}" if refs else ""
    # A VM-level finding (no region, no rule) has no flow worth naming.
    flow = f": {flow_text(finding)}" if finding.region or refs else ""
    return f"{finding.rule_id} {title} on {subject_word(finding)} {finding.vm_name}{flow}{via}."


def message(finding: Finding) -> str:
    """What the finding says, in one or two sentences, from its fields only, then
    its hints."""
    text = _message(finding)
    hints = hints_text(finding)
    return f"{text}. {hints}" if hints else text


def hints_text(finding: Finding) -> str:
    """The finding's hints as sentences (empty without hints)."""
    sentences: list[str] = []
    for hint in finding.hints:
        if isinstance(hint, AssumedParameterHint):
            ports = ", ".join(port_text(p) for p in hint.ports)
            sentences.append(
                f"Hint: {ports} lies just above {port_text(hint.assumed_range)}, which rests "
                f"on {hint.parameter}={hint.value}, the catalog's assumption (the document "
                f"gives no default; {', '.join(hint.rows)}). If the {hint.role} uses more, "
                f"set role_parameters.{hint.role}.{hint.parameter} to at least {hint.covering} "
                "in the profile instead of closing these ports."
            )
        else:
            sentences.append(
                f"Note: {', '.join(hint.rows)} "
                f"{'is' if len(hint.rows) == 1 else 'are'} uncertain in the port matrix "
                "(marked '?')."
            )
    return " ".join(sentences)


def _message(finding: Finding) -> str:
    vm = finding.vm_name
    via = " + ".join(rule_ref_text(r) for r in finding.rules)
    rule = finding.rule_id
    if rule == "SWYX001":
        region = region_peers_text(finding, "from")
        return f"undocumented inbound access to {vm}: {region} (allowed by {via})"
    if rule == "SWYX002":
        region = region_peers_text(finding, "from")
        documented = (
            peers_phrase(finding.documented_peers, finding.documented_summary)
            if finding.documented_peers
            else "no address (the flow stays on the VM)"
        )
        return (
            f"inbound source too broad on {vm}: {region} (allowed by {via}); "
            f"documented peers: {documented}"
        )
    if rule == "SWYX004":
        region = region_peers_text(finding, "to")
        return f"undocumented outbound access from {vm}: {region} (allowed by {via})"
    if rule == "SWYX003":
        protocol = finding.region[0].protocol if finding.region else ""
        wanted = " or ".join(f"{protocol} {ports_text(alt)}" for alt in finding.alternatives)
        peers = finding_peers_text(finding) or "anywhere"
        what = finding.requirement or "a required flow"
        return f"{vm}: {what} is blocked: no rule allows {wanted} from {peers}"
    if rule == "SWYX005":
        what = "; ".join(finding.unresolved)
        ref = finding.primary
        if not finding.region or ref is None or ref.action is None:
            return f"{vm}: {what}"
        return (
            f"{vm}: {ref.action} rule {via} ({region_text(finding)}) could not be fully "
            f"evaluated: {what}; it was evaluated without the unresolved part"
        )
    if finding.drift is not None:
        return drift_text(finding, finding.drift)
    if rule == "SWYX006":
        if finding.unresolved:
            slugs = ", ".join(repr(s) for s in finding.unresolved)
            what = f"unknown role slug(s) {slugs}"
        else:
            what = "no recognised Swyx role"
        compared = "" if finding.roles else "; its access was not compared with the matrix"
        return f"{vm}: {what}{compared}"
    ref = finding.primary
    action = ref.action if ref is not None and ref.action else "a"
    priority = f"priority {ref.priority}, " if ref is not None and ref.priority is not None else ""
    region = region_text(finding) or "no traffic"
    return (
        f"{vm}: {action} rule {via} ({priority}{region}) never takes effect: "
        "higher-priority rules already decide all its traffic"
    )


def drift_text(finding: Finding, drift: Drift) -> str:
    """SWYX008: which rule, which side has it, and what differs."""
    ref = finding.rules[-1] if finding.rules else None
    rule = f"{ref.action or 'allow'} rule {rule_ref_text(ref)}" if ref is not None else "a rule"
    what = f"{rule} ({flow_text(finding)})"
    address = drift.terraform_address or "the plan"
    if drift.kind == "added":
        where = f"; its firewall is {address} in Terraform" if drift.terraform_address else ""
        return f"{what} is in the cloud ({drift.cloud_id}) but not in the Terraform plan{where}"
    if drift.kind == "missing":
        cloud = f" (its firewall is {drift.cloud_id})" if drift.cloud_id else ""
        return f"{what} is declared at {address} but missing from the cloud{cloud}"
    changes = "; ".join(
        f"{c.field} {c.plan or '(none)'} in the plan, {c.cloud or '(none)'} in the cloud"
        for c in drift.changes
    )
    return f"{what} differs between {address} and the cloud ({drift.cloud_id}): {changes}"
