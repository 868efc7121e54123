"""The session store: secrets, per-user keying, TTL and shutdown clean-up, the server key,
and voter hashing (issue 11, items 2 and 10)."""

from __future__ import annotations

import pytest

from core.errors import InputError
from diffchat_ui.sessions import (
    STAGING_MIN_AGE_S,
    SessionStore,
    keyed_hash,
    new_secret,
    server_key,
    session_ttl_seconds,
)
from diffchat_ui.state import ChatState


@pytest.fixture
def store(tmp_path):
    return SessionStore(tmp_path, server_key(tmp_path), ttl_seconds=3600)


def test_server_key_is_made_once_with_mode_600(tmp_path):
    key = server_key(tmp_path)
    assert len(key) == 32 and server_key(tmp_path) == key
    assert (tmp_path / "server.key").stat().st_mode & 0o777 == 0o600


def test_a_secret_opens_its_chat_only_for_its_user(store):
    secret = new_secret()
    state = store.new_state(secret, None, seed=3)
    assert store.get(secret, None) is state
    assert store.get(secret, "mallory") is None  # the same secret, another logged-in user
    assert store.get(new_secret(), None) is None
    with pytest.raises(InputError, match="no valid session"):
        store.get("short", None)
    assert state.folder == store.image_folder(store.session_id(secret, None))
    assert secret not in str(state.folder)  # folders are named by the keyed hash


def test_idle_sessions_are_swept_after_the_ttl(store):
    kept, idle = new_secret(), new_secret()
    store.new_state(kept, None, 0)
    idle_state = store.new_state(idle, None, 0)
    (idle_state.folder / "turn-001.png").write_bytes(b"png")
    store._entries[store.session_id(idle, None)].last_used -= 2 * 3600
    removed = store.sweep()
    assert removed == [store.session_id(idle, None)]
    assert store.get(idle, None) is None and not idle_state.folder.exists()
    assert store.get(kept, None) is not None


def test_shutdown_keeps_browser_sessions_and_removes_api_ones(store, tmp_path):
    browser = store.open(None, None, browser=True)
    api = store.open(None, None, browser=False)
    browser_state = store.new_state(browser, None, 0)
    api_state = store.new_state(api, None, 0)
    assert store.close() == [store.session_id(api, None)]
    assert browser_state.folder.exists() and not api_state.folder.exists()
    # After a restart the browser's secret still names the same folders.
    again = SessionStore(tmp_path, server_key(tmp_path), ttl_seconds=3600)
    assert again.image_folder(again.session_id(browser, None)) == browser_state.folder


def test_session_ttl_setting(monkeypatch):
    monkeypatch.delenv("DIFFCHAT_SESSION_TTL", raising=False)
    assert session_ttl_seconds() == 24 * 3600
    monkeypatch.setenv("DIFFCHAT_SESSION_TTL", "0.5")
    assert session_ttl_seconds() == 1800
    monkeypatch.setenv("DIFFCHAT_SESSION_TTL", "never")
    with pytest.raises(InputError, match="DIFFCHAT_SESSION_TTL"):
        session_ttl_seconds()


def test_old_voter_ids_are_hashed_on_start(tmp_path):
    from diffchat_ui.context import AppContext
    from diffchat_ui.settings import AppSettings
    from diffchat_ui.votes import VoteStore

    votes = VoteStore(tmp_path / "votes.sqlite")
    votes.record_vote("c1", "p", "i", ["a", "b"], "a", voter="abc123sessionhash")
    context = AppContext(AppSettings(True, "tiny-sd", "tiny-ip2p", "append", tmp_path))
    voters = [row["voter"] for row in context.votes.rows()]
    assert voters == [keyed_hash(context.key, "voter", "", "abc123sessionhash")]
    assert context.votes.hash_voters(lambda v: "x") == 0  # already hashed: left alone


def test_a_change_is_filed_only_while_its_chat_is_still_the_filed_one(store, tmp_path):
    """Two tabs share a secret: a change that started from a chat another call has since
    replaced (here dropped, as New session drops an empty chat) is refused, and the image
    only it uses goes; changes of the chat still filed are filed."""
    secret = new_secret()
    state = store.new_state(secret, None, seed=3)
    assert store.file_if_current(secret, None, state, state)  # a turn of the filed chat
    image = state.folder / "turn-001.png"
    image.write_bytes(b"png")
    state.session.add_turn("a fox", "a fox", image_path=str(image))
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"png")
    state.session.add_turn("a fox", "a fox, night", image_path=str(outside))
    store.drop(secret, None)  # the other tab, meanwhile
    state.folder.mkdir(parents=True)
    image.write_bytes(b"png")  # the render, finishing after the drop

    assert not store.file_if_current(secret, None, state, state)
    assert store.get(secret, None) is None and store.title(secret, None) is None
    assert not image.exists()
    assert outside.exists()  # only the session's own image folder is cleaned
    fresh = store.new_state(secret, None, seed=4)
    assert not store.file_if_current(secret, None, None, ChatState.new(5, tmp_path))  # began before
    # A page load that found no chat and files none leaves the chat made meanwhile alone.
    assert store.file_if_current(secret, None, None, None)
    assert store.get(secret, None) is fresh


def test_a_bound_handlers_refusal_reaches_the_person_as_its_message(store):
    """A DiffChatError from a Create-tab handler (an export whose image is gone) becomes a
    gr.Error with its sentence, not Gradio's bare "Error"."""
    import asyncio

    import gradio as gr

    from diffchat_ui.create_tab import export_session
    from diffchat_ui.sessions import session_handler

    secret = new_secret()
    state = store.new_state(secret, None, seed=3)
    state.session.add_turn("a fox", "a fox", image_path=str(state.folder / "gone.png"))
    export = session_handler(store, export_session, position=0, returns_state=False)
    with pytest.raises(gr.Error, match="its image .* no longer exists"):
        asyncio.run(export(secret))


def test_a_crashed_imports_staging_folder_is_swept_at_start_up(store, tmp_path, caplog):
    """An import's staging folder (public/sessions/<id>/import-*) left by a crash stayed until
    its session was removed. At start-up one holding none of the saved chat's images goes;
    the imported chat's own folder, the chat's other images and other sessions stay."""
    import logging

    from diffchat_ui.state import IMPORT_PREFIX

    secret, other = new_secret(), new_secret()
    state = store.new_state(secret, None, seed=0)
    imported_home = state.folder / f"{IMPORT_PREFIX}0001"  # an import that was filed
    imported_home.mkdir()
    (imported_home / "turn-001.png").write_bytes(b"png")
    state.session.add_turn("", "a red fox", image_path=str(imported_home / "turn-001.png"))
    (state.folder / "turn-002.png").write_bytes(b"png")
    store.put(secret, None, state)
    crashed = state.folder / f"{IMPORT_PREFIX}0002"  # checked into, never swapped in
    crashed.mkdir()
    (crashed / "turn-001.png").write_bytes(b"png")
    # A chat-less session (its first import crashed) loses its staging folder too.
    unsaved = store.image_folder(store.session_id(other, None)) / f"{IMPORT_PREFIX}0003"
    unsaved.mkdir(parents=True)
    for folder in (imported_home, crashed, unsaved):
        _age(folder, STAGING_MIN_AGE_S + 60)
    with caplog.at_level(logging.INFO, logger="diffchat_ui.sessions"):
        again = SessionStore(tmp_path, server_key(tmp_path), ttl_seconds=3600)
    assert not crashed.exists() and not unsaved.exists()
    assert (imported_home / "turn-001.png").is_file() and (state.folder / "turn-002.png").is_file()
    assert again.get(secret, None).session.current.image_path == str(imported_home / "turn-001.png")
    assert "2 import staging folder(s)" in caplog.text
    # A chat in memory is never swept (its imports may be running), even with a stale folder.
    live = again.image_folder(again.session_id(secret, None)) / f"{IMPORT_PREFIX}0004"
    live.mkdir()
    _age(live, STAGING_MIN_AGE_S + 60)
    assert again.sweep_import_staging() == [] and live.is_dir()


def _age(folder, seconds: float) -> None:
    """Set the modification time of `folder` and everything in it `seconds` back."""
    import os
    import time

    then = time.time() - seconds
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (then, then))


def test_the_start_up_sweep_keeps_a_recent_staging_folder(store, tmp_path):
    """The sweep had no age guard: a second app process started on the same workspace
    removed the staging folder of an import the first process was running (a chat not in
    the second one's memory). A folder touched within STAGING_MIN_AGE_S stays; an old one
    goes."""
    from diffchat_ui.state import IMPORT_PREFIX

    secret = new_secret()
    state = store.new_state(secret, None, seed=0)
    store.put(secret, None, state)
    running = state.folder / f"{IMPORT_PREFIX}0001"  # the other process is writing it
    running.mkdir()
    (running / "turn-001.png").write_bytes(b"png")
    _age(running, STAGING_MIN_AGE_S + 60)
    (running / "turn-002.png").write_bytes(b"png")  # ... and has just written another image
    second = SessionStore(tmp_path, server_key(tmp_path), ttl_seconds=3600)
    assert (running / "turn-001.png").is_file() and (running / "turn-002.png").is_file()
    _age(running, STAGING_MIN_AGE_S + 60)  # the import was abandoned long ago
    assert second.sweep_import_staging() == [running] and not running.exists()


def test_a_chat_made_for_a_call_is_dropped_unused_only_when_no_other_call_has_it(store):
    """A chat made for a call that gives it no turn goes (a refused first message leaves
    nothing); a second call that joined it meanwhile (two first sends at once) keeps it until
    that call ends too, and a turn landing in it keeps it for good."""
    secret = new_secret()
    made = store.checkout(secret, None, fresh=True)
    joined = store.checkout(secret, None, fresh=True)
    assert joined is made and made.made_for_a_call
    store.checkin(secret, None, made, forget=True)  # the maker, refused
    assert store.get(secret, None) is made and made.folder.is_dir()
    store.checkin(secret, None, joined, forget=True)  # the last call: nothing landed either
    assert store.get(secret, None) is None and not made.folder.exists()

    other = new_secret()
    state = store.checkout(other, None, fresh=True)
    state.session.add_turn("", "a red fox")
    store.checkin(other, None, state, forget=True)
    assert store.get(other, None) is state
    assert store.checkout(new_secret(), None) is None  # not fresh: nothing made
