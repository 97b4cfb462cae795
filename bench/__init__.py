"""Benchmarks: ``python -m bench.runtime`` (actor hops) and ``python -m bench.ingress`` (HTTP).

Figures and the commands that produced them are recorded in ``bench/RESULTS.md``.
"""
