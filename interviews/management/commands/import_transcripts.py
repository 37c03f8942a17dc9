from __future__ import annotations

import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from interviews import imports, keystore
from interviews.import_commit import import_commit
from interviews.models import ImportBatch, Study
from interviews.participant_table import participants_apply, participants_preview, read_table
from interviews.services import user_by_username
from workbench.errors import Conflict


class Command(BaseCommand):
    help = ("Import transcript files into a study, pseudonymised. Without --accept, print every proposed "
            "replacement and store nothing; with --accept, store the pseudonymised transcripts.")

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's slug")
        parser.add_argument("files", nargs="+", help=".txt .md .docx .odt .rtf .vtt .srt files or .zip archives")
        parser.add_argument("--participants", metavar="FILE", help="participant attributes (.csv or .xlsx)")
        parser.add_argument("--replacements", metavar="KEY_CSV",
                            help="replacement list with the columns original,pseudonym")
        parser.add_argument("--accept", action="store_true", help="store the pseudonymised transcripts")
        parser.add_argument("--keep-key", action="store_true", help="keep the replacement list, encrypted")
        parser.add_argument("--tag", action="append", default=[], help="tag for every imported transcript")
        parser.add_argument("--language", default="", help="language tag (e.g. en, zh); guessed when omitted")
        parser.add_argument("--as-user", default=None, metavar="USERNAME", help="recorded as the importer")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with the slug {options['study']!r}")
        user = None
        try:
            if options["as_user"]:
                user = user_by_username(options["as_user"])
            entries = []
            if options["replacements"]:
                entries = keystore.entries_from_csv(self._read(options["replacements"]))
            preview = None
            if options["participants"]:
                path = options["participants"]
                preview = participants_preview(study=study, rows=read_table(Path(path).name, self._read(path)))
                if preview.errors:
                    for error in preview.errors:
                        self.stderr.write(f"participants: {error}")
                    raise CommandError(f"{len(preview.errors)} error(s) in {path}; nothing was imported")
            uploads = [(Path(f).name, self._read(f)) for f in options["files"]]
            batch = imports.import_stage(study=study, user=user, uploads=uploads, replacements=entries,
                                         tags=options["tag"], language=options["language"])
            reviews = imports.import_review(batch=batch)
        except (ValidationError, Conflict) as exc:
            raise CommandError(_reason(exc)) from None

        failed = 0
        self.stdout.write("file\tposition\toriginal\tpseudonym\tdetector")
        for review in reviews:
            if review.error:
                continue
            for p in review.proposals:
                detector = f"{p.detector} (suggestion, not applied)" if p.suggestion else p.detector
                self.stdout.write(f"{review.name}\t{p.start}-{p.end}\t{p.original}\t{p.pseudonym}\t{detector}")
        if not options["accept"]:
            for review in reviews:
                if review.error:
                    failed += 1
                    self.stdout.write(f"FAILED\t{review.error}")
                else:
                    self.stdout.write(f"READY\t{review.name}\t{review.format}"
                                      f"{' ' + review.encoding if review.encoding else ''}\t"
                                      f"{len(review.proposals)} proposed replacement(s)")
            imports.import_discard(batch=batch, user=user)
            self.stdout.write("Nothing stored (dry run). Run again with --accept to store.")
        else:
            try:
                if preview is not None:
                    participants_apply(study=study, preview=preview, actor=user)
                imports.import_decide(batch=batch, user=user, decisions=imports.decisions_accept_all(reviews),
                                      keep_key=options["keep_key"])
                batch = _wait_for(batch)
            except (ValidationError, Conflict) as exc:
                raise CommandError(_reason(exc)) from None
            for outcome in batch.outcomes:
                self.stdout.write(f"{outcome['status'].upper()}\t{outcome['name']}\t{outcome['message']}")
                failed += outcome["status"] != "stored"
            if batch.key_download_pending:
                imports.import_key_download(batch=batch, user=user)  # the operator already holds key.csv
        if failed:
            raise CommandError(f"{failed} file(s) could not be imported")

    def _read(self, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None


def _wait_for(batch: ImportBatch) -> ImportBatch:
    """In-process configurations have stored the batch already; with a worker, take the task if it is still
    queued (the claim is conditional, so it runs once) or wait for the worker to finish it."""
    deadline = time.monotonic() + 3600
    batch.refresh_from_db()
    while batch.status in ("queued", "running") and time.monotonic() < deadline:
        if batch.status == "queued":
            import_commit(batch_id=str(batch.pk))
        else:
            time.sleep(0.5)
        batch.refresh_from_db()
    return batch


def _reason(exc: Exception) -> str:
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
