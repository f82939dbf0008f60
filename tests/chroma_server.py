"""A real `chroma run` server on a free loopback port, for the server-mode tests and `.ci/with-chroma`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.processes import free_port

CHROMA = Path(sys.executable).with_name("chroma")


class ChromaServer:
    """Start, kill (SIGKILL: as a crash) and restart one server over one data folder."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path, self.port = Path(path), port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "ChromaServer":
        self.proc = subprocess.Popen([str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError("chroma run did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def main(argv: list[str]) -> int:
    """``python -m tests.chroma_server DATA_DIR CMD ...``: run CMD with RAG_CHROMA_URL set to a fresh server."""
    server = ChromaServer(Path(argv[0])).start()
    try:
        return subprocess.call(argv[1:], env={**os.environ, "RAG_CHROMA_URL": server.url})
    finally:
        server.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
