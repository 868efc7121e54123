"""The Stop button of the Compare, Evaluate and Train tabs: one handler for all three, and
the button's look (grey while idle, the red Stop only while its tab's job runs); a page of
the browser whose Compare, Evaluate or Train job goes picks that job up while it shows the
tab (`rejoin_when_opened`).

Each of those tabs files its running job's cancel flag under
`AppContext.stop_key(tab, page session secret, request)`; Stop sets that flag. (The Create
tab's Stop is keyed by its stored chat instead: `SessionStore.cancel_key`.)
"""

from __future__ import annotations

import gradio as gr

from core.errors import DiffChatError
from core.validation import shown_message
from diffchat_ui.context import AppContext

# A red Stop while nothing runs reads as "something is running". The Create tab's Stop is
# greyed out while idle. A job of these tabs outlives the page (a child process, or a
# comparison followed outside the handler: diffchat_ui.processes); a page of its browser
# that shows the tab picks it up (rejoin_when_opened), another page already showing it within
# JOB_CHECK_SECONDS, so their idle Stop stays pressable meanwhile (it stops that browser's
# job, if any), only grey.
IDLE = {"variant": "secondary", "interactive": False}
JOB_IDLE = {"variant": "secondary", "interactive": True}
RUNNING = {"variant": "stop", "interactive": True}
# How often a page showing a job tab asks whether its browser has a job going there that it
# does not show: one started from another page of the browser, opened before it.
JOB_CHECK_SECONDS = 3.0


def idle_stop_button(tab: str) -> gr.Button:
    """Return the idle Stop button of `tab` (elem_id "<tab>-stop")."""
    return gr.Button("Stop", elem_id=f"{tab}-stop", **JOB_IDLE)


def run_with_stop(
    trigger,
    stop: gr.Button,
    run_buttons: list[gr.Button],
    fn,
    inputs,
    outputs,
    following: gr.State | None = None,
    **kwargs,
):
    """Wire `trigger` (e.g. `start_button.click`) to run `fn(inputs) -> outputs` as a tab's job.

    At once (no queue) `stop` turns into the red Stop and `run_buttons` are disabled, so the
    job is not started twice; when `fn` ends (done, refused, stopped or failed) they are idle
    again. `following` (the page's gr.State of `rejoin_when_opened`) is True meanwhile.
    `kwargs` go to the `fn` event (api_name, concurrency_id, show_progress_on, ...), the only
    one of the three an API client calls. Returns the `fn` event.
    """
    marks = [following] if following is not None else []
    quiet = {"queue": False, "api_name": False, "show_progress": "hidden"}

    def look(running: bool):
        return (*_look(running, run_buttons), *(running for _ in marks))

    event = trigger(lambda: look(True), None, [stop, *run_buttons, *marks], **quiet)
    event = event.then(fn, inputs, outputs, **kwargs)
    event.then(lambda: look(False), None, [stop, *run_buttons, *marks], **quiet)
    return event


def _look(running: bool, run_buttons: list) -> tuple:
    """Return the updates of Stop and the run buttons: running (red Stop, runs disabled) or
    idle."""
    shown = RUNNING if running else JOB_IDLE
    return gr.update(**shown), *(gr.update(interactive=not running) for _ in run_buttons)


def rejoin_when_opened(
    context: AppContext,
    tab: str,
    tab_block: gr.Tab,
    session_secret,
    following: gr.State,
    stop,
    run_buttons,
    watch,
    outputs,
    form,
) -> None:
    """Wire `tab_block` (the "compare", "evaluate" or "train" tab, in a gr.Tabs) so that
    while a page shows it, the page follows the job of that tab the browser holding
    `session_secret` has going and the page does not follow (started before a reload, or
    from another page of the browser): it shows it running (red Stop, `run_buttons`
    disabled) and follows it to its end with `watch(run, progress)`, the generator of
    `outputs` updates the starting page used; then idle. The `form` widgets get the values
    the run started with (`run.about.form`, in their order; a gr.update there goes as it is,
    for a widget whose label comes back too), so Resume or a second run after it goes on
    from the same folder and options, not the page's defaults. `following` (a gr.State, True
    while this page follows a run: run_with_stop sets it too) keeps a page from following
    twice. A page of another browser or user, or without a run, changes nothing.

    The page asks when the tab is opened and then every JOB_CHECK_SECONDS while it shows it
    (a timer stopped when another tab is opened; Gradio's timer also rests while the
    browser tab is hidden): one quick unqueued call that changes nothing until a job it
    does not follow is there, whose number then starts the follower. Only after opening,
    not on page load: a plot that gets its first value while its tab was never shown stays
    blank in Gradio 6, even through later values (the Train curve did).
    """
    tabs = tab_block.parent
    if not isinstance(tabs, gr.Tabs):
        raise TypeError(f"the {tab} tab must sit in a gr.Tabs for its job check")
    unchanged_form = tuple(gr.update() for _ in form)
    # TabJobs' number of the last job this page went to follow. A hidden widget, not a
    # gr.State: a page starts a State's change only after a queued event, and the check is
    # not queued. The number opens nothing (the follower looks the job up by the secret).
    noticed = gr.Number(0, precision=0, visible=False)
    timer = gr.Timer(JOB_CHECK_SECONDS, active=False)

    def unfollowed_run(secret, followed, request):
        if followed:
            return None
        try:
            return context.tab_jobs.running(context.stop_key(tab, secret, request))
        except DiffChatError:  # no valid secret yet (a new browser): nothing of it runs
            return None

    def check(secret, followed, last, request: gr.Request):
        run = unfollowed_run(secret, followed, request)
        return last if run is None else run.number  # a new number starts `rejoin`

    def on_open(secret, followed, last, request: gr.Request):
        return check(secret, followed, last, request), gr.Timer(active=True)

    def on_tabs(opened: gr.SelectData):
        return gr.Timer(active=opened.value == tab_block.label)

    def rejoin(secret, followed, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        run = unfollowed_run(secret, followed, request)
        if run is None:  # it ended already, or this page follows it
            yield tuple(gr.update() for _ in [*outputs, stop, *run_buttons, *form, following])
            return
        filled = tuple(_filled(value) for value in run.about.form)
        for update in watch(run, progress):
            yield (*update, *_look(run.running, run_buttons), *filled, run.running)
            filled = unchanged_form

    check.__name__, on_open.__name__ = f"{tab}_job_check", f"{tab}_opened"
    rejoin.__name__, on_tabs.__name__ = f"{tab}_rejoin", f"{tab}_check_while_shown"
    quick = {"queue": False, "api_name": False, "show_progress": "hidden"}
    asked = [session_secret, following, noticed]
    tab_block.select(on_open, asked, [noticed, timer], **quick)
    tabs.select(on_tabs, None, timer, **quick)
    timer.tick(check, asked, noticed, **quick)
    # Hidden: the status line says how far the run is; a timer over it whenever a job is
    # found would read as "something is loading". Unlimited: a follower only waits.
    noticed.change(
        rejoin,
        [session_secret, following],
        [*outputs, stop, *run_buttons, *form, following],
        api_name=False,
        show_progress="hidden",
        concurrency_limit=None,
        trigger_mode="once",
    )


def _filled(value) -> dict:
    """Return the update that puts a form value back: `value` itself when it is a gr.update."""
    is_update = isinstance(value, dict) and value.get("__type__") == "update"
    return value if is_update else gr.update(value=value)


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
            raise gr.Error(shown_message(error)) from error

    on_stop.__name__ = f"{tab}_stop"
    return on_stop
