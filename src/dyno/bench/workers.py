"""`--workers N`: a load split over N processes, each with its own event loop; the coordinator owns the store.

One Python event loop spends ~80-90 µs of CPU per streamed chunk in the HTTP
stack (httpx/httpcore/anyio/h11, measured in benchmarks/timing_truth.py); at
64 streams of 100 chunks/s that keeps it more than half busy, and a busy loop
timestamps chunks late. Workers share the streams out, as GuideLLM and AIPerf
do: each worker gets its share of the jobs (round-robin) and of the slots,
sends them with the same executor dyno uses in-process (bench/execute.py),
and hands every finished record to the coordinator at once over a pipe. The
coordinator stores each one as it arrives, so a worker that dies loses only
what it had in flight; the scenario then ends `partial` and says so.

perf_counter_ns is CLOCK_MONOTONIC on Linux: one clock for every process on
the box, so intended times set by the coordinator hold in the workers.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

from dyno.bench.execute import Job, on_schedule, sustain
from dyno.client import ClientConfig, RequestRecord, StreamClient, loop

START_MARGIN_NS = 10_000_000  # from "all workers ready" to the first request due


class WorkerDied(Exception):
    """A worker process ended before its jobs did."""


@dataclass(frozen=True)
class _Plan:
    url: str
    api_key: str | None
    config: ClientConfig
    mode: str  # concurrent | rate
    slots: int  # concurrent: requests kept in flight; rate: the cap on them
    deadline_s: float | None
    jobs: tuple[Job, ...]


def _child(conn: Connection, plan: _Plan) -> None:
    # The coordinator decides when workers stop; a Ctrl-C in the terminal reaches the whole
    # process group, and must not kill a worker half-way through handing a record over.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def main() -> None:
        async with StreamClient(plan.url, api_key=plan.api_key, config=plan.config) as client:
            await client.warm(min(plan.slots, 64))
            # Ready: connections open. The coordinator starts every worker's clock at once.
            conn.send("ready")
            t0_ns = await asyncio.to_thread(conn.recv)

            async def send(job: Job, intended: int) -> RequestRecord:
                rec = await client.generate(job.request)
                rec = rec.tagged(job.scenario, job.label, job.seq, intended_ns=intended)
                conn.send(rec)
                return rec

            if plan.mode == "concurrent":
                await sustain(plan.jobs, plan.slots, send, plan.deadline_s)
            else:
                await on_schedule(plan.jobs, plan.slots, send, t0_ns)

    try:
        loop.run(main())
    except BaseException as e:  # what the coordinator shows instead of a traceback on the terminal
        conn.send(f"error: {type(e).__name__}: {e}")
    else:
        conn.send(None)  # done
    finally:
        conn.close()


def split(jobs: Sequence[Job], slots: int, workers: int) -> list[tuple[list[Job], int]]:
    """Round-robin jobs; slots shared out as evenly as they go. Workers with no slot get no jobs."""
    n = max(1, min(workers, slots, len(jobs)))
    out = [
        ([j for k, j in enumerate(jobs) if k % n == w], slots // n + (1 if w < slots % n else 0))
        for w in range(n)
    ]
    return [(js, s) for js, s in out if js and s]


async def run_on_workers(
    jobs: Sequence[Job],
    *,
    workers: int,
    mode: str,
    slots: int,
    deadline_s: float | None,
    url: str,
    api_key: str | None,
    config: ClientConfig,
    store: Callable[[RequestRecord], Awaitable[object]],
) -> None:
    """Run the jobs on `workers` processes; `store` is called in this loop with every finished record."""
    ctx = mp.get_context("spawn")  # no fork of a process holding an event loop and threads
    aloop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[int, RequestRecord | str | BaseException | None]] = asyncio.Queue()
    procs: list[mp.process.BaseProcess] = []
    conns: list[Connection] = []
    readers: list[threading.Thread] = []

    def read(w: int, conn: Connection) -> None:
        while True:
            try:
                item = conn.recv()
            except (EOFError, OSError) as e:
                aloop.call_soon_threadsafe(inbox.put_nowait, (w, e))
                return
            aloop.call_soon_threadsafe(inbox.put_nowait, (w, item))
            if item is None:
                return

    shares = split(jobs, slots, workers)
    try:
        for w, (mine, s) in enumerate(shares):
            parent, child = ctx.Pipe()
            plan = _Plan(url, api_key, config, mode, s, deadline_s, tuple(mine))
            p: mp.process.BaseProcess = ctx.Process(
                target=_child, args=(child, plan), name=f"dyno-worker-{w}", daemon=True
            )
            p.start()
            child.close()
            procs.append(p)
            conns.append(parent)
            t = threading.Thread(target=read, args=(w, parent), daemon=True)
            t.start()
            readers.append(t)
        running, died, ready = set(range(len(procs))), [], 0
        while running:
            w, item = await inbox.get()
            if isinstance(item, RequestRecord):
                await store(item)
            elif item == "ready":
                ready += 1
                if ready == len(procs):  # every worker is up: one start time for all of them
                    t0 = time.perf_counter_ns() + START_MARGIN_NS
                    for c in conns:
                        c.send(t0)
            elif item is None:
                running.discard(w)
            elif isinstance(item, str) and item.startswith("error: "):
                running.discard(w)
                died.append(f"worker {w} failed ({item.removeprefix('error: ')})")
            else:  # the pipe broke before the worker said it was done
                running.discard(w)
                procs[w].join(timeout=5)
                died.append(f"worker {w} (pid {procs[w].pid}) ended with exit code {procs[w].exitcode}")
        if died:
            raise WorkerDied("; ".join(died) + "; every record it had finished is stored")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=10)
