"""Convert a GGUF file into an HF safetensors folder that vLLM on CPU can load.

Run as a child process (`python -m dyno.engine.models.convert ...`) so that
HF_HUB_OFFLINE is set before transformers is imported (it reads the variable at
import time) and the ~1 GB the conversion allocates goes back when it exits.
Prints one JSON line of facts about the result on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

# The Gemma tokenizer that transformers builds from GGUF metadata has a
# post-processor that adds nothing, although the GGUF says add_bos_token=true.
# Without <bos> Gemma degenerates ("France of France of ..."), so we put it back.
_BOS_POST_PROCESSOR = {
    "type": "TemplateProcessing",
    "single": [
        {"SpecialToken": {"id": "<bos>", "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}},
    ],
    "pair": [
        {"SpecialToken": {"id": "<bos>", "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}},
        {"SpecialToken": {"id": "<bos>", "type_id": 1}},
        {"Sequence": {"id": "B", "type_id": 1}},
    ],
}


def convert(gguf: Path, out: Path, *, bos_fix: bool, instruct: bool) -> dict[str, Any]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The loader dequantises to float32 and remembers it came from GGUF; saved
    # as is, vLLM would look for a GGUF quantizer. bf16 is what vLLM runs on
    # CPU anyway and halves the folder.
    model = model.to(dtype=torch.bfloat16)  # type: ignore[call-arg]  # transformers mis-types .to
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.config.dtype = "bfloat16"
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))

    tok_json = out / "tokenizer.json"
    cfg_json = out / "tokenizer_config.json"
    tok_cfg = json.loads(cfg_json.read_text())
    if bos_fix:
        data = json.loads(tok_json.read_text())
        bos = tok_cfg.get("bos_token", "<bos>")
        bos_id = tok.convert_tokens_to_ids(bos)
        post = json.loads(json.dumps(_BOS_POST_PROCESSOR).replace("<bos>", bos))
        post["special_tokens"] = {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}
        data["post_processor"] = post
        tok_json.write_text(json.dumps(data, ensure_ascii=False))
        tok_cfg["add_bos_token"] = True
    if not instruct:
        # A base model must stay a base model: later checks rely on it having
        # no chat template, exactly like a real base checkpoint.
        (out / "chat_template.jinja").unlink(missing_ok=True)
        tok_cfg.pop("chat_template", None)
    cfg_json.write_text(json.dumps(tok_cfg, indent=2, ensure_ascii=False))
    return inspect_folder(out)


def inspect_folder(folder: Path) -> dict[str, Any]:
    """Facts about a converted folder, read back the way vLLM will read it."""
    from transformers import AutoTokenizer

    config = json.loads((folder / "config.json").read_text())
    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok("hello world")["input_ids"]
    return {
        "architectures": config.get("architectures", []),
        "model_type": config.get("model_type"),
        "max_position_embeddings": config.get("max_position_embeddings"),
        "has_chat_template": bool(getattr(tok, "chat_template", None)),
        "bos_token_id": tok.bos_token_id,
        "starts_with_bos": bool(ids) and ids[0] == tok.bos_token_id,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--gguf", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--bos-fix", action="store_true")
    p.add_argument("--base", action="store_true", help="strip any chat template")
    a = p.parse_args(argv)
    facts = convert(a.gguf, a.out, bos_fix=a.bos_fix, instruct=not a.base)
    sys.stdout.write(json.dumps(facts) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
