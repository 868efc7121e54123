"""Seconds per image of the few-step models' full-size architectures on this machine (CPU).

Random weights (no hub here): the time of a denoising step does not depend on the weights.
Each model's UNet is built from its real config, run for `--timed-steps` steps at its native
size (batch 2 when its recommended guidance uses classifier-free guidance, else 1), and the
per-step time is extrapolated to the model's recommended step count; the VAE decode is timed
once per size and added. Text encoding (well under a second) is left out. LoRA models
(LCM-LoRA, SDXL-Lightning) are fused into their base, so they cost the base UNet's step.

    nice -n 15 .venv/bin/python bench/few_step_cpu.py [--timed-steps 1] [--out bench/results/few_step_cpu.md]

This is an extrapolation from 1-2 timed steps per model, on a shared 2-core CPU: read the
numbers as "about", and the ratios as the useful part.
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from pathlib import Path

SD15_UNET = {"cross_attention_dim": 768}  # the rest of the defaults are SD 1.x's UNet
SD21_UNET = {
    "attention_head_dim": (5, 10, 20, 20),
    "cross_attention_dim": 1024,
    "use_linear_projection": True,
}
SDXL_UNET = {
    "sample_size": 128,
    "block_out_channels": (320, 640, 1280),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10),
    "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
}
# (registry name, UNet config, latent side, text dim, steps, classifier-free guidance)
MODELS = (
    ("sd15 (25 steps, CFG)", SD15_UNET, 64, 768, 25, True),
    ("sd-turbo", SD21_UNET, 64, 1024, 1, False),
    ("lcm-sd15", SD15_UNET, 64, 768, 4, False),
    ("lcm-sdxl", SDXL_UNET, 128, 2048, 4, False),
    ("sdxl-lightning", SDXL_UNET, 128, 2048, 4, False),
)


def time_unet(config: dict, latent: int, text_dim: int, batch: int, steps: int) -> float:
    """Return seconds per UNet call (the mean of `steps` calls after one warm-up)."""
    import torch
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(**config).eval()
    sample = torch.randn(batch, 4, latent, latent)
    context = torch.randn(batch, 77, text_dim)
    extra = {}
    if config.get("addition_embed_type") == "text_time":
        extra["added_cond_kwargs"] = {
            "text_embeds": torch.randn(batch, 1280),
            "time_ids": torch.randn(batch, 6),
        }
    with torch.inference_mode():
        unet(sample, 999, context, **extra)  # warm-up: allocator, kernels
        start = time.perf_counter()
        for _ in range(steps):
            unet(sample, 500, context, **extra)
        elapsed = (time.perf_counter() - start) / steps
    del unet
    gc.collect()
    return elapsed


def build_sd_vae():
    """Return SD's full-size AutoencoderKL (the SD 1.x / 2.x / SDXL architecture), random weights."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
    ).eval()


def time_vae_decode(latent: int) -> float:
    """Return seconds for one VAE decode (SD's AutoencoderKL) of a `latent`-sided latent."""
    import torch

    vae = build_sd_vae()
    with torch.inference_mode():
        start = time.perf_counter()
        vae.decode(torch.randn(1, 4, latent, latent))
        elapsed = time.perf_counter() - start
    del vae
    gc.collect()
    return elapsed


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timed-steps", type=int, default=1)
    parser.add_argument("--out", default="bench/results/few_step_cpu.md")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows, unet_cache, vae_cache = [], {}, {}
    for name, config, latent, text_dim, steps, cfg in MODELS:
        batch = 2 if cfg else 1
        key = (id(config), batch)
        if key not in unet_cache:
            unet_cache[key] = time_unet(config, latent, text_dim, batch, args.timed_steps)
            print(f"{name}: UNet step (batch {batch}) {unet_cache[key]:.1f} s", flush=True)
        if latent not in vae_cache:
            vae_cache[latent] = time_vae_decode(latent)
            print(f"VAE decode {latent * 8}px: {vae_cache[latent]:.1f} s", flush=True)
        total = steps * unet_cache[key] + vae_cache[latent]
        rows.append((name, latent * 8, steps, batch, unet_cache[key], vae_cache[latent], total))
    baseline = rows[0][-1]
    lines = [
        "# Few-step models on this CPU: seconds per image (full-size architectures, random weights)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, fp32. Per-step time from {args.timed_steps} timed UNet call(s) "
        "after a warm-up, extrapolated to the recommended steps, plus one VAE decode; text "
        "encoding left out. Made by `bench/few_step_cpu.py`; a shared CPU, so read as 'about'.",
        "",
        "| model | size | steps | UNet batch | s / step | VAE decode s | s / image | vs SD 1.5 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, side, steps, batch, step_s, vae_s, total in rows:
        lines.append(
            f"| {name} | {side}x{side} | {steps} | {batch} | {step_s:.1f} | {vae_s:.1f} | {total:.0f} | {baseline / total:.1f}x |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
