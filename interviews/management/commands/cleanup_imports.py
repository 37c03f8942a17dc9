from __future__ import annotations

from django.core.management.base import BaseCommand

from interviews.imports import imports_cleanup


class Command(BaseCommand):
    help = "Delete the raw files of imports left unconfirmed past IMPORT_STAGING_HOURS, and unclaimed key files."

    def handle(self, *args, **options):
        expired = imports_cleanup()
        self.stdout.write(f"{expired} import(s) expired")
