"""Reproducible benchmarks: ``python -m benchmarks [--json] [--quick] [--case NAME]``.

The code lives in the installed module ``wess_emulator.bench`` (also ``wess bench``), so
the same command works from a checkout and from an installed ``wess``.
"""
