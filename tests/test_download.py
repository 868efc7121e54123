"""`core.assets.download` against the local hub server: what is fetched, refusals, resuming."""

from __future__ import annotations

import shutil
from collections import namedtuple

import pytest

from core.assets import download, local_hub
from core.errors import DownloadError, UnknownModelError
from core.registry import MODELS, ModelSpec, get_model_spec

REPOS = (
    "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "stabilityai/sd-turbo",
    "SG161222/Realistic_Vision_V1.4",
)
UNET = "stabilityai/sd-turbo/unet/diffusion_pytorch_model.safetensors"
UNET_URL = "/stabilityai/sd-turbo/resolve/main/unet/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def hub_root():
    return local_hub.build_local_hub(repo_ids=REPOS)


@pytest.fixture
def hub(hub_root, tmp_path, monkeypatch):
    """The server, with huggingface_hub pointed at it and at an empty cache (in-process)."""
    from huggingface_hub import constants

    with local_hub.LocalHubServer(hub_root) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        template = server.url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
        server.cache = tmp_path / "hub"
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        # Bytes reach the .incomplete file in chunks of this size (10 MB by default, more
        # than a tiny file): small chunks let a cut leave a partial file behind.
        monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
        yield server


def fetched_weights(server) -> list[str]:
    return [p for p in server.downloaded() if p.endswith((".safetensors", ".bin"))]


def test_plan_takes_only_the_variant_safetensors_and_configs(hub):
    fp16 = {f.path for f in download.plan_download("sd15", "fp16")}
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in fp16
    assert "safety_checker/model.fp16.safetensors" in fp16
    assert "tokenizer/merges.txt" in fp16 and "scheduler/scheduler_config.json" in fp16
    assert not [p for p in fp16 if p.endswith(".bin") or p.startswith("v1-5-pruned")]
    assert "unet/diffusion_pytorch_model.safetensors" not in fp16
    fp32 = {f.path for f in download.plan_download("sd15", None)}
    assert "unet/diffusion_pytorch_model.safetensors" in fp32
    assert not [p for p in fp32 if ".fp16." in p]


def test_download_then_cached_and_loadable_offline(hub, monkeypatch):
    progress = []
    fetched = download.download_model(
        "sd-turbo", variant="", progress=lambda d, t: progress.append((d, t))
    )
    planned = download.plan_download("sd-turbo", None)
    # model_index.json was already fetched to make the plan; the rest counts.
    total = sum(f.size for f in planned if f.path != "model_index.json")
    assert fetched == total and progress[-1] == (total, total)
    assert download.is_downloaded("sd-turbo")
    assert not [p for p in fetched_weights(hub) if ".fp16." in p]
    assert download.download_model("sd-turbo", variant="") == 0  # nothing left to fetch


def test_cut_off_download_resumes_with_range(hub):
    size = (hub.root / UNET).stat().st_size
    hub.cut_download(UNET, after_bytes=size // 3, times=1)  # one cut, then the line is back
    download.download_model("sd-turbo", variant="")
    assert download.is_downloaded("sd-turbo")
    ranges = [r for m, p, r in hub.requests if m == "GET" and p == UNET_URL and r]
    assert ranges and int(ranges[0].removeprefix("bytes=").split("-")[0]) > 0


def test_dead_line_says_so_and_leaves_nothing_half_written(hub):
    size = (hub.root / UNET).stat().st_size
    # A third arrives, then no byte more: huggingface_hub's retries make no progress.
    hub.cut_download(UNET, after_bytes=size // 3, times=1)
    hub.cut_download(UNET, after_bytes=0, times=10)
    with pytest.raises(DownloadError, match="Run it again"):
        download.download_model("sd-turbo", variant="")
    assert not download.is_downloaded("sd-turbo")
    blobs = hub.cache / "models--stabilityai--sd-turbo" / "blobs"
    assert not list(blobs.glob("*.incomplete"))
    assert not list(blobs.parent.glob("snapshots/*/unet/*.safetensors"))
    hub._cuts.clear()  # the line is back: the files already complete are not fetched again
    hub.requests.clear()
    download.download_model("sd-turbo", variant="")
    assert download.is_downloaded("sd-turbo")
    assert not [p for p in fetched_weights(hub) if "text_encoder" in p]


def test_full_disk_refused_before_anything_is_fetched(hub, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DownloadError, match="Not enough disk space"):
        download.download_model("sd-turbo", variant="")
    assert fetched_weights(hub) == []


def test_unknown_hub_repo_names_the_registry(hub, monkeypatch):
    monkeypatch.setitem(MODELS, "ghost", ModelSpec("ghost", "text2image", "nobody/ghost", "none"))
    with pytest.raises(UnknownModelError, match="no repository 'nobody/ghost'.*sd15"):
        download.plan_download("ghost")
    with pytest.raises(UnknownModelError, match="Valid names: sd15"):
        download.plan_download("no-such-model")


def test_pickled_only_repo_refused(hub, monkeypatch):
    # Realistic Vision's diffusers folders hold .bin weights only (its single file is safe).
    spec = ModelSpec("rv-folders", "text2image", "SG161222/Realistic_Vision_V1.4", "folders")
    monkeypatch.setitem(MODELS, "rv-folders", spec)
    with pytest.raises(DownloadError, match="only as pickled"):
        download.plan_download("rv-folders")
    assert [f.path for f in download.plan_download("realistic-vision")][
        0
    ] == "Realistic_Vision_V1.4.safetensors"


def test_offline_download_refused(hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE"):
        download.download_model("sd-turbo")
    assert not download.hub_reachable()


def test_custom_folder_neither_diffusers_nor_single_file(tmp_path):
    (tmp_path / "a.safetensors").write_bytes(b"")
    (tmp_path / "b.safetensors").write_bytes(b"")
    with pytest.raises(UnknownModelError, match="neither a diffusers pipeline"):
        get_model_spec(str(tmp_path))
    (tmp_path / "b.safetensors").unlink()
    assert get_model_spec(str(tmp_path)).single_file == "a.safetensors"


def test_cpu_default_is_the_fastest_few_step_model():
    assert download.default_image_model("cpu") == "sd-turbo"
    assert download.default_image_model("cuda") == "sd15"
