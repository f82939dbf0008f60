"""Links, feeds and dumps into the index: fetch and extract, write corpus files, then the file ingest.

Articles from links and feeds go to ``<corpus>/web/``, dump rows to ``<corpus>/dumps/<dump name>/``.
Every problem is reported per URL, feed item or dump line in the report's ``skipped`` list, and the
rest goes on. A written file the ingest refuses (e.g. a duplicate of an article already indexed) is
taken back out of the corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from index.article import ArticleError, decode
from index.ingest import IngestReport
from index.metadata import outlet_from_url
from index.sources import corpus
from index.sources.corpus import NewsItem, text_id, url_id
from index.sources.dumps import BadRow, FieldMap, Row, read_dump
from index.sources.feeds import Entry, Feed, FeedError, read_feed
from index.sources.fetch import Fetched, Fetcher, FetchError, FetchPolicy
from index.sources.html import ExtractionError, extract, fragment_text

HTML_TYPES = ("text/html", "application/xhtml+xml")
Ingest = Callable[[list[Path]], IngestReport]
_PROBLEMS = (FetchError, FeedError, ExtractionError, ArticleError)


class Intake:
    """Brings news that arrives as data into the corpus folder and indexes it."""

    def __init__(self, corpus_dir: Path, ingest: Ingest, lock: Callable[[], AbstractContextManager],
                 policy: FetchPolicy, batch_rows: int = 500) -> None:
        self.corpus_dir, self.ingest, self.lock = corpus_dir, ingest, lock
        self.policy, self.batch_rows = policy, batch_rows

    @property
    def web_dir(self) -> Path:
        return self.corpus_dir / "web"

    def urls(self, urls: Iterable[str]) -> IngestReport:
        """Fetch each page, extract its article and index it (re-fetching an unchanged page embeds nothing)."""
        report, items = IngestReport(), []
        with Fetcher(self.policy) as fetcher:
            for url in dict.fromkeys(urls):
                try:
                    items.append((url_id(url), page_item(fetcher.get(url), source=url)))
                except _PROBLEMS as exc:
                    report.skipped.append((url, str(exc)))
        return self._index(self.web_dir, items, report)

    def feeds(self, feed_urls: Iterable[str], refresh: bool = False) -> IngestReport:
        """Index every item of each feed: its fetched page, else the feed's own text for it.

        Items already in the corpus are not fetched again unless ``refresh``."""
        report, items = IngestReport(), []
        with Fetcher(self.policy) as fetcher:
            for feed_url in dict.fromkeys(feed_urls):
                try:
                    feed = read_feed(fetcher.get(feed_url).body)
                except _PROBLEMS as exc:
                    report.skipped.append((feed_url, str(exc)))
                    continue
                for entry in feed.entries:
                    doc_id = url_id(entry.link) if entry.link else text_id("feed", entry.content_html)
                    if not refresh and (self.web_dir / f"{doc_id}.txt").is_file():
                        items.append((doc_id, None))  # seen: the ingest only hashes it
                        continue
                    try:
                        items.append((doc_id, entry_item(fetcher, feed, entry, feed_url)))
                    except _PROBLEMS as exc:
                        report.skipped.append((entry.link or f"{feed_url} item {entry.title!r}", str(exc)))
        return self._index(self.web_dir, items, report)

    def dump(self, path: Path, fields: FieldMap) -> IngestReport:
        """Index a JSON Lines or CSV dump, ``batch_rows`` rows at a time; bad rows are reported by line."""
        report, batch = IngestReport(), []
        folder = self.corpus_dir / "dumps" / corpus.safe_id(path.stem)
        first_line: dict[str, int] = {}
        for row in _good_rows(path, fields, report):
            if row.doc_id in first_line:
                report.skipped.append((f"{path.name}:{row.line}",
                                       f"id {row.doc_id} repeats line {first_line[row.doc_id]}"))
                continue
            first_line[row.doc_id] = row.line
            batch.append((row.doc_id, row.item))
            if len(batch) >= self.batch_rows:
                self._index(folder, batch, report)
                batch = []
        return self._index(folder, batch, report)

    def _index(self, folder: Path, items: list[tuple[str, NewsItem | None]], report: IngestReport) -> IngestReport:
        """Write the items (None: keep the file there) and ingest them; take back refused new files."""
        if not items:
            return report
        with self.lock():
            created: dict[str, str] = {}  # new file -> where its article came from
            paths = []
            for doc_id, item in items:
                if item is None:
                    paths.append(folder / f"{doc_id}.txt")
                    continue
                path, new = corpus.write(folder, doc_id, item)
                paths.append(path)
                if new:
                    created[str(path)] = item.source or str(path)
            got = self.ingest(list(dict.fromkeys(paths)))
            for path, _reason in got.skipped:
                if path in created:
                    corpus.remove(Path(path))
            got.skipped = [(created.get(path, path), reason) for path, reason in got.skipped]
        return merge(report, got)


def _good_rows(path: Path, fields: FieldMap, report: IngestReport) -> Iterator[Row]:
    """The dump's usable rows; each bad row, and a file that cannot be read, goes into the report."""
    try:
        for row in read_dump(path, fields):
            if isinstance(row, BadRow):
                report.skipped.append((f"{path.name}:{row.line}", row.reason))
            else:
                yield row
    except (OSError, ValueError) as exc:
        report.skipped.append((str(path), str(exc)))


def page_item(fetched: Fetched, source: str, publisher: str | None = None) -> NewsItem:
    """The article on a fetched page (HTML through trafilatura; plain text as it is).

    The outlet is the site name the page states, else ``publisher`` (a feed's title), else the host."""
    if fetched.content_type in HTML_TYPES:
        html = fetched.body.decode(fetched.charset, "replace") if _known(fetched.charset) else decode(fetched.body)[0]
        page = extract(html, fetched.url)
        url = page.url or fetched.url
        return NewsItem(text=page.text, title=page.title, outlet=page.sitename or publisher or outlet_from_url(url),
                        date=page.date, date_source="page markup" if page.date else None, url=url, source=source)
    if fetched.content_type == "text/plain":
        return NewsItem(text=decode(fetched.body)[0].strip(), url=fetched.url,
                        outlet=publisher or outlet_from_url(fetched.url), source=source)
    raise FetchError(f"not an article page (content type {fetched.content_type or 'unknown'})")


def entry_item(fetcher: Fetcher, feed: Feed, entry: Entry, feed_url: str) -> NewsItem:
    """A feed item: its page when it can be fetched, else the feed's own text for it.

    The feed's headline is the title; the date is the page's own, else the feed's."""
    why = "the item has no link"
    if entry.link:
        try:
            page = page_item(fetcher.get(entry.link), feed_url, feed.title)
        except _PROBLEMS as exc:
            why = f"its page could not be read ({exc})"
        else:
            dated = {} if page.date or not entry.date else {"date": entry.date, "date_source": "feed"}
            return replace(page, title=entry.title or page.title, **dated)
    text = fragment_text(entry.content_html).strip()
    if not text:
        raise ExtractionError(f"feed item has no text and {why}")
    return NewsItem(text=text, title=entry.title, outlet=feed.title, date=entry.date,
                    date_source="feed" if entry.date else None, url=entry.link, source=feed_url)


def _known(charset: str | None) -> bool:
    import codecs

    try:
        return bool(charset) and bool(codecs.lookup(charset))
    except LookupError:
        return False


def merge(into: IngestReport, got: IngestReport) -> IngestReport:
    """Add ``got``'s outcome to ``into`` (several ingest rounds, one report)."""
    into.added += got.added
    into.updated += got.updated
    into.unchanged += got.unchanged
    into.removed += got.removed
    into.skipped += got.skipped
    into.passages_embedded += got.passages_embedded
    into.encodings.update(got.encodings)
    into.repaired += got.repaired
    return into
