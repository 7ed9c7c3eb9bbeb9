"""Integration fixtures: a real HTTP server in a thread (see tests/fixtures/pacing_server.py)."""

from tests.fixtures.pacing import pacing_process, pacing_server

__all__ = ["pacing_process", "pacing_server"]
