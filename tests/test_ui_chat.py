"""What the Create tab's chat says and shows, without a browser (issue 13 items 2, 4, 7-9):
each turn names its edit mode, an image start shows its description as the first prompt,
an imported session lives in the chat's workspace folder, gone images are said, a refused
message keeps its text. Handlers are called directly, with a stand-in for the app context."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from image_fixtures import corrupt_png, small_png, write

KEY = b"k" * 32


def _context(offline: bool = True):
    # What the Create tab's views and first-turn handlers read of AppContext.
    return SimpleNamespace(
        settings=SimpleNamespace(offline=offline, ip2p_model="tiny-ip2p", hub_reachable=True)
    )


def _turn_settings(**changes):
    from diffchat_ui.create_tab import TurnSettings

    fields = dict(
        model="tiny-sd",
        custom_model="",
        rewriter="append",
        edit_mode="rewrite only",
        strength=0.6,
        image_guidance_scale=1.5,
        guidance_scale=7.5,
        seed=4,
        num_inference_steps=2,
        negative_prompt="",
    )
    return TurnSettings(**(fields | changes))


def _chat_with_images(store, secret, prompts):
    """A filed chat of one turn per prompt, each with a real PNG in the chat's folder."""
    state = store.new_state(secret, None, seed=1)
    for index, prompt in enumerate(prompts):
        path = write(state.folder, f"turn-{index:03d}.png", small_png())
        state.session.add_turn(prompt, prompt, image_path=str(path), mode="rewrite")
        state.say("assistant", {"path": str(path)})
    store.put(secret, None, state)
    return state


def test_each_turn_names_its_edit_mode():
    from core.session import Session
    from diffchat_ui.create_tab import HAND_EDIT, _turn_message

    session = Session(seed=3)
    first = session.add_turn("a cat", "a cat", seed=3, mode="text")
    request = SimpleNamespace(rewriter="append")
    assert _turn_message(None, first, request).startswith("_Turn #1 · text to image (seed 3)")
    keep = session.add_turn("make it night", "a cat, night", seed=3, mode="keep")
    assert "keep composition, rewriter append" in _turn_message(first, keep, request)
    ip2p = session.add_turn("add a hat", "a cat, night", seed=3, mode="ip2p")
    assert "InstructPix2Pix: the image was edited directly and the prompt kept" in (
        _turn_message(keep, ip2p, request)
    )
    hand = session.add_turn(HAND_EDIT, "a cat at dawn", seed=3, mode="rewrite")
    line = _turn_message(ip2p, hand, request)
    assert "rewrite, edited by hand" in line and "rewriter" not in line


def test_an_image_start_shows_its_description_as_the_first_prompt(tmp_path):
    from diffchat_ui.create_tab import START_IMAGE, _view, send
    from diffchat_ui.state import ChatState

    photo = write(tmp_path, "photo.png", small_png("blue"))
    state = ChatState.new(seed=4, folder=tmp_path / "chat")
    (tmp_path / "chat").mkdir()
    screens = list(
        send(
            _context(),
            "a blue wall",
            state,
            START_IMAGE,
            str(photo),
            _turn_settings(edit_mode="keep composition"),
            "key",
            lambda *a, **k: None,
        )
    )
    state, chat, image, diff, *_ = screens[-1]
    root = state.session.current
    assert (root.mode, root.prompt, root.instruction) == (
        "upload",
        "a blue wall",
        "(uploaded image)",
    )
    assert Path(image).is_file() and Path(image).parent == tmp_path / "chat"
    assert diff["value"] == [("a blue wall", None)]  # the description is the prompt edits change
    assert diff["show_legend"] is False  # nothing changed yet
    assert "described as “a blue wall”" in chat[-1]["content"]
    # Offline there is no captioner: an image without a description is refused, with a reason.
    empty = ChatState.new(seed=4, folder=tmp_path / "other")
    (tmp_path / "other").mkdir()
    *_, (_, chat, *_) = send(
        _context(), "", empty, START_IMAGE, str(photo), _turn_settings(), "k", lambda *a, **k: 0
    )
    assert "describe your image in a few words" in chat[-1]["content"]
    assert not empty.session.turns and _view(empty, _context())[1] is None


def test_an_imported_session_lives_in_the_chats_workspace_folder(tmp_path):
    from diffchat_ui.create_tab import export_session, import_session
    from diffchat_ui.sessions import SessionStore

    workspace = tmp_path / "workspace"
    store = SessionStore(workspace, KEY, ttl_seconds=3600)
    exported = export_session(
        _chat_with_images(store, store.open(None, None, True), ["a castle", "a castle, sunset"])
    )
    secret = store.open(None, None, True)
    chat = _chat_with_images(store, secret, ["a fox"])
    old_image = Path(chat.session.current.image_path)
    folder = store.image_folder(chat.session_id)

    imported, messages, image, *_ = import_session(_context(), exported, chat, 9)
    store.put(secret, None, imported)
    assert imported.folder == folder and "Imported a session with 2 turns" in str(messages[-1])
    paths = [Path(turn.image_path) for turn in imported.session.turns.values()]
    assert all(path.is_file() and path.is_relative_to(folder) for path in paths)
    assert not old_image.exists()  # the swap removed the old chat's images
    # A restart (a new store on the same workspace) finds the imported images again.
    restarted = SessionStore(workspace, KEY, ttl_seconds=3600).get(secret, None)
    assert [turn.image_path for turn in restarted.session.turns.values()] == [
        str(path) for path in paths
    ]


def test_a_refused_import_leaves_nothing_behind(tmp_path):
    from diffchat_ui.create_tab import export_session, import_session
    from diffchat_ui.sessions import SessionStore

    store = SessionStore(tmp_path / "workspace", KEY, ttl_seconds=3600)
    chat = _chat_with_images(store, store.open(None, None, True), ["a fox", "a fox, night"])
    before = sorted(chat.folder.iterdir())
    # A real export whose second image is corrupt: refused once every image was checked.
    data = json.loads(Path(export_session(chat)).read_text())
    data["turns"][-1]["image_base64"] = base64.b64encode(corrupt_png()).decode()
    bad = write(tmp_path, "bad.json", json.dumps(data))
    state, messages, *_ = import_session(_context(), str(bad), chat, 9)
    assert state is chat and "not imported; your chat is unchanged" in messages[-1]["content"]
    assert sorted(chat.folder.iterdir()) == before  # no staging folder left, images kept


def test_a_gone_image_is_said_in_the_chat_not_shown_broken(tmp_path):
    from diffchat_ui.create_tab import GONE_IMAGE, _view
    from diffchat_ui.sessions import SessionStore

    store = SessionStore(tmp_path / "workspace", KEY, ttl_seconds=3600)
    chat = _chat_with_images(store, store.open(None, None, True), ["a fox", "a fox, night"])
    first, second = (turn.image_path for turn in chat.session.turns.values())
    Path(first).unlink()
    messages = _view(chat, _context())[0]
    assert [m["content"] for m in messages] == [GONE_IMAGE, {"path": second}]
    assert chat.messages[0]["content"] == {"path": first}  # the transcript itself is kept


def test_an_edit_of_a_turn_whose_image_is_gone_stays_in_the_box(tmp_path):
    """The chat offered the turn to branch from, but the instruction had left the box: it had
    to be typed again after clicking that turn."""
    from diffchat_ui.create_tab import refusal
    from diffchat_ui.sessions import SessionStore

    store = SessionStore(tmp_path / "workspace", KEY, ttl_seconds=3600)
    chat = _chat_with_images(store, store.open(None, None, True), ["a fox", "a fox, night"])
    assert refusal("make it foggy", chat, "append") is None
    Path(chat.session.current.image_path).unlink()
    assert refusal("make it foggy", chat, "append") == "The image of turn #2 is gone."
    chat.session.branch_from(1)  # the offered turn: the message can go now
    assert refusal("make it foggy", chat, "append") is None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("x" * 1001, "the limit is 1,000"),
        ("   ", "Please type an instruction"),
    ],
)
def test_a_refused_message_is_kept_with_its_reason(text, reason):
    from diffchat_ui.create_tab import refusal

    # The Send handler clears the box only when this says nothing (see create_tab.accept).
    assert reason in refusal(text, None, "append")
    assert refusal("a red fox", None, "append") is None


def test_variations_render_one_prompt_with_seeds_s_s_plus_1_as_siblings(monkeypatch, tmp_path):
    from PIL import Image

    import diffchat_ui.settings
    from diffchat_ui import create_tab
    from diffchat_ui.state import ChatState
    from diffchat_ui.turns import TurnResult
    from diffchat_ui.worker import CancelFlags, Worker

    rendered = []

    def run_turn(request, *_):  # stands in for the rewrite + render on the worker
        rendered.append(request)
        edit = getattr(request, "instruction", None)
        prompt = getattr(request, "target_prompt", None) or (
            f"{request.prompt}, {edit.split()[-1]}" if edit else request.prompt
        )
        return TurnResult(prompt, Image.new("RGB", (8, 8), "red"), {})

    monkeypatch.setattr(create_tab, "run_turn", run_turn)
    monkeypatch.setattr(
        diffchat_ui.settings, "unavailable_reason", lambda name, hub_reachable=True: None
    )
    context = SimpleNamespace(
        settings=_context().settings, worker=Worker(), cancel_flags=CancelFlags()
    )
    state = ChatState.new(seed=4, folder=tmp_path)

    def send(text, variations):
        screens = create_tab.send(
            context,
            text,
            state,
            create_tab.START_TEXT,
            None,
            _turn_settings(variations=variations),
            "key",
            lambda *a, **k: None,
        )
        return list(screens)[-1]

    send("a red fox", 3)
    roots = list(state.session.turns.values())
    assert [(turn.seed, turn.parent_id) for turn in roots] == [(4, None), (5, None), (6, None)]
    assert state.session.current.id == roots[0].id  # continues from the first; click another
    assert "3 variations (seeds 4, 5, 6)" in state.messages[-1]["content"]

    rendered.clear()
    *_, gallery, _ = send("make it night", 2)
    edits = [turn for turn in state.session.turns.values() if turn.parent_id == roots[0].id]
    assert [(turn.seed, turn.prompt) for turn in edits] == [
        (4, "a red fox, night"),
        (5, "a red fox, night"),
    ]
    # the rewriter runs once: the second variation renders the first one's prompt
    assert [request.target_prompt for request in rendered] == [None, "a red fox, night"]
    assert len(gallery) == 5


def test_a_turns_image_file_is_named_after_its_turn(tmp_path):
    from diffchat_ui.state import ChatState

    state = ChatState.new(seed=0, folder=tmp_path)
    state.session.add_turn("a cat", "a cat", error="the render failed")  # turn #1, no image
    assert state.next_image_name() == "turn-002"
    state.session.add_turn("a cat", "a cat", image_path=str(tmp_path / "turn-002.png"))
    # an earlier turn #3's file (forgotten, then the id given again after a restart) stays
    (tmp_path / "turn-003.png").write_bytes(b"png")
    assert state.next_image_name() == "turn-003-2"


# ---------------------------------------------------------------- two tabs, one secret
# Two tabs of one browser share the session secret. The Send and Import handlers below are
# bound to the store as the app binds them (diffchat_ui.sessions.session_handler); the
# render is a stand-in that waits for the test, so every step happens in a known order.

WAIT_S = 30  # every wait is bounded: a broken order fails the test instead of hanging it


@pytest.fixture
def two_tabs(monkeypatch, tmp_path):
    """A store, the bound Send and Import handlers, and the stand-in render's two events:
    `rendering` (set when a render starts) and `release` (the render finishes once set);
    `renders` lists how each render ended ("finished", or "stopped" by its cancel event)."""
    import threading
    import time

    from PIL import Image

    import diffchat_ui.settings
    from core.errors import GenerationCancelled
    from diffchat_ui import create_tab
    from diffchat_ui.sessions import SessionStore, session_handler
    from diffchat_ui.turns import TurnResult
    from diffchat_ui.worker import CancelFlags, Worker

    rendering, release = threading.Event(), threading.Event()
    renders = []

    def run_turn(request, progress, cancel_event, *_):  # stands in for the rewrite + render
        rendering.set()
        deadline = time.monotonic() + WAIT_S
        while not release.wait(timeout=0.01) and time.monotonic() < deadline:
            if cancel_event.is_set():  # as the library checks Stop between diffusion steps
                renders.append("stopped")
                raise GenerationCancelled("Stopped.")
        renders.append("finished")
        edit = getattr(request, "instruction", None)
        prompt = f"{request.prompt}, {edit}" if edit else request.prompt
        return TurnResult(prompt, Image.new("RGB", (8, 8), "red"), {})

    monkeypatch.setattr(create_tab, "run_turn", run_turn)
    monkeypatch.setattr(
        diffchat_ui.settings, "unavailable_reason", lambda name, hub_reachable=True: None
    )
    context = SimpleNamespace(
        settings=_context().settings, worker=Worker(), cancel_flags=CancelFlags()
    )
    store = SessionStore(tmp_path / "workspace", KEY, ttl_seconds=3600)

    def on_send(text, chat_state):
        yield from create_tab.send(
            context,
            text,
            chat_state,
            create_tab.START_TEXT,
            None,
            _turn_settings(),
            chat_state.session_id,
            lambda *a, **k: None,
        )

    def on_import(file_path, chat_state, seed):
        return create_tab.import_session(context, file_path, chat_state, seed)

    bind = dict(returns_state=True, fresh=True, on_cancel=context.cancel_flags.stop)
    return SimpleNamespace(
        store=store,
        worker=context.worker,
        send=session_handler(store, on_send, position=1, **bind),
        import_session=session_handler(store, on_import, position=1, **bind),
        rendering=rendering,
        release=release,
        renders=renders,
    )


def _call(handler, *args):
    """Run a bound handler to its end as Gradio would; return its outputs (a generator's
    last yield), raising what it raised."""
    import asyncio
    import inspect

    async def outputs():
        result = handler(*args)
        if inspect.isasyncgen(result):
            items = [item async for item in result]
            return items[-1]
        return await result

    return asyncio.run(outputs())


def _in_thread(call, *args):
    """Start `_call(*args)` in a thread; return (thread, outcome), outcome filled with
    "outputs" or "error" once it ends."""
    import threading

    outcome = {}

    def target():
        try:
            outcome["outputs"] = _call(call, *args)
        except BaseException as error:  # collected; a thread's exception would vanish
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_an_import_in_another_tab_while_a_turn_renders_is_not_overwritten(two_tabs):
    """The turn used to file its old chat back over the import (whose swap had removed the
    old chat's images): the import was lost and the next export failed."""
    import gradio as gr

    from diffchat_ui.create_tab import export_session
    from diffchat_ui.sessions import REPLACED_MESSAGE, SessionStore

    store = two_tabs.store
    exported = export_session(_chat_with_images(store, store.open(None, None, True), ["a cat"]))
    secret = store.open(None, None, True)
    _chat_with_images(store, secret, ["a blue house"])

    # tab 1: a turn starts rendering
    turn, outcome = _in_thread(two_tabs.send, "add a red door", secret)
    assert two_tabs.rendering.wait(timeout=WAIT_S)
    # tab 2: an import replaces the chat meanwhile
    messages, *_ = _call(two_tabs.import_session, exported, secret, 3)
    assert "Imported a session with 1 turns" in str(messages[-1]["content"])
    imported_files = sorted(store.get(secret, None).folder.rglob("*.png"))
    # tab 1: the render finishes; its chat is no longer the filed one
    two_tabs.release.set()
    turn.join(timeout=WAIT_S)
    assert not turn.is_alive()

    assert isinstance(outcome.get("error"), gr.Error), outcome
    assert outcome["error"].message == REPLACED_MESSAGE  # said in the tab that started the turn
    chat = store.get(secret, None)
    assert [turn.prompt for turn in chat.session.turns.values()] == ["a cat"]
    assert sorted(chat.folder.rglob("*.png")) == imported_files  # the dropped turn's image too
    data = json.loads(Path(export_session(chat)).read_text())
    assert [turn["prompt"] for turn in data["turns"]] == ["a cat"]
    assert all(turn["image_base64"] for turn in data["turns"])
    # the saved chat (what a reload or restart finds) is the import as well
    restarted = SessionStore(store.workspace, KEY, ttl_seconds=3600).get(secret, None)
    assert [turn.prompt for turn in restarted.session.turns.values()] == ["a cat"]


def test_a_turn_whose_chat_is_replaced_stops_rendering_at_once(two_tabs):
    """The turn of a chat that another tab replaced (an import, New session) is refused when
    it finishes, but it used to render to its end first, holding the one model worker for
    nothing: it is stopped as soon as its chat is replaced."""
    import gradio as gr

    from diffchat_ui.create_tab import export_session
    from diffchat_ui.sessions import REPLACED_MESSAGE

    store = two_tabs.store
    exported = export_session(_chat_with_images(store, store.open(None, None, True), ["a cat"]))
    secret = store.open(None, None, True)
    _chat_with_images(store, secret, ["a blue house"])

    turn, outcome = _in_thread(two_tabs.send, "add a red door", secret)
    assert two_tabs.rendering.wait(timeout=WAIT_S)
    _call(two_tabs.import_session, exported, secret, 3)  # the other tab; `release` stays unset
    turn.join(timeout=WAIT_S)
    two_tabs.release.set()  # lets a render that was not stopped end (and the test fail)
    assert not turn.is_alive()
    assert two_tabs.renders == ["stopped"]
    assert isinstance(outcome.get("error"), gr.Error), outcome
    assert outcome["error"].message == REPLACED_MESSAGE
    assert [turn.prompt for turn in store.get(secret, None).session.turns.values()] == ["a cat"]

    # New session dropping a chat with no turns yet stops its first render the same way.
    two_tabs.rendering.clear()
    two_tabs.release.clear()
    fresh = store.open(None, None, True)
    first, outcome = _in_thread(two_tabs.send, "a red fox", fresh)
    assert two_tabs.rendering.wait(timeout=WAIT_S)
    store.drop(fresh, None)
    first.join(timeout=WAIT_S)
    two_tabs.release.set()
    assert not first.is_alive() and two_tabs.renders == ["stopped", "stopped"]
    assert outcome["error"].message == REPLACED_MESSAGE


def test_concurrent_sends_on_one_chat_still_make_branches(two_tabs):
    import time

    from diffchat_ui.sessions import SessionStore

    store = two_tabs.store
    secret = store.open(None, None, True)
    root = _chat_with_images(store, secret, ["a blue house"]).session.current
    edits = ["add a red door", "add snow", "add a moon"]
    sends = [_in_thread(two_tabs.send, edit, secret) for edit in edits]
    # every send has read the chat and queued its render behind the first, held one
    deadline = time.monotonic() + WAIT_S
    while two_tabs.worker.pending() < len(edits) - 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert two_tabs.rendering.wait(timeout=WAIT_S) and two_tabs.worker.pending() == 2
    two_tabs.release.set()
    for thread, outcome in sends:
        thread.join(timeout=WAIT_S)
        assert not thread.is_alive() and "error" not in outcome, outcome

    for chat in (
        store.get(secret, None),
        SessionStore(store.workspace, KEY, ttl_seconds=3600).get(secret, None),
    ):
        children = [turn for turn in chat.session.turns.values() if turn.parent_id == root.id]
        assert sorted(turn.prompt for turn in children) == sorted(
            f"a blue house, {edit}" for edit in edits
        )


def test_two_first_sends_at_once_on_a_chat_less_session_land_in_one_chat(two_tabs, monkeypatch):
    """Both sends found no chat and each made one: the second replaced the first, whose turn
    stopped early. The chat is now made under the store lock, once; both turns land in it."""
    import threading

    from diffchat_ui import sessions

    store = two_tabs.store
    secret = store.open(None, None, True)
    both_looked = threading.Barrier(2, timeout=5)  # broken (and passed) when they take turns
    original = sessions.load_chat

    def load_chat(*args):  # both sends find no saved chat before either makes one
        found = original(*args)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_looked.wait()
        return found

    monkeypatch.setattr(sessions, "load_chat", load_chat)
    two_tabs.release.set()
    sends = [_in_thread(two_tabs.send, prompt, secret) for prompt in ("a red fox", "a blue whale")]
    for thread, outcome in sends:
        thread.join(timeout=WAIT_S)
        assert not thread.is_alive() and "error" not in outcome, outcome
        assert "⚠️" not in str(outcome["outputs"][0][-1]["content"]), outcome
    assert two_tabs.renders == ["finished", "finished"]
    # Each is the first prompt of the chat or, when the other's turn landed first, an
    # instruction on it (the append rewriter adds it to the prompt).
    first, second = store.get(secret, None).session.turns.values()
    assert {first.prompt, second.prompt.split(", ")[-1]} == {"a blue whale", "a red fox"}


def _workspace_files(store):
    return sorted(path.relative_to(store.workspace) for path in store.workspace.rglob("*"))


@pytest.mark.parametrize("pause", ["before its images are written", "before it is filed"])
def test_two_imports_at_once_leave_one_of_them_whole(two_tabs, monkeypatch, pause):
    """Two imports on one chat (two tabs, or two quick uploads): each one's swap used to
    remove everything in the chat's folder but its own staging folder, so the other
    import's images went, and the chat that was filed pointed at deleted files."""
    import threading

    import gradio as gr

    from core.session import Session
    from diffchat_ui.create_tab import export_session
    from diffchat_ui.sessions import REPLACED_MESSAGE, SessionStore

    store = two_tabs.store
    first = export_session(_chat_with_images(store, store.open(None, None, True), ["a cat"]))
    second = export_session(
        _chat_with_images(store, store.open(None, None, True), ["a dog", "a dog, asleep"])
    )
    secret = store.open(None, None, True)
    _chat_with_images(store, secret, ["a blue house"])

    paused, resume = threading.Event(), threading.Event()
    original = Session.import_json.__func__

    def import_json(cls, path, image_folder=None):  # holds the first import where asked
        hold = str(path) == first
        if hold and pause == "before its images are written":
            paused.set()
            resume.wait(timeout=WAIT_S)
        session = original(cls, path, image_folder)
        if hold and pause == "before it is filed":
            paused.set()
            resume.wait(timeout=WAIT_S)
        return session

    monkeypatch.setattr(Session, "import_json", classmethod(import_json))
    held, outcome = _in_thread(two_tabs.import_session, first, secret, 3)
    assert paused.wait(timeout=WAIT_S)
    messages, *_ = _call(two_tabs.import_session, second, secret, 3)  # the other tab
    assert "Imported a session with 2 turns" in str(messages[-1]["content"])
    resume.set()
    held.join(timeout=WAIT_S)
    assert not held.is_alive()

    # The first import started from the chat the second one replaced: it is refused.
    assert isinstance(outcome.get("error"), gr.Error), outcome
    assert outcome["error"].message == REPLACED_MESSAGE
    for chat in (
        store.get(secret, None),
        SessionStore(store.workspace, KEY, 3600).get(secret, None),
    ):
        turns = list(chat.session.turns.values())
        assert [turn.prompt for turn in turns] == ["a dog", "a dog, asleep"]
        assert all(Path(turn.image_path).is_file() for turn in turns)
    # Nothing else is left in the chat's folder: not the old chat's images, not the refused
    # import's staging folder.
    chat = store.get(secret, None)
    images = {Path(turn.image_path) for turn in chat.session.turns.values()}
    assert set(chat.folder.rglob("*")) == images | {path.parent for path in images}

    # A later import replaces this one as a whole, its folder included.
    monkeypatch.setattr(Session, "import_json", classmethod(original))
    messages, *_ = _call(two_tabs.import_session, first, secret, 3)
    chat = store.get(secret, None)
    images = {Path(turn.image_path) for turn in chat.session.turns.values()}
    assert [turn.prompt for turn in chat.session.turns.values()] == ["a cat"]
    assert set(chat.folder.rglob("*")) == images | {path.parent for path in images}


def test_a_refused_import_on_a_new_session_leaves_the_workspace_as_it_was(two_tabs, tmp_path):
    """The bound import made an empty chat for a session that had none (an API client just
    after /open_session, a fresh browser); a refused file then left its image folder and a
    saved empty chat behind (so did a refused first message)."""
    store = two_tabs.store
    secret = store.open(None, None, True)
    bad = write(tmp_path, "bad.json", '{"format": "diffchat-session", oops')
    before = _workspace_files(store)
    messages, *_ = _call(two_tabs.import_session, str(bad), secret, 3)
    assert "not imported; your chat is unchanged" in messages[-1]["content"]
    assert _workspace_files(store) == before
    assert store.get(secret, None) is None
    # A refused first message is the same: the chat made for it is not kept either.
    messages, *_ = _call(two_tabs.send, "x" * 1001, secret)
    assert "the limit is 1,000" in messages[-1]["content"]
    assert _workspace_files(store) == before
    # A first message that renders keeps its chat.
    two_tabs.release.set()
    _call(two_tabs.send, "a red fox", secret)
    assert [turn.prompt for turn in store.get(secret, None).session.turns.values()] == ["a red fox"]
