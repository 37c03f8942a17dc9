"""The Celery application.

Configuration comes from Django settings (``CELERY_*``). Whether tasks run in a worker or in-process (eager) is
decided there, by whether a broker is configured, never at run time.
"""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workbench.settings")

app = Celery("workbench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
