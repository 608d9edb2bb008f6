"""`policycheck scan gcp` and `policycheck collect gcp` (filled in by the gcp collector work)."""

from __future__ import annotations

from policycheck.commands import CommandContext


def register(ctx: CommandContext) -> None:
    """Add the gcp commands to the CLI."""
