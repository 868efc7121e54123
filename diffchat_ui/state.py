"""One person's chat in the Create tab: the session tree, the transcript, its image folder.

diffchat_ui.sessions files each ChatState under its client's secret and gives it its own
image folder in the workspace (WORKSPACE/public/sessions/<id>), so chats never see each
other's history and a restart finds the images again. The chat tree itself (turns, undo,
branches, export) is `core.session.Session`.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from core.instructions import Clarification


def new_session_folder() -> Path:
    """Return a new private folder (random name, mode 700) in the system temp folder: the
    image folder of a ChatState made without one (a handler called directly, in tests). The
    app's chats get theirs in the workspace from diffchat_ui.sessions."""
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
    # Held while a finished turn joins the tree: two sends on one chat (two tabs) share this
    # state, and "make the parent current, then add the child" must not interleave.
    tree_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # Set once the store no longer files this chat (replaced by an import, dropped, removed):
    # a turn still rendering for it would only be refused, so its Stop flags are set too.
    replaced: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    # How many handler calls are using this chat (SessionStore.checkout / checkin, under the
    # store's lock), and whether one of them made it and no turn has landed yet: such a chat
    # is dropped when its last call ends, not while another call still renders into it.
    open_calls: int = field(default=0, repr=False, compare=False)
    made_for_a_call: bool = field(default=False, repr=False, compare=False)
    _turn_flags: weakref.WeakSet = field(default_factory=weakref.WeakSet, repr=False, compare=False)
    _flags_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def new(cls, seed: int, folder: Path | None = None) -> ChatState:
        """Return an empty chat with the given session seed and image folder (default: a new
        private temporary one; diffchat_ui.sessions gives each stored chat its own)."""
        from core.session import Session

        return cls(session=Session(seed=seed), folder=folder or new_session_folder())

    def say(self, role: str, content, options: list[str] | None = None) -> None:
        """Append a chat message (text, or {"path": ...} for an image) to the transcript; the
        app's own text as core.validation.shown_message says it (no server path, no key)."""
        from core.validation import shown_message

        if role == "assistant" and isinstance(content, str):
            content = shown_message(content)
        message = {"role": role, "content": content}
        if options:
            message["options"] = [{"value": option} for option in options]
        self.messages.append(message)

    def stop_when_replaced(self, flag: threading.Event) -> None:
        """Set `flag` (a running turn's Stop flag) when this chat is replaced, or at once
        when it already was: the turn's work stops instead of running to a refused end."""
        with self._flags_lock:
            self._turn_flags.add(flag)
            if self.replaced.is_set():
                flag.set()

    def mark_replaced(self) -> None:
        """Say this chat is no longer the filed one (diffchat_ui.sessions calls it): every
        turn still running for it is stopped."""
        with self._flags_lock:
            self.replaced.set()
            flags = list(self._turn_flags)
        for flag in flags:
            flag.set()

    def next_image_name(self) -> str:
        """Return a unique file stem for the next turn's image, named after the turn it will
        be ("turn-005" for turn #5, as the chat and the gallery number it); "turn-005-2" when
        a file of an earlier turn #5 (forgotten, or failed before a restart) holds the name."""
        self.turn_count += 1
        stem = f"turn-{self.session.next_id:03d}"
        name, copy = stem, 1
        # a turn's image is NAME.png, an uploaded start image NAME-upload.png
        while any(self.folder.glob(f"{name}.*")) or any(self.folder.glob(f"{name}-upload.*")):
            copy += 1
            name = f"{stem}-{copy}"
        return name


def delete_state_folder(state: ChatState | None) -> None:
    """Remove a chat's image folder and everything in it."""
    if isinstance(state, ChatState):
        shutil.rmtree(state.folder, ignore_errors=True)


IMPORT_PREFIX = "import-"


def import_folder(state: ChatState) -> Path:
    """Return a new empty folder inside `state`'s image folder for a session file to be
    checked into: in the workspace with the chat's own images (a restart finds them, a /tmp
    clean-up cannot take them), apart from them until the import is swapped in."""
    folder = state.folder / f"{IMPORT_PREFIX}{secrets.token_hex(8)}"
    folder.mkdir(parents=True)
    return folder


def swap_in_import(state: ChatState, imported: ChatState) -> ChatState:
    """Return `imported` (checked into `import_folder(state)`) ready to take `state`'s place:
    it takes over the folder for its next turns. Nothing is removed here: the old chat's
    files go only when the store files the import (SessionStore.put calls
    `remove_replaced_files`), so an import that is refused at filing (another tab replaced
    the chat first) leaves the chat and its images as they are."""
    imported.folder = state.folder
    imported.session_id = state.session_id
    return imported


def image_paths(state: ChatState | None) -> set[Path]:
    """Return the image files of `state`'s turns (none for None)."""
    if state is None:
        return set()
    turns = list(state.session.turns.values())  # a snapshot: other sends may add turns
    return {Path(turn.image_path) for turn in turns if turn.image_path}


def remove_replaced_files(old: ChatState, new: ChatState) -> None:
    """Remove from the folder `old` and `new` share what belonged to `old`, now that `new`
    replaced it: every file and folder in it except `new`'s images and the import folders
    that hold none of `old`'s images.

    Those import folders are `new`'s own and those of imports still being checked (two
    tabs, or two quick uploads, import at once): each is kept or removed when its own
    import is filed or refused, so one import never removes another's images.
    """
    folder = Path(new.folder)
    old_images = {path.resolve() for path in image_paths(old)}
    new_images = {path.resolve() for path in image_paths(new)}

    def holds(entry: Path, images: set[Path]) -> bool:
        return any(image == entry or image.is_relative_to(entry) for image in images)

    for entry in folder.iterdir() if folder.is_dir() else ():
        resolved = entry.resolve()
        if holds(resolved, new_images):
            continue
        if entry.is_dir() and entry.name.startswith(IMPORT_PREFIX):
            if not holds(resolved, old_images):
                continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
