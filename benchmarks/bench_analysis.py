"""Analysis tables on a generated corpus: driver table, crosstab, participant- and segment-level co-occurrence.

Target (issue 6), on PostgreSQL, 1,000 participants with one ~5,000-word transcript each, 60 codes in 3 levels,
300,000 codings by 2 coders: driver table, crosstab and participant co-occurrence under 3 s each, segment
co-occurrence under 10 s, peak memory of the computing process under 500 MB. The large size also reports how the
times grow from 100 to 1,000 to 3,000 transcripts. Each table is computed in a fresh process, so its peak memory
is its own.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

from .common import ROOT, emit, interview_text, make_code_tree, setup_django, size


def build(n_transcripts: int, words: int, codings_per_transcript: int) -> int:
    from django.contrib.auth import get_user_model

    from codebook.models import Coding, Layer
    from interviews import services
    from interviews.models import AttributeValue, Participant, Transcript

    rng = random.Random(5)
    User = get_user_model()
    pi, _ = User.objects.get_or_create(username="bench-pi")
    coders = [User.objects.get_or_create(username=f"bench-coder-{i}")[0] for i in (1, 2)]
    study = services.study_create(name="Analysis benchmark", pi=pi)
    codes = make_code_tree(study, "Driver")
    gender = services.attribute_define(study=study, name="Gender", type="choice", choices=["Female", "Male"])
    participants = Participant.objects.bulk_create(
        [Participant(study=study, label=f"P{i:05d}") for i in range(n_transcripts)], batch_size=2000)
    AttributeValue.objects.bulk_create(
        [AttributeValue(participant=p, attribute=gender, value=rng.choice(["Female", "Male"])) for p in participants],
        batch_size=2000)
    total = 0
    for chunk_start in range(0, n_transcripts, 50):
        chunk = participants[chunk_start : chunk_start + 50]
        texts = []
        for p in chunk:
            texts.append(Transcript(study=study, participant=p, title=f"Interview {p.label}",
                                    text=interview_text(rng, words), content_hash=f"{p.pk:064d}"))
        made = Transcript.objects.bulk_create(texts)
        rows = []
        for transcript in made:
            length = len(transcript.text)
            seen = set()
            while len(seen) < codings_per_transcript:
                start = rng.randrange(0, length - 300)
                key = (rng.randrange(len(codes)), rng.randrange(2), start, start + rng.randint(20, 300))
                if key in seen:
                    continue
                seen.add(key)
                rows.append(Coding(transcript=transcript, code=codes[key[0]], coder=coders[key[1]],
                                   layer=Layer.CODER, start=key[2], end=key[3], quote="x"))
        Coding.objects.bulk_create(rows, batch_size=5000)
        total += len(rows)
    return study.pk


MEASURE = """
import json, sys, time, django
django.setup()
from analysis import services
from benchmarks.common import peak_rss_mb
from interviews.models import Study
study = Study.objects.get(pk=int(sys.argv[1]))
kind, raw = sys.argv[2], json.loads(sys.argv[3])
params = services.clean_parameters(study, kind, raw)
started = time.perf_counter()
result = services.compute(study, kind, params)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": round(elapsed, 2), "peak_rss_mb": round(peak_rss_mb())}))
"""

TABLES = [
    ("drivers", {}, 3),
    ("crosstab", {"attribute": "Gender"}, 3),
    ("cooccurrence", {"level": "participant", "depth": "1"}, 3),
    ("cooccurrence", {"level": "segment", "depth": "1"}, 10),
]


def measure(study_id: int, kind: str, raw: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(study_id), kind, json.dumps(raw)], env=dict(os.environ),
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(engine: str = "postgres") -> None:
    large = size() == "large"
    series = [100, 1000, 3000] if large else [100]
    words, per = (5000, 300) if large else (1000, 100)
    setup_django(engine)

    for n in series:
        started = time.perf_counter()
        study_id = build(n, words, per)
        built = time.perf_counter() - started
        figures = {}
        for kind, raw, target in TABLES:
            name = kind if kind != "cooccurrence" else f"cooccurrence_{raw['level']}"
            figures[name] = {**measure(study_id, kind, raw), "target_seconds": target if n == 1000 else None}
        emit(benchmark="analysis_tables", engine=engine, size=size(), transcripts=n, participants=n,
             words_per_transcript=words, codes=60, codings=n * per, coders=2, build_seconds=round(built, 1),
             **figures)


if __name__ == "__main__":
    main(*sys.argv[1:])
