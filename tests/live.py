"""Helpers for tests that run the application in real server processes against the test database."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """A DATABASE_URL for the test database that pytest-django created (PostgreSQL only)."""
    s = connection.settings_dict
    auth = urllib.parse.quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + urllib.parse.quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def app_env(broker_url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    env.update(
        DATABASE_URL=test_database_url(),
        CELERY_BROKER_URL=broker_url,
        CONN_MAX_AGE="0",
        WORKBENCH_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="workbench.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


class Process:
    """A child process whose output is collected in the background (the last lines are kept for messages)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: deque[str] = deque(maxlen=400)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60) -> None:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(regex.search(line) for line in list(self.lines)):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"process did not print {pattern!r}:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_worker(env: dict[str, str]) -> Process:
    worker = Process([sys.executable, "-m", "celery", "-A", "workbench", "worker", "--pool", "solo",
                      "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                      "--hostname", f"test-{os.getpid()}@%h"], env)
    worker.wait_for(r"ready\.")
    return worker


def start_gunicorn(env: dict[str, str], workers: int = 2, threads: int = 1) -> tuple[Process, str]:
    port = free_port()
    server = Process([sys.executable, "-m", "gunicorn", "workbench.wsgi:application", "--bind",
                      f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "60",
                      *(["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else [])], env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz/", timeout=2) as response:
                if response.status == 200:
                    return server, base
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer:\n{server.output()}")


class Browser:
    """A minimal HTTP client with cookies and Django's CSRF token, for talking to a live server."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            return None

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect)

    def request(self, method: str, path: str, data: dict[str, str] | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        return self._open(urllib.request.Request(self.base + path, data=body, method=method), path)

    def request_json(self, method: str, path: str, data: dict) -> tuple[int, dict, str]:
        req = urllib.request.Request(self.base + path, data=json.dumps(data).encode(), method=method)
        req.add_header("Content-Type", "application/json")
        return self._open(req, path)

    def _open(self, req: urllib.request.Request, path: str) -> tuple[int, dict, str]:
        if req.get_method() != "GET":
            req.add_header("Referer", self.base + path)
            req.add_header("X-CSRFToken", next((c.value for c in self.jar if c.name == "csrftoken"), ""))
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def login(self, username: str, password: str) -> None:
        status, _, _ = self.request("GET", "/accounts/login/")
        assert status == 200
        status, _, _ = self.request("POST", "/accounts/login/", {"username": username, "password": password})
        assert status == 302, f"login failed for {username}"
