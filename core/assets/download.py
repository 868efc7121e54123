"""Download a registry model from the Hugging Face Hub: only what its loader reads.

`plan_download(name)` lists the files (from the hub's tree listing) that
`core.pipelines.load_pipeline` will open: `model_index.json`, each component's configs and
its `.safetensors` weights in the wanted variant (fp16 on GPU), never the pickled `.bin`
twins nor the multi-GB single-file checkpoints beside the diffusers folders. A single-file
model gets its one file plus the config repo's configs; a LoRA model its LoRA file plus its
base model. `download_model(name)` checks the disk space against the listed sizes first, then
fetches file by file through `huggingface_hub`, which resumes a cut-off file with HTTP Range
requests (up to 5 tries while bytes keep coming) and only moves a file into the cache once it
is complete. huggingface_hub 2.x deletes a partial file when it gives up, so a second run
keeps the finished files and starts the unfinished one over.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import DownloadError, UnknownModelError
from core.registry import MODELS, ModelSpec, get_model_spec

log = logging.getLogger(__name__)

# Left free after a download: the OS, logs and the offline set need room too.
DISK_MARGIN_BYTES = 200 * 2**20
_PICKLED = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
_CONFIG = (".json", ".txt", ".model")
# Weight files that are not the plain ones: variants and training-only copies.
_NOT_PLAIN = re.compile(r"\.(fp16|bf16|non_ema|ema|fp32)[.-]")

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass(frozen=True)
class PlannedFile:
    """One file to fetch: repo, path in the repo, size in bytes (from the hub listing)."""

    repo_id: str
    path: str
    size: int


def wanted_variant() -> str | None:
    """Return "fp16" when pipelines will run in float16 (a GPU), else None (fp32 files)."""
    import torch

    from core.pipelines import RuntimeSettings

    return "fp16" if RuntimeSettings().resolved_dtype() == torch.float16 else None


def _listing(repo_id: str) -> dict[str, int]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError
    from huggingface_hub.hf_api import RepoFile

    try:
        return {
            entry.path: entry.size
            for entry in HfApi().list_repo_tree(repo_id, recursive=True)
            if isinstance(entry, RepoFile)
        }
    except RepositoryNotFoundError as error:
        raise UnknownModelError(
            f"The hub has no repository {repo_id!r} (or it is private). Registry models: "
            f"{', '.join(MODELS)}."
        ) from error


def _read_json(repo_id: str, path: str) -> dict:
    import json

    from huggingface_hub import hf_hub_download

    return json.loads(Path(hf_hub_download(repo_id, path)).read_text())


def diffusers_files(
    repo_id: str, listing: dict[str, int], model_index: dict, variant: str | None
) -> list[str]:
    """Return the files of a diffusers repo that `from_pretrained` reads for `variant`.

    Refuses (DownloadError) a component whose weights exist only in pickled form.
    """
    files = ["model_index.json"]
    for component, value in model_index.items():
        if component.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        inside = [p for p in listing if p.startswith(component + "/") and p.count("/") == 1]
        weights = [p for p in inside if p.endswith(".safetensors")]
        chosen = [p for p in weights if variant and re.search(rf"\.{variant}[.-]", p)]
        if not chosen:  # no variant asked for, or none shipped: the plain files
            chosen = [p for p in weights if not _NOT_PLAIN.search(p)]
        if not chosen and any(p.endswith(_PICKLED) for p in inside):
            raise DownloadError(
                f"{repo_id} ships the {component} weights only as pickled files (.bin/.ckpt), "
                "which DiffChat does not load (they can run code). Use a repo with "
                ".safetensors weights, or convert it once with save_pretrained(..., "
                "safe_serialization=True) and pass the folder."
            )
        files += [p for p in inside if p.endswith(_CONFIG)] + chosen
    return files


def plan_download(name: str, variant: str | None = None) -> list[PlannedFile]:
    """Return every file `load_pipeline(name)` needs from the hub, with its size.

    Refuses (UnknownModelError) names that are neither in the registry nor on the hub, and
    models with no weights to download (offline set, API rewriters, local folders).
    """
    spec = _hub_spec(name)
    planned: list[PlannedFile] = []
    if spec.base_model:
        planned += plan_download(spec.base_model, variant)
    listing = _listing(spec.repo_id)

    def add(repo_id: str, paths: list[str], sizes: dict[str, int]) -> None:
        planned.extend(PlannedFile(repo_id, p, sizes[p]) for p in paths)

    if spec.lora_file or spec.single_file:
        wanted = spec.lora_file or spec.single_file
        if wanted not in listing:
            raise DownloadError(
                f"{spec.repo_id} has no file {wanted!r}; it lists {len(listing)} files."
            )
        add(spec.repo_id, [wanted], listing)
        if spec.single_file:  # from_single_file reads the pipeline layout from config_repo
            configs = _listing(spec.config_repo)
            paths = [
                p
                for p in configs
                if p.endswith(_CONFIG) and (p.count("/") == 1 or p == "model_index.json")
            ]
            add(spec.config_repo, paths, configs)
    elif "model_index.json" in listing:
        model_index = _read_json(spec.repo_id, "model_index.json")
        add(spec.repo_id, diffusers_files(spec.repo_id, listing, model_index, variant), listing)
    else:  # a transformers repo (the captioner): top-level configs + safetensors
        weights = [p for p in listing if "/" not in p and p.endswith(".safetensors")]
        if not weights:
            raise DownloadError(
                f"{spec.repo_id} ships no .safetensors weights; refusing pickled files."
            )
        add(
            spec.repo_id,
            [p for p in listing if "/" not in p and p.endswith(_CONFIG)] + weights,
            listing,
        )
    return planned


def _hub_spec(name: str) -> ModelSpec:
    spec = get_model_spec(name)
    if spec.repo_id is None:
        raise UnknownModelError(
            f"Model {spec.name!r} has nothing to download ({spec.description}). Hub models: "
            f"{', '.join(n for n, s in MODELS.items() if s.repo_id)}."
        )
    return spec


def cached_file(repo_id: str, filename: str) -> Path | None:
    """Return the path of `repo_id`'s `filename` in the local Hugging Face cache, or None
    (no network; a cache that cannot be read counts as empty)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename)
    except Exception as error:  # a broken cache is the same as no cache here
        log.warning("could not read the Hugging Face cache: %s", error)
        return None
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def _cached(file: PlannedFile) -> bool:
    return cached_file(file.repo_id, file.path) is not None


def is_downloaded(name: str) -> bool:
    """Return True when `name`'s weights are on this machine (no network): the offline-set
    folder, or the local Hugging Face cache.

    Checks the files the loader opens first (model_index.json, the single file, the LoRA,
    and the base model's); a partial download is not a download. The one home of "is this
    model here" (the app's "(not downloaded)" marks ask it too).
    """
    spec = get_model_spec(name)
    if spec.repo_id is None:
        return spec.local_path is not None and Path(spec.local_path()).exists()
    if spec.base_model and not is_downloaded(spec.base_model):
        return False
    wanted = spec.lora_file or spec.single_file or "model_index.json"
    found = cached_file(spec.repo_id, wanted)
    if found is None:
        return False
    if wanted != "model_index.json":
        return True
    # model_index.json arrives first; the weights prove the rest did too.
    snapshot = found.parent
    return any(snapshot.glob("unet/*.safetensors")) or any(snapshot.glob("*.safetensors"))


def check_disk_space(planned: list[PlannedFile], cache_dir: Path | None = None) -> int:
    """Return the bytes still to fetch; refuse (DownloadError) when the disk cannot hold them."""
    from huggingface_hub import constants

    missing = sum(file.size for file in planned if not _cached(file))
    folder = Path(cache_dir or constants.HF_HUB_CACHE)
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if missing + DISK_MARGIN_BYTES > free:
        raise DownloadError(
            f"Not enough disk space: the download needs {missing / 2**30:.2f} GiB (plus "
            f"{DISK_MARGIN_BYTES // 2**20} MiB to spare) but {folder} has {free / 2**30:.2f} GiB "
            "free. Free some space or point HF_HOME at a bigger disk; nothing was downloaded."
        )
    return missing


def _tqdm_forwarding_to(callback: Callable[[int], None]):
    from huggingface_hub.utils import tqdm as hub_tqdm

    class Forwarding(hub_tqdm):
        """huggingface_hub's per-file bar, silenced, reporting bytes to `callback`."""

        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            callback(n or 0)
            return super().update(n)

    return Forwarding


def download_model(
    name: str, variant: str | None = None, progress: ProgressCallback | None = None
) -> int:
    """Download what `load_pipeline(name)` needs into the Hugging Face cache; return bytes fetched.

    `variant` None means `wanted_variant()`; pass "" for the plain fp32 files. `progress(done,
    total)` is called as bytes arrive. Refuses (DownloadError) pickled-only repos and a disk
    too small, before fetching anything; a connection that stays dead mid-file raises
    DownloadError saying how much arrived (run it again; nothing partial is left to load).
    """
    from huggingface_hub import constants, hf_hub_download

    if constants.HF_HUB_OFFLINE:
        raise DownloadError("Downloads are off (HF_HUB_OFFLINE is set); unset it to download.")
    variant = wanted_variant() if variant is None else (variant or None)
    planned = plan_download(name, variant)
    total = check_disk_space(planned)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(done, total), total)

    tqdm_class = _tqdm_forwarding_to(advance)
    for file in planned:
        if _cached(file):
            continue
        log.info("downloading %s/%s (%.1f MB)", file.repo_id, file.path, file.size / 1e6)
        try:
            hf_hub_download(file.repo_id, file.path, tqdm_class=tqdm_class)
        except Exception as error:  # httpx, OSError (size check), HfHubHTTPError: all a stop
            raise DownloadError(
                f"The download of {file.repo_id}/{file.path} stopped ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:200]}) after {done / 1e6:.1f} of {total / 1e6:.1f} "
                "MB. Run it again: the files already complete are kept, the unfinished one was "
                "discarded (it is never loaded) and starts over."
            ) from error
    if progress is not None:
        progress(total, total)
    return total


def hub_reachable(timeout: float = 5.0) -> bool:
    """Return True when downloads are on (no HF_HUB_OFFLINE) and the hub answers."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        HfApi().model_info(MODELS["sd15"].repo_id, timeout=timeout)
        return True
    except Exception as error:  # no network, DNS, proxy, hub down: all "not reachable"
        log.info("the Hugging Face Hub is not reachable (%s)", type(error).__name__)
        return False


def default_image_model(device: str | None = None) -> str:
    """Return the model the app starts on with hub access: SD 1.5 on a GPU, else the fastest draft."""
    from core.pipelines import RuntimeSettings
    from core.registry import fastest_draft_model

    device = device or RuntimeSettings().resolved_device()
    return "sd15" if device.startswith("cuda") else fastest_draft_model()


def start_model(device: str | None = None) -> str | None:
    """Return the image model to start on: the device's default when downloaded, else any
    downloaded one of (SD 1.5, the fastest draft); None when neither is (offline set)."""
    from core.registry import fastest_draft_model

    preferred = default_image_model(device)
    for name in dict.fromkeys((preferred, "sd15", fastest_draft_model())):
        if is_downloaded(name):
            return name
    return None
