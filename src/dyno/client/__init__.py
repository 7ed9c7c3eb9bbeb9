"""OpenAI-compatible client: streaming generation with raw timestamps, endpoint probes."""

from dyno.client.endpoint import Endpoint, ServedModel
from dyno.client.records import Chunk, GenRequest, RequestRecord, server_message
from dyno.client.stream import ClientConfig, StreamClient

__all__ = [
    "Chunk",
    "ClientConfig",
    "Endpoint",
    "GenRequest",
    "RequestRecord",
    "ServedModel",
    "StreamClient",
    "server_message",
]
