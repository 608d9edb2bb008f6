"""policycheck: do the cloud firewall rules in front of SwyxWare VMs permit exactly
what the vendor documents, and nothing more?"""

__version__ = "0.1.0"
