"""Answer selection pieces on small hand-made passages: page roles, answer phrases, the named-slot rule."""

from __future__ import annotations

import pytest

from index.store import StoredPassage
from rag.abstention import Abstainer
from rag.answer import answer, answer_span, answer_type, missing_name
from rag.calibrate import rare_name_cut
from rag.evaluate import Row
from rag.fields import field_words, role_words, segment
from rag.retrieve import Hit, HybridRetriever, LexicalIndex, query_forms
from index.text import content_words, stem


@pytest.mark.parametrize("text, role", [
    ("By [AFP](#)", "byline"),
    ("By Jane Doe and John Roe", "byline"),
    ("June 21, 2021", "dateline"),
    ("Thursday, October 21, 2021", "dateline"),
    ("Officials met in Moscow. **Mikhail Klimentyev/TASS**", "photo"),
    ("Two ministers walk past the guard. Picture taken June 22, 2021.", "photo"),
    ("by the way, this is an ordinary sentence", None),
    ("Take the vaccine and/or a booster, his/her doctor said.", None),
    ("By " + "A." * 200 + " x", None),  # no catastrophic backtracking: this returns at once
    ("The officials met on Monday and agreed to improve ties.", None),
])
def test_role_words(text: str, role: str | None) -> None:
    words = role_words(text).split()
    assert (role in words) if role else words == []


def test_outlet_domain_is_split_into_words() -> None:
    known = frozenset({"the", "moscow", "times", "them", "new", "york"})
    assert segment("themoscowtimes", known) == ["the", "moscow", "times"]
    assert segment("xyzzy", known) == ["xyzzy"]  # nothing known: kept whole
    assert field_words("Text.", "news.newyork.co.uk", known) == "new york"  # the name label, not "news"
    words = field_words("By [AFP](#)", "themoscowtimes.com", known)
    assert words.startswith("the moscow times byline ")
    assert field_words("Plain text.", "unknown", known) == ""
    assert field_words("Plain text.", "Reuters", known) == "Reuters"


@pytest.mark.parametrize("question, kind", [
    ("Which country voted against the resolution?", "name"),
    ("Which junta officials were targeted?", "name"),
    ("What is Min Aung Hlaing's military rank?", "name"),
    ("whats the name of the capital", "name"),
    ("Who met the minister?", "who"),
    ("When did he arrive?", "date"),
    ("On what exact date did the army take over?", "calendar date"),
    ("How many countries abstained?", "number"),
    ("How long did the meeting last?", "duration"),
    ("Why was the army blacklisted?", "reason"),
    ("What did state TV say the two militaries agreed to keep up?", None),
    ("What did the minister say about the talks?", None),  # a minister speaks; no name is asked for
])
def test_answer_type(question: str, kind: str | None) -> None:
    assert answer_type(question) == kind


def test_answer_span_is_the_new_name_nearest_the_question_words() -> None:
    idf = {"belarus": 3.0, "china": 3.0, "russia": 1.0, "vote": 2.0, "against": 1.0}
    sentence = "China abstained, while Belarus voted against it."
    strength, span, near = answer_span("name", sentence, {"vote", "against"}, idf)
    assert strength == near == 1.0 and sentence[span[0]:span[1]] == "Belarus"
    # month and weekday names are dates, not names; a lone capitalised opener is no name either
    assert answer_span("name", "On Monday in April they met.", {"met"}, idf) == (0.0, None, 0.0)
    strength, span, _ = answer_span("date", "They met on Monday, officials said.", {"met"}, idf)
    assert strength == 1.0 and "They met on Monday, officials said."[span[0]:span[1]] == "Monday"
    # "may" and "march" are dates only as names
    assert answer_span("date", "Officials may march on Friday.", {"official"}, idf)[0] == 1.0
    assert answer_span("date", "Officials may march again.", {"official"}, idf) == (0.0, None, 0.0)
    # a headline capitalises every word: no name in it
    assert answer_span("name", "Russia, Myanmar Agree to Bolster Ties", {"russia"}, idf) == (0.0, None, 0.0)
    # "what date" wants a calendar date: a weekday is no answer to it; nearness fades with distance
    assert answer_span("calendar date", "They met on Monday.", {"met"}, idf) == (0.0, None, 0.0)
    far = "The coup came on February 1, long before anyone in the capital or abroad expected it to."
    assert answer_span("calendar date", far, {"expect"}, idf)[2] < answer_span("calendar date", far, {"coup"}, idf)[2]


def _hit(text: str, dense: float = 0.8) -> Hit:
    meta = {"doc_id": "a", "title": "t", "outlet": "unknown", "date": None, "url": None}
    return Hit(StoredPassage("a:0", "a", 0, len(text), text, meta), score=1.0, dense=dense)


def test_a_named_slot_left_empty_abstains() -> None:
    """'Which group...' wants a name; a passage naming none does not answer it, however close its words."""
    text = "The crackdown has killed at least 870 civilians, according to a local monitoring group."
    always = Abstainer({}, bias=5.0)  # would answer anything on evidence alone
    idf = {"crackdown": 2.0, "civilian": 1.5, "monitor": 2.0, "group": 2.0, "kill": 1.0, "count": 1.0}
    named = answer("Which monitoring group counted the civilians killed?", [_hit(text)], idf, abstainer=always)
    assert named.abstained and named.confidence == 0.0
    who = answer("Who counted the civilians killed in the crackdown?", [_hit(text)], idf, abstainer=always)
    assert not who.abstained and who.answer == text  # "who" can be answered without a proper name
    # a name opening the sentence, or in a short sentence of mostly names, still fills the slot
    for question, text in [("Which country voted against the resolution?", "Belarus voted against it on Friday."),
                           ("Which leader met Putin?", "Chinese President Xi Jinping met Putin.")]:
        assert not answer(question, [_hit(text)], idf, abstainer=always).abstained, text


def test_a_role_asked_for_brings_the_line_of_the_article_found() -> None:
    """The dateline shares no word with the question; it joins the pool as a line of the article the
    question finds, and wins on that article's title. Another article's dateline stays out."""
    def passage(doc: str, i: int, text: str, title: str) -> StoredPassage:
        meta = {"doc_id": doc, "title": title, "outlet": "unknown", "date": None, "url": None}
        return StoredPassage(f"{doc}:{i}", doc, i * 100, i * 100 + len(text), text, meta)

    title = "Ministers agree to boost trade"
    passages = [passage("a", 0, "June 22, 2021", title),
                passage("a", 1, "The ministers met in Hanoi on Monday and agreed to boost trade.", title),
                passage("b", 0, "June 1, 2020", "Storms hit the coast"),
                passage("b", 1, "Storms hit the coast on Friday.", "Storms hit the coast")]
    retriever = HybridRetriever(passages, dense=lambda forms, k, where=None: [[] for _ in forms])  # BM25 alone here
    question = "When was the article on ministers boosting trade published?"
    hits = retriever.retrieve(question, k=1)
    assert [h.passage.passage_id for h in hits] == ["a:1", "a:0"]
    idf = {stem(w): 1.0 for p in passages for w in content_words(p.text + " " + p.meta["title"])}
    result = answer(question, hits, idf, abstainer=Abstainer({}, bias=5.0))
    assert result.answer == "June 22, 2021"
    assert [h.passage.passage_id for h in retriever.retrieve("When did the ministers meet?", k=1)] == ["a:1"]


def test_a_count_is_not_a_modifier() -> None:
    idf = {"council": 1.0}
    assert answer_span("number", "Russia sits on the 15-member council.", {"countri"}, idf)[0] == 0.0
    assert answer_span("number", "It was approved by 119 countries.", {"approv"}, idf)[0] == 1.0
    assert answer_span("number", "It was a three-day conference.", {"day"}, idf)[0] == 1.0  # a time unit counts
    assert answer_type("How old was she?") == "number"
    assert answer_span("number", "She marked her 76th birthday.", {"old"}, idf)[0] == 1.0


def test_capitals_in_a_credit_line_are_names() -> None:
    credit = "SOURCE: VADIM SAVITSKY / RUSSIAN DEFENCE MINISTRY PRESS OFFICE/ TASS"
    assert answer_span("name", credit, {"agenc"}, {"tass": 2.0})[0] == 0.0  # read as a headline
    assert answer_span("name", credit, {"agenc"}, {"tass": 2.0}, credit=True)[0] > 0.0


def test_missing_name_is_the_rarest_name_or_number_the_context_lacks() -> None:
    idf = {"peac": 1.0, "belarus": 2.0, "vote": 1.0, "2021": 2.0, "russia": 0.5}
    question = "Who won the Nobel Peace Prize in 1991?"
    assert missing_name(question, "peace talks", idf) == 1.0  # no article has "Nobel": as rare as can be
    assert missing_name("Did Belarus vote in 2021?", "Belarus voted in 2021.", idf) == 0.0  # "Did" opens it
    assert missing_name("Did Belarus and Russia vote?", "Belarus voted.", idf) == 0.25  # Russia: 0.5 / 2.0
    assert missing_name("Why? What did the US say", "", idf) == 0.0  # an opener; "US" is too short a name
    assert missing_name("Did a Russian official vote?", "Russia voted.", idf) == 0.0  # "Russia" mentions "Russian"
    assert missing_name("Was Russian-built hardware shown?", "Russia showed jets.", idf) == 0.0  # "built" is no name


def test_rare_name_cut_weighs_unanswerable_against_right_answers() -> None:
    def row(value: float, answerable: bool, correct: bool = False) -> dict:
        return {"features": {"missing_name": value}, "row": Row("x", "q", [], [], answerable), "correct": correct}

    rows = [row(1.0, False), row(0.8, False), row(0.9, True, correct=False), row(0.2, True, correct=True)]
    assert rare_name_cut(rows) == 0.5  # a wrong answer turned into "don't know" costs nothing
    assert rare_name_cut(rows + [row(1.0, True, correct=True)]) == 0.5  # one odd right answer: still a rule
    assert rare_name_cut([row(0.9, True, correct=True), row(0.5, False), row(0.6, False)]) == 0.25
    assert rare_name_cut([row(0.5, True, correct=True), row(0.9, True, correct=True)]) is None


def test_a_question_about_something_else_abstains(seeded) -> None:
    result = seeded.ask("Who won the Nobel Peace Prize in 1991?")  # "peace" is in the articles, the rest isn't
    assert result.abstained and result.confidence == 0.0


def test_abstainer_rules_out_a_rare_name_the_answer_never_mentions() -> None:
    model = Abstainer({"dense": 5.0}, bias=0.0, rare_name=0.5)
    assert model.probability({"dense": 1.0, "missing_name": 0.6}) == 0.0
    assert model.probability({"dense": 1.0, "missing_name": 0.4}) > 0.99
    assert Abstainer({"dense": 5.0}, bias=0.0).probability({"dense": 1.0, "missing_name": 1.0}) > 0.99


def test_dense_search_also_embeds_the_keyword_form() -> None:
    assert query_forms("How was the general dressed in the footage?") == [
        "How was the general dressed in the footage?", "general dressed footage"]
    assert query_forms("shoigu military cooperation") == ["shoigu military cooperation"]


def test_typo_correction() -> None:
    text = "The capital hosted the generals, who came but refused to condemn the coup."
    meta = {"doc_id": "a", "title": "t", "outlet": "unknown", "date": None, "url": None}
    lexical = LexicalIndex([StoredPassage("a:0", "a", 0, len(text), text, meta)],
                           lambda: {"capitol", "general", "generals", "the", "name"})
    assert lexical.correct("whats the capitol") == "whats the capitol capital"  # a real word, maybe a slip
    assert lexical.correct("did they condem the coup") == "did they condemn the coup"  # no such word
    assert lexical.correct("which general") == "which general"  # an inflection of "generals" is no slip
    assert lexical.correct("the name") == "the name"  # too short to call "came" a slip of it


def test_semantics_cache_is_bounded_and_changes_no_score(embedder) -> None:
    """A serving process must not grow with the questions asked: the vector cache keeps at most its
    size, and a score is the same whether its vectors came from the cache or the model."""
    from rag.semantics import Semantics

    sentences = [f"The ferry to island number {i} left the harbour at dawn." for i in range(30)]
    words = [content_words(s) for s in sentences]
    question_words = {w: 1.0 for w in content_words("When did the ferry leave the harbour?")}
    cold = Semantics(embedder.get_text_embedding_batch, embedder.get_query_embedding, cache_size=10**6)
    small = Semantics(embedder.get_text_embedding_batch, embedder.get_query_embedding, cache_size=12)
    for _ in range(2):  # the second pass reads what the first cached (and evicted)
        located = [((f"p{i}", (0, len(s))), s) for i, s in enumerate(sentences)]  # none stored: all embedded
        assert small.similarity("When did the ferry leave?", located) == pytest.approx(
            cold.similarity("When did the ferry leave?", located), abs=1e-5)
        assert small.soft_coverage(question_words, words) == pytest.approx(
            cold.soft_coverage(question_words, words), abs=1e-5)
        assert len(small._vectors) <= 12
