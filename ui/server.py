"""Run the app under uvicorn, in the foreground (``rag serve``) or in a background thread (tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


class Server(uvicorn.Server):
    """A uvicorn server that first ends the chat's endless streams (Gradio session heartbeats)
    when it stops, so that stopping never waits on an open browser tab."""

    async def shutdown(self, sockets=None) -> None:
        stop_streams = getattr(getattr(self.config.app, "state", None), "stop_streams", None)
        if stop_streams:
            stop_streams()
        await super().shutdown(sockets)


def serve(app, host: str = "127.0.0.1", port: int = 8000, **config) -> None:
    """Serve ``app`` until interrupted (uvicorn.run, with the prompt shutdown above)."""
    Server(uvicorn.Config(app, host=host, port=port, **config)).run()


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0) -> Iterator[str]:
    """Start ``app`` (port 0: a free port picked by the OS), yield its base URL, stop it after."""
    server = Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{host}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout)
