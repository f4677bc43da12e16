"""Benchmarks that print figures (README "Performance").

Each benchmark is a module in this package exposing ``NAME``, ``DESCRIPTION`` and
``run(quick: bool) -> BenchResult``. ``gateward bench NAME`` prints the table and, as its
last line, one JSON object ``{"bench", "metrics", "params"}``.
"""
