"""The Stop button of the Compare, Evaluate and Train tabs: one handler for all three.

Each of those tabs files its running job's cancel flag under
`AppContext.stop_key(tab, page session secret, request)`; Stop sets that flag. (The Create
tab's Stop is keyed by its stored chat instead: `SessionStore.cancel_key`.)
"""

from __future__ import annotations

import gradio as gr

from core.errors import DiffChatError
from diffchat_ui.context import AppContext


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
