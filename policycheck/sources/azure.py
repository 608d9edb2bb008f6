"""Live Azure collector: NSGs, NICs, VNets, ASGs, service tags and VMs into an Inventory.

Reads through the official SDKs (azure-mgmt-network, azure-mgmt-compute,
azure-mgmt-resource-subscriptions) with list calls only, one subscription per
worker. The SDK models are turned back into their ARM REST shape
(``as_dict()``) and normalized from that, so the translation below reads like
the documented REST API and can be tested on plain JSON.

ARM ids are case-insensitive and references often differ in case from the
resource's own id (a NIC may point at ``.../resourceGroups/RG-SWYX/...``), so
every reference is matched in lower case and replaced by the referenced
resource's own spelling; the engine can then compare ids exactly.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
)
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from pydantic import ValidationError

from policycheck.errors import InputError, one_line, scrub
from policycheck.inputs import check_url, describe_problem
from policycheck.model import (
    ALL_PORTS,
    AZURE_ANY,
    VM,
    AddressGroup,
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
    normalize_protocol,
)
from policycheck.shard import Shard, take_scopes
from policycheck.sources.normalize import azure_port_ranges, azure_prefixes

if TYPE_CHECKING:  # the mgmt SDKs and azure-identity are imported lazily: they are slow
    from azure.core.credentials import TokenCredential

log = logging.getLogger(__name__)

PUBLIC_ARM = "https://management.azure.com"
#: Seconds to wait for an ARM response (``--timeout``); connecting gets at most 10.
DEFAULT_TIMEOUT = 60.0
#: Azure protocol words that are not in model.NAMED_PROTOCOLS, by IANA number.
_EXTRA_PROTOCOLS = {"esp": "50", "ah": "51"}

Json = Mapping[str, Any]
Progress = Callable[[str], None]


@dataclass
class AzureOptions:
    """What to read and how.

    ``subscriptions=None`` reads every subscription the identity can see.
    ``credential=None`` uses ``DefaultAzureCredential`` (environment service
    principal, workload/managed identity, Azure CLI, ...).
    """

    subscriptions: list[str] | None = None
    #: ARM endpoint; ``None`` is the public cloud. The token is requested for
    #: ``<base_url>/.default`` so sovereign clouds work with the matching authority.
    base_url: str | None = None
    credential: TokenCredential | None = None
    max_workers: int = 8
    progress: Progress | None = None
    #: Passed to DefaultAzureCredential when ``credential`` is None: needed for
    #: authority hosts (AZURE_AUTHORITY_HOST) that Microsoft's instance discovery
    #: does not know, e.g. Azure Stack or a private test authority.
    disable_instance_discovery: bool = False
    timeout: float = DEFAULT_TIMEOUT
    #: Read only this part of the subscriptions.
    shard: Shard | None = None


@dataclass
class SubscriptionData:
    """The raw ARM list responses of one subscription, in REST shape."""

    subscription: str
    nsgs: list[Json] = field(default_factory=list)
    nics: list[Json] = field(default_factory=list)
    vnets: list[Json] = field(default_factory=list)
    asgs: list[Json] = field(default_factory=list)
    vms: list[Json] = field(default_factory=list)
    #: ``serviceTags`` response bodies per location (absent where the call failed).
    service_tags: dict[str, Json] = field(default_factory=dict)


class _Malformed(Exception):
    """An ARM response lacks something every resource has (id, name, direction)."""


class _AuthFailed(Exception):
    """The credential was refused for one subscription."""


class WriteRefused(AzureError):
    """The SDK tried a request that is not a read; policycheck never sends one."""


class _ReadOnlyPolicy(SansIOHTTPPolicy[Any, Any]):
    """Refuses every non-GET request before it leaves the process.

    The collector's own calls are all GETs; this guards against the SDK's
    ARMAutoResourceProviderRegistrationPolicy, which answers a 409
    MissingSubscriptionRegistration with a POST that registers the provider.
    It is a per-retry policy, so it also sees requests other policies send.
    """

    def on_request(self, request: PipelineRequest[Any]) -> None:
        method = request.http_request.method
        if method.upper() != "GET":
            path = request.http_request.url.split("?", 1)[0]
            raise WriteRefused(f"refused {method} {path}: policycheck only reads")


# --------------------------------------------------------------------- collect


def collect(opts: AzureOptions) -> Inventory:
    """Read every requested subscription; unreadable ones become CollectionErrors."""
    base_url = check_url(opts.base_url or PUBLIC_ARM, "--endpoint").rstrip("/")
    scope = f"{base_url}/.default"
    client = _client_options(base_url, scope, opts.timeout)
    credential = opts.credential or _default_credential(opts.disable_instance_discovery, client)
    _check_credential(credential, scope)
    # A subscription named twice is read once.
    subscriptions = take_scopes(
        opts.shard,
        list(dict.fromkeys(opts.subscriptions or _visible_subscriptions(credential, client))),
    )
    if not subscriptions:
        return Inventory()  # a shard with nothing to read

    def one(sub: str) -> _Outcome:
        try:
            data = _read_subscription(credential, client, sub)
            inventory = normalize_subscription(data)
        except _AuthFailed as exc:
            return _Outcome.failed(sub, f"authentication refused: {exc}", auth=True)
        except DecodeError as exc:
            # A 200 whose body is not JSON: a proxy's page or garbage, not ARM.
            return _Outcome.failed(sub, f"unexpected ARM response: {scrub(exc.message)}")
        except AzureError as exc:
            return _Outcome.failed(sub, _describe(exc))
        except (_Malformed, ValidationError, ValueError, KeyError, TypeError) as exc:
            # ValueError: a body that is not ARM's JSON (an HTML page, garbage) as the
            # SDK's deserializer reports it; pydantic's errors are ValueErrors too.
            return _Outcome.failed(sub, f"unexpected ARM response: {scrub(describe_problem(exc))}")
        if opts.progress:
            opts.progress(f"azure {sub}: {len(inventory.firewalls)} NSGs, {len(inventory.vms)} VMs")
        return _Outcome(inventory)

    workers = max(1, min(opts.max_workers, len(subscriptions)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azure") as pool:
        outcomes = list(pool.map(one, subscriptions))

    if all(o.auth_failed for o in outcomes):
        # The token was issued but ARM refuses it everywhere: a credential
        # problem (exit 2), not a partly readable estate (exit 3).
        raise InputError(f"azure: {outcomes[0].inventory.errors[0].message}")
    if all(o.inventory.errors for o in outcomes):
        # Not one subscription read is no estate, not an incomplete one: a gate
        # that tolerates "incomplete" must not pass without any coverage.
        first = outcomes[0].inventory.errors[0]
        more = len(outcomes) - 1
        others = f" (and {more} more subscription{'s' if more > 1 else ''})" if more else ""
        raise InputError(
            f"azure: nothing could be read, so nothing was checked: "
            f"{first.scope}: {first.message}{others}"
        )
    inventory = Inventory()
    for outcome in outcomes:
        inventory = inventory.merge(outcome.inventory)
    return inventory


@dataclass(frozen=True)
class _Outcome:
    inventory: Inventory
    auth_failed: bool = False

    @classmethod
    def failed(cls, sub: str, message: str, *, auth: bool = False) -> _Outcome:
        error = CollectionError(provider="azure", scope=sub, message=message)
        return cls(Inventory(sources=[f"azure:{sub}"], errors=[error]), auth_failed=auth)


def _default_credential(
    disable_instance_discovery: bool, client: dict[str, Any]
) -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    # The token requests get the same retry and timeout policy as ARM's.
    policy = {k: v for k, v in client.items() if k.startswith("retry_") or k.endswith("timeout")}
    if disable_instance_discovery:
        return DefaultAzureCredential(disable_instance_discovery=True, **policy)
    return DefaultAzureCredential(**policy)


def _check_credential(credential: TokenCredential, scope: str) -> None:
    """Get one token up front so a bad credential is one clear line, not N CollectionErrors."""
    try:
        credential.get_token(scope)
    except (AzureError, ValueError, OSError) as exc:
        reason = _SDK_BOILERPLATE.sub(" ", one_line(str(exc)))
        raise InputError(f"azure: cannot get a token: {scrub(reason)}") from None


def _client_options(base_url: str, scope: str, timeout: float) -> dict[str, Any]:
    """Keyword arguments for every client, through azure-core's documented options.

    Throttling (429, honouring Retry-After) and 5xx are retried with backoff; a
    refused connection is retried once, so a dead endpoint fails in seconds.
    """
    return {
        "base_url": base_url,
        "credential_scopes": [scope],
        "per_retry_policies": [_ReadOnlyPolicy()],
        "retry_total": 3,
        "retry_connect": 1,
        "retry_read": 1,
        "retry_status": 3,
        "retry_backoff_factor": 0.5,
        "connection_timeout": min(timeout, 10.0),
        "read_timeout": timeout,
    }


def _visible_subscriptions(credential: TokenCredential, options: dict[str, Any]) -> list[str]:
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    client = SubscriptionClient(credential, **options)
    try:
        subs = [s.subscription_id for s in client.subscriptions.list() if s.subscription_id]
    except AzureError as exc:
        raise InputError(f"azure: cannot list subscriptions: {_describe(exc)}") from None
    finally:
        client.close()
    if not subs:
        raise InputError("azure: this identity sees no subscription; pass --subscription ID")
    return subs


def _read_subscription(
    credential: TokenCredential, options: dict[str, Any], sub: str
) -> SubscriptionData:
    """Only list (GET) calls; each pages through ``nextLink`` inside the SDK."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient

    network = NetworkManagementClient(credential, sub, **options)
    compute = ComputeManagementClient(credential, sub, **options)
    try:
        data = SubscriptionData(subscription=sub)
        data.nsgs = [m.as_dict() for m in network.network_security_groups.list_all()]
        data.nics = [m.as_dict() for m in network.network_interfaces.list_all()]
        data.vnets = [m.as_dict() for m in network.virtual_networks.list_all()]
        data.asgs = [m.as_dict() for m in network.application_security_groups.list_all()]
        data.vms = [m.as_dict() for m in compute.virtual_machines.list_all()]
        for location in sorted(_locations(data)):
            try:
                data.service_tags[location] = _service_tags(network, location, options["base_url"])
            except HttpResponseError as exc:
                # Tags stay symbolic; the engine reports them as unresolved.
                log.debug("azure %s: service tags of %s unavailable: %s", sub, location, exc)
        return data
    except ClientAuthenticationError as exc:
        raise _AuthFailed(_describe(exc)) from None
    finally:
        network.close()
        compute.close()


def _service_tags(network: Any, location: str, base_url: str) -> Json:
    """The service tags of a location, every page: the list result carries a
    ``nextLink`` while more tags follow, which the SDK's operation does not follow.

    A link is followed only to the ARM endpoint itself (``base_url``): the request
    carries the bearer token, which must never go to a host a response names."""
    from urllib.parse import urlsplit

    from azure.core.rest import HttpRequest

    origin = urlsplit(base_url)[:2]
    body: dict[str, Any] = dict(network.service_tags.list(location).as_dict())
    values = list(body.get("values") or [])
    link, seen = body.get("nextLink"), set()
    while link and link not in seen:
        seen.add(link)
        if not isinstance(link, str) or urlsplit(link)[:2] != origin:
            raise _Malformed(
                f"service tags of {location}: nextLink {scrub(str(link), limit=80)!r} "
                f"is not on {base_url}; not followed"
            )
        response = network.send_request(HttpRequest("GET", link))
        response.raise_for_status()
        page = response.json()
        if not isinstance(page, dict) or not isinstance(page.get("values") or [], list):
            raise _Malformed(f"service tags of {location}: a page is not a ServiceTagsListResult")
        values.extend(page.get("values") or [])
        link = page.get("nextLink")
    body.update(values=values, nextLink=None)
    return body


def _locations(data: SubscriptionData) -> set[str]:
    return {
        str(r["location"]).lower()
        for r in (*data.nsgs, *data.nics, *data.vnets)
        if r.get("location")
    }


# ------------------------------------------------------------------- messages

#: Sentences azure-identity wraps every credential error in; the reason is between them.
_SDK_BOILERPLATE = re.compile(
    r"DefaultAzureCredential failed to retrieve a token from the included credentials\.|"
    r"Attempted credentials:|"
    r"(To mitigate this issue, please refer to|Visit) [^ ]* ?[^.]*https://aka\.ms/\S+"
    r"( to troubleshoot this issue\.)?"
)


def _describe(exc: Exception) -> str:
    """HTTP status, ARM error code and message of a failed call."""
    if isinstance(exc, HttpResponseError):
        status = f"HTTP {exc.status_code}" if exc.status_code else type(exc).__name__
        code = getattr(exc.error, "code", None) if exc.error else None
        message = getattr(exc.error, "message", None) if exc.error else None
        detail = " ".join(p for p in (code, message or exc.reason) if p)
        return scrub(f"{status} {detail}".strip())
    return scrub(f"{type(exc).__name__}: {exc}")


# ------------------------------------------------------------------ normalize


class _Index:
    """Lower-cased ARM id -> the referenced resource's own id spelling."""

    def __init__(self, resources: Iterable[Json]) -> None:
        self._ids = {str(r["id"]).lower(): str(r["id"]) for r in resources if r.get("id")}

    def canonical(self, ref: str) -> str:
        return self._ids.get(ref.lower(), ref)


class _Resolver:
    """Cross-references of one subscription: which NSG guards a subnet, a NIC by id."""

    def __init__(self, data: SubscriptionData) -> None:
        subnets = [s for vnet in data.vnets for s in _props(vnet).get("subnets") or []]
        self.asgs = _Index(data.asgs)
        self.nsgs = _Index(data.nsgs)
        self.vnets = _Index(data.vnets)
        self.subnets = _Index(subnets)
        self.nics = {_id(nic).lower(): nic for nic in data.nics}
        #: Lower-cased subnet id -> its address prefixes (where a Dynamic NIC's address is).
        self.subnet_prefixes = {
            _id(subnet).lower(): [
                *[v for v in [(subnet.get("properties") or {}).get("addressPrefix")] if v],
                *((subnet.get("properties") or {}).get("addressPrefixes") or []),
            ]
            for subnet in subnets
        }
        self.subnet_nsg = {
            _id(subnet).lower(): self.nsgs.canonical(nsg)
            for subnet in subnets
            if (nsg := _ref(subnet.get("properties") or {}, "networkSecurityGroup"))
        }


def normalize_subscription(data: SubscriptionData) -> Inventory:
    """One subscription's ARM responses as a normalized Inventory."""
    sub = data.subscription
    resolver = _Resolver(data)
    firewalls = _unique(_firewall(nsg, sub, resolver.asgs) for nsg in data.nsgs)
    referenced = {
        peer.value
        for fw in firewalls
        for rule in fw.rules
        for peer in (*rule.peers, *rule.targets)
        if peer.kind == "service_tag"
    }
    return Inventory(
        sources=[f"azure:{sub}"],
        vms=_unique(_vm(vm, sub, resolver) for vm in data.vms),
        firewalls=firewalls,
        networks=_unique(_network(vnet) for vnet in data.vnets),
        address_groups=service_tag_groups(data.service_tags.values(), referenced),
    )


_Identified = TypeVar("_Identified", FirewallObject, VM, Network)
_T = TypeVar("_T")


def _unique(items: Iterable[_Identified]) -> list[_Identified]:
    """First occurrence per id (pages may overlap when resources change mid-listing)."""
    seen: dict[str, _Identified] = {}
    for item in items:
        seen.setdefault(item.id.lower(), item)
    return list(seen.values())


def _id(resource: Json) -> str:
    value = resource.get("id")
    if not value:
        raise _Malformed(f"resource without id: {str(resource.get('name') or resource)[:80]}")
    return str(value)


def _props(resource: Json) -> Json:
    props = resource.get("properties") or {}
    if not isinstance(props, Mapping):
        raise _Malformed(f"{_id(resource)}: properties is not an object")
    return props


def _ref(props: Json, key: str) -> str:
    """The id of a ``{"id": ...}`` sub-resource reference, or ``""``."""
    value = props.get(key)
    return str(value.get("id") or "") if isinstance(value, Mapping) else ""


def _refs(props: Json, key: str) -> list[str]:
    return [str(v["id"]) for v in props.get(key) or [] if isinstance(v, Mapping) and v.get("id")]


def _name(resource: Json) -> str:
    return str(resource.get("name") or _id(resource).rsplit("/", 1)[-1])


def _firewall(nsg: Json, sub: str, asgs: _Index) -> FirewallObject:
    props = _props(nsg)
    region = nsg.get("location")
    # Default rules keep their ARM ids (``.../defaultSecurityRules/<name>``), the
    # same ids the engine gives the defaults it adds for sources that lack them.
    rules = [
        _rule(r, f"{_id(nsg)}/{key}/{_name(r)}", sub, region, asgs)
        for key in ("securityRules", "defaultSecurityRules")
        for r in props.get(key) or []
    ]
    return FirewallObject(
        provider="azure",
        kind="nsg",
        id=_id(nsg),
        name=_name(nsg),
        rules=tuple(rules),
        tags=dict(nsg.get("tags") or {}),
        provenance=Provenance(source="azure", cloud_id=_id(nsg), scope=sub, region=region),
    )


def _rule(rule: Json, fallback_id: str, sub: str, region: str | None, asgs: _Index) -> Rule:
    props = _props(rule)
    name = str(rule.get("name") or "")
    rule_id = str(rule.get("id") or fallback_id)
    direction = str(props.get("direction") or "").lower()
    if direction not in ("inbound", "outbound"):
        raise _Malformed(f"{rule_id}: direction {props.get('direction')!r}")
    access = str(props.get("access") or "").lower()
    if access not in ("allow", "deny"):
        raise _Malformed(f"{rule_id}: access {props.get('access')!r}")
    unknown: list[str] = []
    protocol = _protocol(props.get("protocol"), unknown)
    ports = _ports(props, "destination", unknown)
    source_ports = _ports(props, "source", unknown)
    source = _side(props, "source", asgs, rule_id)
    destination = _side(props, "destination", asgs, rule_id)
    remote, local = (source, destination) if direction == "inbound" else (destination, source)
    if not remote:
        unknown.append("peers")
        remote = [Peer(kind="unknown", value="no address prefix or ASG")]
    priority = props.get("priority")
    return Rule(
        id=rule_id,
        name=name or None,
        direction=_direction(direction),
        action="allow" if access == "allow" else "deny",
        priority=int(priority) if priority is not None else None,
        protocol=protocol,
        ports=ports,
        source_ports=source_ports,
        peers=tuple(remote),
        # "*" on the VM side means every VM behind the NSG: no narrowing.
        targets=() if any(_is_any(p) for p in local) else tuple(local),
        unknown=tuple(unknown),
        description=props.get("description") or None,
        provenance=Provenance(source="azure", cloud_id=rule_id, scope=sub, region=region),
    )


def _direction(text: str) -> Direction:
    return "inbound" if text == "inbound" else "outbound"


def _is_any(peer: Peer) -> bool:
    return peer.kind == "service_tag" and peer.value == AZURE_ANY


def _protocol(value: Any, unknown: list[str]) -> str:
    text = str(value or "").strip().lower()
    if text in _EXTRA_PROTOCOLS:
        return _EXTRA_PROTOCOLS[text]
    try:
        return normalize_protocol(text)
    except ValueError:
        # Evaluate as the widest protocol, flagged, rather than drop the rule.
        unknown.append("protocol")
        return "all"


def _ports(props: Json, side: str, unknown: list[str]) -> tuple[PortRange, ...]:
    try:
        return azure_port_ranges(props.get(f"{side}PortRange"), props.get(f"{side}PortRanges"))
    except (ValueError, ValidationError):
        unknown.append(f"{side}_ports")
        return (ALL_PORTS,)


def _side(props: Json, side: str, asgs: _Index, rule_id: str) -> list[Peer]:
    """Address prefixes and application security groups of one side of a rule."""
    try:
        peers = azure_prefixes(
            props.get(f"{side}AddressPrefix"), props.get(f"{side}AddressPrefixes")
        )
    except ValueError as exc:  # no cloud accepts it: the response is bad input
        raise InputError(f"azure: {rule_id}: {side}AddressPrefix: {exc}") from exc
    peers += [
        Peer(kind="app_security_group", value=asgs.canonical(ref))
        for ref in _refs(props, f"{side}ApplicationSecurityGroups")
    ]
    return peers


def _network(vnet: Json) -> Network:
    space = _props(vnet).get("addressSpace") or {}
    return Network(
        provider="azure",
        id=_id(vnet),
        name=_name(vnet),
        address_spaces=tuple(space.get("addressPrefixes") or ()),
    )


def _vnet_of(subnet_id: str) -> str:
    return subnet_id.split("/subnets/", 1)[0] if "/subnets/" in subnet_id else ""


def _vm(vm: Json, sub: str, refs: _Resolver) -> VM:
    """A VM with the addresses, ASGs, VNets and NSG attachments of its NICs."""
    profile = _props(vm).get("networkProfile") or {}
    addresses: list[str] = []
    ranges: list[str] = []
    groups: list[str] = []
    networks: list[str] = []
    attachments: list[Attachment] = []
    for nic_ref in _refs(profile, "networkInterfaces"):
        nic = refs.nics.get(nic_ref.lower())
        if nic is None:
            continue
        nic_props = _props(nic)
        for config in nic_props.get("ipConfigurations") or []:
            cprops = config.get("properties") or {}
            addresses += _addresses(cprops)
            groups += [refs.asgs.canonical(r) for r in _refs(cprops, "applicationSecurityGroups")]
            subnet_id = _ref(cprops, "subnet")
            if not subnet_id:
                continue
            if not cprops.get("privateIPAddress"):
                # Dynamic, not assigned yet: somewhere in the subnet.
                ranges += refs.subnet_prefixes.get(subnet_id.lower(), [])
            networks.append(refs.vnets.canonical(_vnet_of(subnet_id)))
            if subnet_id.lower() in refs.subnet_nsg:
                attachments.append(
                    Attachment(
                        firewall_id=refs.subnet_nsg[subnet_id.lower()],
                        level="subnet",
                        via=refs.subnets.canonical(subnet_id),
                    )
                )
        nic_nsg = _ref(nic_props, "networkSecurityGroup")
        if nic_nsg:
            attachments.append(
                Attachment(
                    firewall_id=refs.nsgs.canonical(nic_nsg), level="interface", via=_id(nic)
                )
            )
    return VM(
        provider="azure",
        id=_id(vm),
        name=_name(vm),
        addresses=_dedup(addresses),
        address_ranges=_dedup(ranges),
        tags=dict(vm.get("tags") or {}),
        app_security_groups=_dedup(groups),
        networks=_dedup(n for n in networks if n),
        attachments=_dedup(attachments),
        provenance=Provenance(
            source="azure", cloud_id=_id(vm), scope=sub, region=vm.get("location")
        ),
    )


def _addresses(config_props: Json) -> list[str]:
    """Private address, plus the public one when ARM returned the public IP inline."""
    found = [str(config_props["privateIPAddress"])] if config_props.get("privateIPAddress") else []
    public = config_props.get("publicIPAddress")
    if isinstance(public, Mapping):
        address = (public.get("properties") or {}).get("ipAddress")
        if address:
            found.append(str(address))
    return found


def _dedup(items: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(items))


def service_tag_groups(bodies: Iterable[Json], referenced: Iterable[str]) -> list[AddressGroup]:
    """Expand only the service tags rules use: the full list is thousands of tags.

    The group's id is the tag as the rule spells it, so the engine resolves a
    ``Peer(service_tag, value)`` by exact id; ARM matches tag names ignoring case.
    """
    wanted = {name.lower(): name for name in referenced if name != AZURE_ANY}
    groups: dict[str, AddressGroup] = {}
    for body in bodies:
        for tag in body.get("values") or []:
            name = str(tag.get("name") or "")
            spelled = wanted.get(name.lower())
            if spelled is None or spelled in groups:
                continue
            prefixes = (tag.get("properties") or {}).get("addressPrefixes") or []
            groups[spelled] = AddressGroup(
                provider="azure", kind="service_tag", id=spelled, name=name, cidrs=tuple(prefixes)
            )
    return list(groups.values())
