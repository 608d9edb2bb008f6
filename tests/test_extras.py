"""Optional dependencies: the extras in pyproject.toml and the modules policycheck
checks for agree, and a missing extra is one line with the exact pip command.

The real thing (a core-only install in a fresh venv) is tests/test_install.py.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from policycheck import api
from policycheck.errors import InputError
from policycheck.extras import EXTRAS, MissingExtraError, install_command, installed, require

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
OPTIONAL = PROJECT["optional-dependencies"]

#: Distributions a core install must not pull in (checked in a real venv by
#: tests/test_install.py); here against the declared core dependencies.
HEAVY = ("boto3", "botocore", "azure-", "google-", "moto", "regopy", "opa-python-client", "flask")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_every_extra_policycheck_checks_is_declared_and_in_all() -> None:
    assert set(EXTRAS) == set(OPTIONAL) - {"all", "test", "dev"}
    (all_extras,) = OPTIONAL["all"]
    assert set(re.findall(r"^policycheck\[(.*)\]$", all_extras)[0].split(",")) == set(EXTRAS)


def test_core_dependencies_have_no_cloud_sdk_emulator_or_rego_engine() -> None:
    core = [_name(r) for r in PROJECT["dependencies"]]
    assert core, "no core dependencies declared"
    assert not [n for n in core if n.startswith(HEAVY)]


def test_dev_install_brings_every_extra_so_make_demo_and_make_test_work() -> None:
    assert any(r.startswith("policycheck[") and "all" in r for r in OPTIONAL["dev"])


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_this_dev_venv_has_every_extra(extra: str) -> None:
    # The dev install is '.[dev]' (all extras): require() must accept every one.
    require(extra, "test")
    assert all(installed(m) for m in EXTRAS[extra])


def test_missing_module_is_one_line_with_the_exact_pip_command() -> None:
    with pytest.raises(MissingExtraError) as info:
        require("aws", "reading live AWS", ("policycheck_no_such_module",))
    message = str(info.value)
    assert isinstance(info.value, InputError)  # the CLI's exit 2, one line
    assert "\n" not in message
    assert message.endswith("pip install 'policycheck[aws]'")
    assert "policycheck_no_such_module is not installed" in message
    assert info.value.extra == "aws"


def test_missing_parent_package_counts_as_not_installed() -> None:
    assert not installed("policycheck_no_such_pkg.sub.module")
    assert installed("policycheck.api")


def test_install_command_quotes_the_brackets_for_the_shell() -> None:
    assert install_command("gcp") == "pip install 'policycheck[gcp]'"


def test_api_and_extras_export_one_error_type() -> None:
    assert api.MissingExtraError is MissingExtraError
