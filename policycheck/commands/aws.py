"""`policycheck scan aws` and `policycheck collect aws` (filled in by the aws collector work)."""

from __future__ import annotations

from policycheck.commands import CommandContext


def register(ctx: CommandContext) -> None:
    """Add the aws commands to the CLI."""
