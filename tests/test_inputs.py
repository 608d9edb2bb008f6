"""The input boundary (policycheck/inputs.py) and the scrubbing of everything echoed
(policycheck/errors.py): unit tests, and hypothesis fuzzing of the plan, snapshot
and profile readers, which must answer any bytes with a result or one InputError
line, never another exception."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import json_trees
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policycheck.errors import InputError, remember_url_credentials, safe_text, scrub, visible
from policycheck.inputs import (
    MAX_DEPTH,
    check_depth,
    check_url,
    decode_text,
    json_within,
    max_input_bytes,
    parse_json,
    parse_yaml,
    read_bytes,
    read_json,
    read_text,
)
from policycheck.model import VM, Provenance
from policycheck.profile import load_profile
from policycheck.sources import snapshot
from policycheck.sources.terraform import load_plan

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "fixtures" / "terraform" / "aws-broken" / "plan.json"

# ------------------------------------------------------------------ scrubbing


def test_scrub_removes_keys_secrets_tokens_and_newlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "hunter2-secret")
    text = (
        "denied for AKIAABCDEFGHIJKLMNOP with s3cr3t-value and hunter2-secret\n"
        "Credential=ASIA1234567890ABCDEF/20260101/eu-central-1/ec2 Signature=abcdef0123 "
        "Bearer abc.def eyJhbGciOi.eyJzdWIi.sig tail"
    )
    out = scrub(text, ["s3cr3t-value"])
    for secret in (
        "AKIAABCDEFGHIJKLMNOP",
        "s3cr3t-value",
        "hunter2-secret",
        "ASIA1234567890ABCDEF",
    ):
        assert secret not in out
    for token in ("abcdef0123", "abc.def", "eyJhbGciOi"):
        assert token not in out
    assert "\n" not in out and out.endswith("*** tail")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pass@host:5000/x", "http://***@host:5000/x"),
        ("https://user:p@ss@host/", "https://***@host/"),  # the last @ ends the userinfo
        ("HTTPS://token@host", "HTTPS://***@host"),
        ('"socks5h://u:p%40w@proxy:1080"', '"socks5h://***@proxy:1080"'),
        ("http://host/path@not-userinfo", "http://host/path@not-userinfo"),
    ],
)
def test_url_credentials_are_removed(url: str, shown: str) -> None:
    assert scrub(f"failed: {url}") == f"failed: {shown}"
    assert safe_text(url) == shown


def test_environment_url_passwords_are_removed_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxyuser:pr0xy%2Fpass@proxy:3128")
    # Some messages show the password decoded and outside any URL.
    assert scrub("auth pr0xy/pass failed for proxyuser") == "auth *** failed for ***"
    remember_url_credentials("http://optuser:0ption-pass@h/")
    assert scrub("0ption-pass") == "***"


def test_scrub_bounds_length_and_long_values() -> None:
    assert len(scrub("x" * 5000)) < 200
    message = scrub("plan.json: bad value " + "9" * 1_000_000 + " at the end")
    assert message.startswith("plan.json: bad value 999") and message.endswith("at the end")
    assert "[1000000 characters]" in message and len(message) < 400
    assert len(scrub("word " * 1000)) <= 480


def test_visible_escapes_controls_and_invisible_formatting() -> None:
    assert (
        visible("a\x1b[31mb\x07\x9b\u202ec\u200bd\n") == "a\\x1b[31mb\\x07\\x9b\\u202ec\\u200bd\\n"
    )
    assert visible("Grüße, 東京, ok") == "Grüße, 東京, ok"


def test_model_names_are_neutralized_once_for_every_source() -> None:
    vm = VM(
        provider="aws",
        id="i-1\x1b[8m",
        name="pbx\r\nSWYX000 fake finding http://a:b@c/",
        addresses=("10.0.0.1",),
        provenance=Provenance(source="aws"),
    )
    assert vm.id == "i-1\\x1b[8m"
    assert vm.name == "pbx\\r\\nSWYX000 fake finding http://***@c/"


def test_profile_texts_that_reach_reports_are_neutralized(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        'suppressions:\n  - {rule: SWYX001, reason: "ok\\e[8m hidden", expires: 2099-01-01}\n'
        'extra_flows:\n  - name: "rdp\\u202e"\n    justification: "jump\\rhost"\n'
        "    protocol: tcp\n    ports: ['3389']\n    peers: [10.9.0.0/24]\n"
    )
    profile = load_profile(path)
    assert profile.suppressions[0].reason == "ok\\x1b[8m hidden"
    flow = profile.extra_flows[0]
    assert (flow.name, flow.justification) == ("rdp\\u202e", "jump\\rhost")


@pytest.mark.parametrize("bad", ["10.0.1.300", "10.0.1", "10.0.1.0/24", "", "::g", "1" * 100])
def test_vm_addresses_must_be_addresses(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid IP address"):
        VM(provider="aws", id="i", name="n", addresses=(bad,), provenance=Provenance(source="aws"))


# --------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("value", "size"),
    [(None, 4 << 30), ("500M", 500 << 20), ("8g", 8 << 30), ("1024", 1024), ("2 GiB", 2 << 30)],
)
def test_max_input_size(monkeypatch: pytest.MonkeyPatch, value: str | None, size: int) -> None:
    if value is None:
        monkeypatch.delenv("POLICYCHECK_MAX_INPUT", raising=False)
    else:
        monkeypatch.setenv("POLICYCHECK_MAX_INPUT", value)
    assert max_input_bytes() == size


def test_limits_are_exact(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POLICYCHECK_MAX_INPUT", "100")
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bytes(path, "plan") == b"x" * 100
    path.write_bytes(b"x" * 101)
    with pytest.raises(InputError, match="larger than 100 bytes"):
        read_bytes(path, "plan")
    check_depth(json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH), "x")
    with pytest.raises(InputError, match=r"nested deeper than 128 levels at \[0\]\[0\]"):
        check_depth(json.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)), "x")


#: Strings and keys made of what a byte-level reading could mistake for structure.
_TRICKY_TEXT = st.text(alphabet='[]{}"\\/ab\u00e9\n', max_size=8)
_TRICKY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _TRICKY_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_TRICKY_TEXT, children, max_size=3)
    ),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(doc=_TRICKY_JSON, limit=st.integers(min_value=1, max_value=8), spelling=st.integers(0, 2))
def test_depth_from_the_bytes_is_the_depth_of_the_document(
    doc: Any, limit: int, spelling: int
) -> None:
    """read_json decides the depth from the bytes (strings full of brackets, quotes
    and backslashes, escaped as each writer escapes them), as check_depth does."""
    raw = [
        lambda: orjson.dumps(doc),
        lambda: json.dumps(doc).encode(),  # \u00e9, \n as escapes
        lambda: json.dumps(doc, ensure_ascii=False, indent=1).encode(),
    ][spelling]()
    assert json_within(raw, limit) == (_depth(doc) <= limit)


def test_a_too_deep_plan_read_from_its_bytes_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    path.write_text(f'{{"a": "]]]]\\"", "b": {deep}}}')
    with pytest.raises(InputError, match=r"nested deeper than 128 levels at b\[0\]"):
        read_json(path, "plan")
    path.write_text(f'{{"a": "[[[[\\"", "b": {deep[1:-1]}}}')
    assert read_json(path, "plan")["a"] == '[[[["'


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xff\xfe" + "x".encode("utf-16-le") + b"\x00\xd8", "not UTF-16 text"),
        (b"ok \xc3\x28", "not UTF-8 text (invalid byte 0xc3 at offset 3)"),
        (b"a\x00b\x00c\x00\x00\x00", "binary data"),
        (b"text\x1b[31m", "control character U+001B at line 1"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary data"),
    ],
)
def test_decode_refuses_what_is_not_text(raw: bytes, problem: str) -> None:
    with pytest.raises(InputError, match=re.escape(problem)):
        decode_text(raw, "f", "profile")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:5000", "https://management.usgovcloudapi.net/", "http://[::1]:8"]
)
def test_check_url_accepts_urls(url: str) -> None:
    assert check_url(url, "--endpoint") == url


def test_yaml_values_name_their_line() -> None:
    with pytest.raises(InputError, match="at line 2 column 10: invalid date '2024-02-30'"):
        parse_yaml("a: 1\nexpires: 2024-02-30\n", "p.yaml")
    assert parse_yaml("a: &x [1, 2]\nb: *x\n", "p.yaml") == {"a": [1, 2], "b": [1, 2]}


def test_json_numbers_beyond_64_bits_are_floats_typed_readers_refuse() -> None:
    assert parse_json('{"p": 18446744073709551615}', "f") == {"p": 18446744073709551615}
    assert isinstance(parse_json('{"p": 18446744073709551616}', "f")["p"], float)


# ---------------------------------------------------------------- fuzzing

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _one_line_input_error(call: Any) -> None:
    """``call()`` succeeds or raises an InputError of one line; nothing else."""
    try:
        call()
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message and message, message


@functools.cache
def _plan_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(PLAN.read_text())
    return doc


json_values = json_trees.json_values(width=4, key_size=10, max_leaves=20, infinity=True)


@functools.cache
def _plan_paths() -> list[tuple[Any, ...]]:
    return [p for p in json_trees.paths(_plan_doc()) if p]


def _mutated(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(doc))
    node = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copy


@FUZZ
@given(
    data=st.data(),
    value=json_values,
)
def test_fuzz_plan_reader_structure(tmp_path: Path, data: st.DataObject, value: Any) -> None:
    """Any value at any place of a real plan: a result or one InputError line."""
    path = data.draw(st.sampled_from(_plan_paths()))
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_mutated(_plan_doc(), path, value)))
    _one_line_input_error(lambda: load_plan(plan, tf_dir=tmp_path))


@FUZZ
@given(raw=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_fuzz_plan_reader_bytes(tmp_path: Path, raw: bytes) -> None:
    plan = tmp_path / "plan.json"
    plan.write_bytes(raw)
    _one_line_input_error(lambda: load_plan(plan, tf_dir=tmp_path))


@functools.cache
def _snapshot_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(snapshot.dumps(load_plan(PLAN)))
    return doc


@FUZZ
@given(data=st.data(), value=json_values)
def test_fuzz_snapshot_reader(data: st.DataObject, value: Any) -> None:
    doc = _snapshot_doc()
    path = data.draw(st.sampled_from([p for p in json_trees.paths(doc) if p]))
    raw = json.dumps(_mutated(doc, path, value)).encode()
    _one_line_input_error(lambda: snapshot.loads(raw, "inv.json"))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_fuzz_snapshot_bytes(raw: bytes) -> None:
    _one_line_input_error(lambda: snapshot.loads(raw, "inv.json"))


def _read_as_text(path: Path) -> Any:
    """What read_json replaces: decode, refuse an empty file, parse."""
    text = read_text(path, "plan")
    if not text or text.isspace():
        raise InputError(f"{path}: the plan file is empty")
    return parse_json(text, str(path), "; hint")


def _json_outcome(read: Any, path: Path) -> tuple[str, Any]:
    try:
        return "ok", read(path)
    except InputError as exc:
        return "error", str(exc)


def _agree_as_text(path: Path, raw: bytes) -> None:
    """read_json gives what the decoding reader gives: the document or its error."""
    path.write_bytes(raw)
    fast = _json_outcome(lambda p: read_json(p, "plan", "; hint"), path)
    assert fast == _json_outcome(_read_as_text, path)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": "x\x01y"}',
        b'{"a": "x\x7fy"}',
        b'{"a": "x\\u007fy"}',
        b'{"a":\x0c1}',
        b'{"a": "\xff"}',
        b'{"a": "\\ud800"}',
        b"\xef\xbb\xbf" + b'{"a": 1}',
        '{"a": "ä"}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-16-le"),
        b"",
        b" \n\t",
        b"null",
        b"[" * 200 + b"]" * 200,
        b'{"a": ' + b"[" * 127 + b"]" * 127 + b"}",
        b'{"p": 1' + b"0" * 400 + b"}",
        PLAN.read_bytes(),
    ],
    ids=lambda raw: repr(raw[:12]),
)
def test_read_json_reads_as_the_text_reader(tmp_path: Path, raw: bytes) -> None:
    _agree_as_text(tmp_path / "plan.json", raw)


@FUZZ
@given(
    raw=st.binary(max_size=200)
    | st.text(max_size=100).map(str.encode)
    | json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode())
)
def test_fuzz_read_json_reads_as_the_text_reader(tmp_path: Path, raw: bytes) -> None:
    _agree_as_text(tmp_path / "plan.json", raw)


profile_keys = st.sampled_from(
    [
        "version",
        "sdc",
        "internal_networks",
        "peer_groups",
        "parameters",
        "role_parameters",
        "extra_flows",
        "suppressions",
        "egress",
        "required",
        "role_assignments",
        "x",
    ]
)
yaml_scalars = st.sampled_from(
    [
        "1",
        "-1",
        "65536",
        "2025-13-45",
        "2025-02-28",
        "10.0.0.0/8",
        "10.0.0.300/8",
        "~",
        "[]",
        "{}",
        "true",
        "'*'",
        "RTPFirstPort",
        "swyxware-server",
        "9" * 5000,
        "!!binary aGk=",
        "&a [1]",
        "*a",
        "!!python/name:os.system",
        '"\\x1b[31m"',
        "0x1F",
        "1e400",
        ".nan",
    ]
)


@FUZZ
@given(
    lines=st.lists(
        st.tuples(
            st.integers(0, 3),
            profile_keys | st.sampled_from(["RTPFirstPort", "- a"]),
            yaml_scalars | st.just(""),
        ),
        max_size=8,
    )
)
def test_fuzz_profile_reader(tmp_path: Path, lines: list[tuple[int, str, str]]) -> None:
    """YAML-shaped text built from the profile's own keys and troublesome scalars."""
    text = "".join(f"{'  ' * indent}{key}: {value}\n" for indent, key, value in lines)
    profile = tmp_path / "p.yaml"
    profile.write_text(text)
    _one_line_input_error(lambda: load_profile(profile))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_fuzz_profile_bytes(tmp_path: Path, raw: bytes) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_bytes(raw)
    _one_line_input_error(lambda: load_profile(profile))
