"""`policycheck fix`: per VM, the rule set that permits exactly its documented flows.

Same inputs as `scan` (a plan, a snapshot, a live cloud); output as Terraform or
JSON. The rule set is computed in the engine (policycheck/engine/fix.py and, per
cloud, policycheck/engine/layouts.py); this module only reads the input, renders
and writes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from policycheck.commands import CommandContext, answer_options, live_commands
from policycheck.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from policycheck.model import Inventory

F = TypeVar("F", bound=Callable[..., Any])

FIX_FORMATS = ("terraform", "json")

_EXIT_CODES = """
\b
Exit codes: 0 the rule sets were written; 1 written, but a cloud limit would be
exceeded (named on stderr and in the output); 2 bad usage or input; 3 part of
the estate could not be read (rule sets for the rest are written).
"""

_ABOUT = """
\b
Per VM with a Swyx role: the rules that permit exactly its expected flows
(`policycheck expected`: roles, profile parameters, SIP trunks, extra flows,
co-location and the server's counterparts), ranges merged where the cloud
allows, in the VM's own security group / NSGs / a network tag only it carries;
and per finding the change to the existing rule (remove it, narrow its source,
split its range, ...). The rule set replaces every rule that applies to the VM
today; the output lists them. Suppressed access is not kept: declare intended
access as extra_flows in the profile.
"""


def _fix_options(profile_option: Callable[[Any], Any]) -> Callable[[F], F]:
    def decorate(f: F) -> F:
        f = answer_options(
            FIX_FORMATS,
            default="terraform",
            format_help="terraform: resources to apply (aws_vpc_security_group_*_rule, "
            "azurerm_network_security_rule, google_compute_firewall); json: the rule "
            "sets and changes as data (docs/fix.md).",
            output_help="Write to FILE atomically instead of stdout.",
        )(f)
        return profile_option(f)  # type: ignore[no-any-return]

    return decorate


def run_fix(
    inventory: Inventory,
    *,
    profile_path: Path | None,
    fmt: str,
    output: Path | None,
    quiet: bool = False,
) -> int:
    """Fix, render, write; the exit code."""
    from policycheck import api
    from policycheck.catalog import default_catalog
    from policycheck.engine.fix import plan_fix
    from policycheck.report.fix import limit_text, render_fix_json, shared_text
    from policycheck.report.output import write_atomic
    from policycheck.report.terraform import render_terraform

    del quiet  # nothing is slow after reading the input
    catalog = default_catalog()
    result = plan_fix(inventory, api.load_profile(profile_path, catalog), catalog)
    text = render_terraform(result) if fmt == "terraform" else render_fix_json(result)
    if output is not None:
        write_atomic(output, text)
    else:
        click.echo(text, nl=not text.endswith("\n"))
    for skipped in result.skipped:
        click.echo(
            f"policycheck: no rule set for {skipped.vm_name} ({skipped.provider}): "
            f"{skipped.reason}",
            err=True,
        )
    for vm in result.vms:
        for shared in vm.shared:
            click.echo(f"policycheck: note: {vm.vm_name}: {shared_text(shared)}", err=True)
    for limit in result.limits:
        click.echo(f"policycheck: limit exceeded: {limit_text(limit)}", err=True)
    for err in result.errors:
        click.echo(f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True)
    if result.errors:
        return EXIT_INCOMPLETE
    return EXIT_FINDINGS if result.limits else EXIT_OK


def register(ctx: CommandContext) -> None:
    """Add `policycheck fix` and its inputs to the CLI."""
    options = _fix_options(ctx.profile_option)

    @ctx.root.group(epilog=_EXIT_CODES)
    def fix() -> None:
        """Write the rule set each Swyx VM needs, as Terraform or JSON.

        \b
        Examples:
          policycheck fix terraform plan.json > swyx-rules.tf
          policycheck fix terraform plan.json --format json -o fix.json
          policycheck fix snapshot inventory.json --profile swyx.yaml
          policycheck fix aws --region eu-central-1
        """

    @fix.command("terraform", epilog=_ABOUT + _EXIT_CODES)
    @click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
    @click.option(
        "--tf-dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Directory of the .tf sources, for file/line locations (default: the plan's).",
    )
    @options
    def fix_terraform(plan: Path, tf_dir: Path | None, **opts: Any) -> None:
        """Rule sets for the VMs of a Terraform plan (terraform show -json output).

        Existing security groups and NSGs are referenced by their Terraform
        address, so the output can go next to the plan's .tf files.
        """
        from policycheck.sources import terraform

        sys.exit(run_fix(terraform.load_plan(plan, tf_dir=tf_dir), **opts))

    @fix.command("snapshot", epilog=_ABOUT + _EXIT_CODES)
    @click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
    @options
    def fix_snapshot(path: Path, **opts: Any) -> None:
        """Rule sets for the VMs of an inventory snapshot (policycheck collect)."""
        from policycheck.sources import snapshot

        sys.exit(run_fix(snapshot.load(path), **opts))

    def fix_live(
        load: Callable[[], Inventory],
        fmt: str,
        output: Path | None,
        quiet: bool,
        profile_path: Path | None,
    ) -> None:
        inventory = load()
        sys.exit(run_fix(inventory, profile_path=profile_path, fmt=fmt, output=output, quiet=quiet))

    live_commands(
        fix,
        options,
        fix_live,
        lambda live: (
            f"Rule sets for the VMs of a live {live.title} estate (read-only), "
            f"with the options of `scan {live.name}`. Existing firewall objects are named "
            "by id."
        ),
        _ABOUT,
        epilog_end=_EXIT_CODES,
        shards=True,
    )
