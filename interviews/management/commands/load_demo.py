from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from interviews.demo import DEMO_PASSWORD, DEMO_USERS, demo_load


class Command(BaseCommand):
    help = "Create the demo study with its demo users (once; running it again changes nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true",
                            help="load the demo even with DEBUG=0 (the demo logins have a published password)")

    def handle(self, *args, **options):
        if settings.PRODUCTION and not options["force"]:
            raise CommandError("refusing to create demo users with a published password in production (DEBUG=0)")
        study, created = demo_load()
        verb = "Created" if created else "Already present:"
        self.stdout.write(f"{verb} demo study '{study.name}' ({study.slug})")
        self.stdout.write(f"Demo logins (password '{DEMO_PASSWORD}' for each, demo only):")
        for username, role in DEMO_USERS.items():
            self.stdout.write(f"  {username:<14} {role.label}")
