"""News as it arrives: saved pages, links, RSS/Atom feeds and JSONL/CSV dumps.

Fetching runs against a real HTTP server on 127.0.0.1 (pages, feeds, redirects, a 404, a slow
response, oversized bodies, robots.txt); indexing uses the real model and an embedded Chroma store.
"""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from index.article import parse
from index.chunking import chunk
from index.sources.dumps import BadRow, FieldMap, Row, read_dump
from index.sources.fetch import Fetcher, FetchError, FetchPolicy
from rag.service import RagService
from tests.conftest import make_settings

NEWS = Path(__file__).resolve().parent / "fixtures" / "news"
PAGES = NEWS / "pages"
LOOPBACK = "127.0.0.0/8"
MAX_BYTES = 100_000
SLOW_S = 3.0


class Handler(BaseHTTPRequestHandler):
    """Serves the fixtures, plus the misbehaving endpoints a fetcher must survive."""

    hits: dict[str, int] = {}

    def log_message(self, *_args) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", kind: str = "text/html", headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout, size cap)
            pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        Handler.hits[path] = Handler.hits.get(path, 0) + 1
        base = f"http://127.0.0.1:{self.server.server_port}"
        if path == "/robots.txt":
            return self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        if path == "/redirect":
            return self._send(302, headers={"Location": "/pages/council.html"})
        if path == "/loop":
            return self._send(302, headers={"Location": "/loop"})
        if path == "/to-metadata":
            return self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        if path == "/slow":
            time.sleep(SLOW_S)
            return self._send(200, (PAGES / "council.html").read_bytes())
        if path == "/huge":
            return self._send(200, b"<html><body><p>" + b"word " * (MAX_BYTES // 2) + b"</p></body></html>")
        if path == "/huge-stream":  # no Content-Length: the cap must hold while reading
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"<p>" + b"more " * 1000 + b"</p>")
            return None
        if path == "/changing":  # the same story in a page whose furniture changes on every request
            html = (PAGES / "council.html").read_text(encoding="utf-8")
            html = html.replace("<footer>", f"<footer><p>Served {time.time_ns()}</p><!-- ad {time.time_ns()} -->")
            return self._send(200, html.encode("utf-8"))
        if path == "/notes.txt":
            return self._send(200, b"Ferry fares rise\n\nFerry fares on the Wend rise by five percent in May, "
                                   b"the operator said on Thursday.\n", "text/plain; charset=utf-8")
        if path == "/image.png":
            return self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png")
        target = NEWS / path.lstrip("/")
        if path.startswith(("/pages/", "/feeds/", "/private/")):
            source = PAGES / target.name if path.startswith("/private/") else target
            if source.is_file():
                body = source.read_bytes()
                if source.suffix == ".xml":
                    body = body.replace(b"{base}", base.encode())
                    kind = "application/atom+xml" if b"<feed" in body else "application/rss+xml"
                else:
                    kind = "text/html"
                return self._send(200, body, kind)
        return self._send(404, b"<html><body><p>Not found</p></body></html>")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def _service(tmp_path: Path, embedder, **overrides) -> RagService:
    overrides = {"fetch_allow_networks": LOOPBACK, "fetch_timeout": 1.5, "fetch_max_bytes": MAX_BYTES, **overrides}
    settings = make_settings(tmp_path, **overrides)
    return RagService(settings, embedder=embedder)


@pytest.fixture
def svc(tmp_path, embedder) -> RagService:
    """An empty corpus folder; fetching allowed to loopback (the test server) only."""
    (tmp_path / "corpus").mkdir()
    return _service(tmp_path, embedder)


def _assert_offsets_exact(svc: RagService) -> int:
    """Every stored passage equals the served document text at its offsets; returns how many were checked."""
    checked = 0
    texts: dict[str, str] = {}
    for p in svc.store.passages():
        if p.doc_id not in texts:
            texts[p.doc_id] = svc.document(p.doc_id).text
        assert texts[p.doc_id][p.start:p.end] == p.text, (p.doc_id, p.start, p.end)
        checked += 1
    return checked


def _skipped(report) -> dict[str, str]:
    return {where: why for where, why in report.skipped}


# --- saved pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,title,outlet,date,date_source", [
    ("council.html", "Brindle council votes to rebuild the river bridge", "The Brindle Courier", "2024-03-05",
     "page markup"),
    ("harbour.html", "Harbour pilots strike over night shifts", "unknown", "2024-06-03", "page markup"),
    ("festival.htm", "Lantern festival draws record crowd", "Valley Post", "2023-11-12", "page markup"),
])
def test_saved_page_is_its_article_text_with_metadata(name, title, outlet, date, date_source) -> None:
    article = parse(PAGES / name)
    assert (article.title, article.outlet, article.date, article.date_source) == (title, outlet, date, date_source)
    assert article.source == name
    for furniture in ("Sport", "Accept all cookies", "What a waste", "Most read", "All rights reserved",
                      "Related stories", "Subscribe", "Contact", "<p>"):
        assert furniture not in article.raw_text
    passages = chunk(article)
    assert len(passages) >= 3
    for p in passages:
        assert article.raw_text[p.start:p.end] == p.text


def test_saved_page_keeps_canonical_url_and_decodes_cp1252() -> None:
    council = parse(PAGES / "council.html")
    assert council.url == "https://courier.example/news/2024/03/05/council-bridge"
    festival = parse(PAGES / "festival.htm")
    assert festival.encoding == "cp1252" and "Café Lumière" in festival.raw_text


def test_uploaded_html_is_indexed_and_served_as_extracted_text(svc: RagService) -> None:
    report = svc.add_document("council.html", (PAGES / "council.html").read_bytes())
    assert report.added == ["council"]
    doc = svc.document("council")
    assert doc.text.startswith("Brindle council votes") and "<" not in doc.text
    assert (doc.outlet, doc.date, doc.date_source, doc.source) == ("The Brindle Courier", "2024-03-05",
                                                                   "page markup", "council.html")
    assert _assert_offsets_exact(svc) >= 3
    answer = svc.ask("How much will the new bridge in Brindle cost?")
    assert "4.2 million euros" in answer.citations[0].quote
    assert answer.citations[0].date_source == "page markup"


def test_adding_or_editing_a_sidecar_updates_the_article(svc: RagService) -> None:
    path = svc.settings.corpus_dir / "bridge.txt"
    path.write_text("Bridge reopens after repairs\n\nThe bridge over the Wend reopened to cars on Monday.\n",
                    encoding="utf-8")
    assert svc.ingest().added == ["bridge"]
    assert svc.document("bridge").outlet == "unknown"
    sidecar = path.with_name("bridge.meta.json")
    sidecar.write_text(json.dumps({"outlet": "The Brindle Courier", "date": "2024-03-05"}))
    report = svc.ingest()
    assert report.updated == ["bridge"], report.summary()
    doc = svc.document("bridge")
    assert (doc.outlet, doc.date, doc.date_source) == ("The Brindle Courier", "2024-03-05", "sidecar")
    sidecar.write_text(json.dumps({"outlet": "Wend Valley Post"}))
    assert svc.ingest().updated == ["bridge"]
    assert (svc.document("bridge").outlet, svc.document("bridge").date) == ("Wend Valley Post", None)
    assert svc.ingest().unchanged == ["bridge"]


# --- fetching --------------------------------------------------------------------------------------------


def test_links_are_fetched_extracted_and_indexed_with_errors_per_url(svc: RagService, server: str) -> None:
    urls = [f"{server}/pages/council.html", f"{server}/pages/harbour.html", f"{server}/notes.txt",
            f"{server}/redirect", f"{server}/missing", f"{server}/slow", f"{server}/huge", f"{server}/huge-stream",
            f"{server}/private/council.html", f"{server}/loop", f"{server}/image.png", f"{server}/to-metadata",
            "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "ftp://127.0.0.1/x"]
    report = svc.ingest_urls(urls)
    skipped = _skipped(report)
    assert len(report.added) == 3, report.summary()
    assert skipped[f"{server}/missing"] == "HTTP 404"
    assert "timed out" in skipped[f"{server}/slow"]
    assert "over the 100000-byte limit" in skipped[f"{server}/huge"]
    assert "over the 100000-byte limit" in skipped[f"{server}/huge-stream"]
    assert "robots.txt" in skipped[f"{server}/private/council.html"]
    assert "redirects" in skipped[f"{server}/loop"]
    assert "not an article page" in skipped[f"{server}/image.png"]
    assert "169.254.169.254" in skipped[f"{server}/to-metadata"]  # a redirect hop is checked too
    assert skipped["http://169.254.169.254/latest/meta-data/"].startswith("refused")
    assert "only http(s)" in skipped["file:///etc/passwd"] and "only http(s)" in skipped["ftp://127.0.0.1/x"]
    assert skipped[f"{server}/redirect"].startswith("duplicate of")  # it lands on the page already fetched
    assert not any(p.name.startswith("127.0.0.1-redirect") for p in (svc.settings.corpus_dir / "web").iterdir())

    docs = {d.doc_id: d for d in svc.documents()}
    council = next(d for d in docs.values() if d.title.startswith("Brindle council"))
    assert (council.outlet, council.date, council.url, council.source) == (
        "The Brindle Courier", "2024-03-05", "https://courier.example/news/2024/03/05/council-bridge",
        f"{server}/pages/council.html")
    harbour = next(d for d in docs.values() if d.title.startswith("Harbour pilots"))
    assert harbour.outlet == "127.0.0.1"  # no site name in the page: the address it came from
    assert _assert_offsets_exact(svc) >= 8

    again = svc.ingest_urls([f"{server}/pages/council.html"])
    assert again.passages_embedded == 0 and len(again.unchanged) == 1


def test_refetching_an_unchanged_story_embeds_nothing(svc: RagService, server: str) -> None:
    first = svc.ingest_urls([f"{server}/changing"])
    assert len(first.added) == 1 and first.passages_embedded > 0
    second = svc.ingest_urls([f"{server}/changing"])
    assert second.passages_embedded == 0 and second.unchanged == first.added


def test_private_addresses_are_refused_by_default(server: str) -> None:
    with Fetcher(FetchPolicy(timeout=2)) as fetcher:
        with pytest.raises(FetchError, match=r"refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1"):
            fetcher.get(f"{server}/pages/council.html")
        with pytest.raises(FetchError, match="refused: localhost"):
            fetcher.get(f"http://localhost:{server.rsplit(':', 1)[1]}/pages/council.html")
        for url in ("http://10.0.0.1/", "http://192.168.1.1/", "http://[::1]/", "http://[fe80::1]/",
                    "http://[::ffff:169.254.169.254]/", "http://169.254.169.254/"):
            with pytest.raises(FetchError, match="non-public address"):
                fetcher.get(url)


def test_allowing_loopback_does_not_allow_link_local(server: str) -> None:
    with Fetcher(FetchPolicy(timeout=2, allow_networks=(LOOPBACK,))) as fetcher:
        assert b"Brindle" in fetcher.get(f"{server}/pages/council.html").body
        with pytest.raises(FetchError, match="non-public"):
            fetcher.get("http://169.254.169.254/latest/meta-data/")


def test_user_agent_is_sent(server: str) -> None:
    seen = {}

    class Spy(Handler):
        def do_GET(self) -> None:  # noqa: N802
            seen[self.path] = self.headers.get("User-Agent")
            super().do_GET()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Spy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with Fetcher(FetchPolicy(timeout=2, allow_networks=(LOOPBACK,))) as fetcher:
            fetcher.get(f"http://127.0.0.1:{httpd.server_port}/pages/council.html")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert seen["/robots.txt"].startswith("rag-news/") and seen["/pages/council.html"] == seen["/robots.txt"]


# --- feeds -----------------------------------------------------------------------------------------------


def test_rss_and_atom_items_are_indexed_once(svc: RagService, server: str) -> None:
    rss, atom = f"{server}/feeds/rss.xml", f"{server}/feeds/atom.xml"
    report = svc.ingest_feeds([rss, atom, f"{server}/pages/council.html", f"{server}/missing-feed"])
    skipped = _skipped(report)
    assert "not an RSS or Atom feed" in skipped[f"{server}/pages/council.html"]
    assert skipped[f"{server}/missing-feed"] == "HTTP 404"
    assert len(report.added) == 5, report.summary()
    docs = {d.title: d for d in svc.documents()}
    council = docs["Brindle council votes to rebuild the river bridge"]
    assert (council.outlet, council.date, council.date_source) == ("The Brindle Courier", "2024-03-05",
                                                                   "page markup")
    library = docs["Library opens on Sundays from April"]  # no link: the feed's own text
    assert (library.outlet, library.date, library.date_source, library.url) == (
        "The Brindle Courier", "2024-03-06", "feed", None)
    assert "1,300 signatures" in svc.document(library.doc_id).text
    gone = docs["A story whose page is gone"]  # page 404: the feed's summary stands in
    assert svc.document(gone.doc_id).text == "Rowing club elects its first woman captain in ninety years."
    assert gone.source == rss
    harbour = docs["Harbour pilots strike over night shifts"]
    assert harbour.outlet == "Coastal Wire"  # the page names no site: the feed's title does
    festival = docs["Lantern festival draws record crowd"]
    assert (festival.outlet, festival.date) == ("Valley Post", "2023-11-12")
    assert _assert_offsets_exact(svc) >= 10

    hits = Handler.hits.get("/pages/council.html", 0)
    again = svc.ingest_feeds([rss, atom])
    assert again.passages_embedded == 0 and not again.added and len(again.unchanged) == 5
    assert Handler.hits.get("/pages/council.html", 0) == hits  # seen items are not fetched again


def test_same_story_by_feed_and_by_upload_is_a_duplicate(svc: RagService, server: str) -> None:
    from index.article import ArticleError

    svc.ingest_feeds([f"{server}/feeds/rss.xml"])
    before = len(svc.documents())
    with pytest.raises(ArticleError, match="duplicate of 127.0.0.1-council.html"):
        svc.add_document("courier-bridge.html", (PAGES / "council.html").read_bytes())
    assert len(svc.documents()) == before
    by_link = svc.ingest_urls([f"{server}/pages/council.html"])  # the same address: the same article
    assert by_link.passages_embedded == 0 and by_link.unchanged


def test_feed_poller_indexes_new_feeds_and_records_status(svc: RagService, server: str) -> None:
    from ui.feed_polling import FeedWatch

    watch = FeedWatch(svc)
    watch.follow(f"{server}/feeds/atom.xml")
    with pytest.raises(ValueError, match="http"):
        watch.follow("file:///etc/passwd")
    with watch.polling(interval=0.2):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(svc.documents()) < 2:
            time.sleep(0.2)
    assert {d.title for d in svc.documents()} == {"Harbour pilots strike over night shifts",
                                                   "Lantern festival draws record crowd"}
    [status] = watch.statuses()
    assert status.url == f"{server}/feeds/atom.xml" and not status.configured
    assert status.last_polled and status.last_result.startswith(("added 2", "added 0"))


# --- dumps -----------------------------------------------------------------------------------------------


def test_jsonl_and_csv_dumps_with_bad_rows(svc: RagService) -> None:
    jsonl = svc.ingest_dump(NEWS / "dumps" / "articles.jsonl",
                            FieldMap(text="body", title="headline", url="link", date="published", outlet="source"))
    assert sorted(jsonl.added) == ["articles-a-101", "articles-a-102", "articles-a-105"]
    assert [where for where, _ in jsonl.skipped] == ["articles.jsonl:2", "articles.jsonl:4"]
    assert "not JSON" in jsonl.skipped[0][1] and "no text in field 'body'" in jsonl.skipped[1][1]
    csv_report = svc.ingest_dump(NEWS / "dumps" / "articles.csv", FieldMap())
    assert sorted(csv_report.added) == ["articles-c-1", "articles-c-3"]
    assert csv_report.skipped == [("articles.csv:5", "2 fields where the header has 6")]

    docs = {d.doc_id: d for d in svc.documents()}
    ferry = docs["articles-a-101"]
    assert (ferry.title, ferry.outlet, ferry.date, ferry.date_source, ferry.url, ferry.source) == (
        "Ferry timetable changes for winter", "Valley Ferry News", "2023-10-20", "dump",
        "https://valleyferry.example/news/winter-timetable", "articles.jsonl:1")
    bakery = docs["articles-a-102"]
    assert (bakery.outlet, bakery.date) == ("Valley Post", None)  # from its dateline; 12/11/2023 is ambiguous
    barrier = docs["articles-c-3"]
    assert (barrier.date, barrier.outlet, barrier.url) == ("2024-03-07", "unknown", None)
    assert _assert_offsets_exact(svc) >= 10
    again = svc.ingest_dump(NEWS / "dumps" / "articles.csv", FieldMap())
    assert again.passages_embedded == 0 and sorted(again.unchanged) == ["articles-c-1", "articles-c-3"]


def test_dump_rows_are_indexed_in_batches(tmp_path: Path, embedder) -> None:
    (tmp_path / "corpus").mkdir()
    svc = _service(tmp_path, embedder, dump_batch_rows=2)
    dump = tmp_path / "rows.jsonl"
    dump.write_text("".join(json.dumps({"text": f"Story number {i} says the river rose {i} centimetres on "
                                                f"Tuesday.", "id": i}) + "\n" for i in range(7))
                    + json.dumps({"text": "Story number 0 says the river rose 0 centimetres on Tuesday.",
                                  "id": "copy"}) + "\n")
    calls = []
    ingest = svc.ingest
    svc.ingest = lambda paths=None, progress=False: calls.append(len(paths)) or ingest(paths, progress)
    report = svc.ingest_dump(dump, FieldMap())
    assert calls == [2, 2, 2, 2]
    assert len(report.added) == 7 and report.skipped == [("rows.jsonl:8", "duplicate of rows-0 (identical content)")]
    assert not (tmp_path / "corpus" / "dumps" / "rows" / "rows-copy.txt").exists()  # the refused copy is taken back


def test_a_100000_row_dump_is_read_as_a_stream(tmp_path: Path) -> None:
    dump = tmp_path / "big.jsonl"
    with dump.open("w", encoding="utf-8") as fh:
        for i in range(100_000):
            fh.write(json.dumps({"id": i, "title": f"Story {i}", "text": f"Row {i}: " + "the council met. " * 10})
                     + "\n")
    tracemalloc.start()
    rows = bad = 0
    for row in read_dump(dump, FieldMap()):
        rows += isinstance(row, Row)
        bad += isinstance(row, BadRow)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert (rows, bad) == (100_000, 0)
    assert peak < dump.stat().st_size / 20, f"peak {peak} bytes for a {dump.stat().st_size}-byte dump"


def test_dump_problems_are_reported_not_raised(svc: RagService, tmp_path: Path) -> None:
    report = svc.ingest_dump(tmp_path / "absent.jsonl", FieldMap())
    assert report.skipped and "No such file" in report.skipped[0][1]
    odd = tmp_path / "rows.csv"
    odd.write_bytes(b"id,text\n1,\"Caf\xe9 owners in Keston protest the new parking fees on Friday.\"\n"
                    b"2,The harbour reopened on Monday after the storm.\n")
    report = svc.ingest_dump(odd, FieldMap())
    assert report.skipped == [("rows.csv:2", "not UTF-8")] and report.added == ["rows-2"]


# --- the command line and the HTTP routes ----------------------------------------------------------------


def test_cli_ingests_links_feeds_and_dumps(svc: RagService, server: str, monkeypatch, capsys) -> None:
    from rag import cli

    monkeypatch.setattr(cli, "_service", lambda: svc)
    dump = NEWS / "dumps" / "articles.jsonl"
    code = cli.main(["ingest", f"{server}/pages/harbour.html", str(dump), "--feed", f"{server}/feeds/rss.xml",
                     "--text-field", "body", "--title-field", "headline", "--url-field", "link",
                     "--date-field", "published", "--outlet-field", "source"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("added 7,"), out  # 1 page + 3 feed items + 3 dump rows
    assert "articles.jsonl:2: not JSON" in out and "articles.jsonl:4: no text" in out


def test_http_routes_for_links_and_feeds(svc: RagService, server: str) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.sources_api import sources_router

    app = FastAPI()
    app.include_router(sources_router(svc, writer=lambda: None, reader=lambda: None))
    client = TestClient(app)
    got = client.post("/api/documents/url", json={"url": f"{server}/pages/festival.htm"})
    assert got.status_code == 200 and len(got.json()["added"]) == 1
    got = client.post("/api/documents/url", json={"url": "http://169.254.169.254/"})
    assert got.status_code == 200 and got.json()["skipped"][0][1].startswith("refused")
    assert client.post("/api/feeds", json={"url": "javascript:alert(1)"}).status_code == 422
    got = client.post("/api/feeds", json={"url": f"{server}/feeds/atom.xml"})
    assert got.status_code == 200
    assert len(got.json()["added"]) == 1 and len(got.json()["unchanged"]) == 1  # festival came by link already
    feeds = client.get("/api/feeds").json()
    assert [f["url"] for f in feeds] == [f"{server}/feeds/atom.xml"] and feeds[0]["last_polled"]


def test_api_mounts_the_source_routes_behind_the_key(tmp_path: Path, embedder, server: str) -> None:
    from fastapi.testclient import TestClient

    from ui.api import create_app

    (tmp_path / "corpus").mkdir()
    svc = _service(tmp_path, embedder)
    app = create_app(svc.settings.model_copy(update={"api_key": "k"}), service=svc)
    with TestClient(app) as client:
        url = {"url": f"{server}/pages/council.html"}
        assert client.post("/api/documents/url", json=url).status_code == 401
        assert client.post("/api/feeds", json=url).status_code == 401
        ok = client.post("/api/documents/url", json=url, headers={"Authorization": "Bearer k"})
        assert ok.status_code == 200 and len(ok.json()["added"]) == 1
        doc_id = ok.json()["added"][0]
        doc = client.get(f"/api/documents/{doc_id}").json()
        assert doc["source"] == url["url"] and doc["date_source"] == "page markup"
