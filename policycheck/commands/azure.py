"""`policycheck scan azure` and `policycheck collect azure` (filled in by the azure collector work)."""

from __future__ import annotations

from policycheck.commands import CommandContext


def register(ctx: CommandContext) -> None:
    """Add the azure commands to the CLI."""
