"""Help for each rule: what it means, why it matters, how to fix it, with Terraform.

GitHub code scanning shows ``help.markdown`` beside every alert, so this is the
documentation a reviewer reads when a pull request is blocked. The meaning and the
short fix come from :data:`~policycheck.findings.RULES` (one source of truth); this
module adds the reasoning and a worked Terraform example per rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from policycheck.findings import RULES, RuleInfo


@dataclass(frozen=True)
class RuleHelp:
    why: str
    #: Terraform before/after, as HCL.
    example: str


HELP: dict[str, RuleHelp] = {
    "SWYX001": RuleHelp(
        why=(
            "Every port the vendor's port matrix does not list is attack surface without "
            "a purpose. Remote desktop and SSH reachable from the internet are among the "
            "most common ways into a server, and a compromised phone system is used for "
            "toll fraud and eavesdropping."
        ),
        example="""\
# Before: RDP open to the whole internet.
resource "aws_security_group_rule" "rdp" {
  type              = "ingress"
  security_group_id = aws_security_group.pbx.id
  protocol          = "tcp"
  from_port         = 3389
  to_port           = 3389
  cidr_blocks       = ["0.0.0.0/0"]
}

# After: only from the admin jump host, declared under extra_flows in the
# deployment profile with a justification (or delete the rule).
resource "aws_security_group_rule" "rdp_from_jump_host" {
  type              = "ingress"
  security_group_id = aws_security_group.pbx.id
  protocol          = "tcp"
  from_port         = 3389
  to_port           = 3389
  cidr_blocks       = ["10.0.100.5/32"]
  description       = "RDP from the admin jump host"
}
""",
    ),
    "SWYX002": RuleHelp(
        why=(
            "The port is legitimate, but the matrix documents who talks to it. SIP "
            "(5060) reachable from the internet invites registration scans and toll "
            "fraud; service ports meant for the SwyxWare server or the local machine "
            "must not be reachable by every host."
        ),
        example="""\
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
    ),
    "SWYX003": RuleHelp(
        why=(
            "A documented flow the deployment needs is blocked: clients cannot register, "
            "calls fail or a component cannot reach the SwyxWare server. Outages caused "
            "by firewall changes are easier to prevent in review than to diagnose later."
        ),
        example="""\
# Allow the internal network to reach the CDS configuration API (tcp 9094).
resource "google_compute_firewall" "cds_api" {
  name          = "allow-cds-api-internal"
  network       = google_compute_network.swyx.name
  direction     = "INGRESS"
  priority      = 1020
  source_ranges = ["10.0.0.0/8"]
  target_tags   = ["swyx-pbx"]

  allow {
    protocol = "tcp"
    ports    = ["9094"]
  }
}
# Or, if the deployment does not use this flow, mark it as not required in the
# deployment profile.
""",
    ),
    "SWYX004": RuleHelp(
        why=(
            "Unrestricted egress lets a compromised VM download tooling and exfiltrate "
            "data or call recordings. The matrix documents which protocols and ports "
            "each role needs outbound; everything else can be closed."
        ),
        example="""\
# Before: every protocol to everywhere.
resource "aws_security_group_rule" "egress_all" {
  type              = "egress"
  security_group_id = aws_security_group.pbx.id
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  cidr_blocks       = ["0.0.0.0/0"]
}

# After: only the documented outbound flows, e.g. CDS licensing over HTTPS.
resource "aws_security_group_rule" "egress_licensing" {
  type              = "egress"
  security_group_id = aws_security_group.pbx.id
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_blocks       = ["0.0.0.0/0"]
  description       = "CDS licensing (license.swyx.com)"
}
""",
    ),
    "SWYX005": RuleHelp(
        why=(
            "A value that is unknown here (known only after apply, a group in another "
            "account, a service tag that cannot be expanded) could open anything. It is "
            "evaluated conservatively and reported so that it is reviewed, not silently "
            "trusted."
        ),
        example="""\
# Before: the source is computed from another resource and unknown in the plan.
resource "aws_security_group_rule" "admin_portal" {
  type              = "ingress"
  security_group_id = aws_security_group.pbx.id
  protocol          = "tcp"
  from_port         = 8443
  to_port           = 8443
  cidr_blocks       = [aws_eip.office.public_ip]  # known after apply
}

# After: an explicit prefix (or scan the applied state / live cloud instead).
resource "aws_security_group_rule" "admin_portal" {
  type              = "ingress"
  security_group_id = aws_security_group.pbx.id
  protocol          = "tcp"
  from_port         = 8443
  to_port           = 8443
  cidr_blocks       = ["198.51.100.10/32"]
}
""",
    ),
    "SWYX006": RuleHelp(
        why=(
            "Without a role, policycheck cannot know which flows the VM needs, so its "
            "firewall is not checked against the port matrix at all."
        ),
        example="""\
# AWS / Azure: tag the VM with its Swyx roles.
resource "aws_instance" "pbx1" {
  # ...
  tags = {
    "swyx-roles" = "swyxware-server, cds, linkmanager, remote-connector"
  }
}

# GCP: labels cannot hold commas, so use one network tag per role.
resource "google_compute_instance" "pbx1" {
  # ...
  tags = ["swyx-pbx", "swyx-role-swyxware-server", "swyx-role-cds"]
}
""",
    ),
    "SWYX007": RuleHelp(
        why=(
            "A rule that never takes effect misleads whoever reads the configuration: "
            "they believe traffic is allowed or denied by it when another rule decides."
        ),
        example="""\
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
    ),
    "SWYX008": RuleHelp(
        why=(
            "A rule added in the console never passes review, and the next terraform apply "
            "silently removes it again (or fails): exposure creeps in where the code says "
            "nothing about it. A rule missing from, or changed in, the cloud means the "
            "reviewed configuration is not what runs."
        ),
        example="""\
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
    ),
}


def help_text(rule: RuleInfo) -> str:
    """Plain-text help, for consumers that do not render Markdown."""
    return (
        f"{rule.id} {rule.title}\n\n"
        f"What it means: {rule.description}\n\n"
        f"Why it matters: {HELP[rule.id].why}\n\n"
        f"How to fix: {rule.remediation}\n\n"
        f"Terraform example:\n\n{HELP[rule.id].example}"
    )


def help_markdown(rule: RuleInfo) -> str:
    return (
        f"## {rule.id}: {rule.title}\n\n"
        f"**What it means.** {rule.description}\n\n"
        f"**Why it matters.** {HELP[rule.id].why}\n\n"
        f"**How to fix.** {rule.remediation}\n\n"
        f"### Terraform example\n\n```hcl\n{HELP[rule.id].example}```\n"
    )


def check_complete() -> None:
    """Fail loudly at import if a rule lacks help, rather than emit empty help."""
    missing = sorted(set(RULES) - set(HELP))
    if missing:
        raise RuntimeError(f"rule help missing for {', '.join(missing)}")


check_complete()
