"""Every registry model and scorer loads by its real hub id from a hub with the real layouts.

The local hub (core/assets/local_hub.py) is served two ways: as a Hugging Face cache read
with HF_HUB_OFFLINE=1, and over HTTP (HF_ENDPOINT) into an empty cache. The loads run in a
child process (tests/hub_sweep.py) because the HF libraries read those variables at import.
The default suite checks one model per loading path; the full sweep is slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.assets import local_hub

REPO_ROOT = Path(__file__).resolve().parent.parent
# Default suite: diffusers folders + fp16 files (sd15), single file (deliberate), LoRA on a
# base (lcm-sd15), a few-step model with its own scheduler (sd-turbo).
DEFAULT_REPOS = (
    "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "XpucT/Deliberate",
    "latent-consistency/lcm-lora-sdv1-5",
    "stabilityai/sd-turbo",
)
ALL_MODELS = (
    "sd15", "deliberate", "dreamlike-photoreal", "realistic-vision", "sdxl", "sd-turbo",
    "lcm-sd15", "lcm-sdxl", "sdxl-lightning", "instruct-pix2pix", "blip",
)  # fmt: skip
ALL_SCORERS = ("pickscore", "clip_score", "directional_clip", "aesthetic", "hps")


@pytest.fixture(scope="module")
def hub_root():
    return local_hub.build_local_hub(repo_ids=DEFAULT_REPOS)


@pytest.fixture(scope="module")
def full_hub_root():
    return local_hub.build_local_hub()


def sweep(env: dict, models=(), scorers=()) -> dict[str, dict]:
    """Run tests/hub_sweep.py with `env` added; return its lines by name."""
    command = [sys.executable, str(REPO_ROOT / "tests" / "hub_sweep.py")]
    command += ["--models", *models, "--scorers", *scorers]
    full_env = dict(os.environ, DIFFCHAT_DEVICE="cpu", HF_HUB_DISABLE_XET="1", **env)
    result = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=1200)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stderr[-3000:]
    return {line["name"]: line for line in lines}


def offline_env(tmp_path: Path, root: Path) -> dict:
    local_hub.write_hf_cache(tmp_path / "hf", root)
    return {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def assert_all_ok(results: dict, names) -> None:
    failed = {
        n: results.get(n, {}).get("error", "no output")
        for n in names
        if not results.get(n, {}).get("ok")
    }
    assert not failed, json.dumps(failed, indent=1)[:4000]


def test_ldm_layout_round_trips_through_diffusers_converters():
    import torch
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )

    from core.assets.ldm_layout import pipeline_to_ldm
    from core.assets.tiny_pipelines import build_tiny_sd

    pipeline = build_tiny_sd()
    checkpoint = pipeline_to_ldm(pipeline)
    assert "model.diffusion_model.input_blocks.4.1.proj_in.weight" in checkpoint
    assert "first_stage_model.encoder.mid.attn_1.q.weight" in checkpoint
    assert (
        "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight" in checkpoint
    )
    back = {
        "unet": convert_ldm_unet_checkpoint(checkpoint, dict(pipeline.unet.config)),
        "vae": convert_ldm_vae_checkpoint(checkpoint, dict(pipeline.vae.config)),
        "text_encoder": {
            k.removeprefix("text_model."): v
            for k, v in convert_ldm_clip_checkpoint(checkpoint).items()
        },
    }
    for name, converted in back.items():
        original = getattr(pipeline, name).state_dict()
        assert set(converted) == set(original), name
        for key, value in original.items():
            assert torch.equal(converted[key].reshape(value.shape), value), key


def test_sd15_repo_has_the_real_layout(hub_root):
    files = set(local_hub.repo_files(hub_root, "stable-diffusion-v1-5/stable-diffusion-v1-5"))
    for expected in (
        "model_index.json", "feature_extractor/preprocessor_config.json",
        "safety_checker/config.json", "safety_checker/model.safetensors",
        "safety_checker/model.fp16.safetensors", "safety_checker/pytorch_model.bin",
        "scheduler/scheduler_config.json", "text_encoder/model.fp16.safetensors",
        "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
        "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.fp16.safetensors",
        "v1-5-pruned-emaonly.safetensors", "v1-inference.yaml",
    ):  # fmt: skip
        assert expected in files, expected
    index = json.loads((hub_root / DEFAULT_REPOS[0] / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == ["stable_diffusion", "StableDiffusionSafetyChecker"]
    assert index["feature_extractor"] == ["transformers", "CLIPImageProcessor"]
    assert index["scheduler"] == ["diffusers", "PNDMScheduler"]
    assert local_hub.repo_files(hub_root, "XpucT/Deliberate") == [
        "Deliberate_v2.safetensors",
        "README.md",
    ]


def test_kohya_lora_state_renames_keys_as_the_lcm_lora_script_does():
    import torch

    down, up = torch.ones(4, 8), torch.zeros(8, 4)
    state = local_hub.kohya_lora_state(
        {"down_blocks.0.attentions.0.proj_in.lora_A.weight": down,
         "down_blocks.0.attentions.0.proj_in.lora_B.weight": up}, alpha=4
    )  # fmt: skip
    assert sorted(state) == [
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha",
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight",
    ]
    assert state["lora_unet_down_blocks_0_attentions_0_proj_in.alpha"].item() == 4.0
    assert torch.equal(state["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"], down)


def test_lcm_lora_file_has_the_real_key_layout(hub_root):
    from safetensors import safe_open

    path = hub_root / "latent-consistency/lcm-lora-sdv1-5/pytorch_lora_weights.safetensors"
    with safe_open(str(path), "pt") as checkpoint:
        keys = set(checkpoint.keys())
    assert all(key.startswith("lora_unet_") for key in keys)
    assert "lora_unet_up_blocks_0_attentions_0_proj_in.lora_up.weight" in keys
    assert any(key.endswith("resnets_0_conv1.lora_down.weight") for key in keys)


def test_cache_layout_matches_huggingface_hub(hub_root, tmp_path):
    cache = local_hub.write_hf_cache(tmp_path / "hf", hub_root, repo_ids=["XpucT/Deliberate"])
    repo = cache / "models--XpucT--Deliberate"
    commit = (repo / "refs" / "main").read_text()
    link = repo / "snapshots" / commit / "Deliberate_v2.safetensors"
    assert link.is_symlink() and link.resolve().parent == (repo / "blobs").resolve()
    assert link.resolve().name == local_hub.etag_of(
        hub_root / "XpucT/Deliberate/Deliberate_v2.safetensors"
    )


def test_representatives_load_from_the_cache_offline(hub_root, tmp_path):
    results = sweep(offline_env(tmp_path, hub_root), models=("sd15", "deliberate", "sd-turbo"))
    assert_all_ok(results, ("sd15", "deliberate", "sd-turbo"))
    assert results["sd15"]["safety_checker"] == "StableDiffusionSafetyChecker"
    assert results["sd15"]["scheduler"] == "PNDMScheduler"
    assert results["sd-turbo"]["scheduler"] == "EulerDiscreteScheduler"
    assert all(
        results[n]["size"] == [64, 64] and results[n]["distinct_colours"] > 100 for n in results
    )


def test_representatives_download_from_the_server(hub_root, tmp_path):
    with local_hub.LocalHubServer(hub_root) as hub:
        env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0",
               "TRANSFORMERS_OFFLINE": "0"}  # fmt: skip
        results = sweep(env, models=("lcm-sd15", "deliberate"))
        downloaded = hub.downloaded()
    assert_all_ok(results, ("lcm-sd15", "deliberate"))
    assert results["lcm-sd15"]["scheduler"] == "LCMScheduler"
    # The kohya-layout LCM-LoRA reaches attention, feed-forward and resnet convolutions alike.
    changed = results["lcm-sd15"]["lora_changed"]
    for part in ("attn1.to_q", "ff.net.2", "resnets.0.conv1", "proj_in", "time_emb_proj"):
        assert any(part in module for module in changed), part
    assert (
        "/latent-consistency/lcm-lora-sdv1-5/resolve/main/pytorch_lora_weights.safetensors"
        in downloaded
    )
    # Never the pickled twins nor the 4 GB single-file copy beside the diffusers folders.
    assert not [path for path in downloaded if path.endswith(".bin")]
    assert not [path for path in downloaded if "v1-5-pruned" in path]


@pytest.mark.slow
def test_every_registry_model_and_scorer_loads_from_the_cache(full_hub_root, tmp_path):
    results = sweep(offline_env(tmp_path, full_hub_root), ALL_MODELS, ALL_SCORERS)
    assert_all_ok(results, ALL_MODELS + ALL_SCORERS)
    assert results["instruct-pix2pix"]["unet_in_channels"] == 8
    assert results["sdxl-lightning"]["scheduler"] == "EulerDiscreteScheduler"
    assert results["lcm-sdxl"]["pipeline"] == "StableDiffusionXLPipeline"
    assert results["lcm-sdxl"]["lora_changed"] and results["sdxl-lightning"]["lora_changed"]


@pytest.mark.slow
def test_every_registry_model_and_scorer_downloads_from_the_server(full_hub_root, tmp_path):
    with local_hub.LocalHubServer(full_hub_root) as hub:
        env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0",
               "TRANSFORMERS_OFFLINE": "0"}  # fmt: skip
        results = sweep(env, ALL_MODELS, ALL_SCORERS)
        downloaded = hub.downloaded()
    assert_all_ok(results, ALL_MODELS + ALL_SCORERS)
    pickled = [p for p in downloaded if p.endswith((".bin", ".ckpt"))]
    assert not pickled, pickled
