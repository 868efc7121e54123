"""What every tab shares: the start-up settings, the one worker, Stop flags, the vote store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.registry import list_models
from diffchat_ui.sessions import SessionStore, keyed_hash, server_key
from diffchat_ui.settings import AppSettings
from diffchat_ui.votes import VoteStore
from diffchat_ui.worker import CancelFlags, Worker

# Training outputs that can serve as rewriters live under this workspace folder.
TRAIN_RUNS = "train-runs"


@dataclass
class AppContext:
    """Shared services; built once per app by `diffchat_ui.layout.build_demo`."""

    settings: AppSettings
    worker: Worker = field(default_factory=Worker)
    cancel_flags: CancelFlags = field(default_factory=CancelFlags)
    votes: VoteStore | None = None
    sessions: SessionStore | None = None

    def __post_init__(self):
        # The server key (WORKSPACE/server.key) keys session ids, voter hashes, browser storage.
        self.key = server_key(self.settings.workspace)
        if self.sessions is None:
            self.sessions = SessionStore(self.settings.workspace, self.key)
        if self.votes is None:
            self.votes = VoteStore(self.settings.workspace / "votes.sqlite")
        self.votes.hash_voters(lambda voter: keyed_hash(self.key, "voter", "", voter))

    def voter_id(self, request) -> str:
        """Return the one-way id a vote is stored under: a keyed hash of the logged-in user and
        the Gradio session, never the session id itself (which would let a reader take it)."""
        session_hash = getattr(request, "session_hash", None) or ""
        user = getattr(request, "username", None) or ""
        return keyed_hash(self.key, "voter", user, session_hash) if session_hash else ""

    def comparisons_dir(self) -> Path:
        """Return the workspace folder where compare runs are saved for voting."""
        path = self.settings.workspace / "comparisons"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def train_runs_dir(self) -> Path:
        """Return the workspace folder the Train tab writes runs into."""
        path = self.settings.workspace / TRAIN_RUNS
        path.mkdir(parents=True, exist_ok=True)
        return path

    def rewriter_choices(self) -> list[tuple[str, str]]:
        """Return the rewriter dropdown as (label, value): registry rewriters, then finished
        training runs labelled by their run name (the value is the run's folder)."""
        runs = self.train_runs_dir()
        return [(name, name) for name in list_models("rewriter")] + [
            (f"{path.relative_to(runs).as_posix()} (trained here)", str(path))
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
