"""The input document in bounded batches, and the batches' answers as one.

rego-cpp 1.5 builds a set in time quadratic in its size, so one evaluation over
a large estate never finishes; its cost is bounded by evaluating the estate in
batches of VMs, the way conftest evaluates each input file on its own unless
``--combine``. A batch is a schema_version 1 document like the whole one:

- ``vms``: the batch's VMs (in the order the native pass evaluated them);
- ``firewalls``: exactly the firewall objects (with all their rules) those VMs
  are attached to or whose rules their regions name; firewall objects no VM
  uses come in batches of their own, without VMs;
- everything estate-wide as in the whole document (``sources``, ``profile``),
  and ``batch``: ``{"index", "count"}``.

A policy that reports per VM, region, firewall or rule therefore gives the same
results in batches as on the whole document; results that several batches give
(a shared firewall's) are one result, as they are one element of the whole
document's set. What needs several VMs at once (counting VMs, comparing two VMs)
needs the whole document: ``--rego-batch all``. docs/rego.md ("Batches").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

Json = dict[str, Any]

#: VMs per batch by default: the cheapest per VM on the benchmark estates
#: (benchmarks/RESULTS.md, "Rego path"); smaller batches repeat the shared
#: firewalls more often, larger ones pay rego-cpp's quadratic sets.
DEFAULT_BATCH = 5
#: Firewall-only batches hold about as many rules as a batch of VMs sees
#: (about 20 rules per VM in the benchmark estates).
RULES_PER_VM = 20


def split(document: Json, size: int | None) -> list[Json]:
    """The batches of ``document`` (``size`` VMs each; ``None``: the whole)."""
    vms: dict[str, Json] = document["vms"]
    firewalls: dict[str, Json] = document["firewalls"]
    if size is None:
        return [_batch(document, vms, firewalls)]
    ids = list(vms)
    groups = [ids[i : i + size] for i in range(0, len(ids), size)]
    order = {fw_id: i for i, fw_id in enumerate(firewalls)}
    used: set[str] = set()
    parts: list[tuple[dict[str, Json], dict[str, Json]]] = []
    for group in groups:
        named = {fw for vm_id in group for fw in referenced(vms[vm_id]) if fw in order}
        used |= named
        # Document order, so that a batch is the same whatever the set order.
        ordered = sorted(named, key=order.__getitem__)
        parts.append(({i: vms[i] for i in group}, {k: firewalls[k] for k in ordered}))
    unused = [k for k in firewalls if k not in used]
    for chunk in _by_rules(unused, firewalls, size * RULES_PER_VM):
        parts.append(({}, {k: firewalls[k] for k in chunk}))
    if not parts:  # an estate without VMs or firewalls still has a document
        parts.append(({}, {}))
    return [
        _batch(document, part_vms, part_fws, index, len(parts))
        for index, (part_vms, part_fws) in enumerate(parts)
    ]


def referenced(vm: Json) -> Iterator[str]:
    """The firewall ids a VM's document names: attachments and responsible rules."""
    for attachment in vm["firewalls"]:
        yield attachment["id"]
    for rules in vm["rule_sets"]:
        for ref in rules:
            yield ref["firewall"]


def _by_rules(ids: Sequence[str], firewalls: dict[str, Json], limit: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    rules = 0
    for fw_id in ids:
        size = max(1, len(firewalls[fw_id]["rules"]))
        if chunk and rules + size > limit:
            yield chunk
            chunk, rules = [], 0
        chunk.append(fw_id)
        rules += size
    if chunk:
        yield chunk


def _batch(
    document: Json,
    vms: dict[str, Json],
    firewalls: dict[str, Json],
    index: int = 0,
    count: int = 1,
) -> Json:
    return {
        **document,
        "firewalls": firewalls,
        "vms": vms,
        "batch": {"index": index, "count": count},
    }


def union(answers: Iterable[tuple[bool, Any]]) -> tuple[bool, Any]:
    """One answer from the batches' answers to one query.

    Sets (lists) are united, an element several batches give kept once (as a
    set of the whole document holds it once), in the order first given. Any
    other value is the first batch's: the caller reports a rule that is not a set.
    """
    values = [value for defined, value in answers if defined]
    if not values:
        return False, None
    if not all(isinstance(v, list) for v in values):
        return True, next(v for v in values if not isinstance(v, list))
    seen: set[bytes] = set()
    out: list[Any] = []
    for value in values:
        for element in value:
            key = orjson.dumps(element, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
            if key not in seen:
                seen.add(key)
                out.append(element)
    return True, out
