"""Shared machinery for turning planned resources into the normalized model.

The per-cloud translators (``tf_aws``, ``tf_azure``, ``tf_gcp``) only decide what a
field *means*; reading fields strictly (a malformed known type is an input error,
never a silent skip), telling known from unknown-until-apply values, following
references and attributing rules to ``.tf`` lines is the same for every cloud and
lives here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from policycheck.errors import InputError
from policycheck.model import (
    VM,
    AddressGroup,
    CollectionError,
    FirewallKind,
    FirewallObject,
    Network,
    Peer,
    Provenance,
    Provider,
    Rule,
    check_address,
    check_cidr,
    normalize_protocol,
)
from policycheck.sources.tflocations import Location, Locations
from policycheck.sources.tfplan import Plan, PlannedResource, describe

Data = dict[str, Any]


@lru_cache(maxsize=1 << 10)
def unknown_peer(attribute: str) -> Peer:
    """The peer of a rule whose address list Terraform only knows after apply."""
    return Peer(kind="unknown", value=f"{attribute} (known after apply)")


def has_unknown(tree: Any) -> bool:
    """True if an ``after_unknown`` subtree marks anything unknown."""
    if tree is True:
        return True
    if isinstance(tree, list):
        return any(has_unknown(v) for v in tree)
    if isinstance(tree, dict):
        return any(has_unknown(v) for v in tree.values())
    return False


@dataclass
class FirewallDraft:
    """A firewall object whose rules may still arrive from separate rule resources."""

    provider: Provider
    kind: FirewallKind
    id: str
    name: str
    provenance: Provenance
    network: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)

    def freeze(self) -> FirewallObject:
        return FirewallObject(
            provider=self.provider,
            kind=self.kind,
            id=self.id,
            name=self.name,
            network=self.network,
            rules=tuple(self.rules),
            tags=self.tags,
            provenance=self.provenance,
        )


@dataclass
class Fields:
    """Strict, typed access to one resource's (or inline block's) values."""

    ctx: Context
    res: PlannedResource
    data: Data
    label: str = ""
    #: ``after_unknown`` subtree matching ``data``.
    unknown_tree: Any = None

    def _where(self, key: str) -> str:
        return f"{self.ctx.plan.path}: {self.res.address}: {self.label}{key}"

    def error(self, key: str, expected: str, value: Any) -> InputError:
        return InputError(f"{self._where(key)}: expected {expected}, found {describe(value)}")

    def is_unknown(self, key: str) -> bool:
        """Unknown until apply (wholly or any element), and set in configuration."""
        tree = self.unknown_tree if self.label else self.res.after_unknown
        sub = tree.get(key) if isinstance(tree, dict) else None
        if sub is None or sub is False:  # most fields: known, no subtree to walk
            return False
        if not self.label and sub is True:
            return self.res.unknown(key)
        return has_unknown(sub)

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise self.error(key, "a string", value)

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and value == ""):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)  # Terraform 0.12 plans keep "3306" as written
        raise self.error(key, "an integer", value)

    def boolean(self, key: str) -> bool:
        value = self.data.get(key)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        raise self.error(key, "true or false", value)

    def strings(self, key: str) -> list[str]:
        """A list (or set) of strings; ``null`` elements are unknown ones, left out."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not _TEXT_OR_NULL.issuperset(map(type, value)):
            raise self.error(key, "a list of strings", value)
        return list(filter(None, value))

    def addresses(self, key: str) -> list[str]:
        """IP addresses (one, or a list): a malformed known one is an input error."""
        return self._checked(key, check_address, "an IP address")

    def cidrs(self, key: str) -> list[str]:
        """Prefixes (one, or a list), e.g. a VPC's ``cidr_block``; malformed is an error."""
        return self._checked(key, check_cidr, "a CIDR block")

    def _checked(self, key: str, check: Callable[[str], str], expected: str) -> list[str]:
        values = self.strings(key) if isinstance(self.data.get(key), list) else [self.text(key)]
        out = []
        for value in values:
            if value:
                try:
                    out.append(check(value))
                except ValueError:
                    raise self.error(key, expected, value) from None
        return out

    def mapping(self, key: str) -> dict[str, str]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, "a map", value)
        return {str(k): "" if v is None else str(v) for k, v in value.items()}

    def blocks(self, key: str) -> list[Fields]:
        """Nested blocks (``ingress``, ``security_rule``, ``allow``...) as Fields."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, "a list of blocks", value)
        tree = self.unknown_tree if self.label else self.res.after_unknown
        sub = tree.get(key) if isinstance(tree, dict) else None
        out = []
        for i, block in enumerate(value):
            block_unknown = sub[i] if isinstance(sub, list) and i < len(sub) else {}
            out.append(Fields(self.ctx, self.res, block, f"{self.label}{key}[{i}].", block_unknown))
        return out

    def linked(self, key: str, types: tuple[str, ...]) -> tuple[list[str], bool]:
        """Ids ``key`` holds, following references while unknown (see
        :meth:`Context.linked`); also inside one level of inline block."""
        if not self.label:
            return self.ctx.linked(self.res, key, types)
        raw = self.data.get(key)
        known = self.strings(key) if isinstance(raw, list) else [v for v in [self.text(key)] if v]
        if not self.is_unknown(key):
            return known, False
        block = _BLOCK_LABEL.fullmatch(self.label)
        referenced = (
            self.ctx.nested_linked(self.res, block.group(1), int(block.group(2)), key, types)
            if block
            else []
        )
        return list(dict.fromkeys([*known, *referenced])), not referenced

    def protocol(self, key: str) -> str:
        raw = self.text(key)
        if raw is None:
            return "all"
        try:
            return normalize_protocol(_PROTOCOL_ALIASES.get(raw.lower(), raw))
        except ValueError as exc:
            raise self.error(key, "a protocol name or number", raw) from exc


#: The element types of a list of strings with unknown elements (JSON values: exact
#: types), checked in C.
_TEXT_OR_NULL = frozenset({str, type(None)})
#: The label of a first-level inline block, ``ingress[0].``.
_BLOCK_LABEL = re.compile(r"([A-Za-z0-9_]+)\[(\d+)\]\.")
#: Protocol names some providers accept that the model spells as numbers.
_PROTOCOL_ALIASES = {"esp": "50", "ah": "51", "gre": "47", "sctp": "132", "ipip": "4"}


@dataclass
class Context:
    """Everything translators share while reading one plan."""

    plan: Plan
    locations: Locations | None
    plan_file: str
    firewalls: dict[str, FirewallDraft] = field(default_factory=dict)
    vms: list[VM] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    address_groups: list[AddressGroup] = field(default_factory=list)
    #: What the plan leaves undecidable about the estate (exit 3, like live reads).
    errors: list[CollectionError] = field(default_factory=list)
    #: One Provenance per place: every rule of a resource without a block of its
    #: own shares the resource's.
    _provenances: dict[tuple[str, Location | None], Provenance] = field(default_factory=dict)

    def of_type(self, *types: str) -> list[PlannedResource]:
        """The planned resources of ``types``, in plan order."""
        if len(types) == 1:
            return [res for _, res in self._by_type.get(types[0], ())]
        found = [item for t in dict.fromkeys(types) for item in self._by_type.get(t, ())]
        return [res for _, res in sorted(found, key=lambda item: item[0])]

    @cached_property
    def _by_type(self) -> dict[str, list[tuple[int, PlannedResource]]]:
        # The translators ask for ~40 types: one pass, not one over every resource each.
        index: dict[str, list[tuple[int, PlannedResource]]] = {}
        for position, res in enumerate(self.plan.resources.values()):
            index.setdefault(res.type, []).append((position, res))
        return index

    def fields(self, res: PlannedResource) -> Fields:
        return Fields(self, res, res.values)

    def object_id(self, res: PlannedResource) -> str:
        """The real id when known, else the address (so references by address connect)."""
        value = res.values.get("id")
        return value if isinstance(value, str) and value else res.address

    def provenance(
        self,
        res: PlannedResource,
        nested: tuple[str, Data, int] | None = None,
    ) -> Provenance:
        """Where ``res`` (or one of its inline blocks) is declared."""
        location: Location | None = None
        if self.locations is not None:
            if nested is not None:
                location = self.locations.find_nested(res.address, *nested)
            location = location or self.locations.find(res.address)
        key = (res.address, location)
        known = self._provenances.get(key)
        if known is not None:
            return known
        if location is None:
            made = Provenance(
                source="terraform", address=res.address, file=self.plan_file, start_line=1
            )
        else:
            made = Provenance(
                source="terraform",
                address=res.address,
                file=location.file,
                start_line=location.start_line,
                end_line=location.end_line,
            )
        self._provenances[key] = made
        return made

    def linked(
        self, res: PlannedResource, key: str, types: tuple[str, ...]
    ) -> tuple[list[str], bool]:
        """Ids that attribute ``key`` holds: known values, plus references followed
        through ``configuration`` when the value is unknown until apply.

        Returns the ids and whether anything stayed unresolved.
        """
        f = self.fields(res)
        raw = res.values.get(key)
        known = f.strings(key) if isinstance(raw, list) else [v for v in [f.text(key)] if v]
        if not f.is_unknown(key):
            return known, False
        referenced = [
            self.object_id(self.plan.resources[a])
            for a in self.plan.references(res, key)
            if self.plan.resources[a].type in types
        ]
        ids = list(dict.fromkeys([*known, *referenced]))
        return ids, not referenced

    def nested_linked(
        self, res: PlannedResource, block: str, index: int, key: str, types: tuple[str, ...]
    ) -> list[str]:
        """Ids an inline block's attribute refers to (``ip_configuration[0].subnet_id``)."""
        blocks = res.expressions.get(block)
        if (
            not isinstance(blocks, list)
            or index >= len(blocks)
            or not isinstance(blocks[index], dict)
        ):
            return []
        addresses = self.plan.resolve_expression(res, blocks[index].get(key))
        return [
            self.object_id(self.plan.resources[a])
            for a in addresses
            if self.plan.resources[a].type in types
        ]

    def firewall(
        self, fw_id: str, res: PlannedResource, provider: Provider, kind: FirewallKind
    ) -> FirewallDraft:
        """The draft with ``fw_id``; one not in the plan (an existing group referenced by
        id) gets a draft of its own so its rules are not lost."""
        draft = self.firewalls.get(fw_id)
        if draft is None:
            draft = FirewallDraft(
                provider=provider, kind=kind, id=fw_id, name=fw_id, provenance=self.provenance(res)
            )
            self.firewalls[fw_id] = draft
        return draft

    def add_firewall(self, draft: FirewallDraft) -> None:
        existing = self.firewalls.get(draft.id)
        if existing is not None:
            draft.rules[:0] = existing.rules  # rules from separate resources seen first
        self.firewalls[draft.id] = draft
