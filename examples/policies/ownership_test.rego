package examples.ownership_test

import rego.v1

# A function, not a rule: rego-cpp 1.5 mishandles `with ... as <rule>`.
vms(_) := {
	"vm-1": {"name": "pbx1", "resource": "aws_instance.pbx1", "tags": {"owner": "voice-team"}},
	"vm-2": {"name": "rc1", "resource": "aws_instance.rc1", "tags": {"Name": "rc1"}},
	"vm-3": {"name": "gate1", "resource": "aws_instance.gate1", "tags": {"owner": " "}},
}

test_vms_without_an_owner_are_reported if {
	results := data.examples.ownership.info with input.vms as vms(0)
	{r.vm | some r in results} == {"vm-2", "vm-3"}
}

test_the_result_points_at_the_vm if {
	results := data.examples.ownership.info with input.vms as vms(0)
	some r in results
	r.vm == "vm-2"
	r.resource == "aws_instance.rc1"
	r.message == "rc1 has no owner tag"
}

test_the_tag_name_comes_from_data if {
	results := data.examples.ownership.info with input.vms as vms(0) with data.ownership.tag as "Name"
	{r.vm | some r in results} == {"vm-1", "vm-3"}
}
