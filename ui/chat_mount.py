"""The Gradio chat at ``/``, built at once or once the server is up.

Importing Gradio and building the chat takes longer than loading the model and answering (about 4 s
of a 11 s start at 3,000 articles). ``rag serve`` therefore starts the API first and builds the chat in
the background: until it is ready, ``/`` answers 503 with a page that reloads itself. Tests build it
at once. Either way Gradio runs as a sub-application of the API's app, under its middleware.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

STARTING_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="2"><title>News Q&amp;A is starting</title></head>
<body><p>The chat is starting; this page reloads itself. The API already answers: <a href="/docs">/docs</a>.</p>
</body></html>"""
FAILED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>News Q&amp;A: no chat</title></head>
<body><p>The chat failed to start ({error}); the server log says more. The API still answers:
<a href="/docs">/docs</a>.</p></body></html>"""

log = logging.getLogger(__name__)


class ChatMount:
    """An ASGI app mounted at ``/`` that serves the chat once ``build`` has made it."""

    def __init__(self, build: Callable[[], FastAPI]) -> None:
        """``build`` makes a FastAPI app with the chat mounted on it (``gr.mount_gradio_app``); that app's
        lifespan starts and stops Gradio (its queue)."""
        self._build = build
        self._holder: FastAPI | None = None
        self._chat: Any = None  # the Gradio app, while its lifespan runs
        self._error: str | None = None

    def build_now(self) -> None:
        self._holder = self._build()

    @asynccontextmanager
    async def running(self, background: bool) -> AsyncIterator[None]:
        """Serve the chat for the server's lifetime; unless ``background``, only once it is ready."""
        stopped, settled = asyncio.Event(), asyncio.Event()  # this run's loop's own (an app may be served again)
        self._error = None
        task = asyncio.create_task(self._serve(stopped, settled))
        if not background:
            await settled.wait()
        try:
            yield
        finally:
            stopped.set()
            await task

    async def _serve(self, stopped: asyncio.Event, settled: asyncio.Event) -> None:
        """Gradio's lifespan entered and left in this one task (its cancel scopes require that);
        ``settled`` is set once the chat is ready or has failed."""
        try:
            if self._holder is None:
                self._holder = await run_in_threadpool(self._build)
            holder = self._holder
            async with holder.router.lifespan_context(holder):
                self._chat = holder.routes[-1].app
                settled.set()
                log.info("chat ready")
                await stopped.wait()
        except Exception as exc:  # noqa: BLE001 - the API goes on; / says what happened
            log.exception("the chat failed to start")
            self._error = f"{type(exc).__name__}: {exc}"
        finally:
            self._chat = None
            settled.set()

    def stop_streams(self) -> None:
        """End the chat's endless streams (Gradio session heartbeats), so that stopping never waits on a tab."""
        if self._chat is not None:
            self._chat.stop_event.set()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if self._chat is not None:
            return await self._chat(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1013})  # try again later
        if self._error is None:  # starting: come back in a moment
            return await HTMLResponse(STARTING_PAGE, 503, headers={"Retry-After": "2"})(scope, receive, send)
        # failed for good: no Retry-After, so that no client (nor rag bench) waits for a chat that won't come
        await HTMLResponse(FAILED_PAGE.format(error=html.escape(self._error)), 500)(scope, receive, send)
