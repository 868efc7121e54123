"""The SQLite vote store: pairwise aggregation, CSV export, concurrent writers."""

from __future__ import annotations

import csv
import threading

import pytest

from core.errors import InputError
from diffchat_ui.votes import TIE, PairRecord, VoteStore


def test_pairwise_counts_wins_ties_and_losses(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    shown = ["diffchat", "chatgpt", "instructpix2pix"]
    store.record_vote("c1", "a cat", "make it night", shown, "diffchat", "v1")
    store.record_vote("c1", "a cat", "make it night", list(reversed(shown)), "diffchat", "v2")
    store.record_vote("c2", "a dog", "add a hat", shown, TIE, "v1")
    store.record_vote("c3", "a dog", "add a hat", ["chatgpt", "diffchat"], "chatgpt", "v3")
    assert store.count() == 4
    by_pair = {(r.method, r.opponent): r for r in store.pairwise()}
    assert by_pair[("chatgpt", "diffchat")] == PairRecord("chatgpt", "diffchat", 1, 1, 2)
    assert by_pair[("diffchat", "instructpix2pix")] == PairRecord(
        "diffchat", "instructpix2pix", 2, 1, 0
    )
    # Votes for diffchat say nothing about chatgpt vs instructpix2pix; the tie does.
    assert by_pair[("chatgpt", "instructpix2pix")] == PairRecord(
        "chatgpt", "instructpix2pix", 0, 1, 0
    )


def test_refuses_votes_that_cannot_be_counted(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    with pytest.raises(InputError, match="two different candidates"):
        store.record_vote("c", "p", "i", ["a", "a"], "a")
    with pytest.raises(InputError, match="not among the candidates"):
        store.record_vote("c", "p", "i", ["a", "b"], "c")
    assert store.count() == 0


def test_export_csv_round_trips(tmp_path):
    store = VoteStore(tmp_path / "votes.sqlite")
    store.record_vote("c1", 'a "quoted", prompt', "make it\nnight", ["a", "b"], "b", "v")
    rows = list(csv.DictReader(store.export_csv(tmp_path / "votes.csv").open()))
    assert len(rows) == 1
    assert rows[0]["raw_prompt"] == 'a "quoted", prompt'
    assert rows[0]["instruction"] == "make it\nnight"
    assert rows[0]["methods_shown"] == '["a", "b"]' and rows[0]["choice"] == "b"


def test_concurrent_voters_lose_nothing(tmp_path):
    path = tmp_path / "votes.sqlite"
    VoteStore(path)
    voters, votes_each = 8, 25
    errors = []
    barrier = threading.Barrier(voters)

    def vote(voter: int) -> None:
        store = VoteStore(path)  # each voter its own store object, like separate processes
        barrier.wait()
        try:
            for n in range(votes_each):
                choice = ["a", "b", TIE][(voter + n) % 3]
                store.record_vote(f"c{n}", "p", "i", ["a", "b"], choice, f"voter{voter}")
        except Exception as error:  # collected: a thread's exception would vanish
            errors.append(error)

    threads = [threading.Thread(target=vote, args=(v,)) for v in range(voters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = VoteStore(path)
    rows = store.rows()
    assert len(rows) == voters * votes_each
    assert len({row["id"] for row in rows}) == voters * votes_each
    (pair,) = store.pairwise()
    assert pair.total == voters * votes_each
    expected_a = sum((v + n) % 3 == 0 for v in range(voters) for n in range(votes_each))
    assert pair.wins == expected_a


def test_win_rates_carry_95_percent_wilson_intervals():
    from diffchat_ui.votes import wilson_interval

    rate, low, high = wilson_interval(8, 10)
    assert rate == 0.8 and round(low, 3) == 0.490 and round(high, 3) == 0.943
    assert wilson_interval(0, 5)[1] == 0.0 and wilson_interval(0, 5)[2] > 0.4  # not zero-width
    # a tie counts half: 1 win, 2 ties, 1 loss is an even 50%
    assert PairRecord("a", "b", 1, 2, 1).win_rate()[0] == 0.5


def test_ballots_skip_what_the_voter_has_seen_and_csv_times_are_iso(tmp_path):
    import random
    from pathlib import Path

    from diffchat_ui.vote_tab import next_folder

    folders = [Path("c1"), Path("c2")]
    assert next_folder(folders, {"c1"}, random.Random(0)) == Path("c2")
    assert next_folder(folders, {"c1", "c2"}, random.Random(0)) is None
    store = VoteStore(tmp_path / "votes.sqlite")
    store.record_vote("c1", "a cat", "make it night", ["a", "b"], "a", "voter-1")
    assert store.voted_comparisons("voter-1") == {"c1"} and store.voted_comparisons("x") == set()
    rows = list(csv.DictReader(open(store.export_csv(tmp_path / "votes.csv"))))
    assert rows[0]["created_at"].endswith("+00:00") and "T" in rows[0]["created_at"]


def test_a_ballot_is_spent_once_and_voters_are_kept_apart():
    from diffchat_ui.vote_tab import Ballot, BallotBox

    box = BallotBox(capacity=2)
    ballot = Ballot("c1", "a cat", "make it night", ("append", "openai"))
    box.put("voter-1", ballot, {"c1"})
    assert box.get("voter-2") == (None, set())
    assert box.take("voter-1") == ballot
    assert box.take("voter-1") is None  # a second click of Vote finds it spent
    assert box.get("voter-1") == (None, {"c1"})  # what was shown is remembered
    box.put("voter-2", None, set())
    box.put("voter-3", None, {"c2"})
    assert box.get("voter-1") == (None, set())  # past capacity, the oldest voter is forgotten


def test_the_vote_chart_counts_votes_in_whole_numbers():
    """Two votes drew ticks at 0.25, 0.50, ... votes."""
    from diffchat_ui.vote_tab import pair_chart
    from diffchat_ui.votes import PairRecord

    figure = pair_chart([PairRecord("append", "instructpix2pix", 0, 0, 2)])
    figure.canvas.draw()
    ticks = [tick for tick in figure.axes[0].get_xticks() if 0 <= tick <= 2]
    assert ticks and all(float(tick).is_integer() for tick in ticks), ticks
