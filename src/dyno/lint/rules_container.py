"""Rules about how the engine is packaged and run: docker flags, image tags, versions, caches, neighbours."""

from __future__ import annotations

import re

from dyno.lint.types import Finding, LintContext, rule

# a tag that names a release: v0.11.0, 0.11.0, v0.11.0-cu130 ... (or a pinned digest)
_VERSION_TAG = re.compile(r"v?\d+\.\d+(\.\d+)?([.-][A-Za-z0-9.]+)*\Z")
_DEV_VERSION = re.compile(r"(dev|nightly|rc\d*|\+g[0-9a-f]+)", re.IGNORECASE)
# tags seen to crash on FP4 GEMM on sm_120/121 (shared/DOMAIN.md trap 6)
KNOWN_BAD_FP4_TAGS = {("vllm/vllm-openai", "gemma4")}


def _split_image(image: str) -> tuple[str, str | None, bool]:
    """(repository, tag, pinned by digest)."""
    if "@sha256:" in image:
        return image.split("@", 1)[0], None, True
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag, False
    return image, None, False


def _image(ctx: LintContext) -> str | None:
    return ctx.docker.image if ctx.docker is not None else ctx.recipe.image


@rule("docker-runtime-nvidia", "trap 9: --runtime nvidia fails where only the container toolkit is installed")
def docker_runtime_nvidia(ctx: LintContext) -> list[Finding]:
    d = ctx.docker
    if d is None or d.runtime != "nvidia":
        return []
    return [
        Finding(
            "docker-runtime-nvidia",
            "warn" if d.gpus else "error",
            "`--runtime nvidia` needs the legacy nvidia runtime registered with docker; with only the "
            "NVIDIA container toolkit installed the container fails to start",
            "replace --runtime nvidia with --gpus all",
        )
    ]


@rule("docker-no-gpus", "a container without a GPU request sees no GPU")
def docker_no_gpus(ctx: LintContext) -> list[Finding]:
    d = ctx.docker
    if d is None or d.gpus or d.runtime == "nvidia" or (ctx.hardware is not None and not ctx.hardware.is_gpu):
        return []
    return [
        Finding(
            "docker-no-gpus",
            "error",
            "the container requests no GPU: vLLM finds no CUDA device and exits",
            "add --gpus all",
        )
    ]


@rule("docker-shared-memory", "PyTorch workers talk through /dev/shm; docker's default is 64 MB")
def docker_shared_memory(ctx: LintContext) -> list[Finding]:
    d = ctx.docker
    if d is None or d.ipc == "host" or d.shm_size:
        return []
    return [
        Finding(
            "docker-shared-memory",
            "warn",
            "neither --ipc host nor --shm-size is set: docker's 64 MB /dev/shm breaks vLLM's worker "
            "processes (bus errors, NCCL failures) under load",
            "add --ipc host (or --shm-size 16g)",
        )
    ]


@rule("image-tag-floating", "trap 6: tags are not versions; the same tag has shipped different vLLM builds")
def image_tag_floating(ctx: LintContext) -> list[Finding]:
    image = _image(ctx)
    if image is None:
        return []
    repo, tag, digest = _split_image(image)
    if digest or (tag is not None and _VERSION_TAG.match(tag)):
        return []
    shown = f"{repo}:{tag}" if tag else f"{repo} (no tag: latest)"
    return [
        Finding(
            "image-tag-floating",
            "warn",
            f"image {shown} does not name an engine version: the same tag has meant different vLLM "
            "builds (`:gemma4` and `:gemma4-cu130` were different versions), so results cannot be "
            "tied to an engine",
            "pin a release tag (e.g. vllm/vllm-openai:v0.32.0) or a digest (@sha256:...), and record "
            "the version vLLM logs at start-up",
        )
    ]


@rule("image-tag-known-bad", "trap 6: vllm/vllm-openai:gemma4 crashed on FP4 GEMM on sm_120/121")
def image_tag_known_bad(ctx: LintContext) -> list[Finding]:
    image = _image(ctx)
    hw = ctx.hardware
    if image is None or ctx.quant is None or ctx.quant.kind != "fp4" or (hw is not None and not hw.is_sm12x):
        return []
    repo, tag, _ = _split_image(image)
    if (repo, tag) not in KNOWN_BAD_FP4_TAGS:
        return []
    return [
        Finding(
            "image-tag-known-bad",
            "error",
            f"{repo}:{tag} crashed on FP4 GEMM on sm_120/121 in the field; the -cu130 build of that tag "
            "was a different vLLM version that worked",
            f"use a pinned release image with Marlin for FP4 (e.g. {repo}:v0.32.0), not :{tag}",
        )
    ]


@rule("engine-version", "trap 5: engine versions are load-bearing; results need the exact one")
def engine_version(ctx: LintContext) -> list[Finding]:
    v = ctx.engine_version
    if v is None:
        image = _image(ctx)
        pinned = image is not None and (
            _split_image(image)[2] or bool(_VERSION_TAG.match(_split_image(image)[1] or ""))
        )
        if pinned:
            return []
        return [
            Finding(
                "engine-version",
                "info",
                "the engine version is not known: a newer build can break a model that worked "
                "(a nightly broke NVFP4 Gemma at start-up with a tie_weights NotImplementedError)",
                "pass --engine-version, pin it per model, and record it with every result (dyno does)",
            )
        ]
    if _DEV_VERSION.search(v) and ctx.quant is not None and ctx.quant.kind == "fp4":
        return [
            Finding(
                "engine-version",
                "warn",
                f"engine {v} is a development build serving FP4 weights: a nightly broke NVFP4 Gemma at "
                "start-up (tie_weights NotImplementedError in the ModelOpt path) while a release worked",
                "pin a release version that was verified with this checkpoint",
            )
        ]
    return []


def _cache_persisted(ctx: LintContext) -> bool:
    d = ctx.docker
    if d is None:
        return True  # on the host vLLM keeps ~/.cache/vllm across restarts
    root = ctx.recipe.env_dict.get("VLLM_CACHE_ROOT", "/root/.cache/vllm")
    targets = [v.split(":")[1] if v.count(":") >= 1 else v for v in d.volumes]
    return any(root == t or root.startswith(t.rstrip("/") + "/") for t in targets)


@rule("compile-cache-not-persisted", "cold start with compile + graph capture takes ~5 minutes each time")
def compile_cache_not_persisted(ctx: LintContext) -> list[Finding]:
    if _cache_persisted(ctx) or ctx.has_flag("--enforce-eager"):
        return []
    return [
        Finding(
            "compile-cache-not-persisted",
            "warn",
            "vLLM's compile cache lives inside the container and dies with it: every start repeats "
            "torch.compile and CUDA-graph capture (~5 minutes on a Spark)",
            "mount a host folder and point VLLM_CACHE_ROOT at it: -v ~/.cache/vllm:/root/.cache/vllm "
            "-e VLLM_CACHE_ROOT=/root/.cache/vllm (the cache hits only while the flags stay identical)",
        )
    ]


@rule("other-gpu-runtime", "trap 10: another runtime on the GPU silently splits its model across CPU and GPU")
def other_gpu_runtime(ctx: LintContext) -> list[Finding]:
    if not ctx.other_runtimes:
        return []
    names = ", ".join(sorted(set(ctx.other_runtimes)))
    return [
        Finding(
            "other-gpu-runtime",
            "warn",
            f"{names} is running on this machine: after vLLM has held the GPU it can silently load "
            "its models split across CPU and GPU (same model, a fraction of the speed), and it "
            "competes for the memory vLLM reserves",
            f"stop {names} before starting vLLM, and restart it after vLLM exits",
        )
    ]
