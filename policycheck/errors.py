"""Errors that the CLI turns into one clear line and an exit code."""

from __future__ import annotations

#: Exit codes, decided here once: 0 clean, 1 findings at/above --fail-on,
#: 2 usage or input error, 3 input incomplete.
EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3


class InputError(Exception):
    """Bad input (file, profile, plan, cloud response, credential): exit 2.

    The message is shown to the user as is, on one line; it must name the
    problem and where it is, and must never contain secrets.
    """


def one_line(text: str) -> str:
    """Collapse a message to one line so stderr stays greppable."""
    return " ".join(str(text).split())
