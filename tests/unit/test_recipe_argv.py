import shlex

from dyno.recipe import Recipe, to_argv, to_shell


def test_argv_has_model_host_port_name_and_flags_in_order() -> None:
    r = Recipe(
        model="/m/smol",
        served_name="smol",
        flags=("--enforce-eager", "--max-model-len", "2048"),
        port=8123,
    )
    assert to_argv(r) == [
        "vllm",
        "serve",
        "/m/smol",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--served-model-name",
        "smol",
        "--enforce-eager",
        "--max-model-len",
        "2048",
    ]


def test_default_host_is_loopback_and_port_is_optional() -> None:
    argv = to_argv(Recipe(model="m"))
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "--port" not in argv


def test_flag_lookup_switch_value_equals_and_last_wins() -> None:
    r = Recipe(
        model="m",
        flags=(
            "--enforce-eager",
            "--max-model-len",
            "1024",
            "--max-model-len=4096",
            "--speculative-config",
            '{"method":"ngram"}',
        ),
    )
    assert r.flag("--enforce-eager") is True
    assert r.flag("--max-model-len") == "4096"
    assert r.flag("--speculative-config") == '{"method":"ngram"}'
    assert r.flag("--absent") is None


def test_shell_rendering_quotes_every_value() -> None:
    r = Recipe(
        model="/models/my model; rm -rf /",
        flags=("--speculative-config", '{"a": 1}'),
        env=(("X", "a b"),),
    )
    line = to_shell(r)
    words = shlex.split(line)
    assert words[0] == "X=a b"
    assert words[1:] == to_argv(r)


def test_api_key_is_never_rendered() -> None:
    r = Recipe(model="m", api_key_env="MY_KEY")
    assert "MY_KEY" not in to_shell(r)
    assert "--api-key" not in to_argv(r)
