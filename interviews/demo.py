"""The demo study: synthetic, anonymised transcripts written for this project, coded by two demo coders.

Transcripts live in ``interviews/demo/*.txt`` with inline coding marks ``{keys|text}`` (marks nest). A key is a
code key from ``CODE_KEYS``, optionally suffixed ``@a`` or ``@b`` when only that coder applied it; without a suffix
both coders applied it to exactly that span. Parsing is pure; loading goes through the services.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Role, Study

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_SLUG = "demo"
DEMO_PASSWORD = "demo-workbench"
DEMO_USERS = {
    "demo-pi": Role.PI,
    "demo-coder-a": Role.CODER,
    "demo-coder-b": Role.CODER,
    "demo-viewer": Role.VIEWER,
}
CODER_FOR = {"a": "demo-coder-a", "b": "demo-coder-b"}

CODE_KEYS = {
    "salary": ("Economic incentives", "Salary in job offer"),
    "career": ("Economic incentives", "Career development"),
    "hukou": ("Preferential policies", "Hukou"),
    "climate": ("Amenities", "Climate"),
    "facilities": ("Amenities", "Facilities and services"),
    "social_amen": ("Amenities", "Social amenities"),
    "kinship": ("Social networks", "Kinship"),
    "partnership": ("Social networks", "Partnership"),
    "alumni": ("Social networks", "Alumni"),
    "entre": ("Return migration", "Entrepreneurship"),
    "team": ("Return migration", "Team return"),
    "assoc": ("Return migration", "Associations"),
}

ATTRIBUTES = [
    ("Gender", ["Female", "Male"]),
    ("Age band", ["20-29", "30-39", "40-49", "50+"]),
    ("Migration", ["Intraprovincial", "Interprovincial"]),
    ("Degree", ["Domestic", "Overseas"]),
    ("Immigration status", ["Citizen", "Permanent resident abroad", "Foreign national"]),
]

# label: (title, language, tags, gender, age band, migration, degree, immigration status)
PARTICIPANTS = {
    "P01": ("Interview 1: materials scientist", "en", ["wave-1", "site-north"],
            "Female", "30-39", "Interprovincial", "Overseas", "Citizen"),
    "P02": ("Interview 2: software developer", "en", ["wave-1", "site-north"],
            "Male", "20-29", "Intraprovincial", "Domestic", "Citizen"),
    "P03": ("Interview 3: urban planner", "en", ["wave-1", "site-south"],
            "Female", "20-29", "Interprovincial", "Domestic", "Citizen"),
    "P04": ("Interview 4: imaging company founder", "en", ["wave-1", "site-south"],
            "Male", "40-49", "Interprovincial", "Overseas", "Citizen"),
    "P05": ("Interview 5: auditor", "en", ["wave-1", "site-north"],
            "Female", "30-39", "Intraprovincial", "Domestic", "Citizen"),
    "P06": ("Interview 6: software engineer", "en", ["wave-1", "site-south"],
            "Male", "20-29", "Interprovincial", "Domestic", "Citizen"),
    "P07": ("Interview 7: process control entrepreneur", "en", ["wave-2", "site-north"],
            "Male", "40-49", "Interprovincial", "Overseas", "Permanent resident abroad"),
    "P08": ("Interview 8: education consultant", "en", ["wave-2", "site-north"],
            "Female", "40-49", "Intraprovincial", "Overseas", "Citizen"),
    "P09": ("Interview 9: civil engineer", "en", ["wave-2", "site-south"],
            "Male", "30-39", "Intraprovincial", "Domestic", "Citizen"),
    "P10": ("Interview 10: business analyst", "en", ["wave-2", "site-south"],
            "Female", "20-29", "Interprovincial", "Overseas", "Foreign national"),
    "P11": ("Interview 11: institute director", "en", ["wave-2", "site-north"],
            "Male", "50+", "Interprovincial", "Overseas", "Citizen"),
    "P12": ("Interview 12: designer", "en", ["wave-2", "site-south"],
            "Female", "30-39", "Interprovincial", "Domestic", "Citizen"),
    "P13": ("访谈13：医疗器械创业者", "zh", ["wave-2", "site-north"],
            "Male", "30-39", "Intraprovincial", "Overseas", "Citizen"),
    "P14": ("访谈14：出版社编辑", "zh", ["wave-2", "site-south"],
            "Female", "20-29", "Interprovincial", "Domestic", "Citizen"),
}


@dataclass(frozen=True, slots=True)
class Mark:
    start: int
    end: int
    key: str  # code key
    coders: tuple[str, ...]  # ("a", "b"), ("a",) or ("b",)


def parse_marked(source: str) -> tuple[str, list[Mark]]:
    """Strip ``{keys|text}`` marks from ``source``; return the plain text and the marks with code-point offsets."""
    out: list[str] = []
    length = 0
    stack: list[tuple[int, list[str]]] = []
    marks: list[Mark] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "{":
            bar = source.index("|", i)
            stack.append((length, source[i + 1 : bar].split(",")))
            i = bar + 1
            continue
        if ch == "}":
            start, keys = stack.pop()
            for raw in keys:
                key, _, who = raw.strip().partition("@")
                if key not in CODE_KEYS:
                    raise ValueError(f"unknown code key {key!r}")
                marks.append(Mark(start, length, key, (who,) if who else ("a", "b")))
            i += 1
            continue
        out.append(ch)
        length += 1
        i += 1
    if stack:
        raise ValueError("unclosed coding mark")
    return "".join(out), marks


def demo_load() -> tuple[Study, bool]:
    """Create the demo study once. Returns ``(study, created)``; a second call changes nothing."""
    from codebook.models import Code
    from codebook.services import coding_apply

    from . import services

    existing = Study.objects.filter(slug=DEMO_SLUG).first()
    if existing is not None:
        return existing, False
    User = get_user_model()
    with transaction.atomic():
        users = {}
        for username in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            users[username] = user
        study = services.study_create(
            name="Why highly skilled migrants move (demo)",
            slug=DEMO_SLUG,
            description="Synthetic demo study: drivers of internal and return migration of highly skilled "
            "workers, 14 anonymised interviews (12 English, 2 Chinese) coded blind by two coders.",
            template="migration-drivers",
            actor=None,
        )
        for username, role in DEMO_USERS.items():
            services.membership_set(study=study, user=users[username], role=role, actor=None)
        for name, choices in ATTRIBUTES:
            services.attribute_define(study=study, name=name, type="choice", choices=choices)
        codes = {}
        for code in Code.objects.filter(study=study).select_related("parent"):
            if code.parent is not None:
                codes[(code.parent.name, code.name)] = code
        for label, (title, language, tags, *values) in PARTICIPANTS.items():
            participant = services.participant_create(
                study=study, label=label, values=dict(zip([a[0] for a in ATTRIBUTES], values, strict=True))
            )
            text, marks = parse_marked((DEMO_DIR / f"{label}.txt").read_text(encoding="utf-8"))
            transcript = services.transcript_create(
                study=study, participant=participant, title=title, text=text, language=language,
                created_by=users["demo-pi"], tags=tags,
            )
            for mark in marks:
                for who in mark.coders:
                    coding_apply(
                        transcript=transcript, code=codes[CODE_KEYS[mark.key]], coder=users[CODER_FOR[who]],
                        start=mark.start, end=mark.end, quote=text[mark.start : mark.end],
                    )
    return study, True
