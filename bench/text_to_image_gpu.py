"""Seconds per image on a GPU: diffusers defaults vs DiffChat's settings, full-size SD 1.5 and SDXL.

No download: the real architectures (UNet, VAE, CLIP text encoders) are built from their
configs, written out below, with random weights; speed does not depend on the weight values.
Rows: fp32 (what `from_pretrained` gives without a dtype), fp16 with the classic attention
processor, fp16 + SDPA (our default), fp16 + SDPA + channels_last, bf16 + SDPA; then
`core.images.generate` against the bare pipeline call on the same fp16 pipeline, with and
without model CPU offload, and one long (>77 token) prompt through the compel path.

Run on a GPU machine: `python bench/text_to_image_gpu.py --tokenizer DIR --out FILE.md`
(DIR: a saved CLIPTokenizer, e.g. DIFFCHAT_HOME/models/clip-tokenizer). Copy FILE.md to
bench/results/text_to_image_gpu.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPT = "a watercolor painting of a lighthouse on a cliff at sunset, dramatic sky"


def clip_text_config(hidden, layers, heads, intermediate, act, projection_dim):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=projection_dim,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )


def vae(sample_size, scaling_factor, force_upcast):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=sample_size,
        scaling_factor=scaling_factor,
        force_upcast=force_upcast,
    )


def build_sd15(tokenizer, device="cuda"):
    """SD 1.5: stable-diffusion-v1-5 unet/vae/text_encoder config.json, PNDM as shipped."""
    # Models are initialised on the GPU directly (seconds instead of a minute on the CPU);
    # schedulers stay outside: they keep their tables on the CPU.
    with torch.device(device):
        return _sd15_models(tokenizer)


def _sd15_models(tokenizer):
    from diffusers import PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel(
        sample_size=64,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    text_encoder = CLIPTextModel(clip_text_config(768, 12, 12, 3072, "quick_gelu", 768))
    with torch.device("cpu"):
        scheduler = PNDMScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            skip_prk_steps=True,
            set_alpha_to_one=False,
            steps_offset=1,
        )
    return StableDiffusionPipeline(
        vae=vae(512, 0.18215, False),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_sdxl(tokenizer, device="cuda"):
    """SDXL base 1.0: its unet/vae/text_encoder(_2) config.json, Euler as shipped."""
    with torch.device(device):
        return _sdxl_models(tokenizer)


def _sdxl_models(tokenizer):
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    unet = UNet2DConditionModel(
        sample_size=128,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10),
        attention_head_dim=(5, 10, 20),
        cross_attention_dim=2048,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    )
    text_encoder = CLIPTextModel(clip_text_config(768, 12, 12, 3072, "quick_gelu", 768))
    text_encoder_2 = CLIPTextModelWithProjection(clip_text_config(1280, 32, 20, 5120, "gelu", 1280))
    with torch.device("cpu"):
        scheduler = EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            timestep_spacing="leading",
        )
    return StableDiffusionXLPipeline(
        vae=vae(1024, 0.13025, True),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )


def seconds_per_image(call, repeats) -> float:
    call()  # warm-up: cuDNN/cuBLAS algorithm choice, allocator growth
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def settings_rows(pipeline, size, steps, repeats) -> list[tuple[str, float]]:
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    def call():
        generator = torch.Generator("cpu").manual_seed(0)
        pipeline(PROMPT, num_inference_steps=steps, width=size, height=size, generator=generator)

    def set_attention(processor_class):
        for module in (pipeline.unet, pipeline.vae):
            module.set_attn_processor(processor_class())

    rows = [("fp32, SDPA (diffusers default dtype)", seconds_per_image(call, max(2, repeats - 1)))]
    pipeline.to(torch.float16)
    set_attention(AttnProcessor)
    rows.append(("fp16, classic attention (no SDPA)", seconds_per_image(call, repeats)))
    set_attention(AttnProcessor2_0)
    rows.append(("fp16 + SDPA (DiffChat default)", seconds_per_image(call, repeats)))
    for module in (pipeline.unet, pipeline.vae):
        module.to(memory_format=torch.channels_last)
    rows.append(("fp16 + SDPA + channels_last", seconds_per_image(call, repeats)))
    for module in (pipeline.unet, pipeline.vae):
        module.to(memory_format=torch.contiguous_format)
    pipeline.to(torch.bfloat16)
    rows.append(("bf16 + SDPA", seconds_per_image(call, repeats)))
    return rows


def core_rows(sd15_folder: Path, repeats: int) -> list[tuple[str, float]]:
    """`core.images.generate` vs the bare call on the same pipeline (interleaved pairs)."""
    from core import pipelines
    from core.images import GenerationRequest, generate

    request = GenerationRequest(PROMPT, model=str(sd15_folder), num_inference_steps=25)
    pipeline = pipelines.load_pipeline(request.model)

    def bare():
        generator = torch.Generator("cpu").manual_seed(0)
        pipeline(PROMPT, num_inference_steps=25, guidance_scale=7.5, generator=generator)

    def core():
        generate(request)

    bare(), core()
    times = {"bare": [], "core": []}
    for _ in range(repeats):
        for name, call in (("bare", bare), ("core", core)):
            torch.cuda.synchronize()
            start = time.perf_counter()
            call()
            torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    rows = [
        ("bare fp16 pipeline call (loaded by core.pipelines)", statistics.median(times["bare"])),
        ("core.images.generate, same pipeline", statistics.median(times["core"])),
    ]
    long_prompt = " ".join([PROMPT] * 5)
    long_request = GenerationRequest(long_prompt, model=request.model, num_inference_steps=25)
    rows.append(
        (
            "core.images.generate, 5x longer prompt (compel chunks)",
            seconds_per_image(lambda: generate(long_request), 2),
        )
    )
    pipelines.switch_to_cpu_offload()
    rows.append(("core.images.generate with model CPU offload", seconds_per_image(core, 2)))
    pipelines.unload()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True, help="folder of a saved CLIPTokenizer")
    parser.add_argument("--out", required=True, help="Markdown file to write")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(args.tokenizer)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 row = plain fp32, as loaded by default

    sections = []
    sd15 = build_sd15(tokenizer)
    sd15.set_progress_bar_config(disable=True)
    sd15_rows = settings_rows(sd15, 512, 25, args.repeats)
    folder = Path(tempfile.mkdtemp()) / "sd15-random"
    sd15.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    del sd15
    torch.cuda.empty_cache()
    sections.append(("SD 1.5, 512x512, 25 steps (PNDM), batch 1", sd15_rows))
    sections.append(
        (
            "SD 1.5 through DiffChat's core (fp16, 512x512, 25 steps)",
            core_rows(folder, args.repeats),
        )
    )

    sdxl = build_sdxl(tokenizer)
    sdxl.set_progress_bar_config(disable=True)
    sections.append(
        (
            "SDXL base, 1024x1024, 30 steps (Euler), batch 1",
            settings_rows(sdxl, 1024, 30, args.repeats),
        )
    )

    lines = [
        "## text_to_image_gpu: seconds per image on a GPU",
        "",
        f"Device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
        f"diffusers {__import__('diffusers').__version__}. Full-size architectures with random "
        "weights (no download); each number is the median of "
        f"{args.repeats} runs after a warm-up (fp32 rows: {max(2, args.repeats - 1)}), "
        "prompt to PIL image, classifier-free guidance 7.5.",
    ]
    for title, rows in sections:
        lines += ["", f"### {title}", "", "| setting | s / image |", "| --- | --- |"]
        lines += [f"| {name} | {seconds:.3f} |" for name, seconds in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
