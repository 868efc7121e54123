"""Diffusers state dicts -> the original Stable Diffusion (LDM) single-file key layout.

Community checkpoints (Deliberate, Realistic Vision, `v1-5-pruned-emaonly.safetensors`) ship
as one `.safetensors` file in the layout of the CompVis/LDM code: UNet keys under
`model.diffusion_model.` (`input_blocks.N.M...`), VAE under `first_stage_model.`, CLIP under
`cond_stage_model.transformer.`. The local test hub (`core/assets/local_hub.py`) needs such
files made from the tiny pipelines, so this module inverts what diffusers'
`from_single_file` does (`diffusers.loaders.single_file_utils.convert_ldm_*_checkpoint`),
generalised from the 4-level SD 1.5 UNet to any level count and `layers_per_block`, as
diffusers' `scripts/convert_diffusers_to_original_stable_diffusion.py` does for SD 1.x.
`tests/test_local_hub.py` checks the round trip through diffusers' own converters.
"""

from __future__ import annotations

import re

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIX = "cond_stage_model.transformer."

_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
# diffusers resnet part -> LDM ResBlock part
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _resnet_rest(rest: str, renames: dict[str, str]) -> str:
    for new, old in renames.items():
        if rest.startswith(new + "."):
            return old + rest[len(new) :]
    return rest


def unet_to_ldm(state_dict: dict, config: dict) -> dict:
    """Return the UNet weights under LDM keys (`input_blocks`, `middle_block`, `output_blocks`).

    `config` is the UNet's diffusers config (`layers_per_block`, `up_block_types`).
    Refuses (ValueError) a key it has no rule for, so a new block type cannot slip through.
    """
    per_level = config["layers_per_block"] + 1  # resnets + one down/upsampler slot per level
    up_has_attention = ["CrossAttn" in name for name in config["up_block_types"]]
    converted = {}
    for key, value in state_dict.items():
        new = None
        for diffusers_name, ldm_name in _UNET_TOP.items():
            if key.startswith(diffusers_name + "."):
                new = ldm_name + key[len(diffusers_name) :]
        if match := re.match(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            block, layer, rest = int(match[1]), int(match[2]), match[3]
            new = (
                f"input_blocks.{per_level * block + layer + 1}.0.{_resnet_rest(rest, _UNET_RESNET)}"
            )
        elif match := re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
            block, layer, rest = int(match[1]), int(match[2]), match[3]
            new = f"input_blocks.{per_level * block + layer + 1}.1.{rest}"
        elif match := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            new = f"input_blocks.{per_level * (int(match[1]) + 1)}.0.op.{match[2]}"
        elif match := re.match(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"middle_block.{2 * int(match[1])}.{_resnet_rest(match[2], _UNET_RESNET)}"
        elif match := re.match(r"mid_block\.attentions\.0\.(.+)", key):
            new = f"middle_block.1.{match[1]}"
        elif match := re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            block, layer, rest = int(match[1]), int(match[2]), match[3]
            new = f"output_blocks.{per_level * block + layer}.0.{_resnet_rest(rest, _UNET_RESNET)}"
        elif match := re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
            block, layer, rest = int(match[1]), int(match[2]), match[3]
            new = f"output_blocks.{per_level * block + layer}.1.{rest}"
        elif match := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            block = int(match[1])
            # LDM puts the upsampler after the attention when the level has one.
            slot = 2 if up_has_attention[block] else 1
            new = f"output_blocks.{per_level * block + per_level - 1}.{slot}.conv.{match[2]}"
        if new is None:
            raise ValueError(f"no LDM name for UNet key {key!r}")
        converted[UNET_PREFIX + new] = value
    return converted


def vae_to_ldm(state_dict: dict, config: dict) -> dict:
    """Return the VAE weights under LDM keys (`encoder.down.N.block.M`, `decoder.up...`).

    LDM's mid-block attention uses 1x1 convolutions where diffusers uses linear layers, so
    those weights get two trailing unit dimensions back.
    """
    levels = len(config["block_out_channels"])
    converted = {}
    for key, value in state_dict.items():
        new = key
        if match := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"encoder.down.{match[1]}.block.{match[2]}.{match[3]}"
        elif match := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.+)", key):
            new = f"encoder.down.{match[1]}.downsample.{match[2]}"
        elif match := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"decoder.up.{levels - 1 - int(match[1])}.block.{match[2]}.{match[3]}"
        elif match := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+)", key):
            new = f"decoder.up.{levels - 1 - int(match[1])}.upsample.{match[2]}"
        elif match := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"{match[1]}.mid.block_{int(match[2]) + 1}.{match[3]}"
        elif match := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", key):
            rest = match[2]
            for diffusers_name, ldm_name in _VAE_ATTENTION.items():
                if rest.startswith(diffusers_name + "."):
                    rest = ldm_name + rest[len(diffusers_name) :]
            new = f"{match[1]}.mid.attn_1.{rest}"
            if value.ndim == 2:
                value = value[:, :, None, None]
        new = new.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
        converted[VAE_PREFIX + new] = value.contiguous()
    return converted


def text_encoder_to_ldm(state_dict: dict) -> dict:
    """Return the CLIP text encoder weights under SD 1.x's `cond_stage_model.transformer.text_model.`.

    transformers 5.6+ dropped the `text_model.` level from CLIPTextModel's own keys; the
    checkpoints (made with transformers 4) have it, and diffusers expects it.
    """
    return {
        TEXT_ENCODER_PREFIX + ("" if key.startswith("text_model.") else "text_model.") + key: value
        for key, value in state_dict.items()
    }


def pipeline_to_ldm(pipeline) -> dict:
    """Return one SD 1.x-style checkpoint (UNet + VAE + CLIP) from a StableDiffusionPipeline."""

    def state(module) -> dict:
        # safetensors refuses shared storage; every tensor gets its own copy.
        return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}

    checkpoint = unet_to_ldm(state(pipeline.unet), dict(pipeline.unet.config))
    checkpoint.update(vae_to_ldm(state(pipeline.vae), dict(pipeline.vae.config)))
    checkpoint.update(text_encoder_to_ldm(state(pipeline.text_encoder)))
    return checkpoint
