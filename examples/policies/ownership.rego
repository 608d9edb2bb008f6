# METADATA
# title: Every VM has an owner
# description: >-
#   Each VM carries an owner tag (label on GCP), so that a finding reaches
#   someone who can act on it.
# custom:
#   id: TAG001
#   severity: low
#   remediation: Add the tag (data.ownership.tag, `owner` here) to the VM.
package examples.ownership

import rego.v1

info contains result if {
	some vm_id, vm in input.vms
	not _owned(vm)
	result := {
		"vm": vm_id,
		"resource": vm.resource,
		"message": concat("", [vm.name, " has no ", data.ownership.tag, " tag"]),
	}
}

_owned(vm) if trim_space(object.get(vm.tags, data.ownership.tag, "")) != ""
