"""`python -m train evaluate-rewriter`: do rewriters apply single edits and chains of edits?

Systems (`--systems`, comma-separated):
    adapter         the fine-tuned rewriter (`--adapter`: a LoRA adapter folder or a full model)
    zero-shot       the base model (`--base_model`) with the paper's template, no fine-tuning
    append          the no-model baseline: "x, i" (the instruction appended to the prompt)
    chat:MODEL      an OpenAI-compatible chat model through core.rewrite.ChatAPIRewriter (the
                    "openai" rewriter of the app; OPENAI_API_KEY / OPENAI_BASE_URL from the
                    environment), only when named
    SYSTEM+verify   SYSTEM with verified decoding, `Rewriter.rewrite(x, i, candidates=K)` in
                    batches (`rewrite_batch_verified`), K = `--candidates` (e.g.
                    "adapter+verify"); `verify_replaced` in the JSON: the share of rewrites
                    where verification chose another candidate than the greedy one
Every other system decodes greedily and keeps the first line (core.rewrite).

Data, each file reported on its own:
    --test_files    single edits: one JSON object per line with raw_prompt, instruction,
                    target_prompt, optional category and the captions raw_caption/target_caption
    --chain_files   chains: raw_prompt [, raw_caption] and turns [{instruction, target_prompt
                    [, target_caption, category]}, ...] (docs: notes DATA_V2). Turn k rewrites
                    the system's OWN output of turn k-1, as the Create tab does; after an empty
                    output the chain stops (later turns count as empty outputs).

Judging one output against reference edits y_0 -> y_1 -> ... -> y_n with instructions i_1..i_n
(y_0 = x, the raw prompt; a single edit is n = 1), all on prompts (`judge_edits`):
    gained     the highlighted keywords of each step k (Listing 1 line 31: keywords of y_k that
               are in i_k and not in y_{k-1}) that y_n still has (a later step may remove them)
    removed    the keywords each step dropped (in y_{k-1}, not in y_k) that y_n does not have
    success    ALL of: every gained keyword is in the output as itself or a WordNet synonym;
               no removed keyword is among the output's keywords; the raw CI of the output
               against (y_0, "i_1. i_2. ... i_n", y_n) is >= the threshold (0.7); the output
               differs from x (case, spaces and commas ignored)
    conflict   for some step, a keyword it removed AND one it gained both in the output: the
               old and the new value of a slot together ("in spring, in winter")
    unchanged  the output equals x (case, spaces and commas ignored)
For n = 1 `success` is exactly this command's earlier `edit_success`.

Metrics, per system and file:
    single edits (mean over rows)
        edit_success   `success` above
        reader_ok      share of outputs for which core.instructions.check_edit(x, i, output) is
                       ok; only when that module exists
        unchanged      output = input
        conflict       `conflict` above
        ci, ci_raw     DiffChat Listing 1 (core.content_integrity), thresholded / raw, against
                       the captions (x_o, i, y_o) when the row has them, as Listing 1 does, else
                       the prompts (x, i, y); `ci_reference` counts which one ran
    chains (mean over chains), judged on the LAST output against the whole chain
        chain_success  `success` above
        turn_unchanged share of turns whose output equals that turn's input
        conflict       `conflict` above, on the last output
        ci, ci_raw     Listing 1 of the last output against (x_o, i_1..i_n, last y_o) when the
                       chain has captions, else (x, i_1..i_n, y_n)
Success is judged on prompts, the text the rewriter reads and writes (style tags included);
the CI columns follow the paper.

Steps: 1. read and check the files (first `limit` rows or chains of each); 2. load the systems;
3. generate each system's outputs (or read them from --predictions_in); 4. score them; 5. write
a Markdown report + JSON (with the failed rows and why each failed). --generate_only writes the
outputs to --predictions_out without scoring, so generation (a GPU) and scoring (the offline
language data) can run on different machines.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.rewrite import MAX_REWRITE_CANDIDATES, check_rewrite_candidates
from train.common import check_causal_lm, config_to_dict, resolve_model_path
from train.data import EditCase, load_cases

SYSTEMS = ("adapter", "zero-shot", "append")
CHAT_PREFIX = "chat:"
ADAPTER_PREFIX = "adapter:"  # adapter:FOLDER, a second fine-tuned rewriter (SFT vs SFT+PPO)
VERIFY_SUFFIX = "+verify"


@dataclass
class EvaluateRewriterConfig:
    """Options of the rewriter evaluation."""

    test_files: str = field(
        default=(
            "assets/instructpe/test.jsonl,assets/instructpe/heldout/single.jsonl,"
            "assets/instructpe/heldout/single_b.jsonl,assets/instructpe/heldout/single_c.jsonl,"
            "assets/instructpe/heldout/single_d.jsonl,assets/instructpe/heldout/single_e.jsonl,"
            "assets/instructpe/heldout/single_f.jsonl,assets/instructpe/heldout/single_g.jsonl,"
            "assets/instructpe/heldout/single_h.jsonl,assets/instructpe/heldout/single_i.jsonl,"
            "assets/instructpe/heldout/single_j.jsonl,assets/instructpe/heldout/single_k.jsonl,"
            "assets/instructpe/heldout/single_l.jsonl"
        ),
        metadata={
            "help": "Comma-separated single-edit files, each reported on its own ('': none)."
        },
    )
    chain_files: str = field(
        default=(
            "assets/instructpe/test_chains.jsonl,assets/instructpe/heldout/chains.jsonl,"
            "assets/instructpe/heldout/chains_b.jsonl,assets/instructpe/heldout/chains_c.jsonl,"
            "assets/instructpe/heldout/chains_d.jsonl,assets/instructpe/heldout/chains_e.jsonl,"
            "assets/instructpe/heldout/chains_f.jsonl,assets/instructpe/heldout/chains_g.jsonl,"
            "assets/instructpe/heldout/chains_h.jsonl,assets/instructpe/heldout/chains_i.jsonl,"
            "assets/instructpe/heldout/chains_j.jsonl,assets/instructpe/heldout/chains_k.jsonl,"
            "assets/instructpe/heldout/chains_l.jsonl"
        ),
        metadata={"help": "Comma-separated chain files, each reported on its own ('': none)."},
    )
    adapter: str = field(
        default="assets/rewriter/diffchat-smollm2-lora",
        metadata={"help": "Fine-tuned rewriter: a PEFT adapter folder or a full model folder."},
    )
    base_model: str = field(
        default="smollm2-base",
        metadata={"help": "Base causal LM (registry name, folder or hub id)."},
    )
    systems: str = field(
        default="adapter,adapter+verify,zero-shot,append",
        metadata={
            "help": "Comma-separated systems: adapter, zero-shot, append, chat:MODEL, and any of "
            "them but append with +verify (verified decoding)."
        },
    )
    candidates: int = field(
        default=4,
        metadata={
            "help": f"Candidates per rewrite of the +verify systems (1-{MAX_REWRITE_CANDIDATES})."
        },
    )
    limit: int = field(
        default=100, metadata={"help": "Evaluate the first N rows / chains of each file (0: all)."}
    )
    max_new_tokens: int = field(default=96, metadata={"help": "Generation budget per rewrite."})
    batch_size: int = field(default=16, metadata={"help": "Rows generated together."})
    threshold: float = field(default=0.7, metadata={"help": "CI threshold (Listing 1: 0.7)."})
    max_failures: int = field(
        default=100,
        metadata={"help": "Failed rows kept in the JSON per system and file (0: all)."},
    )
    predictions_in: str = field(default="", metadata={"help": "Score outputs read from this JSON."})
    predictions_out: str = field(
        default="", metadata={"help": "Write generated outputs to this JSON."}
    )
    generate_only: bool = field(default=False, metadata={"help": "Generate, do not score."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar per system."})
    bench_name: str = field(
        default="", metadata={"help": "Also write the report to bench/results/<name>.md."}
    )
    output_json: str = field(
        default="runs/evaluate_rewriter.json", metadata={"help": "Results JSON."}
    )
    output_markdown: str = field(
        default="runs/evaluate_rewriter.md", metadata={"help": "Results tables."}
    )

    def __post_init__(self):
        check_rewrite_candidates(self.candidates)
        if not 0.0 < self.threshold <= 1.0:
            raise InputError(f"threshold must be in (0, 1]; got {self.threshold}.")
        if self.limit < 0 or self.max_failures < 0:
            raise InputError("limit and max_failures must be 0 or more.")
        if self.generate_only and not self.predictions_out:
            raise InputError("--generate_only needs --predictions_out (where the outputs go).")

    def system_list(self) -> list[str]:
        """Return the chosen system names; refuses (InputError) an unknown or empty choice."""
        chosen = [s.strip() for s in self.systems.split(",") if s.strip()]
        if not chosen:
            raise InputError("no systems chosen; " + _SYSTEMS_HELP)
        for name in chosen:
            base_system(name)
        return chosen

    def single_files(self) -> list[str]:
        """Return the single-edit files."""
        return [p.strip() for p in self.test_files.split(",") if p.strip()]

    def chain_file_list(self) -> list[str]:
        """Return the chain files."""
        return [p.strip() for p in self.chain_files.split(",") if p.strip()]


_SYSTEMS_HELP = (
    f"choose from {', '.join(SYSTEMS)}, chat:MODEL (an OpenAI-compatible chat model), "
    "adapter:FOLDER (another fine-tuned rewriter beside --adapter, e.g. after PPO), and "
    f"SYSTEM{VERIFY_SUFFIX} for verified decoding (e.g. adapter{VERIFY_SUFFIX})."
)


def base_system(name: str) -> str:
    """Return the system a name decodes with ("adapter+verify" -> "adapter").

    Refuses (InputError) a name that is none of the systems, "chat:" without a model, and
    "append+verify" (the baseline has no candidates to check).
    """
    base = name.removesuffix(VERIFY_SUFFIX)
    known = base in SYSTEMS or any(
        base.startswith(prefix) and base[len(prefix) :].strip()
        for prefix in (CHAT_PREFIX, ADAPTER_PREFIX)
    )
    if not known:
        raise InputError(f"unknown system {name!r}; " + _SYSTEMS_HELP)
    if base == "append" and name != base:
        raise InputError("append+verify is not a system: the append baseline has no candidates.")
    return base


def uses_verified_decoding(name: str) -> bool:
    """Return True for the +verify systems."""
    return name.endswith(VERIFY_SUFFIX)


# ---------------------------------------------------------------------------------------------
# 2. Systems (through core.rewrite, the same code the app uses)


def build_rewriter(system: str, config: EvaluateRewriterConfig):
    """Return the core.rewrite Rewriter for one base system name (see base_system)."""
    from core.rewrite import (
        AppendRewriter,
        ChatAPIRewriter,
        GenerationSettings,
        LocalCausalLMRewriter,
    )

    if system == "append":
        return AppendRewriter()
    if system.startswith(CHAT_PREFIX):
        return ChatAPIRewriter.from_env(model=system[len(CHAT_PREFIX) :].strip())
    settings = GenerationSettings(
        max_new_tokens=config.max_new_tokens, batch_size=config.batch_size
    )
    if system == "adapter" or system.startswith(ADAPTER_PREFIX):
        folder = config.adapter if system == "adapter" else system[len(ADAPTER_PREFIX) :].strip()
        return LocalCausalLMRewriter.from_pretrained(folder, name=system, settings=settings)
    path = resolve_model_path(config.base_model)
    check_causal_lm(path)
    return LocalCausalLMRewriter.from_pretrained(path, name=system, settings=settings)


def supports_candidates(rewriter) -> bool:
    """Return True when the rewriter has verified decoding (core.rewrite.Rewriter's
    `rewrite_batch_verified`, the batched form of `rewrite(..., candidates=K)`)."""
    return callable(getattr(rewriter, "rewrite_batch_verified", None))


def rewrite_all(
    rewriter,
    pairs: list[tuple[str, str]],
    candidates: int | None,
    batch_size: int,
    on_done: Callable[[int], None],
    replaced: list[bool] | None = None,
) -> list[str]:
    """Return one output per (prompt, instruction), in batches: greedy, or verified decoding
    with `candidates` given (then `replaced` gets, per rewrite, whether verification chose
    another rewrite than the greedy one). An empty output is "" (a failed row, not a failed
    run); a pair whose prompt is empty is not sent (the Create tab cannot go on from nothing).
    """
    outputs = [""] * len(pairs)
    todo = [k for k, (prompt, _) in enumerate(pairs) if prompt.strip()]
    on_done(len(pairs) - len(todo))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        chunk_pairs = [pairs[k] for k in chunk]
        if candidates is None:
            answers = rewriter.rewrite_batch(chunk_pairs)
        else:
            verified = rewriter.rewrite_batch_verified(chunk_pairs, candidates)
            answers = [v.prompt for v in verified]
            if replaced is not None:
                replaced += [v.prompt != v.greedy for v in verified]
        for k, output in zip(chunk, answers, strict=True):
            outputs[k] = output
        on_done(len(chunk))
    return outputs


def generate_cases(
    rewrite_pairs: Callable[[list[tuple[str, str]]], list[str]], cases: Sequence[EditCase]
) -> list[list[str]]:
    """Return each case's outputs, one per step: turn k rewrites the case's turn k-1 OUTPUT.

    All cases' turn k go to `rewrite_pairs` together, so chains batch like single edits.
    """
    outputs: list[list[str]] = [[] for _ in cases]
    for turn in range(max(len(case.steps) for case in cases)):
        active = [k for k, case in enumerate(cases) if turn < len(case.steps)]
        pairs = [
            (outputs[k][-1] if turn else cases[k].raw_prompt, cases[k].steps[turn].instruction)
            for k in active
        ]
        for k, output in zip(active, rewrite_pairs(pairs), strict=True):
            outputs[k].append(output)
    return outputs


def _progress_bar(total: int, description: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="rewrite", file=sys.stderr, disable=not enabled)


# ---------------------------------------------------------------------------------------------
# 3. Scoring


def _normalize(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").split())


def dropped_keywords(raw_prompt: str, reference_target: str) -> list[str]:
    """Return keywords of the raw prompt that the reference edit removed (absent from y)."""
    from core.nlp import extract_keywords

    kept = set(extract_keywords(reference_target))
    return [k for k in extract_keywords(raw_prompt) if k not in kept]


def _present(keyword: str, found: set[str]) -> bool:
    from core.nlp import synonyms

    return keyword in found or bool(synonyms(keyword) & found)


def keywords_present(keywords: list[str], candidate: str) -> bool:
    """Return True when every keyword (or a WordNet synonym of it) is a keyword of `candidate`."""
    from core.nlp import extract_keywords

    found = set(extract_keywords(candidate))
    return all(_present(k, found) for k in keywords)


@dataclass(frozen=True)
class EditJudgement:
    """How one output fares against a sequence of reference edits (module docstring)."""

    success: bool
    unchanged: bool
    conflict: bool
    ci_raw: float  # raw Listing-1 CI on the prompts, over the whole sequence
    missing: tuple[str, ...]  # gained keywords absent from the output
    left_over: tuple[str, ...]  # removed keywords still in the output

    def reasons(self, threshold: float) -> list[str]:
        """Return why the output failed, one sentence per broken condition ([] on success)."""
        reasons = []
        if self.unchanged:
            reasons.append("output = input")
        if self.missing:
            reasons.append("missing: " + ", ".join(self.missing))
        if self.left_over:
            reasons.append(
                "left over: "
                + ", ".join(self.left_over)
                + (" (with the new value: conflict)" if self.conflict else "")
            )
        if self.ci_raw < threshold:
            reasons.append(f"raw CI {self.ci_raw:.2f} < {threshold} against the target prompt")
        return reasons


def _unique(words: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(words))


def judge_edits(
    raw_prompt: str, steps: Sequence[tuple[str, str]], output: str, threshold: float = 0.7
) -> EditJudgement:
    """Return the judgement of `output` after the (instruction, target_prompt) `steps` applied
    to `raw_prompt` in order (one step for a single edit); definitions in the module doc."""
    from core.content_integrity import content_integrity, highlighted_keywords
    from core.nlp import extract_keywords

    references = [raw_prompt] + [target for _, target in steps]
    final_keywords = set(extract_keywords(references[-1]))
    found = set(extract_keywords(output))
    gained: list[str] = []
    removed: list[str] = []
    conflict = False
    for (instruction, after), before in zip(steps, references, strict=False):
        step_gained = [
            k
            for k in highlighted_keywords(before, instruction, extract_keywords(after))
            if k in final_keywords
        ]
        step_removed = [k for k in dropped_keywords(before, after) if k not in final_keywords]
        # Old and new value of the SAME step: "in spring, in winter" after "make it winter".
        conflict = conflict or (
            any(k in found for k in step_removed) and any(_present(k, found) for k in step_gained)
        )
        gained += step_gained
        removed += step_removed
    missing = tuple(k for k in _unique(gained) if not _present(k, found))
    left_over = tuple(k for k in _unique(removed) if k in found)
    instructions = ". ".join(instruction.strip().rstrip(".") for instruction, _ in steps)
    ci_raw = content_integrity(
        raw_prompt, instructions, references[-1], output, threshold=threshold
    ).raw
    unchanged = _normalize(output) == _normalize(raw_prompt)
    return EditJudgement(
        success=not unchanged and not missing and not left_over and ci_raw >= threshold,
        unchanged=unchanged,
        conflict=conflict,
        ci_raw=float(ci_raw),
        missing=missing,
        left_over=left_over,
    )


def listing1_ci(case: EditCase, output: str, threshold: float = 0.7):
    """Return (ContentIntegrity, "caption" or "prompt"): Listing 1 of the case's last output,
    on the captions (x_o, i, y_o) when the case has them, else on the prompts."""
    from core.content_integrity import content_integrity

    instructions = ". ".join(step.instruction.strip().rstrip(".") for step in case.steps)
    if case.uses_captions:
        reference = (case.raw_caption, instructions, case.steps[-1].target_caption)
        kind = "caption"
    else:
        reference = (case.raw_prompt, instructions, case.steps[-1].target_prompt)
        kind = "prompt"
    return content_integrity(*reference, output, threshold=threshold), kind


def load_edit_checker() -> Callable | None:
    """Return core.instructions.check_edit, or None while that module does not exist."""
    if importlib.util.find_spec("core.instructions") is None:
        return None
    return getattr(importlib.import_module("core.instructions"), "check_edit", None)


def score_case(
    case: EditCase,
    outputs: list[str],
    threshold: float = 0.7,
    check_edit: Callable | None = None,
) -> dict:
    """Return one case's metrics (module doc) plus "why" (failure reasons) and "ci_reference".

    A single edit gets edit_success, reader_ok (with `check_edit`), unchanged, conflict, ci,
    ci_raw; a chain gets chain_success, turn_unchanged, conflict, ci, ci_raw.
    """
    chain = len(case.steps) > 1
    output = outputs[-1]
    judgement = judge_edits(
        case.raw_prompt, [(s.instruction, s.target_prompt) for s in case.steps], output, threshold
    )
    ci, ci_reference = listing1_ci(case, output, threshold)
    scores: dict[str, Any] = {("chain_success" if chain else "edit_success"): judgement.success}
    if chain:
        inputs = [case.raw_prompt, *outputs[:-1]]
        scores["turn_unchanged"] = sum(
            _normalize(out) == _normalize(given) for out, given in zip(outputs, inputs, strict=True)
        ) / len(outputs)
    else:
        if check_edit is not None:
            scores["reader_ok"] = bool(
                check_edit(case.raw_prompt, case.steps[0].instruction, output).ok
            )
        scores["unchanged"] = judgement.unchanged
    scores |= {"conflict": judgement.conflict, "ci": float(ci.score), "ci_raw": float(ci.raw)}
    why = judgement.reasons(threshold)
    if chain:
        empty = [n for n, out in enumerate(outputs, start=1) if not out.strip()]
        if empty:
            why.insert(0, f"empty output at turn {empty[0]}")
    return {key: float(value) for key, value in scores.items()} | {
        "why": why,
        "ci_reference": ci_reference,
    }


def mean_scores(rows: list[dict]) -> dict:
    """Return the mean of each numeric metric of score_case over the rows."""
    keys = [key for key, value in rows[0].items() if isinstance(value, float)]
    return {key: sum(row[key] for row in rows) / len(rows) for key in keys}


def failure_row(case: EditCase, outputs: list[str], why: list[str]) -> dict:
    """Return a failed case as a dict a person can read (input, instruction, output, reference)."""
    row: dict[str, Any] = {"line": case.line}
    if len(case.steps) == 1:
        step = case.steps[0]
        return row | {
            "category": step.category,
            "raw_prompt": case.raw_prompt,
            "instruction": step.instruction,
            "output": outputs[0],
            "reference": step.target_prompt,
            "why": why,
        }
    return row | {
        "id": case.id,
        "raw_prompt": case.raw_prompt,
        "instructions": [step.instruction for step in case.steps],
        "outputs": outputs,
        "reference": case.steps[-1].target_prompt,
        "why": why,
    }


def score_file(
    cases: list[EditCase],
    outputs: dict[str, list[list[str]]],
    config: EvaluateRewriterConfig,
    check_edit: Callable | None,
) -> dict:
    """Return one file's section of the report: results per system, per kind (single edits),
    which CI reference ran, and the failed cases."""
    chain = len(cases[0].steps) > 1
    success = "chain_success" if chain else "edit_success"
    section: dict[str, Any] = {"rows": len(cases)}
    if chain:
        section["turns"] = sum(len(case.steps) for case in cases)
    section["ci_reference"] = {
        "caption": sum(case.uses_captions for case in cases),
        "prompt": sum(not case.uses_captions for case in cases),
    }
    section["results"], section["failures"] = {}, {}
    by_case: dict[str, list[dict]] = {}
    for system, system_outputs in outputs.items():
        rows = [
            score_case(case, out, config.threshold, check_edit)
            for case, out in zip(cases, system_outputs, strict=True)
        ]
        by_case[system] = rows
        section["results"][system] = mean_scores(rows)
        failed = [
            failure_row(case, out, row["why"])
            for case, out, row in zip(cases, system_outputs, rows, strict=True)
            if not row[success]
        ]
        section["failures"][system] = failed[: config.max_failures or None]
    section["paired"] = paired_comparisons(
        {system: [row[success] for row in rows] for system, rows in by_case.items()}
    )
    if not chain:
        categories = sorted({case.steps[0].category for case in cases})
        section["by_category"] = {}
        for category in categories:
            members = [k for k, case in enumerate(cases) if case.steps[0].category == category]
            section["by_category"][category or "(none)"] = {
                "rows": len(members),
                "edit_success": {
                    system: sum(rows[k]["edit_success"] for k in members) / len(members)
                    for system, rows in by_case.items()
                },
            }
    return section


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven between `wins`
    and `losses` if each differing row went either way with probability 1/2 (ties dropped)."""
    from math import comb

    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_comparisons(successes: dict[str, list[bool]]) -> dict[str, dict]:
    """Compare every system with the first one, row by row: the rows only it gets right, the
    rows only the first gets right, and the sign test's p-value over those."""
    systems = list(successes)
    if len(systems) < 2:
        return {}
    base = [bool(value) for value in successes[systems[0]]]
    paired = {}
    for system in systems[1:]:
        mine = [bool(value) for value in successes[system]]
        wins = sum(m and not b for m, b in zip(mine, base, strict=True))
        losses = sum(b and not m for m, b in zip(mine, base, strict=True))
        paired[system] = {
            "baseline": systems[0],
            "only_this": wins,
            "only_baseline": losses,
            "p_value": sign_test_p(wins, losses),
        }
    return paired


# ---------------------------------------------------------------------------------------------
# 4. Report


def _paired_note(section: dict) -> list[str]:
    return [
        f"\nPaired sign test, {system} vs {entry['baseline']}: right only with {system} on "
        f"{entry['only_this']} rows, only with {entry['baseline']} on {entry['only_baseline']}; "
        f"two-sided p = {entry['p_value']:.3g}."
        for system, entry in section.get("paired", {}).items()
    ]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _ci_note(section: dict) -> str:
    counts = section["ci_reference"]
    return f"CI on captions for {counts['caption']}, on prompts for {counts['prompt']}"


def _verify_note(report: dict, path: str) -> list[str]:
    shares = [
        f"{system} chose another rewrite than the greedy one for {_percent(by_file[path])}"
        for system, by_file in report["verify_replaced"].items()
        if path in by_file and system in report["systems"]
    ]
    return ["", "Verified decoding: " + "; ".join(shares) + " of the rewrites."] if shares else []


def markdown_report(report: dict, config: EvaluateRewriterConfig) -> str:
    """Return the report as Markdown: a summary, then a table per file and a per-kind table."""
    systems = list(report["systems"])
    single, chains = report["single"], report["chains"]
    lines = ["### Summary", ""]
    columns = [(f"single: `{path}`", single[path], "edit_success") for path in single] + [
        (f"chains: `{path}`", chains[path], "chain_success") for path in chains
    ]
    lines += [
        "| system | " + " | ".join(title for title, _, _ in columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    for system in systems:
        cells = [_percent(section["results"][system][key]) for _, section, key in columns]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    lines.append(
        "\nEdit success for single-edit files, chain success (last output against every edit "
        "of the chain) for chain files."
    )
    reader = bool(report.get("reader"))
    for path, section in single.items():
        lines += [
            "",
            f"### Single edits: `{path}` ({section['rows']} rows; {_ci_note(section)})",
            "",
            "| system | edit success | reader ok | output = input | conflicts | CI score (x100) "
            "| raw CI (x100) | seconds |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for system in systems:
            m = section["results"][system]
            lines.append(
                f"| {system} | {_percent(m['edit_success'])} | "
                f"{_percent(m.get('reader_ok')) if reader else 'n/a'} | "
                f"{_percent(m['unchanged'])} | {_percent(m['conflict'])} | "
                f"{100 * m['ci']:.1f} | {100 * m['ci_raw']:.1f} | "
                f"{report['seconds'].get(system, {}).get(path, 'n/a')} |"
            )
        lines += _verify_note(report, path) + _paired_note(section)
        lines += [
            "",
            f"Edit success per kind, `{path}`:",
            "",
            "| kind | rows | " + " | ".join(systems) + " |",
            "| --- | ---: |" + " ---: |" * len(systems),
        ]
        for category, entry in section["by_category"].items():
            cells = [_percent(entry["edit_success"][system]) for system in systems]
            lines.append(f"| {category} | {entry['rows']} | " + " | ".join(cells) + " |")
    for path, section in chains.items():
        lines += [
            "",
            f"### Chains: `{path}` ({section['rows']} chains, {section['turns']} turns; "
            f"{_ci_note(section)})",
            "",
            "| system | chain success | output = input (per turn) | conflicts (last output) "
            "| CI score (x100) | raw CI (x100) | seconds |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for system in systems:
            m = section["results"][system]
            lines.append(
                f"| {system} | {_percent(m['chain_success'])} | {_percent(m['turn_unchanged'])} "
                f"| {_percent(m['conflict'])} | {100 * m['ci']:.1f} | {100 * m['ci_raw']:.1f} | "
                f"{report['seconds'].get(system, {}).get(path, 'n/a')} |"
            )
        lines += _verify_note(report, path) + _paired_note(section)
    verify = [s for s in systems if uses_verified_decoding(s)]
    decoding = "greedy decoding" + (
        f"; {', '.join(verify)}: verified decoding with {config.candidates} candidates"
        if verify
        else ""
    )
    lines.append(
        f"\n{decoding}; at most {config.max_new_tokens} new tokens; CI threshold "
        f"{config.threshold}. Edit success: the output differs from the input, every keyword the "
        "edit adds (in the instruction and the target, not in the input) is there (or a WordNet "
        "synonym), no keyword the edit removed is left, and raw CI on the prompts >= "
        f"{config.threshold}. Conflict: a removed keyword and an added one both in the output. "
        "Reader ok: core.instructions.check_edit accepts the output. Definitions: "
        "train/evaluate_rewriter.py.\n"
    )
    return "\n".join(lines)


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


def _stored_outputs(stored: dict, kind: str, path: str, system: str, count: int):
    """Return the first `count` stored outputs of (kind, file, system), None when absent."""
    outputs = stored.get(kind, {}).get(path, {}).get(system)
    if outputs is None:
        return None
    if len(outputs) < count:
        raise InputError(
            f"the predictions file holds {len(outputs)} outputs of {system} on {path}, fewer "
            f"than the {count} asked for; generate them again."
        )
    outputs = outputs[:count]
    return [[o] for o in outputs] if kind == "single" else outputs


def evaluate(config: EvaluateRewriterConfig, rewriters: dict | None = None) -> dict:
    """Run the evaluation and return the report (layout: docs/evaluation.md); writes JSON +
    Markdown. `rewriters` maps base system names to ready Rewriter objects (tests, callers
    with a model in memory); the others are loaded here.

    Refuses (InputError / DataError) unknown systems, no data file, bad data (file:line), and
    a +verify system whose rewriter has no verified decoding.
    """
    systems = config.system_list()
    check_edit = load_edit_checker()

    # 1. data
    files = [("single", path) for path in config.single_files()]
    files += [("chains", path) for path in config.chain_file_list()]
    if not files:
        raise InputError("no data: give --test_files and/or --chain_files.")
    cases = {(kind, path): load_cases(path, kind == "chains", config.limit) for kind, path in files}

    # 3a. stored outputs
    stored: dict[str, Any] = {}
    if config.predictions_in:
        stored = json.loads(Path(config.predictions_in).read_text())
        if stored.get("version") != 2:
            raise InputError(
                f"{config.predictions_in} was written by an older evaluate-rewriter (no "
                "'version': 2); generate the outputs again."
            )
    outputs: dict[tuple[str, str], dict[str, list[list[str]]]] = {key: {} for key in cases}
    for (kind, path), file_cases in cases.items():
        for system in systems:
            found = _stored_outputs(stored, kind, path, system, len(file_cases))
            if found is not None:
                outputs[kind, path][system] = found
    seconds: dict[str, dict[str, float]] = stored.get("seconds", {})
    verify_replaced: dict[str, dict[str, float]] = stored.get("verify_replaced", {})

    # 2. systems still to generate
    needed = [s for s in systems if any(s not in outputs[key] for key in cases)]
    loaded = dict(rewriters or {})
    for system in needed:
        base = base_system(system)
        if base not in loaded:
            loaded[base] = build_rewriter(base, config)
        if uses_verified_decoding(system) and not supports_candidates(loaded[base]):
            raise InputError(
                f"{system} needs verified decoding (Rewriter.rewrite_batch_verified, "
                f"core/rewrite.py), which {type(loaded[base]).__name__} does not have; leave "
                "it out of --systems."
            )

    def write_predictions() -> None:
        """Write every output generated so far, so a stopped run keeps them (--predictions_in)."""
        if not config.predictions_out:
            return
        _write(
            config.predictions_out,
            json.dumps(
                {
                    "version": 2,
                    "device": _device(),
                    "seconds": seconds,
                    "verify_replaced": verify_replaced,
                    "single": {
                        path: {s: [o[0] for o in out] for s, out in by_system.items()}
                        for (kind, path), by_system in outputs.items()
                        if kind == "single"
                    },
                    "chains": {
                        path: by_system
                        for (kind, path), by_system in outputs.items()
                        if kind == "chains"
                    },
                },
                indent=1,
            ),
        )

    # 3b. generation (the outputs are written after each system and file)
    for system in needed:
        rewriter = loaded[base_system(system)]
        candidates = config.candidates if uses_verified_decoding(system) else None
        for (kind, path), file_cases in cases.items():
            if system in outputs[kind, path]:
                continue
            total = sum(len(case.steps) for case in file_cases)
            started = time.time()
            replaced: list[bool] = []
            with _progress_bar(total, f"{system} on {path}", config.progress) as bar:
                rewrite_pairs = partial(
                    rewrite_all,
                    rewriter,
                    candidates=candidates,
                    batch_size=config.batch_size,
                    on_done=bar.update,
                    replaced=replaced,
                )
                outputs[kind, path][system] = generate_cases(rewrite_pairs, file_cases)
            seconds.setdefault(system, {})[path] = round(time.time() - started, 1)
            if candidates is not None:
                verify_replaced.setdefault(system, {})[path] = sum(replaced) / max(len(replaced), 1)
            write_predictions()
    write_predictions()
    report: dict[str, Any] = {
        "config": config_to_dict(config),
        "systems": systems,
        "seconds": seconds,
        "verify_replaced": verify_replaced,
        "reader": "core.instructions.check_edit" if check_edit else None,
    }
    if config.generate_only:
        return report

    # 4. scores
    for kind in ("single", "chains"):
        report[kind] = {
            path: score_file(
                cases[kind, path],
                {s: outputs[kind, path][s] for s in systems},
                config,
                check_edit,
            )
            for file_kind, path in cases
            if file_kind == kind
        }

    # 5. files
    text = markdown_report(report, config)
    if config.bench_name:
        from bench.__main__ import machine_description, write_result

        where = stored.get("device") or f"this machine ({machine_description()})"
        write_result(
            config.bench_name,
            f"## Rewriter evaluation: `{config.adapter}`\n\n"
            f"`python -m train evaluate-rewriter` — outputs generated on {where}, scored here.\n\n"
            + text,
        )
    _write(config.output_json, json.dumps(report, indent=2))
    _write(config.output_markdown, text)
    return report


def _write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n")


def main(argv: list[str]) -> int:
    from transformers import HfArgumentParser

    (config,) = HfArgumentParser(EvaluateRewriterConfig).parse_args_into_dataclasses(args=argv)
    report = evaluate(config)
    if config.generate_only:
        print(f"wrote {config.predictions_out or '(nothing: no --predictions_out)'}")
    else:
        print(markdown_report(report, config))
    return 0
