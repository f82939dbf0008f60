"""`rag` command line: a thin shell over :class:`rag.service.RagService`.

Heavy imports (torch, sentence-transformers, chromadb) happen inside commands,
never at module import, so ``rag --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _service():
    from rag.service import RagService
    from rag.settings import Settings

    return RagService(Settings().resolved())


def cmd_ingest(args: argparse.Namespace) -> int:
    svc = _service()
    if args.rebuild:
        if args.paths:
            print("error: --rebuild re-indexes the corpus folder (RAG_CORPUS_DIR); give no paths", file=sys.stderr)
            return 2
        print(svc.rebuild().summary())
        print("rebuilt into a fresh collection and swapped it in")
        return 0
    print(_ingest_sources(svc, args).summary())
    problems = svc.store.check()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _ingest_sources(svc, args: argparse.Namespace):
    """Files and folders, links, feeds and dumps from one command line, in one report."""
    from index.sources.dumps import DUMP_SUFFIXES, FieldMap
    from index.sources.intake import merge

    urls = [p for p in args.paths if p.lower().startswith(("http://", "https://"))]
    dumps = [Path(p) for p in args.paths if p not in urls and Path(p).suffix.lower() in DUMP_SUFFIXES]
    files = [Path(p) for p in args.paths if p not in urls and Path(p) not in dumps]
    report = svc.ingest(files or None, progress=sys.stderr.isatty()) if files or not (urls or dumps or args.feed) \
        else None
    fields = FieldMap(text=args.text_field, title=args.title_field, url=args.url_field, date=args.date_field,
                      outlet=args.outlet_field, id=args.id_field)
    for more in ([svc.ingest_urls(urls)] if urls else []) + ([svc.ingest_feeds(args.feed)] if args.feed else []) \
            + [svc.ingest_dump(d, fields) for d in dumps]:
        report = merge(report, more) if report else more
    return report


def cmd_doctor(args: argparse.Namespace) -> int:
    problems = _service().doctor()
    for problem in problems:
        print(f"problem: {problem}")
    print("index damaged: run `rag ingest --rebuild`" if problems else "index consistent")
    return 1 if problems else 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.service import QuestionError

    svc = _service()
    svc.ensure_ingested()
    try:
        result = svc.ask(args.question, top_k=args.top_k)
    except QuestionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    print(result.answer)
    for i, c in enumerate(result.citations, 1):
        print(f"\n[{i}] {c.title} ({c.outlet}, {c.date or 'undated'}) {c.doc_id}:{c.start}-{c.end}")
        print(f"    {c.quote}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    docs = _service().documents()
    if args.json:
        print(json.dumps([d.model_dump() for d in docs], indent=2))
    else:
        for d in docs:
            print(f"{d.doc_id}  {d.passages:3d} passages  {d.outlet:20.20}  {d.date or '-':10}  {d.title}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from rag.settings import Settings
    from ui.api import create_app
    from ui.server import serve

    settings = Settings(host=args.host or Settings().host, port=args.port or Settings().port).resolved()
    serve(create_app(settings, ingest_if_empty=True, chat_in_background=True), settings.host, settings.port)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluate import run_cli

    return run_cli(args, _service())


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from rag.conversations import Conversations, feedback_testset
    from rag.settings import Settings

    rows, skipped = feedback_testset(Conversations.from_settings(Settings().resolved()).feedback())
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    print(f"{len(rows)} test-set rows from feedback; {skipped} left out (a thumbs down without the right answer)",
          file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ sits beside rag/ in the checkout
    if args.encoders:
        from bench.encoders import format_report, run

        result = run()
        print(json.dumps(result, indent=2) if args.json else format_report(result))
        return 0
    from bench.scale import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Ask questions about a folder of news articles; "
                                "answers cite the exact passages. Settings come from RAG_* environment variables.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="index articles (default: the corpus folder, RAG_CORPUS_DIR)")
    s.add_argument("paths", nargs="*", help="files or folders (.txt .md .html .htm), http(s) links to article "
                   "pages, or dumps with one article per row (.jsonl .csv)")
    s.add_argument("--rebuild", action="store_true",
                   help="re-index the corpus folder into a fresh collection, swapped in only when complete")
    s.add_argument("--feed", action="append", default=[], metavar="URL",
                   help="index every item of an RSS/Atom feed; repeatable")
    for name, default in (("text", "text"), ("title", "title"), ("url", "url"), ("date", "date"),
                          ("outlet", "outlet"), ("id", "id")):
        s.add_argument(f"--{name}-field", default=default, metavar="NAME",
                       help=f"dump column or key holding the article's {name} (default {default!r})")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("ask", help="answer a question from the indexed articles")
    s.add_argument("question")
    s.add_argument("--json", action="store_true", help="print the answer contract as JSON")
    s.add_argument("--top-k", type=int, default=None, help="citations to return")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("docs", help="list the indexed articles")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_docs)

    s = sub.add_parser("doctor", help="check the index: manifest, Chroma records and vector reach agree")
    s.set_defaults(func=cmd_doctor)

    s = sub.add_parser("serve", help="HTTP API and chat UI (ingests the corpus first if the index is empty)")
    s.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=None, help="port (default 8000)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("feedback", help="chat feedback (thumbs, corrections) as a test set for `rag eval`")
    fsub = s.add_subparsers(dest="action", required=True)
    e = fsub.add_parser("export", help="write feedback as JSONL test-set rows (id, question, answers, sources, "
                        "answerable)")
    e.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    e.set_defaults(func=cmd_feedback_export)

    s = sub.add_parser("eval", help="score the bot against a JSONL test set")
    s.add_argument("testset", type=Path)
    s.add_argument("--json", action="store_true", help="print metrics and per-question results as JSON")
    s.add_argument("--report", type=Path, default=None, help="write a self-contained HTML report")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--min", action="append", default=[], metavar="METRIC=VALUE",
                   help="fail (exit 1) when METRIC falls below VALUE; repeatable")
    s.add_argument("--baseline", choices=["llamaindex"], default=None,
                   help="also run the stock LlamaIndex pipeline on the same questions")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("bench", help="scale benchmark: ratios against same-run floors and stock LlamaIndex "
                       "(see bench/README.md)")
    s.add_argument("--n", type=int, action="append", metavar="N",
                   help="articles; repeatable (default 500, 3000, 10000)")
    s.add_argument("--json", action="store_true", help="print the figures as JSON")
    s.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default=None,
                   help="embedding backend of the product (default RAG_EMBED_BACKEND)")
    s.add_argument("--embedder", choices=["auto", "cheap"], default="auto", help="auto: the real model up to "
                   "--real-up-to articles, a cheap hash embedder above; cheap: the hash embedder everywhere")
    s.add_argument("--real-up-to", type=int, default=500, metavar="N", help="largest N indexed with the real model")
    s.add_argument("--questions", type=int, default=40, help="distinct questions timed per N for ask p50/p95")
    s.add_argument("--rss-questions", type=int, default=1000, help="distinct questions asked for RSS growth")
    s.add_argument("--no-onnx-ingest", action="store_true", help="skip the extra ONNX ingest at real-model sizes")
    s.add_argument("--work", default=None, metavar="DIR", help="keep corpora and indexes here (default: a "
                   "temporary folder, removed)")
    s.add_argument("--encoders", action="store_true", help="instead: torch vs ONNX backends, throughput and "
                   "quality on the dev sets")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # a store failure is one line, not a traceback; anything else is a bug
        from index.store import StoreError

        if not isinstance(exc, StoreError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
