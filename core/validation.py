"""Checks on what people type, upload or point at, before any model sees it.

Every check either returns a cleaned value or raises `InputError` with a sentence the UI can
show. The English check only warns: DiffChat's rewriter was trained on English prompts
(section 3.1), so other languages still run but usually give poor rewrites.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from core.errors import InputError, redact_secrets
from core.paths import REPO_ROOT, app_owned_entry, assets_dir, diffchat_home, workspace_dir

MAX_INSTRUCTION_CHARS = 1000
# 4096 x 4096: well above anything Stable Diffusion renders, far below a decompression bomb.
DEFAULT_MAX_PIXELS = 4096 * 4096
MAX_IMAGE_BYTES = 50 * 1024 * 1024
SUPPORTED_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")

# Below this share of ASCII letters among all letters, or of common English words among all
# words, the instruction is flagged as probably not English.
MIN_ASCII_LETTER_RATIO = 0.8
MIN_ENGLISH_WORD_RATIO = 0.3
# The most frequent English function words plus common edit verbs: enough to recognise an
# English instruction without any language data (WordNet has no function words).
_ENGLISH_WORDS = frozenset(
    """
    a an the and or but of to in on at by for with without from into onto over under above
    below behind near next it its this that these those there here is are was were be been
    make made turn change add remove replace put let more less much very some all no not
    as so than then too also his her their my your our he she they we you i me him them
    color colour style background sky light dark bright big small large red blue green
    yellow white black photo painting picture image scene like look looks day night
    """.split()
)
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class CheckedInstruction:
    """A cleaned instruction and the warnings to show beside it (never blocking)."""

    text: str
    warnings: list[str] = field(default_factory=list)


def ascii_letter_ratio(text: str) -> float | None:
    """Return the share of the text's letters that are ASCII (None when it has no letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    return sum(ch.isascii() for ch in letters) / len(letters) if letters else None


def _english_warning(text: str) -> str | None:
    ascii_ratio = ascii_letter_ratio(text)
    if ascii_ratio is None:
        return None
    words = [word.lower() for word in _WORD.findall(text)]
    english_ratio = sum(word in _ENGLISH_WORDS for word in words) / len(words)
    # A short English command ("brighter") has no function word, so the word ratio is only
    # trusted from four words on.
    if ascii_ratio < MIN_ASCII_LETTER_RATIO or (
        len(words) >= 4 and english_ratio < MIN_ENGLISH_WORD_RATIO
    ):
        return (
            "This instruction does not look like English; the rewriter was trained on English "
            "prompts, so the result may be poor."
        )
    return None


def check_instruction(text: str | None) -> CheckedInstruction:
    """Return the stripped instruction with any warnings.

    Refuses (InputError) a missing, empty or whitespace-only instruction and one longer than
    MAX_INSTRUCTION_CHARS characters. Non-English text is accepted with a warning.
    """
    if text is None or not str(text).strip():
        raise InputError("Please type an instruction, for example 'make the sky pink'.")
    cleaned = str(text).strip()
    if len(cleaned) > MAX_INSTRUCTION_CHARS:
        raise InputError(
            f"The instruction is {len(cleaned):,} characters long; the limit is "
            f"{MAX_INSTRUCTION_CHARS:,}. Please shorten it."
        )
    warning = _english_warning(cleaned)
    return CheckedInstruction(cleaned, [warning] if warning else [])


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"The image has no pixels ({width}x{height}).")
    if width * height > max_pixels:
        raise InputError(
            f"The image is {width}x{height} ({width * height:,} pixels); the limit is "
            f"{max_pixels:,} pixels. Please upload a smaller image."
        )


def load_user_image(path_or_image, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Return an uploaded image as a fully loaded RGB `PIL.Image`.

    Accepts a file path, raw bytes, a PIL image or a numpy array (what Gradio hands over).
    Refuses (InputError) a missing or corrupt file, a format outside
    SUPPORTED_IMAGE_FORMATS, a file over MAX_IMAGE_BYTES, and an image over `max_pixels`
    (decompression bombs included; the size is checked from the header, before decoding).
    """
    if path_or_image is None:
        raise InputError("Please upload an image first.")
    if isinstance(path_or_image, Image.Image):
        _check_pixels(*path_or_image.size, max_pixels)
        return path_or_image.convert("RGB")
    if hasattr(path_or_image, "__array_interface__"):
        try:
            image = Image.fromarray(path_or_image)
        except (TypeError, ValueError) as error:
            raise InputError(f"The uploaded array is not an image: {error}") from error
        _check_pixels(*image.size, max_pixels)
        return image.convert("RGB")

    if isinstance(path_or_image, bytes | bytearray):
        name, size, source = "the uploaded data", len(path_or_image), io.BytesIO(path_or_image)
    else:
        path = Path(path_or_image).expanduser()
        if not path.is_file():
            raise InputError(f"No image file at {path}.")
        name, size, source = str(path), path.stat().st_size, path
    if size > MAX_IMAGE_BYTES:
        raise InputError(
            f"{name} is {size / 2**20:.1f} MB; the limit is {MAX_IMAGE_BYTES / 2**20:.0f} MB."
        )
    try:
        with Image.open(source) as image:
            if image.format not in SUPPORTED_IMAGE_FORMATS:
                raise InputError(
                    f"{name} is a {image.format} image; supported formats are "
                    f"{', '.join(SUPPORTED_IMAGE_FORMATS)}."
                )
            # Check the header's size before decoding anything: this is what stops a bomb.
            _check_pixels(*image.size, max_pixels)
            image.load()
            return image.convert("RGB")
    except Image.DecompressionBombError as error:
        raise InputError(
            f"{name} is too large to open safely ({error}); the limit is {max_pixels:,} pixels."
        ) from error
    except UnidentifiedImageError as error:
        raise InputError(
            f"{name} is not an image file PIL can read (supported: "
            f"{', '.join(SUPPORTED_IMAGE_FORMATS)})."
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{name} is damaged or truncated and cannot be opened: {error}") from error


# ---------------------------------------------------------------- paths
# The one choke point for every path a UI or API caller can set: data files, output folders,
# path-valued stage options, custom image models and rewriter folders all pass through here.

READ, WRITE, READ_OR_ID, FILE_NAME = "read", "write", "read-or-id", "file-name"
# The kinds of path a config field can hold: metadata={"path": KIND} on its dataclass field.
PATH_KINDS = (READ, WRITE, READ_OR_ID, FILE_NAME)
# A registry name or Hugging Face id: "name" or "org/name", no leading dot, no "..".
_MODEL_ID = re.compile(r"^[A-Za-z0-9_][\w.-]*(/[A-Za-z0-9_][\w.-]*)?$")


def _confinement(root: str | Path | None) -> Path:
    """Return the folder a caller's paths are confined to: `root` (which must lie in the
    workspace), or the workspace itself when None."""
    workspace = workspace_dir()
    if root is None:
        return workspace
    root = Path(root).resolve()
    if not root.is_relative_to(workspace):
        raise ValueError(f"a confinement root must lie in the workspace {workspace}: {root}")
    return root


def _named_folders(root: str | Path | None) -> list[tuple[Path, str]]:
    """The folders a message names paths inside, deepest first, each with the prefix it
    names them by: `root` (default the workspace) as "", the shipped assets as "assets/",
    and the server's other folders by their role (`_server_folders`)."""
    named = [(_confinement(root), ""), (assets_dir().resolve(), "assets/")]
    for folder, prefix in _server_folders():
        if len(folder.parts) > 1:  # a home of "/" would name every path
            named += [(folder, prefix), (folder.resolve(), prefix)]
    # A folder named twice keeps its first name: a root that is the workspace is "".
    unique = list({folder: (folder, prefix) for folder, prefix in reversed(named)}.values())
    # Deepest first: a path in the workspace is named by it, not by DIFFCHAT_HOME above it.
    return sorted(unique, key=lambda pair: -len(pair[0].parts))


def _server_folders() -> list[tuple[Path, str]]:
    """The server's own folders a message may mention, each with the name it goes by there:
    the workspace, the install folder, DIFFCHAT_HOME, the Hugging Face caches, the home."""
    from huggingface_hub import constants

    return [
        (workspace_dir(), "workspace/"),
        (REPO_ROOT, "app/"),
        (diffchat_home(), "DIFFCHAT_HOME/"),
        (Path(constants.HF_HUB_CACHE), "HF_HUB_CACHE/"),
        (Path(constants.HF_HOME), "HF_HOME/"),
        (Path.home(), "~/"),
    ]


def shown_path(path: str | Path, root: str | Path | None = None) -> str:
    """Return how a message names `path` to the person: relative to `root` (default the
    workspace; with --auth the user's own folder), as "assets/..." inside the shipped
    assets, by role inside another server folder ("DIFFCHAT_HOME/models/...", see
    `_server_folders`), else its file name alone. Never the absolute server path: it would
    tell every browser where the workspace lives (with --auth, the users/<name>-<hash>
    folder too)."""
    path = Path(path)
    for base, prefix in _named_folders(root):
        if path.is_absolute() and path.is_relative_to(base):
            return prefix + (path.relative_to(base).as_posix() if path != base else ".")
    return path.as_posix() if not path.is_absolute() else path.name


def without_server_paths(text: str, root: str | Path | None = None) -> str:
    """Return `text` (a message, or a line a child process printed: a training or evaluation
    log, its error) with each absolute path inside `root` (default the workspace), the
    shipped assets or another server folder named as `shown_path` names it."""
    if "/" not in text:  # most progress lines ("denoising"): nothing to look up
        return text
    for base, prefix in _named_folders(root):
        # Where a path starts (not "/srv/root/x" for a home of /root), up to a "/" or its end
        # (the folder itself, not a sibling whose name only starts with its name).
        path = re.compile(r"(?<![\w./~-])" + re.escape(str(base)) + r"(/|(?![\w.-]))")
        folder = prefix.rstrip("/") or "."
        text = path.sub(lambda found, p=prefix, f=folder: p if found[1] else f, text)
    return text


def shown_message(text: str, root: str | Path | None = None) -> str:
    """Return `text` as a browser or API caller may read it: credentials redacted
    (core.errors.redact_secrets) and no server path (`without_server_paths`, inside `root`).
    The one pass every message the app shows goes through; the server's own log keeps the
    full text."""
    return without_server_paths(redact_secrets(str(text)), root)


def resolve_user_path(
    user_path: str | Path, access: str = WRITE, root: str | Path | None = None
) -> Path:
    """Return `user_path` resolved inside `root` (default: the workspace; with --auth the
    app passes the logged-in user's own folder in it), or also inside the shipped assets/
    folder when `access` is "read".

    A relative path is taken relative to `root` (for reading, "assets/..." also finds the
    shipped folder). `..` and every symlink on the way are resolved before the check, so a
    link pointing out is refused too. Refuses (InputError) an empty path, any path that ends
    up outside those folders, `root` itself as a place to write, and the app's own files in
    the workspace (core.paths.APP_OWNED_ENTRIES: the server key, the votes, the served
    folder, session and comparison records). Refusals name the path as the caller gave it
    and the folders by role ("the workspace", "your folder"), never by their server path.
    """
    if access not in (READ, WRITE):
        raise ValueError(f"access must be {READ!r} or {WRITE!r}, not {access!r}")
    if user_path is None or not str(user_path).strip():
        raise InputError("Please give a file or folder path inside the workspace.")
    text = str(user_path).strip()
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        in_repo = (REPO_ROOT / candidate).resolve()
        candidate = _confinement(root) / candidate
        if access == READ and not candidate.exists() and in_repo.is_relative_to(assets_dir()):
            candidate = in_repo
    return _confined(candidate, text, access, root)


def _confined(candidate: Path, text: str, access: str, root: str | Path | None) -> Path:
    """Return `candidate` resolved, or refuse it (see `resolve_user_path`), naming it `text`."""
    workspace = workspace_dir()
    base = _confinement(root)
    resolved = candidate.resolve()
    allowed = [base] + ([assets_dir().resolve()] if access == READ else [])
    which = "the workspace" if base == workspace else "your folder"
    if not any(resolved.is_relative_to(folder) for folder in allowed):
        where = which + (" or the shipped assets/ folder" if access == READ else "")
        raise InputError(f"{text} is outside {where}; only paths inside it are allowed.")
    if resolved == base and access == WRITE:
        raise InputError(f"{text}: give a folder inside {which}, not {which} itself.")
    if resolved.is_relative_to(workspace) and resolved != workspace:
        # A stage writing here would overwrite the server key or the votes, or put its files
        # in the served folder; reading would show them in its error messages.
        owned = app_owned_entry(resolved.relative_to(workspace).parts[0])
        if owned is not None:
            raise InputError(
                f"{text} points into {owned}, one of the app's own files in the workspace; "
                "choose another path there."
            )
    return resolved


def resolve_workspace_path(user_path: str | Path, root: str | Path | None = None) -> Path:
    """Return `user_path` resolved inside `root` (default the workspace) as a place to write:
    the "write" form of `resolve_user_path`. Refuses (InputError) anything outside it."""
    return resolve_user_path(user_path, WRITE, root)


def resolve_model_reference(name: str, root: str | Path | None = None) -> str:
    """Return a model or rewriter reference that is safe to load: a registry name or Hugging
    Face id unchanged, or a folder inside `root` (default the workspace; with --auth the
    user's own folder) or assets/ as its absolute path.

    A name that exists as a path (in `root`, or relative to the working directory where a
    loader would find it) is a path and must be inside those folders; "org/name" that is no
    existing path is a hub id. Refuses (InputError) an empty name, a path outside those folders
    ("/etc", "../x", "~/x") and anything that is neither an existing folder nor an id.
    """
    text = (name or "").strip()
    if not text:
        raise InputError("Please give a registry name, a Hugging Face id or a folder.")
    as_path = Path(text).expanduser()
    # Loaders (from_pretrained, load_rewriter, child processes run from the repository) take
    # an existing relative path as a folder, so every place they would look is checked.
    if as_path.is_absolute():
        candidates = [as_path]
    else:
        candidates = [base / as_path for base in (_confinement(root), Path.cwd(), REPO_ROOT)]
    existing = next((candidate for candidate in candidates if candidate.exists()), None)
    if existing is not None:  # refused by the name given, not the folder it was found in
        return str(_confined(existing, text, READ, root))
    if _MODEL_ID.match(text):
        return text
    resolve_user_path(text, READ, root)  # a path outside `root` gets that message
    raise InputError(f"{text} is not a registry name, a Hugging Face id or an existing folder.")


def check_path_option(kind: str, value: str, name: str = "", root: str | Path | None = None) -> str:
    """Return the value to pass on for a path-valued option of `kind` (PATH_KINDS).

    "read" and "write" values are resolved by `resolve_user_path` inside `root` (default the
    workspace); "read-or-id" by `resolve_model_reference`; a "file-name" must be a bare file
    name (no folder part). Refuses (InputError), naming the option, whatever those refuse.
    """
    label = f"{name}: " if name else ""
    try:
        if kind in (READ, WRITE):
            return str(resolve_user_path(value, kind, root))
        if kind == READ_OR_ID:
            return resolve_model_reference(value, root)
        if kind == FILE_NAME:
            text = str(value).strip()
            if not text or Path(text).name != text or text in (".", ".."):
                raise InputError(f"{text!r} must be a bare file name, without a folder.")
            return text
    except InputError as error:
        raise InputError(f"{label}{error}") from error
    raise ValueError(f"unknown path kind {kind!r}; expected one of {PATH_KINDS}")


def positive_number_setting(name: str, default: float, unit: str) -> float:
    """Return the environment variable `name` as a positive number; `default` when it is unset
    or blank. Refuses (InputError naming the variable and `unit`) any other value."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise InputError(f"{name} must be a positive number of {unit}; got {raw!r}.")
    return value
