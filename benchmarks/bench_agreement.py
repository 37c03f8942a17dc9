"""Agreement on a generated corpus: all measures for all codes at the character and turn levels, and the bootstrap.

Target (issue 7): 200 transcripts x 10,000 words, 3 coders, 60 codes, 150,000 codings: all measures for all codes
at the character and turn levels in under 5 s; the bootstrap (1,000 resamples) in under 20 s. Small size: 20
transcripts x 2,000 words, 15,000 codings.
"""
from __future__ import annotations

import random
import sys
import time

from .common import emit, interview_text, make_code_tree, peak_rss_mb, setup_django, size


def build(n_transcripts: int, words: int, n_codings: int):
    from django.contrib.auth import get_user_model

    from codebook.models import Coding, Layer
    from interviews import services
    from interviews.models import Participant, Transcript

    rng = random.Random(3)
    User = get_user_model()
    coders = [User.objects.create_user(f"bench-coder-{i}") for i in (1, 2, 3)]
    study = services.study_create(name="Agreement benchmark")
    codes = make_code_tree(study, "D")
    participants = Participant.objects.bulk_create([Participant(study=study, label=f"P{i:04d}")
                                                    for i in range(n_transcripts)])
    transcripts = []
    for p in participants:
        transcripts.append(Transcript(study=study, participant=p, title=p.label, text=interview_text(rng, words),
                                      content_hash=f"{p.pk:064d}"))
    transcripts = Transcript.objects.bulk_create(transcripts)
    per_transcript = n_codings // n_transcripts
    rows = []
    for t in transcripts:
        length = len(t.text)
        seen = set()
        while len(seen) < per_transcript // 3:
            start = rng.randrange(0, length - 400)
            end = start + rng.randint(30, 400)
            code = rng.randrange(len(codes))
            if (code, start) in seen:
                continue
            seen.add((code, start))
            for coder in coders:  # coders agree roughly: boundaries jitter, sometimes a coder skips
                if rng.random() < 0.15:
                    continue
                s = max(0, start + rng.randint(-20, 20))
                rows.append(Coding(transcript=t, code=codes[code], coder=coder, layer=Layer.CODER, start=s,
                                   end=max(s + 1, end + rng.randint(-20, 20)), quote="x"))
    Coding.objects.bulk_create(rows, batch_size=5000)
    return study, [c.username for c in coders], len(rows)


def main(engine: str = "sqlite") -> None:
    large = size() == "large"
    n, words, codings = (200, 10_000, 150_000) if large else (20, 2_000, 15_000)
    setup_django(engine)
    from analysis import services

    study, coders, made = build(n, words, codings)
    figures = {}
    for unit in ("character", "turn"):
        params = services.clean_parameters(study, "agreement", {"coders": coders, "unit": unit, "resamples": 0})
        started = time.perf_counter()
        services.compute(study, "agreement", params)
        figures[f"{unit}_seconds"] = round(time.perf_counter() - started, 2)
    params = services.clean_parameters(study, "agreement", {"coders": coders, "unit": "character",
                                                            "resamples": 1000})
    started = time.perf_counter()
    services.compute(study, "agreement", params)
    figures["character_with_bootstrap_1000_seconds"] = round(time.perf_counter() - started, 2)
    emit(benchmark="agreement", engine=engine, size=size(), transcripts=n, words_per_transcript=words, coders=3,
         codes=60, codings=made, **figures, peak_rss_mb=round(peak_rss_mb()),
         targets={"character_and_turn_seconds": 5, "with_bootstrap_seconds": 20} if large else None)


if __name__ == "__main__":
    main(*sys.argv[1:])
