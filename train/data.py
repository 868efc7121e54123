"""InstructPE triplets (raw prompt x, instruction i, target prompt y): load, validate, split.

DiffChat section 3.1 builds the InstructPE dataset of (x, i, y) triplets; every training stage
(SFT, reward models, PPO) reads them through `load_triplets`. The rewriter evaluation and the
consistency rules read single edits and three-turn chains as `EditCase`s (`load_cases`,
`chain_case`).

Accepted sources:

- JSONL (one object per line) or JSON (a list of objects),
- CSV with a header row,
- a Hugging Face dataset id (`owner/name`, optionally `owner/name:split`) through
  `datasets.load_dataset` — needs the network or the local datasets cache.

Column names: `raw_prompt / instruction / target_prompt` (ours), the short `x / i / y`, and
InstructPix2Pix's `input / edit / output` (and its hub dataset's
`original_prompt / edit_prompt / edited_prompt`). Optional `category`, `source` and the v2
captions `raw_caption` / `target_caption`.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import DataError
from core.files import read_csv, read_jsonl

# Each field and the column names that mean it, in order of preference.
COLUMN_ALIASES = {
    "raw_prompt": ("raw_prompt", "x", "input", "original_prompt", "input_caption"),
    "instruction": ("instruction", "i", "edit", "edit_prompt"),
    "target_prompt": ("target_prompt", "y", "output", "edited_prompt", "output_caption"),
}
OPTIONAL_FIELDS = ("category", "source", "raw_caption", "target_caption")


@dataclass(frozen=True)
class Triplet:
    """One InstructPE example: edit `raw_prompt` by `instruction` into `target_prompt`.

    `category` names the kind of edit (e.g. "recolour", "weather"); `source` where the row came
    from (e.g. "generated", "handwritten", "chain", a file name). `raw_caption` / `target_caption`
    are the short plain captions x_o / y_o of InstructPE v2 (DiffChat section 3.1), when known.
    """

    raw_prompt: str
    instruction: str
    target_prompt: str
    category: str | None = None
    source: str | None = None
    raw_caption: str | None = None
    target_caption: str | None = None

    def to_dict(self) -> dict:
        """Return the row as a dict, without the optional fields that are unset."""
        return {key: value for key, value in asdict(self).items() if value is not None}


# ---------------------------------------------------------------------------------------------
# Loading


def load_triplets(
    path_or_hf_id: str | Path,
    *,
    skip_bad: bool = False,
    problems: list[str] | None = None,
    split: str = "train",
) -> list[Triplet]:
    """Return the triplets of a JSONL / JSON / CSV file or a Hugging Face dataset id.

    A malformed row (bad JSON, a missing, empty or non-string field) raises DataError naming
    the file and line. With `skip_bad=True` such rows are left out instead and a message per
    row is appended to `problems` (when a list is given). An empty result raises DataError,
    as does a missing file or a dataset id that cannot be loaded offline.
    """
    source = str(path_or_hf_id)
    path = Path(source).expanduser()
    if path.is_file():
        rows = _read_file(path)
    elif path.exists():
        raise DataError("is a folder, not a data file (.jsonl, .json or .csv)", source)
    elif _looks_like_hub_id(source):
        rows = _read_hub_dataset(source, split)
    else:
        raise DataError("no such file (expected .jsonl, .json or .csv, or a dataset id)", source)

    triplets: list[Triplet] = []
    for line, row in rows:
        try:
            triplets.append(row_to_triplet(row))
        except ValueError as error:
            if not skip_bad:
                raise DataError(str(error), source, line) from None
            if problems is not None:
                problems.append(f"{source}:{line}: {error}")
    if not triplets:
        raise DataError("no usable triplets (the dataset is empty)", source)
    return triplets


def _read_file(path: Path) -> Iterator[tuple[int, object]]:
    suffix = "".join(path.suffixes[-1:]).lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".json":
        return _read_json_list(path)
    return _read_jsonl(path)


def _read_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    # A bad line (not UTF-8, not JSON) is a row problem (skippable), not a whole-file failure.
    return _rows(read_jsonl(path))


def _rows(lines) -> Iterator[tuple[int, object]]:
    for line in lines:
        if not line.blank:
            yield line.number, line.record if line.record is not None else _BadRow(line.error)


def _read_json_list(path: Path) -> Iterator[tuple[int, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"malformed JSON ({error.msg})", str(path), error.lineno) from None
    if not isinstance(data, list):
        raise DataError("a .json data file must hold a list of objects", str(path))
    # No line numbers inside one JSON document; report the 1-based item index instead.
    yield from enumerate(data, start=1)


def _read_csv(path: Path) -> Iterator[tuple[int, object]]:
    return _rows(read_csv(path))


def _looks_like_hub_id(text: str) -> bool:
    return re.fullmatch(r"[\w.-]+/[\w.-]+(:[\w.\[\]%-]+)?", text) is not None


def _read_hub_dataset(dataset_id: str, split: str) -> Iterator[tuple[int, object]]:
    name, _, explicit_split = dataset_id.partition(":")
    try:
        import datasets
    except ImportError as error:  # pragma: no cover - datasets is in requirements
        raise DataError("loading a hub dataset needs `pip install datasets`", dataset_id) from error
    try:
        dataset = datasets.load_dataset(name, split=explicit_split or split)
    except Exception as error:  # noqa: BLE001 - datasets raises many unrelated types offline
        raise DataError(
            "could not load this Hugging Face dataset; it needs the network or a copy in the "
            f"local datasets cache ({type(error).__name__}: {str(error).splitlines()[0][:200]})",
            dataset_id,
        ) from error
    # Row numbers start at 1 so that messages read like file lines.
    return ((index, row) for index, row in enumerate(dataset, start=1))


class _BadRow:
    """A row that could not even be parsed; converting it reports `reason`."""

    def __init__(self, reason: str):
        self.reason = reason


def row_to_triplet(row: object) -> Triplet:
    """Return the Triplet of one parsed row (any of COLUMN_ALIASES' names); raises ValueError
    naming the field that is missing, empty or of the wrong type."""
    if isinstance(row, _BadRow):
        raise ValueError(row.reason)
    if not isinstance(row, dict):
        raise ValueError(f"expected an object with fields, got {type(row).__name__}")
    values = {}
    for field_name, aliases in COLUMN_ALIASES.items():
        column = next((name for name in aliases if name in row), None)
        if column is None:
            raise ValueError(f"missing field '{field_name}' (or one of {', '.join(aliases[1:])})")
        value = row[column]
        if not isinstance(value, str):
            raise ValueError(f"field '{column}' must be a string, got {type(value).__name__}")
        if not value.strip():
            raise ValueError(f"field '{column}' is empty")
        values[field_name] = value.strip()
    for field_name in OPTIONAL_FIELDS:
        value = row.get(field_name)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise ValueError(f"field '{field_name}' must be a string, got {type(value).__name__}")
        values[field_name] = value.strip()
    return Triplet(**values)


# ---------------------------------------------------------------------------------------------
# Edit cases: single edits and chains, both as EditCase (a raw prompt and its reference
# steps), read by the rewriter evaluation and the consistency rules


@dataclass(frozen=True)
class EditStep:
    """One reference edit: `instruction` turns the previous prompt into `target_prompt`."""

    instruction: str
    target_prompt: str
    target_caption: str = ""
    category: str = ""


@dataclass(frozen=True)
class EditCase:
    """A raw prompt and the reference edits applied to it in order (one for a single edit).

    `raw_caption` is set only when every step has a `target_caption` too (then CI runs on the
    captions); `line` is the 1-based line of the file it came from.
    """

    raw_prompt: str
    steps: tuple[EditStep, ...]
    raw_caption: str = ""
    line: int = 0
    id: str = ""

    @property
    def uses_captions(self) -> bool:
        """True when CI runs on the captions (x_o, i, y_o), False when on the prompts."""
        return bool(self.raw_caption)


def _json_objects(path: str) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; DataError names file:line."""
    if not Path(path).is_file():
        raise DataError(
            "no such file (leave it out of --test_files / --chain_files, or pass '' for none)",
            path,
        )
    for line in read_jsonl(path):
        if line.blank:
            continue
        if line.record is None:
            raise DataError(line.error, path, line.number)
        yield line.number, line.record


def _text(row: dict, key: str, where: str, required: bool = True) -> str:
    """Return row[key] stripped; ValueError when required and missing/empty, or not a string."""
    value = row.get(key)
    if value is None:
        if required:
            raise ValueError(f"{where}missing field '{key}'")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{where}field '{key}' must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ValueError(f"{where}field '{key}' is empty")
    return value.strip()


def _captions(raw_caption: str, target_captions: list[str], where: list[str]) -> str:
    """Return the raw caption when every step has a target caption, "" when none has one."""
    if not raw_caption and not any(target_captions):
        return ""
    for caption, place in zip(target_captions, where, strict=True):
        if not caption:
            raise ValueError(
                f"{place}missing target_caption (captions are all or nothing: the raw_caption "
                "and every target_caption, or none of them)"
            )
    if not raw_caption:
        raise ValueError("missing raw_caption (the target captions need the raw caption)")
    return raw_caption


def _single_case(row: dict, line: int) -> EditCase:
    step = EditStep(
        instruction=_text(row, "instruction", ""),
        target_prompt=_text(row, "target_prompt", ""),
        target_caption=_text(row, "target_caption", "", required=False),
        category=_text(row, "category", "", required=False),
    )
    raw_caption = _text(row, "raw_caption", "", required=False)
    return EditCase(
        raw_prompt=_text(row, "raw_prompt", ""),
        steps=(step,),
        raw_caption=_captions(raw_caption, [step.target_caption], [""]),
        line=line,
    )


def chain_case(row: dict, line: int) -> EditCase:
    """Return the EditCase of one chain record (raw prompt, its turns in order); raises
    ValueError naming the turn and field that is missing, empty or of the wrong type."""
    turns = row.get("turns")
    if not isinstance(turns, list) or len(turns) < 2:
        raise ValueError("'turns' must be a list of at least two turns")
    stated = row.get("num_turns")
    if stated is not None and stated != len(turns):
        raise ValueError(f"num_turns says {stated} but the chain has {len(turns)} turns")
    steps = []
    for number, turn in enumerate(turns, start=1):
        where = f"turn {number}: "
        if not isinstance(turn, dict) or not turn:
            raise ValueError(f"{where}the turn is empty or not an object")
        category = _text(turn, "category", where, required=False)
        if "category" in turn and not category:
            raise ValueError(f"{where}field 'category' is empty")
        steps.append(
            EditStep(
                instruction=_text(turn, "instruction", where),
                target_prompt=_text(turn, "target_prompt", where),
                target_caption=_text(turn, "target_caption", where, required=False),
                category=category,
            )
        )
    raw_caption = _text(row, "raw_caption", "", required=False)
    chain_id = row.get("id", "")
    return EditCase(
        raw_prompt=_text(row, "raw_prompt", ""),
        steps=tuple(steps),
        raw_caption=_captions(
            raw_caption,
            [s.target_caption for s in steps],
            [f"turn {n}: " for n in range(1, len(steps) + 1)],
        ),
        line=line,
        id=chain_id if isinstance(chain_id, str) else str(chain_id),
    )


def load_cases(path: str, chains: bool, limit: int = 0) -> list[EditCase]:
    """Return the first `limit` (0: all) single edits or chains of a JSONL file.

    Raises DataError naming file:line for malformed JSON, a missing or empty field, a chain
    with fewer than two turns, an empty turn, a turn count other than the chain's `num_turns`,
    or captions on some steps only; and for a file with no rows.
    """
    parse = chain_case if chains else _single_case
    cases = []
    for line, row in _json_objects(path):
        try:
            cases.append(parse(row, line))
        except ValueError as error:
            raise DataError(str(error), path, line) from None
        if limit and len(cases) == limit:
            break
    if not cases:
        raise DataError("the file holds no rows", path)
    return cases


# ---------------------------------------------------------------------------------------------
# Saving


def save_triplets(triplets: Iterable[Triplet], path: str | Path) -> Path:
    """Write triplets as JSONL (or CSV when the name ends in .csv); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    triplets = list(triplets)
    if path.suffix.lower() == ".csv":
        columns = ["raw_prompt", "instruction", "target_prompt", *OPTIONAL_FIELDS]
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(asdict(triplet) for triplet in triplets)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            for triplet in triplets:
                handle.write(json.dumps(triplet.to_dict(), ensure_ascii=False) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# Cleaning and splitting


def normalize_text(text: str) -> str:
    """Return `text` case-folded with runs of whitespace collapsed (the key for duplicates)."""
    return " ".join(text.casefold().split())


def deduplicate(triplets: Iterable[Triplet]) -> list[Triplet]:
    """Return the triplets without repeats of the same (x, i, y), ignoring case and spacing.

    The first occurrence is kept, so the order is stable.
    """
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for triplet in triplets:
        key = (
            normalize_text(triplet.raw_prompt),
            normalize_text(triplet.instruction),
            normalize_text(triplet.target_prompt),
        )
        if key not in seen:
            seen.add(key)
            unique.append(triplet)
    return unique


def split_train_test(
    triplets: list[Triplet], test_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Triplet], list[Triplet]]:
    """Return (train, test), with about `test_fraction` of the rows in test.

    Rows that share a raw prompt (ignoring case and spacing) always land on the same side, so
    the test split never shows the model a raw prompt it trained on. The same input and seed
    give the same split. Refuses (DataError) an empty list, a fraction outside (0, 1), and
    data with fewer than two distinct raw prompts.
    """
    if not triplets:
        raise DataError("cannot split an empty dataset")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    groups: dict[str, list[Triplet]] = {}
    for triplet in triplets:
        groups.setdefault(normalize_text(triplet.raw_prompt), []).append(triplet)
    if len(groups) < 2:
        raise DataError("cannot split: every row has the same raw prompt")
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    wanted = round(test_fraction * len(triplets))
    test_keys: set[str] = set()
    count = 0
    for key in keys[:-1]:  # the last group always stays in train, so train is never empty
        if count >= max(wanted, 1):
            break
        test_keys.add(key)
        count += len(groups[key])
    train = [t for t in triplets if normalize_text(t.raw_prompt) not in test_keys]
    test = [t for t in triplets if normalize_text(t.raw_prompt) in test_keys]
    return train, test
