"""Citation offsets of every stored passage, read back from the store after a real ingest.

``text[start:end] == passage`` against the text ``RagService.document`` serves (what the API returns and
the chat marks quotes in), for the seeds, the NewsQA corpus (read in place from ../shared/newsqa/corpus,
never copied) and uploads with CRLF line endings, a UTF-8 byte-order mark, both, and Latin-1 bytes.
A mismatch fails here, in the store and service layers (the chat shows and logs one: tests/test_ui.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.service import RagService
from rag.settings import Settings
from tests.conftest import ROOT, assert_passages_exact, make_settings

NEWSQA = ROOT.parent / "shared" / "newsqa" / "corpus"
BOM = b"\xef\xbb\xbf"


def ferry_article(island: str, piles: int) -> str:
    """Written for these tests: paragraphs, a sentence broken across two lines, curly quotes and
    non-ASCII letters (offsets count characters, not bytes)."""
    return (f"# Ferry service to {island} Island resumes\n\nBy Harbour Gazette\n\nApril 9, 2024\n\n"
            f"The ferry link between Brannock and {island} Island reopened on Tuesday after a five-week closure "
            "caused by storm damage to the pier.\n"
            "The operator, Corran Lines, said the repaired vessel “Maëlle” would sail four times a day "
            "during the spring timetable.\n\n"
            f"Engineers replaced {piles} timber piles under the {island} landing stage, according to the harbour "
            "master, "
            "Inès Duclos-Varga.\nThe work cost about 2.4 million euros and was paid for\n"
            "by the regional council’s emergency fund.\n\n"
            "Islanders had relied on a café owner’s fishing boat for supplies — a trip of ninety minutes "
            "each way.\n")


UPLOADS = {  # name -> bytes; each with its own island and count, so that none is a duplicate of another
    "ferry_crlf.txt": ferry_article("Skerrow", 38).replace("\n", "\r\n").encode("utf-8"),
    "ferry_bom.txt": BOM + ferry_article("Tallach", 41).encode("utf-8"),
    "ferry_bom_crlf.md": BOM + ferry_article("Orrin", 44).replace("\n", "\r\n").encode("utf-8"),
    "ferry_cr.txt": ferry_article("Vallow", 47).replace("\n", "\r").encode("utf-8"),
    "ferry_latin1.txt": ferry_article("Quenby", 53).replace("“", '"').replace("”", '"').replace("’", "'")
    .replace("—", "-").encode("latin-1"),
}


def test_every_seed_passage_is_exact(seeded) -> None:
    assert assert_passages_exact(seeded) > 50


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory, embedder) -> RagService:
    """An empty corpus, then each of UPLOADS through ``add_document`` (the API's and chat's upload)."""
    base = tmp_path_factory.mktemp("uploads")
    (base / "corpus").mkdir()
    svc = RagService(make_settings(base), embedder=embedder)
    for name, data in UPLOADS.items():
        report = svc.add_document(name, data)
        assert report.added == [Path(name).stem], report.summary()
    return svc


def test_every_uploaded_passage_is_exact(uploaded) -> None:
    """CRLF, BOM, BOM+CRLF, bare CR and Latin-1 uploads: stored offsets index the served text."""
    assert {d.doc_id for d in uploaded.documents()} == {Path(n).stem for n in UPLOADS}
    assert uploaded.document("ferry_bom").text.startswith("# Ferry")  # the mark is no character of the text
    assert "\r\n" in uploaded.document("ferry_crlf").text  # offsets index the file as written
    assert "Inès Duclos-Varga" in uploaded.document("ferry_latin1").text
    assert assert_passages_exact(uploaded) >= 4 * len(UPLOADS)


@pytest.mark.parametrize("island, piles", [("Skerrow", 38), ("Orrin", 44), ("Vallow", 47), ("Quenby", 53)])
def test_citations_into_crlf_bom_and_latin1_files_are_exact(uploaded, island: str, piles: int) -> None:
    service = uploaded
    result = service.ask(f"How many timber piles did engineers replace on {island} Island?")
    assert not result.abstained and result.citations
    first = result.citations[0]
    assert str(piles) in result.answer or str(piles) in first.quote
    for c in result.citations:
        assert service.document(c.doc_id).text[c.start:c.end] == c.quote, c


def test_every_newsqa_passage_is_exact(tmp_path, embedder) -> None:
    """168 real CNN articles, ingested where they lie (the licence forbids copying them)."""
    if not NEWSQA.is_dir():
        pytest.skip(f"{NEWSQA} is absent: the NewsQA offset check needs the shared corpus")
    files = sorted(NEWSQA.glob("*.txt"))
    svc = RagService(Settings(corpus_dir=NEWSQA, data_dir=tmp_path / "data").resolved(), embedder=embedder)
    report = svc.ingest()
    assert len(report.added) + len(report.skipped) == len(files) and report.added
    assert all("duplicate of" in reason for _, reason in report.skipped), report.summary()
    assert assert_passages_exact(svc) == report.passages_embedded


def test_citations_stay_exact_after_the_file_is_edited_before_reingest(tmp_path, embedder) -> None:
    (tmp_path / "corpus").mkdir()
    path = tmp_path / "corpus" / "ferry.txt"
    path.write_text(ferry_article("Skerrow", 38), encoding="utf-8")
    svc = RagService(make_settings(tmp_path), embedder=embedder)
    svc.ingest()
    path.write_text("Correction added at the top by the editor.\n\n" + ferry_article("Skerrow", 38), encoding="utf-8")
    result = svc.ask("How many timber piles did engineers replace on Skerrow Island?")
    assert result.citations
    for c in result.citations:
        assert svc.document(c.doc_id).text[c.start:c.end] == c.quote
    svc.ingest()  # after a re-ingest the edited text is served, and the citations index it
    result = svc.ask("How many timber piles did engineers replace on Skerrow Island?")
    assert svc.document("ferry").text.startswith("Correction added")
    for c in result.citations:
        assert svc.document(c.doc_id).text[c.start:c.end] == c.quote
