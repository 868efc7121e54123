"""The Stop button of the Compare, Evaluate and Train tabs: one handler for all three, and
the button's look (grey while idle, the red Stop only while its tab's job runs); a page
loaded while its browser's Evaluate or Train run goes picks that run up (`rejoin_on_load`).

Each of those tabs files its running job's cancel flag under
`AppContext.stop_key(tab, page session secret, request)`; Stop sets that flag. (The Create
tab's Stop is keyed by its stored chat instead: `SessionStore.cancel_key`.)
"""

from __future__ import annotations

import gradio as gr

from core.errors import DiffChatError
from diffchat_ui.context import AppContext

# A red Stop while nothing runs reads as "something is running". The Create tab's Stop is
# greyed out while idle. A job of these tabs is a child process that outlives the page; a page
# loaded while it runs shows it running (rejoin_on_load), but another page of the same browser,
# opened before the job started, cannot tell, so their idle Stop stays pressable (it stops
# that browser's job, if any), only grey.
IDLE = {"variant": "secondary", "interactive": False}
JOB_IDLE = {"variant": "secondary", "interactive": True}
RUNNING = {"variant": "stop", "interactive": True}


def idle_stop_button(tab: str) -> gr.Button:
    """Return the idle Stop button of `tab` (elem_id "<tab>-stop")."""
    return gr.Button("Stop", elem_id=f"{tab}-stop", **JOB_IDLE)


def run_with_stop(
    trigger, stop: gr.Button, run_buttons: list[gr.Button], fn, inputs, outputs, **kwargs
):
    """Wire `trigger` (e.g. `start_button.click`) to run `fn(inputs) -> outputs` as a tab's job.

    At once (no queue) `stop` turns into the red Stop and `run_buttons` are disabled, so the
    job is not started twice; when `fn` ends (done, refused, stopped or failed) they are idle
    again. `kwargs` go to the `fn` event (api_name, concurrency_id, show_progress_on, ...),
    the only one of the three an API client calls. Returns the `fn` event.
    """
    buttons = [stop, *run_buttons]
    quiet = {"queue": False, "api_name": False, "show_progress": "hidden"}
    event = trigger(lambda: _look(True, run_buttons), None, buttons, **quiet)
    event = event.then(fn, inputs, outputs, **kwargs)
    event.then(lambda: _look(False, run_buttons), None, buttons, **quiet)
    return event


def _look(running: bool, run_buttons: list) -> tuple:
    """Return the updates of Stop and the run buttons: running (red Stop, runs disabled) or
    idle."""
    shown = RUNNING if running else JOB_IDLE
    return gr.update(**shown), *(gr.update(interactive=not running) for _ in run_buttons)


def rejoin_on_load(
    context: AppContext, tab: str, session_secret, stop, run_buttons, watch, outputs
) -> None:
    """Wire the page load of `tab` ("evaluate", "train"): when the browser holding
    `session_secret` has a run of the tab going (the page that started it was reloaded),
    show it running (red Stop, `run_buttons` disabled) and follow it to its end with
    `watch(run, progress)`, the generator of `outputs` updates the starting page used; then
    idle. A page of another browser or user, or without a run, changes nothing.
    """

    def rejoin(secret, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        try:
            run = context.tab_jobs.running(context.stop_key(tab, secret, request))
        except DiffChatError:  # no valid secret yet (a new browser): nothing of it runs
            run = None
        if run is None:
            yield tuple(gr.update() for _ in [*outputs, stop, *run_buttons])
            return
        for update in watch(run, progress):
            yield (*update, *_look(run.running, run_buttons))

    rejoin.__name__ = f"{tab}_rejoin"
    # Hidden: the status line says how far the run is; a timer over it on every page load
    # would read as "something is loading". Unlimited: a follower only waits.
    gr.context.Context.root_block.load(
        rejoin,
        session_secret,
        [*outputs, stop, *run_buttons],
        api_name=False,
        show_progress="hidden",
        concurrency_limit=None,
    )


def stop_handler(context: AppContext, tab: str):
    """Return the Stop click handler of `tab` ("compare", "evaluate", "train"), taking the
    page's session secret (diffchat_ui.sessions.page_session_secret) and the request.

    It sets the flag of the job `tab` runs for that secret (no job: nothing happens). A
    missing or malformed secret is refused as a gr.Error with the reason, stopping nothing.
    """

    def on_stop(session_secret, request: gr.Request):
        try:
            context.cancel_flags.stop(context.stop_key(tab, session_secret, request))
        except DiffChatError as error:
            raise gr.Error(str(error)) from error

    on_stop.__name__ = f"{tab}_stop"
    return on_stop
