"""The chat built in the background (ui.chat_mount, what `rag serve` does): the API answers at once, `/`
says the chat is starting until it is ready, and a chat that fails to build leaves the API serving."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

import ui.chat
from tests.conftest import HELD_OUT_ANSWER, HELD_OUT_Q
from ui.api import create_app
from ui.server import serve_in_thread


def test_the_api_answers_while_the_chat_is_built(seeded, monkeypatch) -> None:
    gate = threading.Event()
    real = ui.chat.build_chat

    def slow_build(*args, **kwargs):
        assert gate.wait(120), "the test never released the build"
        return real(*args, **kwargs)

    monkeypatch.setattr(ui.chat, "build_chat", slow_build)
    with serve_in_thread(create_app(seeded.settings, service=seeded, chat_in_background=True)) as url:
        page = httpx.get(f"{url}/", timeout=30)
        assert page.status_code == 503 and "The chat is starting" in page.text
        assert page.headers["x-content-type-options"] == "nosniff"  # under the API's security headers
        body = httpx.post(f"{url}/api/ask", json={"question": HELD_OUT_Q}, timeout=120).json()
        assert HELD_OUT_ANSWER in body["answer"]
        gate.set()
        deadline = time.monotonic() + 120
        while (page := httpx.get(f"{url}/", timeout=30)).status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert httpx.get(f"{url}/gradio_api/info", timeout=30).status_code == 200


def test_a_chat_that_fails_to_build_leaves_the_api_serving(seeded, monkeypatch, caplog) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no theme today")

    monkeypatch.setattr(ui.chat, "build_chat", broken)
    with serve_in_thread(create_app(seeded.settings, service=seeded, chat_in_background=True)) as url:
        deadline = time.monotonic() + 60
        while "failed to start" not in (page := httpx.get(f"{url}/", timeout=30)).text:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert page.status_code == 500 and "retry-after" not in page.headers and "RuntimeError: no theme today" in page.text
        assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200
    assert "the chat failed to start" in caplog.text


@pytest.mark.parametrize("background", [False, True])
def test_stopping_the_server_stops_the_chat(seeded, background) -> None:
    """Gradio's lifespan is entered and left in one task; stopping never hangs on it."""
    with serve_in_thread(create_app(seeded.settings, service=seeded, chat_in_background=background)) as url:
        deadline = time.monotonic() + 120
        while httpx.get(f"{url}/", timeout=30).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        server = {t.name: t for t in threading.enumerate() if t.name.startswith("uvicorn-")}
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 30 and not any(t.is_alive() for t in server.values())
