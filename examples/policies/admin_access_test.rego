package examples.admin_access_test

import rego.v1

rdp_rule := {"firewall": "sg-1", "rule": "rdp"}

region(ports, peers, reach) := {
	"protocol": "tcp",
	"ports": ports,
	"peers": peers,
	"rules": [rdp_rule],
	"reach": reach,
}

from_internet := {"internet": true, "internal": false, "within": {"internal": false, "jump-host": false}}

from_jump_host := {"internet": false, "internal": true, "within": {"internal": true, "jump-host": true}}

# Only the Azure load balancer probe: neither internal nor internet.
probe_only := {"internet": false, "internal": false, "within": {"internal": true, "jump-host": true}}

vm(inbound) := {"vm-1": {"name": "pbx1", "inbound": inbound}}

test_rdp_from_the_internet_is_denied if {
	results := data.examples.admin_access.deny with input.vms as vm([region([[3389, 3389]], ["0.0.0.0/0"], from_internet)])
	count(results) == 1
	some result in results
	result.vm == "vm-1"
	result.resource == rdp_rule
	result.message == "port 3389 on pbx1 is reachable from beyond the jump hosts (0.0.0.0/0)"
}

test_a_range_that_holds_ssh_is_denied if {
	results := data.examples.admin_access.deny with input.vms as vm([region([[0, 1024]], ["10.0.0.0/8"], from_internet)])
	{r.message | some r in results} == {"port 22 on pbx1 is reachable from beyond the jump hosts (10.0.0.0/8)"}
	# The result's region is the port the message names, not the whole range.
	{r.region | some r in results} == {[{"protocol": "tcp", "ports": [[22, 22]], "peers": ["10.0.0.0/8"]}]}
}

test_rdp_from_the_jump_host_is_fine if {
	count(data.examples.admin_access.deny) == 0 with input.vms as vm([region([[3389, 3389]], ["10.0.0.5/32"], from_jump_host)])
}

test_other_ports_are_not_this_policys_business if {
	count(data.examples.admin_access.deny) == 0 with input.vms as vm([region([[443, 443]], ["0.0.0.0/0"], from_internet)])
}

test_platform_probe_is_not_a_peer if {
	count(data.examples.admin_access.deny) == 0 with input.vms as vm([region([[3389, 3389]], ["168.63.129.16/32"], probe_only)])
}

test_jump_host_groups_come_from_data if {
	results := data.examples.admin_access.deny with input.vms as vm([region([[22, 22]], ["10.0.0.5/32"], from_jump_host)])
		with data.admin_access.jump_host_groups as ["bastions"]
	count(results) == 1
}
