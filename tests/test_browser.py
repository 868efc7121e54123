"""A real browser (Debian's Chromium through Playwright) runs one chat turn in the app."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot-create.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: run scripts/install-browser.sh (apt package chromium)",
    ),
]


@pytest.fixture
def app_url(offline_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import CSS, build_demo, queue
    from diffchat_ui.settings import detect_settings

    demo = queue(build_demo(AppContext(detect_settings(force_offline=True))), 2)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, css=CSS)
    yield url
    demo.close()


def test_one_chat_turn_in_chromium(app_url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(app_url)
        sync_api.expect(page.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
        page.locator("#instruction textarea").fill("a red fox in a snowy forest, oil painting")
        page.locator("#send").click()
        image = page.locator("#current-image img")
        sync_api.expect(image).to_be_visible(timeout=120_000)
        sync_api.expect(page.locator("#prompt-diff")).to_contain_text("a red fox in a snowy forest")
        sync_api.expect(page.locator("#chat")).to_contain_text("a red fox in a snowy forest")
        assert image.evaluate("img => img.naturalWidth") > 0
        page.screenshot(path=str(tmp_path / "create.png"), full_page=True)
        browser.close()
    assert (tmp_path / "create.png").stat().st_size > 10_000
    if os.environ.get("DIFFCHAT_UPDATE_SCREENSHOT"):
        shutil.copy(tmp_path / "create.png", SCREENSHOT)
