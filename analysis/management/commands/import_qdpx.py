from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from analysis.qdpx import import_project


class Command(BaseCommand):
    help = "Import a REFI-QDA project (.qdpx) into a new study; prints the new study's slug on the last line."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--name", help="the new study's name (default: the project's)")

    def handle(self, *args, **options):
        try:
            data = Path(options["file"]).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from None
        try:
            report = import_project(data=data, actor=None, name=options["name"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        for line in report.unplaced:
            self.stderr.write(f"not placed: {line}")
        for line in report.skipped_sources:
            self.stderr.write(f"skipped: {line}")
        self.stdout.write(f"{report.sources} source(s), {report.codings} coding(s), users: "
                          f"{', '.join(report.users) or '-'}; {len(report.unplaced)} selection(s) not placed")
        self.stdout.write(report.study.slug)
