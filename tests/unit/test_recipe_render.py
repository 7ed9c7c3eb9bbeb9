"""Recipe renderings (argv, docker, compose, Ray), pasted-command parsing, recipe files, vLLM's parser."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno.errors import UsageError
from dyno.recipe import (
    DEFAULT_IMAGE,
    DockerOptions,
    Recipe,
    load_recipe,
    parse_command,
    recipe_from_toml,
    recipe_to_toml,
    serve_args,
    to_argv,
    to_compose,
    to_docker_argv,
    to_docker_shell,
    to_ray,
    to_shell,
)
from dyno.recipe.validate import check_with_vllm, vllm_available
from tests.conftest import missing

FIXTURES = Path(__file__).parent.parent / "fixtures"
OPTS = DockerOptions(hf_cache=Path("/h/hf cache"), vllm_cache=Path("/h/vllm$cache"))

# anything a shell line can carry (no NUL), including quotes, spaces, $, ;, newlines
text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), min_size=1, max_size=40)
env_name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
recipes = st.builds(
    Recipe,
    model=text,
    served_name=st.none() | text,
    flags=st.lists(text, max_size=6).map(tuple),
    env=st.lists(st.tuples(env_name, text), max_size=3).map(tuple),
    host=text,
    port=st.none() | st.integers(1, 65535),
    image=st.none() | text,
    api_key_env=st.none() | env_name,
)


@settings(max_examples=150, deadline=None)
@given(recipes)
def test_argv_shell_line_splits_back_into_exactly_its_words(r: Recipe) -> None:
    words = shlex.split(to_shell(r))
    assert words == [f"{k}={v}" for k, v in r.env] + to_argv(r)


@settings(max_examples=150, deadline=None)
@given(recipes)
def test_docker_line_splits_back_into_exactly_its_words(r: Recipe) -> None:
    words = shlex.split(to_docker_shell(r, OPTS))
    argv = to_docker_argv(r, OPTS)
    if r.api_key_env and r.api_key_env != "VLLM_API_KEY":
        assert words[0] == f"VLLM_API_KEY=${r.api_key_env}"
        words = words[1:]
    assert words == argv
    assert argv[argv.index(r.image or DEFAULT_IMAGE) + 1] == r.model  # the model is one word after the image


@settings(max_examples=100, deadline=None)
@given(recipes)
def test_compose_file_carries_each_value_as_one_scalar(r: Recipe) -> None:
    doc = yaml.safe_load(to_compose(r, OPTS))
    svc = doc["services"]["vllm"]
    undollar = [a.replace("$$", "$") for a in svc["command"]]
    assert undollar == serve_args(r, host="0.0.0.0", port=r.port or 8000)
    assert svc["image"].replace("$$", "$") == (r.image or DEFAULT_IMAGE)
    for k, v in dict(r.env).items():  # a repeated name: the last one wins, as in a shell
        assert svc["environment"][k].replace("$$", "$") == v


@settings(max_examples=100, deadline=None)
@given(recipes, text, text)
def test_ray_layout_lines_split_back_into_their_words(r: Recipe, head: str, worker: str) -> None:
    layout = to_ray(r, head_ip=head, worker_ip=worker, interface="eth1")
    env = [f"{k}={v}" for k, v in layout.env]
    expected = [*layout.head, *layout.worker, layout.serve]
    # a value may contain a newline, so compare the whole script's words (comment lines dropped)
    assert shlex.split(layout.shell(), comments=True) == [w for cmd in expected for w in [*env, *cmd]]
    assert layout.serve[layout.serve.index("--tensor-parallel-size") + 1] == "2"


@settings(max_examples=100, deadline=None)
@given(recipes)
def test_recipe_file_round_trips(r: Recipe) -> None:
    assert recipe_from_toml(recipe_to_toml(r)) == Recipe(
        model=r.model, served_name=r.served_name or None, flags=r.flags, env=tuple(dict(r.env).items()),
        host=r.host, port=r.port, image=r.image, api_key_env=r.api_key_env,
    )  # fmt: skip


def test_docker_run_has_gpus_ipc_caches_and_a_loopback_port() -> None:
    r = Recipe(model="org/m", served_name="m", port=8123, env=(("A", "1"),), image="vllm/vllm-openai:v0.32.0")
    argv = to_docker_argv(r, OPTS)
    line = " ".join(argv)
    assert "--gpus all" in line and "--ipc host" in line and "--runtime" not in line
    assert "-p 127.0.0.1:8123:8123" in line
    assert "/h/hf cache:/root/.cache/huggingface" in argv and "/h/vllm$cache:/root/.cache/vllm" in argv
    assert "VLLM_CACHE_ROOT=/root/.cache/vllm" in argv and "A=1" in argv
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # inside the container; -p decides exposure
    exposed = to_docker_argv(r, DockerOptions(OPTS.hf_cache, OPTS.vllm_cache, publish_host="0.0.0.0"))
    assert "0.0.0.0:8123:8123" in exposed


def test_api_key_is_passed_by_name_never_by_value() -> None:
    r = Recipe(model="m", api_key_env="MY_KEY")
    assert "-e VLLM_API_KEY " in to_docker_shell(r, OPTS)
    assert to_docker_shell(r, OPTS).startswith('VLLM_API_KEY="$MY_KEY" ')
    assert "${MY_KEY}" in to_compose(r, OPTS)
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        to_docker_argv(Recipe(model="m", env=(("A B", "1"),)), OPTS)


def test_parse_vllm_serve_pulls_out_model_host_port_and_name() -> None:
    p = parse_command("vllm serve org/model --port 9000 --max-model-len 4096 --served-model-name x")
    r = p.recipe
    assert (r.model, r.port, r.served_name, r.flags) == ("org/model", 9000, "x", ("--max-model-len", "4096"))
    assert r.host == "0.0.0.0"  # vLLM's default when --host is not given
    q = parse_command(
        ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model=org/m", "--host", "::1"]
    )
    assert q.recipe.model == "org/m" and q.recipe.host == "::1"
    env = parse_command("VLLM_ATTENTION_BACKEND=FLASHINFER vllm serve m")
    assert env.recipe.env == (("VLLM_ATTENTION_BACKEND", "FLASHINFER"),)


def test_parse_docker_run_keeps_container_facts() -> None:
    p = parse_command(
        "docker run -d --runtime=nvidia -p 8000:8000 -v /x:/root/.cache/huggingface -e HF_TOKEN -e A=b "
        "--name v vllm/vllm-openai:gemma4 --model google/gemma-4-31B-it --max-model-len 8192"
    )
    d = p.docker
    assert d is not None and d.image == "vllm/vllm-openai:gemma4" and d.runtime == "nvidia" and d.gpus is None
    assert d.env_names == ("HF_TOKEN", "A") and p.recipe.env == (("A", "b"),)
    assert p.recipe.model == "google/gemma-4-31B-it" and p.recipe.flags == ("--max-model-len", "8192")
    assert p.recipe.host == "0.0.0.0"  # published on every interface
    loop = parse_command("docker run --gpus all -p 127.0.0.1:8000:8000 img:1.0 org/m --dtype bfloat16")
    assert loop.recipe.host == "127.0.0.1" and loop.recipe.model == "org/m"


def test_parse_round_trips_the_docker_rendering() -> None:
    r = Recipe(model="org/m x", served_name="m", flags=("--speculative-config", '{"a": "$b"}'), port=8000)
    p = parse_command(to_docker_shell(r, OPTS))
    assert p.recipe.model == r.model and p.recipe.flags == r.flags and p.recipe.served_name == "m"


@pytest.mark.parametrize(
    "bad",
    ["", "ls -la", "docker ps", "vllm serve --max-model-len 5", "docker run --gpus all", "vllm serve 'x"],
)
def test_unreadable_commands_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_command(bad)


def test_recipe_file_fixture_loads_and_bad_files_are_refused(tmp_path: Path) -> None:
    r = load_recipe(FIXTURES / "recipes" / "gemma4-26b-spark.toml")
    assert r.model.startswith("RedHatAI/") and r.flag("--max-model-len") == "32768"
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "m"\nflagz = []\n')
    with pytest.raises(UsageError, match="not a valid recipe"):
        load_recipe(bad)
    with pytest.raises(UsageError, match="cannot read"):
        load_recipe(tmp_path / "missing.toml")


@pytest.mark.slow
def test_vllm_own_parser_judges_the_flags() -> None:
    if not vllm_available():
        missing("vLLM is not installed (the cpu extra)")
    ok = check_with_vllm(Recipe(model="m", flags=("--max-model-len", "2048", "--enforce-eager")))
    assert ok.checked and ok.ok and ok.engine_version
    unknown = check_with_vllm(Recipe(model="m", flags=("--no-such-flag", "1")))
    assert not unknown.ok and "--no-such-flag" in unknown.errors[0]
    tools = check_with_vllm(Recipe(model="m", flags=("--enable-auto-tool-choice",)))
    assert not tools.ok and "tool-call-parser" in tools.errors[0]


def test_engine_check_is_skipped_with_a_notice_without_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    import dyno.recipe.validate as validate

    monkeypatch.setattr(validate, "vllm_available", lambda: False)
    res = validate.check_with_vllm(Recipe(model="m", flags=("--whatever",)))
    assert not res.checked and res.ok and res.notice and "not installed" in res.notice


def test_a_local_model_path_is_mounted_read_only_where_vllm_will_look() -> None:
    r = Recipe(model="/home/me/models/smollm2", flags=("--enforce-eager",))
    argv = to_docker_argv(r, OPTS)
    assert argv[argv.index("/home/me/models/smollm2:/home/me/models/smollm2:ro") - 1] == "-v"
    volumes = yaml.safe_load(to_compose(r, OPTS))["services"]["vllm"]["volumes"]
    assert "/home/me/models/smollm2:/home/me/models/smollm2:ro" in volumes
    hub = to_docker_argv(Recipe(model="google/gemma-4-26b-a4b-it"), OPTS)
    assert not any(w.endswith(":ro") for w in hub)  # a hub id comes through the mounted HF cache
