"""Your own Rego policies: `--policy-dir` on every scan, and `policycheck policy test`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from policycheck.errors import EXIT_FINDINGS, EXIT_OK

F = TypeVar("F", bound=Callable[..., Any])


def _batch_size(ctx: click.Context, param: click.Parameter, value: Any) -> int | str:
    """``--rego-batch``: a number of VMs (1 or more), or ``all``."""
    text = str(value).strip().lower()
    if text == "all":
        return "all"
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise click.BadParameter(f"{value!r} is neither a number of VMs (1 or more) nor all")


def policy_options(f: F) -> F:
    """``--policy-dir``, ``--rego-timeout``, ``--rego-batch`` and ``--rego-input``
    for every scan command."""
    from policycheck.policy.batches import DEFAULT_BATCH
    from policycheck.policy.embedded import DEFAULT_TIMEOUT

    f = click.option(
        "--rego-input",
        "rego_input",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Also write the Rego input document (what every policy sees as `input`, "
        "docs/rego.md) to FILE, e.g. to try a policy with `opa eval -i FILE`.",
    )(f)
    f = click.option(
        "--rego-batch",
        default=str(DEFAULT_BATCH),
        callback=_batch_size,
        metavar="VMS|all",
        show_default=True,
        help="Evaluate the Rego policies on the estate in batches of this many VMs, each "
        "with the firewalls they use (results are the same for policies about one VM, "
        "firewall or rule, and the embedded engine's cost stays linear); `all`: the "
        "whole estate in one input, for policies that compare VMs. See docs/rego.md.",
    )(f)
    f = click.option(
        "--rego-timeout",
        type=click.FloatRange(min=1),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="Time limit for the whole Rego evaluation (every batch); a policy still "
        "running then is an error naming it.",
    )(f)
    return click.option(
        "--policy-dir",
        "policy_dirs",
        multiple=True,
        type=click.Path(path_type=Path),
        metavar="DIR",
        help="Your own Rego policies (repeatable; also `policy_dirs` in the profile). "
        "Their deny/warn/info results become findings (error/warning/note) in every "
        "format; *_test.rego files are tests (policycheck policy test). Evaluated with "
        "the --rego engine (embedded unless --rego opa). See docs/rego.md.",
    )(f)


def register(cli: click.Group) -> None:
    """Add the `policy` command group to the CLI."""

    @cli.group("policy")
    def policy() -> None:
        """Your own Rego policies: test them (they run in scans with --policy-dir)."""

    @policy.command("test")
    @click.argument(
        "dirs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="DIR..."
    )
    @click.option("--verbose", "-v", is_flag=True, help="List every test, not only failures.")
    @click.option(
        "--run",
        "-r",
        metavar="REGEX",
        help="Only tests whose name (data.<package>.test_...) matches REGEX.",
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=30.0,
        show_default=True,
        metavar="SECONDS",
        help="Time limit per test.",
    )
    @click.option(
        "--engine",
        type=click.Choice(["rego-cpp", "opa"]),
        default="rego-cpp",
        show_default=True,
        help="The embedded engine: rego-cpp, or opa (OPA's Go library, docs/install.md).",
    )
    def policy_test(
        dirs: tuple[Path, ...], verbose: bool, run: str | None, timeout: float, engine: str
    ) -> None:
        """Run the Rego unit tests in DIR (opa test's conventions) with the embedded
        engine: no OPA needed.

        \b
        Every rule named test_* is a test: it passes when it is true, fails when it
        is false or undefined; todo_test_* rules are skipped. Mock the input and data
        with `with input.vms as {...}` / `with data.x as ...`. Data documents
        (data.json, data.yaml) in DIR are loaded as in a scan.

        \b
        Examples:
          policycheck policy test examples/policies
          policycheck policy test policies -v --run swyx

        Exit codes: 0 all tests pass, 1 a test fails or errs, 2 a policy does not
        load (one line naming file.rego:LINE).
        """
        import re

        from policycheck.errors import InputError
        from policycheck.extras import require
        from policycheck.policy.load import load_policy_dirs
        from policycheck.policy.testing import report_lines, run_tests

        if engine == "rego-cpp":
            require("rego", "policycheck policy test", ("regopy",))
        if run is not None:
            try:
                re.compile(run)
            except re.error as exc:
                raise InputError(f"--run {run!r}: not a regular expression ({exc})") from exc
        policies = load_policy_dirs(list(dirs), reserved=False)
        result = run_tests(
            policies,
            run=run,
            timeout=timeout,
            engine="opa" if engine == "opa" else "rego-cpp",
        )
        if not result.results:
            raise InputError(
                f"{', '.join(str(d) for d in dirs)}: no test_* rules"
                + (f" matching --run {run!r}" if run else "")
            )
        for line in report_lines(result, verbose=verbose):
            click.echo(line)
        sys.exit(EXIT_OK if result.ok else EXIT_FINDINGS)
