"""A real Celery worker with a fault planted for the fault tests: ``python -m tests.faulty_worker MODE``.

slow  -- every job takes long enough to be killed in the middle: an analysis waits 3 s before computing, a transcript
         import 1.5 s before each file, a project import 3 s before importing.
crash -- an analysis kills its own worker process (SIGKILL), every time: the poison task.

Everything else is the application as deployed; the worker runs with the solo pool so that killing this process
kills the job with it.
"""
from __future__ import annotations

import os
import signal
import sys
import time

import django

MODE = sys.argv[1] if len(sys.argv) > 1 else "slow"


def plant() -> None:
    from analysis import project_import, services
    from interviews import import_commit

    compute, commit_item, import_project = services.COMPUTE, import_commit._commit_item, project_import.import_project

    def slow_compute(*args, **kwargs):
        print("fault: analysis started", flush=True)
        time.sleep(3)
        return compute(*args, **kwargs)

    def crashing_compute(*args, **kwargs):
        print("fault: analysis crashes its worker", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    def slow_item(*args, **kwargs):
        print(f"fault: storing file {args[2]['index']}", flush=True)
        time.sleep(1.5)
        return commit_item(*args, **kwargs)

    def slow_project(*args, **kwargs):
        print("fault: project import started", flush=True)
        time.sleep(3)
        return import_project(*args, **kwargs)

    services.COMPUTE = crashing_compute if MODE == "crash" else slow_compute
    import_commit._commit_item = slow_item
    project_import.import_project = slow_project


if __name__ == "__main__":
    django.setup()
    plant()
    from workbench.celery import app

    app.worker_main(["worker", "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                     "--without-heartbeat", "--hostname", f"fault-{MODE}-{os.getpid()}@%h"])
