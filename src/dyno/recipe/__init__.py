"""A Recipe (engine + model + flags + env) and its renderers."""

from dyno.recipe.load import load_recipe, recipe_from_toml, recipe_to_toml
from dyno.recipe.model import ENGINES, Recipe, engine_name, to_argv, to_shell
from dyno.recipe.parse import DockerFacts, ParsedCommand, Publish, parse_command
from dyno.recipe.render import (
    DEFAULT_IMAGE,
    DockerOptions,
    RayLayout,
    serve_args,
    to_compose,
    to_docker_argv,
    to_docker_shell,
    to_ray,
)

__all__ = [
    "DEFAULT_IMAGE",
    "ENGINES",
    "DockerFacts",
    "DockerOptions",
    "ParsedCommand",
    "Publish",
    "RayLayout",
    "Recipe",
    "engine_name",
    "load_recipe",
    "parse_command",
    "recipe_from_toml",
    "recipe_to_toml",
    "serve_args",
    "to_argv",
    "to_compose",
    "to_docker_argv",
    "to_docker_shell",
    "to_ray",
    "to_shell",
]
