"""How fast, and with how much memory, policycheck gives up on hostile or dead input.

Each row runs the real CLI as a subprocess and records its exit code, wall time and
peak RSS (measured by a small parent process, so the figure is policycheck's own):

- ``/dev/zero`` as a plan, and an endless pipe (``cat /dev/zero |``) cut at the
  size limit;
- a plan nested 100,000 levels deep;
- each cloud pointed at a port that refuses connections, and at an endpoint that
  accepts the connection and never answers (``--timeout 5``), using the fakes of
  tests/ (moto server behind the fault proxy, the ARM fake, the Compute fake).

Run from the repository root:

    .venv/bin/python benchmarks/bench_failures.py

and copy the table into benchmarks/failures.md.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import azure_fake  # noqa: E402
import gcp_fake  # noqa: E402

MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.monotonic()\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(code, time.monotonic() - start, peak)\n"
)


def measure(
    args: list[str], env: dict[str, str] | None = None, stdin: int | None = None
) -> tuple[int, float, float, str]:
    """Exit code, seconds and peak RSS (MiB) of one run; ``env`` adds to (or, with
    HOME set, replaces) this process's environment."""
    base = {} if env and "HOME" in env else dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "policycheck", *args],
        cwd=REPO,
        env={**base, **(env or {})},
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    code, seconds, peak = proc.stdout.split()
    return int(code), float(seconds), int(peak) / 1024, proc.stderr.strip()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(120)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()


@contextlib.contextmanager
def azure_authority() -> Iterator[dict[str, str]]:
    """The ARM/Entra fake of tests/azure_fake.py, for the token only."""
    ca, ca_path = azure_fake._ca()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = azure_fake._Server(("127.0.0.1", 0), azure_fake._Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_address[1]}"
    server.fake = azure_fake.FakeArm(url=url, ca_path=ca_path, estate_dir=azure_fake.FIXTURES)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.fake.env()
    finally:
        server.shutdown()


def main() -> None:
    rows: list[tuple[str, tuple[int, float, float, str]]] = []
    work = Path(tempfile.mkdtemp(prefix="policycheck-bench-"))
    rows.append(("scan terraform /dev/zero", measure(["scan", "terraform", "/dev/zero"])))
    with open("/dev/zero", "rb") as zeros:
        feeder = subprocess.Popen(["cat"], stdin=zeros, stdout=subprocess.PIPE)
        assert feeder.stdout is not None
        result = measure(
            ["scan", "terraform", "/dev/stdin"],
            env={"POLICYCHECK_MAX_INPUT": "512M"},
            stdin=feeder.stdout.fileno(),
        )
        feeder.kill()
        feeder.wait()
    rows.append(("cat /dev/zero | scan terraform /dev/stdin (limit 512M)", result))
    deep = work / "deep.json"
    deep.write_text(
        '{"format_version": "1.0", "planned_values": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    rows.append(("plan nested 100,000 levels", measure(["scan", "terraform", str(deep)])))

    aws = {
        "AWS_ACCESS_KEY_ID": "AKIABENCHFAKE0000000",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    region = ["--region", "eu-central-1"]
    refused = closed_port()
    rows.append(
        (
            "scan aws, endpoint refuses connections",
            measure(["scan", "aws", *region, "--endpoint-url", f"http://{refused}"], aws),
        )
    )
    key_dir = Path(tempfile.mkdtemp(prefix="policycheck-bench-gcp-"))
    fake = gcp_fake.FakeCompute(url="http://127.0.0.1:9")
    key = fake.service_account(key_dir, "bench")
    gcp = {
        k: v
        for k, v in gcp_fake.isolated_env(key_dir, key.path).items()
        if k not in os.environ or os.environ[k] != v
    }
    project = ["--project", "bench"]
    rows.append(
        (
            "scan gcp, endpoint refuses connections",
            measure(["scan", "gcp", *project, "--endpoint", f"http://{refused}"], gcp),
        )
    )
    with azure_authority() as azure:
        sub = ["--subscription", "b0000000-0000-4000-8000-000000000001", "--no-instance-discovery"]
        rows.append(
            (
                "scan azure, ARM refuses connections",
                measure(["scan", "azure", *sub, "--endpoint", f"https://{refused}"], azure),
            )
        )
        with silent_server() as silent:
            rows.append(
                (
                    "scan azure, ARM never answers (--timeout 5)",
                    measure(
                        [
                            "scan",
                            "azure",
                            *sub,
                            "--timeout",
                            "5",
                            "--endpoint",
                            f"https://{silent}",
                        ],
                        azure,
                    ),
                )
            )
    with silent_server() as silent:
        rows.append(
            (
                "scan aws, endpoint never answers (--timeout 5)",
                measure(
                    [
                        "scan",
                        "aws",
                        *region,
                        "--timeout",
                        "5",
                        "--endpoint-url",
                        f"http://{silent}",
                    ],
                    aws,
                ),
            )
        )
        rows.append(
            (
                "scan gcp, endpoint never answers (--timeout 5)",
                measure(
                    ["scan", "gcp", *project, "--timeout", "5", "--endpoint", f"http://{silent}"],
                    gcp,
                ),
            )
        )

    print("| input | exit | wall time | peak RSS | stderr |")
    print("|---|---|---|---|---|")
    for name, (code, seconds, peak, stderr) in rows:
        shown = stderr if len(stderr) <= 110 else stderr[:107] + "..."
        print(f"| {name} | {code} | {seconds:.1f} s | {peak:.0f} MiB | `{shown}` |")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"\n(total {time.monotonic() - started:.0f} s)")
