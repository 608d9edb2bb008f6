# METADATA
# title: Nothing wider than a /16 from the internet
# description: >-
#   A rule may open a service to a partner network, but not to a large part of
#   the internet; the flows the Swyx port matrix documents as internet-facing
#   (the RemoteConnector tunnel, the web ports) are exempt.
# custom:
#   id: NET003
#   severity: medium
#   remediation: Replace the wide source with the partner's own prefixes.
package examples.internet_exposure

import rego.v1

deny contains result if {
	some vm_id, vm in input.vms
	some region in vm.inbound
	some family, widest in region.reach.widest_internet_prefix
	widest != null
	widest < data.internet_exposure.widest[family]
	not _documented_for_the_internet(vm, region)
	result := {
		"vm": vm_id,
		"resource": region.rules[0],
		"direction": "inbound",
		"region": [region],
		"message": concat("", [
			vm.name, " is reachable from a /", format_int(widest, 10), " of the ", family,
			" internet (", _what(region), ")",
		]),
	}
}

# Every port of the region is in a flow the matrix documents from the internet.
_documented_for_the_internet(vm, region) if {
	region.protocol in {"tcp", "udp"}
	every range in region.ports {
		some flow in vm.expected
		flow.direction == "inbound"
		flow.peer == "internet"
		flow.protocol == region.protocol
		some allowed in flow.ports
		allowed[0] <= range[0]
		range[1] <= allowed[1]
	}
}

_what(region) := concat(" ", [region.protocol, _ports(region)]) if region.protocol in {"tcp", "udp"}

_what(region) := region.protocol if not region.protocol in {"tcp", "udp"}

_ports(region) := concat(",", [text |
	some range in region.ports
	text := _range(range)
])

_range(range) := format_int(range[0], 10) if range[0] == range[1]

_range(range) := concat("-", [format_int(range[0], 10), format_int(range[1], 10)]) if range[0] != range[1]
