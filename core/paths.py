"""Where DiffChat keeps its files: one setting, the DIFFCHAT_HOME environment variable."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# What the app keeps for itself at the top of the workspace (diffchat_ui.sessions,
# diffchat_ui.votes, diffchat_ui.context): the server key, the vote database (its sidecars and
# moved-aside copies share the name as a prefix), the served folder, session records and
# comparison records. No path a caller sets may read or write them (core.validation).
APP_OWNED_FILES = ("server.key", "votes.sqlite")
APP_OWNED_FOLDERS = ("public", "sessions", "comparisons")
APP_OWNED_ENTRIES = APP_OWNED_FILES + APP_OWNED_FOLDERS


def diffchat_home() -> Path:
    """Return the cache folder (DIFFCHAT_HOME, default ~/.cache/diffchat), creating it."""
    home = Path(os.environ.get("DIFFCHAT_HOME", Path.home() / ".cache" / "diffchat")).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def models_dir() -> Path:
    """Return the folder holding the offline model set (converted rewriter, tiny pipelines)."""
    path = diffchat_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Return the folder holding offline language data (WordNet, tagger)."""
    path = diffchat_home() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def workspace_dir() -> Path:
    """Return the workspace: the only folder UI-supplied paths may point into.

    DIFFCHAT_WORKSPACE overrides the default DIFFCHAT_HOME/workspace.
    """
    path = Path(os.environ.get("DIFFCHAT_WORKSPACE", diffchat_home() / "workspace")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def app_owned_entry(name: str) -> str | None:
    """Return the APP_OWNED_ENTRIES entry a top-level workspace name belongs to, or None."""
    if name in APP_OWNED_FOLDERS:
        return name
    return next((entry for entry in APP_OWNED_FILES if name.startswith(entry)), None)


def assets_dir() -> Path:
    """Return the repository's committed assets folder (sample data, shipped adapter)."""
    return REPO_ROOT / "assets"
