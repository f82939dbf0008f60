"""Sentence splitting on text written for the test: titles, ranks and abbreviations end no sentence."""

from __future__ import annotations

import pytest

from index.text import sentence_spans


@pytest.mark.parametrize("text, sentences", [
    ("Maj. Gen. Ann Lee spoke first. Spc. Tom Ray answered.", ["Maj. Gen. Ann Lee spoke first.", "Spc. Tom Ray answered."]),
    ("Sgt. Maj. Bo Kim and Lt. Col. Al Fox met Sen. Dee at St. Mary's. They left.",
     ["Sgt. Maj. Bo Kim and Lt. Col. Al Fox met Sen. Dee at St. Mary's.", "They left."]),
    ("Acme Corp. and Widget Inc. merged in Jan. 2009. Shares rose.",
     ["Acme Corp. and Widget Inc. merged in Jan. 2009.", "Shares rose."]),
    ("Pvt. First Class Joe Doe, of Ft. Hood, died at 4 a.m. Tuesday, the army said. He was 21.",
     ["Pvt. First Class Joe Doe, of Ft. Hood, died at 4 a.m. Tuesday, the army said.", "He was 21."]),
    ("It rained in 2009. The U.N. said so! Was it? Yes.", ["It rained in 2009.", "The U.N. said so!", "Was it?", "Yes."]),
])
def test_sentences_split_at_sentence_ends_only(text: str, sentences: list[str]) -> None:
    assert [text[s:e] for s, e in sentence_spans(text)] == sentences
