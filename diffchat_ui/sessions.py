"""Chat sessions kept on the server, reachable only with the secret their client holds.

A Gradio session hash is not a secret (the client picks it and anyone can set it), so the
Create tab keeps no chat in gr.State. Instead each chat has an unguessable secret
(`secrets.token_urlsafe`) that only its client knows: a browser keeps it in gr.BrowserState
(localStorage, encrypted with a key derived from the server key), an API client gets it from
the `/open_session` endpoint and passes it to every call. The store files a session under
`session_id(secret, user)`, an HMAC of the secret and the logged-in user (with --auth), so one
user's secret opens nothing for another and the secret itself is never stored or logged.

Layout in the workspace:
    server.key                      the HMAC key (32 random bytes, mode 0600, made on first start)
    public/sessions/<id>/*.png      the session's turn images: the only workspace folder served
    sessions/<id>/meta.json         private: who holds the secret (browser or API), last use

Sessions whose secret was handed to a browser outlive a page reload; API-client sessions are
removed on shutdown. Every session idle longer than DIFFCHAT_SESSION_TTL hours (default 24) is
removed, folders included.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import DiffChatError, InputError
from core.validation import shown_message
from diffchat_ui.saved_chats import CHAT_FILE, chat_title, load_chat, save_chat
from diffchat_ui.state import IMPORT_PREFIX, ChatState, image_paths, remove_replaced_files

log = logging.getLogger(__name__)

SESSION_TTL_ENV = "DIFFCHAT_SESSION_TTL"
DEFAULT_SESSION_TTL_HOURS = 24.0
KEY_FILE = "server.key"
PUBLIC_FOLDER = "public"  # everything under it may be fetched by a browser; nothing else is
BROWSER_STORAGE_KEY = "diffchat-session"
# A secret shorter than this was not made by `new_secret` (token_urlsafe(32) is 43 chars).
MIN_SECRET_CHARS = 32
SWEEP_INTERVAL_S = 60.0
# The start-up sweep leaves an import staging folder touched this recently: another app
# process on the same workspace may be writing it (an import writes its images in seconds).
STAGING_MIN_AGE_S = 600.0
# Said (gr.Error) to the tab whose change was refused by SessionStore.file_if_current.
REPLACED_MESSAGE = (
    "This chat was replaced while this ran (a session import or New session, perhaps in "
    "another tab): its result was not saved. Reload the page to see the chat as it is now."
)


def session_ttl_seconds() -> float:
    """Return how long an idle session is kept: DIFFCHAT_SESSION_TTL hours (default 24).

    Refuses (InputError) a value that is not a positive number.
    """
    from core.validation import positive_number_setting

    return positive_number_setting(SESSION_TTL_ENV, DEFAULT_SESSION_TTL_HOURS, "hours") * 3600


def server_key(workspace: Path) -> bytes:
    """Return the server's HMAC key from WORKSPACE/server.key, creating it (mode 0600) once.

    It keys session ids, voter hashes and the browser's session storage; it never leaves the
    server (the workspace is not served).
    """
    path = Path(workspace) / KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        descriptor = None
    if descriptor is None:
        key = path.read_bytes()
        if len(key) < 32:
            raise InputError(f"{path} is damaged (under 32 bytes); delete it to make a new one.")
        return key
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def keyed_hash(key: bytes, purpose: str, *parts: str) -> str:
    """Return the hex HMAC-SHA256 of `parts` under `key`, separated by `purpose`: one-way, and
    different for each purpose, so a voter hash never equals a session id."""
    message = "\0".join((purpose, *parts)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def browser_storage_secret(key: bytes) -> str:
    """Return the secret gr.BrowserState encrypts the browser's copy with: stable across
    restarts (derived from the server key), so a stored session secret still opens."""
    return keyed_hash(key, "browser-state")[:32]


def _last_touched(folder: Path) -> float:
    """Return the newest modification time of `folder` and the entries directly in it."""
    times = [folder.stat().st_mtime]
    with contextlib.suppress(OSError):
        times += [entry.lstat().st_mtime for entry in folder.iterdir()]
    return max(times)


def new_secret() -> str:
    """Return a fresh unguessable session secret (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


@dataclass
class _Entry:
    state: ChatState
    last_used: float
    browser: bool = False


class SessionStore:
    """The Create tab's chats, filed by `session_id(secret, user)`; thread-safe."""

    def __init__(self, workspace: Path, key: bytes, ttl_seconds: float | None = None):
        self.workspace = Path(workspace)
        self.key = key
        self.ttl_seconds = session_ttl_seconds() if ttl_seconds is None else ttl_seconds
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()  # file_if_current puts or drops while holding it
        self._last_sweep = 0.0
        self.images_root.mkdir(parents=True, exist_ok=True)
        self.records_root.mkdir(parents=True, exist_ok=True)
        self.sweep()
        self.sweep_import_staging()

    # ------------------------------------------------------------ where things live

    @property
    def images_root(self) -> Path:
        """Return WORKSPACE/public/sessions: the served folder of turn images."""
        return self.workspace / PUBLIC_FOLDER / "sessions"

    @property
    def records_root(self) -> Path:
        """Return WORKSPACE/sessions: private per-session records (never served)."""
        return self.workspace / "sessions"

    def session_id(self, secret: str, user: str | None = None) -> str:
        """Return the id a secret opens for `user` (None without --auth): 32 hex characters.

        Refuses (InputError) a missing or too short secret.
        """
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
            raise InputError(
                "This chat has no valid session: reload the page (API clients: call "
                "/open_session and pass its secret)."
            )
        return keyed_hash(self.key, "session", user or "", secret)[:32]

    def image_folder(self, session_id: str) -> Path:
        """Return the served folder for a session's turn images."""
        return self.images_root / session_id

    def record_folder(self, session_id: str) -> Path:
        """Return the private folder for a session's records (meta.json; saved chats)."""
        return self.records_root / session_id

    # ------------------------------------------------------------ the API the tabs use

    def open(self, secret: str | None, user: str | None, browser: bool) -> str:
        """Return a usable secret: `secret` when it is one, else a new one.

        `browser` says the secret is (or will be) kept by a browser: such a session outlives
        shutdown; API-client sessions (browser False) do not.
        """
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
            secret = new_secret()
        session_id = self.session_id(secret, user)
        folder = self.record_folder(session_id)
        folder.mkdir(parents=True, exist_ok=True)
        meta_path = folder / "meta.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {"created_at": time.time(), "browser": False}
        meta["browser"] = bool(meta.get("browser")) or browser
        meta_path.write_text(json.dumps(meta))
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is not None:
                entry.browser = entry.browser or browser
        self._maybe_sweep()
        return secret

    def get(self, secret: str, user: str | None) -> ChatState | None:
        """Return the chat `secret` opens for `user`, or None before its first turn.

        Refuses (InputError) a missing or malformed secret.
        """
        session_id = self.session_id(secret, user)
        self._maybe_sweep()
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is not None:
                entry.last_used = time.time()
                return entry.state
        # Not in memory (the server restarted): the chat saved after its last change.
        state = load_chat(self.record_folder(session_id), self.image_folder(session_id))
        if state is None:
            return None
        state.session_id = session_id
        with self._lock:
            entry = self._entries.setdefault(
                session_id, _Entry(state, time.time(), self._meta_browser(session_id))
            )
            return entry.state

    def new_state(self, secret: str, user: str | None, seed: int) -> ChatState:
        """Return a fresh chat for `secret` (replacing any old one, whose files are removed)."""
        session_id = self.session_id(secret, user)
        folder = self.image_folder(session_id)
        self.drop(secret, user)
        folder.mkdir(parents=True, exist_ok=True)
        state = ChatState.new(seed, folder=folder)
        self.put(secret, user, state)
        return state

    def checkout(
        self, secret: str, user: str | None, fresh: bool = False, seed: int = 0
    ) -> ChatState | None:
        """Return the chat `secret` opens for `user` (None when it has none), counting the
        call as one using it; pair it with `checkin`. With `fresh`, a secret with no chat
        gets a new one. Looking and making happen under the store lock, so two first calls
        at once (two tabs, a double click) share one chat instead of the second replacing
        the first. Refuses (InputError) a missing or malformed secret."""
        with self._lock:
            state = self.get(secret, user)
            if state is None and fresh:
                state = self.new_state(secret, user, seed)
                state.made_for_a_call = True
            if state is not None:
                state.open_calls += 1
            return state

    def checkin(self, secret: str, user: str | None, state: ChatState | None, forget: bool) -> None:
        """End a call that `checkout` gave `state`. With `forget`, a chat made for a call is
        dropped when no turn landed in it and this was the last call using it (and it is
        still the filed one): its folder and saved copy were made for nothing, so a refused
        first message leaves the workspace as it was."""
        if state is None:
            return
        with self._lock:
            state.open_calls -= 1
            if state.session.turns:
                state.made_for_a_call = False
            elif forget and state.made_for_a_call and state.open_calls == 0:
                self.file_if_current(secret, user, state, None)

    def put(self, secret: str, user: str | None, state: ChatState) -> None:
        """File `state` under `secret` (an imported chat, for example).

        When it replaces another chat, the old chat's files go in the same step: its folder,
        or, when both share one (an import swapped in), what only the old chat had
        (diffchat_ui.state.remove_replaced_files: other imports' staging folders stay).
        """
        session_id = self.session_id(secret, user)
        self.record_folder(session_id).mkdir(parents=True, exist_ok=True)
        state.session_id = session_id
        with self._lock:
            old = self._entries.get(session_id)
            browser = old.browser if old is not None else self._meta_browser(session_id)
            self._entries[session_id] = _Entry(state, time.time(), browser)
            # saved on every change, so a reload or a restart finds the chat as it was
            save_chat(state, self.record_folder(session_id))
            if old is None or old.state is state:
                return
            old.state.mark_replaced()
            if old.state.folder == state.folder:
                remove_replaced_files(old.state, state)
            else:
                shutil.rmtree(old.state.folder, ignore_errors=True)

    def file_if_current(
        self, secret: str, user: str | None, given: ChatState | None, state: ChatState | None
    ) -> bool:
        """File `state` under `secret` (None: drop the chat), but only while the chat filed
        there is still `given`, the one the change started from; return whether it was filed.

        Two tabs of one browser share the secret, so another call may have replaced the chat
        meanwhile (an import, New session). Then the change is refused: the filed chat stays
        as it is, and the images only `state` uses (a turn rendered meanwhile, now in nobody's
        chat) are removed. Changes that started from the same chat (concurrent turns of one
        chat, which share its ChatState) are all filed, as before. No chat before and none
        after is no change: it counts as filed and leaves whatever is filed now alone.
        """
        session_id = self.session_id(secret, user)
        if given is None and state is None:
            return True
        with self._lock:
            entry = self._entries.get(session_id)
            filed = entry.state if entry is not None else None
            if filed is given:
                if state is None:
                    self.drop(secret, user)
                else:  # filed again even when it is the same chat: that saves its changes
                    self.put(secret, user, state)
                return True
            if state is not None and state is not filed:
                folder = self.image_folder(session_id).resolve()
                for path in image_paths(state) - image_paths(filed):
                    path = path.resolve()
                    if path.is_relative_to(folder):
                        path.unlink(missing_ok=True)
                        if path.parent != folder:  # a refused import's staging folder
                            with contextlib.suppress(OSError):  # kept while not empty
                                path.parent.rmdir()
        return False

    def title(self, secret: str, user: str | None) -> str | None:
        """Return a one-line title of the chat `secret` opens (None: no saved chat)."""
        return chat_title(self.record_folder(self.session_id(secret, user)))

    def drop(self, secret: str, user: str | None) -> None:
        """Forget the chat `secret` opens and remove its images (the secret stays usable)."""
        session_id = self.session_id(secret, user)
        with self._lock:
            entry = self._entries.pop(session_id, None)
        if entry is not None:
            entry.state.mark_replaced()
            shutil.rmtree(entry.state.folder, ignore_errors=True)
        shutil.rmtree(self.image_folder(session_id), ignore_errors=True)
        (self.record_folder(session_id) / CHAT_FILE).unlink(missing_ok=True)

    def cancel_key(self, secret: str, user: str | None) -> str:
        """Return the key of this session's Stop flag (not the Gradio session hash): the
        filed chat's `ChatState.session_id`."""
        return self.session_id(secret, user)

    # ------------------------------------------------------------ clean-up

    def _meta_browser(self, session_id: str) -> bool:
        try:
            return bool(
                json.loads((self.record_folder(session_id) / "meta.json").read_text())["browser"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def _remove(self, session_id: str) -> None:
        with self._lock:
            entry = self._entries.pop(session_id, None)
        if entry is not None:
            entry.state.mark_replaced()
            shutil.rmtree(entry.state.folder, ignore_errors=True)
        shutil.rmtree(self.image_folder(session_id), ignore_errors=True)
        shutil.rmtree(self.record_folder(session_id), ignore_errors=True)

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep > SWEEP_INTERVAL_S:
            self.sweep()

    def sweep(self, now: float | None = None) -> list[str]:
        """Remove every session idle longer than the TTL (in memory and on disk, also those
        left by an earlier run); return the ids removed."""
        now = time.time() if now is None else now
        self._last_sweep = time.monotonic()
        with self._lock:
            in_memory = {sid: entry.last_used for sid, entry in self._entries.items()}
        on_disk = {}
        for root in (self.images_root, self.records_root):
            for folder in root.iterdir() if root.is_dir() else ():
                if folder.is_dir():
                    used = folder.stat().st_mtime
                    on_disk[folder.name] = max(on_disk.get(folder.name, 0.0), used)
        removed = []
        for session_id in set(in_memory) | set(on_disk):
            last_used = in_memory.get(session_id, on_disk.get(session_id, 0.0))
            if now - last_used > self.ttl_seconds:
                self._remove(session_id)
                removed.append(session_id)
        if removed:
            log.info(
                "removed %d session(s) idle for over %.1f h", len(removed), self.ttl_seconds / 3600
            )
        return removed

    def sweep_import_staging(self) -> list[Path]:
        """Remove the import staging folders (public/sessions/<id>/import-*) an interrupted
        import left behind: those holding no image of their session's saved chat (an import
        that was filed keeps its images there). Sessions in memory are skipped (an import
        of theirs may be running), and so is one whose saved chat is damaged (kept as it
        is), and a folder touched within STAGING_MIN_AGE_S (another app process on the same
        workspace may be importing into it). Run at start-up; return the folders removed
        (logged)."""
        with self._lock:
            live = set(self._entries)
        recent = time.time() - STAGING_MIN_AGE_S
        removed = []
        for folder in self.images_root.iterdir() if self.images_root.is_dir() else ():
            if folder.name in live or folder.is_symlink() or not folder.is_dir():
                continue
            staging = [
                entry
                for entry in folder.iterdir()
                if entry.name.startswith(IMPORT_PREFIX)
                and entry.is_dir()
                and not entry.is_symlink()
                and _last_touched(entry) < recent
            ]
            if not staging:
                continue
            record = self.record_folder(folder.name)
            kept: set[Path] = set()
            if (record / CHAT_FILE).exists():
                state = load_chat(record, folder)
                if state is None:
                    continue
                kept = {path.resolve() for path in image_paths(state)} | {
                    Path(message["content"]["path"]).resolve()
                    for message in state.messages
                    if isinstance(message["content"], dict)
                }
            for entry in staging:
                resolved = entry.resolve()
                if not any(path.is_relative_to(resolved) for path in kept):
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
        if removed:
            log.info(
                "removed %d import staging folder(s) left by interrupted session imports",
                len(removed),
            )
        return removed

    def close(self) -> list[str]:
        """On shutdown: remove every session no browser holds (API clients'); return their ids.

        Browser-held sessions stay on disk for the next start (until idle past the TTL).
        """
        with self._lock:
            ids = [sid for sid, entry in self._entries.items() if not entry.browser]
        known = set(ids)
        for root in (self.records_root, self.images_root):
            for folder in root.iterdir() if root.is_dir() else ():
                if folder.is_dir() and not self._meta_browser(folder.name):
                    known.add(folder.name)
        for session_id in known:
            self._remove(session_id)
        return sorted(known)


# ---------------------------------------------------------------- wiring into Gradio


def page_session_secret():
    """Return the page's session secret: the Create tab's gr.BrowserState (storage key
    BROWSER_STORAGE_KEY), for the other tabs' events to take as their first input.

    The Compare, Train and Evaluate Stop flags and the Vote tab's ballot are filed under the
    id this secret opens (`SessionStore.session_id`), never under the Gradio session hash; an
    API client passes the secret from `/open_session`. Call it while the Blocks are being
    built, after the Create tab (diffchat_ui.layout builds that one first); raises
    RuntimeError otherwise.
    """
    import gradio as gr
    from gradio.context import get_blocks_context

    blocks = get_blocks_context()
    for block in blocks.blocks.values() if blocks is not None else ():
        if isinstance(block, gr.BrowserState) and block.storage_key == BROWSER_STORAGE_KEY:
            return block
    raise RuntimeError("The Create tab (which holds the session secret) must be built first.")


def session_handler(
    store: SessionStore,
    fn,
    *,
    position: int,
    returns_state: bool,
    fresh: bool = False,
    on_cancel=None,
):
    """Return a Gradio handler for `fn`, a Create-tab handler written for `chat_state` at
    argument `position` (and, when `returns_state`, returning or yielding the chat first).

    The event passes the session secret (gr.BrowserState) at `position` instead; the handler
    gives `fn` the chat that secret opens for the logged-in user (a new one when `fresh` and
    there is none, else None; `SessionStore.checkout`, so two first calls at once share one),
    files the chat `fn` returns under the secret (None: dropped) and leaves it out of the
    outputs. A chat made for a call that the calls using it leave without a turn (a refused
    first message, a refused import) is not kept, so the workspace is as it was before. A generator runs in a worker thread; when the client
    cancels the event, `on_cancel(cancel_key)` stops the session's job, so a cancelled turn is
    never added to the chat. A result is filed only while the chat `fn` started from is still
    the filed one (`SessionStore.file_if_current`): when another call replaced it meanwhile
    (an import or New session in another tab of the same browser), the result is dropped, a
    generator is closed (its later renders never start) and the call ends in gr.Error
    (REPLACED_MESSAGE). Refuses (gr.Error) a call without a valid secret, and turns a
    DiffChatError raised by `fn` into gr.Error with its message.
    """
    import inspect
    import typing

    import anyio
    import gradio as gr

    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    parameters = [
        parameter.replace(annotation=hints.get(name, inspect.Parameter.empty))
        for name, parameter in signature.parameters.items()
    ]
    request_index = next((i for i, p in enumerate(parameters) if p.annotation is gr.Request), None)
    parameters[position] = inspect.Parameter(
        "session_secret", inspect.Parameter.POSITIONAL_OR_KEYWORD
    )
    added_request = request_index is None
    if added_request:
        request_index = len(parameters)
        parameters.append(
            inspect.Parameter(
                "diffchat_request",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=None,
                annotation=gr.Request,
            )
        )

    def prepare(args: tuple):
        args = list(args) + [None] * (len(parameters) - len(args))
        secret, request = args[position], args[request_index]
        user = getattr(request, "username", None)
        try:
            state = store.checkout(secret, user, fresh=fresh)
        except InputError as error:
            raise gr.Error(shown_message(error)) from error
        args[position] = state
        if added_request:
            del args[request_index]
        return secret, user, state, args

    def file(secret: str, user: str | None, given: ChatState | None, result):
        """Return (the outputs, the chat now filed) of one result of `fn`; refuses
        (gr.Error) a result whose chat was replaced since `fn` started from `given`."""
        if not returns_state:
            return result, given
        state, *outputs = result
        if not store.file_if_current(secret, user, given, state):
            raise gr.Error(REPLACED_MESSAGE)
        return tuple(outputs), state

    def run(call):
        try:
            return call()
        except DiffChatError as error:  # the edge: the person reads why, not a bare "Error"
            raise gr.Error(shown_message(error)) from error

    if inspect.isgeneratorfunction(fn):

        async def handler(*args):
            secret, user, given, inner_args = prepare(args)
            state, forget = given, True
            iterator = fn(*inner_args)
            done = object()
            try:
                while True:
                    item = await anyio.to_thread.run_sync(run, lambda: next(iterator, done))
                    if item is done:
                        return
                    try:
                        outputs, state = file(secret, user, state, item)
                    except gr.Error:  # the chat was replaced: this turn renders no more
                        iterator.close()
                        raise
                    yield outputs
            except (GeneratorExit, anyio.get_cancelled_exc_class()):  # the client cancelled
                forget = False  # its render may still be finishing into the chat's folder
                if on_cancel is not None:
                    on_cancel(store.cancel_key(secret, user))
                raise
            finally:
                store.checkin(secret, user, given, forget)

    else:

        async def handler(*args):
            secret, user, state, inner_args = prepare(args)
            try:
                result = await anyio.to_thread.run_sync(run, lambda: fn(*inner_args))
                return file(secret, user, state, result)[0]
            finally:
                store.checkin(secret, user, state, forget=True)

    handler.__signature__ = inspect.Signature(parameters)
    handler.__annotations__ = {
        p.name: p.annotation for p in parameters if p.annotation is not inspect.Parameter.empty
    }
    handler.__name__ = getattr(fn, "__name__", "handler")
    handler.__doc__ = fn.__doc__
    return handler
