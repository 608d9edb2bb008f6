"""Live GCP collector: reads firewall rules, policies, VMs and networks into an Inventory.

Only list calls are made (plus google-auth's token request), with the
``compute.readonly`` scope, so a run can never change the estate. Projects are read
concurrently on a bounded pool; a project that cannot be read becomes a
:class:`~policycheck.model.CollectionError` and the others still count, unless the
credentials themselves are refused everywhere, which is a usage problem (InputError).

A project is all-or-nothing: if any of its lists fails, none of its objects are
kept, because half a project (say VMs without the policy that denies their traffic)
would produce findings that are confidently wrong rather than merely incomplete.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import google.auth
import requests
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials, with_scopes_if_required
from google.cloud import compute_v1
from google.protobuf.json_format import ParseError
from pydantic import ValidationError

from policycheck.errors import InputError, scrub
from policycheck.inputs import check_url, describe_problem
from policycheck.model import (
    ALL_PORTS,
    VM,
    Action,
    Attachment,
    CollectionError,
    Direction,
    FirewallObject,
    Inventory,
    Network,
    Peer,
    PortRange,
    Provenance,
    Rule,
    gcp_network_ref,
    last_segment,
    normalize_protocol,
)
from policycheck.shard import Shard, take_scopes
from policycheck.sources.normalize import cidr_peers, gcp_ports

#: Read-only on purpose: the token itself cannot be used to change anything.
READONLY_SCOPE = "https://www.googleapis.com/auth/compute.readonly"
#: Seconds per API call (``--timeout``); a hung endpoint must not hang the run.
CALL_TIMEOUT = 60.0
#: What is retried, with exponential backoff: throttling and server errors, up to
#: MAX_ATTEMPTS attempts per call. A refused or dropped connection is not, so a dead
#: endpoint fails at once.
MAX_ATTEMPTS = 4
_TRANSIENT = api_retry.if_exception_type(
    api_exceptions.TooManyRequests,
    api_exceptions.InternalServerError,
    api_exceptions.BadGateway,
    api_exceptions.ServiceUnavailable,
    api_exceptions.GatewayTimeout,
)
#: Protocol names GCP accepts beyond the model's named ones, as IANA numbers.
GCP_PROTOCOL_NUMBERS = {"esp": "50", "ah": "51", "ipip": "94", "sctp": "132"}
#: GCP's documented default when a rule names no remote address at all.
ANY_IPV4 = "0.0.0.0/0"

Progress = Callable[[str], None]


@dataclass
class GcpOptions:
    """What to read and how; without projects, the credentials' own project is read."""

    #: Project IDs; empty means the project of the application default credentials.
    projects: list[str] = field(default_factory=list)
    #: Organization ID (``123`` or ``organizations/123``) for hierarchical policies.
    organization: str | None = None
    #: API endpoint URL (Private Service Connect, or a local test server).
    api_endpoint: str | None = None
    #: Default: application default credentials (``google.auth.default()``).
    credentials: Credentials | None = None
    max_workers: int = 8
    progress: Progress | None = None
    #: Seconds to wait for one API response; retries of throttling stop after twice that.
    timeout: float = CALL_TIMEOUT
    #: Read only this part of the projects (the organization is read by every part).
    shard: Shard | None = None


def collect(opts: GcpOptions) -> Inventory:
    """Read every requested project (and organization) into one inventory."""
    credentials, default_project = _credentials(opts.credentials)
    projects = list(dict.fromkeys(p.strip() for p in opts.projects if p.strip()))
    if not projects:
        if not default_project:
            raise InputError(
                "gcp: no project given and the credentials name none; pass --project "
                "or set GOOGLE_CLOUD_PROJECT"
            )
        projects = [default_project]
    projects = take_scopes(opts.shard, projects)
    api = _Api(credentials, opts.api_endpoint, opts.timeout)
    report = opts.progress or (lambda _msg: None)

    workers = max(1, min(opts.max_workers, len(projects)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gcp") as pool:
        futures = [pool.submit(_read_scope, p, partial(_read_project, api, p)) for p in projects]
        outcomes: list[_Outcome] = []
        for done, future in enumerate(futures, start=1):
            outcomes.append(future.result())
            report(f"gcp: {done}/{len(projects)} projects read")
    if opts.organization:
        org = _organization_name(opts.organization)
        outcomes.append(_read_scope(org, partial(_read_organization, api, org)))
        report(f"gcp: {org} read")

    refused = [o for o in outcomes if o.auth_failure]
    if refused and len(refused) == len(outcomes):
        raise InputError(f"gcp: credentials refused: {refused[0].message}")
    if all(o.message for o in outcomes):
        # Not one project read is no estate, not an incomplete one: a gate that
        # tolerates "incomplete" must not pass without any coverage.
        first = outcomes[0].inventory.errors[0]
        more = len(outcomes) - 1
        others = f" (and {more} more scope{'s' if more > 1 else ''})" if more else ""
        raise InputError(
            f"gcp: nothing could be read, so nothing was checked: "
            f"{first.scope}: {first.message}{others}"
        )
    inventory = Inventory()
    for outcome in outcomes:
        inventory = inventory.merge(outcome.inventory)
    return _attach_everywhere(inventory, [a for o in outcomes for a in o.attach_to_all])


# ----------------------------------------------------------------- plumbing


def _credentials(explicit: Credentials | None) -> tuple[Credentials, str | None]:
    if explicit is not None:
        scoped: Credentials = with_scopes_if_required(explicit, [READONLY_SCOPE])  # type: ignore[no-untyped-call]
        return scoped, None
    try:
        found, project = google.auth.default(scopes=[READONLY_SCOPE])
    except auth_exceptions.GoogleAuthError as exc:
        # google-auth's messages name files and env vars, never key material.
        raise InputError(f"gcp: no usable credentials: {_auth_message(exc)}") from exc
    return found, project


def _auth_message(exc: BaseException) -> str:
    """First argument only: later ones may carry a token endpoint's raw response."""
    first = exc.args[0] if exc.args else type(exc).__name__
    return scrub(str(first), limit=300)


def _organization_name(value: str) -> str:
    raw = value.strip().removeprefix("organizations/")
    if not raw.isdigit():
        raise InputError(f"--organization: {value!r} is not a numeric organization ID")
    return f"organizations/{raw}"


class _Api:
    """Builds REST clients; one set per project so no HTTP session is shared by threads."""

    def __init__(self, credentials: Credentials, endpoint: str | None, timeout: float) -> None:
        self._credentials = credentials
        self._options = (
            ClientOptions(api_endpoint=check_url(endpoint, "--endpoint")) if endpoint else None
        )
        self._timeout = timeout

    @property
    def call(self) -> dict[str, Any]:
        """The SDK's documented ``timeout`` and ``retry`` arguments, fresh for each call:
        the retry predicate counts that call's failures, because api_core's Retry has a
        deadline but no attempt limit, and a server answering 500 for good should cost
        seconds, not the whole deadline."""
        failures = itertools.count(1)

        def retry_transient(exc: Exception) -> bool:
            return bool(_TRANSIENT(exc)) and next(failures) < MAX_ATTEMPTS

        retry = api_retry.Retry(
            predicate=retry_transient, initial=0.5, maximum=10.0, multiplier=2.0, timeout=120.0
        )
        return {"timeout": self._timeout, "retry": retry}

    def client(self, cls: Any) -> Any:
        return cls(credentials=self._credentials, transport="rest", client_options=self._options)


@dataclass
class _Outcome:
    """What one project or the organization gave: an inventory, or why not."""

    inventory: Inventory
    auth_failure: bool = False
    message: str = ""
    #: Attachments for every VM of the run (organization-wide policies).
    attach_to_all: tuple[Attachment, ...] = ()


def _read_scope(scope: str, read: Callable[[], _Outcome]) -> _Outcome:
    """Run one project's (or the organization's) reads, turning failures into data."""
    try:
        return read()
    except (auth_exceptions.TransportError, requests.RequestException) as exc:
        # The token endpoint or the Compute API; the exception text may hold URLs only.
        return _failed(scope, f"network error reaching Google APIs: {type(exc).__name__}")
    except auth_exceptions.GoogleAuthError as exc:
        # Refresh and token-exchange refusals (RefreshError, OAuthError, ...).
        return _failed(scope, f"cannot obtain an access token: {_auth_message(exc)}", auth=True)
    except api_exceptions.Unauthorized as exc:
        return _failed(scope, f"HTTP 401: {scrub(str(exc.message))}", auth=True)
    except api_exceptions.GoogleAPICallError as exc:
        return _failed(scope, f"HTTP {exc.code}: {scrub(str(exc.message))}")
    except api_exceptions.RetryError as exc:
        # Throttled or failing until the retry deadline: the last error says which.
        cause = exc.cause if isinstance(exc.cause, api_exceptions.GoogleAPICallError) else None
        detail = f"HTTP {cause.code}: {cause.message}" if cause is not None else str(exc)
        return _failed(scope, f"{scrub(detail)} (still failing after retries)")
    except (ValueError, ParseError, ValidationError) as exc:
        # A response the SDK could not parse (an HTML page, garbage), or a value the
        # model refuses.
        return _failed(scope, f"unreadable response: {scrub(describe_problem(exc), limit=300)}")


def _failed(scope: str, message: str, auth: bool = False) -> _Outcome:
    error = CollectionError(provider="gcp", scope=scope, message=message)
    return _Outcome(Inventory(errors=[error]), auth_failure=auth, message=message)


def _aggregated(api: _Api, client_class: Any, project: str, attribute: str) -> list[Any]:
    """Items of an aggregated list; the pager yields (scope, scoped list) per zone or
    region, and scopes without items carry only a warning."""
    pager = api.client(client_class).aggregated_list(project=project, **api.call)
    return [item for _scope, scoped in pager for item in getattr(scoped, attribute)]


# ------------------------------------------------------------------ project


def _read_project(api: _Api, project: str) -> _Outcome:
    firewalls = list(api.client(compute_v1.FirewallsClient).list(project=project, **api.call))
    networks = list(api.client(compute_v1.NetworksClient).list(project=project, **api.call))
    instances = _aggregated(api, compute_v1.InstancesClient, project, "instances")
    subnets = _aggregated(api, compute_v1.SubnetworksClient, project, "subnetworks")
    # One aggregated call covers global and regional network firewall policies.
    policies = _aggregated(
        api, compute_v1.NetworkFirewallPoliciesClient, project, "firewall_policies"
    )

    inventory = Inventory(
        sources=[f"gcp:{project}"],
        firewalls=[_vpc_firewall(fw, project) for fw in firewalls]
        + [_policy_object(p, scope=project) for p in policies],
        vms=[_vm(i, project, _network_policy_attachments(i, policies)) for i in instances],
        networks=_networks(networks, subnets, project),
    )
    return _Outcome(inventory)


def _resource_path(link: str) -> str:
    """``projects/p/global/networks/n`` from a self link, so links from different
    API hosts or versions compare equal."""
    text = link.strip()
    for anchor in ("projects/", "organizations/", "folders/"):
        index = text.find(anchor)
        if index >= 0:
            return text[index:].rstrip("/")
    return text.rstrip("/")


def _zone_region(zone_link: str) -> str:
    """``europe-west3`` from ``.../zones/europe-west3-a``."""
    return last_segment(zone_link).rsplit("-", 1)[0]


def _network_policy_attachments(instance: Any, policies: Sequence[Any]) -> list[Attachment]:
    """Network firewall policies associated with a network the VM is in.

    A regional policy only governs VMs in its region, so its association counts
    only when the VM's zone is in that region.
    """
    nets = {gcp_network_ref(nic.network) for nic in instance.network_interfaces}
    region = _zone_region(instance.zone)
    attached: list[Attachment] = []
    for policy in policies:
        if policy.region and last_segment(policy.region) != region:
            continue
        for assoc in policy.associations:
            target = gcp_network_ref(assoc.attachment_target)
            if target in nets:
                attached.append(
                    Attachment(firewall_id=_object_id(policy), level="network", via=target)
                )
    return attached


def _object_id(resource: Any) -> str:
    return str(resource.self_link or resource.id or resource.name)


def _vm(instance: Any, project: str, attachments: list[Attachment]) -> VM:
    addresses: list[str] = []
    ranges: list[str] = []
    for nic in instance.network_interfaces:
        addresses += [nic.network_i_p, nic.ipv6_address]
        addresses += [ac.nat_i_p for ac in nic.access_configs]
        addresses += [ac.external_ipv6 for ac in nic.ipv6_access_configs]
        if nic.stack_type in ("IPV4_IPV6", "IPV6_ONLY") and not nic.ipv6_address:
            ranges.append("::/0")  # dual-stack, its IPv6 address not assigned yet
    return VM(
        provider="gcp",
        id=_object_id(instance),
        name=instance.name,
        addresses=tuple(dict.fromkeys(a for a in addresses if a)),
        address_ranges=tuple(ranges),
        tags=dict(instance.labels),
        network_tags=tuple(instance.tags.items),
        service_accounts=tuple(sa.email for sa in instance.service_accounts if sa.email),
        # The NIC's network, in whichever project it is (a shared VPC's host).
        networks=tuple(
            dict.fromkeys(gcp_network_ref(nic.network) for nic in instance.network_interfaces)
        ),
        attachments=tuple(attachments),
        provenance=Provenance(
            source="gcp",
            cloud_id=instance.self_link or None,
            scope=project,
            region=_zone_region(instance.zone) if instance.zone else None,
        ),
    )


def _networks(networks: Sequence[Any], subnets: Sequence[Any], project: str) -> list[Network]:
    """Address spaces: a legacy network's own range, else its subnets' ranges."""
    ranges: dict[str, list[str]] = {}
    for subnet in subnets:
        spaces = ranges.setdefault(gcp_network_ref(subnet.network, project), [])
        spaces += [subnet.ip_cidr_range, subnet.ipv6_cidr_range]
        spaces += [r.ip_cidr_range for r in subnet.secondary_ip_ranges]
    result = []
    for net in networks:
        ref = gcp_network_ref(net.self_link or net.name, project)
        spaces = [net.I_pv4_range, *ranges.get(ref, [])]
        order = net.network_firewall_policy_enforcement_order or None
        if order not in (None, "AFTER_CLASSIC_FIREWALL", "BEFORE_CLASSIC_FIREWALL"):
            raise InputError(
                f"gcp: network {net.name}: networkFirewallPolicyEnforcementOrder {order!r} "
                "is neither AFTER_CLASSIC_FIREWALL nor BEFORE_CLASSIC_FIREWALL"
            )
        result.append(
            Network(
                provider="gcp",
                id=ref,
                name=net.name,
                address_spaces=tuple(dict.fromkeys(s for s in spaces if s)),
                policy_enforcement_order=order,
            )
        )
    return result


# ------------------------------------------------------------- VPC firewall


def _vpc_firewall(fw: Any, project: str) -> FirewallObject:
    provenance = Provenance(source="gcp", cloud_id=fw.self_link or None, scope=project)
    inbound = (fw.direction or "INGRESS") == "INGRESS"
    direction: Direction = "inbound" if inbound else "outbound"
    # Ingress: the remote side is the source; destination ranges narrow the VM side.
    remote, local = (
        (fw.source_ranges, fw.destination_ranges)
        if inbound
        else (fw.destination_ranges, fw.source_ranges)
    )
    peers = _ranges(remote)
    if inbound:
        peers += [Peer(kind="network_tag", value=t) for t in fw.source_tags]
        peers += [Peer(kind="service_account", value=s) for s in fw.source_service_accounts]
    if not peers:
        # Documented default: a rule without a remote side matches every IPv4 address.
        peers = [Peer.cidr(ANY_IPV4)]
    targets = [Peer(kind="network_tag", value=t) for t in fw.target_tags]
    targets += [Peer(kind="service_account", value=s) for s in fw.target_service_accounts]
    targets += _ranges(local)

    entries: list[tuple[Action, Any]] = [("allow", a) for a in fw.allowed]
    entries += [("deny", d) for d in fw.denied]
    rules = []
    for index, (action, entry) in enumerate(entries, start=1):
        protocol, ports, unknown = _protocol_and_ports(entry.I_p_protocol, entry.ports)
        rules.append(
            Rule(
                id=fw.name if len(entries) == 1 else f"{fw.name}#{index}",
                name=fw.name,
                direction=direction,
                action=action,
                # Firewalls always carry a priority; 1000 is the API's default.
                priority=fw.priority if "priority" in fw else 1000,
                protocol=protocol,
                ports=ports,
                peers=tuple(peers),
                targets=tuple(targets),
                disabled=bool(fw.disabled),
                unknown=unknown,
                description=fw.description or None,
                provenance=provenance,
            )
        )
    return FirewallObject(
        provider="gcp",
        kind="vpc_firewall",
        id=_object_id(fw),
        name=fw.name,
        network=gcp_network_ref(fw.network, project) if fw.network else None,
        rules=tuple(rules),
        provenance=provenance,
    )


def _ranges(values: Iterable[str]) -> list[Peer]:
    """CIDR peers; a value that is no prefix is kept as an unknown peer, not dropped."""
    items = [v for v in values if v]
    try:
        return cidr_peers(items)
    except ValueError:
        return [_range(v) for v in items]


def _range(value: str) -> Peer:
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return Peer(kind="unknown", value=f"range:{value}")
    return Peer.cidr(value)


def _protocol_and_ports(
    protocol: str, ports: Sequence[str]
) -> tuple[str, tuple[PortRange, ...], tuple[str, ...]]:
    """A protocol/ports pair; what cannot be read widens to "all" and is marked unknown."""
    unknown: list[str] = []
    text = str(protocol or "all").strip().lower()
    try:
        proto = normalize_protocol(GCP_PROTOCOL_NUMBERS.get(text, text))
    except ValueError:
        proto, unknown = "all", ["protocol"]
    try:
        port_ranges = gcp_ports(ports)
    except ValueError:
        port_ranges, unknown = (ALL_PORTS,), [*unknown, "ports"]
    return proto, port_ranges, tuple(unknown)


# ----------------------------------------------------- firewall policies


#: Policy actions in the model's terms; ``goto_next`` hands the packet to the next
#: policy level, which the engine evaluates.
_POLICY_ACTIONS: dict[str, Action] = {
    "allow": "allow",
    "deny": "deny",
    "goto_next": "goto_next",
    # Traffic is allowed, then inspected at layer 7: for ports, it is an allow.
    "apply_security_profile_group": "allow",
}


def _policy_object(policy: Any, scope: str) -> FirewallObject:
    """A network (global/regional) or hierarchical firewall policy."""
    region = last_segment(policy.region) if policy.region else None
    provenance = Provenance(
        source="gcp", cloud_id=policy.self_link or None, scope=scope, region=region
    )
    name = policy.short_name or policy.display_name or policy.name
    rules = [r for rule in policy.rules for r in _policy_rules(rule, name, provenance)]
    return FirewallObject(
        provider="gcp",
        kind="firewall_policy",
        id=_object_id(policy),
        name=name,
        rules=tuple(rules),
        provenance=provenance,
    )


def _policy_rules(rule: Any, policy_name: str, provenance: Provenance) -> list[Rule]:
    inbound = (rule.direction or "INGRESS") == "INGRESS"
    match = rule.match
    unknown: list[str] = []
    action = _POLICY_ACTIONS.get(rule.action)
    if action is None:
        # An action newer than this code: its verdict is not known, so the rule is
        # evaluated as an allow and reported unresolved rather than dropped.
        unknown.append(rule.action or "action")
        action = "allow"
    if inbound:
        peers = _ranges(match.src_ip_ranges) + _symbolic_sources(match)
        local = _ranges(match.dest_ip_ranges)
    else:
        peers = _ranges(match.dest_ip_ranges) + _symbolic_destinations(match)
        local = _ranges(match.src_ip_ranges)
    if not peers:
        peers = [Peer(kind="unknown", value="no remote address in the rule")]
    targets = [Peer(kind="service_account", value=s) for s in rule.target_service_accounts] + local
    # Secure tags live in Resource Manager and target networks in the VM's
    # interfaces; neither is resolved into VM membership here: which VMs they
    # select is unknown (the engine evaluates that conservatively and says so).
    targets += _unknown_peers("secure tag", [t.name for t in rule.target_secure_tags])
    targets += _unknown_peers("target resource", rule.target_resources)

    configs = list(match.layer4_configs) or [None]
    result = []
    for index, l4 in enumerate(configs, start=1):
        protocol, ports, l4_unknown = _protocol_and_ports(
            l4.ip_protocol if l4 else "all", l4.ports if l4 else []
        )
        base_id = f"{policy_name}:{rule.priority}"
        result.append(
            Rule(
                id=base_id if len(configs) == 1 else f"{base_id}#{index}",
                name=rule.rule_name or None,
                direction="inbound" if inbound else "outbound",
                action=action,
                priority=rule.priority,
                protocol=protocol,
                ports=ports,
                peers=tuple(peers),
                targets=tuple(targets),
                disabled=bool(rule.disabled),
                unknown=tuple(unknown) + l4_unknown,
                description=rule.description or None,
                provenance=provenance,
            )
        )
    return result


def _symbolic_sources(match: Any) -> list[Peer]:
    """Sources the engine cannot turn into addresses from what is collected here."""
    return [
        *(Peer(kind="address_group", value=g) for g in match.src_address_groups),
        *_unknown_peers("secure tag", [t.name for t in match.src_secure_tags]),
        *_unknown_peers("FQDN", match.src_fqdns),
        *_unknown_peers("geolocation", match.src_region_codes),
        *_unknown_peers("threat intelligence list", match.src_threat_intelligences),
        *_unknown_peers("network", match.src_networks),
        *_unknown_peers("network_type", [match.src_network_type] if match.src_network_type else []),
    ]


def _symbolic_destinations(match: Any) -> list[Peer]:
    return [
        *(Peer(kind="address_group", value=g) for g in match.dest_address_groups),
        *_unknown_peers("FQDN", match.dest_fqdns),
        *_unknown_peers("geolocation", match.dest_region_codes),
        *_unknown_peers("threat intelligence list", match.dest_threat_intelligences),
        *_unknown_peers(
            "network_type", [match.dest_network_type] if match.dest_network_type else []
        ),
    ]


def _unknown_peers(what: str, values: Iterable[str]) -> list[Peer]:
    """Never every address, never none: unknown (SWYX005), as the plan reader says too."""
    return [Peer(kind="unknown", value=f"{what} {v}") for v in values]


# ------------------------------------------------------------ organization


def _read_organization(api: _Api, org: str) -> _Outcome:
    """Hierarchical policies defined at the organization.

    A policy associated with the organization governs every VM of the run (the
    projects were named as belonging to it). One associated with a folder applies
    below that folder, but folder membership is Resource Manager's, not read here:
    that association becomes a CollectionError rather than a guess.
    """
    client = api.client(compute_v1.FirewallPoliciesClient)
    request = compute_v1.ListFirewallPoliciesRequest(parent_id=org)
    policies = list(client.list(request=request, **api.call))
    attach: list[Attachment] = []
    errors: list[CollectionError] = []
    for policy in policies:
        for assoc in policy.associations:
            if _resource_path(assoc.attachment_target) == org:
                attach.append(Attachment(firewall_id=_object_id(policy), level="network", via=org))
            else:
                errors.append(
                    CollectionError(
                        provider="gcp",
                        scope=org,
                        message=(
                            f"firewall policy {policy.short_name or policy.name} is associated "
                            f"with {assoc.attachment_target}, whose projects are not collected; "
                            "it is applied to no VM"
                        ),
                    )
                )
    inventory = Inventory(
        sources=[f"gcp:{org}"],
        firewalls=[_policy_object(p, scope=org) for p in policies],
        errors=errors,
    )
    return _Outcome(inventory, attach_to_all=tuple(attach))


def _attach_everywhere(inventory: Inventory, attachments: list[Attachment]) -> Inventory:
    """Organization policies first: GCP evaluates the hierarchy top-down."""
    if not attachments:
        return inventory
    vms = [
        vm.model_copy(update={"attachments": (*attachments, *vm.attachments)})
        for vm in inventory.vms
    ]
    return inventory.model_copy(update={"vms": vms})
