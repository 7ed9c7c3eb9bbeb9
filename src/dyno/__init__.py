"""dyno: put a self-hosted LLM server on a dynamometer."""

__version__ = "0.1.0"
