"""The Terraform plan source: ``terraform show -json`` output -> normalized inventory.

It knows nothing about Swyx: it states what the plan will deploy (security groups,
NSGs, GCP firewall rules, VMs and what attaches to what), marks what is unknown
until apply, and points every rule at the ``.tf`` block that declares it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from policycheck.errors import InputError
from policycheck.inputs import describe_validation_error
from policycheck.model import Inventory
from policycheck.sources import tf_aws, tf_azure, tf_gcp
from policycheck.sources.tfbuild import Context
from policycheck.sources.tflocations import display_path, load_locations
from policycheck.sources.tfplan import Plan

_TRANSLATORS = (tf_aws.translate, tf_azure.translate, tf_gcp.translate)


def load_plan(
    plan: Path, tf_dir: Path | None = None, warn: Callable[[str], None] | None = None
) -> Inventory:
    """Read a plan JSON file; ``tf_dir`` (default: the plan's directory) holds the .tf files.

    A .tf file that cannot be read only loses its file:line locations; ``warn``
    hears about each such file once.
    """
    parsed = Plan.load(plan)
    source_dir = tf_dir if tf_dir is not None else plan.parent
    locations = load_locations(source_dir)
    for problem in locations.unreadable:
        if warn is not None:
            warn(f"{problem}; its findings are reported without line numbers")
    ctx = Context(
        plan=parsed,
        locations=locations if locations.resources else None,
        plan_file=display_path(plan),
    )
    try:
        for translate in _TRANSLATORS:
            translate(ctx)
        try:
            firewalls = [draft.freeze() for draft in ctx.firewalls.values()]
        except InputError as exc:  # a rule number the cloud would refuse
            raise InputError(f"{ctx.plan_file}: {exc}") from exc
    except ValidationError as exc:
        # The translators check fields by name; this is the net under them, so a
        # value the model refuses is still one line naming the plan, never a crash.
        raise InputError(f"{plan}: {exc.title}: {describe_validation_error(exc)}") from None
    return Inventory(
        sources=[f"terraform:{plan}"],
        vms=ctx.vms,
        firewalls=firewalls,
        networks=ctx.networks,
        inline_ignores=list(locations.ignores.values()),
        address_groups=ctx.address_groups,
        errors=ctx.errors,
    )
