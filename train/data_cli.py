"""`python -m train data validate|split|sample|construct`: InstructPE data commands.

validate FILE [--skip-bad] [--no-rules]
                                      check every row (format, then the consistency rules), print counts
split FILE --out DIR [--test-fraction 0.1] [--seed 0]
                                      dedupe, then split with no raw prompt on both sides
sample [--seed 0] [--out assets/instructpe]
                                      rebuild InstructPE v2 (train.jsonl, test.jsonl, test_chains.jsonl)
construct --input ip2p.jsonl --beautifier MODEL --chat-backend openai|local --out FILE
                                      DiffChat section 3.1 pipeline (see train/construct.py)
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from train.data import deduplicate, load_triplets, save_triplets, split_train_test


def _is_chain_file(path: str) -> bool:
    """True when the first record of a JSONL file is a chain (has "turns")."""
    from core.files import read_jsonl

    if Path(path).suffix != ".jsonl" or not Path(path).is_file():
        return False
    first = next((line for line in read_jsonl(path) if not line.blank), None)
    return first is not None and first.record is not None and "turns" in first.record


def _check_rules(path: str, skip_bad: bool = False) -> int:
    """Print every consistency violation of a JSONL file; return how many there were."""
    from train.consistency import validate_file

    violations = validate_file(path, skip_bad=skip_bad)
    for violation in violations:
        print(violation)
    rules = Counter(violation.rule for violation in violations)
    print(f"consistency rules: {len(violations)} violations {dict(rules)}")
    return len(violations)


def _validate(args: argparse.Namespace) -> int:
    if _is_chain_file(args.file):
        print(f"{args.file}: chains of turns")
        return 1 if args.rules and _check_rules(args.file) else 0
    problems: list[str] = []
    triplets = load_triplets(args.file, skip_bad=args.skip_bad, problems=problems)
    for problem in problems:
        print(f"skipped {problem}")
    unique = deduplicate(triplets)
    print(
        f"{args.file}: {len(triplets)} valid rows, {len(problems)} bad rows skipped, "
        f"{len(triplets) - len(unique)} duplicates"
    )
    categories = Counter(triplet.category or "(none)" for triplet in triplets)
    for category, count in sorted(categories.items()):
        print(f"  {category:16s} {count}")
    jsonl = Path(args.file).suffix == ".jsonl"
    violations = _check_rules(args.file, args.skip_bad) if args.rules and jsonl else 0
    return 1 if problems or violations else 0


def _split(args: argparse.Namespace) -> int:
    triplets = deduplicate(load_triplets(args.file, skip_bad=args.skip_bad))
    train, test = split_train_test(triplets, args.test_fraction, args.seed)
    out = Path(args.out)
    save_triplets(train, out / "train.jsonl")
    save_triplets(test, out / "test.jsonl")
    print(f"wrote {len(train)} train and {len(test)} test rows to {out}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from train.sample_generator import SampleConfig, build_sample, save_chains

    config = SampleConfig(
        seed=args.seed,
        train_rows=args.train_rows,
        test_rows=args.test_rows,
        test_chains=args.test_chains,
        handwritten=Path(args.handwritten) if args.handwritten else None,
    )
    train, test, chains = build_sample(config)
    out = Path(args.out)
    save_triplets(train, out / "train.jsonl")
    save_triplets(test, out / "test.jsonl")
    save_chains(chains, out / "test_chains.jsonl")
    print(
        f"wrote {len(train)} train rows, {len(test)} test rows and {len(chains)} test chains to {out}"
    )
    return 0


def _construct(args: argparse.Namespace) -> int:
    from train.construct import main as construct_main

    return construct_main(args)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of `python -m train data`."""
    parser = argparse.ArgumentParser(
        prog="python -m train data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a data file row by row")
    validate.add_argument("file", help="JSONL, JSON or CSV file, or a Hugging Face dataset id")
    validate.add_argument(
        "--skip-bad", action="store_true", help="list bad rows and go on instead of stopping"
    )
    validate.add_argument(
        "--no-rules",
        dest="rules",
        action="store_false",
        help="skip the consistency rules of train/consistency.py (about 3 ms a row after WordNet loads)",
    )
    validate.set_defaults(handler=_validate)

    split = commands.add_parser("split", help="deduplicate and split into train/test")
    split.add_argument("file", help="JSONL, JSON or CSV file, or a Hugging Face dataset id")
    split.add_argument("--out", required=True, help="folder for train.jsonl and test.jsonl")
    split.add_argument("--test-fraction", type=float, default=0.1, help="share of rows in test")
    split.add_argument("--seed", type=int, default=0, help="seed of the split")
    split.add_argument("--skip-bad", action="store_true", help="leave out bad rows")
    split.set_defaults(handler=_split)

    sample = commands.add_parser("sample", help="rebuild InstructPE v2 (train, test, test chains)")
    sample.add_argument("--seed", type=int, default=0, help="seed of generator and split")
    sample.add_argument("--out", default="assets/instructpe", help="output folder")
    sample.add_argument("--train-rows", type=int, default=30000, help="training rows")
    sample.add_argument("--test-rows", type=int, default=1500, help="test rows")
    sample.add_argument("--test-chains", type=int, default=300, help="test chains of three turns")
    sample.add_argument(
        "--handwritten",
        default=None,
        help="hand-written rows to mix in (default: assets/instructpe/handwritten.jsonl)",
    )
    sample.set_defaults(handler=_sample)

    construct = commands.add_parser(
        "construct", help="build InstructPE rows from InstructPix2Pix-style triplets (paper 3.1)"
    )
    try:
        from train.construct import add_arguments
    except ImportError:  # construct.py not written yet in this checkout
        add_arguments = None
    if add_arguments is not None:
        add_arguments(construct)
    construct.set_defaults(handler=_construct)
    return parser


def main(argv: list[str]) -> int:
    """Run one data command; return the exit status (1 when validate found bad rows)."""
    args = build_parser().parse_args(argv)
    return args.handler(args)
