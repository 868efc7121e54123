"""The banner's Download button on a first run online, against the local hub over HTTP.

The app starts on the offline set with an empty Hugging Face cache and a hub that answers
(tests/test_download.py's `hub` fixture: huggingface_hub pointed at the 127.0.0.1 server):
the banner offers the CPU default (SD-Turbo); the button downloads it with progress and the
app switches to it without a restart; a failed download changes nothing.
"""

from __future__ import annotations

import shutil
from collections import namedtuple

import pytest
from test_download import UNET, hub, hub_root  # noqa: F401 — the local hub fixtures

from core.assets import download


class Progress:
    """Stands in for gr.Progress: records (fraction, description) per call."""

    def __init__(self):
        self.calls = []

    def __call__(self, fraction, desc=None):
        self.calls.append((fraction, desc))


@pytest.fixture
def first_run(hub, monkeypatch, tmp_path):  # noqa: F811
    """An app's context as app.py builds it on a CPU with downloads allowed."""
    from diffchat_ui.context import AppContext
    from diffchat_ui.settings import detect_settings

    monkeypatch.setenv("DIFFCHAT_DEVICE", "cpu")
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    return AppContext(detect_settings(offer_download=True))


def download_handler(demo):
    """The function behind the page's Download button (api_name download_model)."""
    return next(f.fn for f in demo.fns.values() if f.api_name == "download_model")


def test_the_banner_offers_the_default_model_only_when_asked_and_the_hub_answers(
    first_run, monkeypatch
):
    from diffchat_ui.settings import OFFLINE_BANNER, detect_settings

    settings = first_run.settings
    assert settings.offline and settings.download_offer == "sd-turbo"
    assert "**Download sd-turbo**" in settings.banner and "without a restart" in settings.banner
    # --no-download, --offline, and a hub that does not answer: the banner of today
    assert detect_settings().download_offer is None
    assert detect_settings(force_offline=True, offer_download=True).banner == OFFLINE_BANNER
    monkeypatch.setattr(download, "hub_reachable", lambda timeout=5.0: False)
    assert detect_settings(offer_download=True).banner == OFFLINE_BANNER
    # ...and then a model that is not here cannot be downloaded either (refused as offline)
    assert settings.hub_reachable and not detect_settings(offer_download=True).hub_reachable


def test_the_download_button_shows_progress_and_switches_the_app(first_run, hub):  # noqa: F811
    from diffchat_ui.layout import build_demo

    demo = build_demo(first_run)
    page = demo.config["components"]
    buttons = [c for c in page if c["props"].get("elem_id") == "download-model"]
    assert buttons[0]["props"]["value"] == "Download sd-turbo"
    progress = Progress()
    banner, button, model, note, steps, guidance, size = download_handler(demo)(progress)
    assert banner.startswith("**sd-turbo is downloaded.**") and button["visible"] is False
    assert progress.calls[-1][0] == 1.0 and "Downloading sd-turbo:" in progress.calls[-1][1]
    assert len(progress.calls) > 2  # a bar that moves, not only 0 and 100 %
    # the app is on sd-turbo now, as a restart would start it: its label unmarked, its settings
    settings = first_run.settings
    assert not settings.offline and settings.text2image_model == "sd-turbo"
    assert settings.banner == "" and download.is_downloaded("sd-turbo")
    assert model["value"] == "sd-turbo" and ("sd-turbo", "sd-turbo") in model["choices"]
    assert ("sd15 (not downloaded)", "sd15") in model["choices"]
    assert (steps["value"], guidance["value"]) == (1, 0.0) and note == ""
    assert [p for p in hub.downloaded() if "sd-turbo/resolve/main/unet/" in p]
    # a page opened later (its config built before the download) is put on sd-turbo at load
    on_load = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "on_load")
    banner, button, model, *_ = on_load()
    assert banner["visible"] is False and button["visible"] is False
    assert model["value"] == "sd-turbo"


def test_a_page_opened_before_another_pages_download_catches_up_on_its_timer(first_run, hub):  # noqa: F811
    from diffchat_ui.layout import build_demo

    demo = build_demo(first_run)
    from diffchat_ui.model_download import PAGE_CHECK_SECONDS

    # the download check runs from the start; the job tabs' timers only while their tab shows
    timers = [c for c in demo.config["components"] if c["type"] == "timer"]
    running = [timer for timer in timers if timer["props"]["active"]]
    assert [timer["props"]["value"] for timer in running] == [PAGE_CHECK_SECONDS]
    on_tick = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "on_tick")
    # Still offline: the page is left alone and keeps checking.
    *view, current, timer = on_tick(False)
    assert current is False and timer.active is True
    assert all(update == {"__type__": "update"} for update in view)
    download_handler(demo)(Progress())  # another page's click
    # The stale page's next tick hides the banner and its button and selects sd-turbo, once.
    banner, button, model, note, steps, guidance, size, current, timer = on_tick(False)
    assert banner["visible"] is False and button["visible"] is False
    assert model["value"] == "sd-turbo" and (steps["value"], guidance["value"]) == (1, 0.0)
    assert current is True and timer.active is False
    *view, current, timer = on_tick(True)  # a page already current is not touched again
    assert current is True and timer.active is False
    assert all(update == {"__type__": "update"} for update in view)


@pytest.mark.parametrize("failure", ["dead line", "full disk"])
def test_a_failed_download_says_why_and_changes_nothing(first_run, hub, monkeypatch, failure):  # noqa: F811
    from diffchat_ui.model_download import download_and_switch

    before = first_run.settings
    if failure == "dead line":
        hub.cut_download(UNET, after_bytes=0, times=10)  # no byte of the UNet ever arrives
        reason = "stopped"
    else:
        usage = namedtuple("usage", "total used free")
        monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
        reason = "Not enough disk space"
    text, switched = download_and_switch(first_run, "sd-turbo", Progress())
    assert not switched and "The download of sd-turbo failed" in text and reason in text
    assert "stays on the offline set" in text
    assert first_run.settings is before and first_run.settings.download_offer == "sd-turbo"
    assert not download.is_downloaded("sd-turbo")
    blobs = hub.cache / "models--stabilityai--sd-turbo" / "blobs"
    assert not list(blobs.glob("*.incomplete"))
