"""A Recipe (engine + model + flags + env) and its renderers."""

from dyno.recipe.model import Recipe, to_argv, to_shell

__all__ = ["Recipe", "to_argv", "to_shell"]
