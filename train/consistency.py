"""The consistency rules of InstructPE v2 rows, checked with the instruction reader.

A row (x, i, y) breaks a rule when its target prompt y:

- `unchanged`: equals the raw prompt x (case, spaces and commas ignored);
- `missing-new-word`: lacks a new content word of the instruction (core.instructions'
  `gain`: "make the dog a fox" needs "fox"; WordNet synonyms count);
- `kept-removed`: still holds what the instruction takes away (its `lose`: the object of
  remove / without / no more, the X of replace X with Y, the old value of a replaced slot,
  photo tags after a change to a painted medium);
- `slot-conflict`: holds an old and a new value of one slot side by side ("in spring, in
  winter", "watercolor ... 35mm photo", "red blue car"; core.instructions.slot_conflicts).

Chains are checked turn by turn: turn k's raw prompt is turn k-1's target.
`python -m train data validate FILE` prints FILE:LINE: RULE: detail for each violation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import DataError

RULES = ("unchanged", "missing-new-word", "kept-removed", "slot-conflict")


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (file, line, chain turn if any), which rule, and what."""

    path: str
    line: int
    rule: str
    detail: str
    turn: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" + (f" turn {self.turn}" if self.turn else "")
        return f"{where}: {self.rule}: {self.detail}"


def check_row(raw_prompt: str, instruction: str, target_prompt: str) -> list[tuple[str, str]]:
    """Return (rule, detail) for every consistency rule the row breaks (empty when none)."""
    from core.instructions import check_edit, slot_conflicts

    check = check_edit(raw_prompt, instruction, target_prompt)
    broken = []
    if check.unchanged:
        broken.append(("unchanged", "the target equals the raw prompt"))
    if check.missing:
        broken.append(("missing-new-word", ", ".join(check.missing)))
    if check.leftover:
        broken.append(("kept-removed", ", ".join(check.leftover)))
    for conflict in slot_conflicts(raw_prompt, target_prompt):
        broken.append(("slot-conflict", conflict))
    return broken


def _chain_violations(record: dict, path: Path, number: int) -> list[Violation]:
    from train.data import chain_case

    try:
        case = chain_case(record, number)
    except ValueError as error:
        raise DataError(str(error), path=str(path), line=number) from error
    violations = []
    prompt = case.raw_prompt
    for index, step in enumerate(case.steps, start=1):
        for rule, detail in check_row(prompt, step.instruction, step.target_prompt):
            violations.append(Violation(str(path), number, rule, detail, index))
        prompt = step.target_prompt
    return violations


def validate_file(path: str | Path, *, skip_bad: bool = False) -> list[Violation]:
    """Return the violations of a JSONL file of rows or of chains (records with "turns").

    Rows accept the column names of train.data (x / i / y, ...); chains are read as the
    evaluation reads them (train.data.chain_case). Refuses (DataError naming file and line) an
    unreadable file, bad JSON and missing fields, including a chain turn without its
    instruction or target; with `skip_bad` such rows are passed over instead
    (train.data.load_triplets reports them).
    """
    from core.files import read_jsonl
    from train.data import row_to_triplet

    path = Path(path)
    violations: list[Violation] = []
    for line in read_jsonl(path):
        if line.blank:
            continue
        try:
            if line.record is None:
                raise DataError(line.error, path=str(path), line=line.number)
            if "turns" in line.record:
                violations += _chain_violations(line.record, path, line.number)
                continue
            try:
                row = row_to_triplet(line.record)
            except ValueError as error:
                raise DataError(str(error), path=str(path), line=line.number) from error
        except DataError:
            if skip_bad:
                continue
            raise
        for rule, detail in check_row(row.raw_prompt, row.instruction, row.target_prompt):
            violations.append(Violation(str(path), line.number, rule, detail))
    return violations
