"""The normalized inventory: what every source produces and the engine consumes.

Sources (Terraform plans, live AWS/Azure/GCP, snapshots) translate their own shapes
into these types and nothing else; the engine never sees a provider SDK object or a
file. The types are deliberately provider-neutral: a provider's *semantics* (union of
security groups, Azure first-match with subnet+NIC layering, GCP priorities and
implied rules) live in ``policycheck.engine.providers``, not here.

Everything is a frozen pydantic model so inventories can be hashed, compared,
serialized into snapshots and validated when read back.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)

from policycheck.errors import InputError, safe_text, scrub

Provider = Literal["aws", "azure", "gcp"]
Direction = Literal["inbound", "outbound"]
#: ``goto_next`` (GCP firewall policies): a match ends evaluation of the current
#: policy level and hands the packet to the next level, deciding nothing itself.
Action = Literal["allow", "deny", "goto_next"]

#: Named protocols; anything else is a decimal IP protocol number such as ``"47"``.
NAMED_PROTOCOLS = ("all", "tcp", "udp", "icmp", "icmpv6")
#: IANA numbers of the named protocols, so ``"6"`` and ``"tcp"`` mean the same rule.
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
_NUMBER_TO_NAME = {str(v): k for k, v in PROTOCOL_NUMBERS.items()}

MAX_PORT = 65535

#: Azure's "any address" prefix word (``*``/``Any``): every address, v4 and v6. Sources
#: write it, the engine reads it, so it lives here.
AZURE_ANY = "*"


def last_segment(self_link: str) -> str:
    """GCP self links and names (and ARM ids) compare by their last path segment."""
    return self_link.rstrip("/").rsplit("/", 1)[-1]


def gcp_network_ref(value: str, project: str | None = None) -> str:
    """A GCP network's identity: ``projects/P/global/networks/N``.

    Every project has a network called ``default``, so a network is its project and
    its name. Self links (any API host or version) and relative paths reduce to the
    path; a bare name (or ``global/networks/N``) takes ``project``. Only when the
    project is unknown does the name alone remain, and it then matches networks of
    that name in any project (the engine's ``network_key`` / ``same_network``).
    """
    text = value.strip().rstrip("/")
    start = text.find("projects/")
    if start >= 0:
        parts = text[start:].split("/")
        if len(parts) >= 5 and parts[3] == "networks":
            return "/".join(["projects", parts[1], "global", "networks", parts[4]])
        return text[start:]
    name = last_segment(text)
    return f"projects/{project}/global/networks/{name}" if project else name


# An estate repeats a few thousand addresses and prefixes on hundreds of thousands
# of rules: each spelling is parsed once per process, and equal spellings give the
# one canonical string object (less memory for a large inventory).
@lru_cache(maxsize=1 << 16)
def check_address(value: str) -> str:
    """An IPv4/IPv6 address (no prefix length), in canonical spelling."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"invalid IP address {value!r}") from None


@lru_cache(maxsize=1 << 16)
def check_cidr(value: str) -> str:
    """An IPv4/IPv6 prefix (a bare address is a /32 or /128), host bits cleared."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"invalid CIDR {value!r}") from None


#: Text that came from input and may be printed: names, ids, descriptions. Control
#: characters become visible escapes and URL credentials are removed, once, here,
#: so no report format and no terminal ever gets them raw.
Text = Annotated[str, AfterValidator(safe_text)]
#: Where the model holds addresses and prefixes, a malformed one is refused for
#: every source alike (a Terraform plan, a cloud response, a snapshot).
Address = Annotated[str, AfterValidator(check_address)]
Cidr = Annotated[str, AfterValidator(check_cidr)]


#: A number a field holds: JSON readers differ beyond 64 bits (orjson makes a float,
#: pydantic-core an exact integer), so no reader accepts more.
Int64 = Annotated[int, Field(ge=-(1 << 63), le=(1 << 63) - 1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: Validation context key of a sharing pool (a dict) for :class:`_Shared` models.
SHARE = "share"


class _Shared(_Frozen):
    """A small value object an estate repeats thousands of times: the same port
    range, peer and provenance on every rule of every firewall (a 10,000-VM
    snapshot holds 366,000 port ranges of 28 values, 255,000 provenances of 75,000).

    Validated with a pool in the context (``context={SHARE: {}}``, as a snapshot is
    read), equal inputs give one frozen instance instead of one each: a pydantic
    model costs ~0.5-1 KB, so this is about a third of a large inventory.
    """

    @model_validator(mode="wrap")
    @classmethod
    def _shared(
        cls, value: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        if type(value) is not dict:  # mostly an instance already, as in Rule(ports=...)
            return handler(value)
        pool = info.context.get(SHARE) if isinstance(info.context, dict) else None
        if pool is None:
            return handler(value)
        # The values' types are part of the key: ``true == 1`` and ``1.0 == 1`` in
        # Python, but a strict field refuses what it accepted for the other. Built
        # in C (no generator): this runs for every port range, peer and provenance.
        key = (cls, *value.items(), *map(type, value.values()))
        try:
            hit: Self | None = pool.get(key)
        except TypeError:  # an unhashable (so malformed) value: validation names it
            return handler(value)
        if hit is None:
            hit = pool[key] = handler(value)
        return hit


def normalize_protocol(value: str | int) -> str:
    """Canonical protocol text: ``all``, a named protocol, or a protocol number.

    Providers spell "all protocols" as ``-1`` (AWS), ``*``/``Any`` (Azure) and
    ``all`` (GCP); numbers of named protocols collapse to their names.
    """
    if type(value) is str:
        return _normalized_text(value)
    return _normalize_protocol(value)  # a number, or whatever a snapshot holds there


def _normalize_protocol(value: str | int) -> str:
    text = str(value).strip().lower()
    if text in ("-1", "*", "any", "all"):
        return "all"
    if text in _NUMBER_TO_NAME:
        return _NUMBER_TO_NAME[text]
    if text in ("icmp6", "ipv6-icmp", "icmpv6"):
        return "icmpv6"
    if text in NAMED_PROTOCOLS:
        return text
    if text.isdigit() and 0 <= int(text) <= 255:
        return str(int(text))
    raise ValueError(f"unknown protocol {value!r}")


#: Each spelling once: sources normalise every rule's protocol, the model again.
_normalized_text = lru_cache(maxsize=1 << 10)(_normalize_protocol)


#: A GCP service account whose email is not known until apply, as a VM's account or
#: a rule's target: it may or may not be any given account.
UNKNOWN_SERVICE_ACCOUNT = "(service account known after apply)"


class PortRange(_Shared):
    """An inclusive port range; ``PortRange(lo=0, hi=65535)`` is every port."""

    #: Strict: ``true`` or ``"80"`` in a snapshot is not a port.
    lo: Annotated[int, Field(ge=0, le=MAX_PORT, strict=True)]
    hi: Annotated[int, Field(ge=0, le=MAX_PORT, strict=True)]

    @model_validator(mode="after")
    def _ordered(self) -> PortRange:
        if self.lo > self.hi:
            raise ValueError(f"port range {self.lo}-{self.hi} is reversed")
        return self

    @classmethod
    def parse(cls, text: str | int) -> PortRange:
        """Parse ``"80"``, ``"1000-2000"``, ``"*"`` or an int."""
        return _parsed_port_range(str(text).strip())

    @classmethod
    def of(cls, lo: int, hi: int) -> PortRange:
        """The range ``lo``-``hi`` (integers), one object per range (a source builds
        the same few ranges for thousands of rules)."""
        return _port_range(int(lo), int(hi))

    def __str__(self) -> str:
        return f"{self.lo}-{self.hi}"


ALL_PORTS = PortRange(lo=0, hi=MAX_PORT)


@lru_cache(maxsize=1 << 12)
def _port_range(lo: int, hi: int) -> PortRange:
    return PortRange(lo=lo, hi=hi)


@lru_cache(maxsize=1 << 12)
def _parsed_port_range(raw: str) -> PortRange:
    if raw in ("*", "any", "Any", "all"):
        return ALL_PORTS
    if "-" in raw:
        lo, hi = raw.split("-", 1)
        return _port_range(int(lo), int(hi))
    return _port_range(int(raw), int(raw))


PeerKind = Literal[
    "cidr",  # an IPv4/IPv6 prefix, already resolved
    "security_group",  # AWS: members of a security group (resolved by the engine)
    "prefix_list",  # AWS managed prefix list
    "service_tag",  # Azure: Internet, VirtualNetwork, AzureLoadBalancer, Storage, ...
    "app_security_group",  # Azure ASG: the NICs that are members
    "network_tag",  # GCP: instances with this network tag
    "service_account",  # GCP: instances running as this service account
    "address_group",  # GCP/other: a named address group
    "unknown",  # not knowable here (e.g. a Terraform value known only after apply)
]


class Peer(_Shared):
    """One end of a rule: a prefix, or a symbol the engine must resolve."""

    kind: PeerKind
    value: Text

    @model_validator(mode="after")
    def _valid_cidr(self) -> Peer:
        if self.kind == "cidr":
            check_cidr(self.value)
        return self

    @classmethod
    def cidr(cls, value: str) -> Peer:
        """A prefix peer; a bare address becomes a /32 or /128, host bits are cleared."""
        return _cidr_peer(value)

    @classmethod
    def of(cls, kind: str, value: str) -> Peer:
        """A peer (``kind`` is validated), one object per (kind, value), shared by
        every rule naming it."""
        return _peer(kind, value)

    def __str__(self) -> str:
        return self.value if self.kind == "cidr" else f"{self.kind}:{self.value}"


@lru_cache(maxsize=1 << 16)
def _cidr_peer(value: str) -> Peer:
    return Peer(kind="cidr", value=check_cidr(value))


@lru_cache(maxsize=1 << 16)
def _peer(kind: str, value: str) -> Peer:
    return Peer(kind=kind, value=value)


class Provenance(_Shared):
    """Where a rule, firewall object or VM came from, for attribution and SARIF."""

    source: Literal["terraform", "aws", "azure", "gcp", "snapshot"]
    #: Terraform resource address, e.g. ``module.net.aws_security_group.pbx``.
    address: Text | None = None
    #: Cloud resource ID / ARN / self link.
    cloud_id: Text | None = None
    #: Account, subscription or project, and region where applicable.
    scope: Text | None = None
    region: Text | None = None
    #: Source file and lines (``.tf`` declaration, or the plan file) where known.
    file: Text | None = None
    start_line: Int64 | None = None
    end_line: Int64 | None = None


class Rule(_Frozen):
    """One normalized firewall rule.

    ``peers`` is the *remote* side: the sources of an inbound rule, the
    destinations of an outbound rule. ``targets`` narrows the VM side (Azure
    destination prefixes/ASGs on inbound rules, GCP target tags/service accounts,
    GCP destination ranges); an empty ``targets`` means every VM the firewall object
    applies to. Empty ``ports`` is not allowed: "all ports" is stated explicitly as
    ``[ALL_PORTS]`` so no source can lose a range by accident.
    """

    id: Text
    name: Text | None = None
    direction: Direction
    action: Action = "allow"
    #: Lower is evaluated first (Azure, GCP). ``None`` where order does not exist (AWS SG).
    priority: Int64 | None = None
    protocol: str = "all"
    ports: tuple[PortRange, ...] = (ALL_PORTS,)
    source_ports: tuple[PortRange, ...] = (ALL_PORTS,)
    peers: tuple[Peer, ...]
    targets: tuple[Peer, ...] = ()
    disabled: bool = False
    #: Names of fields whose values are unknown (e.g. Terraform ``after_unknown``).
    unknown: tuple[Text, ...] = ()
    description: Text | None = None
    provenance: Provenance

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, value: str | int) -> str:
        return normalize_protocol(value)

    @field_validator("ports", "source_ports")
    @classmethod
    def _non_empty(cls, value: tuple[PortRange, ...]) -> tuple[PortRange, ...]:
        if not value:
            raise ValueError("port list is empty; use [0-65535] for all ports")
        return value


FirewallKind = Literal[
    "security_group",  # AWS
    "network_acl",  # AWS (stateless, inventory only for now)
    "nsg",  # Azure network security group
    "vpc_firewall",  # GCP VPC firewall rule (one resource, one priority)
    "firewall_policy",  # GCP network firewall policy
]


#: The evaluation-order numbers each cloud accepts, per (provider, kind): the ranges,
#: what the cloud calls the number, and the name of the object kind for messages.
#: AWS network ACLs number rules 1-32766 and end with the default rule ``*`` (32767);
#: Azure NSG rules take 100-4096, the platform's default rules 65000/65001/65500;
#: GCP VPC firewall rules 0-65535, firewall policy rules 0-2147483647 (the top four
#: are the predefined goto_next rules).
RULE_NUMBER_RANGES: dict[tuple[str, str], tuple[tuple[tuple[int, int], ...], str, str]] = {
    ("aws", "network_acl"): (((1, 32766), (32767, 32767)), "rule number", "AWS network ACL"),
    ("azure", "nsg"): (
        ((100, 4096), (65000, 65001), (65500, 65500)),
        "priority",
        "Azure NSG",
    ),
    ("gcp", "vpc_firewall"): (((0, 65535),), "priority", "GCP VPC firewall rule"),
    ("gcp", "firewall_policy"): (((0, 2147483647),), "priority", "GCP firewall policy"),
}


class FirewallObject(_Frozen):
    """A security group, NSG, GCP firewall rule or policy, with its rules."""

    provider: Provider
    kind: FirewallKind
    id: Text
    name: Text
    #: VPC id, VNet id or GCP network (self link or name) the object belongs to.
    network: Text | None = None
    rules: tuple[Rule, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    provenance: Provenance

    def __hash__(self) -> int:  # dict field makes the default hash fail
        return hash((self.provider, self.kind, self.id))

    @model_validator(mode="after")
    def _rule_numbers(self) -> FirewallObject:
        """A rule number the cloud would refuse is bad input, never a finding.

        Raised as :class:`~policycheck.errors.InputError` (not a ValueError) so that
        no source mistakes it for a malformed response to skip: it is exit 2.
        """
        spec = RULE_NUMBER_RANGES.get((self.provider, self.kind))
        if spec is None:
            return self
        ranges, word, kind = spec
        for rule in self.rules:
            if rule.priority is None or any(lo <= rule.priority <= hi for lo, hi in ranges):
                continue
            allowed = ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)
            raise InputError(
                f"{kind} {self.name}: rule {rule.name or rule.id}: {word} {rule.priority} "
                f"is outside {allowed}"
            )
        return self


AttachmentLevel = Literal["interface", "subnet", "network"]


class Attachment(_Frozen):
    """A firewall object that applies to a VM, and at which level.

    Azure evaluates inbound traffic at the subnet NSG first, then the NIC NSG;
    AWS groups attach to interfaces; GCP rules apply network-wide (filtered by
    target tags).
    """

    firewall_id: Text
    level: AttachmentLevel = "interface"
    #: The NIC or subnet through which it applies, for messages.
    via: Text | None = None


class VM(_Frozen):
    """A virtual machine and everything the engine needs to know about it."""

    provider: Provider
    id: Text
    name: Text
    #: Private and public addresses (no prefix length).
    addresses: tuple[Address, ...] = ()
    #: Prefixes holding addresses of the VM that are not known (yet): a NIC with a
    #: Dynamic private IP before apply is somewhere in its subnet.
    address_ranges: tuple[Cidr, ...] = ()
    #: AWS tags, Azure tags, GCP labels.
    tags: dict[str, str] = Field(default_factory=dict)
    #: GCP network tags.
    network_tags: tuple[Text, ...] = ()
    #: GCP service accounts (``UNKNOWN_SERVICE_ACCOUNT`` for one not known until apply).
    service_accounts: tuple[Text, ...] = ()
    #: Azure application security groups of the VM's NICs.
    app_security_groups: tuple[Text, ...] = ()
    #: VPC / VNet / GCP network identifiers the VM's interfaces are in.
    networks: tuple[Text, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    #: Fields that are unknown until apply (Terraform), e.g. ``vpc_security_group_ids``.
    unknown: tuple[Text, ...] = ()
    provenance: Provenance

    def __hash__(self) -> int:
        return hash((self.provider, self.id))


class Network(_Frozen):
    """A VPC, VNet or GCP network with its address space, where known."""

    provider: Provider
    id: Text
    name: Text | None = None
    address_spaces: tuple[Cidr, ...] = ()
    #: GCP ``networkFirewallPolicyEnforcementOrder``: whether network firewall
    #: policies run after (default) or before the VPC firewall rules.
    policy_enforcement_order: (
        Literal["AFTER_CLASSIC_FIREWALL", "BEFORE_CLASSIC_FIREWALL"] | None
    ) = None


class AddressGroup(_Frozen):
    """A named set of prefixes: AWS managed prefix list, expanded Azure service tag."""

    provider: Provider
    kind: Literal["prefix_list", "service_tag", "address_group"]
    id: Text
    name: Text | None = None
    cidrs: tuple[Cidr, ...] = ()
    #: Some entries are not known (e.g. until ``terraform apply``): ``cidrs`` is a part.
    incomplete: bool = False


class CollectionError(_Frozen):
    """A part of the estate that could not be read; makes the run incomplete (exit 3)."""

    provider: Provider | Literal["terraform", "snapshot"]
    scope: Text
    message: Annotated[str, AfterValidator(scrub)]


class InlineIgnore(_Frozen):
    """A ``policycheck:ignore`` comment in a source file and the block it covers.

    The source states only where the comment is, what it says and which lines
    its block spans; the engine decides which findings lie in the block.
    """

    #: The file as findings name it (``Provenance.file``), and the comment's line.
    file: str
    line: Annotated[Int64, Field(ge=1)]
    #: The block the comment is inside or directly above.
    start_line: Annotated[Int64, Field(ge=1)]
    end_line: Annotated[Int64, Field(ge=1)]
    #: The rule ids it names (at least one).
    rules: Annotated[tuple[str, ...], Field(min_length=1)]
    reason: Annotated[str, Field(min_length=1)]
    expires: dt.date


def share_field_sets(item: BaseModel, pool: dict[Any, Any]) -> None:
    """Let ``item`` and the models it holds share pydantic's record of the fields
    they were given with every model in ``pool`` given the same fields.

    pydantic keeps that record (``model_fields_set``) per instance: for a Rule's
    15 fields a 728-byte set, a third of the rule. Read from a snapshot, every
    rule, firewall and provenance names the same fields, so equal records become
    one set (a 10,000-VM snapshot: ~240 MB, which the evaluation then reuses).
    Safe for these frozen models: pydantic adds to the record only on attribute
    assignment, which they refuse, and ``model_copy`` copies it.
    """
    for model in _held(item):
        names = model.__pydantic_fields_set__
        # Nearly always equal to what the last model of its class shares: compared
        # in C, without a frozenset built per model to look it up.
        shared = pool.get(type(model))
        if shared is None or (shared is not names and shared != names):
            shared = pool[type(model)] = pool.setdefault(frozenset(names), names)
        if shared is not names:
            object.__setattr__(model, "__pydantic_fields_set__", shared)


def _held(item: BaseModel) -> Iterator[BaseModel]:
    """``item`` and the many models inside it (port ranges and peers are few)."""
    yield item
    if isinstance(item, FirewallObject):
        yield item.provenance
        for rule in item.rules:
            yield rule
            yield rule.provenance
    elif isinstance(item, VM):
        yield item.provenance
        yield from item.attachments


SNAPSHOT_SCHEMA_VERSION = 1


class Inventory(BaseModel):
    """Everything a source read: the unit the engine evaluates and snapshots store."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Annotated[int, Field(strict=True, ge=1, le=SNAPSHOT_SCHEMA_VERSION)] = (
        SNAPSHOT_SCHEMA_VERSION
    )
    #: What was read, e.g. ``terraform:plan.json`` or ``aws:123456789012``.
    sources: list[Text] = Field(default_factory=list)
    vms: list[VM] = Field(default_factory=list)
    firewalls: list[FirewallObject] = Field(default_factory=list)
    networks: list[Network] = Field(default_factory=list)
    address_groups: list[AddressGroup] = Field(default_factory=list)
    errors: list[CollectionError] = Field(default_factory=list)
    #: ``policycheck:ignore`` comments of the sources read (Terraform ``.tf`` files).
    inline_ignores: list[InlineIgnore] = Field(default_factory=list)

    def merge(self, other: Inventory) -> Inventory:
        """Combine inventories read from several regions/accounts/plans."""
        return Inventory(
            sources=[*self.sources, *other.sources],
            vms=[*self.vms, *other.vms],
            firewalls=[*self.firewalls, *other.firewalls],
            networks=[*self.networks, *other.networks],
            address_groups=[*self.address_groups, *other.address_groups],
            errors=[*self.errors, *other.errors],
            inline_ignores=[*self.inline_ignores, *other.inline_ignores],
        )
