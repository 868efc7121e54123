"""`python app.py` stopped by a signal: SIGTERM (a service manager's, `docker stop`'s,
Spaces') runs the same clean-up as Ctrl-C, once, then the app exits (issue 11)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gradio_client")

from app_fixtures import free_port  # noqa: E402
from test_spaces_start import REPO_ROOT, wait_for  # noqa: E402

SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.mark.parametrize("stop_signal", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_removes_api_sessions_and_gradios_copies(offline_assets, tmp_path, stop_signal):
    """SIGTERM ended the process on the spot: the API client's session folders and the
    upload in Gradio's cache stayed on disk for good."""
    import httpx
    from gradio_client import Client
    from image_fixtures import small_png
    from test_app_client import send

    workspace, cache = tmp_path / "workspace", tmp_path / "gradio"
    env = dict(os.environ, DIFFCHAT_WORKSPACE=str(workspace), GRADIO_TEMP_DIR=str(cache))
    port, log = free_port(), tmp_path / "app.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--offline", "--no-download"],
            cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(url, process, log, timeout=300)
            chat, image, *_ = send(Client(url, verbose=False), "a red fox")
            assert image, chat
            upload = f"{url}/gradio_api/upload"
            [uploaded] = httpx.post(upload, files={"files": ("mine.png", small_png())}).json()
            sessions = [workspace / "public" / "sessions", workspace / "sessions"]
            assert Path(uploaded).is_file() and all(any(f.iterdir()) for f in sessions)
            process.send_signal(stop_signal)
            returncode = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    said = log.read_text()
    assert returncode == 0, said[-3000:]  # ended by its own clean-up, not by the signal
    assert said.count(f"{stop_signal.name}: shutting down") == 1, said[-3000:]
    assert not Path(uploaded).exists()  # Gradio's shutdown emptied its cache
    assert [list(folder.iterdir()) for folder in sessions] == [[], []]  # the API chat went
