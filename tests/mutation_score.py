"""Print the mutation score per module from mutmut's results (``make mutation`` runs it).

Usage: ``python tests/mutation_score.py [--min PERCENT]``, in the project root after
``mutmut run``. Reads ``mutmut results --all true``; a mutant is *killed* when a test failed
on it (or it timed out: an infinite loop is caught too), *survived* when every test passed or
no test reached it. Mutants the run was not asked to check are left out. Prints one line per
module, the total, and the survivors by name (``mutmut show NAME`` prints the change). Exits 1
when the total is under ``--min``.

Not a test module (pytest collects ``test_*.py`` only); it lives here because it belongs to the
test tooling.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

KILLED = {"killed", "timeout", "caught by type check"}
SURVIVED = {"survived", "no tests"}
NOT_RUN = {"not checked", "skipped"}


def read_results(mutmut: str) -> dict[str, str]:
    """Mutant name -> status, as ``mutmut results --all true`` prints them."""
    out = subprocess.run(
        [mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    results: dict[str, str] = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            results[name] = status.strip()
    return results


def module_of(mutant: str) -> str:
    # creatorflow.domain.money.x_parse_amount__mutmut_6 -> creatorflow.domain.money
    # creatorflow.actors.inventory.xǁSkuActorǁ_decide__mutmut_3 -> creatorflow.actors.inventory
    return mutant.rsplit(".", 1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=float, default=0.0, help="fail under this total %%")
    parser.add_argument("--mutmut", default=str(Path(sys.executable).with_name("mutmut")))
    args = parser.parse_args(argv)

    results = read_results(args.mutmut)
    by_module: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    survivors: list[str] = []
    other: list[tuple[str, str]] = []
    for name, status in sorted(results.items()):
        if status in NOT_RUN:
            continue
        counts = by_module[module_of(name)]
        if status in KILLED:
            counts["killed"] += 1
        elif status in SURVIVED:
            counts["survived"] += 1
            survivors.append(name)
        else:  # suspicious, segfault, …: neither; shown so someone looks
            counts["other"] += 1
            other.append((name, status))

    total_killed = total = 0
    print(f"{'module':<48} {'killed':>7} {'total':>6} {'score':>7}")
    for module, counts in sorted(by_module.items()):
        killed = counts["killed"]
        n = killed + counts["survived"] + counts["other"]
        total_killed += killed
        total += n
        print(f"{module:<48} {killed:>7} {n:>6} {100 * killed / n:>6.1f}%")
    score = 100 * total_killed / total if total else 0.0
    print(f"{'total':<48} {total_killed:>7} {total:>6} {score:>6.1f}%")
    if survivors:
        print(f"\nsurvivors ({len(survivors)}; `mutmut show NAME` prints each):")
        for name in survivors:
            print(f"  {name}")
    for name, status in other:
        print(f"  {name}: {status}")
    if score < args.min:
        print(f"\nmutation score {score:.1f}% is under {args.min:.1f}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
