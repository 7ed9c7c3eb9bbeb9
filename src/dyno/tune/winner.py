"""The tune's winner, kept: written as a profile, and printed as the command that launches it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dyno.engine import profiles
from dyno.recipe import Recipe, to_docker_shell
from dyno.redact import REDACTED, redact_shell
from dyno.settings import Settings
from dyno.store import Store
from dyno.tune.result import TuneSummary


@dataclass(frozen=True)
class Kept:
    profile: str
    path: Path
    shell: str  # the argv as a line a user can paste
    docker: str


def keep_winner(settings: Settings, store: Store, rep: TuneSummary, name: str | None = None) -> Kept | None:
    """Write the winner as DYNO_HOME/profiles/NAME.toml (default PROFILE-tuned); None without a winner."""
    w = rep.winner
    if w is None or w.row.bench_run_id is None:
        return None
    bench = store.get_run(w.row.bench_run_id)
    launch = bench.launch if bench else None
    recipe = launch.recipe if launch else None
    flags = tuple(recipe.flags) if recipe else ()
    if any(REDACTED in f for f in flags):
        return None  # a flag carried a secret; the profile must not get "<redacted>" for it
    base = profiles.load_profile(settings, str(rep.options["profile"]))
    name = name or f"{base.name}-tuned"
    score = w.score.value if w.score else None
    what = (
        f"dyno tune run {rep.run.id}: {w.candidate.label()} (score {score:.1f})"
        if score
        else f"dyno tune run {rep.run.id}"
    )
    path = profiles.write_profile(settings, name, replace(base, name=name, flags=flags, description=what))
    launch_recipe = Recipe(
        model=(recipe.model if recipe else "") or base.model,
        served_name=(recipe.served_name if recipe else None) or base.served_name,
        flags=flags,
        env=base.env,
    )
    return Kept(name, path, redact_shell(launch_recipe), to_docker_shell(launch_recipe))
