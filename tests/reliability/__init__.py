"""Reliability suites: fault injection with counts (see harness.py and run.py)."""
