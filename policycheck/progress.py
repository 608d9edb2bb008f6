"""Progress display for collectors: a spinner on a terminal, silence elsewhere.

Collectors report progress through a plain ``Callable[[str], None]`` so they stay
free of any UI; this module turns that into a rich status line on stderr, and
into nothing when output is piped, in CI, or with ``--quiet``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


def wanted(quiet: bool) -> bool:
    """Progress only helps a person watching a terminal."""
    return not quiet and not os.environ.get("CI") and sys.stderr.isatty()


@contextmanager
def progress_display(title: str, quiet: bool) -> Iterator[Callable[[str], None] | None]:
    """Yield a progress callback (or None when no display is wanted)."""
    if not wanted(quiet):
        yield None
        return
    console = Console(stderr=True)
    done = 0
    lock = threading.Lock()
    with console.status(title) as status:

        def report(message: str) -> None:
            nonlocal done
            # Collectors call this from worker threads; rich's console has its own lock.
            with lock:
                done += 1
                count = done
            console.print(f"  {message}", highlight=False, soft_wrap=True)
            status.update(f"{title} ({count} done)")

        yield report
