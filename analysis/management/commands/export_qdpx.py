from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.qdpx import export_project
from interviews.models import Study
from interviews.services import audit_record


class Command(BaseCommand):
    help = "Export a study as a REFI-QDA project (.qdpx): codebook, participants, transcripts, codings, memos."

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's slug")
        parser.add_argument("--output", required=True, metavar="FILE")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with the slug {options['study']!r}")
        data = export_project(study)
        target = Path(options["output"])
        try:
            fd, temporary = tempfile.mkstemp(prefix=".qdpx-", dir=target.parent if str(target.parent) else ".")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except OSError as exc:
            raise CommandError(f"cannot write {target}: {exc.strerror}") from None
        audit_record(study=study, actor=None, action="export.qdpx", obj=study, details={"bytes": len(data)})
        self.stdout.write(f"{study.slug} written to {target} ({len(data):,} bytes)")
