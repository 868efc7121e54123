"""Error types whose message is a sentence a person can act on.

Library code raises these; the edges (CLI, UI callbacks) catch `DiffChatError` and show
`str(error)` without a stack trace.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from urllib.parse import unquote, urlsplit

# user:password@ in any URL; bearer tokens; key-shaped tokens (sk-..., hf_...).
_URL_CREDENTIALS = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@]+@")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}|\bhf_[A-Za-z0-9]{8,}")
# HTTP Basic credentials: httpx sends a URL's user:password@ as "Basic base64(user:password)",
# which an endpoint echoing its request says back.
_BASIC = re.compile(r"(?i)\b(basic\s+)([A-Za-z0-9+/]{4,}={0,2})")
# Environment variables whose values must never appear in a message or a log line.
SECRET_ENV = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "DIFFCHAT_AUTH")
REDACTED = "***"


def redact_secrets(text: str) -> str:
    """Return `text` with credentials replaced by ***: user:password in URLs (and the
    password of OPENAI_BASE_URL's alone), bearer tokens, Basic credentials, key-shaped tokens
    and the values of SECRET_ENV. The one function every backend error
    passes before it becomes a message, a log line or a saved record."""
    text = str(text)
    for value in _secret_values():
        if len(value) >= 6:
            text = text.replace(value, REDACTED)
    text = _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _BASIC.sub(lambda found: found[1] + REDACTED if _is_login(found[2]) else found[0], text)
    return _KEY_LIKE.sub(REDACTED, text)


def _secret_values() -> list[str]:
    """The values of SECRET_ENV and the password of OPENAI_BASE_URL's user:password@, as
    written and percent-decoded (an endpoint may say it back alone)."""
    values = [os.environ.get(name, "") for name in SECRET_ENV]
    try:
        password = urlsplit(os.environ.get("OPENAI_BASE_URL", "")).password
    except ValueError:  # a malformed URL: its own error says so, redacted by _URL_CREDENTIALS
        password = None
    return values + ([password, unquote(password)] if password else [])


def _is_login(token: str) -> bool:
    """Whether `token` is what an HTTP Basic header carries: base64 of "user:password"."""
    try:
        return b":" in base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return False


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record's text through `redact_secrets`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


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
