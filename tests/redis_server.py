"""A real `redis-server` for tests: started on a free loopback port, no persistence, stopped at
the end. `redis_url` (session) serves tests that share one server under their own key
prefixes; `redis_server` (per test) is a private server a test may stop and restart.

redis-server comes from the apt package (scripts/ensure-redis.sh installs it). Locally a
missing binary skips these tests; in CI (CI=true) it fails them, so they never silently vanish.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_START_TIMEOUT = 10.0


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    message = ("redis-server is not on PATH; install it with scripts/ensure-redis.sh "
               "(apt-get install redis-server)")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process; `stop()` then `start()` brings it back on the same port
    (empty: nothing is saved)."""

    def __init__(self, binary: str) -> None:
        self._binary = binary
        self._dir = Path(tempfile.mkdtemp(prefix="meetbot-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = self._dir / "redis.log"
        self._proc = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._dir), "--logfile", str(log),
             "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _START_TIMEOUT
        while not _pong(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{tail}")
            time.sleep(0.02)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def start_redis_server() -> RedisServer:
    """A running server on a free port; a port taken between probe and bind gets a retry."""
    binary = _redis_binary()
    for _ in range(3):
        server = RedisServer(binary)
        try:
            server.start()
            return server
        except RuntimeError as err:
            server.close()
            failure = err
    raise failure


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    server = start_redis_server()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = start_redis_server()
    try:
        yield server
    finally:
        server.close()
