"""Hints: what the expected flows say about a finding beyond its rule.

Both comparisons (native and Rego) end here, so a finding carries the same hints
whichever decided it. Hints are data; ``policycheck.report`` words them.

- An SWYX001 region that lies just above a range sized from an assumed parameter
  (RemoteConnector audio from ``TypicalConnections``, Swyx Connect RTP from
  ``Channels``) may be the deployment using more than the catalog assumed. "Just
  above": a port range starting above the assumed range, within one range length
  of it, that some value of the parameter covers (the range stays within 65535).
- A finding citing rows the document marks with ``?`` says so.
"""

from __future__ import annotations

from policycheck.expected import Expected
from policycheck.findings import (
    PORT_PROTOCOLS,
    AssumedParameterHint,
    Finding,
    Hint,
    UncertainRowsHint,
)
from policycheck.model import MAX_PORT, PortRange


def with_hints(finding: Finding, expected: Expected | None) -> Finding:
    """The finding with the hints its region and rows call for (after suppressions
    split it, so each part's hints are its own); unchanged without expected flows."""
    if expected is None:
        return finding
    hints: list[Hint] = []
    if finding.rule_id == "SWYX001":
        hints.extend(_assumed(finding, expected))
    uncertain = {row for f in expected.flows if f.uncertain for row in f.rows}
    cited = [row for row in finding.catalog_rows if row in uncertain]
    if cited:
        hints.append(UncertainRowsHint(rows=cited))
    return finding.model_copy(update={"hints": hints}) if hints != finding.hints else finding


def _assumed(finding: Finding, expected: Expected) -> list[AssumedParameterHint]:
    out: list[AssumedParameterHint] = []
    for flow in expected.for_direction(finding.direction or "inbound"):
        for assumption in flow.assumed:
            lo = min(p.lo for p in flow.ports)
            hi = max(p.hi for p in flow.ports)
            above = [
                port
                for part in finding.region
                if part.protocol == flow.protocol and part.protocol in PORT_PROTOCOLS
                for port in part.ports
                if _just_above(port, lo, hi, assumption.base, assumption.per)
            ]
            if above:
                out.append(
                    AssumedParameterHint(
                        parameter=assumption.parameter,
                        value=assumption.value,
                        role=assumption.role,
                        rows=list(flow.rows),
                        assumed_range=PortRange(lo=lo, hi=hi),
                        ports=above,
                        covering=max(assumption.covering(p.hi) for p in above),
                    )
                )
    return out


def _just_above(port: PortRange, lo: int, hi: int, base: int, per: int) -> bool:
    if not hi < port.lo <= hi + (hi - lo + 1):
        return False
    covering = -(-(port.hi - base) // per)
    return base + per * covering <= MAX_PORT
