"""Check the physics against reality: `dyno plan`'s CPU ceiling vs the embedded engine's measured decode.

    .venv/bin/python benchmarks/plan_vs_measured.py [--tokens 256] [--repeats 3]

Starts the embedded engine (SmolLM2-135M-Instruct on vLLM CPU) unless one is
already running with that profile, measures single-stream decode the way
`dyno demo` does (streamed, greedy, ignore_eos, tokens from the server's
usage), and prints measured / ceiling. The ceiling is bandwidth / bytes per
token at the measured context, with the bandwidth this machine's single
thread achieves (the `cpu` hardware entry). A ratio above 1 means the physics
is wrong: the ceiling must bound every measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

from dyno.catalog import get_hardware, get_model, get_quant
from dyno.client import GenRequest, StreamClient, derive
from dyno.engine import profiles, supervisor
from dyno.engine.state import liveness, read_state
from dyno.plan import bytes_per_token, decode_ceiling_tok_s
from dyno.settings import Settings

PROFILE = "smollm2"
MODEL_ID = "smollm2-135m-instruct"
PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."


async def measure(url: str, served: str, tokens: int, repeats: int) -> tuple[list[float], int]:
    """Decode tok/s of `repeats` greedy streams of `tokens` tokens, and the prompt's token count."""
    req = GenRequest(served, ({"role": "user", "content": PROMPT},), max_tokens=tokens, ignore_eos=True)
    rates: list[float] = []
    prompt_tokens = 0
    async with StreamClient(url) as client:
        await client.generate(GenRequest(served, req.messages, max_tokens=16))
        for i in range(repeats):
            r = await client.generate(req)
            rate = derive.decode_tok_s(r)
            if not r.ok or rate is None:
                raise SystemExit(f"request {i} failed: {r.error_kind}: {r.error_message}")
            rates.append(rate)
            prompt_tokens = r.prompt_tokens or prompt_tokens
    return rates, prompt_tokens


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=256, help="output tokens per stream")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    settings = Settings.from_env().ensure()
    existing = read_state(settings)
    started = False
    if existing is not None and liveness(existing).alive:
        if existing.profile != PROFILE:
            print(f"engine {existing.profile!r} is running; `dyno down` it first", file=sys.stderr)
            return 2
        state = existing
    else:
        recipe = profiles.to_recipe(settings, profiles.load_profile(settings, PROFILE))
        state = supervisor.start(settings, PROFILE, recipe)
        started = True
    try:
        rates, prompt_tokens = asyncio.run(measure(state.url, state.served_name, args.tokens, args.repeats))
    finally:
        if started:
            supervisor.stop(settings)

    hw = get_hardware("cpu", cpu_cache=settings.cache_dir)
    model = get_model(MODEL_ID)
    variant = model.variants[0]
    # the context grows during the stream; its midpoint is the average a token attends over
    context = prompt_tokens + args.tokens // 2
    tb = bytes_per_token(model, variant, get_quant(variant.quant), context_tokens=context)
    ceiling = decode_ceiling_tok_s(hw, tb.total)
    measured = statistics.mean(rates)
    ratio = measured / ceiling
    print(f"hardware:   {hw.name}")
    print(f"bandwidth:  {hw.memory_bandwidth_gb_s:.1f} GB/s ({hw.measured.get('memory_bandwidth_gb_s')})")
    print(f"model:      {model.id} (bf16), {tb.total / 1e6:.1f} MB read per token at context {context}")
    print(f"measured:   {measured:.1f} tok/s (runs: {', '.join(f'{r:.1f}' for r in rates)})")
    print(f"ceiling:    {ceiling:.1f} tok/s")
    print(f"measured / ceiling: {ratio:.2f}")
    if ratio > 1:
        print("BUG: a measurement above the ceiling: the physics (or the bandwidth probe) is wrong")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
