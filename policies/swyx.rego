# Swyx port-matrix comparison in Rego: SWYX001 (undocumented inbound access),
# SWYX002 (inbound source too broad) and SWYX003 (required flow blocked).
#
# Reaches the same verdicts as policycheck's native comparison
# (policycheck/engine/compare.py) over the input document policycheck builds
# (policycheck/rego.py, shape in docs/rego.md): each VM's exact effective access
# per direction (cloud semantics already applied) and its expected flows. The
# catalog (policies/swyx-catalog.yaml) is optional data at data.catalog, used
# only to name rows in messages.
#
# Written for both OPA and rego-cpp 1.5 (regopy), so it keeps to what both
# evaluate the same way:
# - rego-cpp has no net.cidr_* builtins, and 128-bit arithmetic is not exact in
#   every engine: addresses are fixed-width bit strings (see "Addresses").
# - rego-cpp's sort/min/max order numbers as text (sort([9, 10]) is [10, 9])
#   and sort(set) does not index like an array: ordering uses `<` only
#   (_sorted, _least, _greatest), which both engines compare numerically.
# - rego-cpp mis-evaluates function calls in a comprehension's head and quotes
#   computed strings in sprintf("%s"): heads are plain variables bound in the
#   body, text is built with concat, and sprintf only formats numbers.
# - rego-cpp does not parse `some i, x in xs` inside comprehensions.
package swyx

import rego.v1

# ------------------------------------------------------------------ findings

findings contains f if {
	some f in _excess_and_breadth
}

findings contains f if {
	some f in _blocked
}

# conftest-style: one message per finding.
deny contains f.message if {
	some f in findings
}

# ------------------------------------------------- SWYX001 and SWYX002 pieces

# One piece per inbound region and kind (SWYX001) or per region, kind and port
# cell (SWYX002); pieces are merged per (VM, kind, responsible rules) below, so
# one bad rule gives one finding however many ports it opens.
_pieces contains piece if {
	some vm in input.vms
	some region in vm.inbound
	addrs := _region_addrs(region)
	count(addrs) > 0
	ports := _region_ports(region)
	documented := _documented(_inbound_flows(vm, region))
	excess := _interval_diff(ports, documented)
	count(excess) > 0
	piece := {
		"vm": vm.id,
		"kind": "SWYX001",
		"rules": region.rules,
		"protocol": region.protocol,
		"excluding": object.get(region, "excluding", []),
		"ports": excess,
		"addrs": addrs,
		"rows": [],
	}
}

_pieces contains piece if {
	some vm in input.vms
	some region in vm.inbound
	addrs := _region_addrs(region)
	count(addrs) > 0
	flows := _inbound_flows(vm, region)
	ports := _region_ports(region)
	covered := _interval_intersect(ports, _documented(flows))
	count(covered) > 0

	# Cut the covered ports where the set of documenting flows changes.
	flow_ports := _flow_port_intervals(flows)
	points := _points(array.concat(covered, flow_ports))
	some cell in _cells(points)
	_covered(covered, cell[0])
	here := [f | some f in flows; _flow_has_port(f, cell[0])]
	allowed := _cidr_intervals([c | some f in here; some c in f.peers])
	too_broad := _interval_diff(addrs, allowed)
	count(too_broad) > 0
	piece := {
		"vm": vm.id,
		"kind": "SWYX002",
		"rules": region.rules,
		"protocol": region.protocol,
		"excluding": object.get(region, "excluding", []),
		"ports": [cell],
		"addrs": too_broad,
		"rows": _sorted({r | some f in here; some r in f.rows}),
		"allowed": allowed,
	}
}

# Addresses the region admits, minus what the comparison ignores (the Azure
# load balancer's health probe, when the profile says so).
_region_addrs(region) := addrs if {
	admitted := _cidr_intervals(region.peers)
	ignored := _cidr_intervals(object.get(region, "excluded_peers", []))
	addrs := _interval_diff(admitted, ignored)
}

_port_protocols := {"tcp", "udp"}

_all_ports := [[0, 65536]]

# Protocols without ports have no port list; they are compared as every port.
_region_ports(region) := _port_intervals(region.ports) if region.protocol in _port_protocols

_region_ports(region) := _all_ports if not region.protocol in _port_protocols

# A packet without ports matches only flows that cover every port.
_inbound_flows(vm, region) := [f |
	some f in vm.expected
	f.direction == "inbound"
	f.protocol in {region.protocol, "all"}
	_flow_applies(f, region.protocol)
]

_flow_applies(_, protocol) if protocol in _port_protocols

_flow_applies(f, protocol) if {
	not protocol in _port_protocols
	_port_intervals(f.ports) == _all_ports
}

_documented(flows) := _interval_union(_flow_port_intervals(flows))

# Unmerged half-open intervals: every consumer cuts or merges them anyway.
_flow_port_intervals(flows) := [iv |
	some f in flows
	some r in f.ports
	end := r[1] + 1
	iv := [r[0], end]
]

_flow_has_port(flow, port) if {
	some r in flow.ports
	r[0] <= port
	port <= r[1]
}

# Pieces per (VM, kind, responsible rules), as one object so the pieces are
# computed once (rego-cpp re-evaluates a partial set referenced per iteration).
_grouped := {key: pieces |
	some piece in _pieces
	key := _group_key(piece)
	pieces := [p | some p in _pieces; p.vm == piece.vm; p.kind == piece.kind; p.rules == piece.rules]
}

# A text key (json.marshal of objects fails in rego-cpp).
_group_key(piece) := concat("\n", array.concat([piece.vm, piece.kind], [ref |
	some r in piece.rules
	ref := concat("\n", [r.firewall_id, r.rule_id])
]))

_excess_and_breadth contains f if {
	grouped := _grouped
	some key in object.keys(grouped)
	pieces := grouped[key]
	group := [pieces[0].vm, pieces[0].kind, pieces[0].rules]
	vm := _vm(group[0])
	protocols := {p.protocol | some p in pieces}
	region := [part | some proto in protocols; parts := _parts(proto, pieces); some part in parts]
	rows := _sorted({r | some p in pieces; some r in p.rows})
	f := {
		"rule_id": group[1],
		"vm": vm.id,
		"vm_name": vm.name,
		"direction": "inbound",
		"region": region,
		"rules": group[2],
		"rows": rows,
		"documented_peers": _cidrs(_interval_union([iv | some p in pieces; some iv in object.get(p, "allowed", [])])),
		"message": _excess_message(group[1], vm, region, group[2], pieces, rows),
	}
}

_vm(id) := vm if {
	some vm in input.vms
	vm.id == id
}

# The finding's region, exactly and in one canonical form (as the native
# engine's policycheck/engine/regions.py): per protocol, the ports are cut where
# the set of addresses changes, and the cells reached from one address set form
# one part. No part claims a (protocol, port, address) outside the region.
_parts(proto, pieces) := [part |
	some addrs in sets
	runs := _runs([c | some pair in reached; pair[1] == addrs; c := pair[0]])
	peers := _cidrs(addrs)
	part := {
		"protocol": proto,
		"ports": _part_ports(proto, runs),
		"peers": peers,
		"excluding": _part_excluding(proto, mine),
	}
] if {
	mine := [p | some p in pieces; p.protocol == proto]
	cells := _cells(_points([iv | some p in mine; some iv in p.ports]))
	reached := [pair |
		some c in cells
		addrs := _interval_union([iv | some p in mine; _covered(p.ports, c[0]); some iv in p.addrs])
		count(addrs) > 0
		pair := [c, addrs]
	]
	sets := {pair[1] | some pair in reached}
}

_part_ports(proto, runs) := _inclusive(runs) if proto in _port_protocols

_part_ports(proto, _) := [] if not proto in _port_protocols

_part_excluding("other", mine) := mine[0].excluding

_part_excluding(proto, _) := [] if proto != "other"

_port_text(iv) := sprintf("%d", [iv[0]]) if iv[1] == iv[0] + 1

_port_text(iv) := sprintf("%d-%d", [iv[0], last]) if {
	iv[1] != iv[0] + 1
	last := iv[1] - 1
}

_rule_names(rules) := concat(" + ", [name | some r in rules; name := concat("/", [r.firewall_name, _rule_name(r)])])

_rule_name(r) := r.rule_name if is_string(r.rule_name)

_rule_name(r) := r.rule_id if not is_string(r.rule_name)

_peer_text(peers) := "nowhere" if count(peers) == 0

_peer_text(peers) := concat(", ", peers) if {
	count(peers) > 0
	count(peers) <= 4
}

_peer_text(peers) := concat("", [concat(", ", array.slice(peers, 0, 4)), " and ", sprintf("%d", [count(peers) - 4]), " more"]) if {
	count(peers) > 4
}

# Messages are for conftest-style use of `deny`; policycheck words findings
# itself, from their data (policycheck/report/common.py).
_part_text(part) := concat(" ", [part.protocol, _ranges_text(_port_intervals(part.ports))]) if part.protocol in _port_protocols

_part_text(part) := concat(" ", ["every protocol except", concat(", ", part.excluding)]) if part.protocol == "other"

_part_text(part) := part.protocol if {
	not part.protocol in _port_protocols
	part.protocol != "other"
}

_region_text(region) := concat("; ", [text |
	some part in region
	text := concat(" from ", [_part_text(part), _peer_text(part.peers)])
])

_excess_message("SWYX001", vm, region, rules, _, _) := concat("", [
	"undocumented inbound access to ", vm.name, ": ", _region_text(region),
	" (allowed by ", _rule_names(rules), ")",
])

_excess_message("SWYX002", vm, region, rules, pieces, rows) := concat("", [
	"inbound source too broad on ", vm.name, ": ", _region_text(region),
	" (allowed by ", _rule_names(rules), ")",
	"; documented peers: ", _documented_text(pieces),
	"; rows: ", concat(", ", [text | some r in rows; text := _row_text(r)]),
])

_documented_text(pieces) := text if {
	allowed := _cidrs(_interval_union([iv | some p in pieces; some iv in p.allowed]))
	count(allowed) > 0
	text := _peer_text(allowed)
}

_documented_text(pieces) := "no address (the flow stays on the VM)" if {
	count([iv | some p in pieces; some iv in p.allowed]) == 0
}

# -------------------------------------------------------------- SWYX003

# A requirement is blocked when no alternative's ports are all reachable from
# some address of its peers (for internet peers: some address outside the
# internal networks).
_blocked contains f if {
	some vm in input.vms
	some req in vm.requirements
	wanted := _wanted(req)
	reach := _interval_union([iv |
		some region in vm[req.direction]
		region.protocol == req.protocol
		addrs := _cidr_intervals(region.peers)
		_intersects(addrs, wanted)
		ivs := _port_intervals(region.ports)
		some iv in ivs
	])
	not _satisfied(req, reach)
	ports := _interval_union([iv | some alt in req.alternatives; ivs := _port_intervals(alt); some iv in ivs])
	peers := _cidrs(_cidr_intervals(req.peers))
	alternatives := concat(" or ", [text |
		some alt in req.alternatives
		text := concat(" ", [req.protocol, _ranges_text(_port_intervals(alt))])
	])
	f := {
		"rule_id": "SWYX003",
		"vm": vm.id,
		"vm_name": vm.name,
		"direction": req.direction,
		"region": [{"protocol": req.protocol, "ports": _part_ports(req.protocol, ports), "peers": peers, "excluding": []}],
		"rules": [_missing_rule(vm, req.direction)],
		"rows": _sorted({r | some r in req.rows}),
		"requirement": req.description,
		"alternatives": req.alternatives,
		"message": concat("", [
			vm.name, ": ", req.description, " is blocked: no rule allows ",
			alternatives, " from ", _peer_text(peers),
		]),
	}
}

_wanted(req) := wanted if {
	_internet(req.peers)
	internal := _cidr_intervals(input.internal_networks)
	wanted := _interval_diff(_reachable_peers(req), internal)
}

_wanted(req) := _reachable_peers(req) if not _internet(req.peers)

# Peers that can never satisfy the requirement (platform addresses) are left out.
_reachable_peers(req) := _interval_diff(
	_cidr_intervals(req.peers),
	_cidr_intervals(object.get(req, "unreachable_peers", [])),
)

_internet(peers) if {
	"0.0.0.0/0" in peers
	"::/0" in peers
}

_satisfied(req, reach) if {
	some alt in req.alternatives
	missing := _interval_diff(_port_intervals(alt), reach)
	count(missing) == 0
}

_ranges_text(ivs) := concat(",", [text | some iv in ivs; text := _port_text(iv)])

# Where the missing rule belongs: the VM's first firewall object, else the VM.
_missing_rule(vm, direction) := {
	"firewall_id": fw.id,
	"firewall_name": fw.name,
	"rule_id": concat("", [fw.id, "/(", direction, " rule missing)"]),
	"rule_name": null,
} if {
	count(vm.firewalls) > 0
	fw := vm.firewalls[0]
}

_missing_rule(vm, direction) := {
	"firewall_id": vm.id,
	"firewall_name": vm.name,
	"rule_id": concat("", [vm.id, "/(", direction, " rule missing)"]),
	"rule_name": null,
} if {
	count(vm.firewalls) == 0
}

# -------------------------------------------------------------- catalog rows

default _catalog_rows := []

_catalog_rows := data.catalog.rows

_row_text(id) := concat("", [id, " (", trim_space(concat(" ", [row.component, object.get(row, "protocol", "")])), ")"]) if {
	some row in _catalog_rows
	row.id == id
}

_row_text(id) := id if {
	not _catalog_has(id)
}

_catalog_has(id) if {
	some row in _catalog_rows
	row.id == id
}

# ----------------------------------------------------------------- intervals
#
# Sets are sorted lists of disjoint, non-adjacent half-open intervals [lo, end).
# The same functions serve ports (numbers) and addresses (bit strings, which
# compare like the numbers they spell because they have a fixed width).

_points(ivs) := _sorted({p | some iv in ivs; some p in iv})

# A set as an array in ascending order, by rank (see the header for why not sort).
_sorted(s) := [by_rank[rank] | some rank in numbers.range(0, count(s) - 1)] if {
	by_rank := {rank: x | some x in s; rank := count([y | some y in s; y < x])}
}

_least(s) := x if {
	some x in s
	not _has_less(s, x)
}

_has_less(s, x) if {
	some y in s
	y < x
}

_greatest(s) := x if {
	some x in s
	not _has_greater(s, x)
}

_has_greater(s, x) if {
	some y in s
	y > x
}

# Consecutive points as elementary cells.
_cells(points) := [[points[i], points[i + 1]] |
	some i in numbers.range(0, count(points))
	i + 1 < count(points)
]

_covered(ivs, x) if {
	some iv in ivs
	iv[0] <= x
	x < iv[1]
}

# Sorted, disjoint cells -> maximal runs: the k-th run goes from the k-th cell
# that does not continue its predecessor to the k-th cell its successor does
# not continue.
_runs(cells) := [run |
	some k in numbers.range(0, count(starts) - 1)
	first := cells[starts[k]]
	last := cells[ends[k]]
	run := [first[0], last[1]]
] if {
	indexes := numbers.range(0, count(cells) - 1)
	starts := [i | some i in indexes; _run_starts_at(cells, i)]
	ends := [i | some i in indexes; _run_ends_at(cells, i)]
}

_run_starts_at(cells, i) if {
	i == 0
	count(cells) > 0
}

_run_starts_at(cells, i) if {
	i > 0
	cells[i - 1][1] != cells[i][0]
}

_run_ends_at(cells, i) if {
	i == count(cells) - 1
	i >= 0
}

_run_ends_at(cells, i) if {
	i < count(cells) - 1
	cells[i][1] != cells[i + 1][0]
}

_interval_union(ivs) := _runs(kept) if {
	cells := _cells(_points(ivs))
	kept := [c | some c in cells; _covered(ivs, c[0])]
}

_interval_diff(a, b) := _runs(kept) if {
	cells := _cells(_points(array.concat(a, b)))
	kept := [c | some c in cells; _covered(a, c[0]); not _covered(b, c[0])]
}

_interval_intersect(a, b) := _runs(kept) if {
	cells := _cells(_points(array.concat(a, b)))
	kept := [c | some c in cells; _covered(a, c[0]); _covered(b, c[0])]
}

_intersects(a, b) if {
	some x in a
	some y in b
	x[0] < y[1]
	y[0] < x[1]
}

# Inclusive [[lo, hi], ...] port ranges <-> half-open intervals.
_port_intervals(ranges) := _interval_union([iv | some r in ranges; end := r[1] + 1; iv := [r[0], end]])

_inclusive(ivs) := [range | some iv in ivs; last := iv[1] - 1; range := [iv[0], last]]

# ----------------------------------------------------------------- addresses
#
# An address is its family tag ("4" or "6") followed by all its bits; a CIDR is
# the interval [first address, first address after it). "5" and "7" stand for
# "past the last IPv4/IPv6 address": they sort after every address of their
# family and before the next family's. A prefix of bits is a node of the
# address trie; a CIDR is exactly one node.

_zeros := "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

_ones := "11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"

_width := {"4": 32, "6": 128}

_past_end := {"4": "5", "6": "7"}

_octet_weights := [128, 64, 32, 16, 8, 4, 2, 1]

_hex_bits := {
	"0": "0000", "1": "0001", "2": "0010", "3": "0011",
	"4": "0100", "5": "0101", "6": "0110", "7": "0111",
	"8": "1000", "9": "1001", "a": "1010", "b": "1011",
	"c": "1100", "d": "1101", "e": "1110", "f": "1111",
}

_bits_hex := {bits: hex | bits := _hex_bits[hex]}

_cidr_intervals(cidrs) := _interval_union([iv | some c in cidrs; iv := _cidr_interval(c)])

# Every CIDR of the input is parsed once (a rule's value is computed once per
# query, a function's on every call).
_input_cidrs contains c if {
	some c in input.internal_networks
}

_input_cidrs contains c if {
	some vm in input.vms
	some direction in ["inbound", "outbound"]
	some region in vm[direction]
	some c in array.concat(region.peers, object.get(region, "excluded_peers", []))
}

_input_cidrs contains c if {
	some vm in input.vms
	some item in array.concat(vm.expected, vm.requirements)
	some c in item.peers
}

_parsed[c] := iv if {
	some c in _input_cidrs
	node := _cidr_node(c)
	iv := _node_interval(node)
}

_cidr_interval(c) := _parsed[c]

_cidr_interval(c) := iv if {
	not _parsed[c]
	node := _cidr_node(c)
	iv := _node_interval(node)
}

# "10.0.0.0/8" -> {"family": "4", "bits": "00001010"}; host bits are dropped.
_cidr_node(cidr) := {"family": family, "bits": substring(bits, 0, length)} if {
	parts := split(cidr, "/")
	count(parts) == 2
	family := _family(parts[0])
	bits := _address_bits(family, lower(parts[0]))
	count(bits) == _width[family]
	length := to_number(parts[1])
	length >= 0
	length <= _width[family]
}

_family(address) := "6" if contains(address, ":")

_family(address) := "4" if not contains(address, ":")

_address_bits("4", address) := concat("", [bits |
	some o in split(address, ".")
	n := to_number(o)
	bits := _octet_bits(n)
])

_octet_bits(n) := concat("", [bit |
	some w in _octet_weights
	b := floor(n / w) % 2
	bit := sprintf("%d", [b])
]) if {
	n >= 0
	n <= 255
}

_address_bits("6", address) := concat("", [bits | some g in _v6_groups(address); bits := _group_bits(g)])

_v6_groups(address) := split(address, ":") if not contains(address, "::")

_v6_groups(address) := array.concat(array.concat(head, filler), tail) if {
	halves := split(address, "::")
	count(halves) == 2
	head := _split_groups(halves[0])
	tail := _split_groups(halves[1])
	missing := 8 - count(head) - count(tail)
	filler := ["0" | some i in numbers.range(1, 8); i <= missing]
}

_split_groups("") := []

_split_groups(text) := split(text, ":") if text != ""

_group_bits(group) := concat("", [bits | some i in numbers.range(0, 3); digit := substring(padded, i, 1); bits := _hex_bits[digit]]) if {
	count(group) <= 4
	padded := concat("", [substring("0000", 0, 4 - count(group)), group])
}

_node_start(node) := concat("", [node.family, node.bits, substring(_zeros, 0, _width[node.family] - count(node.bits))])

_node_interval(node) := [_node_start(node), _node_end(node)]

# The first address after the node: the last 0 bit becomes 1, the 1s after it 0.
_node_end(node) := _past_end[node.family] if trim_right(node.bits, "1") == ""

_node_end(node) := concat("", [node.family, substring(kept, 0, count(kept) - 1), "1", substring(_zeros, 0, _width[node.family] - count(kept))]) if {
	kept := trim_right(node.bits, "1")
	kept != ""
}

# The last address of a half-open interval's end: the reverse of _node_end.
_last_address(family, end) := substring(_ones, 0, _width[family]) if end == _past_end[family]

_last_address(family, end) := concat("", [substring(kept, 0, count(kept) - 1), "0", substring(_ones, 0, _width[family] - count(kept))]) if {
	end != _past_end[family]
	kept := trim_right(substring(end, 1, _width[family]), "0")
}

# An address set as the fewest CIDRs, in address order (IPv4 first), written
# as Python's ipaddress writes them.
_cidrs(ivs) := [pair[1] | some pair in sort(pairs)] if {
	# Pairs of strings, which rego-cpp's sort orders correctly.
	pairs := [pair |
		some iv in ivs
		nodes := _interval_nodes(iv)
		some node in nodes
		pair := [_node_start(node), _node_text(node)]
	]
}

# The maximal trie nodes inside [lo, end): with k the first bit where the first
# and last address differ, the nodes hanging off the first address's path on
# the right and off the last address's path on the left.
_interval_nodes(iv) := [node | some bits in nodes; node := {"family": family, "bits": bits}] if {
	family := substring(iv[0], 0, 1)
	width := _width[family]
	lo := substring(iv[0], 1, width)
	hi := _last_address(family, iv[1])
	nodes := _range_nodes(lo, hi, width)
}

_range_nodes(lo, hi, _) := [lo] if lo == hi

_range_nodes(lo, hi, width) := nodes if {
	lo != hi
	k := _least({i | some i in numbers.range(0, width - 1); substring(lo, i, 1) != substring(hi, i, 1)})
	nodes := _split_nodes(lo, hi, k, width)
}

_split_nodes(lo, hi, k, width) := [substring(lo, 0, k)] if {
	_all(substring(lo, k + 1, width), "0")
	_all(substring(hi, k + 1, width), "1")
}

_split_nodes(lo, hi, k, width) := array.concat(_left_nodes(lo, k, width), _right_nodes(hi, k, width)) if {
	not _both_ends_aligned(lo, hi, k, width)
}

_both_ends_aligned(lo, hi, k, width) if {
	_all(substring(lo, k + 1, width), "0")
	_all(substring(hi, k + 1, width), "1")
}

_all(text, char) if trim_right(text, char) == ""

# From the first address up to the end of the lower half below bit k.
_left_nodes(lo, k, width) := [substring(lo, 0, k + 1)] if _all(substring(lo, k + 1, width), "0")

_left_nodes(lo, k, width) := array.concat([kept], siblings) if {
	kept := trim_right(lo, "0")
	count(kept) > k + 1
	siblings := [node |
		some i in numbers.range(0, width)
		i > k
		i < count(kept) - 1
		substring(lo, i, 1) == "0"
		node := concat("", [substring(lo, 0, i), "1"])
	]
}

# From the start of the upper half below bit k up to the last address.
_right_nodes(hi, k, width) := [substring(hi, 0, k + 1)] if _all(substring(hi, k + 1, width), "1")

_right_nodes(hi, k, width) := array.concat([kept], siblings) if {
	kept := trim_right(hi, "1")
	count(kept) > k + 1
	siblings := [node |
		some i in numbers.range(0, width)
		i > k
		i < count(kept) - 1
		substring(hi, i, 1) == "1"
		node := concat("", [substring(hi, 0, i), "0"])
	]
}

_node_text(node) := concat("/", [_v4_text(_padded(node)), sprintf("%d", [count(node.bits)])]) if node.family == "4"

_node_text(node) := concat("/", [_v6_text(_padded(node)), sprintf("%d", [count(node.bits)])]) if node.family == "6"

_padded(node) := concat("", [node.bits, substring(_zeros, 0, _width[node.family] - count(node.bits))])

_v4_text(bits) := concat(".", [text |
	some j in numbers.range(0, 3)
	octet := substring(bits, 8 * j, 8)
	n := _octet_value(octet)
	text := sprintf("%d", [n])
])

_octet_value(bits) := sum([v | some i in numbers.range(0, 7); v := to_number(substring(bits, i, 1)) * _octet_weights[i]])

# RFC 5952: lower-case hex without leading zeros, the longest run (first on a
# tie) of two or more zero groups written as "::".
_v6_text(bits) := text if {
	groups := [text | some j in numbers.range(0, 7); group := substring(bits, 16 * j, 16); text := _group_text(group)]
	text := _compress(groups)
}

_group_text(bits) := text if {
	hex := concat("", [digit | some n in numbers.range(0, 3); nibble := substring(bits, 4 * n, 4); digit := _bits_hex[nibble]])
	text := _nonempty(trim_left(hex, "0"))
}

_nonempty("") := "0"

_nonempty(text) := text if text != ""

_zero_runs(groups) := [run |
	some start in numbers.range(0, 7)
	groups[start] == "0"
	_run_starts(groups, start)
	length := _run_length(groups, start)
	run := [start, length]
]

_run_starts(_, start) if start == 0

_run_starts(groups, start) if {
	start > 0
	groups[start - 1] != "0"
}

_run_length(groups, start) := end - start if {
	end := _least({j | some j in numbers.range(start, 8); _not_zero_group(groups, j)})
}

_not_zero_group(_, j) if j == 8

_not_zero_group(groups, j) if {
	j < 8
	groups[j] != "0"
}

_compress(groups) := concat(":", groups) if {
	count([run | some run in _zero_runs(groups); run[1] >= 2]) == 0
}

_compress(groups) := concat("", [concat(":", array.slice(groups, 0, start)), "::", concat(":", array.slice(groups, start + best, 8))]) if {
	runs := _zero_runs(groups)
	best := _greatest({length | some run in runs; length := run[1]})
	best >= 2
	start := _least({s | some run in runs; run[1] == best; s := run[0]})
}
