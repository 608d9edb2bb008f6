"""Inventory snapshots: the normalized inventory as a versioned JSON file.

``policycheck collect`` writes one, ``policycheck scan snapshot`` re-evaluates it
offline, and test fixtures are plain snapshot files. The format is the
:class:`~policycheck.model.Inventory` model serialized by pydantic, with
``schema_version`` so that an old reader refuses a newer file clearly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import msgspec
import orjson
from pydantic import BaseModel, ValidationError

from policycheck.errors import InputError
from policycheck.inputs import (
    decode_text,
    describe,
    describe_validation_error,
    parse_json,
    read_bytes,
)
from policycheck.model import SHARE, SNAPSHOT_SCHEMA_VERSION, Inventory, share_field_sets


def dumps(inventory: Inventory) -> bytes:
    """Serialize deterministically (sorted keys) so snapshots diff cleanly."""
    data = inventory.model_dump(mode="json")
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def loads(raw: bytes, origin: str) -> Inventory:
    """An inventory from snapshot bytes; ``origin`` names them in errors.

    A snapshot of UTF-8 JSON is read element by element (:func:`_read_elements`):
    no parsed document is built, only the bytes and the inventory are held.
    Whatever that reader refuses, and every other encoding, is read again by the
    reference reader (:func:`read_document`), which names the problem at the
    boundary as :mod:`policycheck.inputs` does for every input (or reads what
    only it can, e.g. UTF-16).
    """
    inventory = _read_elements(raw)
    if inventory is None:
        return read_document(raw, origin)
    inventory.sources.append(f"snapshot:{origin}")
    return inventory


#: The snapshot's top level as its members' encoded bytes, and a list member as its
#: elements' bytes: msgspec finds where each value starts and ends without building
#: it (~0.2 s for a 10,000-VM snapshot of 253 MiB).
_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])


def _read_elements(raw: bytes) -> Inventory | None:
    """The inventory, each VM, firewall ... validated by pydantic-core from its own
    bytes (so at most one element exists as parsed JSON), or None if anything is
    not as a valid snapshot has it.

    It accepts only what :func:`read_document` accepts: the model bounds every
    number (no reader-dependent big integers) and its nesting (far below
    :data:`~policycheck.inputs.MAX_DEPTH`), JSON itself refuses control
    characters and invalid UTF-8; DEL, which JSON allows in strings but the
    boundary refuses as binary data, is looked for here (``memchr``, fast).
    Measured on the 10,000-VM snapshot: 3.2 s and 656 MiB peak, against 5.5 s and
    1,386 MiB for parsing the document first (benchmarks/RESULTS.md).
    """
    if b"\x7f" in raw:
        return None
    context: dict[str, Any] = {SHARE: {}}
    field_sets: dict[Any, Any] = {}
    try:
        members = _MEMBERS.decode(raw)
        if bytes(members.get("schema_version", b"")) != b"%d" % SNAPSHOT_SCHEMA_VERSION:
            return None  # absent, another version, or spelled otherwise: named there
        lists: dict[str, list[BaseModel]] = {}
        for name, model in _LISTS.items():
            member = members.pop(name, None)
            if member is None:
                continue
            validate = model.__pydantic_validator__.validate_json
            items: list[BaseModel] = []
            for element in _ELEMENTS.decode(member):
                item = validate(bytes(element), context=context)
                share_field_sets(item, field_sets)
                items.append(item)
            lists[name] = items
        rest = b",".join(orjson.dumps(key) + b":" + bytes(value) for key, value in members.items())
        inventory = Inventory.model_validate_json(b"{" + rest + b"}", context=context)
    except (msgspec.DecodeError, ValidationError, InputError):
        return None
    for name, validated in lists.items():
        setattr(inventory, name, validated)
    return inventory


def read_document(raw: bytes, origin: str) -> Inventory:
    """An inventory from snapshot bytes in any encoding, every problem named as one line."""
    text = decode_text(raw, origin, "snapshot")
    del raw  # each copy of a large snapshot is dropped as soon as the next exists
    if not text or text.isspace():  # not text.strip(): that would copy the text
        raise InputError(f"{origin}: empty file")
    data = parse_json(text, origin)
    del text
    return from_document(data, origin)


def from_document(data: Any, origin: str) -> Inventory:
    """Validate a parsed snapshot into an inventory, consuming ``data``.

    The large lists (VMs, firewalls, ...) are validated item by item, and each
    item's parsed dict is dropped as soon as its model exists, so the parsed
    document and the inventory are never both held in full (about a quarter
    less peak memory on a 4,000-VM snapshot; benchmarks/RESULTS.md).
    """
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(f"{origin}: not a policycheck snapshot (no schema_version)")
    version = data["schema_version"]
    # The integer 1, not ``true`` or ``1.0`` (both compare equal to 1 in Python).
    if type(version) is not int or version != SNAPSHOT_SCHEMA_VERSION:
        raise InputError(
            f"{origin}: snapshot schema_version {describe(version)} is not supported "
            f"(this policycheck reads version {SNAPSHOT_SCHEMA_VERSION})"
        )
    lists: dict[str, list[BaseModel]] = {}
    context: dict[str, Any] = {SHARE: {}}  # equal small values shared (model._Shared)
    field_sets: dict[Any, Any] = {}
    for name, model in _LISTS.items():
        items = data.get(name)
        if not isinstance(items, list):
            continue  # absent, or wrong: validated (and reported) with the rest below
        del data[name]
        validated: list[BaseModel] = []
        for index in range(len(items)):
            item = _validate(model, items[index], origin, (name, index), context)
            share_field_sets(item, field_sets)
            validated.append(item)
            items[index] = None
        lists[name] = validated
    inventory = _validate(Inventory, data, origin, (), context)
    for name, validated in lists.items():
        setattr(inventory, name, validated)
    inventory.sources.append(f"snapshot:{origin}")
    return inventory


M = TypeVar("M", bound=BaseModel)


def _validate(
    model: type[M],
    value: Any,
    origin: str,
    where: tuple[str | int, ...],
    context: dict[str, Any],
) -> M:
    try:
        return model.model_validate(value, context=context)
    except InputError as exc:  # a rule number the cloud would refuse
        raise InputError(f"{origin}: {exc}") from exc
    except ValidationError as exc:
        detail = describe_validation_error(exc)
        if where:  # the item's place in the snapshot, then the place inside the item
            prefix = ".".join(str(p) for p in where)
            detail = f"{prefix}.{detail}" if exc.errors()[0]["loc"] else f"{prefix}: {detail}"
        raise InputError(f"{origin}: invalid snapshot at {detail}") from exc


def _list_fields() -> dict[str, type[BaseModel]]:
    """Inventory fields that are lists of models (``vms: list[VM]`` ...)."""
    out: dict[str, type[BaseModel]] = {}
    for name, info in Inventory.model_fields.items():
        args = get_args(info.annotation)
        item = args[0] if get_origin(info.annotation) is list and args else None
        if isinstance(item, type) and issubclass(item, BaseModel):
            out[name] = item
    return out


_LISTS = _list_fields()


def load(path: Path) -> Inventory:
    return loads(read_bytes(path, "snapshot"), str(path))
