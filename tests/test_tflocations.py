"""Source locations of Terraform resources and inline rule blocks (.tf -> file/lines)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from policycheck.sources.tflocations import display_path, load_locations, strip_instance_keys

REPO = Path(__file__).resolve().parent.parent
FIX = REPO / "fixtures" / "terraform"


def line_after(path: Path, marker: str) -> int:
    """1-based number of the line following the first line containing ``marker``."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if marker in line) + 1


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_root_and_local_module_resources_are_mapped() -> None:
    locs = load_locations(FIX / "aws-broken")
    module_tf = FIX / "aws-broken" / "modules" / "pbx-rules" / "main.tf"
    b3 = locs.find("module.pbx_rules.aws_security_group_rule.b3_private_all")
    assert b3 is not None
    assert b3.file == "fixtures/terraform/aws-broken/modules/pbx-rules/main.tf"
    assert b3.start_line == line_after(module_tf, "# B3:")
    assert module_tf.read_text().splitlines()[b3.end_line - 1] == "}"
    sg = locs.find("aws_security_group.pbx")
    assert sg is not None and sg.file == "fixtures/terraform/aws-broken/main.tf"


def test_count_and_for_each_instances_map_to_their_block() -> None:
    locs = load_locations(FIX / "aws-broken")
    base = locs.find("module.pbx_rules.aws_security_group_rule.b5_remote_connector")
    keyed = locs.find('module.pbx_rules.aws_security_group_rule.b5_remote_connector["57203"]')
    assert base is not None and keyed == base
    assert locs.find("aws_instance.pbx1[3]") == locs.find("aws_instance.pbx1")
    assert locs.find("aws_instance.nothing") is None


def test_instance_keys_are_stripped_even_with_brackets_in_keys() -> None:
    assert strip_instance_keys('module.a["x]y"].aws_sg.b[0]') == "module.a.aws_sg.b"
    assert strip_instance_keys("module.a[2].module.b.t.n") == "module.a.module.b.t.n"


def test_inline_blocks_match_by_content_not_position() -> None:
    locs = load_locations(FIX / "aws-compliant")
    tf = FIX / "aws-compliant" / "main.tf"
    # Asking for the udp 5060 block at a wrong index still finds it by its fields.
    loc = locs.find_nested(
        "aws_security_group.pbx", "ingress", {"from_port": 5060, "protocol": "udp"}, index=0
    )
    assert loc is not None and loc.start_line == line_after(tf, "# C4: SIP over UDP")


def test_unparsable_tf_costs_only_its_own_locations(tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('resource "aws_security_group" "x" {\n  name = \n')
    (tmp_path / "good.tf").write_text('resource "aws_security_group" "y" {\n  name = "y"\n}\n')
    (tmp_path / "dir.tf").mkdir()  # a directory is not a .tf file
    locs = load_locations(tmp_path)
    assert list(locs.resources) == ["aws_security_group.y"]
    (problem,) = locs.unreadable
    assert "bad.tf" in problem and "cannot parse HCL" in problem and "\n" not in problem


def test_display_path_outside_repository_is_absolute(tmp_path: Path) -> None:
    inside = display_path(FIX / "aws-broken" / "main.tf")
    assert inside == "fixtures/terraform/aws-broken/main.tf"
    outside = tmp_path / "x.tf"
    outside.write_text("")
    assert display_path(outside, cwd=REPO) == outside.resolve().as_posix()
    # Without a repository, paths are relative to the working directory.
    os.chdir(tmp_path)
    assert display_path(outside, cwd=tmp_path) == "x.tf"
