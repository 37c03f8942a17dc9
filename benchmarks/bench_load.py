"""The team under load (issue 9): 20 coders and a PI against gunicorn (3 sync workers, as in docker-compose.yml), a
Celery worker, PostgreSQL and Redis on this machine. Large: 60 s; small: 10 s. Prints requests/s and p50/p95/p99 per
endpoint, and whether the database matched every client's log afterwards (``reconciled``).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .common import emit, setup_django, size


def main(engine: str = "postgres") -> None:
    setup_django(engine)
    redis = os.environ.get("WORKBENCH_TEST_REDIS_URL")
    if not redis:
        raise SystemExit("no Redis for the load benchmark (run it through make bench)")
    from interviews.demo import DEMO_PASSWORD
    from tests.live import app_env, start_gunicorn, start_worker
    from tests.test_load import team

    from . import load

    study, transcripts, codes, coders = team(20)
    env = app_env(redis, Path(tempfile.mkdtemp(prefix="workbench-load-")))
    worker = start_worker(env)
    try:
        workers, threads = (int(n) for n in os.environ.get("BENCH_GUNICORN", "3x1").split("x"))
        server, base = start_gunicorn(env, workers=workers, threads=threads)
        try:
            plan = load.Plan(base=base, slug=study.slug, transcripts=transcripts, codes=codes, coders=coders,
                             pi=("demo-pi", DEMO_PASSWORD), seconds=60 if size() == "large" else 10)
            log, states, figures = load.run(plan)
        finally:
            server.stop()
    finally:
        worker.stop()
    mismatches = load.reconcile(study.slug, states)
    emit(benchmark="load", engine=engine, size=size(), gunicorn=os.environ.get("BENCH_GUNICORN", "3x1"), **figures,
         reconciled=not mismatches, problems=(log.problems + mismatches)[:20])
    if log.problems or mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:])
