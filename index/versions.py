"""Versions of the code that shapes what is stored. Both are part of every article's content hash,
so bumping one re-indexes every article on the next ingest: bump it whenever parsing (text,
metadata) or chunking (passage boundaries) would give a different result for the same file."""

PARSER_VERSION = 2
CHUNKER_VERSION = 1
