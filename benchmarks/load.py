"""A team under load: N coders apply, edit and remove codings on shared transcripts through the JSON API while a PI
runs analyses and downloads exports, against a real server. Every client keeps its own log of what the server
acknowledged; ``reconcile`` compares those beliefs with the database afterwards.

Used by ``tests/test_load.py`` (CI size) and by ``python -m benchmarks.bench_load`` (60 s, figures as JSON). No
Django import at module level: the clients only speak HTTP.
"""
from __future__ import annotations

import csv
import http.cookiejar
import io
import json
import math
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


class Client:
    """One browser session: cookies, Django's CSRF token, no redirects followed, every call timed."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            return None

    def __init__(self, base: str, log: Log) -> None:
        self.base, self.log = base, log
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect)

    def call(self, endpoint: str, method: str, path: str, *, data: Any = None, form: dict | None = None,
             stream: bool = False) -> tuple[int, dict[str, str], bytes]:
        body, kind = None, None
        if data is not None:
            body, kind = json.dumps(data).encode(), "application/json"
        elif form is not None:
            body, kind = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base + path, data=body, method=method)  # noqa: S310 (http only)
        if kind:
            request.add_header("Content-Type", kind)
        if method not in ("GET", "HEAD"):
            request.add_header("Referer", self.base + path)
            request.add_header("X-CSRFToken", next((c.value for c in self.jar if c.name == "csrftoken"), ""))
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=60) as response:
                status, headers, content = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, headers, content = exc.code, dict(exc.headers), exc.read()
        except OSError as exc:  # no answer at all: the client cannot know what happened
            self.log.add(endpoint, 0, (time.perf_counter() - started) * 1000, f"{method} {path}: {exc}")
            return 0, {}, b""
        self.log.add(endpoint, status, (time.perf_counter() - started) * 1000,
                     f"{method} {path}: {content[:300]!r}" if status >= 500 else "")
        return status, headers, content

    def login(self, username: str, password: str) -> None:
        self.call("GET login", "GET", "/accounts/login/")
        status, _, _ = self.call("POST login", "POST", "/accounts/login/",
                                 form={"username": username, "password": password})
        if status != 302:
            raise RuntimeError(f"login failed for {username}: {status}")


@dataclass
class Log:
    """Every call (endpoint, status, milliseconds), shared by all clients of a run."""

    calls: list[tuple[str, int, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, endpoint: str, status: int, ms: float, problem: str = "") -> None:
        with self.lock:
            self.calls.append((endpoint, status, ms))
            if problem:
                self.problems.append(problem)

    def note(self, problem: str) -> None:
        with self.lock:
            self.problems.append(problem)

    def figures(self, seconds: float) -> dict[str, Any]:
        by_endpoint: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for endpoint, status, ms in self.calls:
            by_endpoint[endpoint].append((status, ms))
        out: dict[str, Any] = {}
        for endpoint, calls in sorted(by_endpoint.items()):
            times = sorted(ms for _, ms in calls)
            statuses: dict[str, int] = defaultdict(int)
            for status, _ in calls:
                statuses[str(status)] += 1
            out[endpoint] = {"requests": len(calls), "per_second": round(len(calls) / seconds, 1),
                             "p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
                             "p99_ms": round(percentile(times, 99), 1), "statuses": dict(statuses)}
        return out


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values (0 for none)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass
class Belief:
    """What a coder's client was told about one of its codings."""

    transcript: int
    code: int
    start: int
    end: int
    memo: str
    version: int


@dataclass
class CoderState:
    username: str
    beliefs: dict[int, Belief] = field(default_factory=dict)
    double_posts: int = 0
    races: int = 0
    race_conflicts: int = 0


@dataclass
class Plan:
    base: str
    slug: str
    transcripts: dict[int, str]  # id -> text
    codes: list[int]
    coders: list[tuple[str, str]]  # username, password
    pi: tuple[str, str]
    seconds: float
    seed: int = 1


def _span(rng: random.Random, text: str) -> tuple[int, int]:
    """A random passage on word boundaries, 3 to 30 words."""
    spaces = [i for i, ch in enumerate(text) if ch == " "] or [0]
    a = rng.randrange(len(spaces))
    b = min(len(spaces) - 1, a + rng.randint(3, 30))
    start = spaces[a] + 1 if spaces[a] + 1 < len(text) else 0
    end = max(start + 1, spaces[b])
    return start, min(end, len(text))


def at_once(*calls: tuple) -> list[Any]:
    """Run each ``(function, *args)`` in its own thread at the same moment; their results in order."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def one(i: int, function, *args) -> None:
        barrier.wait()
        results[i] = function(*args)

    threads = [threading.Thread(target=one, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@dataclass
class Clock:
    """Every session logs in first; the measured window starts when the last one is ready."""

    seconds: float
    parties: int
    started: float = 0.0
    deadline: float = 0.0
    ready: threading.Barrier = field(init=False)

    def __post_init__(self) -> None:
        self.ready = threading.Barrier(self.parties, action=self.start)

    def start(self) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + self.seconds


def coder_session(plan: Plan, username: str, password: str, log: Log, state: CoderState, clock: Clock,
                  rng: random.Random) -> None:
    main, second = Client(plan.base, log), Client(plan.base, log)  # second: the same coder in another tab
    try:
        main.login(username, password)
        second.login(username, password)
    finally:
        clock.ready.wait()
    deadline = clock.deadline
    api = f"/api/studies/{plan.slug}"
    ids = sorted(plan.transcripts)

    def apply(client: Client, transcript: int, code: int, start: int, end: int, memo: str) -> tuple[int, dict]:
        status, _, body = client.call("POST codings", "POST", f"{api}/transcripts/{transcript}/codings/", data={
            "code": code, "start": start, "end": end, "memo": memo,
            "quote": plan.transcripts[transcript][start:end]})
        return status, (json.loads(body) if status in (200, 201, 409) else {})

    def edit(client: Client, pk: int, memo: str, version: int) -> tuple[int, dict]:
        status, _, body = client.call("PATCH coding", "PATCH", f"{api}/codings/{pk}/",
                                      data={"memo": memo, "version": version})
        return status, (json.loads(body) if status in (200, 409) else {})

    def believe(payload: dict) -> None:
        state.beliefs[payload["id"]] = Belief(payload["transcript"], payload["code"], payload["start"],
                                              payload["end"], payload["memo"], payload["version"])

    while time.monotonic() < deadline:
        roll = rng.random()
        transcript = rng.choice(ids)
        if roll < 0.40 or not state.beliefs:  # apply a code
            start, end = _span(rng, plan.transcripts[transcript])
            status, payload = apply(main, transcript, rng.choice(plan.codes), start, end, f"m{rng.randrange(1000)}")
            if status == 201:
                believe(payload)
            elif status == 200:  # the same code on the same span again: the existing coding, unchanged
                if payload["id"] not in state.beliefs:
                    log.note(f"{username}: 200 for a coding the client never made: {payload}")
            else:
                log.note(f"{username}: apply answered {status}")
        elif roll < 0.45:  # a double-click: the same POST twice at once
            start, end = _span(rng, plan.transcripts[transcript])
            code = rng.choice(plan.codes)
            answers = at_once(*[(apply, c, transcript, code, start, end, "") for c in (main, second)])
            state.double_posts += 1
            statuses = sorted(s for s, _ in answers)
            made = {p.get("id") for _, p in answers}
            if statuses not in ([200, 201], [200, 200]) or len(made) != 1:
                log.note(f"{username}: double POST answered {statuses} with ids {made}")
            for _, payload in answers:
                if payload.get("id") is not None:
                    believe(payload)
        elif roll < 0.65:  # edit a memo
            pk = rng.choice(list(state.beliefs))
            status, payload = edit(main, pk, f"edited {rng.randrange(10**6)}", state.beliefs[pk].version)
            if status == 200:
                believe(payload)
            else:
                log.note(f"{username}: edit answered {status}")
        elif roll < 0.72:  # two tabs edit the same coding at once: one wins, the other hears 409 and the state
            pk = rng.choice(list(state.beliefs))
            version = state.beliefs[pk].version
            answers = at_once(*[(edit, c, pk, f"{tab} {rng.randrange(10**6)}", version)
                                for c, tab in ((main, "tab one"), (second, "tab two"))])
            state.races += 1
            statuses = sorted(s for s, _ in answers)
            if statuses != [200, 409]:
                log.note(f"{username}: concurrent edits answered {statuses}")
                continue
            state.race_conflicts += 1
            won = next(p for s, p in answers if s == 200)
            lost = next(p for s, p in answers if s == 409)
            if lost.get("current") != won:
                log.note(f"{username}: the 409 did not carry the winner's state: {lost.get('current')} vs {won}")
            believe(won)
        elif roll < 0.85:  # remove
            pk = rng.choice(list(state.beliefs))
            status, _, _ = main.call("DELETE coding", "DELETE", f"{api}/codings/{pk}/")
            if status == 204:
                del state.beliefs[pk]
            else:
                log.note(f"{username}: remove answered {status}")
        elif roll < 0.95:  # read the transcript's codings
            status, _, _ = main.call("GET codings", "GET", f"{api}/transcripts/{transcript}/codings/")
        else:  # open the coding page
            main.call("GET transcript page", "GET", f"/studies/{plan.slug}/transcripts/{transcript}/")


ANALYSES = [{"kind": "drivers"}, {"kind": "crosstab", "attribute": "Gender"},
            {"kind": "cooccurrence", "level": "segment", "depth": "1"}]


def pi_session(plan: Plan, log: Log, clock: Clock, stats: dict[str, int]) -> None:
    """Analyses (requested, then polled until done) and full CSV exports, one after another."""
    client = Client(plan.base, log)
    try:
        client.login(*plan.pi)
    finally:
        clock.ready.wait()
    deadline = clock.deadline
    n = 0
    while time.monotonic() < deadline:
        form = ANALYSES[n % len(ANALYSES)]
        n += 1
        status, headers, _ = client.call("POST analysis", "POST", f"/studies/{plan.slug}/analysis/", form=form)
        if status == 302:
            run = headers["Location"]
            while time.monotonic() < deadline + 30:
                status, _, body = client.call("GET run", "GET", run + "?format=json")
                if status != 200 or json.loads(body)["status"] in ("done", "failed"):
                    done = status == 200 and json.loads(body)["status"] == "done"
                    stats["analyses_done" if done else "analyses_failed"] += 1
                    break
                time.sleep(0.2)
        else:
            log.note(f"pi: analysis request answered {status}")
        status, _, body = client.call("GET export csv", "GET", f"/studies/{plan.slug}/export/?download=1&format=csv")
        if status == 200 and body.endswith(b"\r\n"):
            stats["exports"] += 1
            stats["export_rows"] = len(list(csv.reader(io.StringIO(body.decode("utf-8"))))) - 1
        else:
            log.note(f"pi: export answered {status}")


def run(plan: Plan) -> tuple[Log, list[CoderState], dict[str, Any]]:
    """Log every session in, start them at once, stop them after ``plan.seconds``; returns the log, the coders'
    beliefs and figures (per endpoint and overall; the logins are listed but not counted in the window)."""
    log = Log()
    states = [CoderState(username) for username, _ in plan.coders]
    pi_stats: dict[str, int] = defaultdict(int)
    rng = random.Random(plan.seed)
    clock = Clock(plan.seconds, len(plan.coders) + 1)
    errors: list[str] = []

    def guarded(target, *args) -> None:
        try:
            target(*args)
        except Exception as exc:  # a client that crashed is a finding, not a hang
            errors.append(f"{threading.current_thread().name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=guarded, name=f"coder-{username}", args=(
        coder_session, plan, username, password, log, state, clock, random.Random(rng.random())))
        for (username, password), state in zip(plan.coders, states, strict=True)]
    threads.append(threading.Thread(target=guarded, name="pi", args=(pi_session, plan, log, clock, pi_stats)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for error in errors:
        log.note(error)
    elapsed = time.monotonic() - clock.started
    total = sum(1 for endpoint, _, _ in log.calls if "login" not in endpoint)
    figures = {"seconds": round(elapsed, 1), "coders": len(plan.coders), "requests": total,
               "requests_per_second": round(total / elapsed, 1),
               "server_errors": sum(1 for _, s, _ in log.calls if s >= 500 or s == 0),
               "double_posts": sum(s.double_posts for s in states),
               "concurrent_edits": sum(s.races for s in states),
               "concurrent_edits_answered_409": sum(s.race_conflicts for s in states),
               "pi": dict(pi_stats), "endpoints": log.figures(elapsed)}
    return log, states, figures


def reconcile(slug: str, states: list[CoderState]) -> list[str]:
    """Differences between what each coder's client believes and what the database holds (empty when none):
    lost, duplicated, misplaced or changed codings."""
    from codebook.models import Coding, Layer

    problems = []
    for state in states:
        rows = Coding.objects.filter(transcript__study__slug=slug, layer=Layer.CODER, coder__username=state.username)
        stored = {c.pk: Belief(c.transcript_id, c.code_id, c.start, c.end, c.memo, c.version) for c in rows}
        for pk in state.beliefs.keys() - stored.keys():
            problems.append(f"{state.username}: coding {pk} acknowledged but not stored (lost)")
        for pk in stored.keys() - state.beliefs.keys():
            problems.append(f"{state.username}: coding {pk} stored but never acknowledged (or its removal was)")
        for pk in state.beliefs.keys() & stored.keys():
            if state.beliefs[pk] != stored[pk]:
                problems.append(f"{state.username}: coding {pk} is {stored[pk]}, the client was told "
                                f"{state.beliefs[pk]}")
        spans = [(b.transcript, b.code, b.start, b.end) for b in stored.values()]
        if len(spans) != len(set(spans)):
            problems.append(f"{state.username}: the same code on the same span twice (duplicated)")
    return problems
