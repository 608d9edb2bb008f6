# METADATA
# title: Remote administration only from the jump hosts
# description: >-
#   SSH and RDP must be reachable only from the jump hosts (a peer group of the
#   deployment profile named in data.admin_access.jump_host_groups): everything
#   else is how servers get taken over.
# related_resources:
#   - ref: https://www.cisa.gov/news-events/cybersecurity-advisories/aa23-025a
#     description: Protecting against malicious use of remote management software
# custom:
#   id: NET001
#   severity: high
#   remediation: >-
#     Narrow the rule's sources to the jump hosts, or put the administrators'
#     addresses into a jump host peer group of the profile.
package examples.admin_access

import rego.v1

deny contains result if {
	some vm_id, vm in input.vms
	some region in vm.inbound
	region.protocol == "tcp"
	some port in data.admin_access.ports
	_opens(region, port)
	_reachable(region)
	not _from_jump_hosts(region)
	result := {
		"vm": vm_id,
		"resource": region.rules[0],
		"direction": "inbound",
		# The port this result is about, from the region's peers: what the message says.
		"region": [{"protocol": "tcp", "ports": [[port, port]], "peers": region.peers}],
		"message": concat("", [
			"port ", format_int(port, 10), " on ", vm.name,
			" is reachable from beyond the jump hosts (",
			concat(", ", region.peers), ")",
		]),
	}
}

_opens(region, port) if {
	some range in region.ports
	range[0] <= port
	port <= range[1]
}

# Some address gets through: every address is internal or internet, except the
# excluded platform ones (the Azure load balancer probe), which are neither.
_reachable(region) if region.reach.internal

_reachable(region) if region.reach.internet

# Facts the input precomputes, so no address arithmetic is needed here.
_from_jump_hosts(region) if {
	some group in data.admin_access.jump_host_groups
	region.reach.within[group]
}
