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
from policycheck.findings import CheckedVM, RoleOrigin, VMRole
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
    #: Where each role came from (every place that names it).
    origins: dict[str, list[RoleOrigin]] = field(default_factory=dict)

    def checked(self, vm: VM) -> CheckedVM:
        """The VM as the reports list it."""
        return CheckedVM(
            provider=vm.provider,
            id=vm.id,
            name=vm.name,
            provenance=vm.provenance,
            roles=[VMRole(role=r, origins=self.origins.get(r, [])) for r in self.roles],
            unknown_roles=list(self.unknown),
        )


def _from_tags(tags: Mapping[str, str]) -> list[tuple[str, str]]:
    """(slug, tag key) for every role a tag set names."""
    slugs: list[tuple[str, str]] = []
    for key, value in tags.items():
        lower = key.lower()
        if lower == ROLES_TAG:
            slugs.extend((s, key) for s in ROLE_SPLIT.split(value.strip().lower()) if s)
        elif lower.startswith(ROLE_PREFIX) and str(value).strip().lower() not in _FALSE:
            slugs.append((lower[len(ROLE_PREFIX) :], key))
    return slugs


def _from_names(names: Iterable[str]) -> list[tuple[str, str]]:
    """(slug, network tag) for GCP network tags ``swyx-role-<slug>``."""
    return [(n.lower()[len(ROLE_PREFIX) :], n) for n in names if n.lower().startswith(ROLE_PREFIX)]


def assign_roles(vm: VM, ctx: Context, profile: Profile, known: frozenset[str]) -> RoleAssignment:
    result = RoleAssignment()

    def add(slugs: Iterable[tuple[str, RoleOrigin]]) -> None:
        for slug, origin in slugs:
            if slug not in known:
                if slug not in result.unknown:
                    result.unknown.append(slug)
                continue
            if slug not in result.roles:
                result.roles.append(slug)
            origins = result.origins.setdefault(slug, [])
            if origin not in origins:
                origins.append(origin)

    if profile.role_markers:
        add((s, RoleOrigin(kind="vm_tag", key=k)) for s, k in _from_tags(vm.tags))
        add((s, RoleOrigin(kind="network_tag", key=k)) for s, k in _from_names(vm.network_tags))
        for att in vm.attachments:
            fw = ctx.firewall(att.firewall_id)
            if fw is not None:
                add(
                    (s, RoleOrigin(kind="firewall_tag", key=k, firewall=fw.name))
                    for s, k in _from_tags(fw.tags)
                )
    for i, assignment in enumerate(profile.role_assignments):
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
            origin = RoleOrigin(kind="profile", key=f"role_assignments[{i}]")
            add((slug, origin) for slug in assignment.roles)
    return result
