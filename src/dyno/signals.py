"""SIGTERM and SIGHUP handled like Ctrl-C, so every long command cleans up the same way.

`timeout`, systemd, `docker stop` and CI stop a process with SIGTERM; a closed
terminal sends SIGHUP. Python's default for both is to die on the spot: no
`finally`, so an engine dyno started keeps running and a run stays `running`.
`install()` turns each into a `Terminated` raised in the main thread. It is a
KeyboardInterrupt, so asyncio, the runners and the engine's context managers
treat it exactly as they treat Ctrl-C: finished rows stay stored, the run is
closed `partial` with the reason, an engine this command started is stopped.
The exit code is 128 + the signal number, as a shell reports it.

After the first signal, further SIGTERM/SIGHUP are ignored so that a second
one cannot cut the clean-up short (SIGKILL still works; Ctrl-C still raises).
"""

from __future__ import annotations

import asyncio
import signal
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal other than SIGINT."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _handler(signum: int, _frame: FrameType | None) -> None:
    for s in HANDLED:
        signal.signal(s, signal.SIG_IGN)
    loop = asyncio._get_running_loop()  # this thread's: handlers run in the main thread
    if loop is None:
        raise Terminated(signum)
    # Inside a running loop the handler may be running inside a transport callback, which uvloop
    # wraps: an exception raised there is taken for a broken stream (the request is stored as
    # stream_broken, the run ends "does not pass", exit 1). Raised from a callback of its own,
    # it leaves the loop the way Ctrl-C does (event loops re-raise KeyboardInterrupt from one).
    loop.call_soon_threadsafe(_raise, Terminated(signum))


def _raise(e: Terminated) -> None:
    raise e


def install() -> None:
    """Route SIGTERM and SIGHUP through `Terminated`; call once, from the main thread."""
    for s in HANDLED:
        signal.signal(s, _handler)


def signum_of(e: BaseException) -> int:
    return e.signum if isinstance(e, Terminated) else int(signal.SIGINT)


def describe(e: BaseException) -> str:
    """How a run note says it was stopped."""
    if isinstance(e, Terminated):
        return f"terminated by {signal.Signals(e.signum).name}"
    return "interrupted (Ctrl-C)"


def exit_code(e: BaseException) -> int:
    return 128 + signum_of(e)
