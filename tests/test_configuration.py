"""Configuration: the embedded default, production refusals, check --deploy, and docker-compose agreement."""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import dj_database_url
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "x7Q9!vZ2#pL5^mR8&nT1*wB4" * 3,
    "ALLOWED_HOSTS": "qda.example.org",
    "DATABASE_URL": "postgres://workbench:pw@db.example.org:5432/workbench",
    "CELERY_BROKER_URL": "redis://redis.example.org:6379/0",
}
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "from workbench.celery import app; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'name': str(s.DATABASES['default']['NAME']), "
    "'eager': s.CELERY_TASK_ALWAYS_EAGER, 'app_eager': app.conf.task_always_eager, 'debug': s.DEBUG, "
    "'hosts': s.ALLOWED_HOSTS, 'key': s.SECRET_KEY, 'health': s.DATABASES['default'].get('CONN_HEALTH_CHECKS')}))"
)


def run_python(code_or_args: list[str], env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CONN_MAX_AGE",
                        "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env["WORKBENCH_VAR_DIR"] = str(tmp_path / "var")
    env["DJANGO_SETTINGS_MODULE"] = "workbench.settings"
    env.update(env_extra)
    return subprocess.run([sys.executable, *code_or_args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def probe(env_extra: dict[str, str], tmp_path: Path) -> dict:
    result = run_python(["-c", PROBE], env_extra, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_default_is_sqlite_eager_localhost_with_generated_key(tmp_path):
    first = probe({}, tmp_path)
    assert first["engine"] == "django.db.backends.sqlite3"
    assert first["name"] == str(tmp_path / "var" / "workbench.sqlite3")
    assert first["eager"] is True and first["app_eager"] is True
    assert first["debug"] is True
    assert set(first["hosts"]) <= {"127.0.0.1", "localhost", "[::1]"}
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.read_text().strip() == first["key"] and len(first["key"]) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert probe({}, tmp_path)["key"] == first["key"]  # generated once, then reused


def test_broker_configured_means_a_real_worker(tmp_path):
    values = probe({"CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
                    "DATABASE_URL": "postgres://u:p@127.0.0.1:1/x"}, tmp_path)
    assert values["eager"] is False and values["app_eager"] is False
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["health"] is True


def test_sqlite_database_url(tmp_path):
    values = probe({"DATABASE_URL": f"sqlite:///{tmp_path}/other.db"}, tmp_path)
    assert values["engine"] == "django.db.backends.sqlite3" and values["name"] == f"{tmp_path}/other.db"


@pytest.mark.parametrize(("missing", "message"), [("SECRET_KEY", "SECRET_KEY"), ("ALLOWED_HOSTS", "ALLOWED_HOSTS")])
def test_production_refuses_to_start_without_explicit_settings(tmp_path, missing, message):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run_python(["manage.py", "check"], env, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_bad_boolean_is_refused(tmp_path):
    result = run_python(["manage.py", "check"], {"DEBUG": "maybe"}, tmp_path)
    assert result.returncode != 0 and "DEBUG must be 0 or 1" in result.stderr


def test_check_deploy_reports_nothing_in_production(tmp_path):
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- docker-compose ----------------------------------------------------------------------------------------------
def settings_env_names() -> set[str]:
    source = (ROOT / "workbench" / "settings.py").read_text()
    return set(re.findall(r"env_(?:str|bool|int|list)\(\s*\"([A-Z_]+)\"", source))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker"}
    assert "gunicorn" in services["web"]["command"] and "workbench.wsgi:application" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "workbench", "worker"]
    assert "migrate" in " ".join(services["migrate"]["command"])
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert set(compose()["volumes"]) >= {"pgdata", "redisdata"}
    assert services["postgres"]["volumes"][0].startswith("pgdata:")


def test_compose_environment_agrees_with_settings():
    services = compose()["services"]
    known = settings_env_names() | {"DEBUG", "DATABASE_URL", "CELERY_BROKER_URL"}
    for name in ("web", "worker", "migrate"):
        env = services[name]["environment"]
        assert set(env) <= known, f"{name} sets variables settings.py does not read: {set(env) - known}"
        assert env["DEBUG"] == "0"
        for required in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"):
            assert env.get(required), (name, required)
        db = dj_database_url.parse(env["DATABASE_URL"].replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}",
                                                                "pw"))
        assert db["ENGINE"] == "django.db.backends.postgresql"
        assert db["HOST"] == "postgres" and db["PORT"] == 5432
        assert db["NAME"] == services["postgres"]["environment"]["POSTGRES_DB"]
        assert db["USER"] == services["postgres"]["environment"]["POSTGRES_USER"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = {name for name in settings_env_names() | {"DATABASE_URL", "CELERY_BROKER_URL"}
               if f"`{name}`" not in readme}
    assert not missing, f"README does not document: {sorted(missing)}"
