"""Shared helpers: sizes, a Django configured for one engine, JSON output, peak memory."""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import uuid

SIZES = {"small", "large"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def size() -> str:
    value = os.environ.get("BENCH_SIZE", "small")
    if value not in SIZES:
        raise SystemExit(f"BENCH_SIZE must be one of {sorted(SIZES)}")
    return value


def setup_django(engine: str = "sqlite") -> str:
    """A fresh, migrated database: the embedded default (SQLite under a temporary var/, in-process tasks) or a new
    PostgreSQL database on the server named by BENCH_POSTGRES_URL (set by scripts/testservers.py via make bench)."""
    var = tempfile.mkdtemp(prefix="workbench-bench-")
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"):
        os.environ.pop(name, None)
    os.environ["WORKBENCH_VAR_DIR"] = var
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workbench.settings")
    if engine == "postgres":
        admin_url = os.environ.get("BENCH_POSTGRES_URL")
        if not admin_url:
            raise SystemExit("no PostgreSQL for the benchmark (run it through make bench)")
        import psycopg2

        name = f"bench_{uuid.uuid4().hex[:10]}"
        connection = psycopg2.connect(admin_url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        os.environ["DATABASE_URL"] = admin_url.rsplit("/", 1)[0] + "/" + name
        os.environ["CONN_MAX_AGE"] = "60"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return var


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's own peak resident memory (Linux ``VmHWM``).

    Not ``getrusage().ru_maxrss``: Linux carries that figure across ``execve``, so a measuring subprocess started by
    a benchmark that had just built a million rows would report its parent's peak, not its own."""
    own = _status_mb("VmHWM")
    return own if own is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory now (Linux ``VmRSS``)."""
    now = _status_mb("VmRSS")
    return now if now is not None else peak_rss_mb()


def summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1), "n": len(ordered)}


def emit(**figure) -> None:
    figure.setdefault("machine", f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(json.dumps(figure, ensure_ascii=False), flush=True)
    sys.stdout.flush()


def make_code_tree(study, prefix: str = "Driver") -> list:
    """Exactly 60 codes in three levels: 4 top-level codes, 16 below them, 40 below those (3 or 2 each)."""
    from codebook.models import Code

    codes = []
    for a in range(4):
        top = Code.objects.create(study=study, name=f"{prefix} {a}", position=a)
        codes.append(top)
        for b in range(4):
            mid = Code.objects.create(study=study, parent=top, name=f"{prefix} {a}.{b}", position=b)
            codes.append(mid)
            for c in range(3 if b % 2 == 0 else 2):
                codes.append(Code.objects.create(study=study, parent=mid, name=f"{prefix} {a}.{b}.{c}", position=c))
    assert len(codes) == 60
    return codes


WORDS = ("family work city move parents job company salary school because back friends years university home "
         "the and of to in that it was for on with as we they my our at but not this from by had have so").split()


def interview_text(rng, words: int) -> str:
    """A synthetic interview of about ``words`` words: alternating I: and R: turns of 30 to 90 words."""
    lines, count = [], 0
    while count < words:
        turn = [rng.choice(WORDS) for _ in range(rng.randint(30, 90))]
        count += len(turn)
        lines.append(("I: " if len(lines) % 2 == 0 else "R: ") + " ".join(turn) + ".")
    return "\n".join(lines)
