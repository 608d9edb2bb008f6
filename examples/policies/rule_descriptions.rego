# METADATA
# title: Every firewall rule says what it is for
# description: >-
#   A rule without a description cannot be reviewed: nobody can tell whether it
#   is still needed. Platform rules (Azure defaults, GCP implied rules) are exempt.
# custom:
#   id: NET002
#   severity: low
#   remediation: Give the rule a description (Terraform `description`).
package examples.rule_descriptions

import rego.v1

warn contains result if {
	some fw_id, fw in input.firewalls
	not fw.synthetic
	some rule_id, rule in fw.rules
	not rule.synthetic
	not _described(rule)
	result := {
		"resource": {"firewall": fw_id, "rule": rule_id},
		"message": concat("", [_rule_text(rule, fw), " has no description"]),
	}
}

# A GCP VPC firewall rule is its own firewall object: name it once.
_rule_text(rule, fw) := text if {
	name := _name(rule)
	name == fw.name
	text := concat("", ["rule ", name])
}

_rule_text(rule, fw) := text if {
	name := _name(rule)
	name != fw.name
	text := concat("", ["rule ", name, " of ", fw.name])
}

_described(rule) if {
	is_string(rule.description)
	trim_space(rule.description) != ""
}

_name(rule) := rule.name if is_string(rule.name)

_name(rule) := rule.id if not is_string(rule.name)
