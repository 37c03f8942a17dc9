"""Paragraphs and speaker turns of a stored transcript text. Pure functions, no Django.

Every line of the stored text (lines end with ``\\n``) is a paragraph. A paragraph that starts with a speaker label
(``Interviewer:``, ``I:``, ``R:``, ``P07:``, ``访谈者：`` with the full-width colon) is a speaker turn; the label is
reported separately so pages can set it apart. Offsets are Python ``str`` indexes (Unicode code points).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# A label is one to three short words (Latin or CJK) followed by an ASCII or full-width colon.
SPEAKER_RE = re.compile(r"^[ \t]*((?:[^\W\d_]|\d){1,24}(?:[ .\-](?:[^\W_]){1,24}){0,2})[ \t]*[:：][ \t]*", re.UNICODE)


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
        match = SPEAKER_RE.match(line)
        if match and len(line) > match.end():
            result.append(Paragraph(start, end, match.group(1), start + match.end()))
        else:
            result.append(Paragraph(start, end, None, start))
    return result
