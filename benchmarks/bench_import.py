"""Import and pseudonymise N transcripts of W words with an E-entry replacement list, on the embedded default.

Target (issue 3): 100 transcripts x 10,000 words with a 500-entry list in under 20 s. Small size: 10 x 2,000.
The figure covers reading the files, proposing replacements, the review decisions, applying them, the re-scan
and storing (one transaction per file), i.e. everything from upload to stored transcripts.
"""
from __future__ import annotations

import random
import sys
import time

from .common import emit, peak_rss_mb, setup_django, size

COMMON = ("the and of to in that it was for on with as I we they my our at but not this from by had have so "
          "family work city move parents job company salary school because back friends years university").split()


def corpus(n_transcripts: int, words: int, entries: int, seed: int = 7):
    rng = random.Random(seed)
    names = [f"Name{i:03d} Surname{i:03d}" for i in range(entries // 2)]
    places = [f"Placeville{i:03d}" for i in range(entries - len(names) - 20)]
    cjk = [f"公司{i:02d}号" for i in range(20)]
    originals = names + places + cjk
    key = "original,pseudonym\n" + "".join(f"{o},[X{i}]\n" for i, o in enumerate(originals))
    files = []
    for t in range(n_transcripts):
        lines, count = [], 0
        while count < words:
            turn = []
            for _ in range(rng.randint(20, 60)):
                roll = rng.random()
                if roll < 0.01:
                    turn.append(rng.choice(names))
                elif roll < 0.02:
                    turn.append(rng.choice(places))
                elif roll < 0.022:
                    turn.append(rng.choice(cjk))
                elif roll < 0.0225:
                    turn.append(f"p{rng.randint(1, 999)}@example.org")
                else:
                    turn.append(rng.choice(COMMON))
            count += len(turn)
            lines.append(("I: " if len(lines) % 2 == 0 else "R: ") + " ".join(turn) + ".")
        files.append((f"P{t + 1:03d}_interview.txt", ("\n".join(lines) + "\n").encode()))
    return files, key.encode()


def main(engine: str = "sqlite") -> None:
    large = size() == "large"
    n, words, entries = (100, 10_000, 500) if large else (10, 2_000, 500)
    setup_django(engine)
    from django.contrib.auth import get_user_model

    from interviews import imports, keystore, services
    from interviews.models import Transcript

    files, key = corpus(n, words, entries)
    pi = get_user_model().objects.create_user("bench-pi")
    study = services.study_create(name="Import benchmark", pi=pi)
    started = time.perf_counter()
    batch = imports.import_stage(study=study, user=pi, uploads=files, replacements=keystore.entries_from_csv(key))
    staged = time.perf_counter()
    reviews = imports.import_review(batch=batch)
    reviewed = time.perf_counter()
    imports.import_decide(batch=batch, user=pi, decisions=imports.decisions_accept_all(reviews), keep_key=True)
    done = time.perf_counter()
    batch.refresh_from_db()
    stored = Transcript.objects.filter(study=study).count()
    replacements = sum(len(r.proposals) for r in reviews)
    emit(benchmark="import_pseudonymise", engine=engine, size=size(), transcripts=n, words_per_transcript=words,
         list_entries=entries, stored=stored, status=batch.status, replacements=replacements,
         seconds_total=round(done - started, 2), seconds_read=round(staged - started, 2),
         seconds_review=round(reviewed - staged, 2), seconds_decide_and_store=round(done - reviewed, 2),
         words_per_second=round(n * words / (done - started)), target_seconds=20 if large else None,
         peak_rss_mb=round(peak_rss_mb()))


if __name__ == "__main__":
    main(*sys.argv[1:])
