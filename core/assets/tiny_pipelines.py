"""Fetch step `tiny_pipelines`: tiny random-weight diffusers pipelines for offline use and tests.

They have the real layouts (SD 1.5, SDXL with two text encoders, InstructPix2Pix with an
8-channel UNet) and the real CLIP vocabulary, but channels of 32/64 and seeded random
weights, so they render noise-like images in a fraction of a second. They are saved with
`save_pretrained` under `DIFFCHAT_HOME/models/tiny-*` and loaded back through exactly the
same `from_pretrained` code as real checkpoints (`core/pipelines.py`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from core.assets import build_folder
from core.paths import models_dir

NAMES = ("tiny-sd", "tiny-sdxl", "tiny-ip2p")
SEED = 0
# UNet sample_size 32 with a 2-level VAE (scale factor 2) gives 64x64 default images.
SAMPLE_SIZE = 32


def _text_encoder_config(with_projection: bool = False):
    from transformers import CLIPTextConfig

    from core.assets.clip_vocab import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE

    return CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=CLIP_MAX_LENGTH,
        projection_dim=32 if with_projection else 512,
        # The real CLIP ids (see clip_vocab): pooled output is read at the eos position.
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        hidden_act="gelu",
    )


def _vae():
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(SEED)
    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=32,
        sample_size=SAMPLE_SIZE * 2,
    )


def _sd15_unet(in_channels: int = 4):
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(SEED)
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=SAMPLE_SIZE,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )


def _sd15_parts(in_channels: int = 4) -> dict:
    import torch
    from transformers import CLIPTextModel

    from core.assets.clip_vocab import load_clip_tokenizer

    torch.manual_seed(SEED)
    text_encoder = CLIPTextModel(_text_encoder_config())
    return {
        "unet": _sd15_unet(in_channels),
        "vae": _vae(),
        "text_encoder": text_encoder,
        "tokenizer": load_clip_tokenizer(),
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }


def build_tiny_sd():
    """Return a tiny StableDiffusionPipeline (SD 1.5 layout, DDIM scheduler)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    # Same schedule constants as SD 1.5's scheduler_config.json.
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionPipeline(scheduler=scheduler, **_sd15_parts())


def build_tiny_ip2p():
    """Return a tiny StableDiffusionInstructPix2PixPipeline (UNet in_channels=8)."""
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline

    # timbrooks/instruct-pix2pix ships an Euler-ancestral scheduler; its noise is seeded per request.
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    # Latents (4) + encoded input image (4) are concatenated channel-wise (InstructPix2Pix sec. 3.4).
    return StableDiffusionInstructPix2PixPipeline(scheduler=scheduler, **_sd15_parts(in_channels=8))


def build_tiny_sdxl():
    """Return a tiny StableDiffusionXLPipeline with two text encoders (the second projected)."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from core.assets.clip_vocab import load_clip_tokenizer

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=SAMPLE_SIZE,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        # pooled text embeds (32) + 6 size/crop conditioning values x 8 = 80
        projection_class_embeddings_input_dim=80,
        # both encoders' hidden states concatenated: 32 + 32
        cross_attention_dim=64,
        norm_num_groups=32,
    )
    torch.manual_seed(SEED)
    text_encoder = CLIPTextModel(_text_encoder_config())
    torch.manual_seed(SEED + 1)
    text_encoder_2 = CLIPTextModelWithProjection(_text_encoder_config(with_projection=True))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    return StableDiffusionXLPipeline(
        vae=_vae(),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=load_clip_tokenizer(),
        tokenizer_2=load_clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
    )


BUILDERS = {"tiny-sd": build_tiny_sd, "tiny-sdxl": build_tiny_sdxl, "tiny-ip2p": build_tiny_ip2p}


def pipeline_folder(name: str) -> Path:
    """Return the folder a tiny pipeline is saved in (it may not exist yet)."""
    return models_dir() / name


def is_ready() -> bool:
    """Return True when all tiny pipelines are saved."""
    return all((pipeline_folder(name) / "model_index.json").is_file() for name in NAMES)


def fetch(force: bool = False) -> str:
    """Build and save the tiny pipelines that are missing (all of them with `force`)."""
    built = []
    for name in NAMES:
        target = pipeline_folder(name)
        if (target / "model_index.json").is_file() and not force:
            continue
        pipeline = BUILDERS[name]()
        build_folder(target, partial(pipeline.save_pretrained, safe_serialization=True))
        built.append(name)
    if not built:
        return f"already built in {models_dir()}"
    return f"built {', '.join(built)} in {models_dir()}"
