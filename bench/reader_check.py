"""`python -m bench.reader_check OUT.json [--against OLD.json]`: the instruction reader on the
tuned held-out files, without the model (minutes, not hours, on a CPU).

For every single edit and chain turn of the tuned files (a chain turn starts from the reference
of the turn before) it records whether the reader accepts the reference rewrite
(`core.instructions.check_edit(...).ok`) and whether the reader's literal edit, the verified
decoder's fallback, passes evaluate-rewriter's judge. With --against (the JSON of another
checkout, e.g. a session's start) it prints the pairs that got worse. Only the tuned files are
read: the honest ones (see assets/instructpe/heldout/README.md) are never looked at row by row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.instructions import check_edit
from core.literal_edit import literal_edit
from train.evaluate_rewriter import judge_edits

HELDOUT = Path(__file__).resolve().parent.parent / "assets" / "instructpe" / "heldout"
# The files whose failures were read (held-out README); keep the honest ones out of this list.
TUNED = ("", "_b", "_c", "_d", "_e", "_f", "_h", "_i", "_k")


def tuned_pairs() -> list[tuple[str, str, str, str]]:
    """Return (file, prompt, instruction, reference) for every tuned single edit and turn."""
    pairs = []
    for suffix in TUNED:
        for line in (HELDOUT / f"single{suffix}.jsonl").read_text().splitlines():
            row = json.loads(line)
            pairs.append(
                (f"single{suffix}", row["raw_prompt"], row["instruction"], row["target_prompt"])
            )
        for line in (HELDOUT / f"chains{suffix}.jsonl").read_text().splitlines():
            chain = json.loads(line)
            before = chain["raw_prompt"]
            for turn in chain["turns"]:
                pairs.append(
                    (f"chains{suffix}", before, turn["instruction"], turn["target_prompt"])
                )
                before = turn["target_prompt"]
    return pairs


def check(file: str, prompt: str, instruction: str, reference: str) -> dict:
    literal = literal_edit(prompt, instruction)
    return {
        "file": file,
        "prompt": prompt,
        "instruction": instruction,
        "reference": reference,
        "reference_ok": bool(check_edit(prompt, instruction, reference).ok),
        "literal": literal,
        "literal_good": bool(literal)
        and judge_edits(prompt, [(instruction, reference)], literal).success,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="JSON to write, one record per pair")
    parser.add_argument("--against", help="the JSON of another checkout: print what got worse")
    args = parser.parse_args(argv)
    rows = [check(*pair) for pair in tuned_pairs()]
    Path(args.output).write_text(json.dumps(rows, indent=0))
    accepted = sum(row["reference_ok"] for row in rows)
    good = sum(row["literal_good"] for row in rows)
    print(f"{len(rows)} pairs: reference accepted {accepted}, literal edit passes {good}")
    if args.against:
        old = {
            (r["file"], r["prompt"], r["instruction"]): r
            for r in json.loads(Path(args.against).read_text())
        }
        for row in rows:
            before = old.get((row["file"], row["prompt"], row["instruction"]))
            if before is None:
                continue
            for key in ("reference_ok", "literal_good"):
                if before[key] and not row[key]:
                    print(f"worse {key}: {row['file']} | {row['prompt']} | {row['instruction']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
