"""What every image scorer shares: the `ImageScorer` interface, lazy loading, batching, and
safe weight loading (safetensors or `torch.load(weights_only=True)`).

A scorer takes a batch of images with the prompts they should show and returns one float per
image. Scores that judge an *edit* (directional CLIP similarity, content integrity) also need
the starting point of the edit; they receive it as one `EditContext` per image.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from core.errors import InputError, ModelUnavailableError

DEFAULT_BATCH_SIZE = 16


@dataclass(frozen=True)
class EditContext:
    """Where an edit started: the raw prompt and image, the instruction, the reference target.

    `reference_target` is the data set's target prompt (what a good rewrite looks like); the
    candidate being judged is the prompt passed to `ImageScorer.score` beside the image.
    """

    raw_prompt: str
    instruction: str
    reference_target: str = ""
    raw_image: object | None = None  # PIL.Image.Image; object keeps PIL out of import time


class ImageScorer(ABC):
    """Scores images against prompts; one float per image, higher is better.

    Subclasses set `name` (the CSV column), `label` (the paper's table header), `scale` and
    `source` (for the docs and the summary), implement `_load()` and `_score_batch()`.
    Loading happens on the first `score()` call, so building a scorer is free.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    scale: ClassVar[str]
    source: ClassVar[str]
    needs_edit_context: ClassVar[bool] = False

    def __init__(self, device: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        self.device = device or pick_device()
        self.batch_size = batch_size
        self._loaded = False

    def load(self) -> None:
        """Load the weights now (normally done by the first `score` call)."""
        if not self._loaded:
            self._load()
            self._loaded = True

    def score(
        self,
        images: Sequence,
        prompts: Sequence[str],
        edits: Sequence[EditContext] | None = None,
    ) -> list[float]:
        """Return one score per (image, prompt[, edit]) in input order.

        Refuses (InputError) lists of different lengths, and a missing `edits` for scores that
        judge an edit. Raises ModelUnavailableError when the weights are not available offline.
        """
        if len(images) != len(prompts):
            raise InputError(f"{self.name}: {len(images)} images but {len(prompts)} prompts")
        if self.needs_edit_context:
            if edits is None or len(edits) != len(images):
                raise InputError(f"{self.name} needs one EditContext per image")
        if not images:
            return []
        self.load()
        scores: list[float] = []
        for start in range(0, len(images), self.batch_size):
            stop = start + self.batch_size
            batch_edits = list(edits[start:stop]) if edits is not None else None
            scores += self._score_batch(
                list(images[start:stop]), list(prompts[start:stop]), batch_edits
            )
        return scores

    @abstractmethod
    def _load(self) -> None: ...

    @abstractmethod
    def _score_batch(
        self, images: list, prompts: list[str], edits: list[EditContext] | None
    ) -> list[float]: ...


def pick_device() -> str:
    """Return "cuda" when a GPU is visible, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def to_rgb(images: Sequence) -> list:
    """Return the images as RGB PIL images (scorers' processors expect three channels)."""
    return [image.convert("RGB") for image in images]


def load_weights_file(path: str | Path) -> dict:
    """Return the state dict stored in `path`, never executing pickled code.

    `.safetensors` files are read with safetensors; anything else with
    `torch.load(weights_only=True)`. A checkpoint wrapping its weights in a `state_dict` key
    (HPS v2 does) is unwrapped.
    """
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    # Checkpoints saved from DataParallel prefix every key with "module.".
    return {key.removeprefix("module."): value for key, value in state.items()}


def unavailable(
    score: str, source: str, how: str, cause: Exception | None = None
) -> ModelUnavailableError:
    """Return the error for weights that are not here: which score, where from, how to get them."""
    detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return ModelUnavailableError(
        f"The {score} weights ({source}) are not available offline{detail}. {how} "
        "Other scores still run; use --tiny-scorers to test the pipeline without real weights."
    )


def resolve_weights_file(location: str, score: str, how: str) -> Path:
    """Return a local file for `location`: a path, or "repo_id/filename" from the hub cache.

    Refuses (ModelUnavailableError naming the score and how to get the file) a location that
    is neither an existing file nor in the Hugging Face cache (this project never downloads
    during tests; with network access the hub download works as usual).
    """
    path = Path(location).expanduser()
    if path.is_file():
        return path
    repo_id, _, filename = location.rpartition("/")
    if not repo_id or "/" not in repo_id:
        raise unavailable(score, location, how)
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename))
    except Exception as error:  # offline: LocalEntryNotFoundError; bad repo: RepositoryNotFound
        raise unavailable(score, location, how, error) from error


class HfClipEmbedder:
    """A transformers `CLIPModel` + `CLIPProcessor` that returns L2-normalised embeddings.

    Shared by PickScore, CLIP score and directional CLIP similarity; only the ids differ
    (a hub id, or a local folder such as the tiny random-weight twin).
    """

    def __init__(self, model_id: str, processor_id: str, score: str, how: str, device: str):
        self.model_id, self.processor_id = model_id, processor_id
        self.score, self.how, self.device = score, how, device
        self.model = None
        self.processor = None

    def load(self) -> None:
        from transformers import CLIPModel, CLIPProcessor

        try:
            self.processor = CLIPProcessor.from_pretrained(self.processor_id)
            self.model = CLIPModel.from_pretrained(self.model_id).eval().to(self.device)
        except (OSError, ValueError) as error:  # not cached offline; a bad id (HFValidationError)
            raise unavailable(self.score, self.model_id, self.how, error) from error

    def embed_images(self, images: list):
        import torch

        pixels = self.processor(images=to_rgb(images), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            features = self.model.get_image_features(pixel_values=pixels.to(self.device))
        features = _as_tensor(features)
        return features / features.norm(dim=-1, keepdim=True)  # (batch, projection_dim)

    def embed_texts(self, texts: list[str]):
        import torch

        tokens = self.processor(
            text=list(texts), padding=True, truncation=True, max_length=77, return_tensors="pt"
        )
        with torch.inference_mode():
            features = self.model.get_text_features(
                input_ids=tokens["input_ids"].to(self.device),
                attention_mask=tokens["attention_mask"].to(self.device),
            )
        features = _as_tensor(features)
        return features / features.norm(dim=-1, keepdim=True)  # (batch, projection_dim)


class HfClipScorer(ImageScorer):
    """A score computed on a transformers `CLIPModel` (PickScore, CLIP score, directional CLIP).

    Subclasses name their default hub ids (`default_model_id`; `default_processor_id`, or None
    for the model's own processor), the score's `title` and `how` to get the weights (both for
    the offline error), and implement `_score_batch` with `self.clip`.
    """

    default_model_id: ClassVar[str]
    default_processor_id: ClassVar[str | None] = None
    title: ClassVar[str]
    how: ClassVar[str]

    def __init__(
        self,
        model_id: str | None = None,
        processor_id: str | None = None,
        device: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        super().__init__(device, batch_size)
        model_id = model_id or self.default_model_id
        processor_id = processor_id or self.default_processor_id or model_id
        self.clip = HfClipEmbedder(model_id, processor_id, self.title, self.how, self.device)

    def _load(self) -> None:
        self.clip.load()


def _as_tensor(features):
    # transformers 5 may return a model output object instead of a bare tensor.
    return features if hasattr(features, "norm") else features.pooler_output


def load_open_clip(
    model_name: str,
    pretrained: str | None,
    score: str,
    how: str,
    device: str,
    load_weights: bool = True,
):
    """Return (model, preprocess, tokenizer) from open_clip.

    `model_name` is a built-in architecture ("ViT-L-14") or "local-dir:FOLDER" (a folder with
    open_clip_config.json and weights, as the tiny twins are saved); `load_weights=False`
    builds the architecture only (for a checkpoint loaded afterwards). Refuses weights that
    cannot be found offline with a ModelUnavailableError naming the score.
    """
    import open_clip

    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            model_name,
            pretrained=pretrained,
            load_weights=load_weights,
            device=device,
            weights_only=True,
        )
        tokenizer = open_clip.get_tokenizer(model_name)
    except (OSError, RuntimeError, ValueError) as error:
        source = f"open_clip {model_name}" + (f" ({pretrained})" if pretrained else "")
        raise unavailable(score, source, how, error) from error
    return model.eval(), preprocess, tokenizer
