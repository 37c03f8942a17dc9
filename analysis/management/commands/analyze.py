from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from analysis import output, services
from interviews.models import Study


class Command(BaseCommand):
    help = "Compute an analysis table (the same numbers as the web page) and print it as CSV or JSON."

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's slug")
        parser.add_argument("table", choices=["drivers", "crosstab", "demographics", "cooccurrence", "matrix"])
        parser.add_argument("--attribute", help="participant attribute (crosstab, demographics)")
        parser.add_argument("--attribute-b", help="second attribute (demographics)")
        parser.add_argument("--bins", help="bin edges for a number attribute, e.g. 30,40,50")
        parser.add_argument("--coder", action="append", default=[], metavar="USERNAME",
                            help="count this coder's layer (repeat for several; default: all coders)")
        parser.add_argument("--layer", choices=["coder", "consensus"], default="coder")
        parser.add_argument("--level", choices=["participant", "transcript", "segment"], default="participant")
        parser.add_argument("--depth", default="all", help="code level for co-occurrence and matrix (0 = top)")
        parser.add_argument("--within", type=int, default=0, help="segment co-occurrence within N characters")
        parser.add_argument("--same-turn", action="store_true", help="segment co-occurrence in the same turn")
        parser.add_argument("--counts", action="store_true", help="matrix: numbers of codings instead of 0/1")
        parser.add_argument("--tag", action="append", default=[], help="only transcripts with this tag")
        parser.add_argument("--where", action="append", default=[], metavar="ATTRIBUTE=V1,V2",
                            help="only participants with one of these values")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with the slug {options['study']!r}")
        attributes = {}
        for clause in options["where"]:
            name, _, values = clause.partition("=")
            attributes[name.strip()] = [v.strip() for v in values.split(",") if v.strip()]
        raw = {"layer": options["layer"], "coders": options["coder"], "attribute": options["attribute"],
               "attribute_b": options["attribute_b"], "bins": options["bins"] or "", "level": options["level"],
               "depth": options["depth"], "within": options["within"], "same_turn": options["same_turn"],
               "counts": options["counts"], "filters": {"tags": options["tag"], "attributes": attributes}}
        kind = options["table"]
        try:
            params = services.clean_parameters(study, kind, raw)
            result = services.compute(study, kind, params)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if options["format"] == "json":
            self.stdout.write(json.dumps(public_json(kind, result), ensure_ascii=False, indent=1))
        else:
            self.stdout.write(output.to_csv(output.grid(kind, result, params)), ending="")


def public_json(kind: str, result: dict) -> dict:
    """The stable JSON interface (see docs/analysis.md)."""
    if kind == "drivers":
        return {"n": result["n"], "rows": [
            {"path": r["path"], "kind": r["kind"], "participants": r["participants"], "percent": r["percent"],
             "transcripts": r["transcripts"], "segments": r["segments"]} for r in result["rows"]]}
    if kind == "crosstab":
        return {"attribute": result["attribute"], "n": result["n"], "columns": result["columns"],
                "rows": [{"path": r["path"], "counts": r["counts"], "total": r["total"]} for r in result["rows"]]}
    if kind == "cooccurrence":
        return {"level": result["level"], "pairs": [
            {"a": p["a"], "b": p["b"], "count": p["count"], "jaccard": p["jaccard"], "a_given": p["a_given"],
             "b_given": p["b_given"]} for p in result["pairs"]]}
    return result
