"""Inventory snapshots: the normalized inventory as a versioned JSON file.

``policycheck collect`` writes one, ``policycheck scan snapshot`` re-evaluates it
offline, and test fixtures are plain snapshot files. The format is the
:class:`~policycheck.model.Inventory` model serialized by pydantic, with
``schema_version`` so that an old reader refuses a newer file clearly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

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
from policycheck.model import SNAPSHOT_SCHEMA_VERSION, Inventory


def dumps(inventory: Inventory) -> bytes:
    """Serialize deterministically (sorted keys) so snapshots diff cleanly."""
    data = inventory.model_dump(mode="json")
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def loads(raw: bytes, origin: str) -> Inventory:
    """An inventory from snapshot bytes; ``origin`` names them in errors."""
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
    for name, model in _LISTS.items():
        items = data.get(name)
        if not isinstance(items, list):
            continue  # absent, or wrong: validated (and reported) with the rest below
        del data[name]
        validated: list[BaseModel] = []
        for index in range(len(items)):
            validated.append(_validate(model, items[index], origin, (name, index)))
            items[index] = None
        lists[name] = validated
    inventory = _validate(Inventory, data, origin, ())
    for name, validated in lists.items():
        setattr(inventory, name, validated)
    inventory.sources.append(f"snapshot:{origin}")
    return inventory


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], value: Any, origin: str, where: tuple[str | int, ...]) -> M:
    try:
        return model.model_validate(value)
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
