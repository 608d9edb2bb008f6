"""Errors that the CLI turns into one clear line and an exit code."""

from __future__ import annotations


class InputError(Exception):
    """Bad input (file, profile, plan, cloud response, credential): exit 2.

    The message is shown to the user as is, on one line; it must name the
    problem and where it is, and must never contain secrets.
    """


def one_line(text: str) -> str:
    """Collapse a message to one line so stderr stays greppable."""
    return " ".join(str(text).split())
