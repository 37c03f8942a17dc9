from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from analysis import output, services
from codebook.models import Code
from interviews.models import Study


class Command(BaseCommand):
    help = "Inter-coder agreement per code (and overall) between two or more coders, as CSV or JSON."

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's slug")
        parser.add_argument("--coders", nargs="+", required=True, metavar="USERNAME")
        parser.add_argument("--unit", choices=["character", "turn", "transcript", "segment"], default="character")
        parser.add_argument("--code", metavar="PATH", help="a code path such as 'Social networks > Kinship'")
        parser.add_argument("--threshold", type=float, default=0.9, help="segment match: overlap / union")
        parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for alpha's interval")
        parser.add_argument("--tag", action="append", default=[], help="only transcripts with this tag")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with the slug {options['study']!r}")
        code_id = None
        if options["code"]:
            code_id = code_by_path(study, options["code"])
        raw = {"coders": options["coders"], "unit": options["unit"], "code": code_id, "tags": options["tag"],
               "threshold": options["threshold"], "resamples": options["resamples"]}
        try:
            params = services.clean_parameters(study, "agreement", raw)
            result = services.compute(study, "agreement", params)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if options["format"] == "json":
            self.stdout.write(json.dumps(public_json(result), ensure_ascii=False, indent=1))
        else:
            self.stdout.write(output.to_csv(output.grid("agreement", result, params)), ending="")


def code_by_path(study: Study, path: str) -> int:
    parent = None
    for name in [p.strip() for p in path.split(">")]:
        code = Code.objects.filter(study=study, parent=parent, name__iexact=name).first()
        if code is None:
            raise CommandError(f"no code {path!r} in this study")
        parent = code
    return parent.pk


def public_json(result: dict) -> dict:
    """The stable JSON interface (docs/agreement.md)."""
    keys = ("percent_agreement", "coded_agreement", "kappa", "alpha", "alpha_ci", "units_coded")
    codes = []
    for row in result["codes"]:
        item = {"path": row["path"], **{k: row.get(k) for k in keys}}
        if result["unit"] == "segment":
            item["matched"] = row["matched"]
        codes.append(item)
    return {"unit": result["unit"], "coders": result["coders"], "codes": codes, "overall": result["overall"]}
