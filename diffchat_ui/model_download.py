"""The banner's "Download <model>" button: the first run online, without a restart.

An app on the offline set whose hub answered (`AppSettings.download_offer`, see
`diffchat_ui.settings.detect_settings`) offers the device's default image model in the
banner. The click downloads it through `core.assets.download.download_model` (only the files
the loader reads, disk space checked first) with a Gradio progress bar fed by its byte
counts, then switches the app to it as a restart would (`detect_settings` again) and puts
the Create tab on it. A failed download is a message in the banner and changes nothing: the
cache never links a partial file, so the model stays "not downloaded" and the app on the
offline set; the button stays for another try (finished files are kept).
"""

from __future__ import annotations

import logging

import gradio as gr

from core.errors import DiffChatError
from core.validation import shown_message
from diffchat_ui.context import AppContext
from diffchat_ui.create_tab import CreateControls, model_updates

log = logging.getLogger(__name__)


def download_and_switch(context: AppContext, name: str, progress) -> tuple[str, bool]:
    """Download the offered image model `name` and switch the app to it.

    Returns (banner text, whether the app switched). `progress(fraction, desc=...)` is called
    as bytes arrive. A download refused or cut off (DownloadError: no hub, full disk, dead
    line) leaves `context.settings` as it was and says why.
    """
    from core.assets.download import download_model, is_downloaded
    from diffchat_ui.settings import detect_settings

    shown = [-1]

    def report(done: int, total: int) -> None:
        percent = int(100 * done / total) if total else 100
        if percent != shown[0]:  # one bar update per percent, not one per 64 KB chunk
            shown[0] = percent
            fraction = done / total if total else 1.0
            megabytes = f"{done / 1e6:.0f} of {total / 1e6:.0f} MB"
            progress(fraction, desc=f"Downloading {name}: {megabytes}")

    if not is_downloaded(name):
        try:
            download_model(name, progress=report)
        except DiffChatError as error:
            log.warning("the banner's download of %s failed: %s", name, error)
            return (
                f"{context.settings.banner}\n\n⚠️ **The download of {name} failed**, the app "
                f"stays on the offline set: {shown_message(error)}",
                False,
            )
    switched = detect_settings(concurrency=context.settings.concurrency)
    if switched.offline:  # downloaded, yet not found where the loader looks
        return (
            f"{context.settings.banner}\n\n⚠️ {name} was downloaded but is not found in the "
            "Hugging Face cache the app reads (HF_HOME); restart the app.",
            False,
        )
    context.settings = switched
    log.info("downloaded %s; the app now renders with %s", name, switched.text2image_model)
    return (
        f"**{name} is downloaded.** The Create tab now renders with "
        f"**{switched.text2image_model}** (the default image model); no restart needed.",
        True,
    )


def build_banner(context: AppContext) -> tuple[gr.Markdown, gr.Button]:
    """Lay out the banner and, when a download is offered, its button; return both (the
    button hidden when nothing is offered)."""
    banner = context.settings.banner
    markdown = gr.Markdown(banner, elem_id="offline-banner", visible=bool(banner))
    offer = context.settings.download_offer
    button = gr.Button(
        f"Download {offer}" if offer else "Download",
        variant="primary",
        visible=offer is not None,
        elem_id="download-model",
    )
    return markdown, button


# How often a page opened before the download checks whether another page has done it.
PAGE_CHECK_SECONDS = 5.0


def catch_up(context: AppContext, page_is_current: bool) -> tuple:
    """Return (page is current, banner, button, *model updates) for one open page.

    A page that still shows the offline banner while the app has switched (another page's
    Download) is put on the new model once, as a page loaded after the download is; a page
    already current, or an app still offline, is left as it is.
    """
    unchanged = (gr.update(),) * 7  # the banner, its button and model_updates' five
    if page_is_current or context.settings.offline:
        return (page_is_current, *unchanged)
    return (
        True,
        gr.update(visible=False),
        gr.update(visible=False),
        *model_updates(context.settings),
    )


def wire(
    context: AppContext, banner: gr.Markdown, button: gr.Button, controls: CreateControls
) -> None:
    """Connect the banner's button, and bring pages opened before a download up to date: at
    load, and on a timer (every PAGE_CHECK_SECONDS, stopped once the page is current)."""
    offer = context.settings.download_offer
    if offer is None:
        return
    outputs = [banner, button, *controls.model_outputs()]
    page_is_current = gr.State(False)
    timer = gr.Timer(PAGE_CHECK_SECONDS)
    catch_up_outputs = [*outputs, page_is_current, timer]

    def on_tick(current: bool):
        current, *view = catch_up(context, current)
        return (*view, current, gr.Timer(active=not current))

    timer.tick(
        on_tick, page_is_current, catch_up_outputs, api_name=False,
        concurrency_limit=None,  # a few attribute reads; never queued behind a render
    )  # fmt: skip

    def on_download(progress=gr.Progress()):  # noqa: B008 — Gradio's progress bar
        text, switched = download_and_switch(context, offer, progress)
        view = model_updates(context.settings) if switched else (gr.update(),) * 5
        return (text, gr.update(visible=not switched), *view)

    def mark_current():  # this page showed the switch itself: no catching up to do
        current = not context.settings.offline
        return current, gr.Timer(active=not current)

    button.click(
        on_download,
        None,
        outputs,
        api_name="download_model",
        concurrency_limit=1,  # two clicks (two browsers) wait for one download
        concurrency_id="model-download",
        show_progress_on=[banner],
    ).then(mark_current, None, [page_is_current, timer], api_name=False)

    def on_load():
        # A page built before the download: its banner, dropdown and sliders are stale.
        return on_tick(False)

    gr.context.Context.root_block.load(
        on_load, None, catch_up_outputs, api_name=False, show_progress="hidden"
    )
