"""Gradio chat over :class:`rag.service.RagService`: a thin shell, no retrieval or answering here.

Answer first (the new answer scrolls into view at its top), saved conversations (server-side, see
``rag.conversations``), articles managed in the sidebar, feedback on each answer.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
from gradio import utils as gr_utils

from index.article import ARTICLE_SUFFIXES, ArticleError
from rag.conversations import Conversations, owner_id, to_markdown
from rag.models import Answer, Filters
from rag.report import CSS as REPORT_CSS
from rag.service import NotFound, QuestionError, RagService
from rag.settings import Settings
from ui.evaluate_tab import build_evaluate_tab
from ui.render import esc, plain, render_answer, render_documents, render_status, show
from ui.web_security import CHAT_KEY_COOKIE, has_write_key, uploaded_file

CSS = """
.rag-answer { font-size: 1.05em; margin-bottom: .5em; }
.rag-refusal .rag-answer { border-left: 4px solid #d97706; padding-left: .6em; }
.rag-hl { background: #fde68a; color: #111; padding: 0 .1em; font-weight: normal; font-size: inherit; }
.rag-status { color: var(--body-text-color-subdued); font-style: italic; }
.rag-sources { font-size: .92em; }
.rag-cite { margin: .35em 0; padding: .35em .6em; border: 1px solid var(--border-color-primary); border-radius: 6px; }
.rag-title { font-weight: 600; font-size: inherit; }
.rag-cite blockquote { margin: .25em 0; padding-left: .6em; border-left: 3px solid #60a5fa; }
.rag-cite summary, .rag-more > summary { cursor: pointer; color: var(--body-text-color); }
.rag-ids span { font-size: .85em; color: var(--body-text-color); }
.rag-rel { display: inline-block; width: 60px; height: 6px; background: #e5e7eb; border-radius: 3px;
           vertical-align: middle; margin-left: .3em; }
.rag-rel-fill { display: block; height: 6px; border-radius: 3px; background: #2563eb; }
""" + "".join(f".rag-w{i} {{ width: {i * 10}%; }}\n" for i in range(11)) + """
.rag-mismatch { color: #b91c1c; font-weight: 600; }
.rag-article { max-height: 18em; overflow-y: auto; padding: .4em; }
.rag-cite mark, .rag-article mark { background: #fde68a; color: #111; }
.rag-docs li { margin-bottom: .4em; overflow-wrap: anywhere; }
.rag-del { margin-left: .4em; font-size: .8em; border: 1px solid #b91c1c; color: #b91c1c; border-radius: 4px;
           padding: 0 .4em; background: transparent; cursor: pointer; }
.rag-hidden { display: none !important; }
.form:not(:has(> :not(.rag-hidden))) { display: none !important; }  /* Gradio's box around hidden fields only */
.rag-pick .rag-cite { cursor: pointer; outline: 2px dashed #60a5fa; outline-offset: 1px; }
.rag-pick .rag-cite:hover, .rag-pick .rag-cite:focus { background: rgba(96, 165, 250, .12); }
.rag-pick .rag-cite.rag-picked { outline: 3px solid #16a34a; background: rgba(22, 163, 74, .10); }
#rag-chatbot .message-wrap { overflow-wrap: anywhere; }
#rag-eval-report { max-width: 100%; overflow-x: hidden; }
@media (max-width: 768px) { .gradio-container { padding: 0 4px !important; } }
"""

# Scroll each new answer into view at its top; close the sidebar on a phone; route the article list's
# delete buttons to the hidden delete event; send a typed key to /api/chat-key (an HttpOnly cookie).
# The eval report's stylesheet goes in as is: Gradio's processing of ``css`` drops its @container rules.
HEAD = f"<style>{REPORT_CSS}</style>" + """<script>
(() => {
  const seen = new WeakSet();
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('.rag-final')) {
      if (seen.has(el)) continue;
      seen.add(el);
      if (!document.body.dataset.ragReady) continue;
      el.scrollIntoView({block: 'start'});
    }
  }).observe(document.documentElement, {childList: true, subtree: true});
  const ready = () => {
    document.querySelectorAll('.rag-final').forEach(el => { seen.add(el); });
    document.body.dataset.ragReady = '1';
    if (window.innerWidth <= 768) {
      const open = document.querySelector('.sidebar.open .toggle-button');
      if (open) open.click();
    }
  };
  const wait = setInterval(() => {
    if (document.querySelector('#question textarea')) { clearInterval(wait); ready(); }
  }, 100);
  const setValue = (id, value) => {
    const box = document.querySelector(`#${id} textarea, #${id} input`);
    box.value = value;
    box.dispatchEvent(new Event('input', {bubbles: true}));
  };
  // After a thumbs down, that answer's cards become buttons naming the passage holding the right answer.
  const unpick = () => document.querySelectorAll('.rag-pick').forEach(m => {
    m.classList.remove('rag-pick');
    m.querySelectorAll('.rag-cite').forEach(c => { c.removeAttribute('tabindex'); c.removeAttribute('role'); });
  });
  const pick = card => {
    card.closest('.rag-pick').querySelectorAll('.rag-picked').forEach(c => c.classList.remove('rag-picked'));
    card.classList.add('rag-picked');
    setValue('rag-fb-cite', card.querySelector('.rag-src').className.match(/rag-cite-([0-9]+)/)[1]);
    setTimeout(() => document.querySelector('#rag-fb-pick').click(), 50);
  };
  document.addEventListener('keydown', e => {
    const card = e.target.closest && e.target.closest('.rag-pick .rag-cite');
    if (card && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); pick(card); }
  });
  // Capture phase: the thumb's own handler re-renders it, detaching the clicked icon before bubbling.
  document.addEventListener('click', e => {
    const vote = e.target.closest('#rag-chatbot button[aria-label="Dislike"], #rag-chatbot button[aria-label="Like"]');
    if (!vote) return;
    unpick();
    const answer = vote.closest('.message-buttons')?.previousElementSibling?.querySelector('.rag-final');
    if (!answer || vote.getAttribute('aria-label') !== 'Dislike') return;
    answer.classList.add('rag-pick');
    answer.querySelectorAll('.rag-cite').forEach(c => { c.tabIndex = 0; c.setAttribute('role', 'button'); });
  }, true);
  document.addEventListener('click', e => {
    if (e.target.closest('#rag-fb-send')) { unpick(); return; }  // at once: the server may confirm within 50 ms
    const card = e.target.closest('.rag-pick .rag-cite');
    if (card && !e.target.closest('a, summary, .rag-article')) { pick(card); return; }
    const del = e.target.closest('.rag-del');
    if (!del || !confirm(`Delete article ${del.dataset.doc}?`)) return;
    setValue('rag-del-id', del.dataset.doc);
    setTimeout(() => document.querySelector('#rag-del-btn').click(), 50);
  });
  document.addEventListener('change', e => {
    if (!e.target.closest('#rag-key')) return;
    fetch('api/chat-key', {method: 'POST', headers: {Authorization: 'Bearer ' + e.target.value}});
  });
})();
</script>"""

# Questions the bundled seed articles answer (not from the evaluation set); pass your own to
# build_chat(examples=...) for another corpus.
EXAMPLES = [
    "Why did Myanmar's junta leader travel to Moscow?",
    "Who is Nikolai Patrushev?",
    "Who is Aung San Suu Kyi?",
]


def to_history(messages: list[dict]) -> list[dict[str, str]]:
    """Gradio chat history as the service's [{"role", "content"}] list of plain-text turns."""
    return [{"role": m["role"], "content": plain(m.get("content"))}
            for m in messages if m.get("role") in ("user", "assistant")]


def scope_filters(scope: list[str] | None) -> Filters | None:
    """The sidebar's "ask within" picks (``doc:ID`` / ``outlet:NAME``) as retrieval filters."""
    docs = [s[4:] for s in scope or [] if s.startswith("doc:")]
    outlets = [s[7:] for s in scope or [] if s.startswith("outlet:")]
    filters = Filters(doc_ids=docs or None, outlets=outlets or None)
    return None if filters.empty() else filters


def build_chat(service: RagService, settings: Settings | None = None, examples: list[str] | None = None,
               conversations: Conversations | None = None) -> gr.Blocks:
    """Chat with cited answers; a sidebar holds conversations and the articles (upload, delete, filter).

    ``settings`` (default: the service's) give the upload limit and the key writes need.
    """
    settings = settings or service.settings
    store = conversations or Conversations.from_settings(service.settings)
    upload_dir = gr_utils.get_upload_folder()

    def may_write(key: str, request: gr.Request | None) -> bool:
        """No key configured, or the typed key, or this browser's unlock cookie (see /api/chat-key)."""
        cookie = request.cookies.get(CHAT_KEY_COOKIE) if request is not None else None
        return has_write_key(settings.api_key, f"Bearer {key}" if key else None, cookie)

    def owner(client: str | None, request: gr.Request | None) -> str:
        keyed = settings.api_key if settings.api_key and may_write("", request) else None
        return owner_id(client or "anonymous", keyed)

    def texts_for(result: Answer) -> dict[str, str | None]:
        texts: dict[str, str | None] = {}
        for doc_id in {c.doc_id for c in result.citations}:
            try:
                texts[doc_id] = service.document(doc_id).text
            except NotFound:
                texts[doc_id] = None
        return texts

    # --- articles ------------------------------------------------------------

    def documents() -> str:
        return render_documents(service.documents(), can_delete=True)

    def scope_choices() -> gr.Dropdown:
        docs = service.documents()
        outlets = sorted({d.outlet for d in docs})
        return gr.Dropdown(choices=[(f"Outlet: {o}", f"outlet:{o}") for o in outlets]
                           + [(f"Article: {d.title[:60]}", f"doc:{d.doc_id}") for d in docs])

    def refresh(seen: int):
        """Re-render the article list when any process changed the index since this page last looked."""
        generation = service.store.generation()
        if generation == seen:
            return gr.skip(), gr.skip(), seen
        return documents(), scope_choices(), generation

    def add_one(name: str, path: str) -> str:
        try:
            file = uploaded_file(path, upload_dir)
            if file.stat().st_size > settings.max_upload_bytes:
                raise ArticleError(f"file is larger than {settings.max_upload_bytes} bytes")
            report = service.add_document(file.name, file.read_bytes())
        except (ArticleError, PermissionError) as exc:
            return f"{name}: not added: {exc}"
        what = "updated" if report.updated else "added" if report.added else "unchanged"
        return f"{name}: {what} ({report.passages_embedded} passages indexed)"

    def upload(files: list[str] | None, key: str = "", request: gr.Request = None) -> tuple[str, str, None]:
        """Add one or many article files (.txt, .md, saved pages .html/.htm); one result line per file."""
        if not files:
            return f"Choose {', '.join(ARTICLE_SUFFIXES)} files first.", documents(), None
        if not may_write(key, request):
            return "Not added: wrong or missing API key.", documents(), None
        lines = [add_one(Path(f).name, f) for f in files]
        added = sum(": added" in line or ": updated" in line for line in lines)
        return f"Added {added} of {len(lines)}.\n" + "\n".join(lines), documents(), None

    def delete(doc_id: str, key: str = "", request: gr.Request = None) -> tuple[str, str]:
        """Remove one article (needs the key when RAG_API_KEY is set)."""
        if not may_write(key, request):
            return "Not deleted: wrong or missing API key.", documents()
        try:
            service.delete_document(doc_id)
        except NotFound:
            return f"No article {doc_id!r}.", documents()
        return f"Deleted {doc_id}.", documents()

    # --- conversations -------------------------------------------------------

    def conv_list(me: str, selected: str | None) -> gr.Radio:
        return gr.Radio(choices=[(c["title"], c["id"]) for c in store.list(me)], value=selected)

    def start(client: str | None, request: gr.Request):
        """On page load: this browser's id (made once, kept in its storage) and its newest conversation."""
        client = client or uuid.uuid4().hex
        me = owner(client, request)
        convs = store.list(me)
        cid = convs[0]["id"] if convs else None
        chat, ids = load_messages(me, cid)
        return client, conv_list(me, cid), cid, chat, ids, documents(), scope_choices(), gr.update(interactive=True)

    def load_messages(me: str, cid: str | None) -> tuple[list[dict], list[int | None]]:
        if not cid:
            return [], []
        try:
            conv = store.get(me, cid)
        except KeyError:
            return [], []
        chat, ids = [], []
        for m in conv["messages"]:
            if m["role"] == "user":
                chat.append({"role": "user", "content": m["content"]})
            else:
                result = Answer(**m["answer"])
                chat.append({"role": "assistant", "content": render_answer(result, texts_for(result))})
            ids.append(m["id"])
        return chat, ids

    def switch(cid: str | None, client: str, request: gr.Request):
        chat, ids = load_messages(owner(client, request), cid)
        return cid, chat, ids

    def new_conversation(client: str, request: gr.Request):
        me = owner(client, request)
        cid = store.create(me)["id"]
        return cid, conv_list(me, cid), [], []

    def rename(cid: str | None, title: str, client: str, request: gr.Request):
        me = owner(client, request)
        if cid and title.strip():
            store.rename(me, cid, title)
        return conv_list(me, cid)

    def remove(cid: str | None, client: str, request: gr.Request):
        me = owner(client, request)
        if cid:
            store.delete(me, cid)
        return None, conv_list(me, None), [], []

    def export(cid: str | None, client: str, kind: str, request: gr.Request) -> str | None:
        if not cid:
            return None
        conv = store.get(owner(client, request), cid)
        out = Path(tempfile.mkdtemp(prefix="rag-export-")) / f"conversation-{cid[:8]}.{kind}"
        out.write_text(to_markdown(conv) if kind == "md" else json.dumps(conv, indent=2), encoding="utf-8")
        return str(out)

    def export_json(cid: str | None, client: str, request: gr.Request) -> str | None:
        return export(cid, client, "json", request)

    def export_md(cid: str | None, client: str, request: gr.Request) -> str | None:
        return export(cid, client, "md", request)

    # --- asking --------------------------------------------------------------

    def respond(message: str, chat: list[dict], ids: list, cid: str | None, client: str, scope: list[str],
                request: gr.Request) -> Iterator[tuple]:
        """Say what is happening ("Searching N articles…"), then show the whole answer at once."""
        message = (message or "").strip()
        if not message:
            yield gr.skip(), chat, ids, cid, gr.skip()
            return
        history = to_history(chat)
        chat = chat + [{"role": "user", "content": message}]
        yield "", chat + [{"role": "assistant", "content": render_status(len(service.documents()))}], \
            ids, cid, gr.skip()
        filters = scope_filters(scope)
        try:
            result = service.ask(message, history=history, **({"filters": filters} if filters else {}))
        except QuestionError as exc:
            yield "", chat + [{"role": "assistant", "content": f"<b>Cannot ask that:</b> {esc(str(exc))}"}], \
                ids + [None, None], cid, gr.skip()
            return
        me = owner(client, request)
        new = cid is None
        if new:
            cid = store.create(me)["id"]
        answer_id = store.add_turn(me, cid, message, result)
        chat = chat + [{"role": "assistant", "content": render_answer(result, texts_for(result))}]
        yield "", chat, ids + [None, answer_id], cid, conv_list(me, cid)

    # --- feedback ------------------------------------------------------------

    def vote(ids: list, client: str, request: gr.Request, data: gr.LikeData):
        """Thumbs up/down on an answer; a thumbs down opens the "the right answer is…" panel (the page's
        script makes that answer's source cards clickable)."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        message_id = ids[index] if index < len(ids) else None
        if message_id is None or data.liked not in (True, False):
            return None, gr.update(visible=False), "", ""
        store.add_feedback(owner(client, request), message_id, 1 if data.liked else -1)
        return message_id, gr.update(visible=not data.liked), "", ""

    def chosen(message_id: int | None, cite: str, client: str, request: gr.Request):
        """The passage a click on a card named (``cite``: its place in the stored answer's citations)."""
        result = store.answer(owner(client, request), message_id) if message_id is not None else None
        if result is None or not cite.isdigit() or int(cite) >= len(result.citations):
            return None
        return result.citations[int(cite)]

    def show_pick(message_id: int | None, cite: str, client: str, request: gr.Request) -> str:
        c = chosen(message_id, cite, client, request)
        return f"Passage chosen: <b>{show(c.title)}</b> ({show(c.outlet)}): “{show(c.quote[:120])}…”" if c else ""

    def correct(message_id: int | None, right: str, cite: str, client: str, request: gr.Request):
        if message_id is None:
            return "Vote on an answer first.", gr.update()
        if not (right or "").strip():
            return "Type the right answer first (the thumbs down is saved already).", gr.update()
        c = chosen(message_id, cite, client, request)
        store.add_feedback(owner(client, request), message_id, -1, right.strip(), c.doc_id if c else None)
        return "Thanks: saved for the test set.", gr.update(visible=False)

    with gr.Blocks(title="News Q&A", analytics_enabled=False, fill_height=True) as demo:
        client_id = gr.BrowserState(None, storage_key="rag_client_id")
        conv_id = gr.State(None)
        msg_ids = gr.State([])
        generation = gr.State(-1)
        voted = gr.State(None)
        with gr.Sidebar(label="Conversations and articles", open=True, width=340):
            new_btn = gr.Button("New conversation", variant="primary", size="sm")
            conv_pick = gr.Radio(label="Conversations", choices=[], elem_id="rag-convs")
            with gr.Accordion("Rename, delete, export", open=False):
                title_box = gr.Textbox(label="New title", max_lines=1)
                with gr.Row():
                    rename_btn = gr.Button("Rename", size="sm")
                    del_conv_btn = gr.Button("Delete", size="sm", variant="stop")
                with gr.Row():
                    json_btn = gr.DownloadButton("JSON", size="sm")
                    md_btn = gr.DownloadButton("Markdown", size="sm")
            gr.Markdown("### Articles")
            scope = gr.Dropdown(label="Ask within (articles or outlets; empty: all)", multiselect=True,
                                choices=[], elem_id="rag-scope")
            files = gr.File(label="Drop articles here to add them (.txt, .md, saved pages .html/.htm)",
                            file_types=list(ARTICLE_SUFFIXES), type="filepath", file_count="multiple",
                            elem_id="rag-upload")
            key = gr.Textbox(label="API key (to add, delete or evaluate)", type="password",
                             visible=bool(settings.api_key), elem_id="rag-key")
            status = gr.Textbox(label="Result", interactive=False, lines=2, elem_id="rag-status")
            doc_list = gr.HTML(padding=False, elem_id="rag-doc-list")
            del_id = gr.Textbox(elem_id="rag-del-id", elem_classes="rag-hidden", show_label=False)
            del_btn = gr.Button("delete", elem_id="rag-del-btn", elem_classes="rag-hidden")
        gr.Markdown("## News Q&A\nExtractive answers quoted from the indexed articles, with exact citations.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chatbot = gr.Chatbot(elem_id="rag-chatbot", show_label=False, latex_delimiters=[], height="65vh",
                                     autoscroll=False, buttons=["copy"],
                                     placeholder="Ask about the news articles. Every answer cites its sources.")
                with gr.Column(visible=False, elem_id="rag-fb-panel") as fb_panel:
                    gr.Markdown("Type the right answer, then click the passage that holds it in the answer above "
                                "(optional).")
                    with gr.Row():
                        right = gr.Textbox(label="The right answer is…", scale=4, max_lines=2, elem_id="rag-fb-right")
                        send_fb = gr.Button("Send", scale=1, elem_id="rag-fb-send")
                    picked = gr.HTML(elem_id="rag-fb-picked", js_on_load=None)
                fb_status = gr.Markdown(elem_id="rag-fb-status")
                fb_cite = gr.Textbox(elem_id="rag-fb-cite", elem_classes="rag-hidden", show_label=False)
                pick_btn = gr.Button("pick", elem_id="rag-fb-pick", elem_classes="rag-hidden")
                # closed until the page has loaded this browser's id: a question asked sooner would be saved
                # under no one's id, and its thumbs would then name an answer the browser does not own
                question = gr.Textbox(placeholder="Ask a question about the articles…", submit_btn=True,
                                      show_label=False, elem_id="question", max_lines=4, interactive=False)
                gr.Examples(EXAMPLES if examples is None else examples, inputs=question, label="Try")
            build_evaluate_tab(service, store, key, client_id, may_write, owner)

        ask_inputs = [question, chatbot, msg_ids, conv_id, client_id, scope]
        question.submit(respond, ask_inputs, [question, chatbot, msg_ids, conv_id, conv_pick], api_name="ask")
        chatbot.like(vote, [msg_ids, client_id], [voted, fb_panel, fb_cite, picked], api_visibility="undocumented")
        pick_btn.click(show_pick, [voted, fb_cite, client_id], picked, api_visibility="undocumented")
        send_fb.click(correct, [voted, right, fb_cite, client_id], [fb_status, fb_panel],
                      api_visibility="undocumented")
        new_btn.click(new_conversation, [client_id], [conv_id, conv_pick, chatbot, msg_ids],
                      api_visibility="undocumented")
        conv_pick.input(switch, [conv_pick, client_id], [conv_id, chatbot, msg_ids], api_visibility="undocumented")
        rename_btn.click(rename, [conv_id, title_box, client_id], [conv_pick], api_visibility="undocumented")
        del_conv_btn.click(remove, [conv_id, client_id], [conv_id, conv_pick, chatbot, msg_ids],
                           api_visibility="undocumented")
        json_btn.click(export_json, [conv_id, client_id], json_btn, api_visibility="undocumented")
        md_btn.click(export_md, [conv_id, client_id], md_btn, api_visibility="undocumented")
        files.upload(upload, [files, key], [status, doc_list, files], api_name="add_article")
        del_btn.click(delete, [del_id, key], [status, doc_list], api_name="delete_article")
        gr.Timer(3).tick(refresh, [generation], [doc_list, scope, generation], api_visibility="undocumented",
                         show_progress="hidden")
        demo.load(start, [client_id], [client_id, conv_pick, conv_id, chatbot, msg_ids, doc_list, scope, question],
                  api_visibility="undocumented")
    return demo.queue(default_concurrency_limit=4)

