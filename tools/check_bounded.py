"""Fail when src/ contains an unbounded queue or an infinite bound.

Looks for ``math.inf``/``float("inf")`` and zero-argument/unsized queue constructors
(``asyncio.Queue()``, ``queue.Queue()``, ``create_memory_object_stream()`` with no size,
``deque()`` without ``maxlen`` is allowed only with a ``# bounded:`` comment saying why).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PATTERNS = [
    (re.compile(r"\bmath\.inf\b|float\(\s*['\"]inf['\"]\s*\)"), "infinite bound"),
    (
        re.compile(r"\b(asyncio|queue)\.(Queue|LifoQueue|PriorityQueue|SimpleQueue)\(\s*\)"),
        "queue without maxsize",
    ),
    (
        re.compile(r"create_memory_object_stream(\[[^\]]*\])?\(\s*\)"),
        "stream without a buffer size",
    ),
    (re.compile(r"\bdeque\((?![^)]*maxlen)[^)]*\)"), "deque without maxlen"),
]


def main(root: str) -> int:
    problems = []
    for path in sorted(Path(root).rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for pattern, what in PATTERNS:
                if pattern.search(line) and "# bounded:" not in line:
                    problems.append(f"{path}:{lineno}: {what}: {line.strip()}")
    for problem in problems:
        print(problem)
    if problems:
        print(f"check_bounded: {len(problems)} problem(s); bound it or add '# bounded: <why>'")
        return 1
    print("check_bounded: no unbounded queues")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
