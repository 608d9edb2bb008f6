"""policycheck as a library: the steps the CLI takes, for tools that embed the check.

Read an inventory (a Terraform plan, a snapshot, or a live cloud estate), evaluate
it with a deployment profile, render the result, and decide the exit code::

    from policycheck import api

    inventory = api.load_plan("plan.json")
    result = api.evaluate(inventory, api.load_profile("swyx-profile.yaml"))
    print(api.render(result, "markdown"))
    raise SystemExit(api.exit_code(result, fail_on="error"))

The ``policycheck`` command is built on exactly these functions (docs/api.md).
Bad input raises :class:`~policycheck.errors.InputError` with a one-line message;
a live source whose optional dependencies are missing raises its subclass
:class:`~policycheck.extras.MissingExtraError`, naming the ``pip install`` line.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from policycheck.catalog import Catalog, default_catalog
from policycheck.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, InputError
from policycheck.extras import MissingExtraError, require
from policycheck.findings import LEVEL_ORDER, Finding, ScanResult
from policycheck.model import VM, Inventory
from policycheck.profile import Profile
from policycheck.report import FORMATS, Format
from policycheck.shard import Shard

if TYPE_CHECKING:
    # Imported when asked for (module __getattr__ below): a scan without
    # --baseline never builds its models.
    from policycheck.baseline import Baseline

PathLike = str | os.PathLike[str]
#: Called by the live collectors with one line per region/subscription/project read.
Progress = Callable[[str], None]
RegoEngine = Literal["off", "embedded", "opa"]
FailOn = Literal["error", "warning", "note", "never"]


def __getattr__(name: str) -> Any:
    """``api.Baseline``, imported on first use."""
    if name == "Baseline":
        from policycheck.baseline import Baseline

        return Baseline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "Baseline",
    "Catalog",
    "FailOn",
    "Finding",
    "Format",
    "InputError",
    "Inventory",
    "MissingExtraError",
    "Profile",
    "Progress",
    "RegoEngine",
    "ScanResult",
    "collect_aws",
    "collect_azure",
    "collect_gcp",
    "compare_baseline",
    "discover_profile",
    "dump_snapshot",
    "evaluate",
    "exit_code",
    "load_baseline",
    "load_plan",
    "load_profile",
    "load_snapshot",
    "render",
]


# ------------------------------------------------------------------- inputs


def load_plan(
    path: PathLike, *, tf_dir: PathLike | None = None, warn: Callable[[str], None] | None = None
) -> Inventory:
    """A Terraform plan (``terraform show -json tfplan > plan.json``) as an inventory.

    ``tf_dir`` holds the ``.tf`` sources that findings point at (default: the
    plan's directory); ``warn`` hears once about each .tf file that cannot be read
    (it only loses its file:line locations).
    """
    from policycheck.sources import terraform

    source_dir = None if tf_dir is None else Path(tf_dir)
    return terraform.load_plan(Path(path), tf_dir=source_dir, warn=warn)


def load_snapshot(path: PathLike) -> Inventory:
    """An inventory snapshot written by ``policycheck collect`` (or :func:`dump_snapshot`)."""
    from policycheck.sources import snapshot

    return snapshot.load(Path(path))


def dump_snapshot(inventory: Inventory) -> bytes:
    """The snapshot file's bytes for ``inventory`` (sorted keys, so snapshots diff)."""
    from policycheck.sources import snapshot

    return snapshot.dumps(inventory)


def collect_aws(
    *,
    regions: Sequence[str] | None = None,
    aws_profile: str | None = None,
    role_arns: Sequence[str] = (),
    endpoint_url: str | None = None,
    max_workers: int = 8,
    progress: Progress | None = None,
    timeout: float | None = None,
    shard: Shard | None = None,
) -> Inventory:
    """Read security groups, network ACLs and instances from live AWS (read-only calls).

    ``regions=None`` reads every region enabled for the account; each role in
    ``role_arns`` is assumed and its account read. Needs the ``aws`` extra.
    """
    require("aws", "reading AWS")
    from policycheck.sources.aws import AwsOptions, collect

    options = AwsOptions(
        regions=list(regions) if regions else None,
        profile=aws_profile,
        role_arns=list(role_arns),
        endpoint_url=endpoint_url,
        max_workers=max_workers,
        progress=progress,
        shard=shard,
    )
    if timeout is not None:  # else the source's own default
        options.timeout = timeout
    return collect(options)


def collect_azure(
    *,
    subscriptions: Sequence[str] | None = None,
    endpoint: str | None = None,
    max_workers: int = 8,
    disable_instance_discovery: bool = False,
    progress: Progress | None = None,
    timeout: float | None = None,
    shard: Shard | None = None,
) -> Inventory:
    """Read NSGs, NICs, VNets and VMs from live Azure subscriptions (GET calls only).

    ``subscriptions=None`` reads every subscription the identity sees; the
    credential is ``DefaultAzureCredential``. Needs the ``azure`` extra.
    """
    require("azure", "reading Azure")
    from policycheck.sources.azure import AzureOptions, collect

    options = AzureOptions(
        subscriptions=list(subscriptions) if subscriptions else None,
        base_url=endpoint,
        max_workers=max_workers,
        progress=progress,
        disable_instance_discovery=disable_instance_discovery,
        shard=shard,
    )
    if timeout is not None:  # else the source's own default
        options.timeout = timeout
    return collect(options)


def collect_gcp(
    *,
    projects: Sequence[str] = (),
    organization: str | None = None,
    endpoint: str | None = None,
    max_workers: int = 8,
    progress: Progress | None = None,
    timeout: float | None = None,
    shard: Shard | None = None,
) -> Inventory:
    """Read VPC firewall rules, firewall policies and instances from live GCP projects.

    No ``projects``: the application default credentials' project. ``organization``
    adds its hierarchical firewall policies. Needs the ``gcp`` extra.
    """
    require("gcp", "reading GCP")
    from policycheck.sources.gcp import GcpOptions, collect

    options = GcpOptions(
        projects=list(projects),
        organization=organization,
        api_endpoint=endpoint,
        max_workers=max_workers,
        progress=progress,
        shard=shard,
    )
    if timeout is not None:  # else the source's own default
        options.timeout = timeout
    return collect(options)


# ----------------------------------------------------------------- evaluate


def load_profile(path: PathLike | None = None, catalog: Catalog | None = None) -> Profile:
    """A deployment profile (YAML), validated strictly; ``None`` gives the defaults.

    The result's ``profile`` names the file (None for the defaults)."""
    from policycheck.profile import load_profile as _load

    return _load(None if path is None else Path(path), catalog or default_catalog())


def discover_profile(start: PathLike | None = None) -> Path | None:
    """The profile the CLI uses without ``--profile``: ``.policycheck.yaml`` in
    ``start`` (default: the current directory), else at the root of its git
    repository; None if there is none. Pass it to :func:`load_profile`."""
    from policycheck.profile import discover_profile as _discover

    return _discover(None if start is None else Path(start))


def evaluate(
    inventory: Inventory,
    profile: Profile | None = None,
    *,
    catalog: Catalog | None = None,
    rego: RegoEngine = "off",
    opa_url: str | None = None,
    policy_dirs: Sequence[PathLike] = (),
    rego_timeout: float | None = None,
    rego_batch: int | Literal["all"] | None = None,
    rego_engine: Literal["rego-cpp", "opa"] = "rego-cpp",
    rego_input: PathLike | None = None,
    today: dt.date | None = None,
    select: Callable[[VM], bool] | None = None,
    evidence: bool = False,
) -> ScanResult:
    """Compare what each VM can really be reached by with what its Swyx roles need.

    ``rego="embedded"`` (``rego`` extra) or ``"opa"`` with ``opa_url`` decide
    SWYX001-SWYX003 with ``policies/swyx.rego`` instead of natively.
    ``policy_dirs`` (with the profile's ``policy_dirs``) are folders of your own
    Rego policies, whose ``deny``/``warn``/``info`` results are added as findings
    (on OPA with ``rego="opa"``, else embedded; docs/rego.md). ``rego_timeout``:
    seconds the Rego evaluation may take; ``rego_batch``: VMs per Rego evaluation
    (default 5), or ``"all"`` for the whole estate in one input document
    (docs/rego.md, "Batches"); ``rego_engine``: the embedded engine, ``rego-cpp``
    (default) or ``opa`` (OPA's Go library, docs/rego.md "Engines");
    ``rego_input``: also write the input document there. ``today`` decides
    which suppressions have expired (default: the current date). ``select``
    evaluates only the VMs it accepts (one shard's, docs/sharding.md);
    the whole inventory still resolves peers and servers.
    ``evidence`` adds each VM's checked flows and their status (``result.evidence``).
    """
    cat = catalog or default_catalog()
    prof = profile if profile is not None else load_profile(None, cat)
    dirs = [Path(d) for d in (*policy_dirs, *prof.policy_dirs)]
    if opa_url and rego != "opa":
        raise InputError("--opa-url is set but --rego is not opa: add --rego opa")
    if rego == "off" and not dirs and rego_input is None:
        from policycheck.engine.evaluate import evaluate as _evaluate

        return _evaluate(inventory, prof, cat, today=today, select=select, evidence=evidence)
    if rego == "opa":
        require("rego", "--rego opa", ("opa_client", "requests"))
        if rego_engine != "rego-cpp":
            raise InputError(
                f"--rego-engine {rego_engine} chooses the embedded engine, but --rego opa "
                "evaluates on the OPA server: drop one of them"
            )
    elif rego_engine == "rego-cpp":
        what = "--rego embedded" if rego == "embedded" else "--policy-dir"
        require("rego", what, ("regopy",))
    else:
        from policycheck.policy.embedded import EngineUnavailable, require_engine

        try:
            require_engine(rego_engine)
        except EngineUnavailable as exc:
            raise InputError(str(exc)) from exc
    from policycheck.policy.batches import DEFAULT_BATCH
    from policycheck.policy.embedded import DEFAULT_TIMEOUT
    from policycheck.rego import evaluate_rego

    return evaluate_rego(
        inventory,
        prof,
        cat,
        engine="opa" if rego == "opa" else "embedded",
        swyx=rego != "off",
        policy_dirs=dirs,
        opa_url=opa_url,
        timeout=rego_timeout or DEFAULT_TIMEOUT,
        today=today,
        select=select,
        write_input=None if rego_input is None else Path(rego_input),
        evidence=evidence,
        batch=None if rego_batch == "all" else (rego_batch or DEFAULT_BATCH),
        embedded=rego_engine,
    )


def load_baseline(path: PathLike) -> Baseline:
    """A previous report to compare with: policycheck's JSON report or SARIF log."""
    from policycheck.baseline import load_baseline as _load

    return _load(Path(path))


def compare_baseline(result: ScanResult, baseline: Baseline) -> ScanResult:
    """``result`` with each finding marked ``new`` or ``unchanged`` (by fingerprint)
    and the baseline's findings that are gone listed as absent. :func:`exit_code`
    then counts new findings only."""
    from policycheck.baseline import compare

    return compare(result, baseline)


# ------------------------------------------------------------------ outputs


def render(
    result: ScanResult,
    fmt: Format = "json",
    *,
    category: str | None = None,
    color: bool = False,
) -> str:
    """The report as text: ``"json"``, ``"sarif"``, ``"markdown"`` or ``"text"``.

    ``category`` is SARIF's ``automationDetails.id`` (one per code-scanning
    upload); ``color`` adds ANSI colours to ``"text"``.
    """
    from policycheck.report import render as _render

    return _render(result, fmt, category=category, color=color)


def exit_code(result: ScanResult, fail_on: FailOn = "error") -> int:
    """The CLI's exit code for ``result``: 3 if part of the estate could not be read,
    else 1 if an unsuppressed finding (with a baseline: a new one) is at or above
    ``fail_on``, else 0."""
    if result.incomplete:
        return EXIT_INCOMPLETE
    if fail_on == "never":
        return EXIT_OK
    threshold = LEVEL_ORDER[fail_on]
    if any(LEVEL_ORDER[f.level] >= threshold for f in result.gating()):
        return EXIT_FINDINGS
    return EXIT_OK
