"""Error types whose message is a sentence a person can act on.

Library code raises these; the edges (CLI, UI callbacks) catch `DiffChatError` and show
`str(error)` without a stack trace.
"""

from __future__ import annotations


class DiffChatError(Exception):
    """Base class: the message is shown to the user as it is."""


class InputError(DiffChatError):
    """The user's input (instruction, prompt, image, option) cannot be used."""


class UnknownModelError(InputError):
    """A model name that is not in the registry and is not a local path."""


class ModelUnavailableError(DiffChatError):
    """Weights that are neither in the local cache nor reachable (offline)."""


class DataError(DiffChatError):
    """A malformed data file; the message names the file and line."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class GenerationCancelled(DiffChatError):
    """The user pressed Stop; nothing was produced and nothing was lost."""


class DownloadError(DiffChatError):
    """A model download that was refused (no safetensors, no disk space) or stopped half-way."""
