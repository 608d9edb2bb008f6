"""Inventory snapshots: the normalized inventory as a versioned JSON file.

``policycheck collect`` writes one, ``policycheck scan snapshot`` re-evaluates it
offline, and test fixtures are plain snapshot files. The format is the
:class:`~policycheck.model.Inventory` model serialized by pydantic, with
``schema_version`` so that an old reader refuses a newer file clearly.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import ValidationError

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
    if not text.strip():
        raise InputError(f"{origin}: empty file")
    data = parse_json(text, origin)
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(f"{origin}: not a policycheck snapshot (no schema_version)")
    version = data["schema_version"]
    # The integer 1, not ``true`` or ``1.0`` (both compare equal to 1 in Python).
    if type(version) is not int or version != SNAPSHOT_SCHEMA_VERSION:
        raise InputError(
            f"{origin}: snapshot schema_version {describe(version)} is not supported "
            f"(this policycheck reads version {SNAPSHOT_SCHEMA_VERSION})"
        )
    try:
        inventory = Inventory.model_validate(data)
    except InputError as exc:  # a rule number the cloud would refuse
        raise InputError(f"{origin}: {exc}") from exc
    except ValidationError as exc:
        raise InputError(f"{origin}: invalid snapshot at {describe_validation_error(exc)}") from exc
    inventory.sources.append(f"snapshot:{origin}")
    return inventory


def load(path: Path) -> Inventory:
    return loads(read_bytes(path, "snapshot"), str(path))
