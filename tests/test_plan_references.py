"""References through module outputs connect many resources to the right instance.

Reading a plan looks up, for every resource, its declaration in the configuration
and, for every reference to a module output, the module call's instances; both
are indexed once per plan (policycheck/sources/tfplan.py), so a plan of thousands
of declared resources reads in time linear in its size (benchmarks/RESULTS.md).
These tests pin what those lookups return on such a plan.
"""

from __future__ import annotations

from pathlib import Path

from plan_fragments import Res, const, declaration, ref, write_plan

from policycheck.sources.terraform import load_plan

RULES = 60


def _group(module: str) -> Res:
    return Res(
        "aws_security_group",
        "sg",
        {"name": "pbx", "vpc_id": "vpc-1", "ingress": [], "egress": [], "tags": {}},
        {"id": True},
        module=module,
    )


def _rule(i: int, target: str) -> tuple[Res, dict[str, object]]:
    values = {
        "type": "ingress",
        "from_port": 5060,
        "to_port": 5060,
        "protocol": "tcp",
        "cidr_blocks": [f"10.{i}.0.0/16"],
        "self": False,
    }
    res = Res("aws_security_group_rule", f"r{i}", values, {"security_group_id": True, "id": True})
    config = declaration(
        "aws_security_group_rule",
        f"r{i}",
        {"security_group_id": ref(target), **{k: const(v) for k, v in values.items()}},
    )
    return res, config


def test_rules_of_many_declarations_reach_the_module_instance_they_name(tmp_path: Path) -> None:
    """Root rules name ``module.net["a"].sg_id`` (a for_each module) or
    ``module.one.sg_id``: each lands on that instance's group, none elsewhere."""
    rules = [
        _rule(i, 'module.net["a"].sg_id' if i % 2 else "module.one.sg_id") for i in range(RULES)
    ]
    output = {"sg_id": {"expression": ref("aws_security_group.sg.id")}}
    inner = {"resources": [declaration("aws_security_group", "sg", {"name": const("pbx")})]}
    module_calls = {
        "net": {
            "source": "./net",
            "for_each_expression": const({"a": "a", "b": "b"}),
            "module": {**inner, "outputs": output},
        },
        "one": {"source": "./net", "module": {**inner, "outputs": output}},
    }
    groups = [_group('module.net["a"]'), _group('module.net["b"]'), _group("module.one")]
    plan = write_plan(
        tmp_path, [*groups, *(r for r, _ in rules)], [c for _, c in rules], module_calls
    )
    inventory = load_plan(plan)
    by_id = {fw.id: fw for fw in inventory.firewalls}
    assert set(by_id) == {g.address for g in groups}
    peers = {
        fw_id: sorted(p.value for rule in fw.rules for p in rule.peers)
        for fw_id, fw in by_id.items()
    }
    assert peers['module.net["a"].aws_security_group.sg'] == sorted(
        f"10.{i}.0.0/16" for i in range(1, RULES, 2)
    )
    assert peers["module.one.aws_security_group.sg"] == sorted(
        f"10.{i}.0.0/16" for i in range(0, RULES, 2)
    )
    assert peers['module.net["b"].aws_security_group.sg'] == []
    # Every rule found its declaration (its expressions), so none is unresolved.
    assert all(not rule.unknown for fw in inventory.firewalls for rule in fw.rules)
