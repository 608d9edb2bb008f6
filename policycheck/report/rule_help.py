"""Help for each rule: what it means, why it matters, how to fix it, with Terraform.

GitHub code scanning shows ``help.markdown`` beside every alert, so this is the
documentation a reviewer reads when a pull request is blocked. The meaning and the
short fix come from :data:`~policycheck.findings.RULES` (one source of truth); this
module adds the reasoning and a worked Terraform example per rule and cloud;
a scan's help shows the examples of the clouds it scanned only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from policycheck.findings import RULES, PolicyRule, RuleInfo


@dataclass(frozen=True)
class RuleHelp:
    why: str
    #: Terraform before/after as HCL, per cloud (``aws``, ``azure``, ``gcp``), so a
    #: finding's help shows the resources of its own cloud.
    examples: dict[str, str]


HELP: dict[str, RuleHelp] = {
    "SWYX001": RuleHelp(
        why=(
            "Every port the vendor's port matrix does not list is attack surface without "
            "a purpose. Remote desktop and SSH reachable from the internet are among the "
            "most common ways into a server, and a compromised phone system is used for "
            "toll fraud and eavesdropping."
        ),
        examples={
            "aws": """\
# Before: RDP open to the whole internet.
resource "aws_vpc_security_group_ingress_rule" "rdp" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "tcp"
  from_port         = 3389
  to_port           = 3389
  cidr_ipv4         = "0.0.0.0/0"
}

# After: only from the admin jump host, declared under extra_flows in the
# deployment profile with a justification (or delete the rule).
resource "aws_vpc_security_group_ingress_rule" "rdp_from_jump_host" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "tcp"
  from_port         = 3389
  to_port           = 3389
  cidr_ipv4         = "10.0.100.5/32"
  description       = "RDP from the admin jump host"
}
""",
            "azure": """\
# Before: RDP open to the whole internet.
resource "azurerm_network_security_rule" "rdp" {
  name                        = "allow-rdp"
  priority                    = 1000
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "3389"
  source_address_prefix       = "*"
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.pbx.name
  network_security_group_name = azurerm_network_security_group.pbx.name
}

# After: only from the admin jump host, declared under extra_flows in the
# deployment profile with a justification (or delete the rule).
resource "azurerm_network_security_rule" "rdp" {
  name                        = "allow-rdp-from-jump-host"
  priority                    = 1000
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "3389"
  source_address_prefix       = "10.0.100.5/32"
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.pbx.name
  network_security_group_name = azurerm_network_security_group.pbx.name
}
""",
            "gcp": """\
# Before: RDP open to the whole internet.
resource "google_compute_firewall" "rdp" {
  name          = "allow-rdp"
  network       = google_compute_network.swyx.name
  direction     = "INGRESS"
  source_ranges = ["0.0.0.0/0"]
  target_tags   = ["swyx-pbx"]

  allow {
    protocol = "tcp"
    ports    = ["3389"]
  }
}

# After: only from the admin jump host, declared under extra_flows in the
# deployment profile with a justification (or delete the rule).
resource "google_compute_firewall" "rdp" {
  name          = "allow-rdp-from-jump-host"
  network       = google_compute_network.swyx.name
  direction     = "INGRESS"
  source_ranges = ["10.0.100.5/32"]
  target_tags   = ["swyx-pbx"]

  allow {
    protocol = "tcp"
    ports    = ["3389"]
  }
}
""",
        },
    ),
    "SWYX002": RuleHelp(
        why=(
            "The port is legitimate, but the matrix documents who talks to it. SIP "
            "(5060) reachable from the internet invites registration scans and toll "
            "fraud; service ports meant for the SwyxWare server or the local machine "
            "must not be reachable by every host."
        ),
        examples={
            "aws": """\
# Before: SIP from any address.
resource "aws_vpc_security_group_ingress_rule" "sip" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "tcp"
  from_port         = 5060
  to_port           = 5060
  cidr_ipv4         = "0.0.0.0/0"
}

# After: only from the internal networks the matrix documents.
resource "aws_vpc_security_group_ingress_rule" "sip" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "tcp"
  from_port         = 5060
  to_port           = 5060
  cidr_ipv4         = "10.0.0.0/8"
}
""",
            "azure": """\
# Before: SIP from any address.
resource "azurerm_network_security_rule" "sip" {
  name                        = "allow-sip"
  priority                    = 1010
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "5060"
  source_address_prefix       = "*"
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.pbx.name
  network_security_group_name = azurerm_network_security_group.pbx.name
}

# After: only from the internal networks the matrix documents.
resource "azurerm_network_security_rule" "sip" {
  name                        = "allow-sip-internal"
  priority                    = 1010
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "5060"
  source_address_prefix       = "10.0.0.0/8"
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.pbx.name
  network_security_group_name = azurerm_network_security_group.pbx.name
}
""",
            "gcp": """\
# Before: SIP from any address.
resource "google_compute_firewall" "sip" {
  name          = "allow-sip"
  network       = google_compute_network.swyx.name
  direction     = "INGRESS"
  source_ranges = ["0.0.0.0/0"]
  target_tags   = ["swyx-pbx"]

  allow {
    protocol = "tcp"
    ports    = ["5060"]
  }
}

# After: only from the internal networks the matrix documents.
resource "google_compute_firewall" "sip" {
  name          = "allow-sip-internal"
  network       = google_compute_network.swyx.name
  direction     = "INGRESS"
  source_ranges = ["10.0.0.0/8"]
  target_tags   = ["swyx-pbx"]

  allow {
    protocol = "tcp"
    ports    = ["5060"]
  }
}
""",
        },
    ),
    "SWYX003": RuleHelp(
        why=(
            "A documented flow the deployment needs is blocked: clients cannot register, "
            "calls fail or a component cannot reach the SwyxWare server. Outages caused "
            "by firewall changes are easier to prevent in review than to diagnose later."
        ),
        examples={
            "aws": """\
# Allow the RemoteConnector tunnel (tcp 16203) from the internet.
resource "aws_vpc_security_group_ingress_rule" "remote_connector" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "tcp"
  from_port         = 16203
  to_port           = 16203
  cidr_ipv4         = "0.0.0.0/0"
  description       = "SwyxWare RemoteConnector tunnel"
}
# Or, if the deployment does not use this flow, mark it as not required in the
# deployment profile.
""",
            "azure": """\
# Allow the RemoteConnector tunnel (tcp 16203) from the internet.
resource "azurerm_network_security_rule" "remote_connector" {
  name                        = "allow-remote-connector"
  priority                    = 1020
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "16203"
  source_address_prefix       = "Internet"
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.pbx.name
  network_security_group_name = azurerm_network_security_group.pbx.name
}
# Or, if the deployment does not use this flow, mark it as not required in the
# deployment profile.
""",
            "gcp": """\
# Allow the RemoteConnector tunnel (tcp 16203) from the internet.
resource "google_compute_firewall" "remote_connector" {
  name          = "allow-remote-connector"
  network       = google_compute_network.swyx.name
  direction     = "INGRESS"
  priority      = 1020
  source_ranges = ["0.0.0.0/0"]
  target_tags   = ["swyx-pbx"]

  allow {
    protocol = "tcp"
    ports    = ["16203"]
  }
}
# Or, if the deployment does not use this flow, mark it as not required in the
# deployment profile.
""",
        },
    ),
    "SWYX004": RuleHelp(
        why=(
            "Unrestricted egress lets a compromised VM download tooling and exfiltrate "
            "data or call recordings. The matrix documents which protocols and ports "
            "each role needs outbound; everything else can be closed."
        ),
        examples={
            "aws": """\
# Before: every protocol to everywhere.
resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

# After: only the documented outbound flows, e.g. CDS licensing over HTTPS.
resource "aws_vpc_security_group_egress_rule" "licensing" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  description       = "CDS licensing (license.swyx.com)"
}
""",
            "azure": """\
# Azure allows every protocol to the VNet and the internet by default
# (AllowVnetOutBound, AllowInternetOutBound). Allow what is documented, then
# deny the rest above the defaults.
resource "azurerm_network_security_rule" "licensing" {
  name                        = "allow-https-out"
  priority                    = 1000
  direction                   = "Outbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "443"
  source_address_prefix       = "*"
  destination_address_prefix  = "Internet"
  resource_group_name         = azurerm_resource_group.pbx.name
  network_security_group_name = azurerm_network_security_group.pbx.name
}
resource "azurerm_network_security_rule" "deny_out" {
  name                        = "deny-other-out"
  priority                    = 4096
  direction                   = "Outbound"
  access                      = "Deny"
  protocol                    = "*"
  source_port_range           = "*"
  destination_port_range      = "*"
  source_address_prefix       = "*"
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.pbx.name
  network_security_group_name = azurerm_network_security_group.pbx.name
}
""",
            "gcp": """\
# GCP allows all egress by an implied rule. Allow what is documented, then deny
# the rest with a lower priority (higher number) than the allow.
resource "google_compute_firewall" "egress_https" {
  name               = "allow-https-out"
  network            = google_compute_network.swyx.name
  direction          = "EGRESS"
  priority           = 1000
  destination_ranges = ["0.0.0.0/0"]
  target_tags        = ["swyx-pbx"]

  allow {
    protocol = "tcp"
    ports    = ["443"]
  }
}
resource "google_compute_firewall" "egress_deny" {
  name               = "deny-other-out"
  network            = google_compute_network.swyx.name
  direction          = "EGRESS"
  priority           = 65000
  destination_ranges = ["0.0.0.0/0"]
  target_tags        = ["swyx-pbx"]

  deny {
    protocol = "all"
  }
}
""",
        },
    ),
    "SWYX005": RuleHelp(
        why=(
            "A value that is unknown here (known only after apply, a group in another "
            "account, a service tag that cannot be expanded) could open anything. It is "
            "evaluated conservatively and reported so that it is reviewed, not silently "
            "trusted."
        ),
        examples={
            "aws": """\
# Before: the source is computed from another resource and unknown in the plan.
resource "aws_vpc_security_group_ingress_rule" "admin_portal" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "tcp"
  from_port         = 8443
  to_port           = 8443
  cidr_ipv4         = "${aws_eip.office.public_ip}/32"  # known after apply
}

# After: an explicit prefix (or scan the applied state / live cloud instead).
resource "aws_vpc_security_group_ingress_rule" "admin_portal" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "tcp"
  from_port         = 8443
  to_port           = 8443
  cidr_ipv4         = "198.51.100.10/32"
}
""",
            "azure": """\
# Before: the source is an address known only after apply.
resource "azurerm_network_security_rule" "admin_portal" {
  name                        = "allow-admin-portal"
  priority                    = 1070
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "8443"
  source_address_prefix       = azurerm_public_ip.office.ip_address  # known after apply
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.pbx.name
  network_security_group_name = azurerm_network_security_group.pbx.name
}

# After: an explicit prefix (or scan the applied state / live cloud instead):
#   source_address_prefix = "198.51.100.10/32"
""",
            "gcp": """\
# Before: the source is an address known only after apply.
resource "google_compute_firewall" "admin_portal" {
  name          = "allow-admin-portal"
  network       = google_compute_network.swyx.name
  direction     = "INGRESS"
  source_ranges = [google_compute_address.office.address]  # known after apply
  target_tags   = ["swyx-pbx"]

  allow {
    protocol = "tcp"
    ports    = ["8443"]
  }
}

# After: an explicit prefix (or scan the applied state / live cloud instead):
#   source_ranges = ["198.51.100.10/32"]
""",
        },
    ),
    "SWYX006": RuleHelp(
        why=(
            "Without a role, policycheck cannot know which flows the VM needs, so its "
            "firewall is not checked against the port matrix at all."
        ),
        examples={
            "aws": """\
# Tag the instance (or its security group) with its Swyx roles.
resource "aws_instance" "pbx1" {
  # ...
  tags = {
    "swyx-roles" = "swyxware-server, cds, linkmanager, remote-connector"
  }
}
""",
            "azure": """\
# Tag the VM (or its network security group) with its Swyx roles.
resource "azurerm_windows_virtual_machine" "pbx1" {
  # ...
  tags = {
    "swyx-roles" = "swyxware-server, cds, linkmanager, remote-connector"
  }
}
""",
            "gcp": """\
# Labels cannot hold commas: use one network tag per role.
resource "google_compute_instance" "pbx1" {
  # ...
  tags = ["swyx-pbx", "swyx-role-swyxware-server", "swyx-role-cds"]
}
""",
        },
    ),
    "SWYX007": RuleHelp(
        why=(
            "A rule that never takes effect misleads whoever reads the configuration: "
            "they believe traffic is allowed or denied by it when another rule decides."
        ),
        examples={
            "aws": """\
# Security groups only allow, so a rule is never shadowed there; network ACL
# entries are (first match by rule number). Before: the deny at 100 already
# decides all tcp 3389 traffic, so the allow at 200 is dead.
resource "aws_network_acl_rule" "deny_rdp" {
  network_acl_id = aws_network_acl.pbx.id
  rule_number    = 100
  egress         = false
  protocol       = "tcp"
  rule_action    = "deny"
  cidr_block     = "0.0.0.0/0"
  from_port      = 3389
  to_port        = 3389
}
resource "aws_network_acl_rule" "allow_rdp_jump" {
  network_acl_id = aws_network_acl.pbx.id
  rule_number    = 200
  egress         = false
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = "10.0.100.5/32"
  from_port      = 3389
  to_port        = 3389
}

# After: delete the dead rule, or give it a lower number than the rule that
# shadows it if it was meant to take effect.
""",
            "azure": """\
# Before: the deny at priority 100 already decides all tcp 3389 traffic, so the
# allow at 200 is dead.
resource "azurerm_network_security_rule" "deny_rdp" {
  name      = "deny-rdp"
  priority  = 100
  access    = "Deny"
  direction = "Inbound"
  protocol  = "Tcp"
  destination_port_range = "3389"
  # ...
}
resource "azurerm_network_security_rule" "allow_rdp_jump" {
  name      = "allow-rdp-jump-host"
  priority  = 200
  access    = "Allow"
  direction = "Inbound"
  protocol  = "Tcp"
  destination_port_range = "3389"
  source_address_prefix  = "10.0.100.5/32"
  # ...
}

# After: delete the dead rule, or give it a lower number (higher priority) than
# the rule that shadows it if it was meant to take effect.
""",
            "gcp": """\
# Before: the deny at priority 100 already decides all tcp 3389 traffic, so the
# allow at 200 is dead.
resource "google_compute_firewall" "deny_rdp" {
  name          = "deny-rdp"
  network       = google_compute_network.swyx.name
  priority      = 100
  source_ranges = ["0.0.0.0/0"]
  deny {
    protocol = "tcp"
    ports    = ["3389"]
  }
}
resource "google_compute_firewall" "allow_rdp_jump" {
  name          = "allow-rdp-jump-host"
  network       = google_compute_network.swyx.name
  priority      = 200
  source_ranges = ["10.0.100.5/32"]
  allow {
    protocol = "tcp"
    ports    = ["3389"]
  }
}

# After: delete the dead rule, or give it a lower number (higher priority) than
# the rule that shadows it if it was meant to take effect.
""",
        },
    ),
    "SWYX008": RuleHelp(
        why=(
            "A rule added in the console never passes review, and the next terraform apply "
            "silently removes it again (or fails): exposure creeps in where the code says "
            "nothing about it. A rule missing from, or changed in, the cloud means the "
            "reviewed configuration is not what runs."
        ),
        examples={
            "aws": """\
# The cloud has an inbound rule tcp 3389 from 198.51.100.0/24 on swyx-pbx that no
# Terraform resource declares. Either delete it in the cloud, or declare it so it
# is reviewed (and scanned) like every other rule:
resource "aws_vpc_security_group_ingress_rule" "rdp_admin" {
  security_group_id = aws_security_group.pbx.id
  ip_protocol       = "tcp"
  from_port         = 3389
  to_port           = 3389
  cidr_ipv4         = "198.51.100.0/24"
  description       = "RDP from the admin network (was added by hand)"
}
# then: terraform import aws_vpc_security_group_ingress_rule.rdp_admin sgr-...
""",
            "azure": """\
# The NSG has a security rule "rdp-admin" no Terraform resource declares. Delete it
# in the portal, or declare it (then terraform import it):
resource "azurerm_network_security_rule" "rdp_admin" {
  name                        = "rdp-admin"
  priority                    = 300
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "3389"
  source_address_prefix       = "198.51.100.0/24"
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.swyx.name
  network_security_group_name = azurerm_network_security_group.pbx.name
}
""",
            "gcp": """\
# The VPC has a firewall rule "rdp-admin" no Terraform resource declares. Delete it
# in the console, or declare it (then terraform import it):
resource "google_compute_firewall" "rdp_admin" {
  name          = "rdp-admin"
  network       = google_compute_network.swyx.name
  source_ranges = ["198.51.100.0/24"]
  target_tags   = ["swyx-pbx"]
  allow {
    protocol = "tcp"
    ports    = ["3389"]
  }
}
""",
        },
    ),
}

#: Display names of the clouds, in the order their examples are shown.
CLOUDS = {"aws": "AWS", "azure": "Azure", "gcp": "Google Cloud"}


def _clouds(providers: Iterable[str] | None) -> list[str]:
    """The clouds to show examples for: those given (a scan's), else all."""
    wanted = set(providers) if providers is not None else set(CLOUDS)
    return [c for c in CLOUDS if c in wanted] or list(CLOUDS)


def help_text(rule: RuleInfo, providers: Iterable[str] | None = None) -> str:
    """Plain-text help, for consumers that do not render Markdown; Terraform
    examples for ``providers`` only (a scan's clouds), else for every cloud."""
    examples = "\n".join(
        f"Terraform example ({CLOUDS[c]}):\n\n{HELP[rule.id].examples[c]}"
        for c in _clouds(providers)
    )
    return (
        f"{rule.id} {rule.title}\n\n"
        f"What it means: {rule.description}\n\n"
        f"Why it matters: {HELP[rule.id].why}\n\n"
        f"How to fix: {rule.remediation}\n\n"
        f"{examples}"
    )


def help_markdown(rule: RuleInfo, providers: Iterable[str] | None = None) -> str:
    examples = "\n".join(
        f"### Terraform example ({CLOUDS[c]})\n\n```hcl\n{HELP[rule.id].examples[c]}```\n"
        for c in _clouds(providers)
    )
    return (
        f"## {rule.id}: {rule.title}\n\n"
        f"**What it means.** {rule.description}\n\n"
        f"**Why it matters.** {HELP[rule.id].why}\n\n"
        f"**How to fix.** {rule.remediation}\n\n"
        f"{examples}"
    )


def policy_help_text(rule: PolicyRule) -> str:
    """Help for a user policy's rule, from its METADATA."""
    parts = [f"{rule.id} {rule.title}", f"What it means: {rule.description}"]
    if rule.remediation:
        parts.append(f"How to fix: {rule.remediation}")
    if rule.related:
        parts.append("See: " + ", ".join(rule.related))
    parts.append(f"Reported by the Rego policy {rule.package} ({rule.file}:{rule.line}).")
    return "\n\n".join(parts)


def policy_help_markdown(rule: PolicyRule) -> str:
    parts = [f"## {rule.id}: {rule.title}", f"**What it means.** {rule.description}"]
    if rule.remediation:
        parts.append(f"**How to fix.** {rule.remediation}")
    if rule.related:
        parts.append("**See also.**\n\n" + "\n".join(f"- <{ref}>" for ref in rule.related))
    parts.append(f"Reported by the Rego policy `{rule.package}` (`{rule.file}:{rule.line}`).")
    return "\n\n".join(parts) + "\n"


def check_complete() -> None:
    """Fail loudly at import if a rule lacks help or a cloud's example, rather
    than emit empty help."""
    missing = sorted(set(RULES) - set(HELP))
    missing += [f"{r} {c}" for r, h in sorted(HELP.items()) for c in CLOUDS if c not in h.examples]
    if missing:
        raise RuntimeError(f"rule help missing for {', '.join(missing)}")


check_complete()
