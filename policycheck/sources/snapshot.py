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
from policycheck.model import SNAPSHOT_SCHEMA_VERSION, Inventory


def dumps(inventory: Inventory) -> bytes:
    """Serialize deterministically (sorted keys) so snapshots diff cleanly."""
    data = inventory.model_dump(mode="json")
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def loads(raw: bytes, origin: str) -> Inventory:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{origin}: not a JSON snapshot: {exc}") from exc
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(f"{origin}: not a policycheck snapshot (no schema_version)")
    version = data["schema_version"]
    if version != SNAPSHOT_SCHEMA_VERSION:
        raise InputError(
            f"{origin}: snapshot schema_version {version!r} is not supported "
            f"(this policycheck reads version {SNAPSHOT_SCHEMA_VERSION})"
        )
    try:
        inventory = Inventory.model_validate(data)
    except InputError as exc:  # a rule number the cloud would refuse
        raise InputError(f"{origin}: {exc}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{origin}: invalid snapshot at {loc}: {err['msg']}") from exc
    inventory.sources.append(f"snapshot:{origin}")
    return inventory


def load(path: Path) -> Inventory:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read snapshot: {exc.strerror}") from exc
    if not raw.strip():
        raise InputError(f"{path}: empty file")
    return loads(raw, str(path))
