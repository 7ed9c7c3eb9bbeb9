"""The loop-lag sampler reports the lag timed requests can suffer, not untimed work between them."""

from __future__ import annotations

import asyncio
import time

from dyno.client.loop import LoopLag

BLOCK_S = 1.0  # far beyond any stall a busy machine adds on its own


async def _sample(pause: bool) -> LoopLag:
    lag = LoopLag(period_s=0.005)
    task = asyncio.create_task(lag.run())
    await asyncio.sleep(0.05)
    if pause:
        with lag.paused():
            time.sleep(BLOCK_S)  # holds the loop, as parsing a scrape does
    else:
        time.sleep(BLOCK_S)
    await asyncio.sleep(0.05)
    task.cancel()
    return lag


def test_work_that_holds_the_loop_is_lag() -> None:
    lag = asyncio.run(_sample(pause=False))
    assert max(lag.samples_ms) >= (BLOCK_S - 0.005) * 1000  # a sleep cannot return early


def test_a_paused_stretch_is_not_counted_and_sampling_goes_on_after_it() -> None:
    lag = asyncio.run(_sample(pause=True))
    assert max(lag.samples_ms) < (BLOCK_S - 0.005) * 1000
    assert len(lag.samples_ms) >= 2  # before and after the pause
