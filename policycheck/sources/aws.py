"""Live AWS collector: reads security groups, NACLs, prefix lists, VPCs and instances.

Read-only by construction: the only operations issued are ``sts:GetCallerIdentity``,
``sts:AssumeRole`` and EC2 ``Describe*``/``Get*``. The IAM permissions needed are::

    ec2:DescribeRegions, ec2:DescribeVpcs, ec2:DescribeInstances,
    ec2:DescribeSecurityGroups, ec2:DescribeSecurityGroupRules,
    ec2:DescribeManagedPrefixLists, ec2:GetManagedPrefixListEntries,
    ec2:DescribeNetworkAcls   (+ sts:AssumeRole on each --role-arn)

Every list is read through a botocore paginator and *all* rules of a region come
from one paginated ``DescribeSecurityGroupRules`` listing, so the number of calls
grows with pages, never with the number of groups. The one per-object call is
``GetManagedPrefixListEntries``, issued only for prefix lists that a rule references.

Each (account, region) is read by its own task on a bounded thread pool; a task
that fails becomes a :class:`~policycheck.model.CollectionError` and the others
carry on. Only when *every* task failed for lack of valid credentials is the run
a usage error (:class:`~policycheck.errors.InputError`, exit 2).

Scope of the model: only EC2 instances become VMs (instances launched by an
autoscaling group are instances like any other). Interfaces that belong to no
instance (load balancers, endpoints, Lambda ENIs) are not read, so a rule whose
peer is a security group resolves to the addresses of the *instances* carrying it.
Each instance's network ACL comes from the ACLs' own subnet associations (a subnet
no ACL names uses its VPC's default ACL), so subnets need not be read.
"""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConfigParseError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)
from botocore.parsers import ResponseParserError

from policycheck.errors import InputError, scrub
from policycheck.inputs import check_url, describe_problem
from policycheck.model import (
    VM,
    AddressGroup,
    Attachment,
    CollectionError,
    FirewallObject,
    Inventory,
    Network,
    Peer,
    Provenance,
    Rule,
    normalize_protocol,
)
from policycheck.shard import Shard
from policycheck.sources.normalize import aws_ports, cidr_peers

RetryMode = Literal["adaptive", "standard"]

#: Largest page each operation accepts; fewer, larger pages mean fewer calls.
PAGE_SIZES: dict[str, int] = {
    "describe_vpcs": 1000,
    "describe_instances": 1000,
    "describe_security_groups": 1000,
    "describe_security_group_rules": 1000,
    "describe_network_acls": 1000,
    "describe_managed_prefix_lists": 100,
    "get_managed_prefix_list_entries": 100,
}

#: Operation-name prefixes a read-only collector may issue (tests assert this).
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "AssumeRole")

#: Error codes meaning "these credentials are not valid", as opposed to "not allowed".
CREDENTIAL_ERROR_CODES = frozenset(
    {
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "RequestExpired",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})

_REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/.+$")
_MAX_MESSAGE = 240
#: What a call or its response can fail with: an API error, a connection, timeout or
#: configuration problem, a body that is not the service's XML (an HTML page from a
#: disabled region or a proxy), and normalizing a malformed response (pydantic
#: errors are ValueErrors). Any of them spoils one scope, never the run.
_CALL_FAILED = (ClientError, BotoCoreError, ResponseParserError)
_MALFORMED_RESPONSE = (KeyError, TypeError, ValueError)
#: Endpoint variables botocore reads for the services policycheck calls.
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_STS")
#: Attempts per call: throttling and 5xx are retried with backoff (and the adaptive
#: mode's rate limiter); a refused connection costs seconds, not minutes.
MAX_ATTEMPTS = 4
#: Seconds to wait for an API response (``--timeout``); connecting gets at most 10.
DEFAULT_TIMEOUT = 60.0


@dataclass
class AwsOptions:
    """What to read and how. ``session`` lets tests and the demo pass a prepared
    :class:`boto3.Session` (fake credentials, event hooks); otherwise one is made
    from ``profile`` and the usual AWS credential chain."""

    regions: list[str] | None = None
    profile: str | None = None
    role_arns: list[str] = field(default_factory=list)
    endpoint_url: str | None = None
    max_workers: int = 8
    progress: Callable[[str], None] | None = None
    session: boto3.Session | None = None
    retry_mode: RetryMode = "adaptive"
    timeout: float = DEFAULT_TIMEOUT
    #: Read only this part: its accounts (with two or more role ARNs), else its regions.
    shard: Shard | None = None


@dataclass(frozen=True)
class _Account:
    """An account to read, with the credentials to read it (None: the session's)."""

    account_id: str
    partition: str
    credentials: dict[str, str] | None = None


@dataclass
class _Failure:
    scope: str
    exc: BaseException


def client_config(retry_mode: RetryMode = "adaptive", timeout: float = DEFAULT_TIMEOUT) -> Config:
    """Client settings: retries with backoff for rate limits and 5xx, bounded waits."""
    return Config(
        retries={"mode": retry_mode, "max_attempts": MAX_ATTEMPTS},
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        user_agent_extra="policycheck",
    )


def collect(opts: AwsOptions) -> Inventory:
    """Read every (account, region) of ``opts`` into one inventory."""
    _validate(opts)
    session = opts.session if opts.session is not None else _make_session(opts.profile)
    collector = _Collector(session, opts)
    return collector.run()


# --------------------------------------------------------------------- plumbing


def _validate(opts: AwsOptions) -> None:
    for region in opts.regions or []:
        if not _REGION_NAME.match(region):
            raise InputError(f"--region: {region!r} is not an AWS region name (e.g. eu-central-1)")
    for arn in opts.role_arns:
        if not _ROLE_ARN.match(arn):
            raise InputError(
                f"--role-arn: {arn!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
            )
    if opts.max_workers < 1:
        raise InputError(f"--max-workers: must be at least 1, got {opts.max_workers}")
    if opts.endpoint_url is not None:
        check_url(opts.endpoint_url, "--endpoint-url")
    for variable in _ENDPOINT_VARIABLES:
        if os.environ.get(variable):
            check_url(os.environ[variable], variable)


def _make_session(profile: str | None) -> boto3.Session:
    try:
        return boto3.Session(profile_name=profile)
    except ProfileNotFound as exc:
        raise InputError(f"aws: AWS profile {profile!r} not found in the AWS config") from exc
    except ConfigParseError as exc:
        raise InputError(f"aws: {_config_problem(exc)}") from None


def _config_problem(exc: ConfigParseError) -> str:
    path = exc.kwargs.get("path") or "the AWS config"
    return f"cannot parse the AWS config file {path} (AWS_CONFIG_FILE, ~/.aws/config)"


class _Collector:
    """One run: resolves accounts and regions, then reads them on a thread pool."""

    def __init__(self, session: boto3.Session, opts: AwsOptions) -> None:
        self._session = session
        self._opts = opts
        # boto3 sessions are not thread-safe; clients are. Create clients under a lock.
        self._client_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._secrets: set[str] = set()
        self._failures: list[_Failure] = []
        self._successes = 0
        self._remember_session_secrets()

    # -- public entry

    def run(self) -> Inventory:
        accounts = self._accounts()
        tasks = [(acct, region) for acct in accounts for region in self._regions(acct)]
        inventory = Inventory()
        if tasks:
            workers = min(self._opts.max_workers, len(tasks))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aws") as pool:
                results = list(pool.map(lambda t: self._read_task(*t), tasks))
            for result in results:
                if result is not None:
                    inventory = inventory.merge(result)
        self._raise_if_nothing_read()
        errors = [
            CollectionError(provider="aws", scope=f.scope, message=self._describe(f.exc))
            for f in self._failures
        ]
        return inventory.merge(Inventory(errors=errors))

    # -- accounts and regions

    def _accounts(self) -> list[_Account]:
        if not self._opts.role_arns:
            try:
                sts = self._client("sts", self._home_region(None), None)
                ident = from_the_service(sts.get_caller_identity(), "GetCallerIdentity")
                return [_Account(account_id=ident["Account"], partition=_partition(ident["Arn"]))]
            except (*_CALL_FAILED, *_MALFORMED_RESPONSE) as exc:
                self._failures.append(_Failure("caller/*", exc))
                return []
        accounts = []
        for arn in self._shard_role_arns():
            match = _ROLE_ARN.match(arn)
            assert match is not None  # checked by _validate
            partition, account_id = match.group(1), match.group(2)
            try:
                sts = self._client("sts", self._home_region(None), None)
                answer = sts.assume_role(RoleArn=arn, RoleSessionName="policycheck")
                creds = from_the_service(answer, "AssumeRole")["Credentials"]
                client_creds = {
                    "aws_access_key_id": creds["AccessKeyId"],
                    "aws_secret_access_key": creds["SecretAccessKey"],
                    "aws_session_token": creds["SessionToken"],
                }
            except (*_CALL_FAILED, *_MALFORMED_RESPONSE) as exc:
                self._failures.append(_Failure(f"{account_id}/*", exc))
                continue
            self._secrets.update(client_creds.values())
            accounts.append(_Account(account_id, partition, client_creds))
        return accounts

    def _shard_role_arns(self) -> list[str]:
        """With a shard and several accounts, the accounts are the shard's units."""
        arns = self._opts.role_arns
        if not self._shards_accounts():
            return list(arns)
        assert self._opts.shard is not None
        mine = set(self._opts.shard.take(_account_of(a) for a in arns))
        return [a for a in arns if _account_of(a) in mine]

    def _shards_accounts(self) -> bool:
        accounts = {_account_of(a) for a in self._opts.role_arns}
        return self._opts.shard is not None and len(accounts) >= 2

    def _regions(self, acct: _Account) -> list[str]:
        if self._opts.regions:
            regions = list(dict.fromkeys(self._opts.regions))
        else:
            try:
                ec2 = self._client("ec2", self._home_region(acct), acct.credentials)
                answer = ec2.describe_regions(AllRegions=False)
                found = from_the_service(answer, "DescribeRegions")["Regions"]
            except (*_CALL_FAILED, *_MALFORMED_RESPONSE) as exc:
                self._failures.append(_Failure(f"{acct.account_id}/*", exc))
                return []
            regions = sorted(r["RegionName"] for r in found)
        if self._opts.shard is None or self._shards_accounts():
            return regions
        return self._opts.shard.take(regions)  # one account: its regions are the units

    def _home_region(self, acct: _Account | None) -> str:
        """Where to call STS and DescribeRegions: a region the caller named, else the
        profile's, else the partition's usual first region."""
        if self._opts.regions:
            return self._opts.regions[0]
        if self._session.region_name:
            return str(self._session.region_name)
        partition = acct.partition if acct else "aws"
        return {"aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}.get(partition, "us-east-1")

    # -- tasks

    def _read_task(self, acct: _Account, region: str) -> Inventory | None:
        scope = f"{acct.account_id}/{region}"
        try:
            ec2 = self._client("ec2", region, acct.credentials)
            inventory = read_region(ec2, acct.account_id, region, acct.partition)
        except (*_CALL_FAILED, *_MALFORMED_RESPONSE) as exc:
            # A response the model cannot hold (e.g. an object without its id) spoils
            # that region only; it is reported, never silently skipped.
            with self._state_lock:
                self._failures.append(_Failure(scope, exc))
            self._progress(f"{scope}: failed ({_error_code(exc)})")
            return None
        with self._state_lock:
            self._successes += 1
        self._progress(
            f"{scope}: {len(inventory.vms)} VMs, "
            f"{sum(f.kind == 'security_group' for f in inventory.firewalls)} security groups"
        )
        return inventory

    def _client(self, service: str, region: str, credentials: dict[str, str] | None) -> Any:
        with self._client_lock:
            return self._session.client(
                service,
                region_name=region,
                endpoint_url=self._opts.endpoint_url,
                config=client_config(self._opts.retry_mode, self._opts.timeout),
                **(credentials or {}),
            )

    def _progress(self, message: str) -> None:
        if self._opts.progress is not None:
            self._opts.progress(message)

    # -- errors

    def _remember_session_secrets(self) -> None:
        try:
            creds = self._session.get_credentials()
        except ConfigParseError as exc:
            raise InputError(f"aws: {_config_problem(exc)}") from None
        except (BotoCoreError, ValueError):
            return  # no or broken credentials: nothing to scrub, the calls will say so
        if creds is None:
            return
        frozen = creds.get_frozen_credentials()
        self._secrets.update(v for v in (frozen.access_key, frozen.secret_key, frozen.token) if v)

    def _raise_if_nothing_read(self) -> None:
        """Not one scope read is not an incomplete estate but no estate (exit 2): a gate
        that tolerates "incomplete" must not pass without any coverage."""
        if self._successes or not self._failures:
            return
        first = self._failures[0]
        if all(_is_credential_error(f.exc) for f in self._failures):
            raise InputError(_credential_sentence(first.exc))
        more = len(self._failures) - 1
        others = f" (and {more} more scope{'s' if more > 1 else ''} failed)" if more else ""
        raise InputError(
            f"aws: nothing could be read, so nothing was checked: "
            f"{first.scope}: {self._describe(first.exc)}{others}"
        )

    def _describe(self, exc: BaseException) -> str:
        """A short, secret-free message for a CollectionError."""
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = err.get("Code") or (f"HTTP {status}" if status else "Error")
            text = f"{code}: {err.get('Message', '')}".rstrip(": ")
        elif isinstance(exc, ResponseParserError):
            text = (
                "ResponseParserError: the endpoint did not answer in the service's format "
                "(a disabled or unknown region, or a proxy's error page)"
            )
        else:
            text = describe_problem(exc)
        return scrub(text, self._secrets, limit=_MAX_MESSAGE)


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def _is_credential_error(exc: BaseException) -> bool:
    if isinstance(
        exc,
        NoCredentialsError
        | PartialCredentialsError
        | CredentialRetrievalError
        | TokenRetrievalError
        | SSOError,
    ):
        return True
    return isinstance(exc, ClientError) and _error_code(exc) in CREDENTIAL_ERROR_CODES


def _credential_sentence(exc: BaseException) -> str:
    code = _error_code(exc)
    if isinstance(exc, NoCredentialsError):
        return (
            "aws: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, pass --aws-profile, or run 'aws sso login')"
        )
    if isinstance(exc, PartialCredentialsError):
        return (
            "aws: incomplete AWS credentials (an access key id without its secret, or vice versa)"
        )
    if isinstance(exc, TokenRetrievalError | SSOError):
        return "aws: the AWS SSO login has expired or is missing (run 'aws sso login')"
    if code in _EXPIRED_CODES:
        return "aws: the AWS credentials have expired (refresh them, e.g. 'aws sso login')"
    return f"aws: the AWS credentials were rejected ({code}); check the access key or profile"


def _account_of(role_arn: str) -> str:
    match = _ROLE_ARN.match(role_arn)
    return match.group(2) if match else role_arn


def _partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else "aws"


# ------------------------------------------------------------------ one region


def read_region(ec2: Any, account_id: str, region: str, partition: str = "aws") -> Inventory:
    """Read one region of one account with an EC2 client. Raises botocore errors."""
    arn = _ArnMaker(partition, region, account_id)

    def prov(cloud_id: str) -> Provenance:
        return Provenance(source="aws", cloud_id=cloud_id, scope=account_id, region=region)

    networks = [_network(vpc) for vpc in _pages(ec2, "describe_vpcs", "Vpcs")]
    groups = list(_pages(ec2, "describe_security_groups", "SecurityGroups"))
    rules_by_group: dict[str, list[Rule]] = defaultdict(list)
    referenced_lists: set[str] = set()
    for raw in _pages(ec2, "describe_security_group_rules", "SecurityGroupRules"):
        rule = _sg_rule(raw, prov(raw.get("SecurityGroupRuleArn") or arn.sg_rule(raw)))
        rules_by_group[raw["GroupId"]].append(rule)
        if raw.get("PrefixListId"):
            referenced_lists.add(raw["PrefixListId"])
    firewalls = [
        FirewallObject(
            provider="aws",
            kind="security_group",
            id=group["GroupId"],
            name=group.get("GroupName") or group["GroupId"],
            network=group.get("VpcId"),
            rules=tuple(sorted(rules_by_group.get(group["GroupId"], []), key=lambda r: r.id)),
            tags=_tags(group),
            provenance=prov(
                group.get("SecurityGroupArn") or arn.of("security-group", group["GroupId"])
            ),
        )
        for group in groups
    ]
    acls = list(_pages(ec2, "describe_network_acls", "NetworkAcls"))
    firewalls += [
        _network_acl(acl, prov(arn.of("network-acl", acl["NetworkAclId"]))) for acl in acls
    ]
    subnet_acls = _SubnetAcls(acls)
    address_groups = [
        AddressGroup(
            provider="aws",
            kind="prefix_list",
            id=pl["PrefixListId"],
            name=pl.get("PrefixListName"),
            cidrs=tuple(
                entry["Cidr"]
                for entry in _pages(
                    ec2,
                    "get_managed_prefix_list_entries",
                    "Entries",
                    PrefixListId=pl["PrefixListId"],
                )
            ),
        )
        for pl in _pages(ec2, "describe_managed_prefix_lists", "PrefixLists")
        if pl["PrefixListId"] in referenced_lists
    ]
    vms = [
        _vm(instance, prov(arn.of("instance", instance["InstanceId"])), subnet_acls)
        for reservation in _pages(ec2, "describe_instances", "Reservations")
        for instance in reservation.get("Instances", [])
        if instance.get("State", {}).get("Name") != "terminated"
    ]
    return Inventory(
        sources=[f"aws:{account_id}/{region}"],
        vms=sorted(vms, key=lambda v: v.id),
        firewalls=sorted(firewalls, key=lambda f: (f.kind, f.id)),
        networks=sorted(networks, key=lambda n: n.id),
        address_groups=sorted(address_groups, key=lambda g: g.id),
    )


def _pages(ec2: Any, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    paginator = ec2.get_paginator(operation)
    config = {"PageSize": PAGE_SIZES[operation]}
    for page in paginator.paginate(PaginationConfig=config, **params):
        yield from from_the_service(page, operation).get(key, [])


class NotTheService(ValueError):
    """A 200 answer that is not the service's: well-formed HTML or XML from a proxy or
    a disabled region parses into *empty* results, which would read as an empty,
    compliant region. Every EC2 and STS answer carries a request id; this one did not."""


def from_the_service(response: dict[str, Any], operation: str) -> dict[str, Any]:
    """``response`` if it carries the request id every EC2/STS answer over HTTP has
    (botocore's Stubber answers without any HTTP metadata; those are trusted)."""
    metadata = response.get("ResponseMetadata") or {}
    if "HTTPStatusCode" in metadata and not metadata.get("RequestId"):
        raise NotTheService(
            f"{operation}: the answer carries no request id, so it is not from AWS "
            "(a disabled or unknown region, or a proxy's page)"
        )
    return response


@dataclass(frozen=True)
class _ArnMaker:
    partition: str
    region: str
    account_id: str

    def of(self, resource_type: str, resource_id: str) -> str:
        return (
            f"arn:{self.partition}:ec2:{self.region}:{self.account_id}:"
            f"{resource_type}/{resource_id}"
        )

    def sg_rule(self, raw: dict[str, Any]) -> str:
        return self.of("security-group-rule", raw["SecurityGroupRuleId"])


def _tags(obj: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in obj.get("Tags", []) or []}


def _protocol(raw: str | int) -> tuple[str, tuple[str, ...]]:
    """A protocol the model cannot name becomes "all" marked unknown, not dropped."""
    try:
        return normalize_protocol(raw), ()
    except ValueError:
        return "all", ("protocol",)


def _cidrs(values: list[str | None]) -> tuple[list[Peer], tuple[str, ...]]:
    """CIDR peers; one that does not parse is kept as an unknown peer, not dropped."""
    try:
        return cidr_peers(values), ()
    except ValueError:
        return [Peer(kind="unknown", value=str(v)) for v in values if v], ("peers",)


def _sg_rule(raw: dict[str, Any], provenance: Provenance) -> Rule:
    protocol, unknown = _protocol(raw.get("IpProtocol", "-1"))
    peers, bad_cidr = _cidrs([raw.get("CidrIpv4"), raw.get("CidrIpv6")])
    unknown = (*unknown, *bad_cidr)
    referenced = raw.get("ReferencedGroupInfo") or {}
    if referenced.get("GroupId"):
        # A group in another account or a peered VPC keeps its id; the engine
        # reports it unresolved when no VM it knows carries it.
        peers.append(Peer(kind="security_group", value=referenced["GroupId"]))
    if raw.get("PrefixListId"):
        peers.append(Peer(kind="prefix_list", value=raw["PrefixListId"]))
    if not peers:
        peers = [Peer(kind="unknown", value="rule without a peer")]
        unknown = (*unknown, "peers")
    return Rule(
        id=raw["SecurityGroupRuleId"],
        direction="outbound" if raw.get("IsEgress") else "inbound",
        action="allow",
        protocol=protocol,
        ports=aws_ports(protocol, raw.get("FromPort"), raw.get("ToPort")),
        peers=tuple(peers),
        unknown=unknown,
        description=raw.get("Description") or None,
        provenance=provenance,
    )


class _SubnetAcls:
    """Which network ACL filters a subnet: the one associating it, else the VPC's default."""

    def __init__(self, acls: Iterable[dict[str, Any]]) -> None:
        self.by_subnet: dict[str, str] = {}
        self.default: dict[str, str] = {}
        for acl in acls:
            for assoc in acl.get("Associations", []) or []:
                if assoc.get("SubnetId"):
                    self.by_subnet[assoc["SubnetId"]] = acl["NetworkAclId"]
            if acl.get("IsDefault") and acl.get("VpcId"):
                self.default[acl["VpcId"]] = acl["NetworkAclId"]

    def of(self, subnet_id: str, vpc_id: str) -> str | None:
        return self.by_subnet.get(subnet_id) or self.default.get(vpc_id)


def _network_acl(acl: dict[str, Any], provenance: Provenance) -> FirewallObject:
    """NACLs are ordered, stateless allow/deny lists filtering a subnet's traffic."""
    rules = []
    for entry in acl.get("Entries", []):
        direction = "outbound" if entry.get("Egress") else "inbound"
        protocol, unknown = _protocol(entry.get("Protocol", "-1"))
        port_range = entry.get("PortRange") or {}
        peers, bad_cidr = _cidrs([entry.get("CidrBlock"), entry.get("Ipv6CidrBlock")])
        unknown = (*unknown, *bad_cidr)
        if not peers:
            peers = [Peer(kind="unknown", value="entry without a CIDR")]
            unknown = (*unknown, "peers")
        number = int(entry["RuleNumber"])
        rules.append(
            Rule(
                id=f"{acl['NetworkAclId']}:{direction}:{number}",
                # The console's name for the default rule 32767 is "*".
                name="*" if number == 32767 else str(number),
                direction=direction,
                action="deny" if entry.get("RuleAction") == "deny" else "allow",
                priority=number,
                protocol=protocol,
                ports=aws_ports(protocol, port_range.get("From"), port_range.get("To")),
                peers=tuple(peers),
                unknown=unknown,
                provenance=provenance,
            )
        )
    tags = _tags(acl)
    return FirewallObject(
        provider="aws",
        kind="network_acl",
        id=acl["NetworkAclId"],
        name=tags.get("Name") or acl["NetworkAclId"],
        network=acl.get("VpcId"),
        rules=tuple(sorted(rules, key=lambda r: (r.direction, r.priority or 0))),
        tags=tags,
        provenance=provenance,
    )


def _network(vpc: dict[str, Any]) -> Network:
    spaces = [
        a["CidrBlock"]
        for a in vpc.get("CidrBlockAssociationSet", [])
        if a.get("CidrBlockState", {}).get("State", "associated") == "associated"
    ]
    spaces += [
        a["Ipv6CidrBlock"]
        for a in vpc.get("Ipv6CidrBlockAssociationSet", [])
        if a.get("Ipv6CidrBlockState", {}).get("State", "associated") == "associated"
    ]
    if not spaces and vpc.get("CidrBlock"):
        spaces = [vpc["CidrBlock"]]
    return Network(
        provider="aws",
        id=vpc["VpcId"],
        name=_tags(vpc).get("Name"),
        address_spaces=tuple(dict.fromkeys(spaces)),
    )


def _vm(instance: dict[str, Any], provenance: Provenance, subnet_acls: _SubnetAcls) -> VM:
    addresses: list[str] = []
    networks: list[str] = []
    attachments: dict[str, Attachment] = {}
    subnets = {
        eni.get("SubnetId", ""): eni.get("VpcId", "")
        for eni in instance.get("NetworkInterfaces", [])
    }
    subnets.setdefault(instance.get("SubnetId", ""), instance.get("VpcId", ""))
    acls = {
        acl: Attachment(firewall_id=acl, level="subnet", via=subnet)
        for subnet, vpc in subnets.items()
        if subnet and (acl := subnet_acls.of(subnet, vpc))
    }
    for eni in instance.get("NetworkInterfaces", []):
        for private in eni.get("PrivateIpAddresses", []):
            addresses.append(private.get("PrivateIpAddress", ""))
            addresses.append((private.get("Association") or {}).get("PublicIp", ""))
        addresses.append((eni.get("Association") or {}).get("PublicIp", ""))
        addresses += [a.get("Ipv6Address", "") for a in eni.get("Ipv6Addresses", [])]
        networks.append(eni.get("VpcId", ""))
        for group in eni.get("Groups", []):
            # Union over interfaces: one attachment per group, named by its first ENI.
            attachments.setdefault(
                group["GroupId"],
                Attachment(
                    firewall_id=group["GroupId"], level="interface", via=eni["NetworkInterfaceId"]
                ),
            )
    addresses += [instance.get("PrivateIpAddress", ""), instance.get("PublicIpAddress", "")]
    networks.append(instance.get("VpcId", ""))
    tags = _tags(instance)
    return VM(
        provider="aws",
        id=instance["InstanceId"],
        name=tags.get("Name") or instance["InstanceId"],
        addresses=tuple(dict.fromkeys(a for a in addresses if a)),
        tags=tags,
        networks=tuple(dict.fromkeys(n for n in networks if n)),
        attachments=(*attachments.values(), *acls.values()),
        provenance=provenance,
    )
