"""`dyno status`: which engine is up, where, since when; a dead one is called dead."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from dyno.cli._common import console, fmt_duration, settings
from dyno.engine import supervisor
from dyno.recipe import engine_name


def register(app: typer.Typer) -> None:
    @app.command()
    def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Show the running engine: profile, URL, pid, uptime, engine version."""
        st = supervisor.status(settings())
        if st is None:
            if as_json:
                print(json.dumps({"running": False}))
            else:
                console.print("no engine is running")
            return
        s = st.state
        if as_json:
            print(
                json.dumps(
                    {
                        "running": st.alive,
                        "healthy": st.healthy,
                        "reason": st.reason,
                        "profile": s.profile,
                        "url": s.url,
                        "pid": s.pid,
                        "uptime_s": st.uptime_s,
                        "engine_version": s.engine_version,
                        "model": s.served_name,
                        "phase": s.phase,
                        "leftover_pids": list(st.leftover_pids),
                        "log": s.log_path,
                    }
                )
            )
            if not st.alive:
                raise typer.Exit(1)
            return
        t = Table(show_header=False, box=None)
        state_txt = (
            ("[green]running[/]" if st.healthy else "[yellow]running, not healthy[/]")
            if st.alive
            else f"[red]dead[/] ({st.reason})"
        )
        t.add_row("state", state_txt)
        t.add_row("profile", s.profile)
        t.add_row("url", s.url)
        t.add_row("pid", str(s.pid))
        t.add_row("uptime", fmt_duration(st.uptime_s))
        t.add_row("engine", f"{engine_name(s.engine)} {s.engine_version or '?'}")
        t.add_row("model", s.served_name)
        kv = s.facts.get("kv_cache_tokens")
        if kv:
            t.add_row("KV cache", f"{kv:,} tokens")
        if s.facts.get("n_slots"):
            t.add_row("slots", f"{s.facts['n_slots']} × {s.facts.get('n_ctx_slot', '?')} tokens of context")
        t.add_row("log", s.log_path)
        console.print(t)
        if not st.alive:
            left = (
                f"; {len(st.leftover_pids)} processes of its group are still alive"
                if st.leftover_pids
                else ""
            )
            console.print(
                f"[yellow]the engine recorded as running is not{left}: run `dyno down` to clean up[/]"
            )
            raise typer.Exit(1)
