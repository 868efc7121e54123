"""HPS v2 (Wu et al., 2023): open_clip ViT-H-14 fine-tuned on human preference pairs (HPD v2).

Score = 100 * cos(image, prompt) with the HPS v2 checkpoint, as the official `score.py`
computes it (diagonal of image_features @ text_features.T) but in percent, like the HPS column
of DiffChat Table 1 (about 20).
"""

from __future__ import annotations

from core.scoring.base import (
    DEFAULT_BATCH_SIZE,
    EditContext,
    ImageScorer,
    load_open_clip,
    load_weights_file,
    resolve_weights_file,
    to_rgb,
    unavailable,
)

HPS_ARCHITECTURE = "ViT-H-14"
HPS_CHECKPOINT = "xswu/HPSv2/HPS_v2_compressed.pt"
HOW = (
    "With network access run once: `huggingface-cli download xswu/HPSv2 HPS_v2_compressed.pt`, "
    "or pass the local file path as the HPS checkpoint."
)


class HpsScorer(ImageScorer):
    """Human preference score of an image for its prompt (HPS v2)."""

    name = "hps"
    label = "HPS"
    scale = "100 * cosine; about 20-30 with the real checkpoint"
    source = f"open_clip {HPS_ARCHITECTURE} + {HPS_CHECKPOINT}"

    def __init__(
        self,
        model_name: str = HPS_ARCHITECTURE,
        checkpoint: str = HPS_CHECKPOINT,
        device: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        super().__init__(device, batch_size)
        self.model_name, self.checkpoint = model_name, checkpoint

    def _load(self) -> None:
        # The checkpoint holds the whole model, so the architecture is built without weights.
        path = resolve_weights_file(self.checkpoint, "HPS v2", HOW)
        self.model, self.preprocess, self.tokenizer = load_open_clip(
            self.model_name, None, "HPS v2", HOW, self.device, load_weights=False
        )
        try:
            self.model.load_state_dict(load_weights_file(path))
        except RuntimeError as error:  # wrong architecture for the file
            raise unavailable("HPS v2", str(path), HOW, error) from error

    def _score_batch(self, images, prompts, edits: list[EditContext] | None) -> list[float]:
        import torch

        pixels = torch.stack([self.preprocess(image) for image in to_rgb(images)]).to(self.device)
        tokens = self.tokenizer(list(prompts)).to(self.device)
        with torch.inference_mode():
            image_embeds = self.model.encode_image(pixels, normalize=True)  # (batch, embed_dim)
            text_embeds = self.model.encode_text(tokens, normalize=True)
        return (100 * (image_embeds * text_embeds).sum(dim=-1)).float().cpu().tolist()
