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
from codebook.services import COLOR_RE

from .turns import Paragraph


@dataclass(frozen=True)
class Names:
    """The few codes and coders a transcript's codings refer to, fetched once instead of joined per coding."""

    codes: Mapping[int, Code]
    coders: Mapping[int, str]


# The codings list carries this many items in the page; the script appends the rest once the page is interactive
# (a 3,000-coding transcript would otherwise put a megabyte of list in front of the first paint).
LIST_IN_PAGE = 150


def code_styles(codes: Iterable[Code]) -> SafeString:
    """One rule per code setting a highlight's colour (``k<id>``) or its second colour (``j<id>``): a class on each
    mark instead of a style attribute. Only #rrggbb colours get through."""
    rules = []
    for code in codes:
        color = code.color if COLOR_RE.match(code.color or "") else "#888888"
        rules.append(f".k{int(code.pk)}{{--hl:{color}}}.j{int(code.pk)}{{--hl2:{color}}}")
    return mark_safe("".join(rules))  # noqa: S308 - integers and validated colours only


def _run_html(text: str, run: Run, by_id: Mapping[int, Coding]) -> str:
    # Colours come from a class per code (code_styles). A mark's tooltip, naming its codes and coders, is set by the
    # script when the pointer reaches it: a megabyte less to parse on long pages.
    piece = escape(text[run.start : run.end])
    if not run.codings:
        return f'<span data-o="{run.start}">{piece}</span>'
    classes = f"hl k{int(by_id[run.codings[0]].code_id)}"
    if len(run.codings) > 1:
        classes += f" overlap j{int(by_id[run.codings[1]].code_id)}"
    ids = " ".join(map(str, run.codings))
    return f'<mark class="{classes}" data-o="{run.start}" data-codings="{ids}">{piece}</mark>'


def transcript_html(
    text: str, paras: Sequence[Paragraph], runs: Iterable[list[Run]], by_id: Mapping[int, Coding]
) -> SafeString:
    """One ``<p>`` per paragraph with its offsets; a speaker label set apart; one element per run of coverage."""
    runs = iter(runs)
    out: list[str] = []
    for p in paras:
        label_runs = next(runs) if p.speaker is not None else []
        body_runs = next(runs)
        kind = "turn" if p.speaker is not None else "para"
        out.append(f'<p class="{kind}" data-s="{p.start}" data-b="{p.body_start}" data-e="{p.end}">')
        if p.speaker is not None:
            out.append('<span class="speaker">')
            out.extend(_run_html(text, r, by_id) for r in label_runs)
            out.append("</span>")
        out.append('<span class="body">')
        out.extend(_run_html(text, r, by_id) for r in body_runs)
        out.append("</span></p>\n")
    return mark_safe("".join(out))  # noqa: S308 - every text piece above is escaped


def codings_list_html(text: str, codings: Sequence[Coding], names: Names) -> SafeString:
    """The first LIST_IN_PAGE items of the codings list (the page's script adds the others, in the same form)."""
    if not codings:
        return mark_safe('<li class="muted">No codings in this layer.</li>')
    out = []
    for c in codings[:LIST_IN_PAGE]:
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
