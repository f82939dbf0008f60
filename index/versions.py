"""Versions of the code that shapes what is stored. All are part of every article's content hash,
so bumping one re-indexes every article on the next ingest: bump it whenever parsing (text,
metadata), chunking (passage boundaries) or what is embedded per passage (its sentences, as
``index.text.sentence_spans`` splits them, and its words) would give a different result for the same file."""

PARSER_VERSION = 2
CHUNKER_VERSION = 1
VECTORS_VERSION = 3  # 1: each passage's sentence vectors and new word vectors stored at ingest; 2: packed as record documents; 3: packed in record metadata
