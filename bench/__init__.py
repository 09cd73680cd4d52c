"""Benchmarks of funasr-realtime against the official SDK; ``python -m bench`` (``make bench``).

Not part of the test suite (``tests/bench`` runs a seconds-long smoke configuration).
"""
