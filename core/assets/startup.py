"""What `app.py` does before the UI starts: storage, the offline set, the default model.

On Hugging Face Spaces (and anywhere) the first start builds what is missing of the offline
set (each step idempotent, one log line each; a failing step is logged and skipped: the app
still starts, that part then says what it lacks). On Spaces, with hub access, app.py also
downloads the default image model (SD 1.5 on a GPU, the fastest few-step model on a CPU)
with a progress line in the log, so the first visitor sees real images; elsewhere the
banner offers it (diffchat_ui/model_download.py).
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

from core.errors import DiffChatError

log = logging.getLogger("diffchat.startup")
PERSISTENT = Path("/data")  # Spaces' persistent storage, when the Space has it


def use_persistent_storage(persistent: Path = PERSISTENT) -> None:
    """Put HF_HOME and DIFFCHAT_HOME on `persistent` (when it exists and they are unset).

    Must run before huggingface_hub is imported: it reads HF_HOME once.
    """
    if not persistent.is_dir():
        return
    for variable, folder in (("HF_HOME", "huggingface"), ("DIFFCHAT_HOME", "diffchat")):
        if variable not in os.environ:
            os.environ[variable] = str(persistent / folder)
            log.info("%s on persistent storage: %s", variable, os.environ[variable])


def build_offline_set() -> list[str]:
    """Run every offline-set step that is not ready; return the names of the steps that failed.

    The WordNet step copies Debian's wordnet-base from /usr/share/wordnet (Spaces installs it
    from packages.txt) or tries `apt-get download`, which needs apt lists a Space may not
    have; when it fails the content-integrity score says WordNet is missing, the rest runs.
    """
    from core.assets import STEPS

    failed = []
    for name in STEPS:
        module = importlib.import_module(f"core.assets.{name}")
        if module.is_ready():
            log.info("offline set: %s ready", name)
            continue
        log.info("offline set: building %s ...", name)
        try:
            log.info("offline set: %s: %s", name, module.fetch())
        except (DiffChatError, OSError) as error:
            log.warning("offline set: %s failed, starting without it: %s", name, error)
            failed.append(name)
    return failed


def download_default_model(device: str | None = None) -> str | None:
    """Download the device's default image model when the hub is reachable and it is missing.

    Returns the model name when it is now downloaded, None when it was not (offline, hub
    unreachable, refused or cut off: logged, the app then starts on what it has).
    """
    from core.assets.download import (
        default_image_model,
        download_model,
        hub_reachable,
        is_downloaded,
    )

    name = default_image_model(device)
    if is_downloaded(name):
        return name
    if not hub_reachable():
        log.info("default model %s is not downloaded and the hub is not reachable", name)
        return None
    log.info("downloading the default image model %s (first start) ...", name)
    reported = [-1]

    def progress(done: int, total: int) -> None:
        percent = int(100 * done / total) if total else 100
        if percent >= reported[0] + 10 or done == total:  # a log line per 10 %
            reported[0] = percent
            log.info("download %s: %3d%% (%.0f of %.0f MB)", name, percent, done / 1e6, total / 1e6)

    try:
        download_model(name, progress=progress)
    except DiffChatError as error:
        log.warning("could not download %s: %s", name, error)
        return None
    return name
