"""Helpers for the shadow proxy's tests: fake sides that count what they receive, the sandbox and
mitmdump as processes, waiting with deadlines, and configuration files.

`FakeSide` is an HTTP/1.1 server on 127.0.0.1 (an ephemeral port, its own thread and loop) that
records every request it receives and answers according to the first path segment:

    /json/...       a deterministic JSON document (the same on every side)
    /gzip|br|zstd/  that document, content-encoded
    /chunked/...    that document with Transfer-Encoding: chunked
    /binary/...     4 KB of deterministic binary, application/octet-stream
    /pii/...        personal data (a name, an e-mail, an IBAN) that differs per side
    /slow/...       the document after `slow_s` seconds
    /fail500/...    500
    /garbage/...    bytes that are not HTTP, then close
    /huge/...       a 20 MB JSON body
    /truncated/...  Content-Length 1000 with 10 bytes, then close
    /reset/...      a TCP reset (SO_LINGER 0)

With `faulty=False` (a primary) the fault paths answer the JSON document instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import random
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
import zstandard
from ports import unclaimed_port
from registries import register

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
MITMDUMP = VENV_BIN / "mitmdump"
SECRET = "proxy-tests-secret-0123456789"
PERSON = {"name": "Anna Kowalska-Testperson", "email": "anna.kowalska@example.org",
          "iban": "DE89370400440532013000"}  # fmt: skip
OTHER_PERSON = {"name": "Jan Nowak-Testperson", "email": "jan.nowak@example.org",
                "iban": "GB82WEST12345698765432"}  # fmt: skip


def wait_for(
    predicate: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.05
) -> None:
    """Poll `predicate` until it holds; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def document(path: str) -> bytes:
    body = {
        "path": path,
        "items": [{"id": i, "amount": f"{i * 10}.50", "status": "open"} for i in range(20)],
        "note": "deterministic",
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Received:
    method: str
    target: str
    headers: dict[str, str]  # the last value of each name
    body: bytes
    fields: tuple[tuple[str, str], ...] = ()  # every header line, names lower-cased, in order

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name]


class FakeSide:
    """A counting HTTP server; see the module docstring for its paths."""

    def __init__(self, *, faulty: bool = True, slow_s: float = 5.0, name: str = "side") -> None:
        self.faulty = faulty
        self.slow_s = slow_s
        self.name = name
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeSide:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(10)
        return self

    def __exit__(self, *_: object) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            # Connections still open (keep-alive, a slow answer) are closed by their handlers'
            # `finally`, not left to the garbage collector (a ResourceWarning, an error here).
            current = asyncio.current_task()
            handlers = [task for task in asyncio.all_tasks() if task is not current]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await asyncio.sleep(0)  # the transports finish closing on the next iteration

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                fields = []
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                        fields.append((key.strip().lower(), value.strip()))
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await _read_chunked(reader)
                with self._lock:
                    self.received.append(Received(method, target, headers, body, tuple(fields)))
                if not await self._answer(target, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            if not writer.is_closing():
                writer.close()

    async def _answer(self, target: str, writer: asyncio.StreamWriter) -> bool:
        """Write the answer; False when the connection is finished."""
        kind = target.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        path = target.split("?", 1)[0]
        body = document(path)
        headers = {"Content-Type": "application/json"}
        if kind == "gzip":
            body, headers["Content-Encoding"] = gzip.compress(body, mtime=0), "gzip"
        elif kind == "br":
            body, headers["Content-Encoding"] = brotli.compress(body), "br"
        elif kind == "zstd":
            body, headers["Content-Encoding"] = zstandard.compress(body), "zstd"
        elif kind == "binary":
            body = random.Random(path).randbytes(4096)
            headers["Content-Type"] = "application/octet-stream"
        elif kind == "pii":
            person = OTHER_PERSON if self.name == "candidate" else PERSON
            body = json.dumps({"debtor": person, "id": 7}).encode()
        elif kind == "chunked":
            head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            head += "Transfer-Encoding: chunked\r\n\r\n"
            writer.write(head.encode())
            for start in range(0, len(body), 100):
                part = body[start : start + 100]
                writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if self.faulty:
            if kind == "slow":
                await asyncio.sleep(self.slow_s)
            elif kind == "fail500":
                return await _write(writer, 500, b'{"error":"boom"}', headers)
            elif kind == "garbage":
                writer.write(b"\x00\xff\xfe this is not HTTP at all \r\n\r\n\x00")
                await writer.drain()
                writer.close()
                return False
            elif kind == "huge":
                big = b'{"blob":"' + b"x" * (20 * 1024 * 1024) + b'"}'
                return await _write(writer, 200, big, headers)
            elif kind == "truncated":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
                await writer.drain()
                writer.close()
                return False
            elif kind == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return False
        return await _write(writer, 200, body, headers)


async def _write(
    writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str]
) -> bool:
    reason = {200: "OK", 500: "Internal Server Error"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    return True


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    for _ in range(100_000):
        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            break
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    return b"".join(parts)


class TimedSide(FakeSide):
    """A side that answers after `delay_s` and notes when each request arrived and how many it
    held at once. Everything runs on the side's own loop, so plain counters are exact."""

    def __init__(self, name: str, delay_s: float = 0.0) -> None:
        super().__init__(faulty=False, name=name)
        self.delay_s = delay_s
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.peak = 0

    async def _answer(self, target: str, writer: asyncio.StreamWriter) -> bool:
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            return await super()._answer(target, writer)
        finally:
            self.in_flight -= 1


class Relay:
    """A TCP relay, 127.0.0.1:`port` to 127.0.0.1:`target`, that a test can `cut()` (listener
    closed, open connections reset) and `restore()` on the same port: a server going away; or
    `freeze()` (connections kept, nothing passed on) and `thaw()`: a server that hangs, as on a
    stalled disk or a paused machine, whose kernel still acknowledges what it is sent."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = unclaimed_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    def freeze(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def thaw(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)

    def __enter__(self) -> Relay:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *_: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def restore(self) -> None:
        async def start() -> None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

        self._call(start())

    def cut(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            await asyncio.sleep(0)

        self._call(stop())

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Tracked from acceptance on, so that a `cut()` while the upstream connection is being
        # opened resets this one too; the check after the await catches the upstream side.
        self._writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target
            )
        except OSError:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        if writer not in self._writers:  # cut while connecting
            writer.transport.abort()
            upstream_writer.transport.abort()
            return
        self._writers.add(upstream_writer)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    await self._flowing.wait()
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers -= {writer, upstream_writer}


def self_signed_pem(path: Path) -> Path:
    """A certificate for 127.0.0.1 and its key in one PEM file, as `--tls-cert` takes it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cutover test proxy")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(key_pem + certificate.public_bytes(serialization.Encoding.PEM))
    return path


def write_config(
    path: Path,
    *,
    primary: str,
    candidate: str,
    secondary: str | None = None,
    store: str | None = None,
    shadow: dict[str, Any] | None = None,
    candidate_timeout_s: float = 5.0,
) -> Path:
    """A cutover configuration for a proxy test (JSON is valid YAML)."""
    section: dict[str, Any] = {
        "store": store or f"sqlite:///{path.parent / 'shadow.sqlite'}",
        "redaction": {"secret": SECRET},
        "tenant_scope": {"header": "X-Tenant-Id"},
        "store_flush_s": 0.2,
        "max_rps": 100_000,
        "stats_interval_s": 60,
        "test_tenant_registry": False,
        # The suite's other tests load the cores, and a SCHED_IDLE worker then starves for tens
        # of seconds; tests of what the worker does run it at normal priority. The idle default
        # has its own test (test_proxy_pipeline), and `make bench` measures with it.
        "worker_idle": False,
    }
    section.update(shadow or {})
    targets: dict[str, Any] = {
        "primary": {"url": primary},
        "candidate": {"url": candidate, "timeout_s": candidate_timeout_s},
    }
    if secondary is not None:
        targets["secondary"] = {"url": secondary}
    config = {
        "targets": targets,
        "databases": {
            "monolith": f"sqlite:///{path.parent / 'monolith.sqlite'}",
            "services": f"sqlite:///{path.parent / 'services.sqlite'}",
        },
        "shadow": section,
    }
    path.write_text(json.dumps(config, indent=1))
    return path


_LISTENING = re.compile(r"listening at 127\.0\.0\.1:(\d+)\.")


class Mitmdump:
    """`mitmdump --mode reverse:PRIMARY -s cutover/shadow_entry.py --set shadow_config=...`."""

    def __init__(
        self, primary: str, config: Path, workdir: Path, *extra: str, wait_ready: bool = True
    ) -> None:
        # Port 0, read back from mitmproxy's "listening at" line: a port picked here and handed
        # over could be taken by another test's process before mitmdump binds it.
        self.port = 0
        self.wait_ready = wait_ready
        self.log_path = workdir / f"mitmdump-{secrets.token_hex(4)}.log"
        confdir = workdir / "mitmproxy-conf"
        confdir.mkdir(exist_ok=True)
        self.command = [
            str(MITMDUMP), "--mode", f"reverse:{primary}", "--listen-host", "127.0.0.1",
            "-p", "0", "-s", str(REPO / "cutover" / "shadow_entry.py"),
            "--set", f"shadow_config={config}", "--set", f"confdir={confdir}",
            "--set", "flow_detail=0", "--set", "termlog_verbosity=info", *extra,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Mitmdump:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )
        process = self.process
        wait_for(
            lambda: _LISTENING.search(self.log()) or process.poll() is not None,
            30,
            "mitmdump to listen",
        )
        if process.poll() is not None:
            raise AssertionError(f"mitmdump exited: {self.log()}")
        listening = _LISTENING.search(self.log())
        assert listening is not None
        self.port = int(listening.group(1))
        if self.wait_ready:
            wait_for(lambda: "ready" in self.log(), 30, "the shadow pipeline to be ready")
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        """Pids of the processes mitmdump started (the pipeline's worker)."""
        assert self.process is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid:
                found.append(int(entry.name))
        return found

    def stop(self, sig: int = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Sandbox:
    """The sandbox (`python -m sandbox up --db sqlite`) as a process."""

    def __init__(
        self, data_dir: Path, regressions: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.env = env or {}
        self.log_path = data_dir / "sandbox.log"
        self.command = [
            sys.executable, "-m", "sandbox", "up", "--db", "sqlite", "--monolith-port", "0",
            "--services-port", "0", "--data-dir", str(data_dir), "--seed", "demo",
        ]  # fmt: skip
        if regressions:
            self.command += ["--regressions", regressions]
        self.process: subprocess.Popen[bytes] | None = None
        self.monolith = ""
        self.services = ""

    def __enter__(self) -> Sandbox:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        wait_for(lambda: self._announced() or self._exited(), 60, "the sandbox to start")
        if not self._announced():
            raise AssertionError(f"the sandbox did not start: {self.log_path.read_text()}")
        return self

    def _exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def _announced(self) -> bool:
        for line in self.log_path.read_text().splitlines():
            if line.startswith("sandbox monolith: "):
                self.monolith = line.split(": ", 1)[1].strip()
            if line.startswith("sandbox services: "):
                self.services = line.split(": ", 1)[1].strip()
        return bool(self.monolith and self.services)

    def __exit__(self, *_: object) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def register_test_tenant(directory: Path, tenant_id: int, size: int = 1000) -> range:
    """Register a test tenant with the id block [tenant_id, tenant_id + size) in the registries
    of the SQLite databases `write_config` names (both must hold it); return the block."""
    for side in ("monolith", "services"):
        block = register(f"sqlite:///{directory / f'{side}.sqlite'}", tenant_id, size)
    return block
