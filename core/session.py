"""A chat session: a tree of turns, each one instruction, one prompt and (usually) one image.

The tree is what makes undo and branching cheap: undo only moves the `current` pointer to
the parent (the turn stays, so the user can branch back to it), and the next turn becomes a
new child of whatever is current. Failed turns are recorded with their error but never
become current, so a failure leaves the working branch as it was.

Pure Python + PIL; images are files (`Turn.image_path`), never held in the tree.
Export writes JSON with the images either copied beside it or embedded as base64.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import shutil
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import DataError, InputError

FORMAT_VERSION = 1
MAX_SEED = 2**32 - 1


def random_seed() -> int:
    """Return a fresh random seed in [0, 2**32 - 1] (the range torch generators accept)."""
    return secrets.randbelow(MAX_SEED + 1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Turn:
    """One step of the chat. `mode` says how the image was made ("text", "upload", "rewrite",
    "keep", "ip2p"); `error` is set on a turn that failed (it then has no image)."""

    id: int
    parent_id: int | None
    instruction: str
    prompt: str
    negative_prompt: str = ""
    image_path: str | None = None
    seed: int = 0
    model: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    mode: str = "text"
    created_at: str = field(default_factory=_now)
    error: str | None = None


class Session:
    """A tree of turns with a pointer to the current one (None before the first turn)."""

    def __init__(self, seed: int | None = None):
        self.seed = random_seed() if seed is None else int(seed)
        if not 0 <= self.seed <= MAX_SEED:
            raise InputError(f"The seed must be between 0 and {MAX_SEED}; got {self.seed}.")
        self.turns: dict[int, Turn] = {}
        self.current_id: int | None = None
        self.created_at = _now()
        self._next_id = 1

    # --- reading the tree

    @property
    def next_id(self) -> int:
        """Return the id the next added turn will get."""
        return self._next_id

    @property
    def current(self) -> Turn | None:
        """Return the current turn, or None before the first turn (or after undoing it)."""
        return self.turns[self.current_id] if self.current_id is not None else None

    def get(self, turn_id: int) -> Turn:
        """Return the turn with this id; refuses (InputError) an unknown id."""
        try:
            return self.turns[int(turn_id)]
        except (KeyError, TypeError, ValueError):
            raise InputError(f"There is no turn #{turn_id} in this session.") from None

    def children(self, turn_id: int | None) -> list[Turn]:
        """Return the turns whose parent is `turn_id` (None: the roots), oldest first."""
        # A snapshot: concurrent turns of one chat (two sends at once) add turns meanwhile.
        return [turn for turn in list(self.turns.values()) if turn.parent_id == turn_id]

    def path_to(self, turn_id: int | None = None) -> list[Turn]:
        """Return the turns from the root down to `turn_id` (default: the current turn)."""
        turn_id = self.current_id if turn_id is None else turn_id
        path: list[Turn] = []
        while turn_id is not None:
            turn = self.get(turn_id)
            path.append(turn)
            turn_id = turn.parent_id
        return path[::-1]

    def branch_root_image(self, turn_id: int | None = None) -> str:
        """Return the image path of the first successful turn with an image on the branch.

        Keep-composition edits all start from this image, so a long edit chain does not
        drift. Refuses (InputError) a branch that has no image yet.
        """
        for turn in self.path_to(turn_id):
            if turn.image_path and not turn.error:
                return turn.image_path
        raise InputError("This branch has no image yet; create or upload one first.")

    # --- changing the tree

    def add_turn(self, instruction: str, prompt: str, **details: Any) -> Turn:
        """Add a turn as a child of the current turn and return it.

        `details` are the other Turn fields (negative_prompt, image_path, seed, model,
        settings, scores, mode, error). A successful turn becomes current; a failed turn
        (error set) is recorded but the current turn stays, so the tree is as before.
        Refuses (InputError) an unknown field.
        """
        known = {f.name for f in fields(Turn)} - {"id", "parent_id", "instruction", "prompt"}
        unknown = set(details) - known
        if unknown:
            raise InputError(f"Unknown turn fields: {', '.join(sorted(unknown))}.")
        details.setdefault("seed", self.seed)
        turn = Turn(self._next_id, self.current_id, instruction, prompt, **details)
        self.turns[turn.id] = turn
        self._next_id += 1
        if not turn.error:
            self.current_id = turn.id
        return turn

    def undo(self) -> Turn | None:
        """Move back to the parent of the current turn (the turn stays in the tree) and
        return the new current turn. Refuses (InputError) when there is nothing to undo."""
        if self.current is None:
            raise InputError("Nothing to undo.")
        self.current_id = self.current.parent_id
        return self.current

    def branch_from(self, turn_id: int) -> Turn:
        """Make `turn_id` current, so the next turn branches from it, and return it.

        Refuses (InputError) an unknown turn and a failed one.
        """
        turn = self.get(turn_id)
        if turn.error:
            raise InputError(f"Turn #{turn.id} failed ({turn.error}); branch from another turn.")
        self.current_id = turn.id
        return turn

    def forget_last(self) -> Turn | None:
        """Delete the current turn and move to its parent; return the new current turn.

        Failed children of the forgotten turn go with it. Refuses (InputError) when there is
        no current turn, or when other turns branch from it (forget those first).
        """
        turn = self.current
        if turn is None:
            raise InputError("There is no turn to forget.")
        children = self.children(turn.id)
        if any(not child.error for child in children):
            raise InputError(
                f"Turn #{turn.id} has later edits branching from it; only the last turn of a "
                "branch can be forgotten. Use undo instead."
            )
        for child in children:
            del self.turns[child.id]
        del self.turns[turn.id]
        self.current_id = turn.parent_id
        return self.current

    def reroll_seed(self) -> int:
        """Pick and return a new random session seed (used by the following turns)."""
        self.seed = random_seed()
        return self.seed

    # --- export / import

    def to_dict(self) -> dict[str, Any]:
        """Return the session as JSON-ready data (image paths as they are)."""
        return {
            "format": "diffchat-session",
            "version": FORMAT_VERSION,
            "seed": self.seed,
            "created_at": self.created_at,
            "current_id": self.current_id,
            "turns": [asdict(turn) for turn in list(self.turns.values())],  # a snapshot
        }

    def export_json(self, path: str | Path, embed_images: bool = False) -> Path:
        """Write the session to `path` and return it.

        With `embed_images`, each image is stored in the JSON as base64 PNG/JPEG bytes (one
        self-contained file). Without, images are copied into a folder `<name>_images` beside
        the JSON and referenced by relative path. Refuses (InputError) a turn whose image file
        is missing.
        """
        path = Path(path)
        data = self.to_dict()
        image_folder = path.parent / f"{path.stem}_images"
        for record in data["turns"]:
            source = record.pop("image_path")
            record["image_path"] = None
            if not source:
                continue
            source_path = Path(source)
            if not source_path.is_file():
                raise InputError(f"Turn #{record['id']}: its image {source} no longer exists.")
            if embed_images:
                record["image_base64"] = base64.b64encode(source_path.read_bytes()).decode()
                record["image_suffix"] = source_path.suffix or ".png"
            else:
                image_folder.mkdir(parents=True, exist_ok=True)
                target = image_folder / f"turn-{record['id']}{source_path.suffix or '.png'}"
                if source_path.resolve() != target.resolve():
                    shutil.copyfile(source_path, target)
                record["image_path"] = str(target.relative_to(path.parent))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False))
        return path

    @classmethod
    def import_json(cls, path: str | Path, image_folder: str | Path | None = None) -> Session:
        """Return the session stored in `path` by export_json (either image mode).

        The whole file is read and checked before anything is written: field types (the
        message names the field and the type it needs), parents, cycles, and every embedded
        image, decoded and checked like an upload (core.validation.load_user_image). Only
        then are embedded images written into `image_folder` (default: `<name>_images`
        beside the JSON). Refuses (DataError naming the file) malformed JSON, wrong or
        missing fields, unknown parents, cycles, broken or unreadable images and image files
        that do not exist; a refused file writes nothing.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"cannot read the session file: {error}", path=str(path)) from error
        except json.JSONDecodeError as error:
            raise DataError(f"not JSON: {error.msg}", path=str(path), line=error.lineno) from error
        except RecursionError as error:
            raise DataError("not JSON this app can read: nested too deeply", str(path)) from error
        except ValueError as error:  # e.g. an integer of more digits than Python converts
            raise DataError(f"not JSON this app can read: {error}", str(path)) from error
        if not isinstance(data, dict) or data.get("format") != "diffchat-session":
            raise DataError("not a DiffChat session export", path=str(path))
        if data.get("version") != FORMAT_VERSION:
            raise DataError(f"unsupported session version {data.get('version')!r}", str(path))

        seed = _typed(data, "seed", (int,), path, "the session")
        if not 0 <= seed <= MAX_SEED:
            raise DataError(f"the seed must be between 0 and {MAX_SEED}; got {seed}", str(path))
        session = cls(seed=seed)
        session.created_at = _typed(
            data, "created_at", (str, None), path, "the session", default=session.created_at
        )
        embedded: dict[int, tuple[bytes, str]] = {}
        for index, record in enumerate(_typed(data, "turns", (list,), path, "the session")):
            turn, image = _turn_from_record(record, index, path)
            if turn.id in session.turns:
                raise DataError(f"turn #{turn.id} appears twice", path=str(path))
            session.turns[turn.id] = turn
            if image is not None:
                embedded[turn.id] = image
        for turn in session.turns.values():
            if turn.parent_id is not None and turn.parent_id not in session.turns:
                raise DataError(f"turn #{turn.id} names a missing parent", path=str(path))
        _check_no_cycle(session, path)
        current_id = _typed(data, "current_id", (int, None), path, "the session")
        if current_id is not None and current_id not in session.turns:
            raise DataError(f"current turn #{current_id} is not in the file", path=str(path))
        session.current_id = current_id
        session._next_id = max(session.turns, default=0) + 1

        if embedded:
            folder = Path(image_folder) if image_folder else path.parent / f"{path.stem}_images"
            _write_images(session, embedded, folder, path)
        return session


# JSON's names for the Python types json.loads returns.
_JSON_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
    None: "null",
}
_MISSING = object()


def _json_type(value) -> str:
    return (
        _JSON_NAMES[None] if value is None else _JSON_NAMES.get(type(value), type(value).__name__)
    )


def _typed(record: dict, name: str, kinds: tuple, path: Path, where: str, default=_MISSING):
    """Return record[name] when it is one of `kinds` (None in kinds allows null and absence;
    a boolean is not an integer); refuse (DataError naming the field and the type) otherwise.
    `default` replaces an absent or null value."""
    value = record.get(name)
    if value is None:
        if name in record and None not in kinds and default is _MISSING:
            raise DataError(
                f"{where}: field {name!r} must be {_JSON_NAMES[kinds[0]]}, not null", str(path)
            )
        if name not in record and None not in kinds and default is _MISSING:
            raise DataError(f"{where}: field {name!r} is missing", path=str(path))
        return None if default is _MISSING else default
    if not isinstance(value, bool) and any(isinstance(value, kind) for kind in kinds if kind):
        return value
    wanted = " or ".join(_JSON_NAMES[kind] for kind in kinds)
    raise DataError(
        f"{where}: field {name!r} must be {wanted}, not {_json_type(value)}", path=str(path)
    )


# Turn fields and the JSON types they take (DiffChat sessions are written by export_json).
_TURN_FIELDS: dict[str, tuple] = {
    "parent_id": (int, None),
    "instruction": (str,),
    "prompt": (str,),
    "negative_prompt": (str,),
    "image_path": (str, None),
    "seed": (int,),
    "model": (str,),
    "settings": (dict,),
    "scores": (dict,),
    "mode": (str,),
    "created_at": (str,),
    "error": (str, None),
}
_REQUIRED_TURN_FIELDS = ("instruction", "prompt")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _turn_from_record(record: Any, index: int, path: Path) -> tuple[Turn, tuple[bytes, str] | None]:
    """Return (the checked Turn, its embedded image as (bytes, suffix) or None)."""
    if not isinstance(record, dict):
        raise DataError(f"turn {index + 1} in the list is not an object", path=str(path))
    turn_id = _typed(record, "id", (int,), path, f"turn {index + 1} in the list")
    where = f"turn #{turn_id}"
    values = {}
    for name, kinds in _TURN_FIELDS.items():
        if name in record or name in _REQUIRED_TURN_FIELDS:
            values[name] = _typed(record, name, kinds, path, where)
    for name in ("settings", "scores"):
        for key in values.get(name) or {}:
            if not isinstance(key, str):  # JSON keys are strings; kept for dicts built in code
                raise DataError(
                    f"{where}: field {name!r} has a key that is not a string", str(path)
                )
    for key, value in (values.get("scores") or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataError(
                f"{where}: field 'scores' must map names to numbers; {key!r} is {_json_type(value)}",
                path=str(path),
            )
    turn = Turn(id=turn_id, **{"parent_id": None, **values})

    image = None
    if record.get("image_base64") is not None:
        encoded = _typed(record, "image_base64", (str,), path, where)
        suffix = _typed(record, "image_suffix", (str, None), path, where, default=".png")
        try:
            image_bytes = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise DataError(f"{where}: broken embedded image", path=str(path)) from error
        _check_image(image_bytes, where, path)
        image = (image_bytes, suffix.lower() if suffix.lower() in _IMAGE_SUFFIXES else ".png")
        turn.image_path = None
    elif turn.image_path:
        # Only files beside the JSON: an imported file must not point the app at other files.
        image_file = (path.parent / turn.image_path).resolve()
        if not image_file.is_relative_to(path.parent.resolve()):
            raise DataError(
                f"{where}: image {turn.image_path} is outside the session's folder",
                path=str(path),
            )
        if not image_file.is_file():
            raise DataError(f"{where}: image {image_file} does not exist", path=str(path))
        _check_image(image_file, where, path)
        turn.image_path = str(image_file)
    return turn, image


def _check_image(source, where: str, path: Path) -> None:
    from core.validation import load_user_image

    try:
        load_user_image(source)
    except InputError as error:
        raise DataError(f"{where}: {error}", path=str(path)) from error


def _check_no_cycle(session: Session, path: Path) -> None:
    """Refuse (DataError) a turn that is its own ancestor; linear in the number of turns."""
    finished: set[int] = set()
    for start in session.turns.values():
        walk: list[int] = []
        on_walk: set[int] = set()
        turn_id: int | None = start.id
        while turn_id is not None and turn_id not in finished:
            if turn_id in on_walk:
                raise DataError(f"turn #{turn_id} is its own ancestor", path=str(path))
            walk.append(turn_id)
            on_walk.add(turn_id)
            turn_id = session.turns[turn_id].parent_id
        finished.update(walk)


def _write_images(
    session: Session, embedded: dict[int, tuple[bytes, str]], folder: Path, path: Path
) -> None:
    """Write checked embedded images into `folder` and point their turns at them; on a write
    failure remove what was written and raise DataError."""
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for turn_id, (image_bytes, suffix) in embedded.items():
            target = folder / f"turn-{turn_id}{suffix}"
            target.write_bytes(image_bytes)
            written.append(target)
            session.turns[turn_id].image_path = str(target)
    except OSError as error:
        for target in written:
            target.unlink(missing_ok=True)
        raise DataError(
            f"cannot write the session's images into {folder}: {error}", str(path)
        ) from error
