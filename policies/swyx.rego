# METADATA
# title: Swyx port matrix
# description: >-
#   SWYX001 (undocumented inbound access), SWYX002 (inbound source too broad)
#   and SWYX003 (required flow blocked), decided over policycheck's input
#   document (docs/rego.md).
package swyx

import rego.v1

# The native pass has compared every VM's exact effective access with the
# flows its Swyx roles need and written what it found into the input document
# (policycheck/policy/document.py): per inbound region, its `undocumented`
# part and its `too_broad` cells, and per requirement whether it is `met`.
# This policy turns those facts into findings, merged per VM and responsible
# rules (`rule_set`) so that one bad rule gives one finding however many ports
# it opens. It needs no address or port arithmetic: policycheck writes each
# finding's region in canonical form when it reads the findings back.
#
# Every rule is linear in the size of the input: pieces are grouped by the
# engine through the keys of `_undocumented[vm][rule_set]`, never by scanning.

# ------------------------------------------------------------------ findings

# SWYX001: the undocumented parts of a VM's inbound regions, per rule set.
_undocumented[vm_id][rule_set] contains part if {
	some vm_id, vm in input.vms
	some region in vm.inbound
	some part in region.undocumented
	rule_set := region.rule_set
}

# SWYX002: the cells of a VM's inbound regions open beyond the documented peers.
_too_broad[vm_id][rule_set] contains cell if {
	some vm_id, vm in input.vms
	some region in vm.inbound
	some cell in region.too_broad
	rule_set := region.rule_set
}

findings contains f if {
	some vm_id, groups in _undocumented
	some rule_set, parts in groups
	vm := input.vms[vm_id]
	f := {
		"rule_id": "SWYX001",
		"vm": vm_id,
		"direction": "inbound",
		"rule_set": rule_set,
		"region": parts,
		"message": concat("", ["undocumented inbound access to ", vm.name, _via(vm, rule_set)]),
	}
}

findings contains f if {
	some vm_id, groups in _too_broad
	some rule_set, cells in groups
	vm := input.vms[vm_id]
	f := {
		"rule_id": "SWYX002",
		"vm": vm_id,
		"direction": "inbound",
		"rule_set": rule_set,
		"region": [part |
			some c in cells
			part := {"protocol": c.protocol, "ports": c.ports, "peers": c.peers, "excluding": c.excluding}
		],
		"rows": {row | some c in cells; some row in c.rows},
		"documented_peers": {peer | some c in cells; some peer in c.documented_peers},
		"message": concat("", ["inbound source too broad on ", vm.name, _via(vm, rule_set)]),
	}
}

# SWYX003: a requirement no rule meets.
findings contains f if {
	some vm_id, vm in input.vms
	some i, requirement in vm.requirements
	not requirement.met
	f := {
		"rule_id": "SWYX003",
		"vm": vm_id,
		"direction": requirement.direction,
		"requirement": i,
		"message": concat("", [vm.name, ": ", requirement.description, " is blocked"]),
	}
}

# conftest-style: one message per finding. policycheck words its findings
# itself, from their data (policycheck/report/common.py).
deny contains f.message if {
	some f in findings
}

# " (allowed by fw/rule + fw/rule)"
_via(vm, rule_set) := concat("", [" (allowed by ", concat(" + ", names), ")"]) if {
	# Bound outside the comprehension: rego-cpp 1.5 reads a function's argument
	# used inside a comprehension as a fresh variable.
	refs := vm.rule_sets[rule_set]
	names := [name | some ref in refs; name := concat("/", [ref.firewall, ref.rule])]
}
