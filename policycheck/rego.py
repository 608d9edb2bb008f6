"""The Swyx comparison in Rego: policies/swyx.rego, embedded (regopy) or in OPA.

The native engine still decides what each VM's firewalls allow (each cloud's
semantics live in ``policycheck.engine.providers`` only) and what the VM's roles
need (``policycheck.expected``). This module writes both into one input document
(shape: docs/rego.md), lets the policy compare them, and turns the policy's
findings back into :class:`~policycheck.findings.Finding` objects.

``--rego embedded|opa`` replaces the native SWYX001-SWYX003 comparison with the
policy's; every other finding (SWYX004-SWYX007) stays native, so a Rego run and
a native run report the same estate in the same shape.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from policycheck.catalog import POLICIES_DIR, Catalog
from policycheck.engine.access import Access, Region
from policycheck.engine.compare import Comparer, merge_duplicates, rule_ref
from policycheck.engine.context import Context
from policycheck.engine.evaluate import VMExpectations, compare_all, scan_result, vm_access
from policycheck.engine.intervals import ALL_PORT_SET, IntervalSet, addr_set, to_cidrs
from policycheck.engine.regions import peers_summary, region_part, summarize_peers
from policycheck.engine.roles import assign_roles
from policycheck.errors import InputError, one_line
from policycheck.expected import Expected
from policycheck.findings import (
    OTHER_PROTOCOLS,
    PORT_PROTOCOLS,
    RULES,
    Finding,
    RuleRef,
    ScanResult,
)
from policycheck.model import VM, FirewallObject, Inventory, PortRange
from policycheck.profile import Profile

Engine = Literal["embedded", "opa"]
POLICY_PATH = POLICIES_DIR / "swyx.rego"
#: The findings the policy decides; the rest of a run stays native.
REGO_RULES = frozenset({"SWYX001", "SWYX002", "SWYX003"})
#: Where the policy and the catalog go in OPA, and what is queried.
OPA_POLICY_ID = "swyx"
OPA_CATALOG_PATH = "catalog"
FINDINGS_QUERY = "data.swyx.findings"
OPA_TIMEOUT_SECONDS = 60.0

Json = dict[str, Any]


@dataclass
class RegoInput:
    """The input document, and what is needed to turn findings back into objects."""

    document: Json
    vms: dict[str, VM] = field(default_factory=dict)
    #: (firewall id, rule id) -> the native RuleRef, with its provenance.
    refs: dict[tuple[str, str], RuleRef] = field(default_factory=dict)
    firewalls: dict[str, FirewallObject] = field(default_factory=dict)
    #: The profile's internal networks, for the peer summaries native findings carry.
    internal: IntervalSet = field(default_factory=IntervalSet)
    #: VM id -> its recognised roles.
    roles: dict[str, list[str]] = field(default_factory=dict)
    #: VM id -> its expected flows (for the hints every finding gets).
    expected: dict[str, Expected] = field(default_factory=dict)


def evaluate_rego(
    inventory: Inventory,
    profile: Profile,
    catalog: Catalog,
    *,
    engine: Engine,
    opa_url: str | None = None,
    policy_path: Path = POLICY_PATH,
    today: dt.date | None = None,
    select: Callable[[VM], bool] | None = None,
) -> ScanResult:
    """A native scan whose SWYX001-SWYX003 findings come from the Rego policy.

    Suppressions and ordering are applied to the policy's findings exactly as to
    native ones. ``engine="opa"`` uploads the policy (id ``swyx``) and the catalog
    (``data.catalog``) to the OPA server at ``opa_url`` and queries
    ``data.swyx.findings`` there.
    """
    native = compare_all(inventory, profile, catalog, select=select)
    rego_input = build_input(inventory, profile, catalog, select=select)
    policy = _read_policy(policy_path)
    catalog_data = catalog_document(catalog)
    if engine == "embedded":
        raw = query_embedded(policy, catalog_data, rego_input.document, where=str(policy_path))
    elif engine == "opa":
        if not opa_url:
            raise InputError("--rego opa: --opa-url is required (e.g. http://127.0.0.1:8181)")
        raw = query_opa(opa_url, policy, catalog_data, rego_input.document)
    else:
        raise InputError(f"--rego: unknown engine {engine!r} (embedded or opa)")
    findings = [f for f in native.findings if f.rule_id not in REGO_RULES]
    findings += merge_duplicates(to_findings(raw, rego_input), rego_input.internal)
    compared = native._replace(findings=findings, expected=rego_input.expected)
    return scan_result(inventory, compared, profile, today=today)


# ------------------------------------------------------------------ input


def build_input(
    inventory: Inventory,
    profile: Profile,
    catalog: Catalog,
    *,
    select: Callable[[VM], bool] | None = None,
) -> RegoInput:
    """The input document: per VM with roles, its exact access and expected flows.

    Roles, server addresses and expected flows are found as
    :func:`policycheck.engine.evaluate.evaluate` finds them; VMs without a
    recognised role are left out (they are SWYX006, which stays native).
    """
    ctx = Context(inventory, profile.internal_networks)
    roles = {id(vm): assign_roles(vm, ctx, profile, catalog.role_slugs) for vm in inventory.vms}
    out = RegoInput(
        document={
            "internal_networks": [
                _canonical(c, "profile internal_networks") for c in profile.internal_networks
            ],
            "vms": [],
        },
        firewalls={fw.id: fw for fw in inventory.firewalls},
        internal=ctx.internal,
    )
    expectations = VMExpectations(inventory, roles, profile, catalog, ctx)
    for vm in inventory.vms:
        assignment = roles[id(vm)]
        if not assignment.roles or (select is not None and not select(vm)):
            continue
        expected = expectations.expected(vm, assignment.roles)
        layers_in, access_in = vm_access(vm, "inbound", ctx)
        layers_out, access_out = vm_access(vm, "outbound", ctx)
        # What the native comparison leaves out (the Azure load balancer probe).
        comparer = Comparer(
            vm, expected, profile, ctx, {"inbound": layers_in, "outbound": layers_out}
        )
        out.vms[vm.id] = vm
        out.roles[vm.id] = list(assignment.roles)
        out.expected[vm.id] = expected
        out.document["vms"].append(
            {
                "id": vm.id,
                "name": vm.name,
                "provider": vm.provider,
                "roles": list(assignment.roles),
                "firewalls": _firewalls(vm, ctx),
                "inbound": _regions(access_in, comparer.exempt, out.refs),
                "outbound": _regions(access_out, lambda _region: IntervalSet(), out.refs),
                "expected": _flows(expected),
                "requirements": _requirements(expected, comparer),
            }
        )
    return out


def _firewalls(vm: VM, ctx: Context) -> list[Json]:
    """The VM's firewall objects in attachment order (a missing rule goes in the first)."""
    out: list[Json] = []
    for att in vm.attachments:
        fw = ctx.firewall(att.firewall_id)
        if fw is not None:
            out.append({"id": fw.id, "name": fw.name, "level": att.level})
    return out


def _regions(
    access: Access,
    exempt: Callable[[Region], IntervalSet],
    refs: dict[tuple[str, str], RuleRef],
) -> list[Json]:
    out: list[Json] = []
    for region in access.regions:
        rules = []
        for rr in region.rules:
            ref = rule_ref(rr)
            refs[(ref.firewall_id, ref.rule_id)] = ref
            rules.append(
                {
                    "firewall_id": ref.firewall_id,
                    "firewall_name": ref.firewall_name,
                    "rule_id": ref.rule_id,
                    "rule_name": ref.rule_name,
                    "protocol": rr.protocol,
                }
            )
        out.append(
            {
                # The finding region's shape (protocol, ports, peers, excluding),
                # plus what only access has.
                "protocol": region.protocol,
                "ports": _intervals(region.ports) if region.protocol in PORT_PROTOCOLS else [],
                "peers": to_cidrs(region.addrs),
                "excluding": list(access.named) if region.protocol == OTHER_PROTOCOLS else [],
                "source_ports": _intervals(region.source_ports),
                "excluded_peers": to_cidrs(exempt(region)),
                "rules": rules,
            }
        )
    return out


def _intervals(ports: IntervalSet) -> list[list[int]]:
    return [[lo, hi] for lo, hi in ports]


def _ranges(ranges: Iterable[PortRange]) -> list[list[int]]:
    return [[r.lo, r.hi] for r in ranges]


def _flows(expected: Expected) -> list[Json]:
    return [
        {
            "role": f.role,
            "direction": f.direction,
            "protocol": f.protocol,
            "ports": _ranges(f.ports),
            "peer": f.peer,
            "peers": [_canonical(p, f"expected flow {', '.join(f.rows)}") for p in f.peers],
            "rows": list(f.rows),
        }
        for f in expected.flows
    ]


def _requirements(expected: Expected, comparer: Comparer) -> list[Json]:
    return [
        {
            "description": r.description,
            "direction": r.direction,
            "protocol": r.protocol,
            "alternatives": [_ranges(alt) for alt in r.alternatives],
            "peers": [_canonical(p, f"requirement {r.description}") for p in r.peers],
            # Peers that cannot satisfy it whatever the rules allow (platform
            # addresses, peers whose replies a stateless return path drops).
            "unreachable_peers": to_cidrs(comparer.unreachable(r)),
            "rows": list(r.rows),
        }
        for r in expected.requirements
    ]


def _canonical(cidr: str, where: str) -> str:
    """The CIDR as Python writes it, the only spelling the policy parses."""
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError as exc:
        raise InputError(f"{where}: invalid CIDR {cidr!r}") from exc


def catalog_document(catalog: Catalog) -> Json:
    """The catalog as the policy reads it at ``data.catalog`` (same fields as the YAML)."""
    data: Json = catalog.model_dump(mode="json", exclude_none=True)
    return data


def _read_policy(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the Rego policy ({exc.strerror})") from exc


# ---------------------------------------------------------------- engines


def query_embedded(
    policy: str, catalog_data: Json, document: Json, *, where: str = "policies/swyx.rego"
) -> list[Json]:
    """Evaluate ``data.swyx.findings`` with rego-cpp (regopy), in-process; errors
    name ``where`` (the policy file)."""
    from regopy import Interpreter, LogLevel, RegoError  # type: ignore[import-untyped]

    rego = Interpreter()
    # rego-cpp prints errors to the process's stdout, where the report goes.
    rego.log_level = LogLevel.NONE
    try:
        rego.add_module("swyx", policy)
        rego.add_data({OPA_CATALOG_PATH: catalog_data})
        rego.set_input(document)
        output = rego.query(FINDINGS_QUERY)
    except RegoError as exc:
        raise InputError(f"{where}: {_first_error_line(str(exc), policy)}") from exc
    if not output.ok():
        raise InputError(f"{where}: {_first_error_line(str(output), policy)}")
    results = output.results
    if not results or not results[0].expressions:
        raise InputError(f"{where}: {FINDINGS_QUERY} is undefined")
    return _findings_list(results[0].expressions[0], where)


_REGO_ERROR = re.compile(r"\(error \d+:[^|\s]*\|(\d+)\|\d+\s+\(errormsg \d+:([^)]*)\)")


def _first_error_line(text: str, policy: str) -> str:
    """rego-cpp's first error as ``line N: message`` (it reports character offsets)."""
    match = _REGO_ERROR.search(text)
    if match is None:
        return one_line(text)[:300] or "evaluation failed"
    line = policy.count("\n", 0, int(match.group(1))) + 1
    return f"line {line}: {one_line(match.group(2))}"


def query_opa(url: str, policy: str, catalog_data: Json, document: Json) -> list[Json]:
    """Upload the policy and catalog to an OPA server and query ``data.swyx.findings``.

    Goes through opa-python-client, i.e. OPA's REST API: ``PUT /v1/policies/swyx``,
    ``PUT /v1/data/catalog``, ``POST /v1/data/swyx/findings``.
    """
    import requests
    from opa_client import OpaClient

    host, port, ssl, shown = _opa_address(url)
    where = f"--opa-url {shown}"
    client = OpaClient(host=host, port=port, ssl=ssl, timeout=OPA_TIMEOUT_SECONDS)
    try:
        client.update_policy_from_string(policy, OPA_POLICY_ID)
        client.update_or_create_data(catalog_data, OPA_CATALOG_PATH)
        response = client.query_rule(
            input_data=document, package_path=OPA_POLICY_ID, rule_name="findings"
        )
    except requests.RequestException as exc:
        raise InputError(f"{where}: OPA request failed ({_request_problem(exc)})") from exc
    except Exception as exc:  # opa-python-client's own errors carry OPA's message
        raise InputError(f"{where}: OPA refused the request: {one_line(str(exc))}") from exc
    finally:
        client.close_connection()
    if not isinstance(response, Mapping) or "result" not in response:
        raise InputError(f"{where}: data.swyx.findings is undefined on the OPA server")
    return _findings_list(response["result"], where)


def _opa_address(url: str) -> tuple[str, int, bool, str]:
    """Host, port and TLS from ``http(s)://host[:port]``; the text shown in errors
    has no credentials."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--opa-url {url!r}: expected http://host:port or https://host:port")
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise InputError(
            f"--opa-url {parts.scheme}://{parts.hostname}: give only scheme, host and port "
            "(opa-python-client always talks to /v1 at the server root)"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InputError(f"--opa-url {parts.scheme}://{parts.hostname}: invalid port") from exc
    shown = f"{parts.scheme}://{parts.hostname}:{port}"
    return parts.hostname, port, parts.scheme == "https", shown


def _request_problem(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response is not None:
        return f"HTTP {response.status_code}"
    return type(exc).__name__


# --------------------------------------------------------------- findings


def _findings_list(value: object, where: str) -> list[Json]:
    if not isinstance(value, list) or not all(isinstance(f, dict) for f in value):
        raise InputError(f"{where}: data.swyx.findings is not a list of objects")
    return value


def to_findings(raw: Sequence[Json], rego_input: RegoInput) -> list[Finding]:
    """The policy's finding objects as Findings, with the native rule references."""
    return [_finding(obj, rego_input) for obj in raw]


def _finding(obj: Json, rego_input: RegoInput) -> Finding:
    try:
        rule_id = str(obj["rule_id"])
        vm = rego_input.vms[str(obj["vm"])]
        info = RULES[rule_id]
        internal = rego_input.internal
        region = [
            region_part(
                str(part["protocol"]),
                IntervalSet((lo, hi) for lo, hi in part["ports"])
                if part["protocol"] in PORT_PROTOCOLS
                else ALL_PORT_SET,
                addr_set(str(p) for p in part["peers"]),
                internal,
                excluding=[str(p) for p in part["excluding"]],
            )
            for part in obj["region"]
        ]
        documented = addr_set(str(p) for p in obj.get("documented_peers", []))
        return Finding(
            rule_id=info.id,
            level=info.level,
            provider=vm.provider,
            vm_id=vm.id,
            vm_name=vm.name,
            direction=obj["direction"],
            region=region,
            peers_summary=peers_summary(region, internal),
            rules=[_ref(r, vm, rego_input) for r in obj["rules"]],
            catalog_rows=[str(r) for r in obj.get("rows", [])],
            roles=rego_input.roles[vm.id],
            documented_peers=to_cidrs(documented) if rule_id == "SWYX002" else [],
            documented_summary=summarize_peers(documented, internal)
            if rule_id == "SWYX002"
            else None,
            requirement=obj.get("requirement"),
            alternatives=[
                [PortRange(lo=lo, hi=hi) for lo, hi in alt] for alt in obj.get("alternatives", [])
            ],
            remediation=info.remediation,
        )
    except (KeyError, TypeError, ValueError) as exc:
        shown = json.dumps(obj)[:200]
        raise InputError(f"Rego finding {shown}: not in the documented shape ({exc!r})") from exc


def _ref(obj: Json, vm: VM, rego_input: RegoInput) -> RuleRef:
    firewall_id, rule_id = str(obj["firewall_id"]), str(obj["rule_id"])
    known = rego_input.refs.get((firewall_id, rule_id))
    if known is not None:
        return known
    # A missing rule: it belongs in one of the VM's firewalls, or on the VM.
    fw = rego_input.firewalls.get(firewall_id)
    if fw is not None:
        return RuleRef(
            firewall_id=fw.id,
            firewall_name=fw.name,
            rule_id=rule_id,
            rule_name=obj.get("rule_name"),
            provenance=fw.provenance,
        )
    if firewall_id == vm.id:
        return RuleRef(
            firewall_id=vm.id,
            firewall_name=vm.name,
            rule_id=rule_id,
            rule_name=obj.get("rule_name"),
            provenance=vm.provenance,
        )
    raise KeyError(f"rule {firewall_id}/{rule_id} is not in the input")
