# Unit tests for swyx.rego's arithmetic. `opa test policies/swyx.rego
# policies/swyx_test.rego` runs them in OPA; tests/test_rego.py runs every test_*
# rule with rego-cpp. Tests of whole findings are in tests/test_rego.py: rego-cpp
# 1.5 crashes on `data.swyx.findings with input as ...`.
package swyx_test

import rego.v1


# ------------------------------------------------------- address arithmetic

test_cidr_round_trip if {
	data.swyx._cidrs(data.swyx._cidr_intervals(["10.0.0.0/8", "2001:db8::/32", "192.168.1.7/32"])) == [
		"10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32",
	]
}

test_host_bits_are_dropped if {
	data.swyx._cidrs(data.swyx._cidr_intervals(["10.1.2.3/8"])) == ["10.0.0.0/8"]
}

test_adjacent_prefixes_merge if {
	data.swyx._cidrs(data.swyx._cidr_intervals(["10.0.0.0/9", "10.128.0.0/9"])) == ["10.0.0.0/8"]
}

test_difference_is_exact if {
	outside := data.swyx._interval_diff(data.swyx._cidr_intervals(["0.0.0.0/0"]), data.swyx._cidr_intervals(["10.0.0.0/8"]))
	data.swyx._cidrs(outside) == [
		"0.0.0.0/5", "8.0.0.0/7", "11.0.0.0/8", "12.0.0.0/6",
		"16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2", "128.0.0.0/1",
	]
}

test_ipv6_text_follows_rfc5952 if {
	data.swyx._cidrs(data.swyx._cidr_intervals(["2001:db8:0:0:1:0:0:1/128", "::/0"])) == ["::/0"]
	data.swyx._cidrs(data.swyx._cidr_intervals(["2001:db8:0:0:1:0:0:1/128"])) == ["2001:db8::1:0:0:1/128"]
	data.swyx._cidrs(data.swyx._cidr_intervals(["fe80::1/128"])) == ["fe80::1/128"]
}

# --------------------------------------------------------- port arithmetic

test_port_union_merges_adjacent if {
	data.swyx._inclusive(data.swyx._port_intervals([[1, 2], [3, 5], [10, 12], [11, 20]])) == [[1, 5], [10, 20]]
}

test_port_difference if {
	left := data.swyx._interval_diff(data.swyx._port_intervals([[0, 65535]]), data.swyx._port_intervals([[22, 22], [80, 443]]))
	data.swyx._inclusive(left) == [[0, 21], [23, 79], [444, 65535]]
}

test_order_is_numeric if {
	data.swyx._sorted({100, 9, 10}) == [9, 10, 100]
}
