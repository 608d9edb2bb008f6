"""The reference estate (fixtures/ESTATE.md), AWS flavour, built in any EC2 client.

Every rule's description is its ESTATE.md id (B1..B7, C1..C5, E for egress), so
tests can check that each rule came back from the collector unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Literal

import boto3
import pytest
from moto import mock_aws

from policycheck.demo import (
    ALL_SWYX_ROLES,
    ANYWHERE,
    INTERNAL,
    build_host,
    build_network,
    build_security_group,
    perm,
)

Variant = Literal["broken", "compliant"]
REGION = "eu-central-1"


@pytest.fixture
def moto_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """moto in-process, fake credentials, no user AWS files; a session in REGION."""
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )


BROKEN_INGRESS: list[dict[str, Any]] = [
    perm("tcp", (3389, 3389), cidrs=ANYWHERE, description="B1"),
    perm("tcp", (5060, 5060), cidrs=ANYWHERE, description="B2"),
    perm("-1", cidrs=INTERNAL, description="B3"),
    perm("tcp", (22, 22), cidrs_v6=["::/0"], description="B4"),
    perm("tcp", (16203, 16203), cidrs=ANYWHERE, description="B5"),
    perm("tcp", (57203, 57203), cidrs=ANYWHERE, description="B5"),
    perm("tcp", (9094, 9094), cidrs=INTERNAL, description="B6"),
    perm("tcp", (9101, 9101), cidrs=ANYWHERE, description="B7"),
]

COMPLIANT_INGRESS: list[dict[str, Any]] = [
    perm("tcp", (16203, 16203), cidrs=ANYWHERE, description="C1"),
    perm("tcp", (57203, 57203), cidrs=ANYWHERE, description="C1"),
    perm("tcp", (9101, 9101), cidrs=ANYWHERE, description="C2"),
    perm("tcp", (9094, 9094), cidrs=INTERNAL, description="C3"),
    perm("tcp", (9100, 9100), cidrs=INTERNAL, description="C3"),
    perm("tcp", (9200, 9200), cidrs=INTERNAL, description="C3"),
    perm("tcp", (5060, 5060), cidrs=INTERNAL, description="C4"),
    perm("udp", (5060, 5060), cidrs=INTERNAL, description="C4"),
    perm("udp", (51000, 51499), cidrs=INTERNAL, description="C5"),
]

COMPLIANT_EGRESS: list[dict[str, Any]] = [
    perm("tcp", (0, 65535), cidrs=ANYWHERE, description="E"),
    perm("udp", (0, 65535), cidrs=ANYWHERE, description="E"),
]


def build_estate(ec2: Any, variant: Variant) -> dict[str, str]:
    """Create pbx1 and its security group `swyx-pbx`; return the ids.

    ``broken`` keeps AWS's default egress rule (all protocols to 0.0.0.0/0), which
    is exactly ESTATE.md's explicit allow-all egress.
    """
    vpc_id, subnet_id = build_network(ec2, "swyx-net", "10.0.0.0/16", "10.0.1.0/24")
    if variant == "broken":
        sg_id = build_security_group(ec2, "swyx-pbx", vpc_id, BROKEN_INGRESS)
    else:
        sg_id = build_security_group(
            ec2, "swyx-pbx", vpc_id, COMPLIANT_INGRESS, egress=COMPLIANT_EGRESS
        )
    host = build_host(ec2, "pbx1", subnet_id, "10.0.1.10", [sg_id], roles=ALL_SWYX_ROLES)
    return {"vpc_id": vpc_id, "subnet_id": subnet_id, "sg_id": sg_id, **host}
