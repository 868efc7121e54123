"""What every tab shares: the start-up settings, the one worker, Stop flags, the job tabs'
runs, the vote store."""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import DiffChatError
from core.registry import list_models
from diffchat_ui.processes import TabJobs
from diffchat_ui.sessions import SessionStore, keyed_hash, server_key
from diffchat_ui.settings import DEFAULT_CONCURRENCY, AppSettings
from diffchat_ui.votes import VoteStore
from diffchat_ui.worker import CancelFlags, Worker

# Training outputs that can serve as rewriters live under this folder of the user's root.
TRAIN_RUNS = "train-runs"
# With --auth each logged-in user has a folder of their own under this workspace folder.
USERS_FOLDER = "users"


def user_folder_name(user: str) -> str:
    """Return the folder name of logged-in `user` under WORKSPACE/users: the name's letters
    and digits (readable) and a hash of the whole name (so "a.b" and "a b" stay apart, and
    "../x" is no path)."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", user).strip("_")[:32] or "user"
    return f"{readable}-{hashlib.sha256(user.encode()).hexdigest()[:12]}"


@dataclass
class AppContext:
    """Shared services; built once per app by `diffchat_ui.layout.build_demo`."""

    settings: AppSettings
    worker: Worker = field(default_factory=Worker)
    cancel_flags: CancelFlags = field(default_factory=CancelFlags)
    # The Evaluate and Train runs going, by stop_key: a reloaded page picks its own up.
    tab_jobs: TabJobs = field(default_factory=TabJobs)
    votes: VoteStore | None = None
    sessions: SessionStore | None = None
    # With --auth a call without a logged-in user (the page built at start-up) sees no
    # user's runs and no shared workspace's either.
    login_required: bool = False

    def __post_init__(self):
        # The server key (WORKSPACE/server.key) keys session ids, voter hashes, browser storage.
        self.key = server_key(self.settings.workspace)
        if self.sessions is None:
            self.sessions = SessionStore(self.settings.workspace, self.key)
        if self.votes is None:
            self.votes = VoteStore(self.settings.workspace / "votes.sqlite")
        self.votes.hash_voters(lambda voter: keyed_hash(self.key, "voter", "", voter))
        # A chat-API wait holds its queue place (the chat lane, --concurrency places) while the
        # worker idles; one place always stays for everyone else's turns. Settings without a
        # concurrency (a test's bare namespace) get the --concurrency default.
        concurrency = getattr(self.settings, "concurrency", DEFAULT_CONCURRENCY)
        self.network_wait_limit = max(1, concurrency - 1)
        self._network_waits = threading.BoundedSemaphore(self.network_wait_limit)

    @contextlib.contextmanager
    def network_wait(self, rewriter: str):
        """Hold one of the `network_wait_limit` places for a wait on a chat API's answer
        (`rewriter`, for the message). Refuses (DiffChatError) when all are taken: a silent
        endpoint must not hold every queue place, or nobody's turn would run meanwhile."""
        if not self._network_waits.acquire(blocking=False):
            raise DiffChatError(
                f"The {rewriter} rewriter is already answering {self.network_wait_limit} "
                "request(s), as many as may wait at once so that other turns are not held up "
                "(raise --concurrency for more). Try again in a moment, or pick a local rewriter."
            )
        try:
            yield
        finally:
            self._network_waits.release()

    def browser_key(self, session_secret, request) -> str:
        """Return the id the page's session secret opens for the logged-in user: what Stop
        flags and ballots are filed under (never the Gradio session hash, which any client
        can set). Refuses (InputError) a missing or malformed secret."""
        return self.sessions.session_id(session_secret, getattr(request, "username", None))

    def stop_key(self, tab: str, session_secret, request) -> str:
        """Return the key of `tab`'s Stop flag for the browser or client holding the secret.
        Refuses (InputError) a missing or malformed secret."""
        return f"{tab}-{self.browser_key(session_secret, request)}"

    def voter_id(self, session_secret, request) -> str:
        """Return the one-way id a vote is stored under: a keyed hash of the logged-in user and
        the id the session secret opens, never a session id itself (a reader could use it).
        Refuses (InputError) a missing or malformed secret."""
        user = getattr(request, "username", None) or ""
        return keyed_hash(self.key, "voter", user, self.browser_key(session_secret, request))

    def comparisons_dir(self) -> Path:
        """Return the workspace folder where compare runs are saved for voting."""
        path = self.settings.workspace / "comparisons"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def user_root(self, request=None) -> Path:
        """Return the folder every path the caller sets is confined to (core.validation's
        `root`): the workspace without --auth, else the logged-in user's own folder,
        WORKSPACE/users/<user_folder_name> (made on first use), so one user's training runs
        and evaluations are out of another's reach. The shipped assets/ stay readable to all.
        """
        user = getattr(request, "username", None)
        if not user:
            return self.settings.workspace
        path = self.settings.workspace / USERS_FOLDER / user_folder_name(user)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def train_runs_dir(self, request=None) -> Path:
        """Return the folder the Train tab writes runs into: TRAIN_RUNS in the caller's root
        (`user_root`)."""
        path = self.user_root(request) / TRAIN_RUNS
        path.mkdir(parents=True, exist_ok=True)
        return path

    def rewriter_choices(self, request=None) -> list[tuple[str, str]]:
        """Return the rewriter dropdown as (label, value): registry rewriters, then the
        caller's finished training runs labelled by their run name. A run's value is its
        folder inside the caller's root ("./train-runs/sft-run/final", which
        core.validation.resolve_model_reference finds there): the page never holds a server
        path. With a login required and no user logged in (the dropdown built at start-up),
        only the registry rewriters: WORKSPACE/train-runs is nobody's."""
        shipped = [(name, name) for name in list_models("rewriter")]
        if self.login_required and not getattr(request, "username", None):
            return shipped
        runs = self.train_runs_dir(request)
        root = self.user_root(request)
        return shipped + [
            (
                f"{path.relative_to(runs).as_posix()} (trained here)",
                f"./{path.relative_to(root).as_posix()}",
            )
            for path in finished_rewriters(runs)
        ]


def finished_rewriters(runs_dir: Path) -> list[Path]:
    """Return folders under `runs_dir` holding a loadable final model or LoRA adapter."""
    found = []
    for marker in ("adapter_config.json", "config.json"):
        for path in sorted(runs_dir.glob(f"*/**/{marker}")):
            folder = path.parent
            # Intermediate checkpoints are resumable states, not finished rewriters.
            if (
                not any(part.startswith("checkpoint-") for part in folder.parts)
                and folder not in found
            ):
                found.append(folder)
    return found
