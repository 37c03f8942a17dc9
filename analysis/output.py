"""Analysis results as printable tables: one grid per result, written as CSV, XLSX, Markdown or LaTeX (booktabs).
The grid builders are pure; only the XLSX writer needs openpyxl."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from workbench.csvsafe import write_rows

DEFINITION = ("A participant counts for a code if any of their transcripts has a coding of the code or, for a "
              "parent, of any of its sub-codes; parent rows are the distinct union of their subtree.")


@dataclass
class Grid:
    title: str
    caption: str
    header: list[str]
    rows: list[list[Any]]
    depths: list[int] = field(default_factory=list)  # indentation of each row's first cell


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _layer(params: dict[str, Any]) -> str:
    if params.get("layer") == "consensus":
        return "consensus layer"
    coders = params.get("coders") or []
    return f"coders {', '.join(coders)}" if coders else "all coders"


def grid(kind: str, result: dict[str, Any], params: dict[str, Any]) -> Grid:
    if kind == "drivers":
        rows, depths = [], []
        for r in result["rows"]:
            rows.append([r["path"][-1], r["participants"], _pct(r["percent"]),
                         "" if r["transcripts"] is None else r["transcripts"],
                         "" if r["segments"] is None else r["segments"]])
            depths.append(r["depth"])
        return Grid("Codes mentioned by participants",
                    f"N = {result['n']} participants; {_layer(params)}. {DEFINITION} Percentages are of N.",
                    ["Code", "Participants", "% of N", "Transcripts", "Segments"], rows, depths)
    if kind == "crosstab":
        values = [c["value"] for c in result["columns"]]
        header = ["Code"] + [f"{c['value']} (N={c['n']})" for c in result["columns"]] + ["Total"]
        rows, depths = [], []
        for r in result["rows"]:
            cells = [f"{r['counts'][v]} ({_pct(r['column_percent'][v])}%)" for v in values]
            rows.append([r["path"][-1], *cells, r["total"]])
            depths.append(r["depth"])
        return Grid(f"Codes by {result['attribute']}",
                    f"N = {result['n']} participants; {_layer(params)}. Cells: participants with the code and the "
                    f"value (% of the column's N). {DEFINITION}", header, rows, depths)
    if kind == "demographics":
        if result.get("attribute_b"):
            values = [c["value"] for c in result["columns"]]
            header = [result["attribute"]] + [f"{c['value']} (N={c['n']})" for c in result["columns"]] + \
                ["Total", "% of N"]
            rows = [[r["value"], *[r["counts"][v] for v in values], r["total"], _pct(r["percent"])]
                    for r in result["rows"]]
            return Grid(f"{result['attribute']} by {result['attribute_b']}",
                        f"N = {result['n']} participants.", header, rows, [0] * len(rows))
        rows = [[r["value"], r["count"], _pct(r["percent"])] for r in result["rows"]]
        return Grid(f"Participants by {result['attribute']}", f"N = {result['n']} participants.",
                    [result["attribute"], "Participants", "% of N"], rows, [0] * len(rows))
    if kind == "cooccurrence":
        unit = {"participant": "participants", "transcript": "transcripts", "segment": "coding pairs"}[result["level"]]
        rows = [[" › ".join(p["a"]), " › ".join(p["b"]), p["count"], "–" if p["jaccard"] is None else p["jaccard"],
                 _pct(p["a_given"]), _pct(p["b_given"])] for p in result["pairs"]]
        caption = (f"Count: {unit} with both codes; Jaccard / c-coefficient n12/(n1+n2−n12); "
                   f"“% of A” is the share of A's {('codings' if result['level'] == 'segment' else unit)} that also "
                   f"have B. {_layer(params)}.")
        return Grid("Codes occurring together", caption, ["Code A", "Code B", "Count", "Jaccard", "% of A", "% of B"],
                    rows, [0] * len(rows))
    if kind == "matrix":
        header = ["Participant", *result["attributes"], *[" › ".join(c["path"]) for c in result["codes"]]]
        rows = [[r["label"], *r["attributes"], *r["values"]] for r in result["rows"]]
        return Grid("Codes by participant", ("Number of codings" if result["counts"] else "1 = the participant has the "
                    "code (or a sub-code), 0 = not") + f"; {_layer(params)}.", header, rows, [0] * len(rows))
    if kind == "agreement":
        coders = result["coders"]
        if result["unit"] == "segment":
            header = ["Code", "Matched codings", *[f"Codings: {c}" for c in coders]]
            rows = [[r["path"][-1], _pct(None if r["matched"] is None else 100 * r["matched"]),
                     *[r["units_coded"].get(c, 0) for c in coders]] for r in result["codes"]]
        else:
            header = ["Code", "% agreement", "% agreement (coded units)", "Kappa", "Alpha", "Alpha 95% CI",
                      *[f"Units: {c}" for c in coders]]
            rows = [[r["path"][-1], _ratio(r["percent_agreement"]), _ratio(r["coded_agreement"]), _num(r["kappa"]),
                     _num(r["alpha"]), _ci(r["alpha_ci"]), *[r["units_coded"].get(c, 0) for c in coders]]
                    for r in result["codes"]]
        caption = (f"Unit: {result['unit']}; coders {', '.join(coders)}; {result['transcripts']} transcript(s). "
                   f"Kappa is Cohen's for two coders, Fleiss' for more; alpha is Krippendorff's (nominal); the "
                   f"interval is a cluster bootstrap over transcripts ({result['method']['resamples']} resamples, "
                   f"seed {result['method']['seed']}). – means undefined (no variation).")
        return Grid("Inter-coder agreement", caption, header, rows, [r["depth"] for r in result["codes"]])
    raise ValueError(f"unknown analysis {kind!r}")


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _ci(value: list[float] | None) -> str:
    return "–" if not value else f"[{value[0]:.3f}, {value[1]:.3f}]"


def to_csv(g: Grid) -> str:
    return write_rows([g.header, *[[("  " * d) + str(r[0]), *r[1:]] for r, d in zip(g.rows, g.depths, strict=True)]])


def to_markdown(g: Grid) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [f"**{cell(g.title)}**", "", "| " + " | ".join(cell(h) for h in g.header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(g.header) - 1)) + "|"]
    for row, depth in zip(g.rows, g.depths, strict=True):
        first = "&nbsp;&nbsp;" * depth + cell(row[0])
        lines.append("| " + " | ".join([first, *[cell(v) for v in row[1:]]]) + " |")
    lines += ["", cell(g.caption), ""]
    return "\n".join(lines)


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(value: Any) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(value))


def to_latex(g: Grid) -> str:
    columns = "l" + "r" * (len(g.header) - 1)
    lines = [r"\begin{table}[htbp]", r"\centering", f"\\caption{{{latex_escape(g.title)}. {latex_escape(g.caption)}}}",
             f"\\begin{{tabular}}{{{columns}}}", r"\toprule",
             " & ".join(latex_escape(h) for h in g.header) + r" \\", r"\midrule"]
    for row, depth in zip(g.rows, g.depths, strict=True):
        first = (r"\quad " * depth) + latex_escape(row[0])
        lines.append(" & ".join([first, *[latex_escape(v) for v in row[1:]]]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def to_xlsx(g: Grid) -> bytes:
    import openpyxl
    from openpyxl.cell.cell import TYPE_STRING

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Table"
    sheet.append([g.title])
    sheet.append(g.header)
    for row, depth in zip(g.rows, g.depths, strict=True):
        sheet.append([("  " * depth) + str(row[0]), *row[1:]])
    for cells in sheet.iter_rows():
        for c in cells:
            if isinstance(c.value, str):
                c.data_type = TYPE_STRING  # text is never a formula
    sheet.append([])
    sheet.append([g.caption])
    sheet.cell(row=sheet.max_row, column=1).data_type = TYPE_STRING
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
