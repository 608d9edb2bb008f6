"""`policycheck explain`: one packet, the provider's steps, the rule a finding names.

The explanation is built from the same provider layers and layer evaluation as
findings (policycheck/engine/explain.py), so these tests hold it to the findings
of the reference estates (every finding's region, sampled, is explained as
allowed by exactly the finding's rules), to the per-packet oracle on random
estates, and to the cloud-specific cases: a deny at a higher priority, the Azure
subnet NSG before the NIC NSG, GCP's implied rules and firewall-policy levels.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import run_policycheck
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import allowed as oracle_allowed
from test_engine_properties import Case, aws_cases, azure_cases, gcp_cases

from policycheck.catalog import default_catalog
from policycheck.engine.context import Context
from policycheck.engine.evaluate import evaluate
from policycheck.engine.explain import explain_packet
from policycheck.explanation import Explanation, Packet
from policycheck.findings import OTHER_PROTOCOLS, Finding, RegionPart
from policycheck.model import VM, FirewallObject, Inventory, PortRange, Rule, normalize_protocol
from policycheck.profile import Profile
from policycheck.sources.terraform import load_plan

REPO = Path(__file__).resolve().parent.parent
TF = REPO / "fixtures" / "terraform"
TODAY = dt.date(2026, 11, 26)
PLANS = [
    "aws-broken",
    "azure-broken",
    "gcp-broken",
    "example-aws-trunk",
    "example-azure-dmz",
    "example-gcp-split",
]
#: Findings about traffic a rule lets through, whose rules a packet's
#: explanation must name.
ACCESS_FINDINGS = ("SWYX001", "SWYX002", "SWYX004")


def explain(inventory: Inventory, vm: VM, packet: Packet) -> Explanation:
    return explain_packet(vm, packet, Context(inventory, Profile().internal_networks))


def sample_packets(finding: Finding, part: RegionPart) -> Iterator[Packet]:
    """Packets inside one part of a finding's region: its first and last port,
    the first and last address of its first and last prefix."""
    protocol = part.protocol
    if protocol == OTHER_PROTOCOLS:
        protocol = next(p for p in ("47", "132", "50", "icmp") if p not in part.excluding)
    ports: list[int | None] = [None]
    if part.ports:
        ports = [part.ports[0].lo, part.ports[-1].hi]
    cidrs = [c for c in part.peers if "/" in c]
    nets = [ipaddress.ip_network(cidrs[0]), ipaddress.ip_network(cidrs[-1])]
    for port in ports:
        for address in (nets[0].network_address, nets[-1].broadcast_address):
            yield Packet(
                direction=finding.direction, protocol=protocol, port=port, remote=str(address)
            )


def access_findings(inventory: Inventory) -> list[Finding]:
    result = evaluate(inventory, Profile(), default_catalog(), today=TODAY)
    return [f for f in result.findings if f.rule_id in ACCESS_FINDINGS and f.region]


@pytest.mark.parametrize("plan", PLANS)
def test_explain_names_the_rules_every_finding_names(plan: str) -> None:
    """Every SWYX001/002/004 finding of every reference plan, at the corners of its
    region: allowed, and by rules the finding names (a finding names the rules of
    its whole region; AWS may name further groups' rules)."""
    inventory = load_plan(TF / plan / "plan.json")
    vms = {vm.id: vm for vm in inventory.vms}
    findings = access_findings(inventory)
    assert findings
    checked = 0
    for finding in findings:
        for part in finding.region:
            for packet in sample_packets(finding, part):
                answer = explain(inventory, vms[finding.vm_id], packet)
                assert answer.allowed, (finding.rule_id, packet)
                named = [r.rule_id for r in answer.decisive_rules]
                wanted = [r.rule_id for r in finding.rules]
                # A finding names every rule behind any part of its region; the
                # packet, one point of it, is decided by some of them.
                if finding.provider == "aws":
                    # Any matching rule of any group allows: explain names them all.
                    assert set(named) & set(wanted), (packet, named, wanted)
                else:
                    assert named and set(named) <= set(wanted), (packet, named, wanted)
                checked += 1
    assert checked >= 2 * len(findings)


def _with_rule(inventory: Inventory, firewall_name: str, rule: Rule) -> Inventory:
    firewalls = [
        fw.model_copy(update={"rules": (rule, *fw.rules)}) if fw.name == firewall_name else fw
        for fw in inventory.firewalls
    ]
    return inventory.model_copy(update={"firewalls": firewalls})


def _rule_named(inventory: Inventory, name: str) -> tuple[FirewallObject, Rule]:
    for fw in inventory.firewalls:
        for rule in fw.rules:
            if rule.name == name:
                return fw, rule
    raise AssertionError(name)


def test_azure_subnet_nsg_decides_before_the_nic_nsg() -> None:
    """Inbound, the subnet NSG is evaluated first: its deny drops the packet and
    the NIC NSG's allow (the rule the RDP finding names) is never reached; the
    scan agrees (no RDP finding)."""
    plan = load_plan(TF / "azure-broken" / "plan.json")
    [vm] = plan.vms
    rdp = Packet(direction="inbound", protocol="tcp", port=3389, remote="203.0.113.7")
    before = explain(plan, vm, rdp)
    assert before.allowed
    assert [s.label for s in before.steps] == ["subnet NSG subnet-nsg", "interface NSG pbx1-nsg"]
    assert [r.rule_name for r in before.decisive_rules] == ["allow-rdp", "allow-all-inbound"]
    [rdp_finding] = [f for f in access_findings(plan) if f.rules[0].rule_name == "allow-rdp"]
    assert [r.rule_id for r in rdp_finding.rules] == [r.rule_id for r in before.decisive_rules]

    fw, allow_all = _rule_named(plan, "allow-all-inbound")
    deny = allow_all.model_copy(
        update={
            "id": f"{fw.id}/security_rule/deny-rdp",
            "name": "deny-rdp",
            "action": "deny",
            "priority": 90,
            "protocol": "tcp",
            "ports": (PortRange(lo=3389, hi=3389),),
        }
    )
    guarded = _with_rule(plan, "subnet-nsg", deny)
    after = explain(guarded, guarded.vms[0], rdp)
    assert not after.allowed
    assert [r.rule_id for r in after.decisive_rules] == [deny.id]
    subnet, nic = after.steps
    assert (subnet.verdict, nic.verdict) == ("deny", "not_reached")
    [allow_rdp] = [c for c in nic.rules if c.rule.rule_name == "allow-rdp"]
    assert allow_rdp.outcome == "not_reached" and allow_rdp.mismatch is None
    assert not [f for f in access_findings(guarded) if f.rules[0].rule_name == "allow-rdp"]

    # Outbound the order is reversed: the NIC NSG first.
    out = explain(
        plan, vm, Packet(direction="outbound", protocol="tcp", port=443, remote="1.1.1.1")
    )
    assert [s.label for s in out.steps] == ["interface NSG pbx1-nsg", "subnet NSG subnet-nsg"]


def test_azure_deny_at_higher_priority_overrides_the_default_allow() -> None:
    """The compliant NSG's deny-all at 4096 decides before AllowVnetInBound (65000)."""
    plan = load_plan(TF / "azure-compliant" / "plan.json")
    [vm] = plan.vms
    answer = explain(
        plan, vm, Packet(direction="inbound", protocol="tcp", port=3389, remote="10.0.0.7")
    )
    assert not answer.allowed
    assert [(r.rule_name, r.priority) for r in answer.decisive_rules] == [
        ("deny-all-inbound", 4096)
    ]
    [step] = answer.steps
    outcomes = {c.rule.rule_name: (c.outcome, c.mismatch) for c in step.rules}
    assert outcomes["deny-all-inbound"] == ("decides", None)
    assert outcomes["AllowVnetInBound"] == ("not_reached", None)  # it would have allowed
    assert outcomes["C3"] == ("no_match", "port")


def gcp_with_ssh_deny() -> Inventory:
    """The GCP broken plan plus the live fixture's x-deny-ssh-v4 (deny tcp 22 from
    0.0.0.0/0 at 100) and an allow it shadows (allow-ssh-v4-shadowed at 1000)."""
    plan = load_plan(TF / "gcp-broken" / "plan.json")
    [b1] = [fw for fw in plan.firewalls if fw.name == "b1-allow-rdp"]
    extra = []
    for name, action, priority in (
        ("x-deny-ssh-v4", "deny", 100),
        ("allow-ssh-v4-shadowed", "allow", 1000),
    ):
        rule = b1.rules[0].model_copy(
            update={
                "id": name,
                "name": name,
                "action": action,
                "priority": priority,
                "ports": (PortRange(lo=22, hi=22),),
            }
        )
        extra.append(b1.model_copy(update={"id": name, "name": name, "rules": (rule,)}))
    return plan.model_copy(update={"firewalls": [*plan.firewalls, *extra]})


def test_gcp_deny_at_higher_priority_and_the_shadowed_rule_finding() -> None:
    inventory = gcp_with_ssh_deny()
    [vm] = inventory.vms
    answer = explain(
        inventory, vm, Packet(direction="inbound", protocol="tcp", port=22, remote="10.1.2.3")
    )
    assert not answer.allowed
    assert [r.rule_name for r in answer.decisive_rules] == ["x-deny-ssh-v4"]
    outcomes = {c.rule.rule_name: (c.outcome, c.mismatch) for c in answer.steps[0].rules}
    # B3 (all from 10.0.0.0/8 at 1020) and the shadowed allow would match: the deny came first.
    assert outcomes["b3-allow-internal-all"] == ("not_reached", None)
    assert outcomes["allow-ssh-v4-shadowed"] == ("not_reached", None)
    result = evaluate(inventory, Profile(), default_catalog(), today=TODAY)
    shadowed = [f.rules[0].rule_name for f in result.findings if f.rule_id == "SWYX007"]
    assert "allow-ssh-v4-shadowed" in shadowed
    # ... and B3's finding leaves tcp 22 from 10.0.0.0/8 out of its region.
    [b3] = [
        f
        for f in result.findings
        if f.rule_id == "SWYX001" and f.rules[0].rule_name == "b3-allow-internal-all"
    ]
    for part in b3.region:
        if part.protocol == "tcp":
            assert not any(p.lo <= 22 <= p.hi for p in part.ports)


def test_gcp_implied_deny_and_port_less_packets() -> None:
    plan = load_plan(TF / "gcp-broken" / "plan.json")
    [vm] = plan.vms
    answer = explain(
        plan, vm, Packet(direction="inbound", protocol="tcp", port=3390, remote="203.0.113.7")
    )
    assert not answer.allowed
    [decisive] = answer.decisive_rules
    assert decisive.rule_name == "implied-deny-ingress"
    icmp = explain(plan, vm, Packet(direction="inbound", protocol="icmp", remote="10.9.9.9"))
    assert icmp.allowed and [r.rule_name for r in icmp.decisive_rules] == ["b3-allow-internal-all"]
    outcomes = {
        c.rule.rule_name: c.mismatch for c in icmp.steps[0].rules if c.outcome == "no_match"
    }
    assert outcomes["b1-allow-rdp"] == "protocol"


def test_aws_names_every_group_rule_that_allows() -> None:
    """AWS: any rule of any attached group allows; all of them are named."""
    plan = load_plan(TF / "aws-broken" / "plan.json")
    [vm] = plan.vms
    answer = explain(
        plan, vm, Packet(direction="inbound", protocol="tcp", port=9094, remote="10.1.1.1")
    )
    assert answer.allowed
    assert sorted(r.rule_id for r in answer.decisive_rules) == [
        "module.pbx_rules.aws_security_group_rule.b3_private_all",
        "module.pbx_rules.aws_vpc_security_group_ingress_rule.b6_9094",
    ]
    [step] = answer.steps
    assert not step.ordered and step.verdict == "allow"
    denied = explain(
        plan, vm, Packet(direction="inbound", protocol="tcp", port=9094, remote="203.0.113.9")
    )
    assert not denied.allowed and denied.decisive_rules == []  # no rule allows it: implicit deny
    assert denied.uncertain == []


def test_rules_with_unknown_peers_make_the_answer_uncertain() -> None:
    """B9's source is known only after apply: a packet on its port is denied for
    the known part, and the answer names B9 as what could change that."""
    plan = load_plan(TF / "aws-broken" / "plan.json")
    [vm] = plan.vms
    answer = explain(
        plan, vm, Packet(direction="inbound", protocol="tcp", port=8443, remote="203.0.113.9")
    )
    assert not answer.allowed
    [check] = answer.uncertain
    assert check.rule.rule_id == "module.pbx_rules.aws_security_group_rule.b9_vpn_admin"
    assert check.unresolved == ["cidr_blocks (known after apply)"]


def test_source_ports_filtered_by_a_rule_are_reported() -> None:
    """Without --source-port the verdict is 'allowed for some source port', and the
    explanation says which."""
    plan = load_plan(TF / "azure-compliant" / "plan.json")
    fw, c2 = _rule_named(plan, "C2")
    low = c2.model_copy(
        update={
            "id": "low-source",
            "name": "low-source",
            "priority": 900,
            "ports": (PortRange(lo=8443, hi=8443),),
            "source_ports": (PortRange(lo=0, hi=1023),),
        }
    )
    inventory = _with_rule(plan, fw.name, low)
    [vm] = inventory.vms
    packet = Packet(direction="inbound", protocol="tcp", port=8443, remote="198.51.100.1")
    answer = explain(inventory, vm, packet)
    assert answer.allowed and answer.source_ports == [PortRange(lo=0, hi=1023)]
    high = explain(inventory, vm, packet.model_copy(update={"source_port": 40000}))
    assert not high.allowed and high.source_ports == []
    [check] = [c for c in high.steps[0].rules if c.rule.rule_name == "low-source"]
    assert (check.outcome, check.mismatch) == ("no_match", "source_port")


# --------------------------------------------------------------- properties


def _agrees_with_oracle(case: Case) -> None:
    ctx = Context(case.inventory, case.internal_networks)
    for raw in case.packets[:20]:
        protocol, dport, sport, remote = raw
        packet = Packet(
            direction=case.direction,
            protocol=normalize_protocol(protocol),
            port=dport,
            source_port=sport,
            remote=remote,
        )
        want = oracle_allowed(case.inventory, case.vm, case.direction, raw, case.internal_networks)
        got = explain_packet(case.vm, packet, ctx)
        assert got.allowed == want, (case.vm.provider, case.direction, raw)
        # An allowed packet always has a rule to show for it, and the steps tell
        # the same story: all pass, or the first that drops it ends the walk.
        assert got.decisive_rules or not got.allowed
        verdicts = [step.verdict for step in got.steps]
        if got.allowed:
            assert set(verdicts) == {"allow"}
        elif verdicts:
            first = verdicts.index("deny")
            assert set(verdicts[:first]) <= {"allow"}
            assert set(verdicts[first + 1 :]) <= {"not_reached"}


EXPLAIN_CASES = 300


@settings(max_examples=EXPLAIN_CASES, deadline=None)
@given(st.one_of(aws_cases(), azure_cases(), gcp_cases()))
def test_explain_agrees_with_the_per_packet_oracle(case: Case) -> None:
    _agrees_with_oracle(case)


# ---------------------------------------------------------------------- CLI


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run_policycheck("explain", *args, cwd=cwd)


def test_cli_json_answers_with_the_documented_keys(tmp_path: Path) -> None:
    plan = str(TF / "azure-broken" / "plan.json")
    proc = run_cli(
        "terraform",
        plan,
        "--vm",
        "pbx1",
        "--port",
        "3389",
        "--from",
        "203.0.113.7",
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert list(data)[:4] == ["schema", "allowed", "decisive_rules", "steps"]
    assert data["allowed"] is True
    assert [r["rule_name"] for r in data["decisive_rules"]] == ["allow-rdp", "allow-all-inbound"]
    assert {"firewall_name", "rule_name", "rule_id"} <= set(data["decisive_rules"][0])
    out = tmp_path / "answer.txt"
    proc = run_cli(
        "terraform",
        plan,
        "--vm",
        "pbx1",
        "--port",
        "3390",
        "--from",
        "203.0.113.7",
        "-o",
        str(out),
        "--format",
        "text",
    )
    assert proc.returncode == 0 and proc.stdout == ""
    text = out.read_text()
    assert "DENIED" in text and "pbx1-nsg/DenyAllInBound (priority 65500)" in text
    assert text.index("Step 1: subnet NSG subnet-nsg") < text.index("Step 2: interface NSG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--vm", "nope", "--port", "1", "--from", "10.0.0.1"],
            "--vm nope: no such VM; the input has pbx1",
        ),
        (["--vm", "pbx1", "--port", "1"], "give exactly one of --from"),
        (
            ["--vm", "pbx1", "--port", "1", "--from", "10.0.0.1", "--to", "10.0.0.2"],
            "give exactly one of --from",
        ),
        (["--vm", "pbx1", "--from", "10.0.0.1"], "--port is required for tcp"),
        (
            ["--vm", "pbx1", "--protocol", "icmp", "--port", "1", "--from", "10.0.0.1"],
            "icmp packets have no ports",
        ),
        (["--vm", "pbx1", "--port", "1", "--from", "10.0.0.0/8"], "is not an IP address"),
        (["--vm", "pbx1", "--protocol", "all", "--from", "10.0.0.1"], "a packet has one protocol"),
        (["--vm", "pbx1", "--protocol", "sctp-ish", "--from", "10.0.0.1"], "is not a protocol"),
    ],
)
def test_cli_bad_questions_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    proc = run_cli("terraform", str(TF / "aws-broken" / "plan.json"), *args)
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert message in line and "Traceback" not in line


def test_cli_checks_the_question_before_reading_the_input(tmp_path: Path) -> None:
    proc = run_cli("snapshot", str(tmp_path / "missing.json"), "--vm", "pbx1", "--from", "10.0.0.1")
    assert proc.returncode == 2
    assert "--port is required" in proc.stderr


def test_cli_snapshot_names_the_deny_at_higher_priority(tmp_path: Path) -> None:
    from policycheck.sources import snapshot

    path = tmp_path / "inventory.json"
    path.write_bytes(snapshot.dumps(gcp_with_ssh_deny()))
    proc = run_cli(
        "snapshot",
        str(path),
        "--vm",
        "pbx1",
        "--port",
        "22",
        "--from",
        "10.1.2.3",
        "--format",
        "text",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "pbx1 (gcp): inbound tcp 22 from 10.1.2.3: DENIED"
    assert lines[1] == "  denied by x-deny-ssh-v4 (priority 100)"
    [overridden] = [line for line in lines if "allow-ssh-v4-shadowed" in line]
    assert overridden.endswith("would allow, but the deny above decided first")
