"""The blind-vote store: one SQLite file (WAL) in the workspace, safe for concurrent voters.

Every write opens its own connection and takes the write lock up front (BEGIN IMMEDIATE)
with a generous busy timeout, so simultaneous voters queue for a few milliseconds instead
of failing or overwriting each other. Aggregation is pairwise: a vote for method A among
shown methods {A, B, C} is a win of A over B and over C; a "tie" vote is a tie for every
pair shown.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

from core.errors import InputError

log = logging.getLogger(__name__)

TIE = "tie"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    comparison_id TEXT NOT NULL,
    raw_prompt TEXT NOT NULL,
    instruction TEXT NOT NULL,
    methods_shown TEXT NOT NULL,  -- JSON list, in the order the voter saw them
    choice TEXT NOT NULL,         -- a method name or 'tie'
    voter TEXT NOT NULL
)
"""
CSV_COLUMNS = (
    "id",
    "created_at",
    "comparison_id",
    "raw_prompt",
    "instruction",
    "methods_shown",
    "choice",
    "voter",
)


@dataclass(frozen=True)
class PairRecord:
    """Outcome counts of `method` against `opponent`."""

    method: str
    opponent: str
    wins: int
    ties: int
    losses: int

    @property
    def total(self) -> int:
        """Return the votes that decided this pair: a win of either side or a tie."""
        return self.wins + self.ties + self.losses

    def win_rate(self) -> tuple[float, float, float]:
        """Return (rate, low, high): `method`'s win rate over `opponent` (a tie counts half)
        with its 95% Wilson interval."""
        return wilson_interval(self.wins + 0.5 * self.ties, self.total)


def wilson_interval(successes: float, trials: int, z: float = 1.96) -> tuple[float, float, float]:
    """Return (rate, low, high): the share successes/trials with its Wilson score interval
    (95% for z = 1.96); (nan, 0, 1) when there are no trials. Unlike rate ± z·se, the interval
    stays inside [0, 1] and is not zero-width at 0 or 1 successes."""
    if trials <= 0:
        return math.nan, 0.0, 1.0
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    return rate, max(0.0, centre - half), min(1.0, centre + half)


class VoteStore:
    """Votes in one SQLite file; each call is its own short transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Set when the file found at start was damaged: what happened, for the Vote tab.
        self.recovery_note = ""
        try:
            self._open()
        except sqlite3.DatabaseError as error:
            # The app must start anyway; the damaged file is kept for recovery, never deleted.
            moved = self._move_aside()
            self.recovery_note = (
                f"The vote database {self.path.name} was damaged ({error}); it was moved aside "
                f"to {moved.name} in the workspace and a new, empty one was started."
            )
            log.error("%s (%s)", self.recovery_note, moved)
            self._open()

    def _open(self) -> None:
        with closing(self._connect()) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)
            # quick_check reads every page: damage behind a good header shows now, at start,
            # not at somebody's vote.
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {verdict}")
            connection.commit()

    def _move_aside(self) -> Path:
        """Rename the database (and its WAL files) to NAME.damaged-<time>; return the new path."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        number = 1
        while target.exists():
            number += 1
            target = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{number}")
        for suffix in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + suffix)
            if companion.exists():
                os.replace(companion, target.with_name(target.name + suffix))
        os.replace(self.path, target)
        return target

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE below).
        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        connection.execute("PRAGMA busy_timeout=60000")
        return connection

    def record_vote(
        self,
        comparison_id: str,
        raw_prompt: str,
        instruction: str,
        methods_shown: list[str],
        choice: str,
        voter: str = "",
    ) -> int:
        """Store one vote and return its id.

        Refuses (InputError) fewer than two distinct methods, or a choice that is neither
        one of them nor "tie".
        """
        if len(set(methods_shown)) < 2:
            raise InputError("A vote needs at least two different candidates.")
        if choice != TIE and choice not in methods_shown:
            raise InputError(f"The choice {choice!r} was not among the candidates shown.")
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            cursor = connection.execute(
                "INSERT INTO votes (created_at, comparison_id, raw_prompt, instruction,"
                " methods_shown, choice, voter) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    comparison_id,
                    raw_prompt,
                    instruction,
                    json.dumps(methods_shown),
                    choice,
                    voter,
                ),
            )
            connection.execute("COMMIT")
            return int(cursor.lastrowid)

    def rows(self) -> list[dict]:
        """Return every vote as a dict (methods_shown decoded), oldest first."""
        with closing(self._connect()) as connection:
            connection.row_factory = sqlite3.Row
            rows = connection.execute("SELECT * FROM votes ORDER BY id").fetchall()
        return [{**dict(row), "methods_shown": json.loads(row["methods_shown"])} for row in rows]

    def count(self) -> int:
        """Return the number of stored votes."""
        with closing(self._connect()) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM votes").fetchone()[0])

    def pairwise(self) -> list[PairRecord]:
        """Return win/tie/lose counts for every pair of methods shown together.

        Each unordered pair appears once, as (alphabetically first, second); its losses are
        the opponent's wins.
        """
        counts: dict[tuple[str, str], list[int]] = {}
        for vote in self.rows():
            for method, opponent in combinations(sorted(set(vote["methods_shown"])), 2):
                record = counts.setdefault((method, opponent), [0, 0, 0])
                if vote["choice"] == TIE:
                    record[1] += 1
                elif vote["choice"] == method:
                    record[0] += 1
                elif vote["choice"] == opponent:
                    record[2] += 1
                # A vote for a third method says nothing about this pair.
        return [PairRecord(a, b, *record) for (a, b), record in sorted(counts.items())]

    def hash_voters(self, voter_hash) -> int:
        """Replace every stored voter that is not yet a keyed hash (64 hex digits) by
        `voter_hash(voter)`; return how many rows changed. Older databases stored Gradio
        session ids, which let anyone who read them take over those sessions."""
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            rows = connection.execute("SELECT id, voter FROM votes WHERE voter != ''").fetchall()
            changed = [
                (voter_hash(voter), row_id)
                for row_id, voter in rows
                if not (len(voter) == 64 and all(c in "0123456789abcdef" for c in voter))
            ]
            connection.executemany("UPDATE votes SET voter = ? WHERE id = ?", changed)
            connection.execute("COMMIT")
        return len(changed)

    def voted_comparisons(self, voter: str) -> set[str]:
        """Return the ids of the comparisons `voter` has already voted on."""
        with closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT DISTINCT comparison_id FROM votes WHERE voter = ?", (voter,)
            ).fetchall()
        return {row[0] for row in rows}

    def export_csv(self, path: str | Path) -> Path:
        """Write every vote to a CSV file (methods_shown as JSON, created_at as ISO 8601 UTC)
        and return its path."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for vote in self.rows():
                created = datetime.fromtimestamp(vote["created_at"], UTC)
                writer.writerow(
                    {
                        **vote,
                        "created_at": created.isoformat(timespec="seconds"),
                        "methods_shown": json.dumps(vote["methods_shown"]),
                    }
                )
        return path
