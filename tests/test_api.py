"""The HTTP API against a real uvicorn server, real model and real embedded Chroma."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.conftest import HELD_OUT_ANSWER, HELD_OUT_Q, make_settings

from rag.service import RagService
from ui.api import create_app
from ui.server import serve_in_thread

KEY = "test-key-0123456789"
# A fictional event with one unique fact, so that an answer can only come from this upload.
NEW_NAME = "glimmerfen_lantern_festival.txt"
NEW_ID = "glimmerfen_lantern_festival"
NEW_ARTICLE = """# Glimmerfen Lantern Festival sets a record

By Nordic Wire

March 3, 2024

The lakeside town of Glimmerfen held its annual Lantern Festival on Saturday evening.
Organisers said that 48,213 paper lanterns were released over Lake Vessamir, a new record for the festival.
The festival's founder, Orla Brennick, lit the first lantern at dusk while a brass band played on the pier.
Next year's festival is planned for the first Saturday of March.
"""
NEW_Q = "How many paper lanterns were released at the Glimmerfen Lantern Festival?"


@pytest.fixture(scope="module")
def api_service(tmp_path_factory, embedder) -> RagService:
    """Its own corpus copy and index: upload and delete write to them."""
    svc = RagService(make_settings(tmp_path_factory.mktemp("api")), embedder=embedder)
    svc.ingest()
    return svc


@pytest.fixture(scope="module")
def base_url(api_service):
    with serve_in_thread(create_app(api_service.settings, service=api_service)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=120) as c:
        yield c


def ask(client: httpx.Client, question: str, **extra) -> dict:
    r = client.post("/api/ask", json={"question": question, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def upload(client: httpx.Client, name: str, data: bytes, headers: dict | None = None) -> httpx.Response:
    return client.post("/api/documents", files={"file": (name, data, "text/plain")}, headers=headers or {})


def test_ask_answers_with_exact_citations(client):
    body = ask(client, HELD_OUT_Q)
    assert HELD_OUT_ANSWER in body["answer"] and not body["abstained"]
    assert body["question"] == HELD_OUT_Q and body["citations"]
    for c in body["citations"]:
        doc = client.get(f"/api/documents/{c['doc_id']}").json()
        assert doc["text"][c["start"]:c["end"]] == c["quote"]
    assert any(HELD_OUT_ANSWER in c["quote"] for c in body["citations"])
    assert len(ask(client, HELD_OUT_Q, top_k=2)["citations"]) <= 2


def test_off_topic_question_abstains(client):
    body = ask(client, "Who won the 2022 FIFA World Cup?")
    assert body["abstained"] and body["answer"].startswith("The articles don't say")


@pytest.mark.parametrize("question, message", [("", "empty"), ("   \n\t ", "empty"), ("x" * 2001, "longer than 2000")])
def test_bad_questions_are_422_with_reason(client, question, message):
    for path in ("/api/ask", "/api/ask/stream"):
        r = client.post(path, json={"question": question})
        assert r.status_code == 422 and message in r.json()["detail"], r.text
    assert client.post("/api/ask", json={}).status_code == 422
    assert client.post("/api/ask", json={"question": "hi", "history": [{"role": "system", "content": "x"}]}) \
        .status_code == 422


def test_stream_says_what_happens_then_gives_the_answer(client):
    """Honest streaming: a status line naming how many articles are searched, then the whole answer."""
    with client.stream("POST", "/api/ask/stream", json={"question": HELD_OUT_Q}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in r.iter_lines() if line]
    status, final = events
    n = len(client.get("/api/documents").json())
    assert status == {"type": "status", "text": f"searching {n} articles…", "articles": n}
    assert final["type"] == "answer" and final["citations"] and HELD_OUT_ANSWER in final["answer"]


def test_documents_list_and_single(client, api_service):
    docs = client.get("/api/documents").json()
    assert len(docs) == 5 and {"doc_id", "title", "outlet", "date", "url", "passages"} <= set(docs[0])
    doc = client.get(f"/api/documents/{docs[0]['doc_id']}").json()
    path = api_service.settings.corpus_dir / f"{docs[0]['doc_id']}.txt"
    assert doc["text"] == path.read_text(encoding="utf-8-sig") and doc["title"] == docs[0]["title"]


def test_unknown_ids_are_404(client):
    assert client.get("/api/documents/no_such_doc").status_code == 404
    assert client.delete("/api/documents/no_such_doc").status_code == 404
    assert "no_such_doc" in client.get("/api/documents/no_such_doc").json()["detail"]


def test_upload_ask_then_delete(client, api_service):
    assert "48,213" not in ask(client, NEW_Q)["answer"]
    r = upload(client, NEW_NAME, NEW_ARTICLE.encode())
    assert r.status_code == 200, r.text
    assert r.json()["added"] and NEW_ID in {d["doc_id"] for d in r.json()["documents"]}
    file = api_service.settings.corpus_dir / NEW_NAME
    assert file.is_file()

    body = ask(client, NEW_Q)
    assert "48,213" in body["answer"] and body["citations"][0]["doc_id"] == NEW_ID
    doc = client.get(f"/api/documents/{NEW_ID}").json()
    assert doc["outlet"] == "Nordic Wire" and doc["date"] == "2024-03-03"

    r = client.delete(f"/api/documents/{NEW_ID}")
    assert r.status_code == 200 and r.json()["deleted"] == NEW_ID
    assert client.get(f"/api/documents/{NEW_ID}").status_code == 404
    assert not file.exists()
    after = ask(client, NEW_Q)
    assert "48,213" not in after["answer"] and NEW_ID not in {c["doc_id"] for c in after["citations"]}
    assert len(client.get("/api/documents").json()) == 5


def test_upload_rejections(client, api_service):
    limit = api_service.settings.max_upload_bytes
    r = upload(client, "big.txt", b"word " * (limit // 5 + 1))  # just over: checked on the bytes read
    assert r.status_code == 413 and str(limit) in r.json()["detail"]
    assert upload(client, "huge.txt", b"x" * (limit + 200_000)).status_code == 413  # refused by Content-Length
    for name, data, why in [("notes.pdf", b"Some article text long enough.", "end in .txt, .md, .html, .htm"),
                            ("bad name.txt", b"Some article text here.", "file name"),
                            ("binary.txt", b"\x00\x01\x02" * 100, "binary"),
                            ("empty.md", b"", "no article text")]:
        r = upload(client, name, data)
        assert r.status_code in (400, 422) and why in r.json()["detail"], (name, r.text)
    # a path in the file name is cut to its last part: the file lands in the corpus folder, nowhere else
    assert upload(client, "../escape.txt", NEW_ARTICLE.encode()).status_code == 200
    assert not (api_service.settings.corpus_dir.parent / "escape.txt").exists()
    assert client.delete("/api/documents/escape").status_code == 200
    assert sorted(p.name for p in api_service.settings.corpus_dir.iterdir()) == \
        sorted(f"{d['doc_id']}.txt" for d in client.get("/api/documents").json())


def test_health_and_openapi_docs(client):
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["articles"] == 5 and h["passages"] > 0
    assert h["embed_model"] and h["store"] == "embedded"
    docs = client.get("/docs").text
    assert "swagger" in docs.lower() and "cdn" not in docs and "/docs-assets/swagger-ui-bundle.js" in docs
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/ask/stream", "/api/documents", "/api/documents/{doc_id}", "/api/health"} <= set(paths)
    assert "citation" in paths["/api/ask"]["post"]["description"]
    assert client.get("/").status_code == 200  # the chat UI


def test_no_route_serves_corpus_or_data_files(client, api_service):
    s = api_service.settings
    seed = next(s.corpus_dir.glob("*.txt"))
    data_file = next(p for p in s.data_dir.rglob("*") if p.is_file())
    for target in (seed, data_file, "/etc/passwd"):
        for prefix in ("/file=", "/gradio_api/file=", "/gradio_api/file/", "/static/", "/assets/"):
            r = client.get(f"{prefix}{target}")
            assert r.status_code in (403, 404), (prefix, target, r.status_code)
    r = client.get(f"/gradio_api/file={seed.parent}/../corpus/{seed.name}")
    assert r.status_code in (403, 404)


def test_api_key_guards_writes_only(api_service):
    settings = api_service.settings.model_copy(update={"api_key": KEY})
    with serve_in_thread(create_app(settings, service=api_service)) as url, \
            httpx.Client(base_url=url, timeout=120) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
            r = upload(c, "keyed.txt", NEW_ARTICLE.encode(), headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert c.delete("/api/documents/000_7461797e538ad034", headers=headers).status_code == 401
        good = {"Authorization": f"Bearer {KEY}"}
        assert upload(c, "keyed.txt", NEW_ARTICLE.encode(), good).status_code == 200
        assert c.delete("/api/documents/keyed", headers=good).status_code == 200
        # reads stay open
        assert HELD_OUT_ANSWER in ask(c, HELD_OUT_Q)["answer"]
        assert c.get("/api/documents").status_code == 200
        assert c.get("/api/documents/000_7461797e538ad034").status_code == 200
    assert not (api_service.settings.corpus_dir / "keyed.txt").exists()


def test_api_key_reads_guards_reads(api_service):
    settings = api_service.settings.model_copy(update={"api_key": KEY, "api_key_reads": True})
    good = {"Authorization": f"Bearer {KEY}"}
    with serve_in_thread(create_app(settings, service=api_service)) as url, \
            httpx.Client(base_url=url, timeout=120) as c:
        reads = [("POST", "/api/ask", {"question": HELD_OUT_Q}), ("POST", "/api/ask/stream", {"question": HELD_OUT_Q}),
                 ("GET", "/api/documents", None), ("GET", "/api/documents/000_7461797e538ad034", None)]
        for method, path, body in reads:
            assert c.request(method, path, json=body).status_code == 401, path
            assert c.request(method, path, json=body, headers={"Authorization": "Bearer no"}).status_code == 401
            assert c.request(method, path, json=body, headers=good).status_code == 200, path
        assert c.get("/api/health").status_code == 200  # liveness stays open
        # the chat UI reads too: its API needs a login (password = the key)
        assert c.get("/gradio_api/info").status_code == 401
        login = c.post("/login", data={"username": "me", "password": KEY})
        assert login.status_code == 200, login.text
        assert c.get("/gradio_api/info").status_code == 200


def test_fifty_concurrent_asks(client):
    questions = [HELD_OUT_Q, "Who won the 2022 FIFA World Cup?"] * 25
    with ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(pool.map(lambda q: client.post("/api/ask", json={"question": q}), questions))
    assert [r.status_code for r in responses] == [200] * 50
    for q, r in zip(questions, responses):
        assert (HELD_OUT_ANSWER in r.json()["answer"]) == (q == HELD_OUT_Q)


def test_asks_while_an_upload_is_ingested(client, api_service):
    result: dict = {}
    uploader = threading.Thread(target=lambda: result.update(r=upload(client, NEW_NAME, NEW_ARTICLE.encode())))
    with ThreadPoolExecutor(max_workers=8) as pool:
        uploader.start()
        futures = []
        while uploader.is_alive() or len(futures) < 16:
            futures.append(pool.submit(client.post, "/api/ask", json={"question": HELD_OUT_Q}))
            time.sleep(0.02)
        uploader.join()
        responses = [f.result() for f in futures]
    assert result["r"].status_code == 200, result["r"].text
    assert all(r.status_code == 200 and HELD_OUT_ANSWER in r.json()["answer"] for r in responses)
    assert "48,213" in ask(client, NEW_Q)["answer"]
    assert client.delete(f"/api/documents/{NEW_ID}").status_code == 200


# --- security (issue 12 items 1, 6, 8; issue 16: every write path's key check) -------------------------------

SECRET = "The vault code is 7319-ALPHA and nobody outside ops may read it."


def gradio_call(c: httpx.Client, api_name: str, data: list, headers: dict | None = None) -> str:
    """One event through Gradio's raw HTTP API (what any script can send): the SSE text it answers."""
    r = c.post(f"/gradio_api/call/{api_name}", json={"data": data}, headers=headers or {})
    assert r.status_code == 200, r.text
    return c.get(f"/gradio_api/call/{api_name}/{r.json()['event_id']}", headers=headers or {}).text


def file_data(path) -> dict:
    return {"path": str(path), "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def test_chat_upload_refuses_server_paths(client, api_service, tmp_path):
    """A FileData naming a server path (not one uploaded through Gradio) must never reach the corpus."""
    notes = tmp_path / "ops_notes.txt"
    notes.write_text(f"# Ops notes\n\n{SECRET}\n", encoding="utf-8")
    link_dir = tmp_path / "gradio_lookalike"
    link_dir.mkdir()
    (link_dir / "linked_notes.txt").symlink_to(notes)
    before = {d["doc_id"] for d in client.get("/api/documents").json()}
    for target in (notes, link_dir / "linked_notes.txt", api_service.settings.corpus_dir / "../x/../corpus/"
                   / next(api_service.settings.corpus_dir.glob("*.txt")).name):
        out = gradio_call(client, "add_article", [[file_data(target)], ""])
        assert "7319-ALPHA" not in out and "Added" not in out, out
    assert {d["doc_id"] for d in client.get("/api/documents").json()} == before
    assert not list(api_service.settings.corpus_dir.glob("*notes*"))
    assert "7319-ALPHA" not in ask(client, "What is the vault code?")["answer"]


def test_chat_upload_accepts_only_this_apps_uploads(base_url, client):
    """The legitimate path: a file sent through Gradio's upload route first (gradio_client does that);
    the next question sees the article."""
    assert "Added" in client_add(base_url, NEW_ARTICLE)
    assert "48,213" in ask(client, NEW_Q)["answer"]
    assert client.delete(f"/api/documents/{NEW_ID}").status_code == 200


def client_add(base_url: str, text: str, key: str = "", headers: dict | None = None) -> str:
    """Upload NEW_NAME through the chat's add_article event with gradio_client; its status text."""
    import tempfile
    from pathlib import Path

    from gradio_client import Client, handle_file

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / NEW_NAME
        path.write_text(text, encoding="utf-8")
        chat = Client(base_url + "/", verbose=False, headers=headers)
        try:
            return chat.predict([handle_file(str(path))], key, api_name="/add_article")[0]
        finally:
            chat.close()


def test_security_headers_and_quiet_403(client, api_service):
    for path in ("/", "/api/health", "/docs", "/openapi.json", "/api/documents", "/gradio_api/info",
                 "/api/documents/no_such_doc"):
        h = client.get(path).headers
        assert h["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in h["content-security-policy"], path
        assert h["referrer-policy"] == "no-referrer", path
    target = str(api_service.settings.corpus_dir / "secret-name-XYZ.txt")
    r = client.get(f"/gradio_api/file={target}")
    assert r.status_code in (403, 404) and "secret-name-XYZ" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"


def test_only_http_urls_leave_the_api(client, api_service):
    corpus = api_service.settings.corpus_dir
    (corpus / "jsurl.txt").write_text("# Harbour fog closes Quillport ferry\n\nBy Coast Desk\n\n"
                                      "Dense fog closed the Quillport ferry for 31 hours on Tuesday.\n", encoding="utf-8")
    (corpus / "jsurl.meta.json").write_text(json.dumps({"url": "javascript:alert(document.cookie)"}), encoding="utf-8")
    try:
        api_service.ingest([corpus / "jsurl.txt"])
        assert client.get("/api/documents/jsurl").json()["url"] is None
        assert all(d["url"] is None or d["url"].startswith("http") for d in client.get("/api/documents").json())
        body = ask(client, "For how many hours was the Quillport ferry closed?")
        assert "31 hours" in body["answer"] and "javascript" not in json.dumps(body)
    finally:
        assert client.delete("/api/documents/jsurl").status_code == 200
        (corpus / "jsurl.meta.json").unlink(missing_ok=True)


@pytest.mark.parametrize("body", [b'{"question": "Who is \\ud800 Patrushev?"}',
                                  b'{"question": "Who is \xff\xfe Patrushev?"}',
                                  b'{"question": "ok?", "history": [{"role": "user", "content": "\\udfff"}]}'])
def test_lone_surrogate_or_bad_utf8_is_a_clear_422(client, body):
    for path in ("/api/ask", "/api/ask/stream"):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert "utf-8" in r.text.lower() or "unicode" in r.text.lower(), r.text


def test_api_key_guards_chat_upload_and_gradio_upload_route(api_service, tmp_path):
    """Issue 16: each check here fails when the chat's (or Gradio upload route's) key check is removed."""
    settings = api_service.settings.model_copy(update={"api_key": KEY})
    good = {"Authorization": f"Bearer {KEY}"}
    with serve_in_thread(create_app(settings, service=api_service)) as url, \
            httpx.Client(base_url=url, timeout=120) as c:
        # Gradio's own upload route stores nothing without the key
        r = c.post("/gradio_api/upload", files={"files": ("x.txt", b"stored?", "text/plain")})
        assert r.status_code == 401
        assert c.post("/gradio_api/upload", files={"files": ("x.txt", b"ok", "text/plain")}, headers=good) \
            .status_code == 200
        # the chat's add_article: uploaded with the key, but the event itself carries no / a wrong key
        for key in ("", "wrong"):
            status = client_add(url, NEW_ARTICLE, key=key, headers=good)
            assert "key" in status.lower() and "Added" not in status, status
            assert not (api_service.settings.corpus_dir / NEW_NAME).exists()
        assert "Added" in client_add(url, NEW_ARTICLE, key=KEY, headers=good)
        assert (api_service.settings.corpus_dir / NEW_NAME).exists()
        # the chat's delete: refused without the key, done with it
        for key in ("", "wrong"):
            out = gradio_call(c, "delete_article", [NEW_ID, key])
            assert "key" in out.lower(), out
            assert c.get(f"/api/documents/{NEW_ID}").status_code == 200
        out = gradio_call(c, "delete_article", [NEW_ID, KEY])
        assert c.get(f"/api/documents/{NEW_ID}").status_code == 404, out
        assert not (api_service.settings.corpus_dir / NEW_NAME).exists()


# --- conversations and feedback over HTTP --------------------------------------------------------------------

def test_conversations_crud_follow_up_and_export(client):
    me, other = {"X-Client-Id": "browser-a"}, {"X-Client-Id": "browser-b"}
    assert client.get("/api/conversations").status_code == 422  # whose? a client id is needed
    conv = client.post("/api/conversations", json={}, headers=me).json()
    first = client.post(f"/api/conversations/{conv['id']}/ask", headers=me,
                        json={"question": "How many countries approved the UN resolution?"}).json()
    assert "119" in first["answer"]["answer"]
    follow = client.post(f"/api/conversations/{conv['id']}/ask", headers=me,
                         json={"question": "and which one voted against it?"}).json()
    assert "Belarus" in follow["answer"]["answer"]  # the saved turns serve the follow-up
    listed = client.get("/api/conversations", headers=me).json()
    assert [c["id"] for c in listed] == [conv["id"]] and listed[0]["title"].startswith("How many countries")
    assert client.get("/api/conversations", headers=other).json() == []
    assert client.get(f"/api/conversations/{conv['id']}", headers=other).status_code == 404
    full = client.get(f"/api/conversations/{conv['id']}", headers=me).json()
    assert [m["role"] for m in full["messages"]] == ["user", "assistant"] * 2
    assert full["messages"][3]["answer"]["citations"][0]["quote"]
    md = client.get(f"/api/conversations/{conv['id']}/export?format=md", headers=me)
    assert md.headers["content-type"].startswith("text/markdown")
    c = follow["answer"]["citations"][0]
    assert f"[{c['doc_id']}:{c['start']}-{c['end']}]" in md.text and "Belarus" in md.text
    assert client.get(f"/api/conversations/{conv['id']}/export", headers=me).json()["id"] == conv["id"]
    renamed = client.patch(f"/api/conversations/{conv['id']}", json={"title": "UN vote"}, headers=me).json()
    assert renamed["title"] == "UN vote"
    assert client.post("/api/feedback", headers=other, json={"message_id": follow["message_id"], "rating": 1}) \
        .status_code == 404
    assert client.post("/api/feedback", headers=me, json={"message_id": follow["message_id"], "rating": 1}) \
        .status_code == 201
    assert client.delete(f"/api/conversations/{conv['id']}", headers=me).status_code == 204
    assert client.get("/api/conversations", headers=me).json() == []
