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


@pytest.mark.parametrize("stem,outlet,date,date_source,title", [
    ("000_7461797e538ad034", "themoscowtimes.com", "2021-06-21", "dateline", "Russia, Myanmar Agree to Bolster Ties"),
    ("001_7749179d099e916c", "unknown", None, None,
     "Myanmar’s junta leader and a senior Russia security official on Monday committed to improving ties between "
     "their two countries, Russia’s Security Council said in a statement."),
    ("002_996cae21006e1810", "unknown", "2021-06-22", "dateline",
     "Russia and Myanmar Agree to Increase Security Cooperation in Moscow Meeting"),
    ("003_2bdcdef360b8e6f6", "Reuters", "2021-10-21", "page header",
     "Russia and Myanmar junta leader vow to boost ties in Moscow meeting"),
    ("004_7f843204c53c20f6", "Reuters", "2021-06-22", "dateline",
     "Myanmar junta leader thanks Russia for boosting military: Report"),
])
def test_seed_metadata_says_where_it_came_from(stem, outlet, date, date_source, title) -> None:
    article = parse(SEEDS / f"{stem}.txt")
    assert (article.outlet, article.date, article.date_source, article.title) == (outlet, date, date_source, title)
    assert article.source == f"{stem}.txt"


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


# --- metadata from the lines that play a role (text written for these tests) ----------------------------


def _article(tmp_path: Path, text: str, name: str = "story.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return parse(path)


@pytest.mark.parametrize("text,outlet", [
    ("Bridge reopens after repairs\n\nThe bridge reopened on Monday.\n\nSource: Reuters/jt\n", "Reuters"),
    ("KESTON, Wendland (CNN) -- The bridge reopened on Monday after two years.\n", "CNN"),
    ("Bridge reopens\n\nThe bridge over the Wend reopened on Monday, Reuters reports.\n", "Reuters"),
    ("Bridge reopens after repairs\n\nBy AFP\n\nThe bridge reopened on Monday.\n", "AFP"),
    ("Bridge reopens after repairs\n\nBy Jane Roe, Associated Press\n\nThe bridge reopened on Monday.\n",
     "Associated Press"),
    ("Bridge reopens\n\nOriginal url:\n<https://www.courier.example/2024/bridge>\n\nThe bridge reopened.\n",
     "courier.example"),
])
def test_outlet_comes_from_a_credit_line_or_the_page_address(tmp_path: Path, text: str, outlet: str) -> None:
    assert _article(tmp_path, text).outlet == outlet


@pytest.mark.parametrize("text", [
    "Bridge reopens after repairs\n\nBy Jane Roe\n\nThe bridge reopened on Monday.\n",  # a reporter, not an outlet
    "Bridge reopens\n\nThe mayor spoke on Monday, Interfax reported.\n\nLater, the bridge reopened.\n",  # a quote
    "Bridge reopens\n\nSOURCE: ANNA LEE / CITY PRESS OFFICE/ HANDOUT\n\nThe bridge reopened on Monday.\n",  # a photo
    "Bridge reopens\n\nThe council read https://www.example.org/report before it voted on Monday.\n",  # a link
])
def test_no_outlet_is_invented(tmp_path: Path, text: str) -> None:
    assert _article(tmp_path, text).outlet == "unknown"


def test_date_carries_where_it_came_from(tmp_path: Path) -> None:
    header = _article(tmp_path, "Friday, October 4, 2024\n\nBridge reopens after repairs\n\nIt reopened.\n")
    assert (header.date, header.date_source) == ("2024-10-04", "page header")
    dateline = _article(tmp_path, "Bridge reopens after repairs\n\nBy AFP\n\nMarch 2, 2024\n\nIt reopened.\n")
    assert (dateline.date, dateline.date_source) == ("2024-03-02", "dateline")
    short = _article(tmp_path, "Bridge reopens after repairs\n\nKESTON: The bridge reopened on Monday (Mar 4) "
                               "after two years.\n\nA photo taken March 4, 2024 shows the first cars.\n")
    assert (short.date, short.date_source) == ("2024-03-04", "dateline")
    body_only = _article(tmp_path, "Bridge reopens after repairs\n\nThe first bridge here opened on June 1, "
                                   "1901, and the new one on Monday.\n")
    assert (body_only.date, body_only.date_source) == (None, None)  # a date in the story is not its own


def test_title_is_the_headline_else_the_whole_first_sentence(tmp_path: Path) -> None:
    headline = _article(tmp_path, "Bridge reopens after two years of repairs\n\nThe bridge over the river Wend, "
                                  "closed since a flood in 2022, reopened to cars on Monday morning.\n")
    assert headline.title == "Bridge reopens after two years of repairs"
    lead = _article(tmp_path, "KESTON (CNN) -- The U.S. ambassador opened the rebuilt bridge over the river Wend "
                              "on Monday, two years after a flood closed it to cars and lorries. Crowds cheered.\n")
    assert lead.title == ("The U.S. ambassador opened the rebuilt bridge over the river Wend on Monday, two years "
                          "after a flood closed it to cars and lorries.")


def test_sidecar_date_is_normalised_and_only_http_urls_kept(tmp_path: Path) -> None:
    (tmp_path / "story.meta.json").write_text(json.dumps({"date": "Tue, 05 Mar 2024 09:30:00 +0000",
                                                          "url": "javascript:alert(1)"}))
    article = _article(tmp_path, "Bridge reopens after repairs\n\nThe bridge reopened on Monday.\n")
    assert (article.date, article.date_source, article.url) == ("2024-03-05", "sidecar", None)


# --- decoding and names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_bom_decode(tmp_path: Path, encoding: str) -> None:
    import codecs

    bom = {"utf-16": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE, "utf-32": codecs.BOM_UTF32_LE}[encoding]
    text = "Brücke über die Wend\n\nDie Brücke wurde am Montag wieder geöffnet.\n"
    body = text.encode("utf-16-le" if encoding == "utf-16" else encoding if encoding != "utf-32" else "utf-32-le")
    path = tmp_path / "brücke.txt"
    path.write_bytes(bom + body)
    article = parse(path)
    assert article.raw_text == text and article.title == "Brücke über die Wend"
    for p in chunk(article):
        assert article.raw_text[p.start:p.end] == p.text


def test_nul_bytes_anywhere_refuse_the_file(tmp_path: Path) -> None:
    path = tmp_path / "late.txt"
    path.write_bytes(b"A long story.\n" * 1000 + b"\x00 trailing binary\n")
    with pytest.raises(ArticleError, match="NUL byte at offset 14000"):
        parse(path)
    utf16 = tmp_path / "nul16.txt"
    utf16.write_bytes("Story\n\x00\n".encode("utf-16"))
    with pytest.raises(ArticleError, match="NUL character"):
        parse(utf16)


@pytest.mark.parametrize("name", ["two\nlines.txt", "tab\there.txt", "bell\x07.txt", "del\x7f.txt"])
def test_control_characters_in_a_file_name_never_become_a_document_id(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("Bridge reopens\n\nThe bridge reopened on Monday.\n", encoding="utf-8")
    with pytest.raises(ArticleError, match="file name contains a control character"):
        parse(path)


# --- what shapes the stored article is part of its hash (issue 16) ------------------------------------------


def test_file_hash_covers_sidecar_and_code_versions(tmp_path: Path, monkeypatch) -> None:
    from index import article as article_module

    path = tmp_path / "story.txt"
    path.write_text("Bridge reopens\n\nThe bridge reopened on Monday.\n", encoding="utf-8")
    data = path.read_bytes()
    plain = article_module.file_hash(path, data)
    (tmp_path / "story.meta.json").write_text(json.dumps({"outlet": "Courier"}))
    with_sidecar = article_module.file_hash(path, data)
    assert with_sidecar != plain
    monkeypatch.setattr(article_module, "PARSER_VERSION", article_module.PARSER_VERSION + 1)
    assert article_module.file_hash(path, data) != with_sidecar
    monkeypatch.undo()
    monkeypatch.setattr(article_module, "CHUNKER_VERSION", article_module.CHUNKER_VERSION + 1)
    assert article_module.file_hash(path, data) != with_sidecar
    monkeypatch.undo()
    monkeypatch.setattr(article_module, "VECTORS_VERSION", article_module.VECTORS_VERSION + 1)
    assert article_module.file_hash(path, data) != with_sidecar
