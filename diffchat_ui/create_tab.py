"""The Create tab: chat with the rewriter, one image per turn, undo / branch / forget.

Handlers are thin: they validate, ask a clarifying question when the instruction is vague
(core.instructions.clarify), pack the library's request dataclass, hand it to the worker and
turn its events into screen updates. Every error ends as a chat message; the session is never lost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import gradio as gr

from core.errors import (
    DiffChatError,
    GenerationCancelled,
    InputError,
    ModelUnavailableError,
    UnknownModelError,
)
from core.instructions import clarify, resolve_answer
from core.registry import SPEEDS, draft_model_for, generation_defaults
from core.rewrite import DEFAULT_REWRITE_CANDIDATES, MAX_REWRITE_CANDIDATES
from core.session import random_seed
from core.validation import MAX_INSTRUCTION_CHARS, shown_message
from diffchat_ui.context import AppContext
from diffchat_ui.prompt_diff import COLOR_MAP, diff_markdown, diff_words, escape_markdown
from diffchat_ui.saved_chats import TRANSCRIPT_KEY, transcript_messages
from diffchat_ui.serving import as_uploaded
from diffchat_ui.sessions import BROWSER_STORAGE_KEY, browser_storage_secret, session_handler
from diffchat_ui.state import ChatState, delete_state_folder
from diffchat_ui.tab_stop import IDLE as STOP_IDLE
from diffchat_ui.tab_stop import RUNNING as STOP_RUNNING
from diffchat_ui.turns import MODE_LABELS, TurnResult, run_turn, same_prompt, save_turn_image
from diffchat_ui.worker import JobEvent

log = logging.getLogger(__name__)

START_TEXT = "start from text"
START_IMAGE = "start from my image"
CUSTOM_MODEL = "custom path or id"
# The instruction recorded for a turn whose prompt the user typed (AUTOMATIC1111 / Fooocus style).
HAND_EDIT = "(edited by hand)"
# The two ways on after a rewrite that changed nothing.
TRY_AGAIN = "try again"
EDIT_BY_HAND = "edit the prompt yourself"
NO_OP_OPTIONS = [TRY_AGAIN, EDIT_BY_HAND]
EDIT_BY_HAND_HELP = (
    "Change the prompt in **Prompt (edit by hand)** beside the image, then press "
    "**Render this prompt**: it becomes a new turn."
)
GUIDANCE_LABEL = "Guidance scale"
PAST_STORAGE_KEY = "diffchat-past-sessions"
MAX_PAST_SESSIONS = 10
MAX_VARIATIONS = 4
NEW_SESSION_QUESTION = "Start a new session? This chat and its images will be closed."
WELCOME = (
    "**Describe the picture you want** to start, then tell me what to change, one edit at a "
    "time. Or choose “start from my image” below."
)
EXAMPLE_FIRST_MESSAGES = [
    "a red fox in a snowy forest, oil painting",
    "a lighthouse on a cliff at sunset, watercolor",
]
# What the chat calls each edit mode (core.images EDIT_MODES).
MODE_NAMES = {
    "text": "text to image",
    "upload": "your image",
    "rewrite": "rewrite",
    "keep": "keep composition",
    "ip2p": "InstructPix2Pix",
}


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
    size: str = ""  # a SIZE_PRESETS label; "" or "native" = the model's own size
    variations: int = 1
    rewrite_candidates: int = DEFAULT_REWRITE_CANDIDATES
    speed: str = "quality"  # core.registry.SPEEDS: "draft" renders with the few-step model
    # Where model and rewriter folders must lie (AppContext.user_root; None: the workspace).
    user_root: Path | None = None

    def width_height(self) -> tuple[int | None, int | None]:
        """Return (width, height) of the chosen size preset, (None, None) for native."""
        return parse_size(self.size)

    def model_name(self) -> str:
        """Return the TIS model to use: the custom one when chosen in the dropdown."""
        from core.validation import resolve_model_reference

        if self.model == CUSTOM_MODEL:
            if not self.custom_model.strip():
                raise DiffChatError("Type a model folder or Hugging Face id for the custom model.")
            # A folder must be inside the user's root or assets/; ids and registry names pass.
            return resolve_model_reference(self.custom_model, self.user_root)
        return self.model

    def render_model(self) -> str:
        """Return the TIS model the turn renders with: model_name(), or at the draft speed
        its family's few-step model (see `render_model`)."""
        return render_model(self.model_name(), self.speed)

    def rewriter_name(self) -> str:
        """Return the rewriter: a registry name, hub id or folder inside the user's root (the
        workspace without --auth) or assets/."""
        from core.validation import resolve_model_reference

        return resolve_model_reference(self.rewriter, self.user_root)


# ---------------------------------------------------------------- session helpers


# Output sizes offered per model family (width x height, multiples of 64 near the native area).
SIZE_NATIVE = "native size"
SD_SIZES = ["512x512 square", "512x768 portrait", "768x512 landscape", "640x384 wide"]
SDXL_SIZES = ["1024x1024 square", "832x1216 portrait", "1216x832 landscape", "1344x768 wide"]
_SIZE = re.compile(r"^(\d+)x(\d+)")


def size_presets(model: str) -> list[str]:
    """Return the size choices for an image model: SDXL's 1024 presets or SD 1.5's 512 ones."""
    from core.registry import MODELS

    spec = MODELS.get(model)
    return [SIZE_NATIVE] + (SDXL_SIZES if spec is not None and spec.kind == "sdxl" else SD_SIZES)


def parse_size(label: str) -> tuple[int | None, int | None]:
    """Return (width, height) of a size preset label, (None, None) for the native size."""
    match = _SIZE.match(label or "")
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


def render_model(model: str, speed: str) -> str:
    """Return the image model that renders at `speed`: `model` at "quality", its family's
    few-step model at "draft" (core.registry.draft_model_for, Fooocus's Extreme Speed).

    Refuses (InputError) a speed not in core.registry.SPEEDS and a draft of a model whose
    family is not known here (a hub id outside the registry).
    """
    if speed not in SPEEDS:
        raise InputError(f"Unknown speed {speed!r}: choose {' or '.join(SPEEDS)}.")
    if speed == "quality":
        return model
    try:
        return draft_model_for(model)
    except UnknownModelError:
        raise InputError(
            f"The draft speed renders with the few-step model of the chosen model's family, "
            f"and the family of {model!r} is not known (neither a registry model nor a local "
            "diffusers folder): choose the quality speed for it."
        ) from None


def render_settings(settings: TurnSettings) -> tuple[str, int, float]:
    """Return (model, num_inference_steps, guidance_scale) a turn renders with: the
    widgets' at the quality speed, the few-step model's own (the registry's) at draft."""
    model = settings.render_model()
    if settings.speed == "quality":
        return model, int(settings.num_inference_steps), float(settings.guidance_scale)
    defaults = generation_defaults(model)
    return model, int(defaults["num_inference_steps"]), float(defaults["guidance_scale"])


def checked_instruction(text: str, is_edit: bool, rewriter: str):
    """Return core.validation's CheckedInstruction for a chat message.

    Refuses (InputError) what check_instruction refuses, and an edit instruction that does not
    look like English for a local rewriter (trained on English only); a chat API rewriter
    reads other languages, so there it is only a note.
    """
    from core.rewrite import is_network_rewriter
    from core.validation import check_instruction

    checked = check_instruction(text)
    if is_edit and checked.warnings and not is_network_rewriter(rewriter):
        raise InputError(
            f"Only English is supported by the rewriter {rewriter} (it was trained on English "
            "prompts). Your text is kept in the box: write it in English, or choose the openai "
            "rewriter, which reads other languages."
        )
    return checked


def model_refusal(
    state: ChatState | None,
    start_mode: str,
    model: str,
    custom_model: str,
    edit_mode: str,
    ip2p_model: str,
    hand: bool = False,
    speed: str = "quality",
    root: Path | None = None,
    hub_reachable: bool = True,
) -> str | None:
    """Return why the image model the next turn would render with cannot run here, or None.

    Asked before anything else runs, so an offline app never rewrites (or asks a question)
    only to fail at the render. The first turn from an upload renders nothing; an
    InstructPix2Pix edit renders with `ip2p_model`; a prompt typed by hand renders with the
    image model in any mode; at the draft speed that is the few-step model (render_model).
    A custom model is checked as loading it would check it (a registry name, or a diffusers
    folder or .safetensors checkpoint inside `root`, the user's root, default the workspace,
    or assets/), so an unknown name is said before the rewrite, not after it. A model not
    downloaded is refused when it cannot be downloaded (`hub_reachable`: AppSettings')."""
    from core.registry import IMAGE_KINDS, get_model_spec
    from core.validation import resolve_model_reference
    from diffchat_ui.settings import unavailable_reason

    is_edit = state is not None and current_turn(state) is not None
    if not is_edit and not hand and start_mode == START_IMAGE:
        return None
    if is_edit and not hand and MODE_LABELS.get(edit_mode) == "ip2p":
        return unavailable_reason(ip2p_model, hub_reachable)
    chosen = custom_model.strip() if model == CUSTOM_MODEL else model
    if model == CUSTOM_MODEL and chosen:
        try:
            get_model_spec(resolve_model_reference(chosen, root), IMAGE_KINDS)
        except InputError as error:  # UnknownModelError too
            return str(error)
    if speed == "quality" or not chosen:
        return unavailable_reason(chosen, hub_reachable)
    try:  # a custom folder is confined before its family is read
        draft = render_model(resolve_model_reference(chosen, root), speed)
    except InputError as error:
        return str(error)
    reason = unavailable_reason(draft, hub_reachable)
    return f"The draft speed renders with {draft}. {reason}" if reason else None


def refusal(text: str, state: ChatState | None, rewriter: str, model_problem: str | None = None):
    """Return why a chat message would be refused before anything runs, or None.

    `model_problem` is model_refusal's answer for the settings the message is sent with. The
    Send handler keeps a refused text in the box (and the turn then says why)."""
    if model_problem:
        return model_problem
    turn = current_turn(state) if state is not None else None
    if turn is not None and turn.image_path and not Path(turn.image_path).is_file():
        # the turn then offers the turn to branch from (_missing_image); send again from there
        return f"The image of turn #{turn.id} is gone."
    if state is not None and (state.pending is not None or state.unchanged is not None):
        return None  # an answer to a question: any text is fine
    is_edit = turn is not None
    try:
        checked_instruction(text, is_edit, rewriter)
    except InputError as error:
        return str(error)
    return None


def _missing_image(state: ChatState, turn) -> str | None:
    """Return the chat message for a current turn whose image file is gone, or None."""
    if turn is None or not turn.image_path or Path(turn.image_path).is_file():
        return None
    parents = [t for t in state.session.path_to(turn.id)[:-1] if image_exists(t)]
    if not Path(turn.image_path).parent.is_dir():
        what = "this session's image folder is gone, and with it"
    else:
        what = "the file of"
    message = f"⚠️ The image of turn #{turn.id} is gone ({what} its image)."
    if parents:
        state.pending = None
        return (
            message + f" Start a new branch from turn #{parents[-1].id}? Click it in the gallery."
        )
    return message + " Start a new session, or import a session file."


def image_exists(turn) -> bool:
    """Return True when a turn has an image and its file is still there."""
    return bool(turn.image_path) and not turn.error and Path(turn.image_path).is_file()


def current_turn(state: ChatState):
    """Return the session's current turn, or None before the first one."""
    return state.session.current


def turns_with_images(state: ChatState) -> list:
    """Return every turn of the tree whose image is there, oldest first (the gallery)."""
    # A snapshot: another send on this chat may add a turn while this one draws its view.
    return [turn for turn in list(state.session.turns.values()) if image_exists(turn)]


# ---------------------------------------------------------------- views


def _view(state: ChatState | None, context: AppContext):
    """Return the screen for a state: chat, image, prompt diff, scores, gallery, download."""
    if state is None:
        return [], None, prompt_diff_view([]), "", [], None
    turn = current_turn(state)
    gallery = [
        (turn_.image_path, gallery_caption(state, turn_)) for turn_ in turns_with_images(state)
    ]
    messages = shown_messages(state.messages)
    if turn is None:
        return messages, None, prompt_diff_view([]), "", gallery, None
    parent = state.session.turns.get(turn.parent_id) if turn.parent_id is not None else None
    diff = prompt_diff_view(diff_words(parent.prompt if parent else "", turn.prompt))
    scores = "\n".join(f"- **{name}**: {value:.3f}" for name, value in (turn.scores or {}).items())
    if scores and context.settings.offline:
        scores += "\n\n_Tiny random-weight scorers: the numbers are meaningless._"
    image = turn.image_path if image_exists(turn) else None
    return messages, image, diff, scores, gallery, image


def prompt_diff_view(segments: list[tuple[str, str | None]]) -> dict:
    """Return the prompt diff's update: the segments, with the "added / removed" legend only
    when some word is marked (before the first turn, or on a first prompt, the legend's
    chips alone read as content)."""
    return gr.update(value=segments, show_legend=any(label for _, label in segments))


GONE_IMAGE = "_(this image is gone)_"


def shown_messages(messages: list[dict]) -> list[dict]:
    """Return the transcript as the chat shows it: an image message whose file is gone
    becomes a line saying so (the Chatbot would show a broken image); the transcript
    itself is unchanged."""
    shown = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, dict) and not Path(str(content.get("path") or "")).is_file():
            message = {**message, "content": GONE_IMAGE}
        shown.append(message)
    return shown


def gallery_caption(state: ChatState, turn) -> str:
    """Return a gallery caption: ▶ on the current turn, the turn number, its parent and the
    whole instruction ("▶ #3 (from #1): make it night")."""
    marker = "▶ " if turn.id == state.session.current_id else ""
    parent = f" (from #{turn.parent_id})" if turn.parent_id is not None else ""
    return f"{marker}#{turn.id}{parent}: {turn.instruction}"


def turn_tree(state: ChatState | None) -> str:
    """Return the session's branches as an indented Markdown list, the current turn in bold."""
    if state is None or not state.session.turns:
        return "_No turns yet._"
    lines = []

    def walk(parent_id, depth):
        for turn in state.session.children(parent_id):
            how = MODE_NAMES.get(turn.mode, turn.mode)
            label = f"#{turn.id} {how}: {escape_markdown(turn.instruction)}"
            if turn.error:
                label = f"~~{label}~~ (failed)"
            elif not image_exists(turn):
                label += " (image gone)"
            if turn.id == state.session.current_id:
                label = f"**{label}** ← current"
            # Gradio's Markdown drops leading spaces, so nesting is drawn, not indented
            lines.append("&emsp;" * depth + ("↳ " if depth else "") + label)
            walk(turn.id, depth + 1)

    walk(None, 0)
    return "  \n".join(lines)  # a hard line break per turn


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
    hand_prompt: str | None = None,
):
    """Handle one message (or, with `hand_prompt`, render that prompt as typed); a generator
    of (state, *view): the message at once, then each finished image."""
    try:
        if state is None:
            state = ChatState.new(int(settings.seed))
        # The seed stays the session's until the user re-rolls or types another one.
        state.session.seed = int(settings.seed)
        yield from _send(
            context,
            text,
            state,
            start_mode,
            start_image,
            settings,
            session_key,
            progress,
            hand_prompt,
        )
    except Exception as error:  # the edge: a readable message, the session kept
        if isinstance(error, DiffChatError):
            message = str(error)
        else:
            log.exception("chat turn failed")
            message = f"Something went wrong: {type(error).__name__}: {error}"
        # Paths in the user's root as the user gave them (with --auth, never "users/<name>-...")
        message = shown_message(message, settings.user_root)
        if state is None:  # not even a session could be made: show the message alone
            said = f"⚠️ {message}"
            yield (None, [{"role": "assistant", "content": said}], None, [], "", [], None)
            return
        _error(state, message)
        yield (state, *_view(state, context))


def _send(
    context, text, state, start_mode, start_image, settings, session_key, progress, hand_prompt
):
    text = (text or "").strip()
    previous = current_turn(state)
    missing = _missing_image(state, previous)
    if missing:  # 0. a turn whose image is gone cannot be edited: say so, offer its parent
        if text:
            state.say("user", text)
        state.say("assistant", missing)
        yield (state, *_view(state, context))
        return
    problem = model_refusal(
        state,
        start_mode,
        settings.model,
        settings.custom_model,
        settings.edit_mode,
        context.settings.ip2p_model,
        hand=hand_prompt is not None,
        speed=settings.speed,
        root=settings.user_root,
        hub_reachable=context.settings.hub_reachable,
    )
    if problem:  # before any rewrite runs: the render could only fail after it
        raise ModelUnavailableError(problem)

    # 1. the first turn from the user's own image: the image is the root, its description
    #    (typed, or BLIP's caption when the captioner is available) the prompt to edit
    if previous is None and start_mode == START_IMAGE:
        yield from _start_from_image(context, text, state, start_image, settings)
        return

    # 2. a prompt typed by hand, "try again" after a no-op, an answer to a clarifying
    #    question, or a new instruction
    sample_seed = None
    if hand_prompt is not None:
        target_prompt = hand_prompt.strip()
        if not target_prompt:
            raise InputError("Type the prompt to render in the prompt box first.")
        instruction = HAND_EDIT if previous is not None else target_prompt
        if previous is not None and _draws_the_same(
            state, previous, target_prompt, settings, context
        ):
            raise InputError(SAME_PICTURE)
        state.say("user", f"✏️ {target_prompt}")
    elif state.unchanged is not None and text.lower() in (TRY_AGAIN, EDIT_BY_HAND):
        state.say("user", text)
        instruction, state.unchanged = state.unchanged, None
        if text.lower() == EDIT_BY_HAND:
            state.say("assistant", EDIT_BY_HAND_HELP)
            yield (state, *_view(state, context))
            return
        sample_seed = random_seed()  # another sample of the rewriter, not the greedy answer
    elif state.pending is not None:
        state.say("user", text or "(empty)")
        instruction = resolve_answer(state.pending, text)
        state.pending = None
    else:
        checked = checked_instruction(text, previous is not None, settings.rewriter)
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
    state.unchanged = None
    yield (state, *_view(state, context))  # the message shows at once; the image follows

    # 3. rendering turns on the worker: one, or `variations` with seeds s, s+1, ...
    request, source_image = _request(state, instruction, previous, settings, context)
    if hand_prompt is not None:
        request = _with_prompt(request, target_prompt)
    flag = context.cancel_flags.fresh(session_key)
    # Another tab may replace this chat meanwhile (an import, New session): the turn would be
    # refused when it is filed, so its render stops then instead of running to its end.
    state.stop_when_replaced(flag)
    added = []
    for index in range(max(1, int(settings.variations))):
        if index:
            request = replace(request, seed=request.seed + 1)
        final = _render(
            context, request, source_image, flag, progress, sample_seed, settings.user_root
        )
        if final.kind == "error":
            if not final.cancelled and not added:  # kept in the tree (not current) for export
                with state.tree_lock:
                    state.session.add_turn(
                        instruction,
                        previous.prompt if previous else "",
                        error=final.message,
                        mode=request.mode if previous is not None else "text",
                    )
            state.say("assistant", ("⏹ " if final.cancelled else "⚠️ ") + final.message)
            break
        result = final.value
        if result.unchanged:
            state.unchanged = instruction
            state.say("assistant", unchanged_message(result.prompt), options=NO_OP_OPTIONS)
            break
        if index == 0 and previous is not None and request.mode != "ip2p":
            # later variations render the same prompt: the rewriter runs once
            request = _with_prompt(request, result.prompt)
        # every variation is a child of the turn it edits (siblings of each other)
        with state.tree_lock:
            state.session.current_id = previous.id if previous is not None else None
            added.append(_add_turn(state, instruction, previous, request, result, settings.speed))
        state.say("assistant", _turn_message(previous, added[-1], request))
        state.say("assistant", {"path": added[-1].image_path})
        for note in result.notes:
            if note not in state.notes_shown:  # a missing scorer is said once, not every turn
                state.notes_shown.add(note)
                state.say("assistant", f"Note: {note}")
        yield (state, *_view(state, context))
    if len(added) > 1:
        state.session.current_id = added[0].id
        seeds = ", ".join(str(turn.seed) for turn in added)
        state.say(
            "assistant",
            f"{len(added)} variations (seeds {seeds}). Continuing from turn #{added[0].id}; "
            "click another one in the gallery to continue from it instead.",
        )
    yield (state, *_view(state, context))


def _render(
    context: AppContext, request, source_image, flag, progress, sample_seed=None, root=None
):
    """Run one turn on the worker (the chat-API rewrite first, in this handler) and return
    its final event, turning the worker's events into progress; its messages name paths
    inside `root` (the user's root) relative to it."""
    # Offline scorers are tiny random twins: scoring every chat turn with them costs time and
    # shows meaningless numbers, so the chat skips them. (Compare always scores.)
    score = not context.settings.offline
    final = None
    if _rewrites_remotely(request):
        request, final = _rewrite_remotely(
            request, flag, progress, sample_seed, lane=context.network_wait
        )
        if final is None and same_prompt(request.target_prompt, request.prompt):
            return JobEvent(
                "result", value=TurnResult(request.target_prompt, None, {}, unchanged=True)
            )
    if final is not None:
        return final
    job = context.worker.submit(
        lambda p, c: run_turn(
            request, p, c, score, context.settings.offline, source_image, sample_seed
        ),
        "This turn",
        flag,
        root,
    )
    for event in job.iter_events():
        if event.kind == "progress" and event.total:
            progress((event.step, event.total), desc=event.description)
        elif event.kind == "progress":  # a phase without steps (the rewrite): its name alone
            # (layout.CSS leaves out the "0.0%" Gradio writes beside it)
            progress(0.0, desc=event.description)
        elif event.kind == "queued" and event.ahead:  # only when someone else is first
            progress(0.0, desc=f"waiting for other people's images ({event.ahead} ahead)")
        final = event
    return final


def _with_prompt(request, target_prompt: str):
    """Return the request rendering `target_prompt` as given (no rewrite). InstructPix2Pix
    ignores prompts, so a given prompt is rendered in rewrite mode instead."""
    from core.images import EditRequest

    if isinstance(request, EditRequest):
        mode = "rewrite" if request.mode == "ip2p" else request.mode
        return replace(request, mode=mode, target_prompt=target_prompt)
    return replace(request, prompt=target_prompt)


# The request fields a turn records beside its model (core.session.Turn.settings).
_RECORDED_SETTINGS = (
    "num_inference_steps",
    "guidance_scale",
    "strength",
    "image_guidance_scale",
    "rewriter",
    "width",
    "height",
)


def _add_turn(
    state: ChatState, instruction: str, previous, request, result, speed: str = "quality"
):
    """Save a finished turn's image and add it to the session; return the new turn (its
    `model` is the one that rendered: at the draft speed the few-step model)."""
    path = save_turn_image(result, state.folder, state.next_image_name())
    is_edit = previous is not None
    ip2p = is_edit and request.mode == "ip2p"
    return state.session.add_turn(
        instruction=instruction,
        prompt=result.prompt,
        negative_prompt=request.negative_prompt,
        image_path=str(path),
        seed=request.seed,
        model=request.ip2p_model if ip2p else request.model,
        settings={
            **({} if ip2p else {"speed": speed}),
            **{key: getattr(request, key) for key in _RECORDED_SETTINGS if hasattr(request, key)},
        },
        scores=result.scores,
        mode=request.mode if is_edit else "text",
    )


SAME_PICTURE = (
    "That is the current turn's prompt, and with the same seed, model and settings it would "
    "draw the same picture again, so nothing was rendered. Change the prompt, or the seed "
    "or another setting under Advanced settings (or ask for variations)."
)
# Modes that draw a picture from the prompt and seed alone (no earlier image).
_FROM_PROMPT_ALONE = frozenset({"text", "rewrite"})


def _draws_the_same(state, previous, target_prompt: str, settings, context) -> bool:
    """Whether rendering `target_prompt` by hand would redraw `previous`'s picture: the same
    prompt, seed, model, negative prompt, speed and recorded settings, one variation, and a
    mode that starts from the same place (text and rewrite both draw from the prompt alone)."""
    if previous.error or not previous.image_path or int(settings.variations) > 1:
        return False
    if not same_prompt(target_prompt, previous.prompt):
        return False
    request = _with_prompt(
        _request(state, HAND_EDIT, previous, settings, context)[0], target_prompt
    )
    modes = {request.mode, previous.mode}
    if not (modes <= _FROM_PROMPT_ALONE or modes == {"keep"}):
        return False
    recorded = [key for key in _RECORDED_SETTINGS if key != "rewriter"]
    if request.mode != "keep":  # strength and image guidance only shape an image edit
        recorded = [key for key in recorded if key not in ("strength", "image_guidance_scale")]
    return (
        request.seed == previous.seed
        and request.model == previous.model
        and request.negative_prompt == previous.negative_prompt
        and previous.settings.get("speed", "quality") == settings.speed
        and all(getattr(request, key, None) == previous.settings.get(key) for key in recorded)
    )


def _turn_message(previous, turn, request) -> str:
    """Return the chat line of a finished turn: which edit ran (and the few-step model at the
    draft speed), then the prompt diff."""
    diff = diff_markdown(previous.prompt if previous is not None else "", turn.prompt)
    draft = f", draft speed with {turn.model}" if turn.settings.get("speed") == "draft" else ""
    if previous is None:
        return f"_Turn #{turn.id} · text to image{draft} (seed {turn.seed})_\n\n{diff}"
    if turn.mode == "ip2p":
        return (
            f"_Turn #{turn.id} · InstructPix2Pix: the image was edited directly and the "
            f"prompt kept (seed {turn.seed})._\n\n{diff}"
        )
    how = MODE_NAMES[turn.mode]
    by = "edited by hand" if turn.instruction == HAND_EDIT else f"rewriter {request.rewriter}"
    return f"_Turn #{turn.id} · {how}, {by}{draft} (seed {turn.seed})_\n\n{diff}"


def unchanged_message(prompt: str) -> str:
    """Return the chat line for a rewrite that gave the prompt back unchanged."""
    return (
        f"The rewriter gave back the prompt unchanged (“{prompt}”), so nothing was rendered. "
        f"Reply **{TRY_AGAIN}** for another sample of the rewriter, or **{EDIT_BY_HAND}** "
        "to change the prompt in the prompt box and render it."
    )


def _rewrites_remotely(request) -> bool:
    from core.images import EditRequest
    from core.rewrite import is_network_rewriter

    return (
        isinstance(request, EditRequest)
        and request.mode != "ip2p"
        and is_network_rewriter(request.rewriter)
    )


def _rewrite_remotely(request, cancel_event, progress, sample_seed: int | None = None, lane=None):
    """Return (request with its target prompt, None), or (request, the error JobEvent).

    A chat API can take its whole timeout to answer: it is asked here, in this person's
    handler, so the model worker keeps rendering everyone else's turns meanwhile, and Stop
    ends the wait; `lane(rewriter)` (AppContext.network_wait) holds a place for the wait or
    refuses it. With `sample_seed` ("try again" after a no-op) it samples the request's
    candidates and the reader's check picks one, as for a local rewriter
    (`turns.rewrite_for_turn`).
    """
    progress(0.0, desc=f"waiting for the {request.rewriter} rewriter")
    try:
        with (lane or contextlib.nullcontext)(request.rewriter):
            return _ask_remotely(request, cancel_event, sample_seed), None
    except GenerationCancelled as error:
        return request, JobEvent("error", message=str(error), cancelled=True)
    except DiffChatError as error:
        return request, JobEvent("error", message=str(error))


def _ask_remotely(request, cancel_event, sample_seed):
    """Return `request` with the chat API's target prompt (_rewrite_remotely's wait)."""
    from core.rewrite import choose_sample, load_rewriter, rewrite_cancellable, sample_cancellable

    rewriter = load_rewriter(request.rewriter)
    if sample_seed is None:
        target_prompt = rewrite_cancellable(
            rewriter,
            request.prompt,
            request.instruction,
            cancel_event,
            request.rewrite_candidates,
        )
    else:
        samples = sample_cancellable(
            rewriter,
            request.prompt,
            request.instruction,
            request.rewrite_candidates,
            cancel_event,
            seed=sample_seed,
        )
        target_prompt = choose_sample(request.prompt, request.instruction, samples)
    return replace(request, target_prompt=target_prompt)


def _start_from_image(context, text, state, start_image, settings: TurnSettings):
    from core.validation import load_user_image

    if not start_image:
        raise DiffChatError("Upload an image first, or choose “start from text”.")
    try:
        image = load_user_image(start_image)
    except DiffChatError as error:
        raise InputError(as_uploaded(str(error), start_image)) from error
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

    width, height = settings.width_height()
    model, num_inference_steps, guidance_scale = render_settings(settings)
    common = dict(
        negative_prompt=settings.negative_prompt,
        model=model,
        seed=int(settings.seed),
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        width=width,
        height=height,
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
        rewrite_candidates=int(settings.rewrite_candidates),
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
    # Not in the session's image folder: that one is served, an export is for its owner only.
    path = Path(tempfile.mkdtemp(prefix="diffchat-export-")) / "session.json"
    state.session.export_json(path, embed_images=True)
    # The chat transcript travels with the tree (core.session ignores the extra key).
    data = json.loads(path.read_text(encoding="utf-8"))
    data[TRANSCRIPT_KEY] = transcript_messages({TRANSCRIPT_KEY: state.messages})
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    return str(path)


def import_session(context: AppContext, file_path: str | None, state: ChatState | None, seed):
    """Replace the chat by an imported session file, or keep it exactly as it was.

    The file is read and checked into a fresh session whose folder is a new subfolder of
    the chat's image folder (diffchat_ui.state.import_folder: in the workspace, where a
    restart finds the images again, and unique, so two imports at once never share one).
    The old chat's images are removed only when the store files the import in its place
    (SessionStore.put); an import refused there, because another import or New session
    replaced the chat meanwhile, leaves the chat that was filed as it is. A refused file
    removes that subfolder and leaves the chat, its turns and its images as they were, with
    the reason as a chat message.
    """
    from core.session import Session
    from diffchat_ui.state import import_folder, swap_in_import

    if not file_path:
        return (state, *_view(state, context))
    if state is None:  # called directly; the app's handler always passes a filed chat
        state = ChatState.new(int(seed))
    new_state = ChatState.new(int(seed), folder=import_folder(state))
    try:
        new_state.session = Session.import_json(Path(file_path), image_folder=new_state.folder)
    except Exception as error:  # the edge: whatever went wrong, the current chat stays
        delete_state_folder(new_state)
        if not isinstance(error, DiffChatError):
            log.exception("session import failed")
        reason = str(error) if isinstance(error, DiffChatError) else type(error).__name__
        reason = as_uploaded(reason, file_path)
        _error(state, f"The session file was not imported; your chat is unchanged. {reason}")
        return (state, *_view(state, context))
    new_state = swap_in_import(state, new_state)
    turn = current_turn(new_state)
    try:  # the transcript of an export, when it has one (the file already passed import_json)
        new_state.messages = transcript_messages(json.loads(Path(file_path).read_text("utf-8")))
    except (OSError, ValueError):
        new_state.messages = []
    new_state.say(
        "assistant",
        f"Imported a session with {len(new_state.session.turns)} turns"
        + (f"; current prompt: {turn.prompt}" if turn else "."),
    )
    return (new_state, *_view(new_state, context))


# ---------------------------------------------------------------- layout


def build(context: AppContext) -> CreateControls:
    """Lay out the Create tab, wire its events (inside a gr.Tab) and return the widgets other
    parts of the page update (CreateControls)."""
    settings = context.settings
    # The chat lives in context.sessions behind a secret only this browser (gr.BrowserState)
    # or API client holds; `bind` adapts the handlers below (see diffchat_ui.sessions).
    state = gr.BrowserState(
        None, storage_key=BROWSER_STORAGE_KEY, secret=browser_storage_secret(context.key)
    )
    # The secrets of this browser's earlier chats, newest first (Past sessions).
    past = gr.BrowserState(
        [], storage_key=PAST_STORAGE_KEY, secret=browser_storage_secret(context.key)
    )

    def bind(fn, position: int = 0, returns_state: bool = True, fresh: bool = False):
        return session_handler(
            context.sessions,
            fn,
            position=position,
            returns_state=returns_state,
            fresh=fresh,
            on_cancel=context.cancel_flags.stop,
        )

    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(
                label="Chat",
                height=480,
                elem_id="chat",
                feedback_options=None,
                placeholder=WELCOME,
                examples=[{"text": text} for text in EXAMPLE_FIRST_MESSAGES],
            )
            start_mode = gr.Radio(
                [START_TEXT, START_IMAGE], value=START_TEXT, label="Start", elem_id="start-mode"
            )
            # gr.File, not gr.Image: gr.Image opens and converts an upload before the app sees
            # it (a 13000x13000 grayscale PNG cost about 0.5 GB; a corrupt file, a bare "Error").
            # core.validation.load_user_image checks the header first and words the refusal.
            with gr.Column(visible=False) as upload_box:
                start_image = gr.File(
                    type="filepath",
                    label="Your image (then describe it in a few words)",
                    elem_id="start-image",
                )
                # What the app saw once the upload passed the check (a downscaled copy).
                preview = gr.Image(
                    label="Your image, checked",
                    type="pil",
                    format="png",
                    interactive=False,
                    visible=False,
                    height=200,
                    buttons=[],
                    elem_id="upload-preview",
                )
                upload_note = gr.Markdown(elem_id="upload-note")
            instruction = gr.Textbox(
                label="Instruction",
                placeholder="First a description (“a red fox in a snowy forest, oil painting”), "
                "then edits (“make it night”).",
                lines=1,
                max_length=MAX_INSTRUCTION_CHARS,
                elem_id="instruction",
            )
            counter = gr.Markdown(f"0 / {MAX_INSTRUCTION_CHARS} characters", elem_id="counter")
            # the message being sent: the box is cleared at once, the turn reads it from here
            submitted = gr.Textbox(visible=False)
            with gr.Row():
                send_button = gr.Button("Send", variant="primary", elem_id="send")
                stop_button = gr.Button("Stop", elem_id="stop", **STOP_IDLE)
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
                show_legend=False,  # until a turn changes words (prompt_diff_view)
                combine_adjacent=False,
                elem_id="prompt-diff",
            )
            with gr.Row(equal_height=True):
                hand_prompt = gr.Textbox(
                    label="Prompt (edit by hand)",
                    lines=2,
                    scale=4,
                    elem_id="hand-prompt",
                    info="Change the prompt and render it as a new turn (“edited by hand”).",
                )
                render_button = gr.Button("Render this prompt", scale=1, elem_id="render-prompt")
            token_count = gr.Markdown(elem_id="token-count")
            scores = gr.Markdown(elem_id="scores")
            download = gr.File(label="Download image (PNG with parameters)", interactive=False)
            gallery = gr.Gallery(
                label="All turns (▶ current; click one to continue from it)",
                columns=4,
                height=220,
                preview=False,
                allow_preview=False,
                fit_columns=False,
                object_fit="cover",
                elem_id="turns",
            )
            with gr.Accordion("Branches", open=True):
                tree = gr.Markdown(turn_tree(None), elem_id="turn-tree")
    with gr.Accordion("Settings", open=False):
        with gr.Row():
            model = gr.Dropdown(
                settings.image_model_choices() + [(CUSTOM_MODEL, CUSTOM_MODEL)],
                value=settings.text2image_model,
                label="Image model",
                elem_id="image-model",
            )
            speed = gr.Radio(
                list(SPEEDS),
                value="quality",
                label="Speed",
                info="draft: the model family's few-step model, with its own steps and guidance",
                elem_id="speed",
            )
            custom_model = gr.Textbox(label="Custom model (folder or id)", visible=False)
            rewriter = gr.Dropdown(
                context.rewriter_choices(),
                value=settings.rewriter,
                label="Rewriter",
                allow_custom_value=True,
            )
        model_note = gr.Markdown(elem_id="model-note")
        edit_mode = gr.Radio(
            list(MODE_LABELS), value="rewrite only", label="Edit mode", elem_id="edit-mode"
        )
        with gr.Row():
            strength = gr.Slider(
                0.05,
                1.0,
                value=0.6,
                step=0.05,
                label="Keep composition: strength",
                visible=False,
                elem_id="strength",
            )
            image_guidance = gr.Slider(
                0.0,
                5.0,
                value=1.5,
                step=0.1,
                label="InstructPix2Pix image guidance s_I",
                visible=False,
                elem_id="s-i",
            )
            guidance = gr.Slider(
                0.0,  # few-step models (SD-Turbo, SDXL-Lightning) run without guidance
                20.0,
                value=generation_defaults(settings.text2image_model)["guidance_scale"],
                step=0.5,
                label=GUIDANCE_LABEL,
                elem_id="guidance",
            )
        with gr.Row():
            size = gr.Dropdown(
                size_presets(settings.text2image_model),
                value=SIZE_NATIVE,
                label="Output size",
                elem_id="size",
            )
            variations = gr.Slider(
                1,
                MAX_VARIATIONS,
                value=1,
                step=1,
                label="Variations (seeds s, s+1, …; click one to continue)",
                elem_id="variations",
            )
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed (same for the whole session)")
            reroll = gr.Button("Re-roll seed", size="sm")
        with gr.Accordion("Advanced", open=False):
            with gr.Row():
                steps = gr.Slider(
                    1,
                    100,
                    value=10
                    if settings.offline
                    else generation_defaults(settings.text2image_model)["num_inference_steps"],
                    step=1,
                    label="Steps",
                )
            negative = gr.Textbox(label="Negative prompt", value="")
            rewrite_candidates = gr.Slider(
                1,
                MAX_REWRITE_CANDIDATES,
                value=DEFAULT_REWRITE_CANDIDATES,
                step=1,
                label="Rewrite candidates (verified decoding: when the rewrite misses the "
                "edit, try the reader's literal edit, then this many, and keep the best; 1 = off)",
                elem_id="rewrite-candidates",
            )
    with gr.Accordion("Past sessions", open=False), gr.Row():
        past_list = gr.Dropdown(
            [], label="Your earlier chats in this browser", elem_id="past-sessions", scale=4
        )
        reopen_button = gr.Button("Reopen", scale=1, elem_id="reopen")
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
        size,
        variations,
        rewrite_candidates,
        speed,
    ]

    # Gradio injects gr.Request / gr.Progress only into positional parameters, so the
    # widgets are spelled out here and packed into TurnSettings at once.
    def handler(hand: bool):
        """Return the Send handler (`hand`: the text is a prompt to render as typed)."""

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
            size_v,
            variations_v,
            candidates_v,
            speed_v,
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
                size=size_v or "",
                variations=int(variations_v or 1),
                rewrite_candidates=int(candidates_v or DEFAULT_REWRITE_CANDIDATES),
                speed=speed_v or "quality",
                user_root=context.user_root(request),
            )
            # Stop is keyed by the stored session, not by the (public) Gradio session hash.
            session_key = chat_state.session_id or request.session_hash or "anonymous"
            yield from send(
                context,
                "" if hand else text,
                chat_state,
                start,
                start_img,
                turn_settings,
                session_key,
                progress,
                hand_prompt=(text or "") if hand else None,
            )

        return on_send

    on_send = handler(hand=False)
    extras = [tree, hand_prompt, start_mode, upload_box, stop_button, seed]

    def refresh_extras(chat_state, start):
        """The screen beyond the API view: tree, prompt box, start choice (only before the
        first turn), Stop greyed out, the current turn's seed."""
        turn = current_turn(chat_state) if chat_state is not None else None
        started = chat_state is not None and bool(chat_state.session.turns)
        return (
            turn_tree(chat_state),
            turn.prompt if turn is not None else "",
            gr.update(visible=not started),
            gr.update(visible=not started and start == START_IMAGE),
            gr.update(**STOP_IDLE),
            turn.seed if turn is not None else gr.update(),
        )

    bound_extras = bind(refresh_extras, 0, returns_state=False)

    def accept(
        text, chat_state, rewriter_v, start, model_v, custom_v, mode_v, speed_v, request: gr.Request
    ):
        # Clear the box at once unless the message will be refused (then it stays to fix).
        problem = model_refusal(
            chat_state,
            start,
            model_v,
            custom_v or "",
            mode_v,
            settings.ip2p_model,
            speed=speed_v or "quality",
            root=context.user_root(request),
            hub_reachable=context.settings.hub_reachable,
        )
        refused = refusal(text or "", chat_state, rewriter_v, problem)
        return gr.update() if refused else "", text, gr.update(**STOP_RUNNING)

    send_inputs = [submitted, state, start_mode, start_image, *setting_widgets]
    for trigger, api_name in ((instruction.submit, "send"), (send_button.click, False)):
        trigger(
            bind(accept, 1, returns_state=False),
            [instruction, state, rewriter, start_mode, model, custom_model, edit_mode, speed],
            [instruction, submitted, stop_button],
            queue=False,
            api_name=False,
            show_progress="hidden",
        ).then(
            bind(on_send, 1, fresh=True),
            send_inputs,
            view,
            api_name=api_name,
            concurrency_id="chat",
            show_progress_on=[image],  # the chat, the prompt and the gallery stay readable
        ).then(
            bound_extras,
            [state, start_mode],
            extras,
            api_name=False,
            queue=False,
            show_progress="hidden",
        )
    counter_js = f"(text) => `${{(text || '').length}} / {MAX_INSTRUCTION_CHARS} characters`"
    instruction.input(None, instruction, counter, js=counter_js, api_name=False)
    instruction.change(None, instruction, counter, js=counter_js, api_name=False)

    render_prompt = handler(hand=True)
    render_button.click(
        lambda: gr.update(**STOP_RUNNING), None, stop_button, queue=False, api_name=False
    ).then(
        bind(render_prompt, 1, fresh=True),
        [hand_prompt, state, start_mode, start_image, *setting_widgets],
        view,
        api_name="render_prompt",
        concurrency_id="chat",
        show_progress_on=[image],
    ).then(
        bound_extras,
        [state, start_mode],
        extras,
        api_name=False,
        queue=False,
        show_progress="hidden",
    )

    def on_token_count(text, model_v):
        return token_count_text(text or "", model_v)

    # Counted at each change (a restored chat, each turn, typing): no timer over the count.
    hand_prompt.change(
        on_token_count, [hand_prompt, model], token_count, api_name=False, show_progress="hidden"
    )

    # A clicked choice (a clarifying question's, or try again) is sent like a typed message.
    def on_option(evt: gr.SelectData):
        return evt.value, gr.update(**STOP_RUNNING)

    chatbot.option_select(
        on_option,
        None,
        [submitted, stop_button],
        queue=False,
        api_name=False,
        show_progress="hidden",
    ).then(
        bind(on_send, 1, fresh=True),
        send_inputs,
        view,
        api_name=False,
        concurrency_id="chat",
        show_progress_on=[image],
    ).then(
        bound_extras,
        [state, start_mode],
        extras,
        api_name=False,
        queue=False,
        show_progress="hidden",
    )

    def on_example(evt: gr.SelectData):
        return evt.value["text"]

    chatbot.example_select(on_example, None, instruction, api_name=False)

    def on_stop(session_secret, request: gr.Request):
        try:
            context.cancel_flags.stop(context.sessions.cancel_key(session_secret, request.username))
        except DiffChatError as error:
            raise gr.Error(shown_message(error)) from error

    stop_button.click(on_stop, state, None, api_name="stop", queue=False)

    def open_for_browser(session_secret, request: gr.Request):
        return context.sessions.open(session_secret, request.username, browser=True)

    def open_session(request: gr.Request) -> str:
        """Return a new session secret; pass it as `session_secret` to every chat call."""
        return context.sessions.open(None, request.username, browser=False)

    # A browser gets (or keeps) its secret when the page loads; API clients ask for one.
    gr.api(open_session, api_name="open_session")

    def tree_event(listener, fn, inputs, api_name, **kwargs):
        listener(bind(fn), inputs, view, api_name=api_name, **kwargs).then(
            bound_extras,
            [state, start_mode],
            extras,
            api_name=False,
            queue=False,
            show_progress="hidden",
        )

    tree_event(undo_button.click, lambda s: _tree_action(context, s, "undo"), state, "undo")
    tree_event(forget_button.click, lambda s: _tree_action(context, s, "forget"), state, "forget")

    def on_branch(chat_state, turn_id):
        return _tree_action(context, chat_state, "branch", int(turn_id))

    # Hidden API twin of the gallery click, for scripted clients (gradio_client).
    branch_id = gr.Number(visible=False, precision=0)
    tree_event(branch_id.change, on_branch, [state, branch_id], "branch")

    def on_gallery(chat_state, evt: gr.SelectData):
        return branch_from_gallery(context, chat_state, evt)

    tree_event(gallery.select, on_gallery, state, False)

    def stored_chat(secret, user):
        try:
            return context.sessions.get(secret, user)
        except DiffChatError:  # no valid secret yet: nothing stored
            return None

    def past_choices(past_secrets, request: gr.Request):
        """The past-sessions dropdown: a title per earlier chat of this browser still kept."""
        choices = []
        for index, secret in enumerate(past_secrets or []):
            try:
                title = context.sessions.title(secret, request.username)
            except DiffChatError:
                title = None
            if title:
                choices.append((title, str(index)))
        return gr.update(choices=choices, value=None)

    def on_new(secret, past_secrets, confirmed, request: gr.Request):
        """Start an empty chat; one with turns is kept under Past sessions (a new secret)."""
        user = request.username
        current = stored_chat(secret, user)
        if confirmed is False:  # the person cancelled the confirmation dialog
            return (gr.update(), gr.update(), *_view(current, context), gr.update())
        past_secrets = list(past_secrets or [])
        if current is not None and current.session.turns:
            past_secrets = [secret] + [old for old in past_secrets if old != secret]
            past_secrets = past_secrets[:MAX_PAST_SESSIONS]
            secret = context.sessions.open(None, user, browser=True)
        elif current is not None:
            context.sessions.drop(secret, user)
        return (secret, past_secrets, *_view(None, context), past_choices(past_secrets, request))

    def on_reopen(secret, past_secrets, choice, request: gr.Request):
        """Swap the current chat for a past one (the current one joins the past sessions)."""
        user = request.username
        past_secrets = list(past_secrets or [])
        current = stored_chat(secret, user)
        try:
            chosen = past_secrets[int(choice)]
        except (TypeError, ValueError, IndexError):
            return (gr.update(), gr.update(), *_view(current, context), gr.update())
        reopened = stored_chat(chosen, user)
        rest = [old for old in past_secrets if old != chosen]
        if current is not None and current.session.turns:
            rest = [secret] + rest
        if reopened is None:  # removed meanwhile (idle past DIFFCHAT_SESSION_TTL)
            return (secret, rest, *_view(current, context), past_choices(rest, request))
        reopened.say("assistant", "Reopened this chat.")
        context.sessions.put(chosen, user, reopened)
        return (chosen, rest, *_view(reopened, context), past_choices(rest, request))

    # Ask before throwing a session with turns away (the browser's own confirm dialog).
    confirm_js = (
        "(s, ok) => [s, document.querySelector('#turns img') === null || "
        f"confirm({NEW_SESSION_QUESTION!r})]"
    )
    new_confirmed = gr.Checkbox(visible=False, value=True)
    past_outputs = [state, past, *view, past_list]
    new_js = "(s, p, ok) => [s, p, " + confirm_js.split("[s, ", 1)[1]

    def fresh_start(chat_state):
        """After New session, a chat without turns starts from text with an empty upload box
        (the last chat's upload would be the new chat's picture); a cancelled New session
        kept its chat, and this changes nothing."""
        if chat_state is not None and chat_state.session.turns:
            return gr.update(), gr.update(), gr.update(), gr.update()
        return START_TEXT, None, gr.update(value=None, visible=False), ""

    bound_fresh_start = bind(fresh_start, returns_state=False)
    new_events = [
        new_button.click(
            on_new, [state, past, new_confirmed], past_outputs, api_name="new_session", js=new_js
        ),
        # The chat's own trash icon (Gradio always shows it) is New session too: it empties the
        # chat on screen at once, and a cancelled confirmation puts the chat back (on_new).
        chatbot.clear(
            on_new, [state, past, new_confirmed], past_outputs, api_name=False, js=new_js
        ),
    ]
    for index, event in enumerate(new_events):
        new_events[index] = event.then(
            bound_fresh_start,
            state,
            [start_mode, start_image, preview, upload_note],
            api_name=False,
            queue=False,
            show_progress="hidden",
        )
    for event in (
        *new_events,
        reopen_button.click(
            on_reopen, [state, past, past_list], past_outputs, api_name="reopen_session"
        ),
    ):
        event.then(
            bound_extras,
            [state, start_mode],
            extras,
            api_name=False,
            queue=False,
            show_progress="hidden",
        )

    # ...and then finds its chat as it left it: a reload, or a restart (diffchat_ui.saved_chats).
    # Without Gradio's timer over the chat and the image: a restore is no work in progress.
    quiet = {"api_name": False, "show_progress": "hidden"}
    gr.context.Context.root_block.load(open_for_browser, state, state, **quiet).then(
        bind(lambda chat_state: (chat_state, *_view(chat_state, context))), state, view, **quiet
    ).then(bound_extras, [state, start_mode], extras, **quiet).then(
        past_choices, past, past_list, **quiet
    )

    def on_reroll(chat_state):
        if chat_state is None:
            return random_seed()
        return chat_state.session.reroll_seed()

    reroll.click(bind(on_reroll, returns_state=False), state, seed, api_name="reroll_seed")
    start_mode.change(
        lambda mode: gr.update(visible=mode == START_IMAGE), start_mode, upload_box, api_name=False
    )

    def on_upload(path):
        shown, note = upload_preview(path)
        # Starting from a photo: keep its composition rather than throw it away with a re-render.
        return (
            gr.update(value=shown, visible=shown is not None),
            note,
            gr.update(value="keep composition") if shown is not None else gr.update(),
        )

    start_image.upload(on_upload, start_image, [preview, upload_note, edit_mode], api_name=False)
    start_image.clear(
        lambda: (gr.update(value=None, visible=False), ""),
        None,
        [preview, upload_note],
        api_name=False,
    )
    edit_mode.change(mode_controls, edit_mode, [strength, image_guidance, guidance], api_name=False)

    def on_model(model_v, speed_v):
        return (
            gr.update(visible=model_v == CUSTOM_MODEL),
            model_note_text(model_v, speed_v, context.settings.hub_reachable),
            gr.update(choices=size_presets(model_v), value=SIZE_NATIVE),
        )

    model.change(on_model, [model, speed], [custom_model, model_note, size], api_name=False)
    speed.change(
        lambda model_v, speed_v: model_note_text(model_v, speed_v, context.settings.hub_reachable),
        [model, speed],
        model_note,
        api_name=False,
    )
    export_button.click(
        bind(export_session, returns_state=False), state, export_file, api_name="export_session"
    )
    import_file.upload(
        bind(lambda f, s, sd: import_session(context, f, s, sd), 1, fresh=True),
        [import_file, state, seed],
        view,
        api_name="import_session",
    ).then(
        bound_extras,
        [state, start_mode],
        extras,
        api_name=False,
        queue=False,
        show_progress="hidden",
    )
    return CreateControls(rewriter, model, model_note, steps, guidance, size)


@dataclass(frozen=True)
class CreateControls:
    """The Create tab widgets other parts of the page update: the rewriter dropdown (new
    training runs) and the image model's controls (the banner's download switches them)."""

    rewriter: gr.Dropdown
    model: gr.Dropdown
    model_note: gr.Markdown
    steps: gr.Slider
    guidance: gr.Slider
    size: gr.Dropdown

    def model_outputs(self) -> list:
        """Return the widgets `model_updates` answers for, in its order."""
        return [self.model, self.model_note, self.steps, self.guidance, self.size]


def model_updates(app_settings) -> tuple:
    """Return updates of (model dropdown, model note, steps, guidance, size) that put the
    Create tab on the app's start model (`AppSettings.text2image_model`), with the dropdown's
    "(not downloaded)" marks read again."""
    start = app_settings.text2image_model
    defaults = generation_defaults(start)
    return (
        gr.update(
            choices=app_settings.image_model_choices() + [(CUSTOM_MODEL, CUSTOM_MODEL)],
            value=start,
        ),
        model_note_text(start, hub_reachable=app_settings.hub_reachable),
        gr.update(value=10 if app_settings.offline else defaults["num_inference_steps"]),
        gr.update(value=defaults["guidance_scale"]),
        gr.update(choices=size_presets(start), value=SIZE_NATIVE),
    )


PREVIEW_SIDE = 512


def upload_preview(path: str | None):
    """Return (preview, note) for an uploaded file: a copy of the image at most PREVIEW_SIDE
    pixels a side once core.validation.load_user_image accepted it, or (None, the refusal).

    The refusal names the file as the person knows it, not by the server's upload path;
    a refused file is not used (the first turn checks it again).
    """
    from core.validation import load_user_image

    if not path:
        return None, ""
    try:
        image = load_user_image(path)
    except DiffChatError as error:
        reason = shown_message(as_uploaded(str(error), path))
        return None, f"⚠️ This file cannot be used: {reason} Upload another image."
    width, height = image.size
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return image, f"{width} × {height} pixels. Describe it in a few words, then press Send."


def mode_controls(mode_label: str):
    """Return updates for (strength, s_I, guidance): only the sliders the edit mode reads."""
    mode = MODE_LABELS.get(mode_label, "rewrite")
    return (
        gr.update(visible=mode == "keep"),
        gr.update(visible=mode == "ip2p"),
        gr.update(label="InstructPix2Pix text guidance s_T" if mode == "ip2p" else GUIDANCE_LABEL),
    )


def model_note_text(model: str, speed: str = "quality", hub_reachable: bool = True) -> str:
    """Return the note under the model dropdown: why a picked model cannot run here
    (`hub_reachable`: AppSettings'), and at the draft speed which few-step model renders
    instead, with which steps and guidance."""
    from diffchat_ui.settings import model_available, unavailable_reason

    if model == CUSTOM_MODEL:
        return "Type a local diffusers folder or a Hugging Face id below."
    draft = None
    if speed == "draft":
        try:
            draft = render_model(model, speed)
        except InputError as error:
            return f"⚠️ {shown_message(error)}"
    rendering = draft or model
    reason = unavailable_reason(rendering, hub_reachable)
    if reason:
        note = f"⚠️ {shown_message(reason)}"
    elif not model_available(rendering):
        note = f"{rendering} is not downloaded yet: the first turn downloads it (several GB)."
    else:
        note = ""
    if draft is None:
        return note
    defaults = generation_defaults(draft)
    how = (
        f"Draft speed: turns render with **{draft}** at {defaults['num_inference_steps']} "
        f"steps, guidance {defaults['guidance_scale']:g} (the Steps and Guidance sliders apply "
        "at the quality speed)."
    )
    return f"{how}\n\n{note}" if note else how


def token_count_text(prompt: str, model: str) -> str:
    """Return "N / 75 CLIP tokens" for the hand-edited prompt (longer prompts are chunked)."""
    from core.images import CLIP_PROMPT_TOKEN_LIMIT, count_clip_tokens

    if not prompt.strip():
        return ""
    count = count_clip_tokens(prompt, model)
    note = (
        " (longer prompts are encoded in 75-token chunks)"
        if count > CLIP_PROMPT_TOKEN_LIMIT
        else ""
    )
    return f"{count} / {CLIP_PROMPT_TOKEN_LIMIT} CLIP tokens{note}"
