"""The Vote tab: blind human preference over saved compare runs.

The voter sees the raw image, the instruction and the candidates in random order under
neutral letters; method names are revealed nowhere on the page. Votes go to the SQLite
store (diffchat_ui.votes); the chart shows each pair's win/tie/lose counts.
"""

from __future__ import annotations

import logging
import random
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from core.errors import DataError, DiffChatError
from core.validation import shown_message
from diffchat_ui.compare_tab import COMPARISON_FILE, load_comparison
from diffchat_ui.context import AppContext
from diffchat_ui.serving import page_gallery, page_image
from diffchat_ui.sessions import page_session_secret
from diffchat_ui.votes import TIE, PairRecord

log = logging.getLogger(__name__)

LETTERS = "ABCDEFGH"
TIE_LABEL = "tie"


@dataclass(frozen=True)
class Ballot:
    """What one voter is looking at: the comparison and the methods in the order shown."""

    comparison_id: str
    raw_prompt: str
    instruction: str
    methods: tuple[str, ...]  # methods[i] is shown as LETTERS[i]


class BallotBox:
    """Each voter's ballot on screen and the comparisons shown to them, kept on the server.

    Filed by the id the page's session secret opens (AppContext.browser_key), not in gr.State:
    Gradio files gr.State under the session hash, which any client can set, and a ballot
    names the method behind each letter. The oldest voters are forgotten past `capacity`.
    """

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[Ballot | None, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Ballot | None, set[str]]:
        """Return (the ballot on screen or None, the comparison ids shown) for `key`."""
        with self._lock:
            ballot, seen = self._entries.get(key, (None, frozenset()))
            return ballot, set(seen)

    def take(self, key: str) -> Ballot | None:
        """Return the ballot on screen for `key` and spend it (None: none), so two clicks of
        Vote at once cannot both count it."""
        with self._lock:
            ballot, seen = self._entries.get(key, (None, frozenset()))
            if ballot is not None:
                self._entries[key] = (None, seen)
            return ballot

    def put(self, key: str, ballot: Ballot | None, seen: set[str]) -> None:
        """File the ballot on screen and the comparisons shown for `key`."""
        with self._lock:
            self._entries[key] = (ballot, frozenset(seen))
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


def votable_comparisons(root: Path) -> list[Path]:
    """Return saved comparison folders with at least two rendered candidates, newest first.

    A damaged record is left out with a warning in the log: one bad folder must not take the
    tab down for everyone.
    """
    found = []
    for path in sorted(root.glob(f"*/{COMPARISON_FILE}"), reverse=True):
        try:
            record = load_comparison(path.parent)
        except DataError as error:
            log.warning("Vote tab skips a comparison: %s", error)
            continue
        if sum(1 for c in record["candidates"] if c["image"]) >= 2:
            found.append(path.parent)
    return found


def draw_ballot(folder: Path, rng: random.Random):
    """Return (ballot, raw image, instruction text, gallery items) with shuffled candidates."""
    record = load_comparison(folder)
    candidates = [c for c in record["candidates"] if c["image"]]
    rng.shuffle(candidates)
    ballot = Ballot(
        record["id"],
        record["raw_prompt"],
        record["instruction"],
        tuple(c["method"] for c in candidates),
    )
    return (ballot, *ballot_view(folder, ballot))


def ballot_view(folder: Path, ballot: Ballot):
    """Return (raw image, instruction text, gallery items) of `ballot`'s comparison, the
    candidates in the ballot's order under their letters (to show a ballot again)."""
    record = load_comparison(folder)
    image_of = {c["method"]: c["image"] for c in record["candidates"] if c["image"]}
    gallery = [
        (image_of[method], f"Candidate {LETTERS[i]}") for i, method in enumerate(ballot.methods)
    ]
    return record["raw_image"], record["instruction"], gallery


def choice_to_method(ballot: Ballot, choice: str) -> str:
    """Return the method behind a letter (or "tie"); refuses (DiffChatError) other input."""
    if choice == TIE_LABEL:
        return TIE
    letter = choice.replace("Candidate", "").strip()
    if len(letter) == 1 and letter in LETTERS[: len(ballot.methods)]:
        return ballot.methods[LETTERS.index(letter)]
    raise DiffChatError(f"Pick one of the candidates shown or “{TIE_LABEL}”.")


TABLE_HEADERS = ["method", "opponent", "wins", "ties", "losses", "votes", "win rate (95% CI)"]


def pair_table(records: list[PairRecord]) -> list[list]:
    """Return rows (method, opponent, wins, ties, losses, votes, win rate with its 95% Wilson
    interval; a tie counts half) for the results table."""
    rows = []
    for r in records:
        rate, low, high = r.win_rate()
        rows.append(
            [r.method, r.opponent, r.wins, r.ties, r.losses, r.total]
            + [f"{rate:.0%} [{low:.0%}, {high:.0%}]"]
        )
    return rows


def next_folder(folders: list[Path], seen: set[str], rng: random.Random) -> Path | None:
    """Return a comparison folder the voter has not seen yet (random among them), or None
    when every one has been seen."""
    unseen = [folder for folder in folders if folder.name not in seen]
    return rng.choice(unseen) if unseen else None


def pair_chart(records: list[PairRecord]):
    """Return a matplotlib figure: one stacked bar per pair, win/tie/lose with counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(7, 1.2 + 0.5 * max(1, len(records))))
    if not records:
        axes.text(0.5, 0.5, "No votes yet", ha="center", va="center")
        axes.set_axis_off()
        return figure
    labels = [f"{r.method} vs {r.opponent}" for r in records]
    left = [0] * len(records)
    for field, color, name in (
        ("wins", "#2e7d32", "win"),
        ("ties", "#9e9e9e", "tie"),
        ("losses", "#c62828", "lose"),
    ):
        values = [getattr(r, field) for r in records]
        bars = axes.barh(labels, values, left=left, color=color, label=name)
        axes.bar_label(
            bars, labels=[str(v) if v else "" for v in values], label_type="center", color="white"
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_xlabel("votes")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # votes are counted: no "0.25"
    axes.invert_yaxis()
    # Above the plot, outside the axes: a legend inside would cover the bars' ends.
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False)
    figure.tight_layout()
    plt.close(figure)
    return figure


def build(context: AppContext):
    """Lay out the Vote tab and wire its events (inside a gr.Tab); return (handler, inputs,
    outputs) for the tab's select event, which shows a ballot and the results."""
    session_secret = page_session_secret()
    ballots = BallotBox()
    if context.votes.recovery_note:
        gr.Markdown(f"⚠️ {context.votes.recovery_note}", elem_id="votes-recovered")
    gr.Markdown(
        "Pick the image that best follows the instruction while keeping the rest, or “tie”. "
        "Candidates come from compare runs, in random order, without method names."
    )
    next_button = gr.Button("Next comparison", variant="primary")
    with gr.Row():
        raw_image = gr.Image(
            label="Raw image",
            type="filepath",
            interactive=False,
            height=256,
            elem_classes="fill-image",
        )
        with gr.Column():
            instruction = gr.Markdown()
            candidates = gr.Gallery(
                label="Candidates", columns=4, height=280, elem_id="vote-candidates"
            )
    with gr.Row():
        choice = gr.Radio([], label="Most desirable")
        vote_button = gr.Button("Vote")
    status = gr.Markdown()
    with gr.Accordion("Results", open=True):
        chart = gr.Plot(label="Win / tie / lose per pair")
        table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False)
        with gr.Row():
            export_button = gr.Button("Export votes as CSV")
            export_file = gr.File(label="votes.csv", interactive=False)

    def results():
        records = context.votes.pairwise()
        return pair_chart(records), pair_table(records)

    def next_ballot(key: str, voter: str, note: str = ""):
        """File the next unseen ballot under `key` and return (raw, instruction, candidates,
        choice, status), or an empty one saying why there is none."""
        _, seen = ballots.get(key)
        seen |= context.votes.voted_comparisons(voter)
        folders = votable_comparisons(context.comparisons_dir())
        while (folder := next_folder(folders, seen, random.Random())) is not None:
            try:
                ballot, *view = draw_ballot(folder, random.Random())
                page = shown(ballot, *view)
            except DataError as error:  # an image damaged or gone: the next comparison
                log.warning("Vote tab skips a comparison: %s", error)
                folders.remove(folder)
                continue
            ballots.put(key, ballot, seen | {folder.name})
            left = len([f for f in folders if f.name not in seen]) - 1
            return (*page, f"{note} {left} more after this one.".strip())
        ballots.put(key, None, seen)
        if folders:
            message = (
                f"All done: you have seen all {len(folders)} comparisons. Thank you! "
                "New ones appear here after a Compare run."
            )
        else:
            message = "No comparisons yet: run one in the Compare tab first."
        empty = gr.update(choices=[], value=None)
        return (None, "", [], empty, f"{note} {message}".strip())

    def shown(ballot: Ballot, raw, instruction_text: str, gallery):
        """Return (raw, instruction, candidates, choice) showing `ballot`; refuses (DataError)
        a comparison whose images cannot be decoded."""
        letters = [f"Candidate {LETTERS[i]}" for i in range(len(ballot.methods))]
        try:  # decoded: the comparison folder is not served
            raw_image, candidates = page_image(raw), page_gallery(gallery)
        except OSError as error:  # missing, truncated, not an image (PIL's errors are OSErrors)
            record = Path(raw).parent / COMPARISON_FILE
            raise DataError(f"damaged comparison image ({error})", path=str(record)) from error
        return (
            raw_image,
            f"**Instruction:** {instruction_text}\n\n**Raw prompt:** {ballot.raw_prompt}",
            candidates,
            gr.update(choices=letters + [TIE_LABEL], value=None),
        )

    ballot_outputs = [raw_image, instruction, candidates, choice, status]
    unchanged = (gr.update(),) * 4  # raw image, instruction, candidates, choice

    def on_next(secret, request: gr.Request):
        try:
            key, voter = context.browser_key(secret, request), context.voter_id(secret, request)
        except DiffChatError as error:
            return (*unchanged, f"⚠️ {shown_message(error)}")
        return next_ballot(key, voter)

    def on_vote(secret, choice_v: str | None, request: gr.Request):
        try:
            key, voter = context.browser_key(secret, request), context.voter_id(secret, request)
        except DiffChatError as error:
            return (*unchanged, f"⚠️ {shown_message(error)}", *results())
        ballot = ballots.take(key)
        if ballot is None:
            return (*unchanged, "Load a comparison first.", *results())
        try:
            if not choice_v:
                raise DiffChatError("Pick a candidate or “tie” first.")
            method = choice_to_method(ballot, choice_v)
            context.votes.record_vote(
                ballot.comparison_id,
                ballot.raw_prompt,
                ballot.instruction,
                list(ballot.methods),
                method,
                voter=voter,
            )
        except DiffChatError as error:
            ballots.put(key, ballot, ballots.get(key)[1])  # not counted: it stays on screen
            return (*unchanged, f"⚠️ {shown_message(error)}", *results())
        # The ballot is spent (a double click cannot count twice) and the next one loads.
        thanks = f"Thanks! {context.votes.count()} votes so far."
        return (*next_ballot(key, voter, note=thanks), *results())

    def on_export():
        folder = Path(tempfile.mkdtemp(prefix="diffchat-votes-"))
        return str(context.votes.export_csv(folder / "votes.csv"))

    next_button.click(on_next, session_secret, ballot_outputs, api_name="next_ballot")
    vote_button.click(
        on_vote,
        [session_secret, choice],
        [*ballot_outputs, chart, table],
        api_name="vote",
    )
    export_button.click(on_export, None, export_file, api_name="export_votes")

    def on_open(secret, request: gr.Request):
        # Opening the tab shows a ballot at once: the one not voted on yet (also after a page
        # reload, since the secret outlives it), else the next.
        try:
            ballot, _ = ballots.get(context.browser_key(secret, request))
            if ballot is not None:
                view = ballot_view(context.comparisons_dir() / ballot.comparison_id, ballot)
                return (*shown(ballot, *view), "", *results())
        except (DiffChatError, KeyError):  # no valid secret (on_next says so); a record gone
            pass
        return (*on_next(secret, request), *results())

    return on_open, [session_secret], [*ballot_outputs, chart, table]
