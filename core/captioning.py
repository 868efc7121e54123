"""Image captioning for "start from my image": BLIP turns an upload into a starting prompt."""

from __future__ import annotations

import threading
from functools import lru_cache

from PIL import Image

from core.errors import ModelUnavailableError
from core.registry import get_model_spec

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load_captioner(name: str):
    import torch
    from transformers import BlipForConditionalGeneration, BlipProcessor

    spec = get_model_spec(name, "captioner")
    if spec.kind != "captioner":
        raise ModelUnavailableError(f"{name!r} is a {spec.kind} model, not an image captioner.")
    try:
        processor = BlipProcessor.from_pretrained(spec.repo_id)
        model = BlipForConditionalGeneration.from_pretrained(spec.repo_id, use_safetensors=True)
    except OSError as error:
        raise ModelUnavailableError(
            f"The captioner {spec.repo_id} is not in the local Hugging Face cache and the hub "
            "cannot be reached. Download it once while online (`hf download "
            f"{spec.repo_id}`), or type a short description of your image instead."
        ) from error
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return processor, model.to(device).eval(), device


def caption_image(image: Image.Image, model: str = "blip", max_new_tokens: int = 40) -> str:
    """Return a one-line description of `image` from the captioner `model`.

    Raises ModelUnavailableError when the captioner's weights are absent offline; the caller
    then asks the user to describe the image.
    """
    import torch

    with _lock:
        processor, captioner, device = _load_captioner(model)
        inputs = processor(images=image.convert("RGB"), return_tensors="pt").to(device)
        with torch.inference_mode():
            output_ids = captioner.generate(**inputs, max_new_tokens=max_new_tokens)
    return processor.decode(output_ids[0], skip_special_tokens=True).strip()
