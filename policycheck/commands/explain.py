"""`policycheck explain`: is one packet allowed to (or from) one VM, and by which rule.

Same inputs as `scan` (a plan, a snapshot, a live cloud). The answer comes from
the engine (policycheck/engine/explain.py), which walks the very provider layers
findings are computed from; this module parses the packet, finds the VM, renders
and writes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from policycheck.commands import answer_options, live_commands
from policycheck.errors import EXIT_INCOMPLETE, EXIT_OK, InputError
from policycheck.explanation import Packet
from policycheck.model import VM, Inventory, check_address, normalize_protocol

F = TypeVar("F", bound=Callable[..., Any])

EXPLAIN_FORMATS = ("text", "json")
#: How many VM names an error lists before it counts the rest.
_NAMES_SHOWN = 10

_ABOUT = """
\b
The VM's firewalls are evaluated in the cloud's own order, each rule shown with
what it did to the packet:
  AWS    the security groups of all its interfaces (any rule allows)
  Azure  inbound the subnet NSG, then the NIC NSG (outbound the reverse), each
         first match by priority, the default rules last
  GCP    firewall policies (organization, folders), VPC rules, network
         policies, then the implied rules; goto_next moves to the next level
The decisive rules are those a finding about the packet names.

\b
Exit codes: 0 answered (allowed or not: see the output, or .allowed in JSON);
2 bad usage or input (e.g. no such VM); 3 part of the estate could not be read
(the answer is for what was read).
"""


def _check_protocol(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        protocol = normalize_protocol(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a protocol: use tcp, udp, icmp, icmpv6 or a number 0-255"
        ) from None
    if protocol == "all":
        raise click.BadParameter("a packet has one protocol: tcp, udp, icmp, icmpv6 or a number")
    return protocol


def _check_address(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_address(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an IP address (one address, e.g. 203.0.113.7, no prefix length)"
        ) from None


def packet_options(profile_option: Callable[[Any], Any]) -> Callable[[F], F]:
    """The question (VM, packet) and the output options of every explain command."""

    def decorate(f: F) -> F:
        f = answer_options(
            EXPLAIN_FORMATS,
            default=None,
            format_help="Output format. Default: text on a terminal, json otherwise "
            "(docs/explain.md describes the JSON).",
            output_help="Write the answer to FILE atomically instead of stdout.",
        )(f)
        f = click.option(
            "--source-port",
            type=click.IntRange(0, 65535),
            default=None,
            help="The packet's source port (tcp/udp). Default: any; where rules filter on "
            "source ports, the answer says which ones are allowed.",
        )(f)
        f = click.option(
            "--to",
            "to_address",
            metavar="ADDRESS",
            callback=_check_address,
            help="Outbound: the packet goes from the VM to ADDRESS.",
        )(f)
        f = click.option(
            "--from",
            "from_address",
            metavar="ADDRESS",
            callback=_check_address,
            help="Inbound: the packet comes from ADDRESS to the VM.",
        )(f)
        f = click.option(
            "--port",
            type=click.IntRange(0, 65535),
            default=None,
            help="Destination port (tcp and udp; other protocols have none).",
        )(f)
        f = click.option(
            "--protocol",
            default="tcp",
            show_default=True,
            callback=_check_protocol,
            help="tcp, udp, icmp, icmpv6 or an IP protocol number.",
        )(f)
        f = click.option(
            "--vm",
            "vm_name",
            required=True,
            metavar="NAME",
            help="The VM: its name, or its id where names repeat.",
        )(f)
        return profile_option(f)  # type: ignore[no-any-return]

    return decorate


def packet_from(
    protocol: str,
    port: int | None,
    source_port: int | None,
    from_address: str | None,
    to_address: str | None,
) -> Packet:
    """The packet the options describe; usage errors name the option."""
    if (from_address is None) == (to_address is None):
        raise click.UsageError("give exactly one of --from ADDRESS (inbound) or --to ADDRESS")
    ported = protocol in ("tcp", "udp")
    if ported and port is None:
        raise click.UsageError(f"--port is required for {protocol}")
    if not ported and (port is not None or source_port is not None):
        raise click.UsageError(f"{protocol} packets have no ports: leave out --port/--source-port")
    remote = from_address if from_address is not None else to_address
    assert remote is not None
    return Packet(
        direction="inbound" if from_address is not None else "outbound",
        protocol=protocol,
        port=port,
        source_port=source_port,
        remote=remote,
    )


def find_vm(inventory: Inventory, name: str) -> VM:
    """The one VM named (or with the id) ``name``; an InputError says what exists."""
    by_id = [vm for vm in inventory.vms if vm.id == name]
    if by_id:
        return by_id[0]
    named = [vm for vm in inventory.vms if vm.name == name]
    if len(named) == 1:
        return named[0]
    if named:
        ids = ", ".join(f"{vm.provider} {vm.id}" for vm in named[:_NAMES_SHOWN])
        raise InputError(f"--vm {name}: {len(named)} VMs have this name ({ids}); give the id")
    names = sorted({vm.name for vm in inventory.vms})
    if not names:
        raise InputError(f"--vm {name}: the input has no VMs")
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else ""
    raise InputError(f"--vm {name}: no such VM; the input has {shown}{more}")


def run_explain(
    load: Callable[[], Inventory],
    *,
    vm_name: str,
    protocol: str,
    port: int | None,
    source_port: int | None,
    from_address: str | None,
    to_address: str | None,
    profile_path: Path | None,
    fmt: str | None,
    output: Path | None,
    quiet: bool = False,
) -> int:
    """Check the question, read the input (``load``), explain, render, write; the
    exit code. The options are checked before anything is read."""
    from policycheck.engine.context import Context
    from policycheck.engine.explain import explain_packet
    from policycheck.profile import load_profile
    from policycheck.report.explain import render_explain_json, render_explain_text
    from policycheck.report.output import write_atomic

    del quiet  # nothing is slow after reading the input
    packet = packet_from(protocol, port, source_port, from_address, to_address)
    profile = load_profile(profile_path)
    inventory = load()
    vm = find_vm(inventory, vm_name)
    explanation = explain_packet(vm, packet, Context(inventory, profile.internal_networks))
    chosen = fmt or ("text" if output is None and sys.stdout.isatty() else "json")
    text = (
        render_explain_json(explanation) if chosen == "json" else render_explain_text(explanation)
    )
    if output is not None:
        write_atomic(output, text)
    else:
        click.echo(text, nl=not text.endswith("\n"))
    for err in inventory.errors:
        click.echo(f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True)
    return EXIT_INCOMPLETE if inventory.errors else EXIT_OK


def register(root: click.Group, profile_option: Callable[[Any], Any]) -> None:
    """Add `policycheck explain` and its inputs to the CLI."""
    options = packet_options(profile_option)

    @root.group(epilog=_ABOUT)
    def explain() -> None:
        """Explain whether one packet reaches (or leaves) a VM, and by which rule.

        \b
        Examples:
          policycheck explain terraform plan.json --vm pbx1 --protocol tcp --port 5060 \\
                                                  --from 203.0.113.7
          policycheck explain snapshot inventory.json --vm pbx1 --protocol udp --port 5060 \\
                                                  --from 10.0.0.5 --format json
          policycheck explain snapshot inventory.json --vm pbx1 --port 443 --to 198.51.100.1
        """

    @explain.command("terraform", epilog=_ABOUT)
    @click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
    @click.option(
        "--tf-dir",
        type=click.Path(path_type=Path, exists=True, file_okay=False),
        help="Directory of the .tf sources, for file/line locations (default: the plan's).",
    )
    @options
    def explain_terraform(plan: Path, tf_dir: Path | None, **opts: Any) -> None:
        """Explain one packet against a Terraform plan (terraform show -json output)."""
        from policycheck import api

        sys.exit(run_explain(lambda: api.load_plan(plan, tf_dir=tf_dir), **opts))

    @explain.command("snapshot", epilog=_ABOUT)
    @click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
    @options
    def explain_snapshot(path: Path, **opts: Any) -> None:
        """Explain one packet against an inventory snapshot (policycheck collect)."""
        from policycheck import api

        sys.exit(run_explain(lambda: api.load_snapshot(path), **opts))

    def explain_live(load: Callable[[], Inventory], **opts: Any) -> None:
        sys.exit(run_explain(load, **opts))

    live_commands(
        explain,
        options,
        explain_live,
        lambda live: (
            f"Explain one packet against the live {live.title} estate (read-only "
            f"calls, with the options of `scan {live.name}`)."
        ),
        _ABOUT,
    )
