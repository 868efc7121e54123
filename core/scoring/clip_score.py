"""CLIP score (Hessel et al., 2021, with Radford et al.'s CLIP): 100 * cos(image, prompt),
clipped at 0; the CLIP-S column of DiffChat Table 1 (about 29 for SD 1.5 images).
"""

from __future__ import annotations

from core.scoring.base import EditContext, HfClipScorer

CLIP_MODEL = "openai/clip-vit-large-patch14"
HOW = f"With network access run once: `huggingface-cli download {CLIP_MODEL}`."


class ClipScoreScorer(HfClipScorer):
    """How well an image matches its prompt, 0-100."""

    name = "clip_score"
    label = "CLIP-S"
    scale = "100 * max(cosine, 0): 0-100, about 20-35 for matching pairs"
    source = CLIP_MODEL
    default_model_id = CLIP_MODEL
    title = "CLIP score"
    how = HOW

    def _score_batch(self, images, prompts, edits: list[EditContext] | None) -> list[float]:
        cosine = (self.clip.embed_images(images) * self.clip.embed_texts(prompts)).sum(dim=-1)
        return (100 * cosine.clamp(min=0)).float().cpu().tolist()
