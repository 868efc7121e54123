"""Fetch step `tiny_scorers`: tiny random-weight twins of the image scorers' models.

The scorers load these through exactly the same code as the real weights; only the ids and
paths differ (`core.scoring.build_scorer(name, tiny=True)`). Their numbers are meaningless;
they exist so the evaluation harness, best-of-N and the tests run offline in seconds.

Saved under `DIFFCHAT_HOME/models/tiny-scorers/`:
- `clip/`: a transformers CLIPModel (save_pretrained, safetensors) + CLIPProcessor with the
  real CLIP vocabulary (core.assets.clip_vocab) and 32-pixel crops — the PickScore, CLIP score
  and directional-similarity path.
- `open-clip/`: an open_clip model (open_clip_config.json + open_clip_model.safetensors,
  loaded as "local-dir:FOLDER") — the aesthetic score's CLIP.
- `aesthetic_mlp.safetensors`: the aesthetic MLP (same layers as LAION's) on that model's
  16-dim embeddings.
- `hps/` (config only) + `hps_checkpoint.safetensors`: the HPS v2 path, which builds the
  architecture without weights and then loads the checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.assets import build_folder
from core.paths import models_dir

SEED = 0
IMAGE_SIZE = 32
EMBED_DIM = 16
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def scorers_folder() -> Path:
    """Return the folder holding the tiny scorer twins (it may not exist yet)."""
    return models_dir() / "tiny-scorers"


def tiny_paths(root: Path | None = None) -> dict[str, Path]:
    """Return the path of each tiny twin part, by role."""
    root = root or scorers_folder()
    return {
        "clip": root / "clip",
        "open_clip": root / "open-clip",
        "aesthetic_mlp": root / "aesthetic_mlp.safetensors",
        "hps": root / "hps",
        "hps_checkpoint": root / "hps_checkpoint.safetensors",
    }


def _open_clip_config() -> dict:
    from core.assets.clip_vocab import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE

    return {
        "model_cfg": {
            "embed_dim": EMBED_DIM,
            "vision_cfg": {
                "image_size": IMAGE_SIZE,
                "layers": 2,
                "width": 32,
                "head_width": 16,
                "patch_size": 8,
            },
            "text_cfg": {
                "context_length": CLIP_MAX_LENGTH,
                "vocab_size": CLIP_VOCAB_SIZE,
                "width": 32,
                "heads": 2,
                "layers": 2,
            },
        },
        "preprocess_cfg": {"mean": list(OPENAI_MEAN), "std": list(OPENAI_STD)},
    }


def _build_hf_clip(folder: Path) -> None:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from core.assets.clip_vocab import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE, load_clip_tokenizer

    torch.manual_seed(SEED)
    config = CLIPConfig(
        text_config={
            "vocab_size": CLIP_VOCAB_SIZE,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": CLIP_MAX_LENGTH,
            # Real CLIP ids: the pooled text output is read at the eos position.
            "bos_token_id": 49406,
            "eos_token_id": 49407,
            "pad_token_id": 49407,
        },
        vision_config={
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
        projection_dim=EMBED_DIM,
    )
    CLIPModel(config).save_pretrained(folder, safe_serialization=True)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_mean=list(OPENAI_MEAN),
        image_std=list(OPENAI_STD),
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=load_clip_tokenizer()).save_pretrained(
        folder
    )


def _build_open_clip(paths: dict[str, Path]) -> None:
    import open_clip
    import torch
    from safetensors.torch import save_file

    from core.scoring.aesthetic import build_aesthetic_mlp

    config = _open_clip_config()
    for folder in (paths["open_clip"], paths["hps"]):
        folder.mkdir(parents=True)
        (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))

    def state_of(module) -> dict:
        # safetensors refuses shared or non-contiguous storage; clone every tensor.
        return {
            key: value.detach().clone().contiguous() for key, value in module.state_dict().items()
        }

    torch.manual_seed(SEED)
    aesthetic_clip = open_clip.CLIP(**config["model_cfg"])
    save_file(state_of(aesthetic_clip), str(paths["open_clip"] / "open_clip_model.safetensors"))
    torch.manual_seed(SEED + 1)
    save_file(state_of(build_aesthetic_mlp(EMBED_DIM)), str(paths["aesthetic_mlp"]))
    torch.manual_seed(SEED + 2)
    save_file(state_of(open_clip.CLIP(**config["model_cfg"])), str(paths["hps_checkpoint"]))


def is_ready() -> bool:
    """Return True when every tiny scorer part is saved."""
    paths = tiny_paths()
    return (paths["clip"] / "config.json").is_file() and all(
        path.exists() for path in paths.values()
    )


def fetch(force: bool = False) -> str:
    """Build and save the tiny scorer twins when missing (always with `force`); return a summary."""
    target = scorers_folder()
    if is_ready() and not force:
        return f"already built in {target}"

    def build(staging: Path) -> None:
        paths = tiny_paths(staging)
        _build_hf_clip(paths["clip"])
        _build_open_clip(paths)

    build_folder(target, build)
    return f"built tiny scorer twins in {target}"
