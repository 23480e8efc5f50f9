"""Fault injection around the real handlers: the scenarios in `scenarios.py`, run by `python -m tests.faults`
(one row per fault) and by pytest (tests/integration/test_faults.py)."""
