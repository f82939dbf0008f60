"""Parsing, cleaning and chunking on the real seed articles (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.article import ArticleError, parse
from index.chunking import chunk
from tests.conftest import SEEDS

SEED_FILES = sorted(SEEDS.glob("*.txt"))
BOILERPLATE = ["Skip to main content", "gtag", "Follow us on Telegram", "Subscribe to our newsletter",
               "Google News channel", "Read more:", "Related Articles", "Also worth reading", "READ:",
               "Original url:", "Pope backs appeal"]


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_every_passage_indexes_the_raw_file_exactly(path: Path) -> None:
    article = parse(path)
    raw = path.read_bytes().decode("utf-8")
    passages = chunk(article)
    assert passages
    for p in passages:
        assert raw[p.start:p.end] == p.text
        assert 0 < len(p.text) <= 400
        assert not any(b in p.text for b in BOILERPLATE), p.text


def test_seed_count_and_ids() -> None:
    assert [p.stem for p in SEED_FILES] == ["000_7461797e538ad034", "001_7749179d099e916c", "002_996cae21006e1810",
                                            "003_2bdcdef360b8e6f6", "004_7f843204c53c20f6"]


def test_metadata_is_read_from_the_text() -> None:
    moscow = parse(SEEDS / "000_7461797e538ad034.txt")
    assert moscow.title == "Russia, Myanmar Agree to Bolster Ties"
    assert moscow.date == "2021-06-21"
    assert moscow.url == "https://www.themoscowtimes.com/2021/06/21/russia-myanmar-agree-to-bolster-ties-a74289"
    assert moscow.outlet == "themoscowtimes.com"
    reuters = parse(SEEDS / "004_7f843204c53c20f6.txt")
    assert reuters.outlet == "Reuters" and reuters.date == "2021-06-22"
    assert reuters.title == "Myanmar junta leader thanks Russia for boosting military: Report"


def test_content_survives_cleaning() -> None:
    text = parse(SEEDS / "001_7749179d099e916c.txt").text
    assert "Only one country, Belarus, voted against it." in text
    assert "Myanmar rejects UN resolution urging arms embargo" not in text  # related-links list dropped
    byline = parse(SEEDS / "000_7461797e538ad034.txt").text
    assert "By [AFP](#)" in byline and "Mikhail Klimentyev/TASS" in byline  # bylines and credits are content


def test_sentence_broken_across_blank_line_is_one_passage() -> None:
    article = parse(SEEDS / "000_7461797e538ad034.txt")
    joined = [p for p in chunk(article) if "and foreign" in p.text]
    assert joined and "interference in Myanmar." in joined[0].text


def test_sidecar_overrides_metadata(tmp_path: Path) -> None:
    article = tmp_path / "story.md"
    article.write_text("# A headline\n\nSomething happened on Monday in the town.\n", encoding="utf-8")
    (tmp_path / "story.meta.json").write_text(json.dumps({"outlet": "The Daily Test", "date": "2024-01-02",
                                                          "url": "https://example.org/story"}))
    parsed = parse(article)
    assert (parsed.title, parsed.outlet, parsed.date, parsed.url) == (
        "A headline", "The Daily Test", "2024-01-02", "https://example.org/story")


def test_cp1252_file_is_decoded_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("The minister’s café opened — on Friday.\n".encode("cp1252"))
    article = parse(path)
    assert article.encoding == "cp1252"
    assert "minister’s café opened — on Friday." in article.raw_text
    p = chunk(article)[0]
    assert article.raw_text[p.start:p.end] == p.text


@pytest.mark.parametrize("name,data,reason", [
    ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
    ("empty.txt", b"   \n\n", "no article text"),
    ("boiler.txt", b"Skip to main content\nSubscribe to our newsletter\n", "no article text"),
    ("doc.pdf", b"%PDF-1.4", "unsupported file type"),
])
def test_unusable_files_raise_a_clear_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ArticleError, match=reason):
        parse(path)
