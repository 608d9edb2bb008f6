"""One packet explained: what ``policycheck explain`` concludes and renders.

Only data, like :mod:`policycheck.findings`: the engine
(:mod:`policycheck.engine.explain`) fills it in by walking the same provider
layers the findings come from; :mod:`policycheck.report.explain` words it. The
JSON form is documented in docs/explain.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from policycheck.findings import RuleRef
from policycheck.model import Direction, PortRange, Provider

#: What one rule did with the packet:
#: ``decides`` (first match of an ordered step: its action is the step's verdict),
#: ``allows`` (a matching rule of an allow-only step such as AWS security groups),
#: ``goto_next`` (GCP: hands the packet to the next policy level),
#: ``no_match`` (see ``mismatch``), ``not_reached`` (an earlier rule or step
#: already decided the packet; ``mismatch`` None says the rule would have matched).
Outcome = Literal["decides", "allows", "goto_next", "no_match", "not_reached"]
#: Why a rule does not cover the packet (set whether or not it was reached): the
#: packet's protocol, its destination port, its
#: source port, or its remote address; ``ports`` means a port-restricted rule and
#: a packet without ports (ICMP, GRE, ...).
Mismatch = Literal["protocol", "ports", "port", "source_port", "address"]
Verdict = Literal["allow", "deny", "not_reached"]


class Packet(BaseModel):
    """The packet asked about. ``remote`` is its source (inbound) or destination
    (outbound); ``port`` is None for protocols without ports; ``source_port`` None
    means any source port."""

    model_config = ConfigDict(frozen=True)

    direction: Direction
    protocol: str
    port: int | None = None
    source_port: int | None = None
    remote: str


class RuleCheck(BaseModel):
    """One rule of a step, in the provider's evaluation order."""

    model_config = ConfigDict(frozen=True)

    rule: RuleRef
    outcome: Outcome
    mismatch: Mismatch | None = None
    protocol: str
    ports: list[PortRange]
    #: The rule's remote side as written (CIDRs, tags, groups).
    peers: list[str]
    #: What could not be resolved: the rule may match addresses not known here.
    unresolved: list[str] = Field(default_factory=list)
    #: The kind of firewall object the rule is in (``security_group``, ``nsg``,
    #: ``network_acl``, ``vpc_firewall``, ``firewall_policy``).
    firewall_kind: str
    #: A platform default or implied rule, not one a user wrote.
    synthetic: bool = False
    #: Evaluation level inside the step (GCP: each policy, the VPC rules, the
    #: implied rules); ``goto_next`` jumps to the next one.
    tier: int = 0


class Step(BaseModel):
    """One filter the packet must pass (Azure: the subnet NSG, then the NIC NSG)."""

    model_config = ConfigDict(frozen=True)

    label: str
    #: First match by priority (True), or any matching allow rule allows (False).
    ordered: bool
    verdict: Verdict
    #: The rule(s) that gave the verdict; empty for a deny when no rule matched
    #: (the step's implicit deny) and for a step not reached.
    decisive_rules: list[RuleRef] = Field(default_factory=list)
    rules: list[RuleCheck] = Field(default_factory=list)


class Explanation(BaseModel):
    """Allowed or not, the decisive rules, and every step that led there."""

    model_config = ConfigDict(frozen=True)

    vm_id: str
    vm_name: str
    provider: Provider
    packet: Packet
    allowed: bool
    #: Allowed: the rules of every step that allow it (any one of several in an
    #: allow-only step), ordered as findings name them. Denied: the deny rule of the
    #: first step that drops it (empty when no rule of that step matched).
    decisive_rules: list[RuleRef] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    #: Without a given source port: the source ports the verdict ``allowed`` holds
    #: for when it is not all of them (rules that filter on source ports). The
    #: steps show the first of them.
    source_ports: list[PortRange] = Field(default_factory=list)
    #: Rules the packet met whose peers could not be fully resolved (as in
    #: ``steps``): the verdict holds for the resolved part of their peers only.
    uncertain: list[RuleCheck] = Field(default_factory=list)
    #: What the provider could not determine about the VM (no firewall known, ...).
    problems: list[str] = Field(default_factory=list)
