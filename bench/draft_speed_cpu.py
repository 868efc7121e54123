"""Seconds per image on this CPU: the Create tab's quality speed vs its draft speed (SD 1.5).

A whole SD 1.5 pipeline at full size (UNet, VAE, CLIP ViT-L/14 text encoder and the safety
checker the SD 1.5 repo ships), built from its configs with random weights: the time of a
call does not depend on the weight values, and no weights can be downloaded here. Every
number comes from real `pipeline(...)` calls (text encoding, denoising, VAE decode and
safety check), at the registry's settings:

- quality: `sd15` (PNDM, its registry steps and guidance: CFG runs the UNet on a batch of 2);
- draft: `lcm-sd15` (the LCM-LoRA fused into SD 1.5, so the same UNet at the same cost per
  call; LCMScheduler, its registry steps, guidance 1 so diffusers skips CFG).

The draft image is timed whole. The quality image is too slow to time whole on a shared
2-core CPU, so it is one real call of `--quality-timed-steps` steps at the quality guidance:
a step end callback gives the seconds per denoising step (the median of the steps after the
first), the rest of the call is the fixed part (text encoding, VAE decode, safety check), and
the image at the registry's step count is fixed part + steps x seconds per step. Draft and
quality calls alternate so a change in machine load hits both alike; the ratio within one
run is the number to read. What this cannot show: the pictures real LCM-LoRA weights give
in 4 steps (random weights render noise either way).

    nice -n 15 .venv/bin/python bench/draft_speed_cpu.py [--sizes 256 512] [--images 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The offline set (for its real CLIP tokenizer files) is built under DIFFCHAT_HOME.
os.environ.setdefault("DIFFCHAT_HOME", str(Path.home() / ".cache" / "diffchat"))

from bench.__main__ import machine_description, write_result  # noqa: E402
from bench.few_step_cpu import SD15_UNET, build_sd_vae  # noqa: E402

PROMPT = "a watercolor painting of a lighthouse on a cliff at sunset"


def build_sd15_pipeline():
    """Return a StableDiffusionPipeline with SD 1.5's full-size parts and random weights."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
    )

    from core.assets import fetch_all
    from core.assets.local_hub import _pndm
    from core.assets.tiny_pipelines import pipeline_folder

    fetch_all(steps=("tiny_pipelines",))
    torch.manual_seed(0)
    # openai/clip-vit-large-patch14's text tower, as SD 1.5's text_encoder/config.json has it.
    text_config = CLIPTextConfig(
        hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, vocab_size=49408, hidden_act="quick_gelu", projection_dim=768,
    )  # fmt: skip
    vision_config = {
        "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
        "num_attention_heads": 16, "image_size": 224, "patch_size": 14, "hidden_act": "quick_gelu",
    }  # fmt: skip
    safety_config = CLIPConfig(
        text_config=text_config.to_dict(), vision_config=vision_config, projection_dim=768
    )
    return StableDiffusionPipeline(
        vae=build_sd_vae(),
        text_encoder=CLIPTextModel(text_config).eval(),
        tokenizer=CLIPTokenizer.from_pretrained(pipeline_folder("tiny-sd") / "tokenizer"),
        unet=UNet2DConditionModel(sample_size=64, **SD15_UNET).eval(),
        scheduler=_pndm(),  # SD 1.5's scheduler_config.json
        safety_checker=StableDiffusionSafetyChecker(safety_config).eval(),
        feature_extractor=CLIPImageProcessor(size={"shortest_edge": 224}, crop_size=224),
        requires_safety_checker=True,
    )


def speed_settings() -> dict:
    """Return {speed: (model, scheduler class name, steps, guidance)} from the registry."""
    from core.registry import MODELS, draft_model_for, generation_defaults

    settings = {}
    for speed, model in (("quality", "sd15"), ("draft", draft_model_for("sd15"))):
        defaults = generation_defaults(model)
        scheduler = MODELS[model].scheduler or "PNDMScheduler"
        settings[speed] = (
            model, scheduler, defaults["num_inference_steps"], defaults["guidance_scale"]
        )  # fmt: skip
    return settings


def time_call(pipeline, scheduler, side: int, steps: int, guidance: float) -> tuple:
    """Return (seconds of one `pipeline(...)` call, seconds of each denoising step after the
    first) with `scheduler` at `side` x `side`."""
    import torch

    pipeline.scheduler = scheduler
    step_ends = []

    def on_step_end(pipe, step, timestep, callback_kwargs):
        step_ends.append(time.perf_counter())
        return callback_kwargs

    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    with torch.inference_mode():
        pipeline(
            PROMPT, height=side, width=side, num_inference_steps=steps,
            guidance_scale=guidance, generator=generator, callback_on_step_end=on_step_end,
        )  # fmt: skip
    total = time.perf_counter() - start
    return total, [b - a for a, b in zip(step_ends, step_ends[1:], strict=False)]


def main() -> None:
    import diffusers
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--images", type=int, default=1, help="draft/quality pairs per size")
    parser.add_argument("--quality-timed-steps", type=int, default=3)
    parser.add_argument("--out", default="draft_speed_cpu", help="bench/results/<name>.md")
    args = parser.parse_args()

    pipeline = build_sd15_pipeline()
    pipeline.set_progress_bar_config(disable=True)
    settings = speed_settings()
    schedulers = {
        speed: getattr(diffusers, scheduler).from_config(pipeline.scheduler.config)
        for speed, (_, scheduler, _, _) in settings.items()
    }
    # Warm-up: the first call pays for allocations and lazy imports.
    time_call(pipeline, schedulers["draft"], min(args.sizes), 1, 1.0)
    rows = []
    for side in args.sizes:
        measured = {"draft": [], "quality": []}
        for _ in range(args.images):
            _, _, steps, guidance = settings["draft"]
            total, step_times = time_call(pipeline, schedulers["draft"], side, steps, guidance)
            measured["draft"].append((total, statistics.median(step_times), total, steps))
            _, _, steps, guidance = settings["quality"]
            timed = args.quality_timed_steps
            total, step_times = time_call(pipeline, schedulers["quality"], side, timed, guidance)
            per_step = statistics.median(step_times)
            fixed = total - timed * per_step
            measured["quality"].append((fixed + steps * per_step, per_step, total, timed))
            for speed in ("draft", "quality"):
                image, step, call, calls_steps = measured[speed][-1]
                print(f"{side}px {speed}: {image:.1f} s / image ({step:.2f} s / step; "
                      f"call of {calls_steps} steps {call:.1f} s)", flush=True)  # fmt: skip
        quality = statistics.median(m[0] for m in measured["quality"])
        for speed in ("quality", "draft"):
            model, scheduler, steps, guidance = settings[speed]
            image = statistics.median(m[0] for m in measured[speed])
            step = statistics.median(m[1] for m in measured[speed])
            how = "measured" if speed == "draft" else f"{args.quality_timed_steps} steps timed"
            rows.append(
                f"| {speed} | `{model}` | {scheduler} | {steps} | {guidance:g} | "
                f"{2 if guidance > 1 else 1} | {side}x{side} | {step:.2f} | {image:.1f} ({how}) "
                f"| {quality / image:.1f}x |"
            )
    markdown = f"""## draft_speed_cpu: Create tab quality vs draft, seconds per image (SD 1.5, CPU)

Machine: {machine_description()}; {torch.get_num_threads()} torch threads, fp32, shared with
other jobs (run under `nice -n 15` while other work ran), so read the seconds as "about" and
the ratio as the result.

Full-size SD 1.5 parts built from their configs with random weights (UNet 860M, VAE,
CLIP ViT-L/14 text encoder, the safety checker), real `pipeline(...)` calls: text encoding,
denoising, VAE decode and safety check. Settings are the registry's
(`core.registry.generation_defaults`). The draft model is the LCM-LoRA fused into SD 1.5, so
its UNet costs what SD 1.5's does per call, and guidance 1 skips CFG (batch 1). The draft
image is timed whole; the quality image is one call of {args.quality_timed_steps} steps at
guidance 7.5, extrapolated to its {settings["quality"][2]} steps (fixed part of the call + steps x
median seconds per step). {args.images} draft/quality pair(s) per size, alternating, after one
warm-up call. `bench/draft_speed_cpu.py`.

| speed | model | scheduler | steps | guidance | UNet batch | size | s / step | s / image | quality / this |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Not measured (no hub here): whether real LCM-LoRA weights give usable pictures in
these 4 steps; random weights render noise at both speeds. The LCM-LoRA model card and
diffusers' docs use 4-8 steps at guidance 1-2.
"""
    path = write_result(args.out, markdown)
    print(markdown)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
