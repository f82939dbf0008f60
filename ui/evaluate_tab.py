"""The chat's Evaluate tab: score the bot against a test set, with a progress bar, and show the same report
as ``rag eval --report`` (``rag.report``), with the HTML file to download.

A test set is one the project ships (``tests/data/*.jsonl`` in a source checkout), one uploaded through
Gradio's upload route, or this browser's own feedback. Running one asks many questions at once, so with
``RAG_API_KEY`` set it needs the key, like the chat's other writes.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from rag.conversations import Conversations, feedback_testset
from rag.evaluate import Row, TestSetError, evaluate, load_testset
from rag.report import is_failure, report_html, write_report
from rag.service import RagService
from ui.web_security import uploaded_file

TEST_SETS = Path(__file__).resolve().parent.parent / "tests" / "data"
FEEDBACK = "feedback"  # the choice: this browser's feedback as a test set
HEADLINE = ("answer_accuracy", "citation_accuracy", "abstention_recall", "false_abstentions")


def bundled_sets(folder: Path = TEST_SETS) -> dict[str, Path]:
    """The project's own test sets by file name (none when the package is installed without its tests)."""
    return {p.name: p for p in sorted(folder.glob("*.jsonl"))} if folder.is_dir() else {}


def _choices(sets: dict[str, Path]) -> list[tuple[str, str]]:
    def count(path: Path) -> int:
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())

    return [(f"{name} ({count(path)} questions)", name) for name, path in sets.items()] + \
        [("My feedback in this chat (thumbs and corrections)", FEEDBACK)]


def summary_line(name: str, result: dict, seconds: float) -> str:
    failures = sum(1 for r in result["per_question"] if is_failure(r))
    figures = ", ".join(f"{k} {result[k]}" for k in HEADLINE)
    return f"**{name}**: {result['n']} questions in {seconds:.1f} s, {failures} failures. {figures}."


def build_evaluate_tab(service: RagService, conversations: Conversations, key: gr.Textbox, client: gr.BrowserState,
                       may_write: Callable[[str, gr.Request | None], bool],
                       owner: Callable[[str | None, gr.Request | None], str]) -> None:
    """The tab's components and its ``evaluate`` event; call inside ``gr.Blocks``.

    ``key`` is the sidebar's key box, ``may_write(key, request)`` the chat's key check and ``owner(client,
    request)`` whose feedback "My feedback" means."""
    sets = bundled_sets()
    upload_dir = gr.utils.get_upload_folder()

    def rows_of(choice: str | None, upload: str | None, client_id: str | None,
                request: gr.Request | None) -> tuple[str, list[Row]]:
        """The chosen test set's name and rows; an uploaded file wins over the list."""
        if upload:
            path = uploaded_file(upload, upload_dir)
            try:
                return path.name, load_testset(path)
            except (TestSetError, UnicodeDecodeError) as exc:
                raise TestSetError(str(exc).replace(str(path), path.name)) from None
        if choice == FEEDBACK:
            mine = [fb for fb in conversations.feedback() if fb["owner"] == owner(client_id, request)]
            rows, _ = feedback_testset(mine)
            if not rows:
                raise TestSetError("no feedback from this browser makes a test-set row yet: give a thumbs up, "
                                   "or a thumbs down with the right answer")
            return "my feedback", [Row(**r) for r in rows]
        if choice not in sets:
            raise TestSetError("choose a test set or upload a .jsonl file")
        return choice, load_testset(sets[choice])

    def run(choice: str | None, upload: str | None, key_text: str, client_id: str | None,
            request: gr.Request, progress: gr.Progress = gr.Progress()):
        """Run a test set through the bot (one question after another) and show the report."""
        if not may_write(key_text, request):
            return "Not run: wrong or missing API key.", gr.skip(), gr.skip()
        try:
            name, rows = rows_of(choice, upload, client_id, request)
        except (TestSetError, PermissionError) as exc:
            return f"Not run: {exc}", gr.skip(), gr.skip()
        texts = {d.doc_id: service.document(d.doc_id).text for d in service.documents()}
        progress((0, len(rows)), desc=f"Asking {len(rows)} questions", unit="questions")
        started = time.perf_counter()
        result = evaluate(rows, service.ask, texts,
                          progress=lambda done, total, _id: progress((done, total), desc=f"{done}/{total} questions",
                                                                     unit="questions"))
        path = Path(tempfile.mkdtemp(prefix="rag-eval-")) / f"eval-report-{Path(name).stem.replace(' ', '-')}.html"
        write_report(path, result)
        return (summary_line(name, result, time.perf_counter() - started), report_html(result),
                gr.DownloadButton(value=str(path), visible=True))

    with gr.Tab("Evaluate", id="evaluate", elem_id="rag-eval-tab"):
        gr.Markdown("Score the bot against a test set (JSON Lines rows: `id`, `question`, `answers`, `sources`, "
                    "`answerable`). The report is the one `rag eval --report` writes: the metrics, the "
                    "calibration curve, then every question, failures first.")
        with gr.Row():
            choice = gr.Dropdown(_choices(sets), value=next(iter(sets), FEEDBACK), label="Test set",
                                 elem_id="rag-eval-set")
            upload = gr.File(label="…or upload one (.jsonl)", file_types=[".jsonl"], type="filepath", height=120,
                             elem_id="rag-eval-upload")
        start = gr.Button("Run the evaluation", variant="primary", elem_id="rag-eval-run")
        summary = gr.Markdown(elem_id="rag-eval-summary")
        download = gr.DownloadButton("Download the report (HTML)", visible=False, size="sm")
        report = gr.HTML(elem_id="rag-eval-report", apply_default_css=False, js_on_load=None)
        start.click(run, [choice, upload, key, client], [summary, report, download], api_name="evaluate",
                    concurrency_limit=1, concurrency_id="evaluate")
