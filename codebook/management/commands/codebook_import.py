from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from codebook.interchange import codebook_import_qdc
from interviews.models import Study


class Command(BaseCommand):
    help = "Merge a REFI-QDA .qdc codebook into a study's codebook (by GUID, then by path); reports what was added."

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's slug")
        parser.add_argument("file", help="a .qdc file")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with the slug {options['study']!r}")
        try:
            data = Path(options["file"]).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from None
        try:
            report = codebook_import_qdc(study=study, data=data, actor=None)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        for path in report["added"]:
            self.stdout.write(f"added\t{path}")
        self.stdout.write(f"{len(report['added'])} added, {report['matched_by_guid']} matched by GUID, "
                          f"{report['matched_by_path']} matched by path")
