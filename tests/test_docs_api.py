"""docs/api.md runs: every ```python block, in order, in one namespace, as a user
would paste them, from a directory holding this repository's fixtures/.

The live-AWS block talks to moto in server mode on 127.0.0.1 through
``AWS_ENDPOINT_URL`` (honoured by the SDK itself), holding the reference estate.
Tracebacks point at the block's lines in docs/api.md.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aws_estate import build_estate
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of every ```python block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


@pytest.fixture
def moto_estate(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's state is per process, shared by every server in it: start empty.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "AKIAPOLICYCHECKDOCS1",
        "AWS_SECRET_ACCESS_KEY": "docs-secret",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    build_estate(boto3.client("ec2", endpoint_url=url, region_name="eu-central-1"), "broken")
    try:
        yield url
    finally:
        server.stop()


def test_the_doc_has_python_blocks() -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    assert any("collect_aws" in code for _, code in blocks)


def test_docs_api_md_code_blocks_run(
    moto_estate: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for line, code in python_blocks(DOC.read_text(encoding="utf-8")):
        # Pad so that line numbers in a traceback are docs/api.md's own.
        compiled = compile("\n" * (line - 1) + code, str(DOC), "exec")
        exec(compiled, namespace)  # the documentation's own code, nothing else
    out = capsys.readouterr().out
    # The live block read pbx1 from the emulated account and printed it.
    assert "1 VMs" in out
    assert "SWYX001 error pbx1" in out
