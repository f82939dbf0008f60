"""Helpers for tests that start real server processes on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float, log: Callable[[], str]) -> None:
    """Poll ``url``/api/health until it answers 200; fail with the process's output (``log()``) if the
    process exits, or when ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, log()
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout:.0f} s"
        try:
            if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
