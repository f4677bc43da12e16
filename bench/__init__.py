"""Benchmarks that print figures (README "Performance").

Each benchmark is a module in this package exposing ``NAME``, ``DESCRIPTION`` and
``run(quick: bool) -> BenchResult``. ``gateward bench NAME`` prints the table and, as its
last line, one JSON object ``{"bench", "metrics", "params"}``. ``KEYS`` (and ``KEYS_POSTGRES``, with a
PostgreSQL configured) name the metrics every ``--quick`` run reports: the full tier runs each
benchmark's ``--quick`` and checks them (``tests/bench_smoke``), so a change that breaks a benchmark
fails CI the same day.
"""
