"""bench/reader_check.py: the reader on the tuned held-out files, never on the honest ones."""

from bench.reader_check import TUNED, check, tuned_pairs


def test_only_tuned_files_are_read():
    honest = {"_g", "_j", "_l"}  # assets/instructpe/heldout/README.md: never read
    assert not honest & set(TUNED)
    files = {file for file, *_ in tuned_pairs()}
    assert files == {f"{kind}{suffix}" for kind in ("single", "chains") for suffix in TUNED}


def test_a_pair_records_the_readers_verdicts():
    row = check("single", "a red car on a road", "make the car blue", "a blue car on a road")
    assert row["reference_ok"] and row["literal"] == "a blue car on a road" and row["literal_good"]
    wrong = check("single", "a red car on a road", "make the car blue", "a red blue car on a road")
    assert not wrong["reference_ok"]
