"""Process-level memory policy for a scan: the cyclic garbage collector.

Reading a plan or snapshot builds hundreds of thousands of small objects (dicts,
pydantic models) and no reference cycles; evaluation then allocates many short-
lived ones. With the default thresholds CPython's cyclic collector keeps walking
all of them: measured on a 1,000-VM snapshot (benchmarks/RESULTS.md, "Garbage
collector"), 10.5 s of a 60 s scan were collections (2.5 s of the 4.4 s load),
freeing nothing; peak memory is the same with the collector off.

So: no cyclic collection while an input is read (:func:`bulk_load`), and what it
read is moved to the permanent generation before collection resumes (and again,
with the profile and catalog, by :func:`freeze_inputs`), so later collections
never traverse it. Freezing only after the profile was read let the first full
collection walk the whole inventory: 0.3 s of a 1,000-VM scan
(benchmarks/RESULTS.md). Evaluation pauses collection too (:func:`evaluating`);
it resumes for writing the reports.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_load() -> Iterator[None]:
    """Pause cyclic garbage collection while a large input is read; what was read
    is exempt from collections afterwards (it lives until the process ends)."""
    with _paused_then_frozen():
        yield


def freeze_inputs() -> None:
    """Exempt every object alive now (the inventory, profile, catalog, imported
    modules) from future collections; they live until the process ends anyway."""
    gc.freeze()


@contextmanager
def evaluating() -> Iterator[None]:
    """No cyclic collection while the engine evaluates either: it builds no
    reference cycles, and what it keeps (each VM's access, expected flows and
    findings) only grows, so each collection walked more of it for nothing: 7.8 s
    of the 19.7 s evaluation of a 10,000-VM snapshot (benchmarks/RESULTS.md).

    What it kept is frozen as it ends: the result lives until the process ends,
    and collections while the reports are written walked all of it (3,000-VM
    snapshot: SARIF written in 0.14 s instead of 0.23 s)."""
    with _paused_then_frozen():
        yield


@contextmanager
def _paused_then_frozen() -> Iterator[None]:
    """No cyclic collection inside; what is alive when the block ends is frozen
    (exempt from later collections); the collector's prior state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if was_enabled:
            gc.enable()
