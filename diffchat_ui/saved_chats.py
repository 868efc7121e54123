"""A chat written to disk after every change, so it survives a page reload and a restart.

`diffchat_ui.sessions.SessionStore` files each chat under its secret's session id; this module
is how one chat is saved into (and read back from) that session's private record folder
(WORKSPACE/sessions/<id>/chat.json, never served). The file holds the session tree as
`core.session.Session.to_dict` writes it plus the chat transcript; the images stay in the
session's own image folder. The file is ours, but it is read back as untrusted all the same:
image paths outside the session's image folder are dropped, and a damaged file reads as no
chat (the browser then starts a fresh one) rather than an error on every page load.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import fields
from pathlib import Path

from diffchat_ui.state import ChatState

log = logging.getLogger(__name__)

CHAT_FILE = "chat.json"
TRANSCRIPT_KEY = "transcript"


def save_chat(state: ChatState, record_folder: Path) -> Path:
    """Write the chat (tree, transcript, counters) to `record_folder`/chat.json atomically
    (a temporary file renamed over the old one); return the path."""
    record_folder.mkdir(parents=True, exist_ok=True)
    data = {
        "session": state.session.to_dict(),
        TRANSCRIPT_KEY: state.messages,
        "turn_count": state.turn_count,
        "unchanged": state.unchanged,
        "notes_shown": sorted(state.notes_shown),
        "updated_at": time.time(),
    }
    path = record_folder / CHAT_FILE
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(data, ensure_ascii=False))
    os.replace(staging, path)
    return path


def load_chat(record_folder: Path, image_folder: Path) -> ChatState | None:
    """Return the chat saved in `record_folder`, its images in `image_folder`; None when there
    is none or the file is damaged (logged)."""
    path = record_folder / CHAT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = ChatState.new(int(data["session"]["seed"]), folder=image_folder)
        _restore_session(state, data["session"], image_folder)
        state.messages = [m for m in data.get(TRANSCRIPT_KEY, []) if _safe_message(m, image_folder)]
        state.turn_count = int(data.get("turn_count", len(state.session.turns)))
        state.unchanged = data.get("unchanged") if isinstance(data.get("unchanged"), str) else None
        state.notes_shown = {str(note) for note in data.get("notes_shown", [])}
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("the saved chat %s is damaged and was not restored: %s", path, error)
        return None
    return state


def chat_title(record_folder: Path) -> str | None:
    """Return a one-line title of a saved chat ("a red fox … · 3 turns · 2026-12-01 07:40"),
    or None when there is no (readable) chat."""
    try:
        data = json.loads((record_folder / CHAT_FILE).read_text(encoding="utf-8"))
        turns = data["session"]["turns"]
        first = next((t["prompt"] for t in turns if t.get("prompt")), "(no prompt)")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(data["updated_at"])))
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None
    first = first if len(first) <= 40 else first[:39] + "…"
    return f"{first} · {len(turns)} turns · {when}"


def transcript_messages(data: dict) -> list[dict]:
    """Return the text messages of an exported transcript (a session file's "transcript"):
    role user/assistant and string content only; images come back through the turns."""
    messages = data.get(TRANSCRIPT_KEY) if isinstance(data, dict) else None
    if not isinstance(messages, list):
        return []
    return [
        {"role": m["role"], "content": m["content"]}
        for m in messages
        if isinstance(m, dict)
        and m.get("role") in ("user", "assistant")
        and isinstance(m.get("content"), str)
    ]


def _restore_session(state: ChatState, data: dict, image_folder: Path) -> None:
    from core.session import Turn

    known = {f.name for f in fields(Turn)}
    session = state.session
    session.created_at = str(data.get("created_at", session.created_at))
    for record in data["turns"]:
        turn = Turn(**{key: value for key, value in record.items() if key in known})
        if turn.image_path and not _inside(Path(turn.image_path), image_folder):
            turn.image_path = None
        session.turns[turn.id] = turn
    current = data.get("current_id")
    session.current_id = current if current in session.turns else None
    session._next_id = max(session.turns, default=0) + 1


def _safe_message(message, image_folder: Path) -> bool:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        return False
    content = message.get("content")
    if isinstance(content, dict):  # an image message: only this session's own images
        return isinstance(content.get("path"), str) and _inside(Path(content["path"]), image_folder)
    return isinstance(content, str)


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False
