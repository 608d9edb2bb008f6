"""Suppressions: which findings the profile and inline ignores accept, and what each did.

Two kinds, one mechanism. A profile suppression selects findings by rule, VM,
resource, ports, account/subscription/project, region and VM tags (every given
selector must match). An inline ignore (a ``policycheck:ignore`` comment in a
``.tf`` file) selects the findings of the rules it names that are located in its
block: whose primary responsible rule (where SARIF points) is declared there.
Both need a reason and an expiry date; an expired one applies to nothing, and
the scan reports it (and one that suppressed nothing), so an exception cannot
silently outlive its purpose.

The first matching suppression applies: the profile's, in order, then the inline
ignores. One with ``ports`` takes exactly those ports: the finding splits into
the suppressed part of its region and the rest, which stays active (with its own
fingerprint) and may match a later suppression.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from policycheck.engine.intervals import IntervalSet, addr_set
from policycheck.engine.regions import peers_summary, port_set, split_ports
from policycheck.errors import InputError
from policycheck.findings import (
    RULES,
    Finding,
    RegionPart,
    Suppression,
    SuppressionKind,
    SuppressionState,
    SuppressionStatus,
)
from policycheck.model import VM, InlineIgnore, PortRange, Provider
from policycheck.profile import Profile
from policycheck.profile import Suppression as ProfileSuppression

#: The profile key that selects each provider's account-like scope.
SCOPE_SELECTORS: dict[str, Provider] = {"account": "aws", "subscription": "azure", "project": "gcp"}

Test = Callable[[Finding], bool]


@dataclass
class _Entry:
    """One suppression of either kind, and how many findings it suppressed."""

    kind: SuppressionKind
    match: str
    reason: str
    expires: dt.date
    selectors: dict[str, str]
    test: Test
    #: ``ports`` of a profile suppression: only this part of a region is taken.
    ports: IntervalSet | None = None
    file: str | None = None
    line: int | None = None
    applied: int = 0

    def matches(self, finding: Finding) -> bool:
        if not self.test(finding):
            return False
        return self.ports is None or bool(split_ports(finding.region, self.ports)[0])

    def suppression(self) -> Suppression:
        return Suppression(
            reason=self.reason,
            expires=self.expires,
            match=self.match,
            kind=self.kind,
            file=self.file,
            line=self.line,
        )


class Suppressor:
    """The scan's suppressions, applied to findings and accounted for."""

    def __init__(
        self,
        profile: Profile,
        vms: Iterable[VM],
        inline_ignores: Iterable[InlineIgnore],
        today: dt.date,
    ) -> None:
        self.internal = addr_set(profile.internal_networks)
        index: dict[tuple[str, str], VM] = {(vm.provider, vm.id): vm for vm in vms}
        entries = [_profile_entry(i, s, index) for i, s in enumerate(profile.suppressions)]
        # Two module calls of one source directory read the same comment twice.
        unique = {(ig.file, ig.line): ig for ig in inline_ignores}
        entries += [_inline_entry(ig) for ig in unique.values()]
        self.today = today
        self.entries = entries
        self.live = [e for e in entries if e.expires >= today]

    def run(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[SuppressionStatus]]:
        """The findings with suppressions applied, and every suppression's status."""
        before = list(findings)
        after = [s for f in before for s in self._apply(f, 0)]
        return after, self._statuses(before)

    def _apply(self, finding: Finding, start: int) -> list[Finding]:
        for i in range(start, len(self.live)):
            entry = self.live[i]
            if not entry.test(finding):
                continue
            if entry.ports is None:
                entry.applied += 1
                return [finding.model_copy(update={"suppression": entry.suppression()})]
            inside, outside = split_ports(finding.region, entry.ports)
            if not inside:
                continue
            entry.applied += 1
            suppressed = self._with_region(finding, inside, entry.suppression())
            if not outside:
                return [suppressed]
            rest = self._with_region(finding, outside, None)
            return [suppressed, *self._apply(rest, i + 1)]
        return [finding]

    def _with_region(
        self, finding: Finding, region: list[RegionPart], sup: Suppression | None
    ) -> Finding:
        return finding.model_validate(
            {
                **dict(finding),
                "region": region,
                "peers_summary": peers_summary(region, self.internal),
                "suppression": sup,
            }
        )

    def _statuses(self, before: list[Finding]) -> list[SuppressionStatus]:
        out = []
        for entry in self.entries:
            state: SuppressionState
            if entry.expires < self.today:
                state, count = "expired", sum(1 for f in before if entry.matches(f))
            elif entry.applied:
                state, count = "applied", entry.applied
            else:
                state, count = "unmatched", 0
            out.append(
                SuppressionStatus(
                    kind=entry.kind,
                    match=entry.match,
                    reason=entry.reason,
                    expires=entry.expires,
                    selectors=entry.selectors,
                    state=state,
                    findings=count,
                    file=entry.file,
                    line=entry.line,
                )
            )
        return out


# ------------------------------------------------------------------ profile


def _profile_entry(index: int, s: ProfileSuppression, vms: dict[tuple[str, str], VM]) -> _Entry:
    return _Entry(
        kind="external",
        match=f"suppressions[{index}]",
        reason=s.reason,
        expires=s.expires,
        selectors=s.selectors(),
        test=_profile_test(s, vms),
        ports=port_set([PortRange.parse(s.ports)]) if s.ports else None,
    )


def _profile_test(s: ProfileSuppression, vms: dict[tuple[str, str], VM]) -> Test:
    scopes = [(key, provider, getattr(s, key)) for key, provider in SCOPE_SELECTORS.items()]
    scopes = [(k, p, pattern) for k, p, pattern in scopes if pattern is not None]
    needs_vm = bool(scopes or s.region or s.tag)

    def test(f: Finding) -> bool:
        if s.rule and s.rule != f.rule_id:
            return False
        if s.vm and not (fnmatchcase(f.vm_name, s.vm) or fnmatchcase(f.vm_id, s.vm)):
            return False
        if s.resource and not fnmatchcase(f.resource, s.resource):
            return False
        if not needs_vm:
            return True
        vm = vms.get((f.provider or "", f.vm_id))
        return vm is not None and _vm_matches(vm, s, scopes)

    return test


def _vm_matches(vm: VM, s: ProfileSuppression, scopes: list[tuple[str, Provider, str]]) -> bool:
    where = vm.provenance
    for _key, provider, pattern in scopes:
        if vm.provider != provider or where.scope is None:
            return False
        if not fnmatchcase(where.scope, pattern):
            return False
    if s.region and (where.region is None or not fnmatchcase(where.region, s.region)):
        return False
    for key, pattern in (s.tag or {}).items():
        value = _tag(vm, key)
        if value is None or not fnmatchcase(value, pattern):
            return False
    return True


def _tag(vm: VM, key: str) -> str | None:
    """The VM's tag ``key``; Azure compares tag names case-insensitively, as ARM does."""
    if key in vm.tags:
        return vm.tags[key]
    if vm.provider == "azure":
        folded = key.casefold()
        return next((v for k, v in vm.tags.items() if k.casefold() == folded), None)
    return None


# ------------------------------------------------------------------- inline


def _inline_entry(ignore: InlineIgnore) -> _Entry:
    where = f"{ignore.file}:{ignore.line}"
    for rule in ignore.rules:
        if rule not in RULES:
            raise InputError(
                f"{where}: policycheck:ignore names unknown rule {rule!r} "
                f"(one of {', '.join(sorted(RULES))})"
            )
    return _Entry(
        kind="inSource",
        match=where,
        reason=ignore.reason,
        expires=ignore.expires,
        selectors={
            "rule": ", ".join(ignore.rules),
            "block": f"lines {ignore.start_line}-{ignore.end_line}",
        },
        test=_inline_test(ignore),
        file=ignore.file,
        line=ignore.line,
    )


def _inline_test(ignore: InlineIgnore) -> Test:
    rules = frozenset(ignore.rules)

    def test(f: Finding) -> bool:
        # The finding's location is its primary rule's declaration, the place
        # SARIF annotates: the comment must be at the finding it accepts.
        ref = f.primary
        if f.rule_id not in rules or ref is None:
            return False
        prov = ref.provenance
        if prov.file != ignore.file or prov.start_line is None:
            return False
        end = prov.end_line or prov.start_line
        return ignore.start_line <= prov.start_line and end <= ignore.end_line

    return test


__all__ = ["SCOPE_SELECTORS", "Suppressor"]
