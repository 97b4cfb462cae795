"""Long fuzzing run of the service's edges: ``tests/security/test_fuzz.py`` for a time budget.

Run ``python -m bench.fuzz [--seconds 600] [--examples 2000]``.

Each round runs the three fuzz tests (signed webhooks, webhook headers, API bodies) against
one real service (uvicorn on uvloop, SQLite, the built-in sandboxes) with a new hypothesis
seed and ``--examples`` examples per test, until the budget is spent. A round fails when any
example gets a 5xx other than ``500 store_refused``, an error without ``{"error", "detail"}``,
when ``/healthz`` stops answering, or when an actor was restarted. Prints the rounds, the
requests sent, the answers by route and status, and every failing round's seed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = "tests/security/test_fuzz.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="time budget (default 600)")
    parser.add_argument("--examples", type=int, default=2000, help="examples per test per round")
    parser.add_argument("--first-seed", type=int, default=1)
    args = parser.parse_args(argv)
    tally: Counter[str] = Counter()
    failed: list[int] = []
    started = time.monotonic()
    seed = args.first_seed
    rounds = 0
    while time.monotonic() - started < args.seconds:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "tally.json"
            env = os.environ | {
                "CREATORFLOW_FUZZ_EXAMPLES": str(args.examples),
                "CREATORFLOW_FUZZ_SEED": str(seed),
                "CREATORFLOW_FUZZ_REPORT": str(report),
            }
            cmd = [sys.executable, "-m", "pytest", "-q", "-x", TESTS]
            cmd += [f"--hypothesis-seed={seed}"]
            done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            if report.exists():
                tally.update(json.loads(report.read_text()))
        rounds += 1
        elapsed = time.monotonic() - started
        status = "ok" if done.returncode == 0 else "FAILED"
        print(f"round {rounds} seed {seed}: {status} ({elapsed:.0f} s)", flush=True)
        if done.returncode != 0:
            failed.append(seed)
            print(done.stdout[-4000:], flush=True)
        seed += 1
    total = sum(tally.values())
    print(f"\n{rounds} rounds, {total} requests in {time.monotonic() - started:.0f} s")
    for key, count in sorted(tally.items()):
        print(f"  {key:<16} {count:>8}")
    fives = {k: v for k, v in tally.items() if k.split()[1].startswith("5")}
    print(f"5xx answers: {sum(fives.values())} {fives or ''}")
    print(f"failing rounds: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
