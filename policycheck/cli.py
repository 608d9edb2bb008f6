"""The ``policycheck`` command line.

Thin on purpose: each command reads its input through a source, evaluates through
the engine and renders through a report; this module only parses options, maps
errors to exit codes and writes output atomically.

Exit codes: 0 no finding at or above ``--fail-on``; 1 findings; 2 usage or input
error (one line on stderr, no traceback); 3 input incomplete (a region, account,
subscription or project could not be read; findings for the rest are written).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from policycheck import __version__
from policycheck.commands import baseline_option
from policycheck.commands.policy import policy_options
from policycheck.commands.sharding import file_part, shard_option
from policycheck.errors import EXIT_INPUT, InputError, scrub
from policycheck.report.output import check_output_path
from policycheck.shard import Shard

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("text", "json", "sarif", "markdown")


class _Command(click.Command):
    """Every command: an --output that cannot be written, or that names one of the
    command's input files, is refused before any input is read."""

    def invoke(self, ctx: click.Context) -> Any:
        # collect's --output is one Path; a scan's -o values are strings ('-' is stdout).
        output = ctx.params.get("output")
        targets = [output] if isinstance(output, Path) else []
        targets += [Path(o) for o in ctx.params.get("outputs") or () if o != "-"]
        # The baseline may be the file a run replaces (a rolling baseline: it is
        # read before anything is written), so it is not among the inputs here.
        inputs = [
            v
            for k, v in ctx.params.items()
            if k not in ("output", "baseline_path") and isinstance(v, Path)
        ]
        for target in targets:
            check_output_path(target, inputs)
        return super().invoke(ctx)


class _Group(click.Group):
    """Turns every InputError, usage error (and stray exception) into one line and exit 2."""

    command_class = _Command
    group_class = type  # subgroups (scan, collect, profile) behave the same

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # a bare group: its help is the answer, not an error line
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _fail(f"{exc.format_message()}{hint}", exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            _fail(str(exc), EXIT_INPUT)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            _fail("interrupted", 130, prefix="policycheck: ")
        except Exception as exc:
            if os.environ.get("POLICYCHECK_DEBUG"):
                raise
            _fail(
                f"{type(exc).__name__}: {scrub(str(exc))} "
                "(set POLICYCHECK_DEBUG=1 for a traceback)",
                EXIT_INPUT,
                prefix="policycheck: internal error: ",
            )


def _fail(message: str, code: int, prefix: str = "policycheck: error: ") -> NoReturn:
    """The one line every failure ends in: scrubbed (no control characters, no
    credentials, long values cut), then the exit code."""
    click.echo(f"{prefix}{scrub(message)}", err=True)
    sys.exit(code)


def _warn(message: str) -> None:
    click.echo(f"policycheck: warning: {scrub(message)}", err=True)


def _check_category(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not (0 < len(value) <= 255 and value.isprintable()):
        raise click.BadParameter("must be printable text on one line, e.g. terraform/prod")
    return value


def _check_profile_path(
    _ctx: click.Context, _param: click.Parameter, value: Path | None
) -> Path | None:
    """No --profile: the discovered ``.policycheck.yaml``, if any. ``--profile
    prod`` (the AWS CLI habit) names no file: say what the option takes and where
    an AWS named profile goes, instead of 'no such file'."""
    if value is None:
        from policycheck import api

        return _shown(api.discover_profile())
    if value.exists():
        return value
    text = str(value)
    if value.suffix.lower() in (".yaml", ".yml", ".json") or "/" in text or "\\" in text:
        raise InputError(f"--profile {text}: no such file (create one: policycheck profile init)")
    raise InputError(
        f"--profile {text}: no such file; --profile takes a deployment profile YAML file "
        "(policycheck profile init writes one). For an AWS named profile use --aws-profile "
        f"{text} or AWS_PROFILE={text}"
    )


def _shown(path: Path | None) -> Path | None:
    """A discovered file as the reports name it: relative to the current directory
    when it is inside it."""
    if path is None:
        return None
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _profile_option(f: F) -> F:
    return click.option(
        "--profile",
        "profile_path",
        type=click.Path(path_type=Path, dir_okay=False),
        callback=_check_profile_path,
        help="Deployment profile, a YAML file (policycheck profile init writes a starter). "
        "Without it: .policycheck.yaml in the current directory, else at the root of "
        "the git repository, else the defaults. The report names the one used. AWS "
        "named profiles go in --aws-profile.",
    )(f)


def _output_options(f: F) -> F:
    """How findings are written: every command that reports findings (scan, drift).

    ``--format``/``--output`` reach the command as ``destinations``, decided
    before the command reads anything (see policycheck.report.output)."""

    body = f

    @functools.wraps(body)
    def command(*args: Any, fmt: str | None, outputs: tuple[str, ...], **kwargs: Any) -> Any:
        from policycheck.report.output import plan_destinations

        kwargs["destinations"] = plan_destinations(
            outputs, fmt, stdout_is_terminal=sys.stdout.isatty()
        )
        return body(*args, **kwargs)

    f = command  # type: ignore[assignment]
    f = click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="Format of the report on standard output. Default: text on a terminal, "
        "json otherwise. With -o files and no -o -, it names the files' format and "
        "must agree with their extensions.",
    )(f)
    f = click.option(
        "--output",
        "-o",
        "outputs",
        multiple=True,
        metavar="FILE",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Write the report to FILE (repeatable: one scan, every report). The "
        "extension gives the format: .sarif, .json, .md, .txt. '-' is standard "
        "output. All files are written atomically, or none is.",
    )(f)
    f = click.option(
        "--fail-on",
        type=click.Choice(["error", "warning", "note", "never"]),
        default="error",
        show_default=True,
        help="Exit 1 when an unsuppressed finding is at or above this level (with "
        "--baseline: a new one).",
    )(f)
    f = click.option(
        "--category",
        default=None,
        callback=_check_category,
        help="SARIF automationDetails.id (e.g. terraform/prod); one per upload.",
    )(f)
    return click.option("--quiet", "-q", is_flag=True, help="No progress display.")(f)


def _report_options(f: F) -> F:
    """Options shared by every command that evaluates and reports findings."""

    body = f

    @functools.wraps(body)
    def command(*args: Any, baseline_path: Path | None, **kwargs: Any) -> Any:
        from policycheck import api

        if baseline_path is not None and kwargs.get("shard") is not None:
            # A part holds only its share of the findings: the baseline's others
            # would all be reported as absent (fixed) by every part.
            raise click.UsageError(
                "--baseline with --shard: compare the merged report instead, "
                "`policycheck merge PARTS... --baseline REPORT` (docs/sharding.md)"
            )
        # Read before the scan: a baseline that cannot be used costs no scan.
        kwargs["baseline"] = None if baseline_path is None else api.load_baseline(baseline_path)
        return body(*args, **kwargs)

    f = command  # type: ignore[assignment]
    f = _output_options(f)
    f = baseline_option(
        "A previous report of this scan (its .json report or .sarif log). Each "
        "finding is then new or unchanged (matched by fingerprint), findings gone "
        "since are listed as absent, and --fail-on counts new findings only. It may "
        "be the -o file this run replaces."
    )(f)
    f = click.option(
        "--evidence",
        is_flag=True,
        help="Also list each VM's checked flows and their status (required and open, "
        "documented and closed, undocumented and closed, ...) in JSON, Markdown and "
        "SARIF (as kind: pass results), for audits. See docs/evidence.md.",
    )(f)
    f = click.option(
        "--rego",
        type=click.Choice(["off", "embedded", "opa"]),
        default="off",
        show_default=True,
        help="Decide SWYX001-SWYX003 with policies/swyx.rego: in-process (embedded, "
        "rego-cpp) or on an OPA server (opa, needs --opa-url); --policy-dir policies "
        "run on the same engine. See docs/rego.md.",
    )(f)
    f = click.option(
        "--rego-engine",
        type=click.Choice(["rego-cpp", "opa"]),
        default="rego-cpp",
        show_default=True,
        help="The embedded engine for --rego embedded and --policy-dir: rego-cpp, or opa "
        "(OPA's own Go library in a child process: OPA's semantics and built-ins, much "
        "faster on large inputs; needs opa-golib-python-bindings, docs/install.md).",
    )(f)
    f = click.option(
        "--opa-url",
        default=None,
        help="OPA server for --rego opa, e.g. http://127.0.0.1:8181: the policies are "
        "uploaded as policycheck/<file>, queried, and deleted afterwards.",
    )(f)
    f = policy_options(f)
    return _profile_option(f)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="policycheck")
def cli() -> None:
    """Check that the cloud firewall rules in front of SwyxWare VMs permit exactly
    the flows the Swyx port matrix documents, and nothing more.

    \b
    Typical runs:
      policycheck demo                                  # emulated AWS estate, no account
      policycheck scan terraform plan.json -o policycheck.sarif -o summary.md
      policycheck scan aws --region eu-central-1 --profile swyx-profile.yaml
      policycheck expected --roles swyxware-server,cds,remote-connector
      policycheck catalog --role remote-connector

    Exit codes: 0 clean, 1 findings at/above --fail-on, 2 bad usage or input,
    3 input incomplete (part of the estate could not be read).
    """


# --------------------------------------------------------------------- catalog


@cli.command()
@click.option("--role", "roles", multiple=True, help="Only rows of this role (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def catalog(roles: tuple[str, ...], fmt: str) -> None:
    """List the Swyx port matrix (every documented row) as a table or JSON."""
    from policycheck import views
    from policycheck.catalog import default_catalog

    cat = default_catalog()
    unknown = sorted(set(roles) - cat.role_slugs)
    if unknown:
        raise InputError(f"--role: unknown role slug {unknown[0]!r} (see 'policycheck roles')")
    rows = cat.rows_for(roles) if roles else cat.rows
    click.echo(views.catalog_json(rows) if fmt == "json" else views.catalog_table(rows), nl=False)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def roles(fmt: str) -> None:
    """List the role slugs a VM can hold, one per Swyx component."""
    from policycheck import views
    from policycheck.catalog import default_catalog

    click.echo(views.roles_view(default_catalog(), fmt), nl=False)


@cli.command()
@click.option(
    "--roles",
    "roles_csv",
    required=True,
    help="Comma/space separated role slugs, e.g. swyxware-server,cds,remote-connector.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_profile_option
def expected(roles_csv: str, fmt: str, profile_path: Path | None) -> None:
    """Show the exact flows a VM with these roles must be reachable by / may reach.

    \b
    Peers are shown as CIDRs (the internal networks default to 10.0.0.0/8,
    172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7). Marks:
      assumed P=V    the range rests on a default the document does not give;
                     set P in the profile (parameters or role_parameters)
      uncertain (?)  the document marks the row with '?': accepted, never required
      counterpart    the server side of a client flow (docs/counterparts.md)
    JSON carries the same as "assumed", "uncertain", "version" and "derived".
    """
    from policycheck import views
    from policycheck.catalog import default_catalog
    from policycheck.expected import expected_flows
    from policycheck.profile import load_profile, parse_roles

    prof = load_profile(profile_path)
    cat = default_catalog()
    role_set = parse_roles(roles_csv, cat)
    flows = expected_flows(cat, prof, role_set)
    click.echo(views.expected_view(flows, fmt), nl=False)


# --------------------------------------------------------------------- profile


@cli.group()
def profile() -> None:
    """Deployment profile helpers."""


@profile.command("schema")
def profile_schema() -> None:
    """Print the deployment profile's JSON Schema."""
    import json

    from policycheck.profile import Profile

    click.echo(json.dumps(Profile.model_json_schema(), indent=2))


@profile.command("init")
@click.option(
    "--roles",
    "roles_csv",
    default=None,
    help="Role slugs of your VMs (e.g. swyxware-server,cds,remote-connector): the starter "
    "then lists the registry keys of exactly those roles, with their defaults.",
)
def profile_init(roles_csv: str | None) -> None:
    """Print a commented starter profile that `profile check` accepts.

    \b
    Example:
      policycheck profile init --roles swyxware-server,cds > swyx-profile.yaml
      policycheck profile check swyx-profile.yaml
    """
    from policycheck.catalog import default_catalog
    from policycheck.profile import parse_roles
    from policycheck.starter import starter_profile

    cat = default_catalog()
    roles = parse_roles(roles_csv, cat) if roles_csv is not None else []
    click.echo(starter_profile(cat, roles), nl=False)


@profile.command("check")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), required=False)
def profile_check(path: Path | None) -> None:
    """Validate a deployment profile and exit 0 if it is valid.

    Without PATH: the .policycheck.yaml a scan here would use (current directory,
    else the root of the git repository).
    """
    from policycheck import api
    from policycheck.profile import DISCOVERED_NAME, load_profile

    if path is None:
        path = _shown(api.discover_profile())
        if path is None:
            raise InputError(
                f"profile check: no PATH given and no {DISCOVERED_NAME} in the current "
                "directory or at the root of its git repository"
            )
    load_profile(path)
    click.echo(f"{path}: valid")


# ------------------------------------------------------------------------ scan


@cli.group()
def scan() -> None:
    """Evaluate firewall rules and report findings."""


@scan.command("terraform")
@click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--tf-dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Directory of the .tf sources, for file/line locations (default: the plan's). "
    "A .tf file that cannot be parsed only loses its line numbers (one warning).",
)
@_report_options
@shard_option
def scan_terraform(plan: Path, tf_dir: Path | None, shard: Shard | None, **opts: Any) -> None:
    """Scan a Terraform plan before it is applied.

    \b
    Create the plan JSON first:
      terraform plan -out tfplan && terraform show -json tfplan > plan.json
    Then, e.g. in CI, one scan writing every report (format from the extension):
      policycheck scan terraform plan.json -o policycheck.sarif -o summary.md
      policycheck scan terraform plan.json --format text -o - -o policycheck.sarif

    Findings point at the .tf block that declares each rule (modules included).
    Values known only after apply are reported as SWYX005 notes, not dropped.
    """
    from policycheck import api
    from policycheck.memory import bulk_load

    with bulk_load():
        inventory = api.load_plan(plan, tf_dir=tf_dir, warn=_warn)
    _finish(inventory, part=file_part(inventory, shard, "terraform"), **opts)


@scan.command("snapshot")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@_report_options
@shard_option
def scan_snapshot(path: Path, shard: Shard | None, **opts: Any) -> None:
    """Re-evaluate an inventory snapshot written by `policycheck collect`.

    \b
    Example:
      policycheck collect aws --region eu-central-1 -o inventory.json
      policycheck scan snapshot inventory.json --profile swyx.yaml
    """
    from policycheck import api
    from policycheck.memory import bulk_load

    with bulk_load():
        inventory = api.load_snapshot(path)
    _finish(inventory, part=file_part(inventory, shard, "snapshot"), **opts)


def _finish(inventory: Any, **opts: Any) -> None:
    from policycheck.app import run_report

    code = run_report(inventory, **opts)
    sys.exit(code)


@cli.group()
def collect() -> None:
    """Read a live cloud estate into an inventory snapshot (no evaluation)."""


@cli.command()
@_report_options
def demo(**opts: Any) -> None:
    """Audit an emulated hosted-SwyxWare AWS estate (moto, in-process, no account)."""
    from policycheck.demo import run_demo

    _finish(run_demo(quiet=bool(opts.get("quiet"))), **opts)


def _register_cloud_commands() -> None:
    """Each cloud's `scan X` and `collect X` live in policycheck/commands/X.py, so a
    cloud's options stay next to each other; they share the report options.
    `policycheck fix` lives in policycheck/commands/fix.py."""
    from policycheck.commands import CommandContext, aws, azure, fix, gcp, policy

    ctx = CommandContext(
        scan=scan,
        collect=collect,
        report_options=_report_options,
        finish=_finish,
        root=cli,
        profile_option=_profile_option,
    )
    for module in (aws, azure, gcp, fix):
        module.register(ctx)
    policy.register(cli)


_register_cloud_commands()


def _register_merge() -> None:
    from policycheck.commands import merge

    merge.register(cli)


_register_merge()


def _register_question_commands() -> None:
    """`policycheck explain` and `policycheck drift` live in policycheck/commands/."""
    from policycheck.commands import drift, explain

    explain.register(cli, _profile_option)
    drift.register(cli, _output_options)


_register_question_commands()


def main() -> None:
    cli(prog_name="policycheck")


if __name__ == "__main__":
    main()
