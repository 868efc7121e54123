"""`python -m train evaluate-rewriter`: CI score and edit success of rewriters on a test split.

Compares, on the same test triplets (x, i, y):
    adapter    the fine-tuned rewriter (a LoRA adapter folder or a full model folder)
    zero-shot  the base model with the paper's template and no fine-tuning
    append     the no-model baseline: "x, i" (the instruction appended to the prompt)

Metrics, per system (mean over rows):
    ci            thresholded content-integrity score, DiffChat Listing 1 (core.content_integrity),
                  0 below the 0.7 threshold — the paper's "CI Score" (x100 in its tables)
    ci_raw        the same before thresholding
    edit_success  share of rows where ALL of: raw CI >= 0.7 against the reference target;
                  the output differs from the input prompt (case/spacing ignored); and every
                  highlighted keyword of the edit (Listing 1 line 31: a keyword of the reference
                  target that is in the instruction and not in the raw prompt) appears in the
                  output as itself or a WordNet synonym; and no keyword that the reference edit
                  removed from the raw prompt (in x, not in y) is left in the output
    unchanged     share of rows where the output equals the input prompt

Steps: 1. load the test split (first `limit` rows); 2. generate each system's outputs (greedy,
or read them from --predictions_in); 3. score them; 4. write a Markdown table + JSON.
Generation (core.rewrite: the paper's template, greedy, first line) and scoring can run on different machines: --generate_only writes outputs to
--predictions_out without scoring (the scorer needs the offline language data).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from train.common import check_causal_lm, config_to_dict, resolve_model_path

SYSTEMS = ("adapter", "zero-shot", "append")


@dataclass
class EvaluateRewriterConfig:
    """Options of the rewriter evaluation."""

    test_file: str = field(
        default="assets/instructpe/test.jsonl", metadata={"help": "Test triplets."}
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
        default="adapter,zero-shot,append", metadata={"help": "Comma-separated systems to compare."}
    )
    limit: int = field(default=100, metadata={"help": "Evaluate the first N test rows (0: all)."})
    max_new_tokens: int = field(default=96, metadata={"help": "Generation budget per rewrite."})
    batch_size: int = field(default=16, metadata={"help": "Rows generated together."})
    threshold: float = field(default=0.7, metadata={"help": "CI threshold (Listing 1: 0.7)."})
    predictions_in: str = field(default="", metadata={"help": "Score outputs read from this JSON."})
    predictions_out: str = field(
        default="", metadata={"help": "Write generated outputs to this JSON."}
    )
    generate_only: bool = field(default=False, metadata={"help": "Generate, do not score."})
    bench_name: str = field(
        default="", metadata={"help": "Also write the table to bench/results/<name>.md."}
    )
    output_json: str = field(
        default="runs/evaluate_rewriter.json", metadata={"help": "Results JSON."}
    )
    output_markdown: str = field(
        default="runs/evaluate_rewriter.md", metadata={"help": "Results table."}
    )

    def system_list(self) -> list[str]:
        """Return the chosen systems; refuses (InputError) an unknown name."""
        chosen = [s.strip() for s in self.systems.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in SYSTEMS]
        if unknown or not chosen:
            raise InputError(f"unknown systems {unknown}; choose from {', '.join(SYSTEMS)}.")
        return chosen


# ---------------------------------------------------------------------------------------------
# Generation (through core.rewrite, the same code the app uses)


def build_rewriter(system: str, config: EvaluateRewriterConfig):
    """Return the core.rewrite Rewriter for one system name, decoding greedily."""
    from core.rewrite import AppendRewriter, GenerationSettings, LocalCausalLMRewriter

    if system == "append":
        return AppendRewriter()
    settings = GenerationSettings(
        max_new_tokens=config.max_new_tokens, batch_size=config.batch_size
    )
    if system == "adapter":
        return LocalCausalLMRewriter.from_pretrained(
            config.adapter, name="adapter", settings=settings
        )
    path = resolve_model_path(config.base_model)
    check_causal_lm(path)
    return LocalCausalLMRewriter.from_pretrained(path, name=system, settings=settings)


# ---------------------------------------------------------------------------------------------
# Scoring


def _normalize(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").split())


def dropped_keywords(raw_prompt: str, reference_target: str) -> list[str]:
    """Return keywords of the raw prompt that the reference edit removed (absent from y_o)."""
    from core.nlp import extract_keywords

    kept = set(extract_keywords(reference_target))
    return [k for k in extract_keywords(raw_prompt) if k not in kept]


def keywords_present(keywords: list[str], candidate: str) -> bool:
    """Return True when every keyword (or a WordNet synonym of it) is a keyword of `candidate`."""
    from core.nlp import extract_keywords, synonyms

    found = set(extract_keywords(candidate))
    return all(k in found or synonyms(k) & found for k in keywords)


def score_row(
    raw_prompt: str, instruction: str, reference_target: str, candidate: str, threshold: float = 0.7
) -> dict:
    """Return {ci, ci_raw, edit_success, unchanged} for one output (definitions: module doc)."""
    from core.content_integrity import content_integrity, highlighted_keywords
    from core.nlp import extract_keywords

    result = content_integrity(
        raw_prompt, instruction, reference_target, candidate, threshold=threshold
    )
    unchanged = _normalize(candidate) == _normalize(raw_prompt)
    left_over = set(extract_keywords(candidate)) & set(
        dropped_keywords(raw_prompt, reference_target)
    )
    success = (
        result.raw >= threshold
        and not unchanged
        and keywords_present(
            highlighted_keywords(raw_prompt, instruction, extract_keywords(reference_target)),
            candidate,
        )
        and not left_over
    )
    return {
        "ci": float(result.score),
        "ci_raw": float(result.raw),
        "edit_success": float(success),
        "unchanged": float(unchanged),
    }


def mean_scores(rows: list[dict]) -> dict:
    """Return the mean of each metric of score_row over the rows."""
    return {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}


# ---------------------------------------------------------------------------------------------
# Report


def markdown_table(results: dict, config: EvaluateRewriterConfig, rows: int) -> str:
    """Return the results as a Markdown section (one row per system)."""
    lines = [
        "| system | CI score (x100) | raw CI (x100) | edit success | output = input |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for system, metrics in results.items():
        lines.append(
            f"| {system} | {100 * metrics['ci']:.1f} | {100 * metrics['ci_raw']:.1f} | "
            f"{100 * metrics['edit_success']:.1f}% | {100 * metrics['unchanged']:.1f}% |"
        )
    return "\n".join(lines) + (
        f"\n\n{rows} rows of `{config.test_file}`; greedy decoding, at most "
        f"{config.max_new_tokens} new tokens; CI threshold {config.threshold}. Edit success: raw CI "
        f">= {config.threshold}, output differs from the input prompt, and every highlighted "
        "keyword (in the instruction and the reference target, not in the raw prompt) present, and "
        "no keyword the reference edit removed (in the raw prompt, not in the target) left.\n"
    )


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


def evaluate(config: EvaluateRewriterConfig) -> dict:
    """Run the evaluation and return {"results": {system: metrics}, ...}; writes JSON + Markdown."""
    from train.data import load_triplets

    systems = config.system_list()
    triplets = load_triplets(config.test_file)
    if config.limit:
        triplets = triplets[: config.limit]
    pairs = [(t.raw_prompt, t.instruction) for t in triplets]

    # 2. outputs
    outputs: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    stored_device = ""
    if config.predictions_in:
        stored = json.loads(Path(config.predictions_in).read_text())
        outputs = {
            s: stored["outputs"][s][: len(triplets)] for s in systems if s in stored["outputs"]
        }
        seconds = stored.get("seconds", {})
        stored_device = stored.get("device", "")
    for system in systems:
        if system in outputs:
            continue
        started = time.time()
        outputs[system] = build_rewriter(system, config).rewrite_batch(pairs)
        seconds[system] = round(time.time() - started, 1)
    if config.predictions_out:
        Path(config.predictions_out).parent.mkdir(parents=True, exist_ok=True)
        Path(config.predictions_out).write_text(
            json.dumps(
                {
                    "rows": len(triplets),
                    "seconds": seconds,
                    "device": _device(),
                    "outputs": outputs,
                },
                indent=1,
            )
        )
    report: dict[str, Any] = {
        "config": config_to_dict(config),
        "rows": len(triplets),
        "seconds": seconds,
    }
    if config.generate_only:
        return report

    # 3. scores
    row_scores = {
        s: [
            score_row(t.raw_prompt, t.instruction, t.target_prompt, output, config.threshold)
            for t, output in zip(triplets, outputs[s], strict=True)
        ]
        for s in systems
    }
    report["results"] = {s: mean_scores(rows) for s, rows in row_scores.items()}
    categories = sorted({t.category for t in triplets if getattr(t, "category", None)})
    report["edit_success_by_category"] = {
        category: {
            s: mean_scores(
                [r for t, r in zip(triplets, row_scores[s], strict=True) if t.category == category]
            )["edit_success"]
            for s in systems
        }
        for category in categories
    }
    report["examples"] = [
        {"raw_prompt": t.raw_prompt, "instruction": t.instruction, "reference": t.target_prompt}
        | {s: outputs[s][index] for s in systems}
        for index, t in enumerate(triplets[:5])
    ]

    # 4. files
    table = markdown_table(report["results"], config, len(triplets))
    if config.bench_name:
        from bench.__main__ import machine_description, write_result

        where = stored_device or f"this machine ({machine_description()})"
        write_result(
            config.bench_name,
            f"## Rewriter evaluation: `{config.adapter}`\n\n"
            f"`python -m train evaluate-rewriter` — outputs generated on {where}, scored here.\n\n"
            + table,
        )
    for path, text in (
        (config.output_json, json.dumps(report, indent=2)),
        (config.output_markdown, table),
    ):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    return report


def main(argv: list[str]) -> int:
    from transformers import HfArgumentParser

    (config,) = HfArgumentParser(EvaluateRewriterConfig).parse_args_into_dataclasses(args=argv)
    report = evaluate(config)
    if "results" in report:
        print(markdown_table(report["results"], config, report["rows"]))
    else:
        print(f"wrote {config.predictions_out} ({report['rows']} rows)")
    return 0
