"""PickScore (Kirstain et al., 2023): a CLIP-H fine-tuned on Pick-a-Pic human preferences.

Score = logit_scale.exp() * cos(image, prompt), as in the PickScore model card; with the real
model logit_scale.exp() is about 100, which gives the ~19-20 values of DiffChat Table 1.
"""

from __future__ import annotations

from core.scoring.base import EditContext, HfClipScorer

PICKSCORE_MODEL = "yuvalkirstain/PickScore_v1"
PICKSCORE_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
HOW = (
    f"With network access run once: `huggingface-cli download {PICKSCORE_MODEL}` and "
    f"`huggingface-cli download {PICKSCORE_PROCESSOR} --include '*.json' '*.txt'`."
)


class PickScoreScorer(HfClipScorer):
    """Preference score of an image for its prompt (higher = people prefer it)."""

    name = "pickscore"
    label = "PickScore"
    scale = "logit_scale * cosine; about 18-23 with the real model"
    source = f"{PICKSCORE_MODEL} (processor {PICKSCORE_PROCESSOR})"
    default_model_id = PICKSCORE_MODEL
    default_processor_id = PICKSCORE_PROCESSOR
    title = "PickScore"
    how = HOW

    def _score_batch(self, images, prompts, edits: list[EditContext] | None) -> list[float]:
        image_embeds = self.clip.embed_images(images)
        text_embeds = self.clip.embed_texts(prompts)
        cosine = (image_embeds * text_embeds).sum(dim=-1)  # (batch,)
        return (self.clip.model.logit_scale.exp() * cosine).float().cpu().tolist()
