"""Per-browser-session state of the Create tab.

Gradio keeps one ChatState per browser session (gr.State), so sessions never see each
other's history; images live in a private temporary folder with a random name. The chat tree
itself (turns, undo, branches, export) is `core.session.Session`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from core.instructions import Clarification


def new_session_folder() -> Path:
    """Return a new private folder (random name, mode 700) for one UI session's images.

    It lives in the system temp folder: Gradio serves files from there without widening
    `allowed_paths`, and the folder is removed when the browser session ends.
    """
    return Path(tempfile.mkdtemp(prefix="diffchat-session-"))


@dataclass
class ChatState:
    """One person's chat: the session tree, the transcript, a pending clarifying question."""

    session: object  # core.session.Session
    folder: Path
    messages: list[dict] = field(default_factory=list)
    pending: Clarification | None = None
    unchanged: str | None = None  # the instruction whose rewrite changed nothing (try again)
    turn_count: int = 0
    notes_shown: set[str] = field(default_factory=set)
    # The id diffchat_ui.sessions files this chat under (keys its Stop flag); "" unfiled.
    session_id: str = ""

    @classmethod
    def new(cls, seed: int, folder: Path | None = None) -> ChatState:
        """Return an empty chat with the given session seed and image folder (default: a new
        private temporary one; diffchat_ui.sessions gives each stored chat its own)."""
        from core.session import Session

        return cls(session=Session(seed=seed), folder=folder or new_session_folder())

    def say(self, role: str, content, options: list[str] | None = None) -> None:
        """Append a chat message (text, or {"path": ...} for an image) to the transcript."""
        message = {"role": role, "content": content}
        if options:
            message["options"] = [{"value": option} for option in options]
        self.messages.append(message)

    def next_image_name(self) -> str:
        """Return a unique file stem for the next turn's image."""
        self.turn_count += 1
        return f"turn-{self.turn_count:03d}"


def delete_state_folder(state: ChatState | None) -> None:
    """Remove a session's image folder (gr.State's delete_callback when the tab closes)."""
    if isinstance(state, ChatState):
        shutil.rmtree(state.folder, ignore_errors=True)
