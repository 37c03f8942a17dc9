"""HTML for the transcript text and its codings list, built in Python: a long transcript has thousands of runs,
and one template include per run costs more than the rest of the page. Every piece of text goes through
``escape``; the result is marked safe only here."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from codebook.highlight import Run
from codebook.models import Code, Coding

from .turns import Paragraph


@dataclass(frozen=True)
class Names:
    """The few codes and coders a transcript's codings refer to, fetched once instead of joined per coding."""

    codes: Mapping[int, Code]
    coders: Mapping[int, str]


class _Labels:
    """Escaped per-coding strings, computed once per coding rather than once per run."""

    def __init__(self, by_id: Mapping[int, Coding], names: Names) -> None:
        self.by_id = by_id
        self.names = names
        self.title: dict[int, str] = {}
        self.color: dict[int, str] = {}

    def of(self, coding_id: int) -> tuple[str, str]:
        if coding_id not in self.title:
            c = self.by_id[coding_id]
            code = self.names.codes[c.code_id]
            consensus = ", consensus" if c.layer == "consensus" else ""
            self.title[coding_id] = escape(f"{code.name} ({self.names.coders[c.coder_id]}{consensus})")
            self.color[coding_id] = escape(code.color)
        return self.title[coding_id], self.color[coding_id]


def _run_html(text: str, run: Run, labels: _Labels) -> str:
    piece = escape(text[run.start : run.end])
    if not run.codings:
        return f'<span data-o="{run.start}">{piece}</span>'
    titles = [labels.of(i)[0] for i in run.codings]
    style = f"--hl: {labels.of(run.codings[0])[1]}"
    classes = "hl"
    if len(run.codings) > 1:
        classes += " overlap"
        style += f"; --hl2: {labels.of(run.codings[1])[1]}"
    ids = " ".join(map(str, run.codings))
    return (f'<mark class="{classes}" style="{style}" data-o="{run.start}" data-codings="{ids}" '
            f'title="{"; ".join(titles)}">{piece}</mark>')


def transcript_html(
    text: str, paras: Sequence[Paragraph], runs: Iterable[list[Run]], by_id: Mapping[int, Coding], names: Names
) -> SafeString:
    """One ``<p>`` per paragraph with its offsets; a speaker label set apart; one element per run of coverage."""
    runs = iter(runs)
    labels = _Labels(by_id, names)
    out: list[str] = []
    for p in paras:
        label_runs = next(runs) if p.speaker is not None else []
        body_runs = next(runs)
        kind = "turn" if p.speaker is not None else "para"
        out.append(f'<p class="{kind}" data-s="{p.start}" data-b="{p.body_start}" data-e="{p.end}">')
        if p.speaker is not None:
            out.append('<span class="speaker">')
            out.extend(_run_html(text, r, labels) for r in label_runs)
            out.append("</span>")
        out.append('<span class="body">')
        out.extend(_run_html(text, r, labels) for r in body_runs)
        out.append("</span></p>\n")
    return mark_safe("".join(out))  # noqa: S308 - every text piece above is escaped


def codings_list_html(text: str, codings: Sequence[Coding], names: Names) -> SafeString:
    if not codings:
        return mark_safe('<li class="muted">No codings in this layer.</li>')
    out = []
    for c in codings:
        quote = text[c.start : c.end]
        quote = quote if len(quote) <= 240 else quote[:239] + "…"
        layer = " · consensus" if c.layer == "consensus" else ""
        memo = f'<p class="memo small">{escape(c.memo)}</p>' if c.memo else ""
        code = names.codes[c.code_id]
        out.append(
            f'<li id="coding-{c.pk}" data-coding="{c.pk}"><span class="swatch" style="background: '
            f'{escape(code.color)}"></span> <strong>{escape(code.name)}</strong> <span class="muted small">'
            f"{escape(names.coders[c.coder_id])}{layer} · {c.start}–{c.end}</span>"
            f"<blockquote>{escape(quote)}</blockquote>{memo}</li>\n"
        )
    return mark_safe("".join(out))  # noqa: S308 - every text piece above is escaped
