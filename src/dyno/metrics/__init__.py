"""Prometheus scrapes of the engine's /metrics: parse, and diff two scrapes."""

from dyno.metrics.prom import Scrape, counter_delta, parse

__all__ = ["Scrape", "counter_delta", "parse"]
