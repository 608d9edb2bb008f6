package examples.internet_exposure_test

import rego.v1

rule := {"firewall": "sg-1", "rule": "r1"}

region(protocol, ports, widest) := {
	"protocol": protocol,
	"ports": ports,
	"peers": ["0.0.0.0/0"],
	"rules": [rule],
	"reach": {"widest_internet_prefix": widest},
}

tunnel_flow := {"direction": "inbound", "peer": "internet", "protocol": "tcp", "ports": [[16203, 16203], [57203, 57203]]}

vm(inbound) := {"vm-1": {"name": "rc1", "inbound": inbound, "expected": [tunnel_flow]}}

test_a_wide_ipv4_source_is_denied if {
	results := data.examples.internet_exposure.deny with input.vms as vm([region("tcp", [[8080, 8080]], {"ipv4": 1, "ipv6": null})])
	{r.message | some r in results} == {"rc1 is reachable from a /1 of the ipv4 internet (tcp 8080)"}
}

test_a_partner_prefix_is_fine if {
	count(data.examples.internet_exposure.deny) == 0 with input.vms as vm([region("tcp", [[8080, 8080]], {"ipv4": 24, "ipv6": null})])
}

test_ipv6_has_its_own_limit if {
	results := data.examples.internet_exposure.deny with input.vms as vm([region("udp", [[5060, 5061]], {"ipv4": null, "ipv6": 32})])
	{r.message | some r in results} == {"rc1 is reachable from a /32 of the ipv6 internet (udp 5060-5061)"}
}

test_documented_internet_flows_are_exempt if {
	count(data.examples.internet_exposure.deny) == 0 with input.vms as vm([region("tcp", [[16203, 16203]], {"ipv4": 0, "ipv6": 0})])
}

test_a_port_beyond_the_documented_ones_is_not_exempt if {
	results := data.examples.internet_exposure.deny with input.vms as vm([region("tcp", [[16203, 16204]], {"ipv4": 0, "ipv6": null})])
	count(results) == 1
}
