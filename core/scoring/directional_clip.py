"""Directional CLIP similarity (Gal et al., 2022; used by InstructPix2Pix): does the image
change in the direction the prompt changed?

cos(E_img(target) - E_img(raw), E_txt(target prompt) - E_txt(raw prompt)) on L2-normalised CLIP
embeddings, times 100 as in the D-CLIP-S column of DiffChat Table 1 (about 15-20).
"""

from __future__ import annotations

from core.scoring.base import EditContext, HfClipScorer
from core.scoring.clip_score import CLIP_MODEL, HOW


def directional_similarity(raw_image_embeds, image_embeds, raw_text_embeds, text_embeds):
    """Return cos(image change, text change) per row, in [-1, 1]; all inputs (batch, dim).

    A row where either change is zero (an unchanged image or prompt) has no direction and
    scores 0 rather than NaN.
    """
    import torch

    image_change = image_embeds - raw_image_embeds
    text_change = text_embeds - raw_text_embeds
    norms = image_change.norm(dim=-1) * text_change.norm(dim=-1)  # (batch,)
    dot = (image_change * text_change).sum(dim=-1)
    return torch.where(norms > 0, dot / norms.clamp(min=1e-12), torch.zeros_like(dot))


class DirectionalClipScorer(HfClipScorer):
    """How far the raw -> target image change follows the raw -> target prompt change."""

    name = "directional_clip"
    label = "D-CLIP-S"
    scale = "100 * cosine of embedding changes: -100..100, about 15-20 for good edits"
    source = CLIP_MODEL
    needs_edit_context = True
    default_model_id = CLIP_MODEL
    title = "directional CLIP similarity"
    how = HOW

    def _score_batch(self, images, prompts, edits: list[EditContext] | None) -> list[float]:
        from core.errors import InputError

        if any(edit.raw_image is None for edit in edits):
            raise InputError("directional CLIP similarity needs the raw image of every edit")
        similarity = directional_similarity(
            self.clip.embed_images([edit.raw_image for edit in edits]),
            self.clip.embed_images(images),
            self.clip.embed_texts([edit.raw_prompt for edit in edits]),
            self.clip.embed_texts(prompts),
        )
        return (100 * similarity).float().cpu().tolist()
