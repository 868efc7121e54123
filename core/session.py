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
        return [turn for turn in self.turns.values() if turn.parent_id == turn_id]

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
            "turns": [asdict(turn) for turn in self.turns.values()],
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

        Embedded images are written into `image_folder` (default: `<name>_images` beside
        the JSON). Refuses (DataError naming the file) malformed JSON, missing fields,
        unknown parents, cycles, broken base64 and image files that do not exist.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"cannot read the session file: {error}", path=str(path)) from error
        except json.JSONDecodeError as error:
            raise DataError(f"not JSON: {error.msg}", path=str(path), line=error.lineno) from error
        if not isinstance(data, dict) or data.get("format") != "diffchat-session":
            raise DataError("not a DiffChat session export", path=str(path))
        if data.get("version") != FORMAT_VERSION:
            raise DataError(f"unsupported session version {data.get('version')!r}", str(path))

        folder = Path(image_folder) if image_folder else path.parent / f"{path.stem}_images"
        session = cls(seed=_field(data, "seed", int, path))
        session.created_at = str(data.get("created_at") or session.created_at)
        for record in _field(data, "turns", list, path):
            turn = _turn_from_record(record, path, folder)
            if turn.id in session.turns:
                raise DataError(f"turn #{turn.id} appears twice", path=str(path))
            session.turns[turn.id] = turn
        for turn in session.turns.values():
            if turn.parent_id is not None and turn.parent_id not in session.turns:
                raise DataError(f"turn #{turn.id} names a missing parent", path=str(path))
            _check_no_cycle(session, turn, path)
        current_id = data.get("current_id")
        if current_id is not None and current_id not in session.turns:
            raise DataError(f"current turn #{current_id} is not in the file", path=str(path))
        session.current_id = current_id
        session._next_id = max(session.turns, default=0) + 1
        return session


def _field(record: dict, name: str, kind: type, path: Path):
    value = record.get(name) if isinstance(record, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise DataError(f"field {name!r} is missing or not a {kind.__name__}", path=str(path))
    return value


def _turn_from_record(record: Any, path: Path, folder: Path) -> Turn:
    if not isinstance(record, dict):
        raise DataError("a turn is not an object", path=str(path))
    record = dict(record)
    embedded = record.pop("image_base64", None)
    suffix = record.pop("image_suffix", ".png")
    turn_id = _field(record, "id", int, path)
    for name in ("instruction", "prompt"):
        _field(record, name, str, path)
    known = {f.name for f in fields(Turn)}
    try:
        turn = Turn(**{key: value for key, value in record.items() if key in known})
    except TypeError as error:
        raise DataError(f"turn #{turn_id}: {error}", path=str(path)) from error
    if embedded is not None:
        try:
            image_bytes = base64.b64decode(embedded, validate=True)
        except (binascii.Error, TypeError) as error:
            raise DataError(f"turn #{turn_id}: broken embedded image", path=str(path)) from error
        folder.mkdir(parents=True, exist_ok=True)
        safe_suffix = suffix if suffix in (".png", ".jpg", ".jpeg", ".webp") else ".png"
        target = folder / f"turn-{turn_id}{safe_suffix}"
        target.write_bytes(image_bytes)
        turn.image_path = str(target)
    elif turn.image_path:
        # Only files beside the JSON: an imported file must not point the app at other files.
        image = (path.parent / turn.image_path).resolve()
        if not image.is_relative_to(path.parent.resolve()):
            raise DataError(
                f"turn #{turn_id}: image {turn.image_path} is outside the session's folder",
                path=str(path),
            )
        if not image.is_file():
            raise DataError(f"turn #{turn_id}: image {image} does not exist", path=str(path))
        turn.image_path = str(image)
    return turn


def _check_no_cycle(session: Session, turn: Turn, path: Path) -> None:
    seen = {turn.id}
    parent_id = turn.parent_id
    while parent_id is not None:
        if parent_id in seen:
            raise DataError(f"turn #{turn.id} is its own ancestor", path=str(path))
        seen.add(parent_id)
        parent_id = session.turns[parent_id].parent_id
