"""Shared helpers: sizes, an isolated embedded-default Django, JSON output, peak memory."""
from __future__ import annotations

import json
import os
import platform
import resource
import sys
import tempfile

SIZES = {"small", "large"}


def size() -> str:
    value = os.environ.get("BENCH_SIZE", "small")
    if value not in SIZES:
        raise SystemExit(f"BENCH_SIZE must be one of {sorted(SIZES)}")
    return value


def setup_embedded_django() -> str:
    """A fresh embedded default (SQLite under a temporary var/, in-process tasks), migrated."""
    var = tempfile.mkdtemp(prefix="workbench-bench-")
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"):
        os.environ.pop(name, None)
    os.environ["WORKBENCH_VAR_DIR"] = var
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workbench.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return var


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(**figure) -> None:
    figure.setdefault("machine", f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(json.dumps(figure, ensure_ascii=False), flush=True)
    sys.stdout.flush()
