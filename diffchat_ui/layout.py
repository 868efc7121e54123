"""The whole app: a banner, then one tab per task. `build_demo` is what app.py launches."""

from __future__ import annotations

import gradio as gr

from diffchat_ui import compare_tab, create_tab, evaluate_tab, model_download, train_tab, vote_tab
from diffchat_ui.context import AppContext
from diffchat_ui.serving import served_folders

CSS = """
#offline-banner { background: #fff3cd; border: 1px solid #e0b252; border-radius: 8px;
                  padding: 4px 14px; color: #5c4400; }
#offline-banner * { color: #5c4400 !important; }
/* Small images (the offline set renders 64x64) fill the frame instead of a corner of it. */
.fill-image img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
/* A turn's progress covers only the current image and lets the previous image show through
   (Gradio's overlay is opaque: the picture being edited would vanish for the whole turn). */
#current-image .wrap.full {
  background: color-mix(in srgb, var(--block-background-fill) 55%, transparent);
}
/* ...and names its phase without Gradio's percentage: Gradio 6 writes a phase's words only
   beside one, so a phase without steps ("loading tiny-sd", the rewrite) read "0.0%". The
   words come from the bar's aria-label (the phase's description alone); a phase with steps
   keeps its "3/10 steps" in the corner. An empty bar and the empty image's icon stay out. */
#current-image .progress-level-inner { display: none; }
#current-image .progress-bar-wrap { position: relative; }
#current-image .progress-bar-wrap::before {
  content: attr(aria-label); position: absolute; bottom: calc(100% + 6px); left: 50%;
  transform: translateX(-50%); white-space: nowrap; color: var(--body-text-color);
  font-family: var(--font-mono); font-size: var(--text-sm); padding: 1px 6px; border-radius: 4px;
  background: color-mix(in srgb, var(--block-background-fill) 85%, transparent);
}
#current-image .progress-bar-wrap[aria-valuenow="0"] { border-color: transparent; background: none; }
#current-image:has(.wrap.full:not(.hide)) .empty .icon { visibility: hidden; }
/* The prompt diff flows as text, breaking lines between words: Gradio lays its segments out
   as flex items with word-break: break-all, so a highlighted run longer than the line broke
   inside a word ("highly detai|led"). Each run stays one highlight, over as many lines. */
#prompt-diff .textfield { display: block; word-break: normal; overflow-wrap: anywhere; }
#prompt-diff .token-container, #prompt-diff .token { display: inline; }
#prompt-diff .token.highlighted { -webkit-box-decoration-break: clone; box-decoration-break: clone; }
/* Gallery captions are cut to one line; hovering shows the whole instruction. */
#turns .caption-label:hover { white-space: normal; overflow: visible; max-width: none; z-index: 5; }
/* Compare's score headers wrap between words, never inside one: Gradio's table text breaks
   anywhere, so narrow score columns read "pickscor|e", "conte|nt_in|tegri|ty". */
#compare-table .header-cell, #compare-table .header-cell * {
  word-break: normal; overflow-wrap: normal;
}
"""
TITLE = "DiffChat Studio"


def build_demo(context: AppContext) -> gr.Blocks:
    """Return the Blocks app for `context` (not yet queued or launched)."""
    with gr.Blocks(title=TITLE, delete_cache=cache_lifetime()) as demo:
        gr.Markdown(f"# {TITLE}\nCreate and edit images by chatting (DiffChat prompt rewriting).")
        banner, download_button = model_download.build_banner(context)
        with gr.Tabs():  # the job tabs' checks stop when another tab opens (tab_stop)
            with gr.Tab("Create", id="create") as create:
                create_controls = create_tab.build(context)
                create_rewriter = create_controls.rewriter
            with gr.Tab("Compare", id="compare") as compare:
                compare_rewriter = compare_tab.build(context, compare)
            with gr.Tab("Vote", id="vote") as vote:
                open_votes, vote_inputs, vote_outputs = vote_tab.build(context)
            with gr.Tab("Evaluate", id="evaluate") as evaluate:
                evaluate_tab.build(context, evaluate)
            with gr.Tab("Train", id="train") as train:
                train_tab.build(context, train)
        vote.select(open_votes, vote_inputs, vote_outputs, api_name=False)
        model_download.wire(context, banner, download_button, create_controls)

        # Finished training runs (the logged-in user's own, with --auth) join the rewriter
        # dropdowns when the page loads and when their tab is opened.
        def refresh_rewriters(request: gr.Request):
            return gr.update(choices=context.rewriter_choices(request))

        create.select(refresh_rewriters, None, create_rewriter, api_name=False)
        compare.select(refresh_rewriters, None, compare_rewriter, api_name=False)
        for rewriter in (create_rewriter, compare_rewriter):  # no load timer over them
            demo.load(refresh_rewriters, None, rewriter, api_name=False, show_progress="hidden")
    return demo


def cache_lifetime() -> tuple[int, int]:
    """Return Blocks(delete_cache=(every, age)) in seconds: Gradio's copies of uploads and of
    what pages showed (turn images, session exports, candidates) go once older than the
    session TTL, checked at least hourly, and all at shutdown.

    Gradio serves them at /gradio_api/file=PATH to whoever has the path (any logged-in user
    with --auth); kept for good they would outlive the chats they came from.
    """
    import math

    from diffchat_ui.sessions import session_ttl_seconds

    age = max(1, math.ceil(session_ttl_seconds()))
    return min(age, 3600), age


MAX_UPLOAD_ENV = "DIFFCHAT_MAX_UPLOAD_MB"
# Session exports embed every turn's image, so they are the largest uploads; 50 MB is also
# core.validation's limit for one image file.
DEFAULT_MAX_UPLOAD_MB = 50


def max_upload_bytes() -> int:
    """Return the largest upload the server accepts, in bytes: DIFFCHAT_MAX_UPLOAD_MB
    (default 50). Refuses (SystemExit, at start-up) a value that is not a positive number."""
    from core.errors import InputError
    from core.validation import positive_number_setting

    try:
        megabytes = positive_number_setting(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB, "megabytes")
    except InputError as error:
        raise SystemExit(str(error)) from None
    return int(megabytes * 2**20)


def launch_options(context: AppContext) -> dict:
    """Return the launch() arguments every launcher uses: the CSS, the upload limit and the
    served folders.

    Of the workspace only WORKSPACE/public (chat sessions' turn images) is served; see
    diffchat_ui.serving for what else a browser can fetch and why.
    """
    upload = {"max_file_size": max_upload_bytes()}
    return {"css": CSS, **upload, "allowed_paths": served_folders(context.settings.workspace)}


def queue(demo: gr.Blocks, concurrency: int) -> gr.Blocks:
    """Turn on the queue: `concurrency` handlers at once (model jobs still run one by one)."""
    return demo.queue(default_concurrency_limit=concurrency)
