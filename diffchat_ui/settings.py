"""What the app starts on: real weights when they are in the Hugging Face cache, else the
offline set (tiny random-weight pipelines + the offline rewriter), announced by a banner."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from core.paths import workspace_dir
from core.registry import IMAGE_KINDS, MODELS, list_models

log = logging.getLogger(__name__)

OFFLINE_BANNER = (
    "**Offline model set.** No real Stable Diffusion weights were found in the Hugging Face "
    "cache, so this app runs on tiny random-weight pipelines (`tiny-sd`, `tiny-ip2p`): the "
    "images are noise-like and scores are meaningless. Prompts come from the offline rewriter "
    "(SmolLM2-135M). Download real weights (e.g. `hf download "
    "stable-diffusion-v1-5/stable-diffusion-v1-5`) and restart to get real images."
)


@dataclass(frozen=True)
class AppSettings:
    """Resolved start-up choices, shared by every tab (read-only)."""

    offline: bool
    text2image_model: str
    ip2p_model: str
    rewriter: str
    workspace: Path
    concurrency: int = 2

    @property
    def banner(self) -> str:
        """Return the Markdown banner text ("" when running on real weights)."""
        return OFFLINE_BANNER if self.offline else ""

    def image_models(self) -> list[str]:
        """Return the TIS dropdown: the offline models first when offline."""
        names = list_models(IMAGE_KINDS)
        offline = [n for n in names if MODELS[n].offline]
        real = [n for n in names if not MODELS[n].offline]
        return offline + real if self.offline else real + offline


def real_weights_available(repo_id: str) -> bool:
    """Return True when the diffusers repo's model_index.json is in the local HF cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "model_index.json")
    except Exception as error:  # a broken cache is the same as no cache here
        log.warning("could not read the Hugging Face cache: %s", error)
        return False
    return isinstance(found, str) and os.path.isfile(found)


def detect_settings(force_offline: bool = False, concurrency: int = 2) -> AppSettings:
    """Return the settings: offline set when forced or when SD 1.5 is not cached."""
    offline = force_offline or not real_weights_available(MODELS["sd15"].repo_id)
    ip2p_cached = not offline and real_weights_available(MODELS["instruct-pix2pix"].repo_id)
    return AppSettings(
        offline=offline,
        text2image_model="tiny-sd" if offline else "sd15",
        ip2p_model="instruct-pix2pix" if ip2p_cached else "tiny-ip2p",
        rewriter="diffchat-offline",
        workspace=workspace_dir(),
        concurrency=concurrency,
    )
