"""What the app starts on: real weights when they are in the Hugging Face cache, else the
offline set (tiny random-weight pipelines + the offline rewriter), announced by a banner."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.paths import workspace_dir
from core.registry import IMAGE_KINDS, MODELS, list_models

log = logging.getLogger(__name__)

# Requests the queue handles at once (app.py's --concurrency); model jobs still run one by one.
DEFAULT_CONCURRENCY = 2

OFFLINE_BANNER = (
    "**Offline model set.** No real Stable Diffusion weights were found in the Hugging Face "
    "cache, so this app runs on tiny random-weight pipelines (`tiny-sd`, `tiny-ip2p`): the "
    "images are noise-like and scores are meaningless. Prompts come from the offline rewriter "
    "(SmolLM2-135M). Download real weights (e.g. `hf download "
    "stable-diffusion-v1-5/stable-diffusion-v1-5`) and restart to get real images."
)
OFFER_BANNER = (
    "**Offline model set.** No real image model is downloaded yet, so this app runs on tiny "
    "random-weight pipelines (`tiny-sd`, `tiny-ip2p`): the images are noise-like. The Hugging "
    "Face Hub is reachable: **Download {model}** ({description}) below to render real images; "
    "the app switches to it when the download is done, without a restart."
)


@dataclass(frozen=True)
class AppSettings:
    """Resolved start-up choices, shared by every tab (read-only)."""

    offline: bool
    text2image_model: str
    ip2p_model: str
    rewriter: str
    workspace: Path
    concurrency: int = DEFAULT_CONCURRENCY
    # The image model the banner offers to download (the hub answered, none was here).
    download_offer: str | None = None
    # False when the hub did not answer at start: a model that is not here cannot be
    # downloaded, so it is refused as offline (True when downloads were never asked about).
    hub_reachable: bool = True

    @property
    def banner(self) -> str:
        """Return the Markdown banner text ("" when running on real weights)."""
        if not self.offline:
            return ""
        if self.download_offer:
            description = MODELS[self.download_offer].description
            return OFFER_BANNER.format(model=self.download_offer, description=description)
        return OFFLINE_BANNER

    def image_models(self) -> list[str]:
        """Return the TIS dropdown: the offline models first when offline."""
        names = list_models(IMAGE_KINDS)
        offline = [n for n in names if MODELS[n].offline]
        real = [n for n in names if not MODELS[n].offline]
        return offline + real if self.offline else real + offline

    def image_model_choices(self) -> list[tuple[str, str]]:
        """Return the TIS dropdown as (label, name): models without local weights are
        marked, so nobody picks one expecting it to work offline."""
        return [(model_label(name, self.hub_reachable), name) for name in self.image_models()]


def model_available(name: str) -> bool:
    """Return True when a registry model's weights are on this machine (offline-set folder or
    Hugging Face cache: core.assets.download.is_downloaded); names outside the registry
    (custom folders, ids) and models without weights (API rewriters) count as available."""
    from core.assets.download import is_downloaded

    spec = MODELS.get(name)
    if spec is None or spec.repo_id is None and spec.local_path is None:
        return True
    return is_downloaded(name)


def model_label(name: str, hub_reachable: bool = True) -> str:
    """Return the dropdown label of an image model: its name, marked when not downloaded,
    and marked "offline" too when it cannot be downloaded either (unavailable_reason)."""
    if model_available(name):
        return name
    if unavailable_reason(name, hub_reachable):
        return f"{name} (not downloaded, offline)"
    return f"{name} (not downloaded)"


def unavailable_reason(name: str, hub_reachable: bool = True) -> str | None:
    """Return why the image model `name` cannot render here, before any work starts (None
    when it can, or when it can still be downloaded: downloads are on and the hub answered,
    `hub_reachable` being AppSettings.hub_reachable)."""
    if model_available(name):
        return None
    if MODELS[name].repo_id is None:  # an offline-set folder: nothing on the hub to fetch
        return (
            f"The image model {name} is not installed in {MODELS[name].source}: run "
            "`python -m core.assets fetch`, or choose another model."
        )
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        why = "HF_HUB_OFFLINE"
    elif not hub_reachable:
        why = "the Hugging Face Hub did not answer when it started"
    else:
        return None
    return (
        f"The image model {name} is not downloaded and this app runs offline ({why}): "
        "choose one of the offline models (tiny-sd, tiny-sdxl), or download "
        f"{MODELS[name].repo_id} and restart."
    )


def detect_settings(
    force_offline: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    offer_download: bool = False,
) -> AppSettings:
    """Return the settings: the offline set when forced or when no real image model is
    downloaded; else SD 1.5 on a GPU, the fastest few-step model on a CPU (whichever of the
    two is downloaded, see core.assets.download.start_model).

    With `offer_download` the hub is asked once (5 s at most): when it does not answer,
    `hub_reachable` is False (models not here are refused as offline); when it does, an app
    on the offline set (not forced) offers the device's default model in the banner
    (`download_offer`).
    """
    from core.assets.download import (
        default_image_model,
        hub_reachable,
        is_downloaded,
        start_model,
    )

    start = None if force_offline else start_model()
    offline = start is None
    ip2p_cached = not offline and is_downloaded("instruct-pix2pix")
    reachable = hub_reachable() if offer_download else True
    offer = None
    if offline and offer_download and not force_offline and reachable:
        offer = default_image_model()
        log.info("no image model downloaded; the banner offers %s", offer)
    return AppSettings(
        offline=offline,
        text2image_model="tiny-sd" if offline else start,
        ip2p_model="instruct-pix2pix" if ip2p_cached else "tiny-ip2p",
        rewriter="diffchat-offline",
        workspace=workspace_dir(),
        concurrency=concurrency,
        download_offer=offer,
        hub_reachable=reachable,
    )
