from __future__ import annotations

import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from codebook.interchange import codebook_export_csv, codebook_export_qdc
from interviews.models import Study


class Command(BaseCommand):
    help = "Export a study's codebook as REFI-QDA .qdc or CSV (to stdout or --output FILE)."

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's slug")
        parser.add_argument("--format", choices=["qdc", "csv"], default="qdc")
        parser.add_argument("--output", metavar="FILE")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with the slug {options['study']!r}")
        try:
            if options["format"] == "qdc":
                data = codebook_export_qdc(study=study)
            else:
                data = codebook_export_csv(study=study).encode("utf-8")
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if options["output"]:
            try:
                Path(options["output"]).write_bytes(data)
            except OSError as exc:
                raise CommandError(f"cannot write {options['output']}: {exc.strerror}") from None
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
