"""`policycheck drift`: what Terraform declares against what runs in the cloud.

The plan is read as for `scan terraform`; the cloud side is a snapshot
(`--inventory FILE`, written by `policycheck collect`) or a live read
(`drift --plan PLAN aws|azure|gcp ...`). The comparison is the engine's
(policycheck/engine/drift.py); findings SWYX008 are reported like a scan's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from policycheck.commands import live_commands
from policycheck.model import Inventory
from policycheck.report.output import Destination

_ABOUT = """
\b
Rules are compared per firewall object (security group, NSG, NACL, GCP firewall
rule or policy), matched by cloud id, else by name; a cloud's platform rules
(Azure default rules, GCP predefined policy rules) are not drift. Every
difference is a finding SWYX008 with the Terraform address and the cloud id:
  added    in the cloud, not in the plan (e.g. added by hand in the console)
  missing  in the plan, not in the cloud
  changed  in both, with other values (which ones, each side's value)
Values the plan knows only after apply match any cloud value. docs/drift.md.

\b
Exit codes: 0 no drift, 1 drift (findings at/above --fail-on), 2 bad usage or
input, 3 part of the estate could not be read or matched.
"""

_NO_PLAN = "--plan PLAN is required (terraform show -json output), before the live source"


def run_drift(
    plan: Path,
    tf_dir: Path | None,
    load_cloud: Callable[[], Inventory],
    *,
    destinations: list[Destination],
    inputs: tuple[Path, ...] = (),
    fail_on: str = "error",
    category: str | None = None,
    quiet: bool = False,
) -> int:
    """Read both sides, compare, report (as a scan does: app.deliver); the exit code."""
    from policycheck import __version__, api
    from policycheck.app import deliver
    from policycheck.engine.drift import drift
    from policycheck.findings import ScanResult
    from policycheck.report.output import check_output_path

    del quiet  # the live readers show their own progress
    for dest in destinations:
        if dest.path is not None:
            check_output_path(dest.path, [plan, *inputs])
    declared = api.load_plan(plan, tf_dir=tf_dir)
    cloud = load_cloud()
    found = drift(declared, cloud)
    result = ScanResult(
        tool_version=__version__,
        sources=[*declared.sources, *cloud.sources],
        firewall_count=found.compared,
        findings=found.findings,
        errors=[*declared.errors, *cloud.errors, *found.errors],
    )
    return deliver(result, destinations, fail_on=fail_on, category=category)


def register(root: click.Group, output_options: Callable[[Any], Any]) -> None:
    """Add `policycheck drift` (and its live sources) to the CLI."""

    @root.group(invoke_without_command=True, epilog=_ABOUT)
    @click.option(
        "--plan",
        type=click.Path(path_type=Path, dir_okay=False),
        metavar="PLAN",
        help="The Terraform plan JSON (terraform show -json tfplan). Required.",
    )
    @click.option(
        "--tf-dir",
        type=click.Path(path_type=Path, exists=True, file_okay=False),
        help="Directory of the .tf sources, for file/line locations (default: the plan's).",
    )
    @click.option(
        "--inventory",
        type=click.Path(path_type=Path, dir_okay=False),
        metavar="FILE",
        help="The cloud side: a snapshot written by `policycheck collect`. Or name a live "
        "source instead: drift --plan PLAN aws|azure|gcp [its options].",
    )
    @output_options
    @click.pass_context
    def drift(
        ctx: click.Context,
        /,
        plan: Path | None,
        tf_dir: Path | None,
        inventory: Path | None,
        **opts: Any,
    ) -> None:
        """Compare the firewall rules a Terraform plan declares with the cloud's.

        \b
        Examples:
          policycheck collect aws --region eu-central-1 -o inventory.json
          policycheck drift --plan plan.json --inventory inventory.json
          policycheck drift --plan plan.json --format sarif -o drift.sarif \\
                            aws --region eu-central-1
          policycheck drift --plan plan.json azure --subscription 1b2c...
        """
        if ctx.invoked_subcommand is not None:
            if inventory is not None:
                raise click.UsageError(
                    f"--inventory and the live source {ctx.invoked_subcommand} exclude "
                    "each other: give one"
                )
            ctx.obj = {"plan": plan, "tf_dir": tf_dir, "opts": opts}
            return
        if plan is None:
            raise click.UsageError(_NO_PLAN)
        if inventory is None:
            raise click.UsageError(
                "give the cloud side: --inventory FILE (policycheck collect) or a live "
                "source, e.g. drift --plan PLAN aws --region eu-central-1"
            )
        from policycheck import api

        sys.exit(
            run_drift(
                plan, tf_dir, lambda: api.load_snapshot(inventory), inputs=(inventory,), **opts
            )
        )

    def drift_live(load: Callable[[], Inventory], **sub_opts: Any) -> None:
        ctx = click.get_current_context()
        parent = ctx.obj
        assert isinstance(parent, dict)
        if parent["plan"] is None:
            raise click.UsageError(_NO_PLAN)
        # An output option given after the source wins over one given before it.
        opts = dict(parent["opts"])
        given = {
            key
            for key in ("fmt", "outputs", "fail_on", "category", "quiet")
            if ctx.get_parameter_source(key) is not click.core.ParameterSource.DEFAULT
        }
        if given & {"fmt", "outputs"}:
            opts["destinations"] = sub_opts["destinations"]
        for key in given & {"fail_on", "category", "quiet"}:
            opts[key] = sub_opts[key]
        sys.exit(run_drift(parent["plan"], parent["tf_dir"], load, **opts))

    live_commands(
        drift,
        output_options,
        drift_live,
        lambda live: (
            f"Compare the plan (drift --plan PLAN) with the live {live.title} estate "
            f"(read-only calls, with the options of `scan {live.name}`)."
        ),
        _ABOUT,
    )
