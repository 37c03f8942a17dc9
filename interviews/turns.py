"""Paragraphs and speaker turns of a stored transcript text. Pure functions, no Django.

Every line of the stored text (lines end with ``\\n``) is a paragraph. A paragraph that starts with a speaker label
(``Interviewer:``, ``I:``, ``R:``, ``P07:``, ``访谈者：`` with the full-width colon) is a speaker turn; the label is
reported separately so pages can set it apart. Offsets are Python ``str`` indexes (Unicode code points).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# A candidate label: up to 40 characters without a colon, then an ASCII or full-width colon.
LABEL_RE = re.compile(r"^[ \t]*([^:：\n]{1,40}?)[ \t]*[:：][ \t]*")
WORD_RE = re.compile(r"^[^\W_][\w.'\-]{0,23}$")


def is_label(candidate: str) -> bool:
    """One word (``Interviewer``, ``R``, ``P07``, ``访谈者``), or up to three words that each start with a capital
    letter or a digit (``Speaker 2``, ``Participant A``), so an ordinary sentence ending in a colon is no label."""
    words = candidate.split()
    if not 1 <= len(words) <= 3 or not all(WORD_RE.match(w) for w in words):
        return False
    if len(words) == 1:
        return True
    return all(w[0].isupper() or w[0].isdigit() for w in words)


@dataclass(frozen=True, slots=True)
class Paragraph:
    start: int  # first character of the line
    end: int  # one past the last character, newline excluded
    speaker: str | None  # the label without its colon, or None
    body_start: int  # where the text after the label begins (== start when no label)


def paragraphs(text: str) -> list[Paragraph]:
    """All non-blank lines of ``text`` as paragraphs, in order."""
    result: list[Paragraph] = []
    position = 0
    for line in text.split("\n"):
        start, end = position, position + len(line)
        position = end + 1
        if not line.strip():
            continue
        match = LABEL_RE.match(line)
        if match and len(line) > match.end() and is_label(match.group(1)):
            result.append(Paragraph(start, end, match.group(1), start + match.end()))
        else:
            result.append(Paragraph(start, end, None, start))
    return result
