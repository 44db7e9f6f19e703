"""N19: the app phones nobody. From start-up on a fresh data dir (the seeds ingested) to a cited answer over
HTTP, the UI page and shutdown, `python app.py` runs under `strace -f`, once per local embeddings backend, and
must look up no name and connect to nothing off this machine. ONNX Runtime 1.29+ resolved
`mobile.events.data.microsoft.com` 8 times in such a run (its OneDS telemetry) before `assistant.offline`
set ORT_DISABLE_TELEMETRY.

What counts, decided here once:

- **a DNS query**: a connect, sendto, sendmsg or sendmmsg to port 53 of any address, loopback included
  (systemd-resolved's stub listens on 127.0.0.53); any connect to systemd-resolved's sockets
  (`/run/systemd/resolve/...`: they answer host names only); and a connect to nscd's socket
  (`/var/run/nscd/socket`, `/run/nscd/socket`) that succeeds, since what is then asked (a host, or a user)
  is not in the trace. A *failed* connect to nscd asks nothing: glibc tries nscd first for users and groups
  too (this app's two, during the model export, come from `getpwuid_r`, as `strace -k` shows), and when
  nscd is not running a host look-up goes on to DNS, which the port-53 rule catches;
- **a connection off the machine**: a connect, sendto, sendmsg or sendmmsg to an IPv4 or IPv6 address that
  is not loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104), whatever the port, whether it succeeds or not;
- **not counted**: loopback addresses on other ports (the test's requests, Gradio calling its own routes),
  other AF_UNIX sockets (socketpairs, the process's own pipes), AF_NETLINK (the kernel, e.g. the list of
  interfaces) and AF_UNSPEC (how a UDP socket is disconnected). A numeric address (the 127.0.0.1 the app
  binds) is parsed without any look-up.

The child gets none of the offline variables from the test's environment (conftest sets them in this
process): the app must switch everything off itself. The export of the ONNX backends to a fresh cache is in
the trace too, as on a machine's first run.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from assistant.offline import OFFLINE_ENV
from tests.conftest import ROOT, SEEDS, clean_env, free_port

STRACE = "/usr/bin/strace"
QUESTION = "With which country is Russia jointly chairing the Mine Action Centre?"
SENDS = ("connect", "sendto", "sendmsg", "sendmmsg")
SYSCALLS = ",".join([*SENDS, "bind"])  # bind: the app's own listening socket shows the trace is of the app
RESOLVER_SOCKETS = "/run/systemd/resolve/"
NSCD_SOCKETS = ("/var/run/nscd/", "/run/nscd/")

_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\),.*?inet_pton\(AF_INET6, "([^"]+)"')
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=@?"([^"]*)"')
_CALL = re.compile(r"^(?:\d+\s+)?(\w+)\(")  # `PID  connect(...` as `strace -f -o` writes it

needs_strace = pytest.mark.skipif(
    not Path(STRACE).exists(), reason="needs Debian's strace (`make strace`; `make test` installs it)"
)


def network_calls(trace: str) -> list[str]:
    """The lines of an strace log that look a name up or reach another machine (the docstring's rules)."""
    found = []
    for line in trace.splitlines():
        call = _CALL.match(line)
        if call is None or call.group(1) not in SENDS:
            continue
        inet = [(int(p), a) for p, a in _INET.findall(line)] + [(int(p), a) for p, a in _INET6.findall(line)]
        dns_or_off_machine = any(port == 53 or not ipaddress.ip_address(a).is_loopback for port, a in inet)
        paths = _UNIX.findall(line)
        resolver = any(path.startswith(RESOLVER_SOCKETS) for path in paths)
        nscd = any(path.startswith(NSCD_SOCKETS) for path in paths) and "= -1 " not in line
        if dns_or_off_machine or resolver or nscd:
            found.append(line)
    return found


def test_n19_the_rules_catch_dns_and_outbound_connects_and_let_loopback_through() -> None:
    """The parser on lines strace 6 writes: what would have hidden a phone-home from the real test."""
    dns = 'connect(7, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0'
    stub = (
        'sendto(7, "", 0, 0, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16)'
    )
    out6 = (
        "connect(9, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "2603:1030::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH'
    )
    nscd = 'connect(5, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = 0'
    no_nscd = (
        'connect(5, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file)'
    )
    resolved = (
        'connect(6, {sa_family=AF_UNIX, sun_path="/run/systemd/resolve/io.systemd.Resolve"}, 42) = -1 ENOENT'
    )
    local = 'connect(8, {sa_family=AF_INET, sin_port=htons(7860), sin_addr=inet_addr("127.0.0.1")}, 16) = 0'
    local6 = (
        "connect(8, {sa_family=AF_INET6, sin6_port=htons(7860), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0'
    )
    kernel = "sendto(4, [{nlmsg_len=20}], 20, 0, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12)"
    pair = 'connect(3, {sa_family=AF_UNIX, sun_path="/tmp/pymp-x/listener"}, 110) = 0'
    listen = '4242  bind(6, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16) = 0'
    trace = "\n".join([dns, stub, out6, nscd, resolved, no_nscd, local, local6, kernel, pair, listen])
    assert network_calls(trace) == [dns, stub, out6, nscd, resolved]


@contextmanager
def traced_app(tmp_path: Path, backend: str) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """`python app.py` under strace on a fresh data dir and a fresh ONNX cache; yields (url, log, strace)."""
    port = free_port()
    env = {k: v for k, v in clean_env().items() if k not in OFFLINE_ENV and not k.startswith(("ORT_", "HF_"))}
    env.update(
        RAG_DATA_DIR=str(tmp_path / "data"),
        RAG_DOCS_DIR=str(SEEDS),
        RAG_EMBEDDINGS_BACKEND=backend,
        RAG_EMBEDDINGS_CACHE_DIR=str(tmp_path / "onnx-cache"),
    )
    log = tmp_path / "strace.log"
    command = [STRACE, "-f", "--seccomp-bpf", "-qq", "-s", "32", "-e", f"trace={SYSCALLS}", "-o", str(log)]
    command += [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)]
    output = (tmp_path / "server.log").open("w")
    tracer = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", log, tracer
    finally:
        stop(tracer)
        output.close()


def stop(tracer: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the app (strace's child), so its shutdown is traced too; then strace ends with it."""
    children = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children")
    pids = children.read_text().split() if children.exists() else []
    for pid in pids:
        os.kill(int(pid), signal.SIGTERM)
    try:
        tracer.wait(timeout=60)
    except subprocess.TimeoutExpired:
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
        tracer.wait(timeout=30)


def wait_until_up(url: str, tracer: subprocess.Popen[bytes], server_log: Path) -> None:
    """Start-up ingests the seeds (and exports the model) before the port opens: wait for /healthz."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if tracer.poll() is not None:
            raise AssertionError(f"the app exited:\n{server_log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the app did not start:\n{server_log.read_text()[-3000:]}")


# onnx (fp32) loads the same runtime as onnx-int8: traced with `RAG_TEST_EVERY_BACKEND=1` (92 s more)
EVERY_BACKEND = os.environ.get("RAG_TEST_EVERY_BACKEND") == "1"


@pytest.mark.slow
@needs_strace
@pytest.mark.parametrize("backend", ["onnx-int8", "torch", *(["onnx"] if EVERY_BACKEND else [])])
def test_n19_no_dns_query_and_no_outbound_connect_from_start_up_to_a_cited_answer(
    tmp_path: Path, backend: str
) -> None:
    """onnx-int8 is the default; onnx (fp32) and torch load other runtimes. The trace covers start-up (the
    seeds ingested into the fresh store), a cited answer over HTTP, the UI page and a clean shutdown."""
    with traced_app(tmp_path, backend) as (url, log, tracer):
        wait_until_up(url, tracer, tmp_path / "server.log")
        reply = httpx.post(f"{url}/api/chat", json={"message": QUESTION}, timeout=300)
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert answer["citations"] and "[" in answer["answer"] and not answer["refused"], answer
        assert "Cambodia" in answer["answer"]
        page = httpx.get(f"{url}/", timeout=60)
        assert page.status_code == 200 and "gradio" in page.text.lower()
    trace = log.read_text()
    port = url.rsplit(":", 1)[1]
    assert "bind(" in trace and f"htons({port})" in trace, "the trace is not of the app: no bind to its port"
    calls = network_calls(trace)
    assert not calls, f"{len(calls)} look-ups or outbound connects, e.g.:\n" + "\n".join(calls[:10])
