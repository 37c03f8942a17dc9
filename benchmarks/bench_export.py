"""Coded-excerpt CSV export at scale: rows per second and peak memory, beside PostgreSQL's own COPY of the same rows.

Target (issue 8): a million-row CSV export streams with flat memory. Large size: 1,000,000 codings (and 100,000 to
show that memory does not grow with rows); small: 20,000. Each export runs in a fresh process, which reports its own
peak (``VmHWM``), its memory before the export, and the highest memory seen in the first and second half of the
stream: flat means the second half is no higher than the first and the peak does not grow with the row count.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time

from .common import ROOT, emit, setup_django, size

WORDS = "family work city move parents job company salary school because back friends years university".split()


def build(n_codings: int, per_transcript: int = 1000) -> str:
    from django.contrib.auth import get_user_model

    from codebook.models import Code, Coding, Layer
    from interviews import services
    from interviews.models import Participant, Transcript

    rng = random.Random(1)
    User = get_user_model()
    pi = User.objects.create_user(f"bench-pi-{n_codings}")
    coder = User.objects.create_user(f"bench-coder-{n_codings}")
    study = services.study_create(name=f"Export benchmark {n_codings}", template="migration-drivers", pi=pi)
    services.attribute_define(study=study, name="Gender", type="choice", choices=["Female", "Male"])
    codes = list(Code.objects.filter(study=study, parent__isnull=False))
    n_transcripts = max(1, n_codings // per_transcript)
    participants = Participant.objects.bulk_create([Participant(study=study, label=f"P{i:05d}")
                                                    for i in range(n_transcripts)])
    for start in range(0, n_transcripts, 100):
        chunk = participants[start:start + 100]
        made = Transcript.objects.bulk_create([
            Transcript(study=study, participant=p, title=p.label, content_hash=f"{p.pk:064d}",
                       text=" ".join(rng.choice(WORDS) for _ in range(2000))) for p in chunk])
        rows = []
        for t in made:
            for _ in range(per_transcript):
                s = rng.randrange(0, len(t.text) - 200)
                rows.append(Coding(transcript=t, code=rng.choice(codes), coder=coder, layer=Layer.CODER, start=s,
                                   end=s + rng.randint(20, 200), quote="x", memo=rng.choice(["", "=note"])))
        Coding.objects.bulk_create(rows, batch_size=10000, ignore_conflicts=True)
    return study.slug


MEASURE = """
import json, sys, threading, time, django
django.setup()
from analysis import exports
from benchmarks.common import peak_rss_mb, rss_mb
from interviews.access import StudyAccess
from interviews.models import Membership
m = Membership.objects.select_related("study", "user").get(study__slug=sys.argv[1], role="pi")
before = rss_mb()
samples, done = [], threading.Event()
def sample():
    while not done.wait(0.2):
        samples.append(rss_mb())
threading.Thread(target=sample, daemon=True).start()
started = time.perf_counter()
rows = exports.export_to_file(StudyAccess(m.study, m), exports.ExcerptFilters(), "csv", sys.argv[2])
elapsed = time.perf_counter() - started
done.set()
half = samples[len(samples) // 2:] or [before]
print(json.dumps({"rows": rows, "seconds": round(elapsed, 2), "rows_per_second": round(rows / elapsed),
                  "rss_before_mb": round(before), "peak_rss_mb": round(peak_rss_mb()),
                  "rss_first_half_max_mb": round(max(samples[:len(samples) // 2] or [before])),
                  "rss_second_half_max_mb": round(max(half))}))
"""

COPY = """COPY (SELECT s.name, t.id, t.title, p.label, c.code_id, k.name, u.username, c.layer, c.start, c."end",
  substr(t.text, c.start + 1, c."end" - c.start), c.memo, c.created_at, c.updated_at
  FROM codebook_coding c JOIN interviews_transcript t ON t.id = c.transcript_id
  JOIN interviews_participant p ON p.id = t.participant_id JOIN interviews_study s ON s.id = t.study_id
  JOIN codebook_code k ON k.id = c.code_id JOIN auth_user u ON u.id = c.coder_id
  WHERE s.slug = %s ORDER BY c.transcript_id, c.start, c."end", c.id) TO STDOUT WITH CSV HEADER FORCE QUOTE *"""


def measure(slug: str) -> dict:
    fd, target = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    out = subprocess.run([sys.executable, "-c", MEASURE, slug, target], env=dict(os.environ), capture_output=True,
                         text=True, check=True, cwd=ROOT)
    figure = json.loads(out.stdout.strip().splitlines()[-1])
    figure["bytes"] = os.path.getsize(target)
    os.unlink(target)
    return figure


def copy_reference(slug: str) -> dict:
    from django.db import connection

    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as sink, connection.cursor() as cursor:
        cursor.cursor.copy_expert(cursor.mogrify(COPY, [slug]).decode(), sink)
        written = sink.tell()
    return {"seconds": round(time.perf_counter() - started, 2), "bytes": written}


def main(engine: str = "postgres") -> None:
    sizes = [100_000, 1_000_000] if size() == "large" else [20_000]
    setup_django(engine)
    for n in sizes:
        slug = build(n)
        ours = measure(slug)
        reference = copy_reference(slug)
        emit(benchmark="excerpt_csv_export", engine=engine, size=size(), codings=n, export=ours,
             postgres_copy=reference, relative_speed=round(reference["seconds"] / max(ours["seconds"], 1e-9), 3))


if __name__ == "__main__":
    main(*sys.argv[1:])
