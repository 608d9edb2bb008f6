"""`policycheck merge`: shard reports combined into one report (docs/sharding.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from policycheck.commands import baseline_option
from policycheck.report import FORMATS


def register(cli: click.Group) -> None:
    """Add `merge` to the CLI."""

    @cli.command()
    @click.argument(
        "reports", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False)
    )
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format. From JSON reports: any (default: text on a terminal, json "
        "otherwise). From SARIF logs: sarif only.",
    )
    @click.option(
        "--output",
        "-o",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Write the merged report to FILE atomically instead of stdout.",
    )
    @click.option(
        "--fail-on",
        type=click.Choice(["error", "warning", "note", "never"]),
        default="error",
        show_default=True,
        help="Exit 1 when an unsuppressed finding is at or above this level.",
    )
    @click.option(
        "--category",
        default=None,
        help="SARIF automationDetails.id when JSON reports are merged into SARIF.",
    )
    @baseline_option(
        "A previous (merged) report of the same estate, .json or .sarif: the merged "
        "findings become new or unchanged, those gone are listed as absent, and "
        "--fail-on counts new ones only. This is how sharded scans use a baseline. "
        "JSON reports only."
    )
    def merge(
        reports: tuple[Path, ...],
        fmt: str | None,
        output: Path | None,
        fail_on: str,
        category: str | None,
        baseline_path: Path | None,
    ) -> None:
        """Combine the reports of `--shard K/N` scans (or any reports) into one.

        Findings with the same fingerprint count once; counts are summed; SARIF
        logs become one run per category. Shard reports are checked: every part
        1..N of each sharded scan must be given, exactly once. The exit code is the
        merged scan's: 0 clean, 1 findings at/above --fail-on, 2 bad input,
        3 incomplete.

        \b
        Examples:
          policycheck merge shard-*.json --format sarif -o policycheck.sarif
          policycheck merge aws-*.sarif -o aws.sarif
          policycheck merge shard-*.json --format markdown >> "$GITHUB_STEP_SUMMARY"
          policycheck merge shard-*.json --baseline last.sarif --format sarif -o last.sarif
        """
        from policycheck import api
        from policycheck.app import write_reports
        from policycheck.errors import InputError
        from policycheck.memory import bulk_load
        from policycheck.report.merge import merge_json, merge_sarif, read_reports, sarif_exit
        from policycheck.report.output import Destination, check_output_path, write_atomic

        if output is not None:
            check_output_path(output, reports)
        with bulk_load():
            loaded = read_reports(reports)
        if loaded[0].kind == "sarif" and baseline_path is not None:
            raise InputError(
                "--baseline: SARIF logs merge without one; merge the JSON reports of the "
                "same scans with --baseline (any format out, SARIF included)"
            )
        # Read before merging: a baseline that cannot be used stops the merge early.
        baseline = None if baseline_path is None else api.load_baseline(baseline_path)
        if loaded[0].kind == "sarif":
            if fmt not in (None, "sarif"):
                raise InputError(
                    f"--format {fmt}: SARIF logs merge into SARIF only; merge the JSON "
                    "reports of the same scans for other formats"
                )
            log = merge_sarif(loaded)
            data = orjson.dumps(log, option=orjson.OPT_INDENT_2)
            if output is not None:
                write_atomic(output, data)
            else:
                click.echo(data.decode())
            sys.exit(sarif_exit(log, fail_on))
        result = merge_json(loaded)
        if baseline is not None:
            result = api.compare_baseline(result, baseline)
        to_terminal = output is None and sys.stdout.isatty()
        chosen = fmt or ("text" if to_terminal else "json")
        write_reports(result, [Destination(chosen, output)], category=category)  # type: ignore[arg-type]
        for err in result.errors:
            click.echo(
                f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True
            )
        sys.exit(api.exit_code(result, fail_on))  # type: ignore[arg-type]
