# Unit tests for swyx.rego, with hand-written input documents (docs/rego.md).
# `policycheck policy test policies` runs them with the embedded engine, and
# `opa test policies` with OPA: the GitHub CI workflow runs both.
package swyx_test

import rego.v1

rule_b1 := {"firewall": "sg-1", "rule": "B1"}

rule_b2 := {"firewall": "sg-1", "rule": "B2"}

rdp := {"protocol": "tcp", "ports": [[3389, 3389]], "peers": ["0.0.0.0/0"], "excluding": []}

sip := {"protocol": "tcp", "ports": [[5060, 5060]], "peers": ["0.0.0.0/0"], "excluding": []}

too_broad_sip := object.union(sip, {
	"peers": ["0.0.0.0/5", "8.0.0.0/7"],
	"rows": ["1.1/inbound/1"],
	"documented_peers": ["10.0.0.0/8"],
})

tunnel := {
	"description": "RemoteConnector tunnel from the internet",
	"direction": "inbound",
	"protocol": "tcp",
	"alternatives": [[[16203, 16203]], [[57203, 57203]]],
	"peers": ["0.0.0.0/0", "::/0"],
	"rows": ["1.11/inbound/1"],
	"met": true,
}

region(rule_set, undocumented, too_broad) := {
	"protocol": "tcp",
	"rule_set": rule_set,
	"undocumented": undocumented,
	"too_broad": too_broad,
}

# rego-cpp 1.5 crashes on `with input as` over rules that use other rules;
# mocking `input.vms` works in both engines.
vms(inbound, requirements) := {"vm-1": {
	"id": "vm-1",
	"name": "pbx1",
	"inbound": inbound,
	"rule_sets": [[rule_b1], [rule_b2]],
	"requirements": requirements,
}}

test_undocumented_region_is_swyx001 if {
	found := data.swyx.findings with input.vms as vms([region(0, [rdp], [])], [])
	count(found) == 1
	some f in found
	f.rule_id == "SWYX001"
	f.vm == "vm-1"
	f.rule_set == 0
	f.region == {rdp}
	f.message == "undocumented inbound access to pbx1 (allowed by sg-1/B1)"
}

test_one_finding_per_rule_set if {
	found := data.swyx.findings with input.vms as vms(
		[region(0, [rdp], []), region(0, [sip], []), region(1, [sip], [])],
		[],
	)
	count(found) == 2
	{f.rule_set: f.region | some f in found} == {0: {rdp, sip}, 1: {sip}}
}

test_too_broad_cell_is_swyx002 if {
	found := data.swyx.findings with input.vms as vms([region(1, [], [too_broad_sip])], [])
	count(found) == 1
	some f in found
	f.rule_id == "SWYX002"
	f.rule_set == 1
	f.region == [{"protocol": "tcp", "ports": [[5060, 5060]], "peers": ["0.0.0.0/5", "8.0.0.0/7"], "excluding": []}]
	f.rows == {"1.1/inbound/1"}
	f.documented_peers == {"10.0.0.0/8"}
}

test_clean_region_has_no_finding if {
	count(data.swyx.findings) == 0 with input.vms as vms([region(0, [], [])], [tunnel])
}

test_unmet_requirement_is_swyx003 if {
	blocked := object.union(tunnel, {"met": false})
	found := data.swyx.findings with input.vms as vms([], [tunnel, blocked])
	count(found) == 1
	some f in found
	f.rule_id == "SWYX003"
	f.requirement == 1
	f.direction == "inbound"
}

test_deny_has_one_message_per_finding if {
	messages := data.swyx.deny with input.vms as vms([region(0, [rdp], []), region(1, [], [too_broad_sip])], [])
	messages == {
		"undocumented inbound access to pbx1 (allowed by sg-1/B1)",
		"inbound source too broad on pbx1 (allowed by sg-1/B2)",
	}
}
