"""What every report format shares: ordering, summary counts and short renderings.

Reports only present a :class:`~policycheck.findings.ScanResult`; nothing here
evaluates a rule or looks anything up beyond :data:`~policycheck.findings.RULES`.
Keeping ordering and counting in one place means the text, Markdown, JSON and SARIF
reports never disagree about which finding comes first or how many there are.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import quote

from policycheck.findings import (
    OTHER_PROTOCOLS,
    PORT_PROTOCOLS,
    RULES,
    AssumedParameterHint,
    BaselineFinding,
    CheckedVM,
    Drift,
    Finding,
    PeerSummary,
    RegionPart,
    RoleOrigin,
    RuleRef,
    ScanResult,
    SuppressionState,
    SuppressionStatus,
)
from policycheck.model import ALL_PORTS, PortRange, Provenance

TOOL_NAME = "policycheck"
LEVELS: tuple[str, ...] = ("error", "warning", "note")
#: How many peers a one-line rendering names before it says "+N more".
PEERS_SHOWN = 4
#: The per-role marker's prefix (``swyx-role-cds``); see engine/roles.py.
ROLE_MARKER = "swyx-role-"
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
        # A user policy's finding about no VM groups under provider "" and VM "".
        groups.setdefault((finding.provider or "", finding.vm_id), []).append(finding)
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
    #: Suppressions whose date has passed, and valid ones that suppressed nothing.
    suppressions_expired: int = 0
    suppressions_unmatched: int = 0

    @property
    def active(self) -> int:
        return sum(self.by_level.values())

    @property
    def incomplete(self) -> bool:
        return self.errors > 0


def rule_ids(result: ScanResult) -> list[str]:
    """SWYX001..SWYX007, then the user policies' rules (each once, in id order)."""
    policy = {r.id for r in result.policy_rules} | {f.rule_id for f in result.findings}
    return sorted(RULES) + sorted(policy - set(RULES))


def rule_title(finding: Finding) -> str:
    if finding.rule_id in RULES:
        return RULES[finding.rule_id].title
    return finding.policy.title if finding.policy is not None else finding.rule_id


@dataclass(frozen=True)
class BaselineCounts:
    """Active findings new and unchanged since the baseline, and its findings gone."""

    new: int
    unchanged: int
    absent: int


def baseline_counts(result: ScanResult) -> BaselineCounts:
    active = result.active()
    absent = len(result.baseline.absent) if result.baseline else 0
    new = sum(f.baseline_state == "new" for f in active)
    return BaselineCounts(new=new, unchanged=len(active) - new, absent=absent)


def profile_text(result: ScanResult) -> str:
    """Which deployment profile the scan used."""
    if result.profile is None:
        return "Profile: none (the built-in defaults)"
    return f"Profile: {result.profile}"


def baseline_text(result: ScanResult) -> str:
    """``Since the baseline r.sarif: 1 new, 7 unchanged, 1 fixed or gone.``"""
    assert result.baseline is not None
    c = baseline_counts(result)
    return (
        f"Since the baseline {result.baseline.path}: {c.new} new, {c.unchanged} unchanged, "
        f"{c.absent} fixed or gone."
    )


def absent_where(finding: BaselineFinding) -> str:
    """Where a baseline finding was reported: ``main.tf:63-69``, else its resource."""
    if not finding.file:
        return finding.resource
    where = finding.file
    if finding.start_line:
        where += f":{finding.start_line}"
        if finding.end_line and finding.end_line != finding.start_line:
            where += f"-{finding.end_line}"
    return where


def absent_text(finding: BaselineFinding) -> str:
    """A baseline finding no longer found, in one line: rule, VM, where, its old words."""
    return (
        f"{finding.level} {finding.rule_id} {finding.vm_name} at {absent_where(finding)}: "
        f"{finding.message}"
    )


def summarize(result: ScanResult) -> Summary:
    active = result.active()
    suppressed = [f for f in result.findings if f.suppression is not None]
    rule_counts: Counter[str] = Counter(f.rule_id for f in active)
    level_counts: Counter[str] = Counter(f.level for f in active)
    suppressed_counts: Counter[str] = Counter(f.rule_id for f in suppressed)
    ids = rule_ids(result)
    return Summary(
        vms=result.vm_count,
        firewalls=result.firewall_count,
        by_rule={rule_id: rule_counts[rule_id] for rule_id in ids},
        by_level={level: level_counts[level] for level in LEVELS},
        suppressed_by_rule={rule_id: suppressed_counts[rule_id] for rule_id in ids},
        suppressed=len(suppressed),
        errors=len(result.errors),
        suppressions_expired=len(result.suppressions_in("expired")),
        suppressions_unmatched=len(result.suppressions_in("unmatched")),
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
    separated by spaces so a line wraps between ranges, not inside one."""
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
    """``tcp 0-3388, 3390-65535; udp 5060``: what a finding covers, per protocol."""
    return "; ".join(part_text(p) for p in finding.region)


#: A named base: (base, family) -> words. "The internet" is everything outside
#: the profile's internal networks.
_BASE_TEXT = {
    ("anywhere", "any"): "anywhere (0.0.0.0/0, ::/0)",
    ("anywhere", "ipv4"): "0.0.0.0/0",
    ("anywhere", "ipv6"): "::/0",
    ("internet", "any"): "the internet",
    ("internet", "ipv4"): "the IPv4 internet",
    ("internet", "ipv6"): "the IPv6 internet",
    ("internal", "any"): "the internal networks",
    ("internal", "ipv4"): "the internal IPv4 networks",
    ("internal", "ipv6"): "the internal IPv6 networks",
}
#: The same bases when CIDRs are cut out of them.
_BASE_EXCEPT_TEXT = {**_BASE_TEXT, ("anywhere", "any"): "anywhere"}


def named_cidrs(cidrs: list[str], names: Mapping[str, str]) -> str:
    """``10.20.0.5/32 (bastion), 10.0.0.0/24``; consecutive CIDRs of one name
    share it: ``203.0.113.0/28, 198.51.100.0/28 (carrier)``."""
    out: list[str] = []
    run: list[str] = []
    for i, cidr in enumerate(cidrs):
        run.append(cidr)
        name = names.get(cidr)
        if i + 1 < len(cidrs) and name is not None and names.get(cidrs[i + 1]) == name:
            continue
        out.append(", ".join(run) + (f" ({name})" if name else ""))
        run = []
    return ", ".join(out)


def peers_phrase(
    peers: list[str],
    summary: PeerSummary | None,
    names: Mapping[str, str] | None = None,
    limit: int = PEERS_SHOWN,
) -> str:
    """Addresses as people say them: "the internet", "the internet except
    203.0.113.0/28 (carrier)", "the internal networks", "10.20.0.5/32 (bastion)";
    a list of CIDRs only when no named base describes the set briefly, and then
    at most ``limit`` of them."""
    names = names or {}
    if summary is None or summary.base == "cidrs":
        return peers_text(peers, names, limit) if peers else "no address"
    if summary.base == "none":
        return "no address"
    if not summary.excluding:
        return _BASE_TEXT[(summary.base, summary.family)]
    base = _BASE_EXCEPT_TEXT[(summary.base, summary.family)]
    return f"{base} except {named_cidrs(summary.excluding, names)}"


def peers_text(peers: list[str], names: Mapping[str, str] | None = None, limit: int = 4) -> str:
    shown = named_cidrs(peers[:limit], names or {})
    hidden = len(peers) - limit
    return f"{shown} and {hidden} more" if hidden > 0 else shown


def finding_peers_text(finding: Finding) -> str:
    """All of a finding's peers in words (the union over its parts)."""
    if not finding.peers:
        return ""
    return peers_phrase(finding.peers, finding.peers_summary, finding.peer_names)


def part_peers_text(finding: Finding, part: RegionPart) -> str:
    return peers_phrase(part.peers, part.peers_summary, finding.peer_names)


def documented_text(finding: Finding) -> str:
    """SWYX002: who may reach the finding's ports according to the matrix."""
    if not finding.documented_peers:
        return "no address (the flow stays on the VM)"
    return peers_phrase(finding.documented_peers, finding.documented_summary, finding.peer_names)


def preposition(finding: Finding) -> str:
    return "from" if finding.direction == "inbound" else "to"


def flow_groups(finding: Finding, *, with_peers: bool = True) -> list[tuple[list[str], str]]:
    """The region as (parts, peers) groups: consecutive parts reached by the same
    peers are said once with them (``tcp 80; udp 5096 from 10.0.0.0/8``)."""
    groups: list[tuple[list[str], str]] = []
    for part in finding.region:
        peers = part_peers_text(finding, part) if part.peers and with_peers else ""
        if groups and groups[-1][1] == peers:
            groups[-1][0].append(part_text(part))
        else:
            groups.append(([part_text(part)], peers))
    return groups


def flow_text(finding: Finding, *, with_peers: bool = True) -> str:
    """``tcp 3389 from 0.0.0.0/0; udp 5060 from the internet``: the region once."""
    prep = preposition(finding)
    groups = flow_groups(finding, with_peers=with_peers)
    return "; ".join(
        "; ".join(parts) + (f" {prep} {peers}" if peers else "") for parts, peers in groups
    )


def rule_label(ref: RuleRef) -> str:
    """``pbx1-nsg/allow-rdp``, ``swyx-pbx/ingress/0``, ``b1-allow-rdp``: the
    firewall and the rule as a reader finds them. A GCP VPC firewall rule is its
    own firewall object, so its name is said once; a Terraform rule id that
    repeats its resource address keeps only the rest."""
    rule = ref.rule_name or ref.rule_id
    address = ref.provenance.address
    if ref.rule_name is None and address and rule.startswith(f"{address}/"):
        rule = rule[len(address) + 1 :]
    elif ref.rule_name is None and address and rule == address:
        rule = address.rsplit(".", 1)[-1]
    return ref.firewall_name if rule == ref.firewall_name else f"{ref.firewall_name}/{rule}"


def rule_ref_text(ref: RuleRef) -> str:
    return rule_label(ref)


def vm_text(finding: Finding) -> str:
    """``pbx1 (aws)``: VM names repeat across clouds in one scan; empty for a
    user policy's finding about no VM."""
    if not finding.vm_id:
        return ""
    return f"{finding.vm_name} ({finding.provider})"


def subject_word(finding: Finding) -> str:
    """What ``vm_name`` names: a VM, or (SWYX008 drift) a firewall object."""
    return "firewall" if finding.drift is not None else "VM"


def rule_refs_text(finding: Finding) -> str:
    return ", ".join(rule_label(ref) for ref in finding.rules)


# ------------------------------------------------------------------ locations


@dataclass(frozen=True)
class Place:
    """Where to change one responsible rule."""

    #: ``pbx1-nsg/allow-rdp``.
    label: str
    #: Terraform resource address (plans).
    address: str | None
    #: ``modules/pbx/main.tf:12-22`` (plans).
    file_lines: str | None
    #: The cloud's id of the rule or firewall (live scans and their snapshots).
    cloud_id: str | None
    #: The cloud console page of the firewall, where the cloud has one.
    console_url: str | None
    #: A platform default or implied rule: nobody wrote it.
    default: bool


def file_lines(prov: Provenance) -> str | None:
    if not prov.file:
        return None
    if prov.start_line is None:
        return prov.file
    end = prov.end_line if prov.end_line and prov.end_line > prov.start_line else None
    return f"{prov.file}:{prov.start_line}" + (f"-{end}" if end else "")


def place(ref: RuleRef, provider: str, *, missing: bool = False) -> Place:
    """``missing``: no rule to name (it does not exist yet, or the finding is
    about a whole VM); the place is the firewall or VM."""
    prov = ref.provenance
    return Place(
        label=ref.firewall_name if missing else rule_label(ref),
        address=prov.address,
        file_lines=file_lines(prov),
        cloud_id=prov.cloud_id,
        console_url=console_url(provider, ref),
        default=ref.default,
    )


def places(finding: Finding) -> list[Place]:
    """Where to change the finding: each responsible rule, the written ones first."""
    return [
        # A missing rule (SWYX003) goes into its firewall; a VM-level finding
        # (SWYX006, unknown groups) points at the VM itself.
        place(
            ref,
            finding.provider or "",
            missing=finding.rule_id == "SWYX003" or ref.firewall_id == finding.vm_id,
        )
        for ref in finding.rules
    ]


_AWS_GROUP = re.compile(r"\bsg-[0-9a-f]+\b")
_GCP_PROJECT = re.compile(r"/projects/([^/]+)/")


def console_url(provider: str, ref: RuleRef) -> str | None:
    """The console page of the rule's firewall object in a live estate (None for
    plans, and where the cloud has no page for it): the AWS security group
    (``console.aws.amazon.com/ec2/home?region=R#SecurityGroup:groupId=sg-...``),
    the Azure NSG (``portal.azure.com/#@/resource`` + its id), the GCP VPC
    firewall rule (``console.cloud.google.com/networking/firewalls/details/NAME``)
    or network firewall policy (``.../net-security/firewall-manager/firewall-
    policies/details/NAME``), with ``?project=P``.
    """
    prov = ref.provenance
    if prov.source in ("terraform",) or not prov.cloud_id:
        return None
    firewall = ref.firewall_id
    if provider == "aws":
        group = _AWS_GROUP.search(firewall)
        if group is None or not prov.region:
            return None
        return (
            f"https://console.aws.amazon.com/ec2/home?region={quote(prov.region)}"
            f"#SecurityGroup:groupId={group.group(0)}"
        )
    if provider == "azure":
        if not firewall.lower().startswith("/subscriptions/"):
            return None
        return f"https://portal.azure.com/#@/resource{quote(firewall, safe='/')}"
    if provider == "gcp":
        project = _GCP_PROJECT.search(firewall)
        name = firewall.rstrip("/").rsplit("/", 1)[-1]
        if project is None or not name:
            return None
        if "/global/firewalls/" in firewall:
            page = "networking/firewalls/details"
        elif "/firewallPolicies/" in firewall:
            page = "net-security/firewall-manager/firewall-policies/details"
        else:
            return None
        return (
            f"https://console.cloud.google.com/{page}/{quote(name)}"
            f"?project={quote(project.group(1))}"
        )
    return None


# ---------------------------------------------------------------------- roles


def origin_text(origin: RoleOrigin) -> str:
    """``tag swyx-roles``, ``network tag swyx-role-cds``, ``tag swyx-roles on
    swyx-pbx``, ``profile role_assignments[0]``."""
    if origin.kind == "vm_tag":
        return f"tag {origin.key}"
    if origin.kind == "network_tag":
        return f"network tag {origin.key}"
    if origin.kind == "firewall_tag":
        return f"tag {origin.key} on {origin.firewall}"
    return f"profile {origin.key}"


def roles_text(vm: CheckedVM) -> str:
    """``swyxware-server, cds (tag swyx-roles); remote-connector (profile
    role_assignments[0])``: roles grouped by where they came from."""
    groups: dict[str, list[str]] = {}
    for role in vm.roles:
        # A per-role marker (swyx-role-cds) is said once for all roles it names.
        origins = [
            o.model_copy(update={"key": f"{ROLE_MARKER}<role>"})
            if o.key.lower() == f"{ROLE_MARKER}{role.role}"
            else o
            for o in role.origins
        ]
        where = ", ".join(origin_text(o) for o in origins) or "unknown origin"
        groups.setdefault(where, []).append(role.role)
    text = "; ".join(f"{', '.join(roles)} ({where})" for where, roles in groups.items())
    if vm.unknown_roles:
        unknown = ", ".join(repr(s) for s in vm.unknown_roles)
        text += ("; " if text else "") + f"unknown: {unknown}"
    return text or "none"


def vm_place(vm: CheckedVM) -> str:
    """Where the VM is declared or lives: ``main.tf:80`` or its cloud id."""
    return file_lines(vm.provenance) or vm.provenance.cloud_id or vm.id


# -------------------------------------------------------------------- details


def detail_lines(finding: Finding) -> list[str]:
    """What a finding says beyond its title and region, as short lines: a user
    policy's message, the documented peers (SWYX002), the requirement (SWYX003), what could not be
    resolved (SWYX005), the role problem (SWYX006), why a rule is dead (SWYX007),
    how a rule drifted (SWYX008), then its hints."""
    return [*_rule_details(finding), *hint_lines(finding)]


def _rule_details(finding: Finding) -> list[str]:
    if finding.policy is not None:
        # A user policy's own words are its finding; the title alone says only the rule.
        message = finding.policy.message
        return [message] if message and message != finding.policy.title else []
    rule = finding.rule_id
    if rule == "SWYX002":
        return [f"documented peers: {documented_text(finding)}"]
    if rule == "SWYX003":
        return [f"required: {finding.requirement or 'a documented flow'}"]
    if rule == "SWYX005":
        return [f"unresolved: {'; '.join(finding.unresolved)}"] if finding.unresolved else []
    if rule == "SWYX006":
        return [_role_problem(finding)]
    if rule == "SWYX007":
        return ["higher-priority rules already decide all its traffic"]
    if finding.drift is not None:
        return drift_lines(finding.drift)
    return []


def drift_lines(drift: Drift) -> list[str]:
    """SWYX008 as short lines: which side has the rule, the Terraform address and
    cloud id, and each field that differs."""
    sides = {
        "added": "in the cloud, not in the Terraform plan",
        "missing": "in the Terraform plan, not in the cloud",
        "changed": "in both, with other values",
    }
    lines = [f"{drift.kind}: {sides[drift.kind]}"]
    lines.append(f"terraform: {drift.terraform_address or '(not in the plan)'}")
    lines.append(f"cloud: {drift.cloud_id or '(not in the cloud)'}")
    lines += [
        f"{c.field}: {c.plan or '(none)'} in the plan, {c.cloud or '(none)'} in the cloud"
        for c in drift.changes
    ]
    return lines


def _role_problem(finding: Finding) -> str:
    if finding.unresolved:
        slugs = ", ".join(repr(s) for s in finding.unresolved)
        what = f"unknown role slug(s) {slugs}"
    else:
        what = "no recognised Swyx role"
    return what + ("" if finding.roles else "; its access was not compared with the matrix")


def rule_kind_text(finding: Finding) -> str:
    """``allow rule, priority 1050``: the responsible rule's action and order."""
    ref = finding.primary
    action = f"{ref.action} rule" if ref is not None and ref.action else "rule"
    priority = f", priority {ref.priority}" if ref and ref.priority is not None else ""
    return action + priority


def what_text(finding: Finding) -> str:
    """The finding's region in words, as the reports show it under its title:
    ``tcp 3389 from 0.0.0.0/0``; SWYX003 the flow that is blocked, SWYX005/007
    the rule's action and what it matches."""
    rule = finding.rule_id
    if rule == "SWYX003":
        protocol = finding.region[0].protocol if finding.region else ""
        wanted = " or ".join(f"{protocol} {ports_text(alt)}" for alt in finding.alternatives)
        peers = finding_peers_text(finding) or "anywhere"
        return f"{finding.direction} {wanted} {preposition(finding)} {peers}"
    if rule in ("SWYX005", "SWYX007"):
        # SWYX005's peers are what could not be resolved: said on their own line.
        region = flow_text(finding, with_peers=rule == "SWYX007")
        return f"{rule_kind_text(finding)}, {finding.direction}" + (f": {region}" if region else "")
    if rule == "SWYX006":
        return ""
    return flow_text(finding)


def _rule_phrase(finding: Finding, *, with_peers: bool) -> str:
    """``allow rule pbx1-nsg/allow-9094 (priority 1050; inbound tcp 9094 from ...)``."""
    ref = finding.primary
    action = f"{ref.action} rule" if ref is not None and ref.action else "rule"
    labels = ", ".join(rule_label(r) for r in finding.rules)
    scope = [f"priority {ref.priority}"] if ref is not None and ref.priority is not None else []
    region = flow_text(finding, with_peers=with_peers)
    scope.append(f"{finding.direction} {region}" if region else finding.direction or "")
    return f"{action} {labels} ({'; '.join(scope)})"


def hints_text(finding: Finding) -> str:
    """The finding's hints as sentences (empty without hints)."""
    return " ".join(hint_lines(finding))


def hint_lines(finding: Finding) -> list[str]:
    """Each hint as one sentence: what changes what to do about the finding."""
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
    return sentences


def message(finding: Finding) -> str:
    """The finding as one or two sentences, from its fields only: JSON's
    ``message`` and the SARIF result message. The rule's title is not repeated
    (SARIF shows it beside the message); the first sentence names the VM, the
    region and the responsible rules, so it triages on its own. Hints follow."""
    if finding.policy is not None:
        return finding.policy.message
    if finding.drift is not None:
        return drift_text(finding, finding.drift)
    vm = finding.vm_name
    via = ", ".join(rule_label(r) for r in finding.rules)
    rule = finding.rule_id
    if rule in ("SWYX001", "SWYX004"):
        verb = "accepts" if finding.direction == "inbound" else "may send"
        text = (
            f"{vm} {verb} {flow_text(finding)} (allowed by {via}); no documented "
            f"{finding.direction} flow of its roles uses it."
        )
    elif rule == "SWYX002":
        documented = (
            f"documents them {preposition(finding)} {documented_text(finding)} only"
            if finding.documented_peers
            else "documents no remote peer for them (the flow stays on the VM)"
        )
        text = f"{vm} accepts {flow_text(finding)} (allowed by {via}); the matrix {documented}."
    elif rule == "SWYX003":
        what = finding.requirement or "a documented flow"
        text = f"No rule allows {what_text(finding)} on {vm} ({what})."
    elif rule == "SWYX005":
        what = "; ".join(finding.unresolved)
        if not finding.region or finding.primary is None:
            text = f"{vm}: {what}."
        else:
            text = (
                f"The {_rule_phrase(finding, with_peers=False)} on {vm} could not be fully "
                f"evaluated: {what}; it was evaluated without the unresolved part."
            )
    elif rule == "SWYX006":
        text = f"{vm}: {_role_problem(finding)}."
    else:
        text = (
            f"The {_rule_phrase(finding, with_peers=True)} never takes effect on {vm}: "
            "higher-priority rules already decide all its traffic."
        )
    hints = hints_text(finding)
    return f"{text} {hints}" if hints else text


#: The suppression states every report lists, with their headings.
SUPPRESSION_STATE_TITLES: tuple[tuple[SuppressionState, str], ...] = (
    ("expired", "Expired suppressions (their findings are active again)"),
    ("unmatched", "Suppressions that suppressed nothing"),
)


def suppression_status_text(status: SuppressionStatus) -> str:
    """One line about an expired or unmatched suppression, naming where it is
    written, what it selects and what follows from its state."""
    selects = "; ".join(f"{k} {v}" for k, v in status.selectors.items())
    what = f'{status.match} ({selects}; reason "{status.reason}")'
    if status.state == "expired":
        again = (
            f"{plural(status.findings, 'finding')} it matches "
            f"{'is' if status.findings == 1 else 'are'} active again"
        )
        return f"{what} expired on {status.expires.isoformat()}: {again}"
    if status.state == "unmatched":
        return f"{what} suppressed no finding: remove it, or correct its selectors"
    return f"{what} suppressed {plural(status.findings, 'finding')}"


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
