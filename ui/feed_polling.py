"""The feeds `rag serve` keeps polling: RAG_FEEDS plus those added over the API.

Added feeds and each feed's last result live in ``<RAG_DATA_DIR>/feeds.json``. A poll indexes new
items and skips seen ones (their corpus file is already there); a feed that fails is reported in
its status and polled again next time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from urllib.parse import urlsplit

from pydantic import BaseModel

from index.ingest import IngestReport
from rag.service import RagService

_FILE_LOCK = threading.Lock()  # feeds.json is read and rewritten by the API's threads and the poller


class FeedStatus(BaseModel):
    url: str
    configured: bool  # from RAG_FEEDS (else added over the API)
    last_polled: str | None = None
    last_result: str | None = None


class FeedWatch:
    """Polls the feeds; safe to use from the API's threads and the polling thread at once."""

    def __init__(self, svc: RagService) -> None:
        self.svc = svc
        self.path = svc.settings.data_dir / "feeds.json"
        self.configured = svc.settings.feeds.split()

    def statuses(self) -> list[FeedStatus]:
        saved = self._load()
        urls = dict.fromkeys([*self.configured, *saved])
        return [FeedStatus(url=u, configured=u in self.configured, **saved.get(u, {})) for u in urls]

    def follow(self, url: str) -> None:
        """Add ``url`` to the feeds polled (ValueError unless it is an http(s) URL)."""
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ValueError("a feed URL must start with http:// or https://")
        with _FILE_LOCK:
            saved = self._load()
            saved.setdefault(url, {})
            self._save(saved)

    def poll(self) -> None:
        for status in self.statuses():
            self.poll_one(status.url)

    def poll_one(self, url: str) -> IngestReport:
        report = self.svc.ingest_feeds([url])
        result = report.summary().splitlines()[0]
        with _FILE_LOCK:
            saved = self._load()
            saved[url] = {"last_polled": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "last_result": result + "".join(f"; {where}: {why}" for where, why in report.skipped)}
            self._save(saved)
        return report

    @contextmanager
    def polling(self, interval: float | None = None) -> Iterator[None]:
        """Poll now and every ``interval`` seconds (RAG_FEED_INTERVAL) until the block ends."""
        stop = threading.Event()
        every = interval or self.svc.settings.feed_interval

        def run() -> None:
            while not stop.is_set():
                try:
                    self.poll()
                except Exception as exc:  # noqa: BLE001 - a failed poll must not end the polling
                    print(f"feed poll failed: {exc}", flush=True)
                stop.wait(every)

        thread = threading.Thread(target=run, name="feed-poller", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)

    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.part")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(self.path)
