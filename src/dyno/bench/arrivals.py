"""When each request of an open-loop (rate) load is meant to leave: Poisson or evenly spaced.

The intended send time of every request is fixed before the run starts, from
a seeded generator, and stored with the request. A client that falls behind
does not move the schedule (that would be coordinated omission: the backlog
would vanish from the figures); the delay shows up as dispatch delay instead.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

ARRIVALS = ("poisson", "constant")


def offsets_s(rate_per_s: float, arrival: str, rng: random.Random) -> Iterator[float]:
    """Seconds from the start at which requests are due: exponential gaps (Poisson) or 1/rate apart."""
    if rate_per_s <= 0:
        raise ValueError("rate must be > 0")
    t = 0.0
    while True:
        yield t
        t += rng.expovariate(rate_per_s) if arrival == "poisson" else 1.0 / rate_per_s


def schedule(
    rate_per_s: float, arrival: str, seed: int, *, requests: int | None, duration_s: float | None
) -> list[float]:
    """The whole schedule: `requests` arrivals, or every arrival before `duration_s`."""
    if requests is None and duration_s is None:
        raise ValueError("a rate load needs a number of requests or a duration")
    out: list[float] = []
    for t in offsets_s(rate_per_s, arrival, random.Random(seed)):
        if (requests is not None and len(out) >= requests) or (duration_s is not None and t >= duration_s):
            break
        out.append(t)
    return out
