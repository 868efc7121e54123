"""LAION improved aesthetic predictor (Schuhmann et al., 2022): an MLP on the L2-normalised
CLIP ViT-L/14 image embedding, trained on SAC + LAION-Logos + AVA ratings (1-10 scale; the
Aes. Score column of DiffChat Table 1 is about 6).
"""

from __future__ import annotations

from core.paths import models_dir
from core.scoring.base import (
    DEFAULT_BATCH_SIZE,
    EditContext,
    ImageScorer,
    load_open_clip,
    load_weights_file,
    resolve_weights_file,
    to_rgb,
)

AESTHETIC_CLIP = "ViT-L-14"
AESTHETIC_CLIP_PRETRAINED = "openai"
AESTHETIC_MLP_FILE = "sac+logos+ava1-l14-linearMSE.pth"
AESTHETIC_MLP_URL = (
    "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
    "sac%2Blogos%2Bava1-l14-linearMSE.pth"
)


# The same weights on the hub, as TRL's DDPO example loads them (state dict keys `layers.N`).
AESTHETIC_MLP_HUB = "trl-lib/ddpo-aesthetic-predictor/aesthetic-model.pth"


def default_mlp_path() -> str:
    """Return where the aesthetic MLP weights are read from.

    DIFFCHAT_HOME/models/aesthetic/ when the file was put there, else the hub copy
    (`AESTHETIC_MLP_HUB`, from the Hugging Face cache or downloaded when online).
    """
    local = models_dir() / "aesthetic" / AESTHETIC_MLP_FILE
    return str(local) if local.is_file() else AESTHETIC_MLP_HUB


HOW = (
    f"With network access it is downloaded from the hub ({AESTHETIC_MLP_HUB}); or download "
    f"{AESTHETIC_MLP_URL} to DIFFCHAT_HOME/models/aesthetic/{AESTHETIC_MLP_FILE}. "
    f"open_clip fetches {AESTHETIC_CLIP} ({AESTHETIC_CLIP_PRETRAINED}) itself when online."
)


def build_aesthetic_mlp(input_size: int = 768):
    """Return the improved-aesthetic-predictor MLP (768 -> 1024 -> 128 -> 64 -> 16 -> 1).

    The original has no activations between the linear layers (only dropouts); the layer
    indices match its state dict keys (layers.0, .2, .4, .6, .7).
    """
    from torch import nn

    return nn.Sequential(
        nn.Linear(input_size, 1024),
        nn.Dropout(0.2),
        nn.Linear(1024, 128),
        nn.Dropout(0.2),
        nn.Linear(128, 64),
        nn.Dropout(0.1),
        nn.Linear(64, 16),
        nn.Linear(16, 1),
    )


class AestheticScorer(ImageScorer):
    """How beautiful people find an image, on a 1-10 scale; ignores the prompt."""

    name = "aesthetic"
    label = "Aes. Score"
    scale = "predicted mean rating, about 1-10 (4-7 for typical SD images)"
    source = f"open_clip {AESTHETIC_CLIP} ({AESTHETIC_CLIP_PRETRAINED}) + {AESTHETIC_MLP_FILE}"

    def __init__(
        self,
        clip_model: str = AESTHETIC_CLIP,
        clip_pretrained: str | None = AESTHETIC_CLIP_PRETRAINED,
        mlp_weights: str | None = None,
        device: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        super().__init__(device, batch_size)
        self.clip_model, self.clip_pretrained = clip_model, clip_pretrained
        self.mlp_weights = mlp_weights or default_mlp_path()

    def _load(self) -> None:
        # The small MLP file first: its absence is the usual offline failure, and cheap to find.
        state = load_weights_file(resolve_weights_file(self.mlp_weights, "aesthetic score", HOW))
        state = {key.removeprefix("layers."): value for key, value in state.items()}
        self.mlp = build_aesthetic_mlp(state["0.weight"].shape[1])
        self.mlp.load_state_dict(state)
        self.mlp.eval().to(self.device)
        self.model, self.preprocess, _ = load_open_clip(
            self.clip_model, self.clip_pretrained, "aesthetic score", HOW, self.device
        )

    def _score_batch(self, images, prompts, edits: list[EditContext] | None) -> list[float]:
        import torch

        pixels = torch.stack([self.preprocess(image) for image in to_rgb(images)]).to(self.device)
        with torch.inference_mode():
            embeds = self.model.encode_image(pixels)
            embeds = embeds / embeds.norm(dim=-1, keepdim=True)  # (batch, embed_dim)
            ratings = self.mlp(embeds.float()).squeeze(-1)  # (batch,)
        return ratings.cpu().tolist()
