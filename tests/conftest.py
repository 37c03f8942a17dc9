"""Shared fixtures: persona users in a small study, and the services the integration tests need."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from codebook.models import Code, Coding
from codebook.services import code_create, coding_apply
from interviews import services
from interviews.models import Participant, Role, Study, Transcript

pytest_plugins = ["tests.browser"]

PASSWORD = "persona-password-1"
REDIS_URL = os.environ.get("WORKBENCH_TEST_REDIS_URL", "")


def pytest_report_header(config) -> list[str]:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    services_line = os.environ.get("WORKBENCH_TEST_SERVICES") or "none"
    lines = [f"workbench: database engine {engine}; services started by scripts/testservers.py: {services_line}"]
    if not REDIS_URL:
        lines.append("workbench: no Redis: the real-Celery-worker integration tests will be skipped")
    return lines


def _sqlite_flush_past_the_audit_triggers() -> None:
    """Between transactional tests Django empties every table with DELETE on SQLite (TRUNCATE on PostgreSQL, which
    row triggers do not see). The append-only audit triggers refuse that DELETE, so the test flush lifts them for
    the moment of the flush and puts them back."""
    import importlib

    from django.db.backends.sqlite3.base import DatabaseOperations

    triggers = importlib.import_module("interviews.migrations.0002_audit_append_only")
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with self.connection.cursor() as cursor:
            for statement in triggers.SQLITE_DROP:
                cursor.execute(statement)
        try:
            original(self, sql_list)
        finally:
            with self.connection.cursor() as cursor:
                for statement in triggers.SQLITE:
                    cursor.execute(statement)

    DatabaseOperations.execute_sql_flush = execute_sql_flush


_sqlite_flush_past_the_audit_triggers()


@pytest.fixture(autouse=True)
def _fast_password_hashing(request, settings):
    """Persona accounts are made in every test: a fast hasher keeps that cheap (production keeps PBKDF2).
    Integration tests keep the real hashers: their passwords are checked by separate server processes."""
    if request.node.get_closest_marker("integration"):
        return
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _celery_eager(request):
    """Unit and view tests run tasks in-process; integration tests send them to the real broker."""
    from workbench.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = not request.node.get_closest_marker("integration")
    yield
    app.conf.task_always_eager = previous


@dataclass
class World:
    study: Study
    other_study: Study
    users: dict[str, Any]
    participant: Participant
    transcript: Transcript
    other_transcript: Transcript
    kinship: Code
    alumni: Code
    other_code: Code
    coding_a: Coding  # by "coder"
    coding_b: Coding  # by "other_coder"


def make_user(username: str):
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


@pytest.fixture
def world(db) -> World:
    """A study with a PI, two coders, a viewer; an outsider who is only in another study."""
    users = {name: make_user(name) for name in ("pi", "coder", "other_coder", "viewer", "outsider")}
    study = services.study_create(name="Return migration", template="migration-drivers", pi=users["pi"])
    services.membership_set(study=study, user=users["coder"], role=Role.CODER, actor=users["pi"])
    services.membership_set(study=study, user=users["other_coder"], role=Role.CODER, actor=users["pi"])
    services.membership_set(study=study, user=users["viewer"], role=Role.VIEWER, actor=users["pi"])
    services.attribute_define(study=study, name="Gender", type="choice", choices=["Female", "Male"])
    participant = services.participant_create(study=study, label="P01", values={"Gender": "Female"})
    text = "I: Why did you come back?\nR: My mother was alone. My classmates found me a job.\n"
    transcript = services.transcript_create(study=study, participant=participant, title="Interview 1", text=text)
    kinship = Code.objects.get(study=study, name="Kinship")
    alumni = Code.objects.get(study=study, name="Alumni")
    s = text.index("My mother")
    coding_a, _ = coding_apply(transcript=transcript, code=kinship, coder=users["coder"], start=s, end=s + 21)
    s2 = text.index("My classmates")
    coding_b, _ = coding_apply(transcript=transcript, code=alumni, coder=users["other_coder"], start=s2, end=s2 + 30)

    other_study = services.study_create(name="Someone else's study", pi=users["outsider"])
    other_participant = services.participant_create(study=other_study, label="X1")
    other_transcript = services.transcript_create(
        study=other_study, participant=other_participant, title="Secret", text="Confidential words.\n"
    )
    other_code = code_create(study=other_study, name="Elsewhere")
    return World(study, other_study, users, participant, transcript, other_transcript, kinship, alumni, other_code,
                 coding_a, coding_b)


@pytest.fixture
def login(client):
    def _login(user) -> Any:
        client.force_login(user)
        return client

    return _login


def db_is_postgres() -> bool:
    return connection.vendor == "postgresql"
