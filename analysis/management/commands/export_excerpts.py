from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from analysis import exports
from interviews.access import StudyAccess
from interviews.models import Membership, Role, Study


class Command(BaseCommand):
    help = "Export coded excerpts (one row per coding, participant attributes beside it) to a file."

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's slug")
        parser.add_argument("--code", action="append", default=[], metavar="PATH",
                            help="'Social networks > Kinship' (its sub-codes too unless --exact); repeatable")
        parser.add_argument("--exact", action="store_true", help="only the named codes, not their sub-codes")
        parser.add_argument("--coder", action="append", default=[], metavar="USERNAME")
        parser.add_argument("--layer", choices=["coder", "consensus"])
        parser.add_argument("--tag", action="append", default=[])
        parser.add_argument("--where", action="append", default=[], metavar="ATTRIBUTE=V1,V2")
        parser.add_argument("--context", type=int, default=0, help="characters of context before and after")
        parser.add_argument("--format", choices=["csv", "xlsx", "json"], default="csv")
        parser.add_argument("--bom", action="store_true", help="UTF-8 byte-order mark for Excel (CSV)")
        parser.add_argument("--output", required=True, metavar="FILE")
        parser.add_argument("--as-user", metavar="USERNAME", help="recorded as the exporter (default: the study's PI)")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with the slug {options['study']!r}")
        membership = Membership.objects.select_related("study", "user").filter(study=study, role=Role.PI).first()
        if options["as_user"]:
            user = get_user_model().objects.filter(username=options["as_user"]).first()
            membership = Membership.objects.select_related("study", "user").filter(study=study, user=user).first()
            if membership is None:
                raise CommandError(f"{options['as_user']!r} is not a member of this study")
        if membership is None:
            raise CommandError("the study has no PI to record the export under; use --as-user")
        attributes = {}
        for clause in options["where"]:
            name, _, values = clause.partition("=")
            attributes[name.strip()] = [v.strip() for v in values.split(",") if v.strip()]
        try:
            f = exports.ExcerptFilters(
                codes=exports.code_ids_for_paths(study, options["code"]), exact=options["exact"],
                coders=options["coder"], layer=options["layer"], tags=options["tag"], attributes=attributes,
                context=options["context"],
            )
            count = exports.export_to_file(StudyAccess(study=study, membership=membership), f, options["format"],
                                           options["output"], bom=options["bom"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except OSError as exc:
            raise CommandError(f"cannot write {options['output']}: {exc.strerror}") from None
        self.stdout.write(f"{count} excerpt(s) written to {options['output']}")
