from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from codebook.presets import TEMPLATES
from interviews.services import study_create, user_by_username


class Command(BaseCommand):
    help = "Create a study; prints its slug on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--template", choices=sorted(TEMPLATES), default="empty")
        parser.add_argument("--pi", metavar="USERNAME", help="make this existing user the study's PI")
        parser.add_argument("--description", default="")
        parser.add_argument("--no-blind", action="store_true", help="coders see each other's codings")

    def handle(self, *args, **options):
        try:
            pi = user_by_username(options["pi"]) if options["pi"] else None
            study = study_create(
                name=options["name"], template=options["template"], pi=pi,
                description=options["description"], blind_coding=not options["no_blind"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(study.slug)
