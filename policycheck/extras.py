"""Optional dependencies: which extra a feature needs, and one clear error without it.

The core install (plans, snapshots, engine, reports) has no cloud SDK, emulator or
Rego engine. Every entry point that needs one calls :func:`require` before it
imports anything from the extra, so a missing extra is one line naming the exact
``pip install`` command (exit 2), never an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

from policycheck.errors import InputError

#: Extra -> the modules its features import. pyproject.toml's
#: ``[project.optional-dependencies]`` installs them (tests/test_extras.py checks
#: that every extra named here exists there).
EXTRAS: dict[str, tuple[str, ...]] = {
    "aws": ("boto3", "botocore"),
    "azure": (
        "azure.core",
        "azure.identity",
        "azure.mgmt.compute",
        "azure.mgmt.network",
        "azure.mgmt.resource",
        "azure.mgmt.resource.subscriptions",
    ),
    "gcp": ("google.auth", "google.api_core", "google.cloud.compute_v1"),
    "rego": ("regopy", "opa_client", "requests"),
    "demo": ("moto", "boto3", "botocore"),
}


class MissingExtraError(InputError):
    """A feature's optional dependencies are not installed (exit 2)."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.feature, self.extra, self.module = feature, extra, module
        super().__init__(
            f"{feature} needs the '{extra}' extra ({module} is not installed): "
            f"{install_command(extra)}"
        )


def install_command(extra: str) -> str:
    """The exact command that installs ``extra``, quoted for POSIX shells."""
    return f"pip install 'policycheck[{extra}]'"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


def require(extra: str, feature: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtraError` unless ``extra``'s modules (or the given
    subset of them) are importable. ``feature`` is what the user asked for, e.g.
    ``"scan aws"``."""
    needed = EXTRAS[extra] if modules is None else modules
    for module in needed:
        if not installed(module):
            raise MissingExtraError(feature, extra, module)
