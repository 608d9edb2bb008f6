"""The snapshot's two readers agree (policycheck/sources/snapshot.py).

A snapshot is read element by element (each VM and firewall validated from its
own bytes, no parsed document); whatever that reader refuses goes to the
reference reader, which parses the document first and names the problem. The
fast reader must therefore never accept what the reference refuses, nor read a
value differently: checked here on every model kind of the three clouds, on
targeted hostile spellings and by hypothesis on mutated snapshots.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import json_trees
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from policycheck.errors import InputError
from policycheck.model import Inventory, PortRange, Provenance
from policycheck.sources import snapshot
from policycheck.sources.terraform import load_plan

TF = Path(__file__).resolve().parent.parent / "fixtures" / "terraform"
PLANS = ("aws-broken", "aws-inline-ignore", "azure-broken", "gcp-broken")


@functools.cache
def _snapshot_bytes() -> bytes:
    """One snapshot of every model kind: three clouds, inline ignores, errors."""
    inventory = Inventory()
    for name in PLANS:
        inventory = inventory.merge(load_plan(TF / name / "plan.json"))
    assert inventory.vms and inventory.firewalls and inventory.inline_ignores
    return snapshot.dumps(inventory)


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_snapshot_bytes())
    return doc


def _outcome(read: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", read(raw, "inv.json").model_dump(mode="json")
    except InputError as exc:
        return "error", str(exc)


def _agree(raw: bytes) -> tuple[str, Any]:
    """Both readers give the same inventory or the same one-line error."""
    outcome = _outcome(snapshot.loads, raw)
    assert outcome == _outcome(snapshot.read_document, raw)
    return outcome


def test_a_valid_snapshot_is_read_element_by_element_and_equal() -> None:
    raw = _snapshot_bytes()
    fast = snapshot._read_elements(raw)
    assert fast is not None, "the element reader refused a valid snapshot"
    assert _agree(raw)[0] == "ok"
    # The element reader, not the fallback, produced what loads returns.
    fast.sources.append("snapshot:inv.json")
    assert fast.model_dump() == snapshot.read_document(raw, "inv.json").model_dump()


def test_equal_small_values_are_one_object() -> None:
    """366,000 port ranges of 28 values in a 10,000-VM snapshot: one object each."""
    for read in (snapshot.loads, snapshot.read_document):
        inventory = read(_snapshot_bytes(), "inv.json")
        ranges: dict[PortRange, set[int]] = {}
        provenances: dict[Provenance, set[int]] = {}
        seen = 0
        for fw in inventory.firewalls:
            provenances.setdefault(fw.provenance, set()).add(id(fw.provenance))
            for rule in fw.rules:
                provenances.setdefault(rule.provenance, set()).add(id(rule.provenance))
                for port in (*rule.ports, *rule.source_ports):
                    ranges.setdefault(port, set()).add(id(port))
                    seen += 1
        assert seen > 2 * len(ranges)  # values repeat
        assert all(len(ids) == 1 for ids in ranges.values())
        assert all(len(ids) == 1 for ids in provenances.values())


def test_equal_field_records_are_one_set_and_stay_apart_when_copied() -> None:
    """pydantic's per-instance record of given fields is shared between models
    given the same fields; copying one with an update never touches the others."""
    for read in (snapshot.loads, snapshot.read_document):
        inventory = read(_snapshot_bytes(), "inv.json")
        rules = [rule for fw in inventory.firewalls for rule in fw.rules]
        assert len(rules) > 2
        records = {id(rule.model_fields_set) for rule in rules}
        assert len(records) < len(rules) / 2
        first, second = rules[0], rules[1]
        assert first.model_fields_set == second.model_fields_set
        before = set(second.model_fields_set)
        copy = first.model_copy(update={"description": "changed"})
        assert copy.description == "changed" and "description" in copy.model_fields_set
        assert set(second.model_fields_set) == before
        with pytest.raises(ValidationError):
            second.name = "renamed"  # type: ignore[misc]
        assert set(first.model_fields_set) == before == set(second.model_fields_set)
        # What a reader sees is unchanged: the dump leaving out unset fields.
        expected = json.loads(_snapshot_bytes())["firewalls"][0]["rules"][0]
        assert first.model_dump(mode="json", exclude_unset=True) == expected


def _first_rule_port(doc: dict[str, Any]) -> dict[str, Any]:
    port: dict[str, Any] = doc["firewalls"][0]["rules"][0]["ports"][0]
    return port


def _spelled(old: str, new: str, count: int = 1) -> bytes:
    text = _snapshot_bytes().decode()
    assert old in text
    return text.replace(old, new, count).encode()


def _with(mutate: Any) -> bytes:
    doc = _doc()
    mutate(doc)
    return json.dumps(doc).encode()


HOSTILE = {
    "del-in-a-name": lambda: _spelled('"name": "', '"name": "\x7f'),
    "escaped-del-in-a-name": lambda: _with(lambda d: d["vms"][0].update(name="pbx\x7f")),
    "control-char-in-a-name": lambda: _spelled('"name": "', '"name": "\x01'),
    "invalid-utf8": lambda: _spelled('"name": "', '"name": "\xff').replace(b"\xc3\xbf", b"\xff"),
    "bom": lambda: b"\xef\xbb\xbf" + _snapshot_bytes(),
    "utf-16": lambda: _snapshot_bytes().decode().encode("utf-16"),
    "priority-20-digits": lambda: _spelled('"priority": null', '"priority": 18446744073709551616'),
    "priority-30-digits": lambda: _spelled('"priority": null', '"priority": 1' + "0" * 30),
    "line-400-digits": lambda: _spelled('"start_line": 31', '"start_line": 1' + "0" * 400),
    "port-as-true": lambda: _with(lambda d: _first_rule_port(d).update(lo=True)),
    "port-as-float": lambda: _with(lambda d: _first_rule_port(d).update(lo=1.0)),
    "disabled-as-text": lambda: _spelled('"disabled": false', '"disabled": "false"'),
    "schema-true": lambda: _with(lambda d: d.update(schema_version=True)),
    "schema-float": lambda: _with(lambda d: d.update(schema_version=1.0)),
    "schema-text": lambda: _with(lambda d: d.update(schema_version="1")),
    "schema-2": lambda: _with(lambda d: d.update(schema_version=2)),
    "schema-absent": lambda: _with(lambda d: d.pop("schema_version")),
    "schema-twice": lambda: _spelled("{", '{"schema_version": 2,'),
    "vm-twice-key": lambda: _spelled('"name": "', '"name": 7, "name": "'),
    "top-level-list": lambda: b"[" + _snapshot_bytes() + b"]",
    "unknown-top-key": lambda: _with(lambda d: d.update(surprise=1)),
    "unknown-vm-key": lambda: _with(lambda d: d["vms"][0].update(surprise=1)),
    "vms-null": lambda: _with(lambda d: d.update(vms=None)),
    "vms-object": lambda: _with(lambda d: d.update(vms={})),
    "vms-absent": lambda: _with(lambda d: d.pop("vms")),
    "deep-tags": lambda: _with(lambda d: d["vms"][0].update(tags=[[[[[[[[["deep"]]]]]]]]])),
    "very-deep": lambda: _spelled('"tags": {', '"tags": ' + "[" * 300 + "]" * 300 + ', "t": {'),
    "truncated": lambda: _snapshot_bytes()[:-100],
    "trailing-garbage": lambda: _snapshot_bytes() + b"{}",
    "empty": lambda: b"",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_readers_agree_on_hostile_spellings(case: str) -> None:
    _agree(HOSTILE[case]())


json_values = json_trees.json_values(width=3, key_size=8, max_leaves=12, infinity=False)


@functools.cache
def _all_paths() -> list[tuple[Any, ...]]:
    return [p for p in json_trees.paths(_doc()) if p]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=json_values)
def test_readers_agree_on_any_value_anywhere(data: st.DataObject, value: Any) -> None:
    doc = _doc()
    path = data.draw(st.sampled_from(_all_paths()))
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    _agree(json.dumps(doc).encode())
