"""The Create tab: chat with the rewriter, one image per turn, undo / branch / forget.

Handlers are thin: they validate, ask a clarifying question when the instruction is vague
(core.instructions.clarify), pack the library's request dataclass, hand it to the worker and
turn its events into screen updates. Every error ends as a chat message; the session is never lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import gradio as gr

from core.errors import DiffChatError, GenerationCancelled
from core.instructions import clarify, resolve_answer
from core.session import random_seed
from diffchat_ui.context import AppContext
from diffchat_ui.prompt_diff import COLOR_MAP, diff_markdown, diff_words
from diffchat_ui.state import ChatState, delete_state_folder
from diffchat_ui.turns import MODE_LABELS, run_turn, save_turn_image
from diffchat_ui.worker import JobEvent

log = logging.getLogger(__name__)

START_TEXT = "start from text"
START_IMAGE = "start from my image"
CUSTOM_MODEL = "custom path or id"


@dataclass(frozen=True)
class TurnSettings:
    """The Create tab's settings widgets, by name."""

    model: str
    custom_model: str
    rewriter: str
    edit_mode: str
    strength: float
    image_guidance_scale: float
    guidance_scale: float
    seed: int
    num_inference_steps: int
    negative_prompt: str

    def model_name(self) -> str:
        """Return the TIS model to use: the custom one when chosen in the dropdown."""
        from core.validation import resolve_model_reference

        if self.model == CUSTOM_MODEL:
            if not self.custom_model.strip():
                raise DiffChatError("Type a model folder or Hugging Face id for the custom model.")
            # A folder must be inside the workspace or assets/; ids and registry names pass.
            return resolve_model_reference(self.custom_model)
        return self.model

    def rewriter_name(self) -> str:
        """Return the rewriter: a registry name, hub id or folder inside the workspace/assets."""
        from core.validation import resolve_model_reference

        return resolve_model_reference(self.rewriter)


# ---------------------------------------------------------------- session helpers


def current_turn(state: ChatState):
    """Return the session's current turn, or None before the first one."""
    return state.session.current


def turns_with_images(state: ChatState) -> list:
    """Return every turn of the tree that has an image, oldest first (the gallery)."""
    return [turn for turn in state.session.turns.values() if turn.image_path and not turn.error]


# ---------------------------------------------------------------- views


def _view(state: ChatState | None, context: AppContext):
    """Return the screen for a state: chat, image, prompt diff, scores, gallery, download."""
    if state is None:
        return [], None, [], "", [], None
    turn = current_turn(state)
    gallery = [
        (turn_.image_path, f"#{turn_.id}: {turn_.instruction[:40]}")
        for turn_ in turns_with_images(state)
    ]
    if turn is None:
        return state.messages, None, [], "", gallery, None
    parent = state.session.turns.get(turn.parent_id) if turn.parent_id is not None else None
    diff = diff_words(parent.prompt if parent else "", turn.prompt)
    scores = "\n".join(f"- **{name}**: {value:.3f}" for name, value in (turn.scores or {}).items())
    if scores and context.settings.offline:
        scores += "\n\n_Tiny random-weight scorers: the numbers are meaningless._"
    return state.messages, turn.image_path, diff, scores, gallery, turn.image_path


def _error(state: ChatState, message: str) -> None:
    state.say("assistant", f"⚠️ {message}")


# ---------------------------------------------------------------- handlers


def send(
    context: AppContext,
    text: str,
    state: ChatState | None,
    start_mode: str,
    start_image: str | None,
    settings: TurnSettings,
    session_key: str,
    progress,
):
    """Handle one message; a generator of (state, *view) while the worker renders."""
    try:
        if state is None:
            state = ChatState.new(int(settings.seed))
        # The seed stays the session's until the user re-rolls or types another one.
        state.session.seed = int(settings.seed)
        yield from _send(
            context, text, state, start_mode, start_image, settings, session_key, progress
        )
    except Exception as error:  # the edge: a readable message, the session kept
        if isinstance(error, DiffChatError):
            message = str(error)
        else:
            log.exception("chat turn failed")
            message = f"Something went wrong: {type(error).__name__}: {error}"
        if state is None:  # not even a session could be made: show the message alone
            yield (None, [{"role": "assistant", "content": f"⚠️ {message}"}], None, [], "", [], None)
            return
        _error(state, message)
        yield (state, *_view(state, context))


def _send(context, text, state, start_mode, start_image, settings, session_key, progress):
    from core.validation import check_instruction

    text = (text or "").strip()
    previous = current_turn(state)

    # 1. the first turn from the user's own image: the image is the root, its description
    #    (typed, or BLIP's caption when the captioner is available) the prompt to edit
    if previous is None and start_mode == START_IMAGE:
        yield from _start_from_image(context, text, state, start_image, settings)
        return

    # 2. an answer to a pending clarifying question, or a new instruction
    if state.pending is not None:
        state.say("user", text or "(empty)")
        instruction = resolve_answer(state.pending, text)
        state.pending = None
    else:
        checked = check_instruction(text)
        instruction = checked.text
        state.say("user", instruction)
        for warning in checked.warnings:
            state.say("assistant", f"Note: {warning}")
        question = clarify(instruction) if previous is not None else None
        if question is not None:
            state.pending = question
            state.say("assistant", question.as_markdown(), options=list(question.choices))
            yield (state, *_view(state, context))
            return

    # 3. a rendering turn on the worker
    request, source_image = _request(state, instruction, previous, settings, context)
    # Offline scorers are tiny random twins: scoring every chat turn with them costs time and
    # shows meaningless numbers, so the chat skips them. (Compare always scores.)
    score = not context.settings.offline
    flag = context.cancel_flags.fresh(session_key)
    final = None
    if _rewrites_remotely(request):
        request, final = _rewrite_remotely(request, flag, progress)
    if final is None:
        job = context.worker.submit(
            lambda p, c: run_turn(request, p, c, score, context.settings.offline, source_image),
            "This turn",
            flag,
        )
        for event in job.iter_events():
            if event.kind == "progress" and event.total:
                progress((event.step, event.total), desc=event.description)
            elif event.kind == "queued" and context.worker.pending():
                progress(0.0, desc="waiting for other people's images")
            final = event
    if final.kind == "error":
        if not final.cancelled:  # a failed turn is kept in the tree (not current) for export
            state.session.add_turn(
                instruction,
                previous.prompt if previous else "",
                error=final.message,
                mode=request.mode if previous is not None else "text",
            )
        state.say("assistant", ("⏹ " if final.cancelled else "⚠️ ") + final.message)
        yield (state, *_view(state, context))
        return
    result = final.value
    path = save_turn_image(result, state.folder, state.next_image_name())
    is_edit = previous is not None
    state.session.add_turn(
        instruction=instruction,
        prompt=result.prompt,
        negative_prompt=request.negative_prompt,
        image_path=str(path),
        seed=request.seed,
        model=request.ip2p_model if is_edit and request.mode == "ip2p" else request.model,
        settings={
            key: getattr(request, key)
            for key in (
                "num_inference_steps",
                "guidance_scale",
                "strength",
                "image_guidance_scale",
                "rewriter",
            )
            if hasattr(request, key)
        },
        scores=result.scores,
        mode=request.mode if is_edit else "text",
    )
    state.say("assistant", diff_markdown(previous.prompt if is_edit else "", result.prompt))
    state.say("assistant", {"path": str(path)})
    for note in result.notes:
        if note not in state.notes_shown:  # a missing scorer is said once, not every turn
            state.notes_shown.add(note)
            state.say("assistant", f"Note: {note}")
    yield (state, *_view(state, context))


def _rewrites_remotely(request) -> bool:
    from core.images import EditRequest
    from core.rewrite import is_network_rewriter

    return (
        isinstance(request, EditRequest)
        and request.mode != "ip2p"
        and is_network_rewriter(request.rewriter)
    )


def _rewrite_remotely(request, cancel_event, progress):
    """Return (request with its target prompt, None), or (request, the error JobEvent).

    A chat API can take its whole timeout to answer: it is asked here, in this person's
    handler, so the model worker keeps rendering everyone else's turns meanwhile, and Stop
    ends the wait.
    """
    from core.rewrite import load_rewriter, rewrite_cancellable

    progress(0.0, desc=f"waiting for the {request.rewriter} rewriter")
    try:
        rewriter = load_rewriter(request.rewriter)
        target_prompt = rewrite_cancellable(
            rewriter, request.prompt, request.instruction, cancel_event
        )
    except GenerationCancelled as error:
        return request, JobEvent("error", message=str(error), cancelled=True)
    except DiffChatError as error:
        return request, JobEvent("error", message=str(error))
    return replace(request, target_prompt=target_prompt), None


def _start_from_image(context, text, state, start_image, settings: TurnSettings):
    from core.validation import load_user_image

    if not start_image:
        raise DiffChatError("Upload an image first, or choose “start from text”.")
    image = load_user_image(start_image)
    description = text
    if not description:
        if context.settings.offline:
            raise DiffChatError(
                "There is no captioner in the offline set: describe your image in a few words."
            )
        from core.captioning import caption_image

        final = context.worker.submit(lambda p, c: caption_image(image), "Captioning").wait()
        if final.kind == "error":
            raise DiffChatError(final.message)
        description = final.value
    state.say("user", description if text else "(my image)")
    path = state.folder / f"{state.next_image_name()}-upload.png"
    image.save(path)
    state.session.add_turn(
        instruction="(uploaded image)",
        prompt=description,
        image_path=str(path),
        seed=int(settings.seed),
        model="upload",
        mode="upload",
    )
    how = "described" if text else "captioned"
    state.say("assistant", f"Got your image, {how} as “{description}”. Tell me what to change.")
    yield (state, *_view(state, context))


def _request(state, instruction, previous, settings: TurnSettings, context: AppContext):
    """Return (library request, image before the edit) for this turn."""
    from core.images import EditRequest, GenerationRequest
    from core.validation import load_user_image

    common = dict(
        negative_prompt=settings.negative_prompt,
        model=settings.model_name(),
        seed=int(settings.seed),
        num_inference_steps=int(settings.num_inference_steps),
        guidance_scale=float(settings.guidance_scale),
    )
    if previous is None:
        return GenerationRequest(prompt=instruction, **common), None
    mode = MODE_LABELS.get(settings.edit_mode, "rewrite")
    current_image = load_user_image(previous.image_path) if previous.image_path else None
    start_image = None
    if mode == "keep":
        # Keep composition starts every edit of a branch from the branch's first image.
        start_image = load_user_image(state.session.branch_root_image(previous.id))
    elif mode == "ip2p":
        start_image = current_image
    request = EditRequest(
        image=start_image,
        instruction=instruction,
        prompt=previous.prompt,
        mode=mode,
        strength=float(settings.strength),
        image_guidance_scale=float(settings.image_guidance_scale),
        rewriter=settings.rewriter_name(),
        ip2p_model=context.settings.ip2p_model,
        **common,
    )
    return request, current_image


def _tree_action(context: AppContext, state: ChatState | None, action: str, turn_id=None):
    """Undo, forget or branch; returns (state, *view). Refusals become chat messages."""
    if state is None or current_turn(state) is None:
        return (state, *_view(state, context))
    try:
        if action == "undo":
            state.session.undo()
            turn = current_turn(state)
            state.say("assistant", f"Undone. Back at turn #{turn.id}." if turn else "Undone.")
        elif action == "forget":
            state.session.forget_last()
            state.say("assistant", "Forgot the last edit.")
        elif action == "branch":
            state.session.branch_from(turn_id)
            state.say("assistant", f"Branching from turn #{turn_id}: your next edit starts there.")
        state.pending = None
    except DiffChatError as error:
        _error(state, str(error))
    return (state, *_view(state, context))


def branch_from_gallery(context: AppContext, state: ChatState | None, evt: gr.SelectData):
    """Gallery click: make the clicked turn current (the next edit branches from it)."""
    if state is None:
        return (state, *_view(state, context))
    turns = turns_with_images(state)
    if not 0 <= evt.index < len(turns):
        return (state, *_view(state, context))
    return _tree_action(context, state, "branch", turns[evt.index].id)


def export_session(state: ChatState | None):
    """Return the path of a JSON export (images embedded) of the session, or None."""
    if state is None or current_turn(state) is None:
        raise gr.Error("Nothing to export yet.")
    path = state.folder / "session.json"
    state.session.export_json(path, embed_images=True)
    return str(path)


def import_session(context: AppContext, file_path: str | None, state: ChatState | None, seed):
    """Replace the chat by an imported session file, or keep it exactly as it was.

    The file is read and checked into a fresh session whose new folder is the staging
    folder; only once that succeeded is the old session's folder removed (the swap). A
    refusal removes the staging folder and leaves the chat, its turns and its images as they
    were, with the reason as a chat message.
    """
    from core.session import Session

    if not file_path:
        return (state, *_view(state, context))
    new_state = ChatState.new(int(seed))
    try:
        new_state.session = Session.import_json(Path(file_path), image_folder=new_state.folder)
    except Exception as error:  # the edge: whatever went wrong, the current chat stays
        delete_state_folder(new_state)
        if not isinstance(error, DiffChatError):
            log.exception("session import failed")
        reason = str(error) if isinstance(error, DiffChatError) else type(error).__name__
        state = state if state is not None else ChatState.new(int(seed))
        _error(state, f"The session file was not imported; your chat is unchanged. {reason}")
        return (state, *_view(state, context))
    delete_state_folder(state)
    turn = current_turn(new_state)
    new_state.say(
        "assistant",
        f"Imported a session with {len(new_state.session.turns)} turns"
        + (f"; current prompt: {turn.prompt}" if turn else "."),
    )
    return (new_state, *_view(new_state, context))


# ---------------------------------------------------------------- layout


def build(context: AppContext) -> gr.Dropdown:
    """Lay out the Create tab, wire its events (inside a gr.Tab) and return its rewriter dropdown."""
    settings = context.settings
    state = gr.State(None, delete_callback=delete_state_folder)
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Chat", height=480, elem_id="chat", feedback_options=None)
            start_mode = gr.Radio(
                [START_TEXT, START_IMAGE], value=START_TEXT, label="Start", elem_id="start-mode"
            )
            start_image = gr.Image(
                type="filepath",
                label="Your image (then describe it in a few words)",
                sources=["upload", "clipboard"],
                visible=False,
            )
            instruction = gr.Textbox(
                label="Instruction",
                placeholder="First a description (“a red fox in a snowy forest, oil painting”), "
                "then edits (“make it night”).",
                lines=1,
                elem_id="instruction",
            )
            with gr.Row():
                send_button = gr.Button("Send", variant="primary", elem_id="send")
                stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
            with gr.Row():
                undo_button = gr.Button("Undo", size="sm")
                forget_button = gr.Button("Forget last edit", size="sm")
                new_button = gr.Button("New session", size="sm")
        with gr.Column(scale=2):
            image = gr.Image(
                label="Current image",
                type="filepath",
                interactive=False,
                height=340,
                elem_id="current-image",
                elem_classes="fill-image",
            )
            prompt_view = gr.HighlightedText(
                label="Prompt (changes highlighted)",
                color_map=COLOR_MAP,
                show_legend=True,
                combine_adjacent=False,
                elem_id="prompt-diff",
            )
            scores = gr.Markdown(elem_id="scores")
            download = gr.File(label="Download image (PNG with parameters)", interactive=False)
            gallery = gr.Gallery(
                label="All turns (click one to branch from it)",
                columns=4,
                height=220,
                preview=False,
                fit_columns=False,
                object_fit="cover",
                elem_id="turns",
            )
    with gr.Accordion("Settings", open=False):
        with gr.Row():
            model = gr.Dropdown(
                settings.image_models() + [CUSTOM_MODEL],
                value=settings.text2image_model,
                label="Image model",
            )
            custom_model = gr.Textbox(label="Custom model (folder or id)", visible=True)
            rewriter = gr.Dropdown(
                context.rewriter_choices(),
                value=settings.rewriter,
                label="Rewriter",
                allow_custom_value=True,
            )
        edit_mode = gr.Radio(list(MODE_LABELS), value="rewrite only", label="Edit mode")
        with gr.Row():
            strength = gr.Slider(
                0.05, 1.0, value=0.6, step=0.05, label="Keep composition: strength"
            )
            image_guidance = gr.Slider(
                0.0, 5.0, value=1.5, step=0.1, label="InstructPix2Pix image guidance s_I"
            )
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed (same for the whole session)")
            reroll = gr.Button("Re-roll seed", size="sm")
        with gr.Accordion("Advanced", open=False):
            with gr.Row():
                steps = gr.Slider(
                    1, 100, value=10 if settings.offline else 25, step=1, label="Steps"
                )
                guidance = gr.Slider(
                    1.0, 20.0, value=7.5, step=0.5, label="Guidance (s_T for InstructPix2Pix)"
                )
            negative = gr.Textbox(label="Negative prompt", value="")
    with gr.Accordion("Session file", open=False), gr.Row():
        export_button = gr.Button("Export session")
        export_file = gr.File(label="Session JSON", interactive=False)
        import_file = gr.File(label="Import a session JSON", file_types=[".json"], type="filepath")

    view = [chatbot, image, prompt_view, scores, gallery, download]
    setting_widgets = [
        model,
        custom_model,
        rewriter,
        edit_mode,
        strength,
        image_guidance,
        guidance,
        seed,
        steps,
        negative,
    ]

    # Gradio injects gr.Request / gr.Progress only into positional parameters, so the
    # widgets are spelled out here and packed into TurnSettings at once.
    def on_send(
        text,
        chat_state,
        start,
        start_img,
        model_v,
        custom_v,
        rewriter_v,
        mode_v,
        strength_v,
        s_i,
        s_t,
        seed_v,
        steps_v,
        negative_v,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 — Gradio's way to ask for a progress bar
    ):
        turn_settings = TurnSettings(
            model=model_v,
            custom_model=custom_v or "",
            rewriter=rewriter_v,
            edit_mode=mode_v,
            strength=strength_v,
            image_guidance_scale=s_i,
            guidance_scale=s_t,
            seed=int(seed_v or 0),
            num_inference_steps=int(steps_v),
            negative_prompt=negative_v or "",
        )
        session_key = request.session_hash or "anonymous"
        yield from send(
            context, text, chat_state, start, start_img, turn_settings, session_key, progress
        )

    send_inputs = [instruction, state, start_mode, start_image, *setting_widgets]
    send_event = dict(fn=on_send, inputs=send_inputs, outputs=[state, *view], concurrency_id="chat")
    instruction.submit(**send_event, api_name="send").then(lambda: "", outputs=instruction)
    send_button.click(**send_event, api_name=False).then(lambda: "", outputs=instruction)

    def on_option(
        chat_state,
        start,
        start_img,
        model_v,
        custom_v,
        rewriter_v,
        mode_v,
        strength_v,
        s_i,
        s_t,
        seed_v,
        steps_v,
        negative_v,
        evt: gr.SelectData,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008
    ):
        yield from on_send(
            evt.value,
            chat_state,
            start,
            start_img,
            model_v,
            custom_v,
            rewriter_v,
            mode_v,
            strength_v,
            s_i,
            s_t,
            seed_v,
            steps_v,
            negative_v,
            request,
            progress,
        )

    chatbot.option_select(
        on_option,
        [state, start_mode, start_image, *setting_widgets],
        [state, *view],
        api_name=False,
    )

    def on_stop(request: gr.Request):
        context.cancel_flags.stop(request.session_hash or "anonymous")

    stop_button.click(on_stop, None, None, api_name="stop", queue=False)
    undo_button.click(
        lambda s: _tree_action(context, s, "undo"), state, [state, *view], api_name="undo"
    )
    forget_button.click(
        lambda s: _tree_action(context, s, "forget"), state, [state, *view], api_name="forget"
    )

    def on_branch(chat_state, turn_id):
        return _tree_action(context, chat_state, "branch", int(turn_id))

    # Hidden API twin of the gallery click, for scripted clients (gradio_client).
    branch_id = gr.Number(visible=False, precision=0)
    branch_id.change(on_branch, [state, branch_id], [state, *view], api_name="branch")

    def on_gallery(chat_state, evt: gr.SelectData):
        return branch_from_gallery(context, chat_state, evt)

    gallery.select(on_gallery, state, [state, *view], api_name=False)

    def on_new(chat_state):
        delete_state_folder(chat_state)
        return (None, *_view(None, context))

    new_button.click(on_new, state, [state, *view], api_name="new_session")

    def on_reroll(chat_state):
        if chat_state is None:
            return random_seed()
        return chat_state.session.reroll_seed()

    reroll.click(on_reroll, state, seed, api_name="reroll_seed")
    start_mode.change(
        lambda mode: gr.update(visible=mode == START_IMAGE), start_mode, start_image, api_name=False
    )
    export_button.click(export_session, state, export_file, api_name="export_session")
    import_file.upload(
        lambda f, s, sd: import_session(context, f, s, sd),
        [import_file, state, seed],
        [state, *view],
        api_name="import_session",
    )
    return rewriter
