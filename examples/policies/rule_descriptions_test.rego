package examples.rule_descriptions_test

import rego.v1

rule(name, description) := {"id": name, "name": name, "description": description, "synthetic": false}

# A function, not a rule: rego-cpp 1.5 mishandles `with ... as <rule>`.
firewalls(_) := {
	"sg-1": {"name": "swyx-pbx", "synthetic": false, "rules": {
		"r1": rule("rdp", null),
		"r2": rule("sip", "SIP from the offices"),
		"r3": rule("blank", "   "),
	}},
	"gcp-fw": {"name": "allow-tunnel", "synthetic": false, "rules": {"allow/0": rule("allow-tunnel", null)}},
	"implied": {"name": "implied-deny-ingress", "synthetic": true, "rules": {"x": rule("implied", null)}},
}

test_rules_without_a_description_are_reported if {
	results := data.examples.rule_descriptions.warn with input.firewalls as firewalls(0)
	{r.message | some r in results} == {
		"rule rdp of swyx-pbx has no description",
		"rule blank of swyx-pbx has no description",
		"rule allow-tunnel has no description",
	}
}

test_each_result_names_its_rule if {
	results := data.examples.rule_descriptions.warn with input.firewalls as firewalls(0)
	{"firewall": "sg-1", "rule": "r1"} in {r.resource | some r in results}
}

test_platform_rules_are_exempt if {
	results := data.examples.rule_descriptions.warn with input.firewalls as firewalls(0)
	every r in results {
		r.resource.firewall != "implied"
	}
}
