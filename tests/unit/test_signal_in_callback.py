"""A SIGTERM that lands while the event loop is inside a transport callback still stops the run.

Seen in CI: `dyno bench` got SIGTERM while uvloop was in a protocol's `data_received`; the handler
raised `Terminated` right there, uvloop took it for a broken stream ("Fatal error on transport"),
the request was stored as stream_broken and the run ended "does not pass", exit 1 instead of 143.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from dyno import signals
from dyno.client.loop import run


class _Killer(asyncio.Protocol):
    def __init__(self, lost: list[BaseException | None]) -> None:
        self.lost = lost

    def data_received(self, data: bytes) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, inside the loop's callback
        for _ in range(1000):  # a few bytecodes for Python to run the handler in
            pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


async def _serve_and_read(lost: list[BaseException | None]) -> None:
    async def send(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"x" * 64)
        await w.drain()
        await asyncio.sleep(5)

    server = await asyncio.start_server(send, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: _Killer(lost), "127.0.0.1", port)
    await asyncio.sleep(5)  # the signal ends this
    pytest.fail("SIGTERM did not stop the coroutine")


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_sigterm_inside_a_transport_callback_reaches_the_caller(
    event_loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNO_EVENT_LOOP", event_loop)
    old = {s: signal.getsignal(s) for s in signals.HANDLED}
    signals.install()
    lost: list[BaseException | None] = []
    try:
        with pytest.raises(signals.Terminated) as e:
            run(_serve_and_read(lost))
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    assert e.value.signum == signal.SIGTERM
    # The connection was not torn down as if the stream had broken under it.
    assert not any(isinstance(x, signals.Terminated) for x in lost), lost
