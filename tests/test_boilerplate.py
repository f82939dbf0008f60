"""Page furniture of other sites, in general terms (text written for the test): never content, never an answer."""

from __future__ import annotations

from index.boilerplate import content_lines


def _content(text: str) -> list[str]:
    return [text[s:e] for s, e in content_lines(text)]


def test_link_teasers_and_sharing_prompts_are_not_content() -> None:
    text = ("The mayor opened the bridge on Friday.\n"
            "See the original article on Example.com\n"
            "\"It is a fine day,\" she said.  Watch the mayor cut the ribbon »  Crowds cheered.\n"
            "Traffic resumed at noon, police said. E-mail to a friend\n"
            "Read the full story at EXAMPLE.com.\n"
            "Copyright 2011 Example News. All rights reserved.\n"
            "He told reporters to \"watch this space\" and left.\n")
    assert _content(text) == ["The mayor opened the bridge on Friday.", "\"It is a fine day,\" she said.",
                              "Crowds cheered.", "Traffic resumed at noon, police said.",
                              "He told reporters to \"watch this space\" and left."]
