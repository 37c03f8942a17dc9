"""Run every benchmark, or the ones named: ``python -m benchmarks [import coding ...]``.

Each (benchmark, engine) pair runs in its own process so that each gets a fresh Django configuration. PostgreSQL
runs need ``DATABASE_URL`` from ``scripts/testservers.py`` (``make bench`` provides it); without it those runs are
reported as skipped.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

BENCHMARKS = {
    "import": ["sqlite"],
    "coding": ["sqlite", "postgres"],
    "analysis": ["postgres"],
    "agreement": ["postgres"],
    "export": ["postgres"],
    "load": ["postgres"],
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    postgres = os.environ.get("DATABASE_URL", "")
    failed = 0
    for name in names:
        for engine in BENCHMARKS[name]:
            if engine == "postgres" and not postgres.startswith("postgres"):
                print(json.dumps({"benchmark": name, "engine": engine, "skipped": "no PostgreSQL server"}), flush=True)
                continue
            env = dict(os.environ, BENCH_POSTGRES_URL=postgres)
            result = subprocess.run([sys.executable, "-m", f"benchmarks.bench_{name}", engine], env=env, check=False)
            failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
