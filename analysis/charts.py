"""Server-side SVG charts: a bar chart of the driver table and a heat map of co-occurrence. No Django, no JS."""
from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr


def driver_bars(result: dict[str, Any], colors: dict[int, str]) -> str:
    rows = [r for r in result["rows"] if r["kind"] == "code"]
    if not rows:
        return ""
    n = max(result["n"], 1)
    bar_h, gap, label_w, chart_w = 18, 6, 260, 420
    height = len(rows) * (bar_h + gap) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{label_w + chart_w + 80}" '
             f'height="{height}" viewBox="0 0 {label_w + chart_w + 80} {height}">',
             f"<title>Participants per code (N = {result['n']})</title>"]
    for i, row in enumerate(rows):
        y = i * (bar_h + gap) + 4
        width = chart_w * row["participants"] / n
        color = colors.get(row["code_id"], "#64748b")
        indent = 14 * row["depth"]
        weight = "600" if row["depth"] == 0 else "400"
        parts.append(f'<text x="{indent}" y="{y + bar_h - 5}" font-size="12" font-weight="{weight}">'
                     f"{escape(row['path'][-1])}</text>")
        parts.append(f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h}" fill={quoteattr(color)} '
                     f'rx="2"><title>{escape(" › ".join(row["path"]))}: {row["participants"]}</title></rect>')
        share = "" if row["percent"] is None else f" ({row['percent']:.0f}%)"
        parts.append(f'<text x="{label_w + width + 6:.1f}" y="{y + bar_h - 5}" font-size="12">'
                     f'{row["participants"]}{share}</text>')
    y = len(rows) * (bar_h + gap) + 20
    parts.append(f'<line x1="{label_w}" y1="{y - 12}" x2="{label_w + chart_w}" y2="{y - 12}" stroke="#94a3b8"/>')
    parts.append(f'<text x="{label_w}" y="{y + 4}" font-size="11" fill="#64748b">0</text>')
    parts.append(f'<text x="{label_w + chart_w - 30}" y="{y + 4}" font-size="11" fill="#64748b">'
                 f'N = {result["n"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heatmap(result: dict[str, Any]) -> str:
    codes = result["codes"]
    if len(codes) < 2:
        return ""
    index = {c["id"]: i for i, c in enumerate(codes)}
    value: dict[tuple[int, int], dict[str, Any]] = {}
    for pair in result["pairs"]:
        a, b = index[pair["a_id"]], index[pair["b_id"]]
        value[(a, b)] = value[(b, a)] = pair
    cell, label_w = 26, 200
    size = label_w + cell * len(codes) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{size}" height="{size}" '
             f'viewBox="0 0 {size} {size}"><title>Co-occurrence (Jaccard)</title>']
    for i, code in enumerate(codes):
        name = escape(code["path"][-1])
        parts.append(f'<text x="{label_w - 6}" y="{label_w + i * cell + cell - 8}" font-size="11" '
                     f'text-anchor="end">{name}</text>')
        parts.append(f'<text transform="translate({label_w + i * cell + cell - 8},{label_w - 6}) rotate(-60)" '
                     f'font-size="11">{name}</text>')
    for (a, b), pair in value.items():
        j = pair["jaccard"] or 0.0
        shade = int(255 - 200 * min(1.0, j))
        title = (f"{' › '.join(pair['a'])} & {' › '.join(pair['b'])}: count {pair['count']}, "
                 f"Jaccard {pair['jaccard'] if pair['jaccard'] is not None else '–'}")
        parts.append(f'<rect x="{label_w + b * cell}" y="{label_w + a * cell}" width="{cell - 2}" height="{cell - 2}" '
                     f'fill="rgb({shade},{shade + (255 - shade) // 3},255)"><title>{escape(title)}</title></rect>')
        if pair["count"]:
            parts.append(f'<text x="{label_w + b * cell + (cell - 2) / 2}" y="{label_w + a * cell + cell / 2 + 3}" '
                         f'font-size="9" text-anchor="middle">{pair["count"]}</text>')
    parts.append("</svg>")
    return "".join(parts)
