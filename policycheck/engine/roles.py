"""Which Swyx roles a VM holds.

Markers (when ``role_markers`` is on): a tag ``swyx-roles`` listing slugs
separated by commas and/or spaces, and a tag, label or GCP network tag
``swyx-role-<slug>``. Markers count on the VM and on every firewall object that
applies to it: a security group marked with roles gives them to each VM it
protects. The profile's ``role_assignments`` add roles by VM name, cloud id or
Terraform address (globs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from policycheck.engine.context import Context
from policycheck.model import VM
from policycheck.profile import ROLE_SPLIT, Profile

ROLES_TAG = "swyx-roles"
ROLE_PREFIX = "swyx-role-"
_FALSE = {"false", "no", "0", "off"}


@dataclass
class RoleAssignment:
    roles: list[str] = field(default_factory=list)
    #: Slugs named by markers that the catalog does not know.
    unknown: list[str] = field(default_factory=list)
    #: Where each role came from, for messages.
    origins: dict[str, str] = field(default_factory=dict)


def _from_tags(tags: Mapping[str, str], names: Iterable[str]) -> list[str]:
    slugs: list[str] = []
    for key, value in tags.items():
        lower = key.lower()
        if lower == ROLES_TAG:
            slugs.extend(s for s in ROLE_SPLIT.split(value.strip().lower()) if s)
        elif lower.startswith(ROLE_PREFIX) and str(value).strip().lower() not in _FALSE:
            slugs.append(lower[len(ROLE_PREFIX) :])
    slugs.extend(n.lower()[len(ROLE_PREFIX) :] for n in names if n.lower().startswith(ROLE_PREFIX))
    return slugs


def assign_roles(vm: VM, ctx: Context, profile: Profile, known: frozenset[str]) -> RoleAssignment:
    result = RoleAssignment()

    def add(slugs: Iterable[str], origin: str) -> None:
        for slug in slugs:
            if slug not in known:
                if slug not in result.unknown:
                    result.unknown.append(slug)
            elif slug not in result.roles:
                result.roles.append(slug)
                result.origins[slug] = origin

    if profile.role_markers:
        add(_from_tags(vm.tags, vm.network_tags), "VM markers")
        for att in vm.attachments:
            fw = ctx.firewall(att.firewall_id)
            if fw is not None:
                add(_from_tags(fw.tags, ()), f"markers on {fw.name}")
    for assignment in profile.role_assignments:
        m = assignment.match
        if (
            (m.name is None or fnmatchcase(vm.name, m.name))
            and (m.id is None or fnmatchcase(vm.id, m.id))
            and (
                m.address is None
                or (
                    vm.provenance.address is not None
                    and fnmatchcase(vm.provenance.address, m.address)
                )
            )
        ):
            add(assignment.roles, "profile role_assignments")
    return result
