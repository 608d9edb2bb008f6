"""Test support for `policycheck fix`: the round trip through a Terraform plan.

:func:`round_trip` runs `policycheck fix terraform` on a plan as a user does (both
formats), replaces in the plan every rule that applies to a fixed VM by the
generated Terraform (tests/tf_render.py), and reads the result with the real plan
reader. :func:`assert_exact` then checks the fixed estate: no finding a fix must
remove, each VM's effective access equal to its expected flows and to its rule set,
and `fix` asking for nothing more.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from tf_render import parse_resources, with_resources, with_setup, without_rules

from policycheck.catalog import default_catalog
from policycheck.cli import cli
from policycheck.engine.context import Context, host_set
from policycheck.engine.evaluate import VMExpectations, evaluate, vm_access
from policycheck.engine.fix import REPLACED_KINDS
from policycheck.engine.intervals import (
    ALL_ADDRS,
    ALL_PORT_SET,
    ALL_V4,
    ALL_V6,
    IntervalSet,
    addr_set,
    union_all,
)
from policycheck.engine.regions import RegionBuilder, port_set
from policycheck.engine.roles import assign_roles
from policycheck.expected import Expected
from policycheck.findings import OTHER_PROTOCOLS, PORT_PROTOCOLS
from policycheck.model import Inventory, PortRange
from policycheck.profile import Profile, load_profile
from policycheck.sources.terraform import load_plan

#: Before the GCP example's suppression expires, so that the suppressed access is
#: in play (the rule set drops it: it is not a documented flow).
TODAY = dt.date(2026, 12, 1)
NOT_AFTER_FIX = ("SWYX001", "SWYX002", "SWYX003", "SWYX004", "SWYX007")
DIRECTIONS = ("inbound", "outbound")


def run_fix(plan: Path, profile: Path | None, fmt: str, *, exit_code: int = 0) -> str:
    """`policycheck fix terraform PLAN` through the CLI, in-process."""
    args = ["fix", "terraform", str(plan), "--format", fmt]
    if profile is not None:
        args += ["--profile", str(profile)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == exit_code, result.output
    return result.stdout


def load(profile: Path | None) -> Profile:
    return load_profile(profile, default_catalog())


def applying(inventory: Inventory, profile: Profile, vm_id: str) -> set[tuple[str, str, str]]:
    """Every rule that applies to the VM, as the engine's cloud semantics select them:
    (firewall id, rule id, Terraform address)."""
    ctx = Context(inventory, profile.internal_networks)
    vm = next(v for v in inventory.vms if v.id == vm_id)
    found: set[tuple[str, str, str]] = set()
    for direction in DIRECTIONS:
        layers, _ = vm_access(vm, direction, ctx)  # type: ignore[arg-type]
        for layer in layers.layers:
            for rr in layer.rules:
                if not rr.synthetic and rr.firewall.kind in REPLACED_KINDS:
                    found.add((rr.firewall.id, rr.rule.id, str(rr.rule.provenance.address)))
    return found


def round_trip(
    plan: Path, profile: Path | None, tmp_path: Path
) -> tuple[Inventory, dict[str, Any], str]:
    """The plan with every fixed VM's rules replaced by the fix: (the fixed
    inventory, the fix JSON, the Terraform text)."""
    fixed = json.loads(run_fix(plan, profile, "json"))
    terraform = run_fix(plan, profile, "terraform")
    original = load_plan(plan)
    replaced: set[tuple[str, str]] = set()
    for vm in fixed["vms"]:
        rules = applying(original, load(profile), vm["vm_id"])
        listed = {(r["firewall_id"], r["rule_id"]) for r in vm["replaces"]}
        assert listed == {(f, r) for f, r, _ in rules}, vm["vm_name"]
        replaced |= {(rule, address) for _, rule, address in rules}
    doc = json.loads(plan.read_text(encoding="utf-8"))
    doc = without_rules(doc, replaced)
    resources = parse_resources(terraform)
    doc = with_resources(doc, resources)
    new_groups = {
        r.attributes["name"]: r.address for r in resources if r.type == "aws_security_group"
    }
    doc = with_setup(doc, [s for vm in fixed["vms"] for s in vm["setup"]], new_groups)
    out = tmp_path / "fixed" / "plan.json"  # no .tf beside it: locations fall back to the plan
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc), encoding="utf-8")
    return load_plan(out), fixed, terraform


def assert_exact(
    inventory: Inventory,
    fixed: dict[str, Any],
    profile_path: Path | None,
    refix: Callable[[], dict[str, Any]],
) -> None:
    """The fixed estate is what fix promised; ``refix`` runs fix on it again."""
    profile = load(profile_path)
    result = evaluate(inventory, profile, default_catalog(), today=TODAY)
    left = [
        f"{f.rule_id} {f.vm_name} {f.direction} {[p.canonical_text() for p in f.region]}"
        for f in result.findings
        if f.rule_id in NOT_AFTER_FIX
    ]
    assert left == []
    ctx = Context(inventory, profile.internal_networks)
    documented = documented_flows(inventory, profile)
    assert sorted(documented) == sorted(v["vm_id"] for v in fixed["vms"])
    for vm_fix in fixed["vms"]:
        vm = next(v for v in inventory.vms if v.id == vm_fix["vm_id"])
        # A VM is reached only over the address families it has an address of (a
        # rule naming the VM as destination leaves the others out).
        families = union_all(f for f in (ALL_V4, ALL_V6) if host_set(vm.addresses) & f) or ALL_ADDRS
        for direction in DIRECTIONS:
            _, access = vm_access(vm, direction, ctx)  # type: ignore[arg-type]
            builder = RegionBuilder()
            for region in access.regions:
                if region.protocol != OTHER_PROTOCOLS:  # tcp, udp, icmp, 47, ...
                    builder.add(region.protocol, region.ports, region.addrs & families)
                else:  # "every other protocol": no flow asks for that
                    assert not region.addrs, (vm.name, direction, region.protocol)
            reached = by_protocol(builder)
            # Exactly the documented flows are reachable, and exactly the rule set.
            flows = flows_region(documented[vm.id], direction, families)
            assert reached == flows, (vm.name, direction)
            assert reached == rules_region(vm_fix["rules"], direction, families), vm.name
    again = refix()
    assert [v["rules"] for v in again["vms"]] == [v["rules"] for v in fixed["vms"]]
    assert [c["message"] for v in again["vms"] for c in v["changes"]] == []
    assert [s for v in again["vms"] for s in v["setup"]] == []


def fix_plan(plan: Path, profile: Path | None) -> Callable[[], dict[str, Any]]:
    """``refix`` for :func:`assert_exact` on a fixed plan."""
    return lambda: json.loads(run_fix(plan, profile, "json"))


def applied(inventory: Inventory, fixed: dict[str, Any], terraform: str) -> Inventory:
    """A live inventory with the fix applied: every replaced rule taken out, the
    generated Terraform read by the plan reader (from a plan holding only those
    resources: existing objects are named by id or name) and its rules put on the
    objects they name, its new objects added."""
    gone = {(r["firewall_id"], r["rule_id"]) for vm in fixed["vms"] for r in vm["replaces"]}
    doc = {
        "format_version": "1.2",
        "terraform_version": "1.9.5",
        "planned_values": {"root_module": {"resources": []}},
        "resource_changes": [],
        "configuration": {"root_module": {"resources": []}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.json"
        path.write_text(json.dumps(with_resources(doc, parse_resources(terraform))))
        planned = load_plan(path)
    firewalls = []
    added = {fw.id: fw for fw in planned.firewalls}
    for fw in inventory.firewalls:
        rules = [r for r in fw.rules if (fw.id, r.id) not in gone]
        # The plan names an existing group by id, an NSG by name.
        extra = added.pop(fw.id, None) or added.pop(fw.name, None)
        rules += list(extra.rules) if extra else []
        firewalls.append(fw.model_copy(update={"rules": tuple(rules)}))
    new = [fw for fw in added.values() if fw.kind == "vpc_firewall"]
    assert [fw.id for fw in added.values() if fw.kind != "vpc_firewall"] == []
    return inventory.model_copy(update={"firewalls": [*firewalls, *new]})


def documented_flows(inventory: Inventory, profile: Profile) -> dict[str, Expected]:
    """Each Swyx VM's expected flows, straight from the catalog and the profile."""
    catalog = default_catalog()
    ctx = Context(inventory, profile.internal_networks)
    roles = {id(vm): assign_roles(vm, ctx, profile, catalog.role_slugs) for vm in inventory.vms}
    expectations = VMExpectations(inventory, roles, profile, catalog, ctx)
    return {
        vm.id: expectations.expected(vm, roles[id(vm)].roles)
        for vm in inventory.vms
        if roles[id(vm)].roles
    }


def flows_region(
    expected: Expected, direction: str, families: IntervalSet = ALL_ADDRS
) -> dict[str, list[str]]:
    """The flows' region (every flow with a remote peer), canonically per protocol."""
    builder = RegionBuilder()
    for flow in expected.for_direction(direction):
        ports = port_set(flow.ports)
        portless = flow.protocol not in ("all", *PORT_PROTOCOLS)
        if not flow.peers or (portless and ports != ALL_PORT_SET):
            continue  # a port-restricted flow documents no protocol without ports
        protocols = ["tcp", "udp"] if flow.protocol == "all" else [flow.protocol]
        for protocol in protocols:
            builder.add(protocol, ports, addr_set(flow.peers) & families)
    return by_protocol(builder)


def rules_region(
    rules: list[dict[str, Any]], direction: str, families: IntervalSet = ALL_ADDRS
) -> dict[str, list[str]]:
    """A rule set's region (from the fix JSON), canonically per protocol."""
    builder = RegionBuilder()
    for rule in rules:
        if rule["direction"] != direction:
            continue
        protocols = ["tcp", "udp"] if rule["protocol"] == "all" else [rule["protocol"]]
        ports = port_set(PortRange(lo=p["lo"], hi=p["hi"]) for p in rule["ports"])
        for protocol in protocols:
            builder.add(protocol, ports, addr_set(rule["peers"]) & families)
    return by_protocol(builder)


def by_protocol(builder: RegionBuilder) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in builder.parts(IntervalSet()):
        out.setdefault(part.protocol, []).append(part.canonical_text())
    return {k: sorted(v) for k, v in out.items()}
