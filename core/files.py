"""Writing files so that a reader never sees half of one, and reading data files line by line.

A record (a comparison, a checkpoint's stage tag, the `latest` pointer) is written to a
temporary file beside its target, flushed to disk and moved over the target with
`os.replace`, which is atomic on one file system: after a crash or a full disk the target is
either the old complete file or the new complete one.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import DataError


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (temporary file + fsync + os.replace); return `path`.

    The temporary file sits in the target's folder (same file system, so the rename is
    atomic) and is removed when writing fails; the OSError (disk full included) is re-raised.
    """
    path = Path(path)
    # A name of its own (not NAME.tmp): two writers of one file never share a temporary file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "x", encoding=encoding) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------- reading data files
# The one reader of JSONL and CSV data files (evaluation rows, rewrite batches, training
# triplets, reward labels): every line comes back with its number and either its object or
# the reason it has none, so a caller can refuse with file:line, skip it, or answer it.


@dataclass(frozen=True)
class DataLine:
    """One row of a data file: its 1-based line number and its object, or why there is none
    (`error`; `blank` for an empty line, which most callers simply pass over)."""

    number: int
    record: dict | None = None
    error: str = ""
    blank: bool = False


def json_type_name(value) -> str:
    """Return JSON's name for a parsed value's type: "a string", "a list", "null", ..."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "an object", type(None): "null"})
    return names.get(type(value), type(value).__name__)


def read_jsonl(path: str | Path) -> Iterator[DataLine]:
    """Yield one DataLine per line of the JSONL file `path`, in order.

    A line that is not UTF-8, not JSON or not a JSON object carries its error (the other
    lines still read); a blank line is marked blank. Raises DataError when the file cannot
    be opened.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as error:
        raise DataError(f"cannot read: {error.strerror or error}", str(path)) from error
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = raw[error.start]
                yield DataLine(
                    number, error=f"not valid UTF-8 (byte {byte:#04x} at column {error.start + 1})"
                )
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")  # a byte-order mark from some editors
            if not text.strip():
                yield DataLine(number, error="blank line", blank=True)
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                yield DataLine(number, error=f"not valid JSON ({error.msg})")
                continue
            if not isinstance(record, dict):
                yield DataLine(
                    number, error=f"the line is {json_type_name(record)}, not a JSON object"
                )
                continue
            yield DataLine(number, record=record)


def read_csv(path: str | Path) -> Iterator[DataLine]:
    """Yield one DataLine per row of the CSV file `path` (a header row names the columns),
    numbered by the line the row starts on.

    A row with more cells than the header carries an error. Raises DataError when the file
    cannot be read as UTF-8 or has no header row.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise DataError("the CSV file has no header row", str(path))
            for row in reader:
                # line_num is where the row ends; a quoted cell may span lines (the csv module
                # also passes over empty lines, so counting rows would drift).
                cells = [value for value in row.values() if isinstance(value, str)]
                start = reader.line_num - sum(value.count("\n") for value in cells)
                # A row with more cells than the header puts the extras under the key None.
                if None in row:
                    yield DataLine(start, error="the row has more cells than the header")
                elif not any(value.strip() for value in cells):
                    yield DataLine(start, error="blank line", blank=True)
                else:
                    yield DataLine(start, record=row)
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read as UTF-8 CSV: {error}", str(path)) from error


def read_data_lines(path: str | Path) -> Iterator[DataLine]:
    """Yield the rows of a data file: CSV when its name ends in .csv, else JSONL."""
    return read_csv(path) if Path(path).suffix.lower() == ".csv" else read_jsonl(path)


def string_field(record: dict, name: str) -> str:
    """Return record[name] stripped; refuses (ValueError, for the caller to place at file:line)
    a missing column, one that is not a string (naming its type) and an empty one."""
    if name not in record:
        raise ValueError(f"column {name!r} is missing")
    value = record[name]
    if not isinstance(value, str):
        raise ValueError(f"column {name!r} must be a string, not {json_type_name(value)}")
    if not value.strip():
        raise ValueError(f"column {name!r} is empty")
    return value.strip()
