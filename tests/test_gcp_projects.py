"""A GCP network is its project and its name (issue 8, two tenants).

Every project has a network called ``default``: in an audit of two projects, one
project's firewall rules, network-tag / service-account sources and SwyxWare server
must never reach the other project's VMs. A shared VPC's service-project VM is in
the host project's network, so the host's rules govern it and its own project's
same-named network does not. Live estates are fixtures/gcp/compliant copied per
project and served by the fake Compute API to the real SDK; plans go through the
real plan reader.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gcp_fake import FIXTURES, FakeCompute, gcp_fake  # noqa: F401
from google.oauth2 import service_account
from plan_fragments import Res, declaration, ref, write_plan
from scan_helpers import scan, text, touches

from policycheck.engine.context import Context
from policycheck.findings import Finding, ScanResult
from policycheck.model import Inventory, gcp_network_ref
from policycheck.sources.gcp import GcpOptions, collect
from policycheck.sources.terraform import load_plan

Json = dict[str, Any]
API = "https://www.googleapis.com/compute/v1"
RDP, WINRM = 3389, 5985


# ------------------------------------------------------------------ live


def project(root: Path, name: str, edit: Callable[[dict[str, Json]], None]) -> None:
    """fixtures/gcp/compliant as project ``name``, its network called ``default``."""
    source = FIXTURES / "compliant" / "projects" / "swyx-compliant"
    target = root / "projects" / name
    shutil.copytree(source, target)
    files = {f"{f.parent.name}/{f.stem}": f for f in target.glob("*/*.json")}
    bodies = {
        key: json.loads(
            f.read_text().replace("swyx-compliant", name).replace("swyx-net", "default")
        )
        for key, f in files.items()
    }
    edit(bodies)
    for key, body in bodies.items():
        files[key].write_text(json.dumps(body))


def instances(bodies: dict[str, Json]) -> list[Json]:
    found: list[Json] = bodies["aggregated/instances"]["items"]["zones/europe-west3-a"]["instances"]
    return found


def add_rule(bodies: dict[str, Json], name: str, port: int, **fields: Any) -> None:
    """An ingress VPC rule on the project's ``default`` network for the Swyx VMs."""
    rule = copy.deepcopy(bodies["global/firewalls"]["items"][0])
    rule.update(
        name=name,
        id=f"47119{abs(hash(name)) % 10**12:012d}",
        selfLink=rule["selfLink"].rsplit("/", 1)[0] + f"/{name}",
        allowed=[{"IPProtocol": "tcp", "ports": [str(port)]}],
        **({"sourceRanges": ["0.0.0.0/0"]} | fields),
    )
    bodies["global/firewalls"]["items"].append(rule)


def add_vm(bodies: dict[str, Json], name: str, address: str, tags: list[str]) -> None:
    vm = copy.deepcopy(instances(bodies)[0])
    vm.update(name=name, id=f"4712{abs(hash(name)) % 10**15:015d}", labels={})
    vm["selfLink"] = vm["selfLink"].rsplit("/", 1)[0] + f"/{name}"
    vm["tags"]["items"] = tags
    vm["networkInterfaces"][0].update(networkIP=address, accessConfigs=[])
    vm["serviceAccounts"] = []
    instances(bodies).append(vm)


def nothing(bodies: dict[str, Json]) -> None:
    del bodies


def read(fake: FakeCompute, tmp_path: Path, estate: Path, projects: list[str]) -> Inventory:
    fake.serve_directory(estate)
    key = fake.service_account(tmp_path, projects[0])
    credentials = service_account.Credentials.from_service_account_file(str(key.path))
    return collect(GcpOptions(projects=projects, api_endpoint=fake.url, credentials=credentials))


def on(result: ScanResult, rule_id: str, port: int, project_id: str) -> list[Finding]:
    """Findings of ``rule_id`` on ``port`` for the VMs of one project."""
    return [
        f
        for f in result.findings
        if f.rule_id == rule_id and f"/projects/{project_id}/" in f.vm_id and touches(f, port)
    ]


def test_live_a_rule_of_project_b_default_never_reaches_project_a(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    estate = tmp_path / "estate"
    project(estate, "tenant-a", nothing)
    project(estate, "tenant-b", lambda b: add_rule(b, "b-allow-rdp", RDP))
    inv = read(gcp_fake, tmp_path, estate, ["tenant-a", "tenant-b"])
    assert sorted(n.id for n in inv.networks) == [
        "projects/tenant-a/global/networks/default",
        "projects/tenant-b/global/networks/default",
    ]
    result = scan(inv)
    assert on(result, "SWYX001", RDP, "tenant-a") == []
    (found,) = on(result, "SWYX001", RDP, "tenant-b")
    # Reports still name the rule by its name, not by a path.
    assert [r.firewall_name for r in found.rules] == ["b-allow-rdp"]
    assert "b-allow-rdp" in text(found)


def test_live_network_tag_sources_stay_in_their_project(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Project A allows RDP from its VMs tagged ``admin-host``; the only such VM is in
    project B's ``default`` network, so the rule allows nothing."""

    def rule(bodies: dict[str, Json]) -> None:
        add_rule(bodies, "a-allow-admin-rdp", RDP, sourceRanges=[], sourceTags=["admin-host"])

    def admin(bodies: dict[str, Json]) -> None:
        add_vm(bodies, "admin", "10.0.1.99", ["admin-host"])

    def both(bodies: dict[str, Json]) -> None:
        rule(bodies)
        admin(bodies)

    apart = tmp_path / "apart"
    project(apart, "tenant-a", rule)
    project(apart, "tenant-b", admin)
    inv = read(gcp_fake, tmp_path, apart, ["tenant-a", "tenant-b"])
    ctx = Context(inv, [])
    (pbx_a,) = [vm for vm in inv.vms if "/projects/tenant-a/" in vm.id]
    assert [vm.name for vm in ctx.network_vms("gcp", pbx_a.networks[0])] == ["pbx1"]
    assert on(scan(inv), "SWYX001", RDP, "tenant-a") == []

    # The same admin VM inside project A: the rule now opens RDP to it (the control).
    together = tmp_path / "together"
    project(together, "tenant-a", both)
    project(together, "tenant-b", nothing)
    inv = read(gcp_fake, tmp_path, together, ["tenant-a", "tenant-b"])
    assert on(scan(inv), "SWYX001", RDP, "tenant-a")


def test_live_shared_vpc_vm_is_governed_by_the_host_project(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A VM of service project ``svc`` whose NIC is in host project ``host``'s network
    ``default``: the host's rules apply to it, the rules of ``svc``'s own ``default``
    network do not."""
    host_net = f"{API}/projects/host/global/networks/default"

    def host(bodies: dict[str, Json]) -> None:
        instances(bodies).clear()
        add_rule(bodies, "host-allow-rdp", RDP)

    def service(bodies: dict[str, Json]) -> None:
        add_rule(bodies, "svc-allow-winrm", WINRM)
        instances(bodies)[0]["networkInterfaces"][0]["network"] = host_net

    estate = tmp_path / "estate"
    project(estate, "host", host)
    project(estate, "svc", service)
    inv = read(gcp_fake, tmp_path, estate, ["host", "svc"])
    (vm,) = inv.vms
    assert vm.provenance.scope == "svc"
    assert vm.networks == ("projects/host/global/networks/default",)
    result = scan(inv)
    (rdp,) = on(result, "SWYX001", RDP, "svc")
    assert [r.firewall_name for r in rdp.rules] == ["host-allow-rdp"]
    assert on(result, "SWYX001", WINRM, "svc") == []


# ------------------------------------------------------------------ plans


def plan_network(key: str, project_id: str | None) -> Res:
    values: Json = {"name": "default", "auto_create_subnetworks": True}
    if project_id:
        values["project"] = project_id
    return Res("google_compute_network", key, values, {"id": True, "self_link": True})


def plan_vm(key: str, project_id: str | None, address: str) -> Res:
    values: Json = {
        "name": key,
        "zone": "europe-west3-a",
        "machine_type": "e2-standard-4",
        "tags": ["swyx-pbx", "swyx-role-swyxware-server", "swyx-role-remote-connector"],
        "labels": None,
        "network_interface": [
            {"stack_type": "IPV4_ONLY", "access_config": [], "network_ip": address}
        ],
        "service_account": [],
    }
    if project_id:
        values["project"] = project_id
    unknown: Json = {
        "id": True,
        "self_link": True,
        "network_interface": [{"network": True, "subnetwork": True}],
    }
    return Res("google_compute_instance", key, values, unknown)


def plan_rdp(key: str, project_id: str | None, network: str | None = None) -> Res:
    values: Json = {
        "name": key.replace("_", "-"),
        "direction": "INGRESS",
        "priority": 1000,
        "source_ranges": ["0.0.0.0/0"],
        "allow": [{"protocol": "tcp", "ports": [str(RDP)]}],
        "deny": [],
        "disabled": False,
        "target_tags": ["swyx-pbx"],
    }
    if project_id:
        values["project"] = project_id
    if network:
        values["network"] = network
    unknown: Json = {"id": True, "self_link": True, "network": not network}
    return Res("google_compute_firewall", key, values, unknown)


def nic_config(key: str, network: str) -> Json:
    exprs = {"network_interface": [{"network": ref(f"google_compute_network.{network}.id")}]}
    return declaration("google_compute_instance", key, exprs)


def two_project_plan(path: Path, rule: Res, rule_config: list[Json]) -> Path:
    resources = [
        plan_network("a", "tenant-a"),
        plan_network("b", "tenant-b"),
        plan_vm("pbx_a", "tenant-a", "10.0.1.10"),
        plan_vm("pbx_b", "tenant-b", "10.0.1.10"),
        rule,
    ]
    config = [nic_config("pbx_a", "a"), nic_config("pbx_b", "b"), *rule_config]
    return write_plan(path, resources, config)


def rdp_findings(inv: Inventory, vm: str) -> list[Finding]:
    return [
        f
        for f in scan(inv).findings
        if f.rule_id == "SWYX001" and f.vm_name == vm and touches(f, RDP)
    ]


def test_plan_a_rule_of_project_b_default_never_reaches_project_a(tmp_path: Path) -> None:
    rule = plan_rdp("b_allow_rdp", "tenant-b")
    config = [
        declaration(
            "google_compute_firewall",
            "b_allow_rdp",
            {"network": ref("google_compute_network.b.name")},
        )
    ]
    inv = load_plan(two_project_plan(tmp_path / "plan.json", rule, config))
    assert sorted(vm.networks for vm in inv.vms) == [
        ("projects/tenant-a/global/networks/default",),
        ("projects/tenant-b/global/networks/default",),
    ]
    assert rdp_findings(inv, "pbx_a") == []
    assert rdp_findings(inv, "pbx_b")


def test_plan_provider_default_project_names_the_network(tmp_path: Path) -> None:
    """A rule naming network ``default`` without a project of its own is in the
    google provider's default project when the plan records one; with no project
    known anywhere, names match within the plan as before."""
    path = two_project_plan(tmp_path / "plan.json", plan_rdp("rdp", None, "default"), [])
    doc = json.loads(path.read_text())
    doc["configuration"]["provider_config"]["google"]["expressions"] = {
        "project": {"constant_value": "tenant-b"}
    }
    path.write_text(json.dumps(doc))
    inv = load_plan(path)
    (rule,) = inv.firewalls
    assert rule.network == "projects/tenant-b/global/networks/default"
    assert rdp_findings(inv, "pbx_a") == [] and rdp_findings(inv, "pbx_b")

    del doc["configuration"]["provider_config"]["google"]["expressions"]
    path.write_text(json.dumps(doc))
    inv = load_plan(path)
    assert inv.firewalls[0].network == "default"  # project unknown: the name alone
    assert rdp_findings(inv, "pbx_a") and rdp_findings(inv, "pbx_b")


def test_network_references_reduce_to_one_key() -> None:
    path = "projects/p/global/networks/default"
    for spelling in (
        f"{API}/{path}",
        f"https://compute.googleapis.com/compute/beta/{path}/",
        path,
    ):
        assert gcp_network_ref(spelling) == path
    assert gcp_network_ref("default", "p") == path
    assert gcp_network_ref("global/networks/default", "p") == path
    assert gcp_network_ref("default") == "default"
    assert Context.same_network("gcp", f"{API}/{path}", path)
    assert not Context.same_network("gcp", path, "projects/q/global/networks/default")
    assert Context.same_network("gcp", "default", "projects/q/global/networks/default")
    assert not Context.same_network("gcp", "default", "projects/q/global/networks/other")
