"""A real browser (Debian's Chromium through Playwright) drives the app on the offline set.

One app and one browser for the whole module (each launch takes seconds); each test opens its
own page, i.e. its own browser session. `DIFFCHAT_UPDATE_SCREENSHOT=1` refreshes the Create
tab screenshots in docs/.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from app_fixtures import local_launch_options

CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"
SCREENSHOT = DOCS / "screenshot-create.png"
SCREENSHOT_MID_TURN = DOCS / "screenshot-create-mid-turn.png"
SCREENSHOT_SECOND_TURN = DOCS / "screenshot-create-second-turn.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: run scripts/install-browser.sh (apt package chromium)",
    ),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("workspace")
        patch.setenv("DIFFCHAT_WORKSPACE", str(path))
        yield path


@pytest.fixture(scope="module")
def app_url(offline_assets, workspace):
    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import build_demo, launch_options, queue
    from diffchat_ui.settings import detect_settings

    context = AppContext(detect_settings(force_offline=True))
    demo = queue(build_demo(context), 2)
    # the page fixture waits for the page itself
    _, url, _ = demo.launch(**local_launch_options(), **launch_options(context))
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(app_url, timeout=120_000)  # a loaded 2-core machine serves the page slowly
    expect(page.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    _wait_for_session_secret(page)
    yield page
    context.close()


def _wait_for_session_secret(page):
    # The page load hands this browser its session secret (gr.BrowserState, localStorage);
    # a message sent before that is refused.
    from diffchat_ui.sessions import BROWSER_STORAGE_KEY

    page.wait_for_function(
        f"() => window.localStorage.getItem({BROWSER_STORAGE_KEY!r}) !== null", timeout=30_000
    )


def _settings(page):
    page.get_by_text("Settings", exact=True).first.click()


def test_a_turn_is_live_and_leaves_the_chat_readable(page, tmp_path):
    from playwright.sync_api import expect

    from core import pipelines

    pipelines.unload()  # as on a fresh start: the first turn loads its model
    red = re.compile(r"\bstop\b")  # the class of Gradio's red "stop" variant
    expect(page.locator("#stop")).to_be_disabled()  # greyed out while idle
    expect(page.locator("#stop")).not_to_have_class(red)
    expect(page.locator("#chat")).to_contain_text("Describe the picture you want")
    box = page.locator("#instruction textarea")
    box.fill("a red fox in a snowy forest, oil painting")
    expect(page.locator("#counter")).to_contain_text("41 / 1000")
    page.locator("#send").click()
    # at once: the message is in the chat, the box is empty, Stop can be pressed
    expect(page.locator("#chat")).to_contain_text("a red fox in a snowy forest", timeout=5_000)
    expect(box).to_have_value("")
    expect(page.locator("#stop")).to_be_enabled()
    expect(page.locator("#stop")).to_have_class(red)
    # the progress over the image names the phase (the model load, then the steps)...
    progress = page.locator("#current-image .wrap")
    expect(progress).to_contain_text(re.compile("loading tiny-sd|denoising"), timeout=120_000)
    # ...by its words alone (a phase without steps read "loading tiny-sd - 0.0%"), with no
    # empty-image icon under them
    shown = _progress_shown(page)
    assert shown["words"] in ('"loading tiny-sd"', '"denoising"'), shown
    assert "%" not in shown["text"] and not shown["icon"], shown
    page.screenshot(path=str(tmp_path / "mid-turn.png"), full_page=True)
    # ...and covers nothing else
    assert {name: _shown_overlays(page, name) for name in UNCOVERED} == dict.fromkeys(UNCOVERED, 0)
    image = page.locator("#current-image img")
    expect(image).to_be_visible(timeout=600_000)  # a loaded 2-core machine: up to 5 min seen
    expect(page.locator("#prompt-diff")).to_contain_text("a red fox in a snowy forest")
    legend = page.locator("#prompt-diff [data-testid='highlighted-text:category-legend']")
    expect(legend).to_have_count(0)  # a first prompt has no changed words to explain
    expect(page.locator("#chat")).to_contain_text("text to image")
    expect(page.locator("#turn-tree")).to_contain_text("← current")
    expect(page.locator("#stop")).to_be_disabled()
    # one user alone never waits for "other people's images"
    assert "other people" not in page.locator("body").inner_text()
    expect(page.locator("#stop")).not_to_have_class(red)
    assert image.evaluate("img => img.naturalWidth") > 0

    # a hand-edited prompt renders as a new turn
    hand = page.locator("#hand-prompt textarea")
    expect(hand).to_have_value("a red fox in a snowy forest, oil painting")
    hand.fill("a red fox in a snowy forest at night, oil painting")
    expect(page.locator("#token-count")).to_contain_text("/ 75 CLIP tokens")
    page.locator("#render-prompt").click()
    expect(page.locator("#chat")).to_contain_text("edited by hand", timeout=600_000)
    expect(page.locator("#turns img")).to_have_count(2, timeout=30_000)
    expect(legend).to_contain_text("added")  # now "at night" is marked
    expect(page.locator("#stop")).not_to_have_class(red)
    # the screenshot shows Stop grey, not mid-way through its colour's transition
    page.wait_for_function("() => document.querySelector('#stop').getAnimations().length === 0")
    page.screenshot(path=str(tmp_path / "create.png"), full_page=True)
    assert (tmp_path / "create.png").stat().st_size > 10_000
    if os.environ.get("DIFFCHAT_UPDATE_SCREENSHOT"):
        shutil.copy(tmp_path / "create.png", SCREENSHOT)
        shutil.copy(tmp_path / "mid-turn.png", SCREENSHOT_MID_TURN)

    # a reload finds the chat, the gallery and the tree as they were
    page.reload()
    expect(page.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    expect(page.locator("#chat")).to_contain_text("edited by hand", timeout=30_000)
    expect(page.locator("#turns img")).to_have_count(2, timeout=30_000)
    expect(page.locator("#turn-tree")).to_contain_text("(edited by hand)")

    # New session asks first, then keeps this chat under Past sessions, from where it reopens
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="New session").click()
    expect(page.locator("#turns img")).to_have_count(0, timeout=30_000)
    expect(page.locator("#chat")).to_contain_text("Describe the picture you want")
    page.get_by_text("Past sessions", exact=True).click()
    page.locator("#past-sessions input").click()
    page.get_by_role("option", name="a red fox in a snowy forest").click()
    page.locator("#reopen").click()
    expect(page.locator("#turns img")).to_have_count(2, timeout=30_000)
    expect(page.locator("#chat")).to_contain_text("Reopened this chat.")


def test_only_the_sliders_of_the_edit_mode_are_visible(page):
    from playwright.sync_api import expect

    # before the first turn the prompt diff shows no "added / removed" legend either (the
    # legend is drawn with the text field, and the session's load has filled the chat)
    expect(page.locator("#chat")).to_contain_text("Describe the picture you want")
    expect(page.locator("#prompt-diff .textfield")).to_be_attached()
    assert (
        page.locator("#prompt-diff [data-testid='highlighted-text:category-legend']").count() == 0
    )
    _settings(page)
    strength, s_i = page.locator("#strength"), page.locator("#s-i")
    custom = page.get_by_label("Custom model (folder or id)")
    expect(page.locator("#guidance")).to_be_visible()
    expect(strength).to_be_hidden()
    expect(s_i).to_be_hidden()
    expect(custom).to_be_hidden()
    page.locator("#edit-mode").get_by_text("keep composition").click()
    expect(strength).to_be_visible()
    expect(s_i).to_be_hidden()
    page.locator("#edit-mode").get_by_text("InstructPix2Pix").click()
    expect(s_i).to_be_visible()
    expect(strength).to_be_hidden()
    expect(page.locator("#guidance")).to_contain_text("s_T")


def test_the_prompt_diff_breaks_lines_between_words(page):
    """A highlighted run longer than the line broke inside a word ("highly detai|led"):
    Gradio lays the diff's segments out as flex items with word-break: break-all."""
    from playwright.sync_api import expect

    _first_turn(page, "a cabin in spring, watercolor")
    added = (
        "snow covered pine trees under a pale morning sky with drifting snowflakes and frozen "
        "lake reflections, soft diffuse light, highly detailed, intricate wooden textures, "
        "warm glowing windows, smoke rising from the chimney, distant mountains"
    )
    page.locator("#hand-prompt textarea").fill(f"a cabin in winter, watercolor, {added}")
    page.locator("#render-prompt").click()
    expect(page.locator("#turns img")).to_have_count(2, timeout=600_000)
    diff = page.locator("#prompt-diff .textfield")
    expect(diff).to_contain_text("distant mountains")
    run = page.locator("#prompt-diff .token.highlighted", has_text="snow covered")
    assert len(run.evaluate("span => [...span.getClientRects()]")) > 1  # it spans lines
    assert _words_split_across_lines(diff) == []


def test_a_model_that_cannot_run_offline_is_marked_and_refused_at_once(page):
    from playwright.sync_api import expect

    _settings(page)
    # a Gradio 6 dropdown: click its input, then the option in the listbox
    page.get_by_role("combobox", name="Image model").click()
    page.get_by_role("option", name="sd15 (not downloaded, offline)", exact=True).click()
    note = page.locator("#model-note")
    expect(note).to_contain_text("The image model sd15 is not downloaded and this app runs offline")
    box = page.locator("#instruction textarea")
    box.fill("a red fox in a snowy forest")
    page.locator("#send").click()
    chat = page.locator("#chat")
    expect(chat).to_contain_text("sd15 is not downloaded and this app runs offline")
    expect(box).to_have_value("a red fox in a snowy forest")  # kept, to send with another model
    expect(page.locator("#turn-tree")).to_contain_text("No turns yet.")
    expect(page.locator("#current-image img")).to_have_count(0)


def test_new_session_after_an_image_start_starts_from_text(page, tmp_path):
    """New session after a chat started from an upload kept "start from my image" and the old
    upload, so the new chat's first message described the last chat's picture."""
    from PIL import Image
    from playwright.sync_api import expect

    Image.new("RGB", (96, 64), (200, 120, 40)).save(tmp_path / "mine.png")
    start = page.locator("#start-mode")
    start.get_by_text("start from my image").click()
    page.locator("#start-image input[type=file]").set_input_files(str(tmp_path / "mine.png"))
    expect(page.locator("#upload-preview img")).to_be_visible(timeout=30_000)
    page.locator("#instruction textarea").fill("an orange card")
    page.locator("#send").click()
    expect(page.locator("#chat")).to_contain_text("Got your image", timeout=60_000)
    expect(start).to_be_hidden()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="New session").click()
    expect(page.locator("#chat")).to_contain_text("Describe the picture you want", timeout=30_000)
    expect(start).to_be_visible()
    expect(start.get_by_label("start from text")).to_be_checked()
    expect(page.locator("#start-image")).to_be_hidden()
    # choosing an image start again offers an empty upload box, not the last chat's picture
    start.get_by_text("start from my image").click()
    expect(page.locator("#start-image")).to_be_visible()
    expect(page.locator("#start-image")).not_to_contain_text("mine.png")
    expect(page.locator("#upload-preview img")).to_have_count(0)


def test_the_stop_buttons_of_the_job_tabs_look_inactive_while_idle(page):
    """They were the red Stop, pressable, while nothing ran (the Create tab's is greyed)."""
    from playwright.sync_api import expect

    for tab in ("Compare", "Evaluate", "Train"):
        page.get_by_role("tab", name=tab).click()
        stop = page.locator(f"#{tab.lower()}-stop")
        expect(stop).to_be_enabled()  # a job started before a reload can still be stopped
        expect(stop).not_to_have_class(re.compile(r"\bstop\b"))  # not the red variant
    # a run refused before it starts leaves it so
    page.get_by_role("tab", name="Evaluate").click()
    page.get_by_label("Data file (shipped sample or inside the workspace)").fill("/etc/passwd")
    page.get_by_role("button", name="Run evaluation").click()
    expect(page.locator("#evaluation-status")).to_contain_text("⚠️", timeout=30_000)
    expect(page.locator("#evaluate-stop")).not_to_have_class(re.compile(r"\bstop\b"))
    expect(page.get_by_role("button", name="Run evaluation")).to_be_enabled()


@pytest.mark.slow  # an evaluation child process: it loads torch before Stop can end it
def test_a_reloaded_page_shows_its_browsers_running_evaluation(page, browser, app_url):
    """A page reloaded while its evaluation ran showed a grey Stop, an enabled Run and an
    empty status, as if nothing ran. It shows the run to its end; another browser does not."""
    from playwright.sync_api import expect

    page.set_default_timeout(120_000)
    red = re.compile(r"\bstop\b")
    status, stop = page.locator("#evaluation-status"), page.locator("#evaluate-stop")
    run = page.get_by_role("button", name="Run evaluation")
    page.get_by_role("tab", name="Evaluate").click()
    page.get_by_label("Limit (rows)").fill("")  # all 1,500 rows: it runs until Stop
    run.click()
    expect(status).to_contain_text("Running")
    page.reload()
    expect(page.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Evaluate").click()
    expect(status).to_contain_text("Running")
    expect(stop).to_have_class(red)
    expect(run).to_be_disabled()

    other = browser.new_context(viewport={"width": 1280, "height": 1000})
    stranger = other.new_page()
    stranger.goto(app_url, timeout=120_000)
    expect(stranger.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    _wait_for_session_secret(stranger)
    stranger.get_by_role("tab", name="Evaluate").click()
    stranger.wait_for_timeout(2_000)  # the page load's events have come back
    expect(stranger.locator("#evaluation-status")).not_to_contain_text("Running")
    expect(stranger.locator("#evaluate-stop")).not_to_have_class(red)
    expect(stranger.get_by_role("button", name="Run evaluation")).to_be_enabled()
    other.close()

    stop.click()
    expect(status).to_contain_text("Stopped", timeout=240_000)
    expect(stop).not_to_have_class(red)
    expect(run).to_be_enabled()


@pytest.fixture
def comparison_until_stop(monkeypatch):
    """A Compare run that says it renders its first picture, then waits for Stop."""
    from core.errors import GenerationCancelled
    from diffchat_ui import compare_tab

    def long_comparison(plan, out_root, progress, cancel_event, *_):  # renders until Stop
        progress(1, 3, "raw image on tiny-sd (1 of 3)")
        cancel_event.wait(120)
        raise GenerationCancelled("Stopped.")

    monkeypatch.setattr(compare_tab, "run_comparison", long_comparison)


def test_a_reloaded_page_shows_its_browsers_running_comparison(page, comparison_until_stop):
    """A page reloaded while its comparison rendered showed a grey Stop, an enabled Compare
    button and an empty form, as if nothing ran (the Evaluate and Train tabs picked their
    runs up). It shows the comparison going, with its form, and Stop ends it."""
    from playwright.sync_api import expect

    red = re.compile(r"\bstop\b")
    stop, run = (
        page.locator("#compare-stop"),
        page.get_by_role("button", name="Compare", exact=True),
    )
    raw_prompt = page.get_by_role("textbox", name="Raw prompt")
    page.get_by_role("tab", name="Compare").click()
    raw_prompt.fill("a windmill at dusk")
    page.get_by_role("textbox", name="Instruction", exact=True).fill("make it winter")
    run.click()
    expect(page.get_by_text("raw image on tiny-sd (1 of 3)").first).to_be_visible(timeout=60_000)
    page.reload()
    expect(page.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Compare").click()
    expect(page.get_by_text("Running: raw image on tiny-sd (1 of 3)")).to_be_visible(timeout=30_000)
    expect(stop).to_have_class(red)
    expect(run).to_be_disabled()
    expect(raw_prompt).to_have_value("a windmill at dusk")  # the form it started from
    stop.click()
    expect(page.get_by_text("⏹ Stopped.")).to_be_visible(timeout=30_000)
    expect(stop).not_to_have_class(red)
    expect(run).to_be_enabled()


def test_a_page_open_before_its_browsers_comparison_started_shows_it(page, comparison_until_stop):
    """A second page of the browser, showing the Compare tab before the first page started
    a comparison, kept a grey Stop and an enabled Compare button (only a reload or opening
    the tab again rejoined it). It picks the comparison up within a few seconds; idle, its
    check is one unqueued call every few seconds while a job tab shows, none elsewhere."""
    from playwright.sync_api import expect

    from diffchat_ui.tab_stop import JOB_CHECK_SECONDS

    red = re.compile(r"\bstop\b")
    second = page.context.new_page()  # same browser: same session secret
    second.goto(page.url, timeout=120_000)
    expect(second.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    second.get_by_role("tab", name="Compare").click()
    page.get_by_role("tab", name="Compare").click()
    second.wait_for_timeout(2_000)  # the page load's and the tab's own events have come back
    calls = []
    second.on("request", lambda request: calls.append(request.url))

    second.wait_for_timeout(3 * JOB_CHECK_SECONDS * 1000)  # idle on the Compare tab
    assert not [url for url in calls if "/queue/" in url], calls  # nothing queued
    assert 2 <= len([url for url in calls if url.endswith("/run/predict")]) <= 6, calls

    page.get_by_role("textbox", name="Raw prompt").fill("a windmill at dusk")
    page.get_by_role("textbox", name="Instruction", exact=True).fill("make it winter")
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.locator("#compare-stop")).to_have_class(red)
    stop, run = (
        second.locator("#compare-stop"),
        second.get_by_role("button", name="Compare", exact=True),
    )
    timeout = (JOB_CHECK_SECONDS + 20) * 1000  # a tick, then the follower's first update
    expect(second.get_by_text("Running: raw image on tiny-sd (1 of 3)")).to_be_visible(
        timeout=timeout
    )
    expect(stop).to_have_class(red)
    expect(run).to_be_disabled()
    expect(second.get_by_role("textbox", name="Raw prompt")).to_have_value("a windmill at dusk")
    stop.click()  # the second page stops it; both pages go idle
    for shown in (page, second):
        expect(shown.get_by_text("⏹ Stopped.")).to_be_visible(timeout=30_000)
        expect(shown.locator("#compare-stop")).not_to_have_class(red)
        expect(shown.get_by_role("button", name="Compare", exact=True)).to_be_enabled()

    second.get_by_role("tab", name="Create").click()  # the check stops with the tab
    second.wait_for_timeout(1_000)
    calls.clear()
    second.wait_for_timeout(3 * JOB_CHECK_SECONDS * 1000)
    assert calls == []
    second.close()


def test_evaluation_plots_render_as_images(page, workspace):
    import matplotlib
    from playwright.sync_api import expect

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = workspace / "evaluations" / "finished"
    out.mkdir(parents=True)
    figure, axes = plt.subplots(figsize=(3, 2))
    axes.plot([1, 2, 3], [3, 1, 2])
    figure.savefig(out / "distributions.png")
    plt.close(figure)
    (out / "summary.md").write_text(
        "| method | CI |\n| --- | --- |\n| append | 85.0 |\n\n![distributions.png](distributions.png)\n"
    )
    page.get_by_role("tab", name="Evaluate").click()
    page.get_by_label("Output folder in the workspace").fill(str(out))
    page.get_by_role("button", name="Show the results of the output folder").click()
    expect(page.locator("#evaluation-summary")).to_contain_text("append")
    expect(page.locator("#evaluation-summary")).not_to_contain_text("![")
    plot = page.locator("#evaluation-plots img").first
    expect(plot).to_be_visible(timeout=30_000)
    deadline = time.time() + 10
    while plot.evaluate("img => img.naturalWidth") == 0 and time.time() < deadline:
        time.sleep(0.2)
    assert plot.evaluate("img => img.naturalWidth") > 0


def test_vote_candidates_show_their_captions(page, workspace):
    """The Compare gallery hid its captions under a fixed height; the Vote gallery's 280 px
    hold one row of four, the most candidates a comparison has (a fifth would not fit)."""
    import json

    from PIL import Image
    from playwright.sync_api import expect

    # the most candidates a Compare run makes: two rewriters, InstructPix2Pix, best-of-N
    methods = ["append", "diffchat", "instructpix2pix", "best-of-4"]
    folder = workspace / "comparisons" / "browser-vote"
    folder.mkdir(parents=True)
    for index, name in enumerate(["raw", *methods]):
        Image.new("RGB", (64, 64), (40 * index, 90, 160)).save(folder / f"{name}.png")
    candidates = [
        {"method": m, "prompt": m, "image": f"{m}.png", "scores": {}, "error": ""} for m in methods
    ]
    (folder / "comparison.json").write_text(
        json.dumps(
            {
                "id": folder.name,
                "model": "tiny-sd",
                "raw_prompt": "a cat in the vote test",
                "instruction": "make it night",
                "raw_image": "raw.png",
                "candidates": candidates,
            }
        )
    )
    page.get_by_role("tab", name="Vote").click()
    gallery = page.locator("#vote-candidates")
    instruction = page.get_by_text("Raw prompt: a cat in the vote test")
    # a ballot loads when the tab opens; other tests' comparisons may come first
    expect(gallery.locator(".caption-label").first).to_be_visible(timeout=30_000)
    for _ in range(10):
        if instruction.count():
            break
        page.get_by_role("button", name="Next comparison").click()
        page.wait_for_timeout(2_000)
    expect(instruction).to_be_visible()
    for letter in "ABCD":
        expect(gallery.locator(".caption-label", has_text=f"Candidate {letter}")).to_be_visible()
    assert _captions_below_the_gallery(gallery) == 0, "captions lie below the visible part"


def _words_split_across_lines(cells) -> list[str]:
    """Return the words of the cells' text that the browser broke over two lines."""
    return cells.evaluate_all(
        r"""cells => cells.flatMap(cell => {
          const split = [];
          const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
          for (let node; (node = walker.nextNode());) {
            for (const word of node.data.matchAll(/\S+/g)) {
              const range = document.createRange();
              range.setStart(node, word.index);
              range.setEnd(node, word.index + word[0].length);
              const tops = [...range.getClientRects()].filter(r => r.width > 0)
                .map(r => Math.round(r.top));
              if (new Set(tops).size > 1) split.push(word[0]);
            }
          }
          return split;
        })"""
    )


def _captions_below_the_gallery(gallery) -> int:
    """Return how many of a gallery's captions lie below its visible part (a fixed height
    scrolls them out of sight)."""
    return gallery.evaluate(
        """gallery => {
          const box = gallery.querySelector('.grid-wrap').getBoundingClientRect();
          return [...gallery.querySelectorAll('.caption-label')]
            .filter(c => c.getBoundingClientRect().bottom > box.bottom + 1).length;
        }"""
    )


@pytest.mark.slow  # three renders and the tiny scorers on the loaded 2-core machine
def test_compare_names_the_running_method_and_its_table_fits(page, tmp_path):
    from playwright.sync_api import expect

    page.set_default_timeout(120_000)
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("textbox", name="Raw prompt").fill("a cabin in the woods, watercolor")
    page.get_by_role("textbox", name="Instruction", exact=True).fill("make it autumn")
    rewriter = page.get_by_role("combobox", name="DiffChat rewriter", exact=True)
    rewriter.fill("append")  # quick; the offline SmolLM2 rewriter runs in the Create tests
    rewriter.press("Enter")
    page.get_by_role("combobox", name="Chat LLM (OpenAI-compatible or local)").click()
    page.get_by_role("option", name="(none)").click()
    page.get_by_role("button", name="Compare", exact=True).click()
    # while it runs its Stop is the red one, and the Compare button cannot start it twice
    stop = page.locator("#compare-stop")
    expect(stop).to_be_enabled()
    expect(stop).to_have_class(re.compile(r"\bstop\b"))
    expect(page.get_by_role("button", name="Compare", exact=True)).to_be_disabled()
    # the progress names what renders: raw image, append, instructpix2pix (3 renders)
    running = re.compile(r"(raw image|append|instructpix2pix) on tiny-sd \(\d of 3\)")
    expect(page.get_by_text(running).first).to_be_visible(timeout=300_000)
    expect(page.get_by_text("Done: 1 model(s).")).to_be_visible(timeout=600_000)
    expect(stop).not_to_have_class(re.compile(r"\bstop\b"))  # idle again: grey
    table = page.locator("#compare-table")
    expect(table).to_contain_text("append")
    expect(table).to_contain_text("instructpix2pix")
    expect(table).to_contain_text("content_integrity (0-100)")  # the scale in the header
    # the headers wrap between words, never inside one ("pickscor|e"), and at this width
    # every score column is in sight (the prompts wrap instead)
    headers = table.locator(".header-table thead .header-cell")
    assert _words_split_across_lines(headers) == []
    last, block = headers.last.bounding_box(), table.bounding_box()
    assert last["x"] + last["width"] <= block["x"] + block["width"] + 1, (last, block)
    # each picture's caption names its method, in sight without scrolling the gallery
    gallery = page.locator("#compare-gallery")
    for caption in ("raw · tiny-sd", "append · tiny-sd", "instructpix2pix · tiny-sd"):
        expect(gallery.locator(".caption-label", has_text=caption)).to_be_visible()
    hidden = _captions_below_the_gallery(gallery)
    assert hidden == 0, f"{hidden} captions lie below the gallery's visible part"
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    # the table stays inside its column (wrapping or scrolling inside), the page does not
    # scroll sideways
    sizes = table.evaluate(
        """block => ({right: block.getBoundingClientRect().right,
                      page: document.documentElement.clientWidth,
                      scroll: document.documentElement.scrollWidth})"""
    )
    assert sizes["right"] <= sizes["page"] and sizes["scroll"] <= sizes["page"], sizes


@pytest.mark.slow  # a training child process: model load and steps, about a minute here
def test_train_curve_is_visible_during_a_run(page, workspace, tmp_path):
    from PIL import Image
    from playwright.sync_api import expect
    from train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl

    # Every step may wait long: the run's child process shares the 2 cores with the browser
    # (on a busy machine a click or a screenshot took over the default 30 s).
    page.set_default_timeout(120_000)
    # user-set paths must lie inside the workspace
    base = save_tiny_llama(workspace / "tiny-llama")
    data = write_triplets_jsonl(workspace / "train.jsonl", tiny_triplets(8))
    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Base model (registry name, folder or id)").fill(str(base))
    page.get_by_label("Data file").fill(str(data))
    page.get_by_label("Output folder (inside the workspace").fill(
        str(workspace / "train-runs" / "browser-sft")
    )
    page.get_by_role("button", name="Quick run on this CPU").click()
    # a run long enough to watch: max_steps 30 -> 100000 in the table (Stop ends it)
    cell = page.locator("#train-options").get_by_text("30", exact=True).first
    # select, then Enter opens the editor (a double click landed on another row: the first
    # click scrolls the long table)
    cell.click()
    page.keyboard.press("Enter")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("100000")
    page.keyboard.press("Enter")
    expect(page.locator("#train-options")).to_contain_text("100000")
    output_box = page.get_by_label("Output folder (inside the workspace")
    started_in = output_box.input_value()  # the quick preset's folder
    page.get_by_role("button", name="Start").click()
    # the child loads torch and the model first: slow when other work shares the 2 cores
    expect(page.locator("#train-status")).to_contain_text("Running", timeout=240_000)
    expect(page.locator("#train-stop")).to_be_enabled()  # the red Stop only while it runs
    # the curve draws while the run goes on, not hidden under a progress overlay
    curve = page.locator("#train-curves canvas, #train-curves svg").first
    expect(curve).to_be_visible(timeout=240_000)
    log = page.locator("#train-log textarea")
    expect(log).to_be_visible()
    # the live log, not an empty box ("Running" shows at once, before the child's first line)
    expect(log).not_to_have_value("", timeout=240_000)
    assert "Running" in page.locator("#train-status").inner_text()
    # the run's progress sits on the status line, over neither the log nor the curve
    assert _shown_overlays(page, "train-log") == 0
    assert _shown_overlays(page, "train-curves") == 0
    # the legend names the curves
    legend = page.locator("#train-curves [aria-label*='legend titled']")
    expect(legend).to_have_attribute(
        "aria-label", re.compile("titled 'curve'.*loss"), timeout=240_000
    )
    # the curve's own pixels: axes, ticks and a line in more than a handful of colours
    page.locator("#train-curves").screenshot(path=str(tmp_path / "train.png"))
    with Image.open(tmp_path / "train.png") as shot:
        colours = shot.convert("RGB").getcolors(1 << 16)  # None: more than that many
    assert colours is None or len(colours) > 8
    # a reload mid-run finds the run going: its status, log and curve, the red Stop
    page.reload()
    expect(page.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-status")).to_contain_text("Running")
    expect(page.locator("#train-stop")).to_have_class(re.compile(r"\bstop\b"))
    expect(page.get_by_role("button", name="Start")).to_be_disabled()
    expect(log).not_to_have_value("")
    expect(legend).to_have_attribute(
        "aria-label", re.compile("titled 'curve'.*loss"), timeout=240_000
    )
    # ...and the form the run started from, so Resume goes on from its folder and options
    expect(output_box).to_have_value(started_in)
    expect(page.locator("#train-options")).to_contain_text("100000")
    expect(page.locator("#train-options")).to_contain_text("(quick run on this CPU)")
    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("Stopped", timeout=240_000)
    expect(page.locator("#train-stop")).not_to_have_class(re.compile(r"\bstop\b"))
    first_run = _drawn_steps(page)
    assert len(first_run) > 1, first_run

    # Resume continues from the checkpoint Stop saved, and the curve keeps the first run's
    # steps (it reads the whole metrics file), not only the new ones
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#train-status")).to_contain_text("Running", timeout=240_000)
    _wait_until(
        lambda: max(_drawn_steps(page), default=0) > max(first_run), 240, "the resumed run's steps"
    )
    resumed = _drawn_steps(page)
    assert min(resumed) == min(first_run), (first_run[:3], resumed[:3])
    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("Stopped", timeout=240_000)


def _drawn_steps(page) -> list[float]:
    """Return the steps the Train curve draws, from the labels Vega gives each point
    ("step: 12; value: 0.53; metric: loss")."""
    labels = page.locator("#train-curves [aria-label^='step: ']").evaluate_all(
        "marks => marks.map(mark => mark.getAttribute('aria-label'))"
    )
    return sorted(
        {float(label.split(";")[0][len("step: ") :].replace(",", "")) for label in labels}
    )


def _wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.time() + timeout_s
    while not condition():
        assert time.time() < deadline, f"waited {timeout_s} s for {what}"
        time.sleep(0.5)


@pytest.mark.slow  # two turns and a reload on the loaded 2-core machine: minutes here
def test_a_gone_image_is_said_in_the_chat_without_error_badges(page, workspace):
    from playwright.sync_api import expect

    page.set_default_timeout(120_000)
    sessions = workspace / "public" / "sessions"
    before = {folder.name for folder in sessions.iterdir()}
    _first_turn(page, "a lighthouse on a cliff, watercolor")
    turns, chat, tree = (
        page.locator("#turns img"),
        page.locator("#chat"),
        page.locator("#turn-tree"),
    )
    page.locator("#hand-prompt textarea").fill("a lighthouse on a cliff at night, watercolor")
    page.locator("#render-prompt").click()
    expect(turns).to_have_count(2, timeout=600_000)
    # another process deletes the current turn's image (what happened with /tmp)
    (mine,) = (folder for folder in sessions.iterdir() if folder.name not in before)
    (second,) = mine.glob("turn-002*.png")
    second.unlink()
    page.reload()
    expect(page.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    expect(chat).to_contain_text("this image is gone", timeout=30_000)
    expect(tree).to_contain_text("#2 rewrite: (edited by hand) (image gone)")
    expect(turns).to_have_count(1)  # the gallery holds the images that are there
    # an edit of the gone turn is refused in the chat, offering the turn to branch from
    page.locator("#instruction textarea").fill("make it foggy")
    page.locator("#send").click()
    expect(chat).to_contain_text(
        "The image of turn #2 is gone (the file of its image). Start a new branch from turn #1?",
        timeout=60_000,
    )
    expect(page.locator("#current-image img")).to_have_count(0)
    # taking the offer: click turn #1 in the gallery, and the next turn branches from it
    turns.first.click()
    expect(tree).to_contain_text(re.compile(r"#1 text to image: .*← current"))
    page.locator("#hand-prompt textarea").fill("a lighthouse on a cliff in fog, watercolor")
    page.locator("#render-prompt").click()
    expect(turns).to_have_count(2, timeout=600_000)
    expect(page.locator("#turns")).to_contain_text("#3 (from #1)")
    expect(tree).to_contain_text(re.compile(r"#3 rewrite: \(edited by hand\)\s*← current"))
    expect(page.locator("#current-image img")).to_be_visible()
    expect(page.get_by_text("Error", exact=True)).to_have_count(0)


def _first_turn(page, text):
    from playwright.sync_api import expect

    page.locator("#instruction textarea").fill(text)
    page.locator("#send").click()
    expect(page.locator("#turns img")).to_have_count(1, timeout=600_000)
    expect(page.locator("#stop")).to_be_disabled()


def _colours_of_the_image_top(page, path):
    """Screenshot the top quarter of the picture drawn in #current-image (its middle third
    across, clear of the frame's border and of the progress text in the middle) and return
    how many colours it has."""
    from PIL import Image

    box = page.locator("#current-image img").evaluate(
        """img => {
          const r = img.getBoundingClientRect();
          const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
          const w = img.naturalWidth * s, h = img.naturalHeight * s;
          const left = r.left + (r.width - w) / 2, top = r.top + (r.height - h) / 2;
          return {x: left + w / 3, y: top + 4, width: w / 3, height: h / 4};
        }"""
    )
    page.screenshot(path=str(path), clip=box)
    with Image.open(path) as shot:
        colours = shot.convert("RGB").getcolors(1 << 16)  # None: more than that many
    return 1 << 16 if colours is None else len(colours)


UNCOVERED = ("chat", "prompt-diff", "hand-prompt", "turns", "turn-tree")


def _progress_shown(page) -> dict:
    """Return what the progress over the current image shows, read at one moment while it is
    there: `text` (the overlay's visible text), `words` (the phase's words drawn from the
    bar's label, as CSS resolves them) and `icon` (whether the empty image's icon shows)."""
    return page.wait_for_function(
        """() => {
          const block = document.querySelector('#current-image');
          const bar = block.querySelector('.progress-bar-wrap');
          if (!bar) return null;
          const icon = block.querySelector('.empty .icon');
          return {text: block.querySelector('.wrap').innerText,
                  words: getComputedStyle(bar, '::before').content,
                  icon: icon !== null && getComputedStyle(icon).visibility !== 'hidden'};
        }""",
        timeout=120_000,
    ).json_value()


def _shown_overlays(page, elem_id):
    """Return how many of the element's progress overlays are on screen (Gradio keeps an
    idle one in the page at opacity 0)."""
    return page.locator(f"#{elem_id} .wrap.default").evaluate_all(
        "wraps => wraps.filter(w => getComputedStyle(w).opacity !== '0' && w.offsetWidth).length"
    )


@pytest.mark.slow  # two turns on the loaded 2-core machine: minutes here
def test_the_previous_image_shows_through_the_progress_of_the_next_turn(page, tmp_path):
    from playwright.sync_api import expect

    page.set_default_timeout(120_000)
    _first_turn(page, "a red fox in a snowy forest, oil painting")
    image = page.locator("#current-image img")
    first = image.get_attribute("src")
    assert _colours_of_the_image_top(page, tmp_path / "before.png") > 8  # a noise-like picture
    page.locator("#instruction textarea").fill("make it night")
    page.locator("#send").click()
    # while the turn runs (rewrite, then denoising steps) its progress lies over the image...
    progress = page.locator("#current-image .wrap")
    expect(progress).to_contain_text("steps", timeout=60_000)
    colours = _colours_of_the_image_top(page, tmp_path / "during.png")
    page.screenshot(path=str(tmp_path / "second-turn.png"), full_page=True)
    overlays = {name: _shown_overlays(page, name) for name in ("current-image", *UNCOVERED)}
    assert image.get_attribute("src") == first, "the turn ended before it could be watched"
    assert "steps" in progress.inner_text()
    # ...which still shows under it (an opaque overlay leaves one or two colours there)
    assert colours > 8, f"the previous image is hidden under the progress ({colours} colours)"
    # and the chat, the prompt and the gallery are not covered at all
    assert overlays == {"current-image": 1, **{name: 0 for name in UNCOVERED}}
    expect(page.locator("#chat")).to_contain_text("make it night")
    expect(page.locator("#turns img")).to_be_visible()
    expect(page.locator("#turns img")).to_have_count(2, timeout=600_000)
    assert image.get_attribute("src") != first
    if os.environ.get("DIFFCHAT_UPDATE_SCREENSHOT"):
        shutil.copy(tmp_path / "second-turn.png", SCREENSHOT_SECOND_TURN)


@pytest.mark.slow  # one turn on the loaded 2-core machine: minutes here
def test_the_chats_trash_icon_starts_a_new_session_after_asking(page):
    from playwright.sync_api import expect

    from diffchat_ui.create_tab import NEW_SESSION_QUESTION

    page.set_default_timeout(120_000)
    _first_turn(page, "a lighthouse on a cliff at sunset, watercolor")
    chat, turns = page.locator("#chat"), page.locator("#turns img")
    trash = chat.get_by_role("button", name="Clear")
    expect(trash).to_be_visible()
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    # cancelled: the chat the trash icon emptied on screen comes back, the turn stays
    page.once("dialog", lambda dialog: answer(dialog, False))
    trash.click()
    expect(chat).to_contain_text("a lighthouse on a cliff at sunset", timeout=30_000)
    expect(turns).to_have_count(1)
    assert asked == [NEW_SESSION_QUESTION]
    page.wait_for_timeout(2_000)  # nothing later takes the chat away
    expect(chat).to_contain_text("a lighthouse on a cliff at sunset")

    # accepted: a new session, and the old chat is kept under Past sessions
    page.once("dialog", lambda dialog: answer(dialog, True))
    trash.click()
    expect(turns).to_have_count(0, timeout=30_000)
    expect(chat).to_contain_text("Describe the picture you want")
    assert len(asked) == 2
    page.reload()
    expect(page.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    expect(chat).to_contain_text("Describe the picture you want", timeout=30_000)
    expect(turns).to_have_count(0)
    page.get_by_text("Past sessions", exact=True).click()
    page.locator("#past-sessions input").click()
    expect(page.get_by_role("option", name="a lighthouse on a cliff at sunset")).to_be_visible()


# Records, from the page's start, every progress overlay drawn with Gradio's timer ("0.2s"):
# the element id above it and its text.
_TIMER_WATCH = """
window.__timers = [];
const watch = () => {
  for (const timer of document.querySelectorAll('.progress-text')) {
    const wrap = timer.closest('.wrap');
    if (!timer.offsetWidth || (wrap && getComputedStyle(wrap).opacity === '0')) continue;
    const text = timer.innerText.trim();
    if (/\\d\\.\\ds/.test(text)) {
      const owner = timer.closest('[id]');
      window.__timers.push(`${owner ? owner.id : '?'}: ${text}`);
    }
  }
  requestAnimationFrame(watch);
};
requestAnimationFrame(watch);
"""


def test_a_restored_session_loads_without_a_timer_over_the_page(page):
    """Reloading the page showed Gradio's "0.2s" load timer over the chat while the session
    was restored: the page-load events read as work in progress. (The chat restored here is
    empty: a chat with turns loads through the same events, see the first test.)"""
    from playwright.sync_api import expect

    page.add_init_script(_TIMER_WATCH)
    page.reload()
    expect(page.get_by_text("Offline model set.")).to_be_visible(timeout=30_000)
    expect(page.locator("#chat")).to_contain_text("Describe the picture you want")
    page.wait_for_timeout(3_000)  # the load's last events (past sessions, the job tabs)
    timers = page.evaluate("() => window.__timers")
    assert not timers, sorted(set(timers))
