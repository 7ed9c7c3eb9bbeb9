"""Measurement: scenarios over the client, and the statistics derived from raw records."""
