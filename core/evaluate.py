"""The evaluation harness of DiffChat section 4.1 / Table 1: render raw and target images for
each prompt-editing method and TIS model with fixed seeds, score them with the six scores,
and rank the methods by average rank.

`run_evaluation(config)` works in numbered steps:
1. read the data file (raw prompt, instruction, target prompt per line);
2. load the methods (rewriters; a method that cannot load is skipped with a message);
3. per TIS model: render the raw images (cached as PNG), then per method: target prompts,
   target images, scores; every finished row is appended to `examples.csv` at once, so a
   killed run resumes where it stopped;
4. summarise `examples.csv` into `summary.md` (the paper's table format), `summary.json`
   (for the UI) and PNG plots.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.best_of_n import DEFAULT_WEIGHTS
from core.errors import DataError, DiffChatError, InputError, ModelUnavailableError
from core.scoring import SCORE_NAMES, SCORERS, EditContext, ImageScorer, build_scorer

METHODS = ("diffchat", "chatgpt", "smollm2-zero-shot", "append", "best-of-n", "instructpix2pix")
# Rewriter each prompt-rewriting method uses (core.rewrite.load_rewriter names).
METHOD_REWRITERS = {
    "diffchat": None,  # offline default, or --rewriter
    "chatgpt": "openai",
    "smollm2-zero-shot": "smollm2-base",
    "append": "append",
    "best-of-n": None,  # samples from the diffchat rewriter
}
REQUIRED_COLUMNS = ("raw_prompt", "instruction", "target_prompt")
ROW_FIELDS = (
    "example_id",
    "line",
    "method",
    "tis_model",
    "seed",
    "raw_prompt",
    "instruction",
    "reference_target",
    "target_prompt",
    "raw_image",
    "target_image",
    *SCORE_NAMES,
)
MEANINGLESS_NOTE = (
    "**Tiny random-weight scorers (--tiny-scorers): these numbers are meaningless; they only "
    "show that the pipeline runs.**"
)


@dataclass(frozen=True)
class Example:
    """One data row: what the user had, asked for, and a reference rewrite."""

    example_id: str
    line: int
    raw_prompt: str
    instruction: str
    target_prompt: str
    raw_image: str | None = None  # optional path: use this image instead of rendering it


@dataclass
class EvaluationConfig:
    """Everything one evaluation run depends on; written to `run.json` in the output folder."""

    data: Path
    out: Path
    methods: tuple[str, ...] = ("diffchat", "append", "instructpix2pix")
    tis_models: tuple[str, ...] = ("sd15",)
    seed: int = 0  # the same seed renders raw and target images (DiffChat 4.1, "fixed seeds")
    limit: int | None = None
    tiny_scorers: bool = False
    rewriter: str | None = None  # the "diffchat" rewriter: registry name or LoRA folder
    ip2p_model: str | None = None  # default: tiny-ip2p for tiny TIS models, else instruct-pix2pix
    num_inference_steps: int = 25
    guidance_scale: float = 7.5
    width: int | None = None
    height: int | None = None
    batch_size: int = 8
    best_of_n: int = 4
    best_of_n_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    scores: tuple[str, ...] = SCORE_NAMES
    skip_bad_rows: bool = False

    def check(self) -> None:
        """Refuse (InputError) unknown methods or scores, empty lists and bad sizes."""
        unknown = [name for name in self.methods if name not in METHODS]
        if unknown:
            raise InputError(
                f"Unknown method(s): {', '.join(unknown)}. Methods are: {', '.join(METHODS)}."
            )
        unknown = [name for name in self.scores if name not in SCORERS]
        if unknown:
            raise InputError(
                f"Unknown score(s): {', '.join(unknown)}. Scores are: {', '.join(SCORE_NAMES)}."
            )
        if not self.methods or not self.tis_models:
            raise InputError("Give at least one method and one TIS model.")
        if self.batch_size < 1 or self.best_of_n < 1 or (self.limit is not None and self.limit < 1):
            raise InputError("--batch-size, --best-of-n and --limit must be at least 1.")

    def identity(self) -> dict:
        """Return the settings that make rows comparable; a resumed run must match them."""
        return {
            "seed": self.seed,
            "tiny_scorers": self.tiny_scorers,
            "rewriter": self.rewriter,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "width": self.width,
            "height": self.height,
            "best_of_n": self.best_of_n,
            "best_of_n_weights": self.best_of_n_weights,
        }


# --- 1. data -------------------------------------------------------------------------------


def load_examples(
    path: str | Path, skip_bad_rows: bool = False, limit: int | None = None
) -> list[Example]:
    """Return the examples of a JSONL or CSV file (one row each with raw_prompt, instruction,
    target_prompt; optional id and raw_image path, relative to the file).

    Refuses (DataError naming file and line) a row that is not UTF-8, not JSON, or has a
    missing, empty or non-string column, unless `skip_bad_rows`, which reports the line on
    stderr and goes on. Refuses a file with no usable row.
    """
    from core.files import read_data_lines

    path = Path(path)
    if not path.is_file():
        raise DataError("data file not found", str(path))
    examples: list[Example] = []
    for line in read_data_lines(path):
        if line.blank:
            continue
        try:
            if line.record is None:
                raise DataError(line.error, str(path), line.number)
            examples.append(_parse_row(line.record, path, line.number))
        except DataError as error:
            if not skip_bad_rows:
                raise
            print(f"skipped: {error}", file=sys.stderr)
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise DataError("no usable rows", str(path))
    ids = [example.example_id for example in examples]
    if len(set(ids)) != len(ids):
        raise DataError("two rows share an id; ids must be unique", str(path))
    return examples


def _parse_row(row: dict, path: Path, line_number: int) -> Example:
    from core.files import string_field

    try:
        raw_prompt, instruction, target_prompt = (
            string_field(row, name) for name in REQUIRED_COLUMNS
        )
    except ValueError as error:
        raise DataError(str(error), str(path), line_number) from None
    # A CSV has "" for an unset cell.
    raw_image = row.get("raw_image") or None
    identifier = row.get("id")
    if raw_image is not None:
        raw_image = str((path.parent / str(raw_image)).resolve())
        _check_image_decodes(raw_image, path, line_number)
    return Example(
        example_id=str(line_number if identifier in (None, "") else identifier),
        line=line_number,
        raw_prompt=raw_prompt,
        instruction=instruction,
        target_prompt=target_prompt,
        raw_image=raw_image,
    )


def _check_image_decodes(image_path: str, path: Path, line_number: int) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image_path) as image:
            image.load()
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(
            f"raw_image {image_path} does not decode ({error})", str(path), line_number
        ) from None


# --- 2. methods ----------------------------------------------------------------------------


@dataclass
class Method:
    """A prompt-editing method: a rewriter (None for InstructPix2Pix, which edits the image)."""

    name: str
    rewriter: object | None = None

    @property
    def rewrites_prompt(self) -> bool:
        return self.name != "instructpix2pix"


def load_methods(
    config: EvaluationConfig, load_rewriter: Callable | None = None
) -> tuple[list[Method], dict[str, str]]:
    """Return the methods that could load, and {method: why it was skipped} for the others.

    A method whose rewriter is unavailable (no API key, weights absent) is skipped with a
    message; a wrong rewriter name (InputError) stops the run.

    InstructPix2Pix goes last, so each TIS model's pipeline is loaded once before it.
    """
    if load_rewriter is None:
        from core.rewrite import load_rewriter
    methods, skipped = [], {}
    for name in sorted(config.methods, key=lambda name: name == "instructpix2pix"):
        if name == "instructpix2pix":
            methods.append(Method(name))
            continue
        rewriter_name = METHOD_REWRITERS[name]
        if name in ("diffchat", "best-of-n"):
            rewriter_name = config.rewriter
        try:
            methods.append(Method(name, load_rewriter(rewriter_name)))
        except ModelUnavailableError as error:  # no API key, weights absent: the others still run
            skipped[name] = str(error)
            print(f"skipping method {name}: {error}", file=sys.stderr)
    return methods, skipped


# --- 3. rendering, scoring, resumable rows ------------------------------------------------


class Renderer:
    """Renders raw and target images through core.images (the only part that needs diffusers)."""

    def __init__(self, config: EvaluationConfig):
        self.config = config

    def request(self, prompt: str, tis_model: str):
        from core.images import GenerationRequest

        return GenerationRequest(
            prompt=prompt,
            model=tis_model,
            seed=self.config.seed,
            num_inference_steps=self.config.num_inference_steps,
            guidance_scale=self.config.guidance_scale,
            width=self.config.width,
            height=self.config.height,
        )

    def text_to_image(self, prompt: str, tis_model: str):
        from core.images import generate

        return generate(self.request(prompt, tis_model)).image

    def instruct_pix2pix(self, image, instruction: str, tis_model: str):
        from core.images import edit_with_instruct_pix2pix
        from core.registry import get_model_spec

        model = self.config.ip2p_model
        if model is None:
            model = "tiny-ip2p" if get_model_spec(tis_model).offline else "instruct-pix2pix"
        return edit_with_instruct_pix2pix(
            image,
            instruction,
            model=model,
            seed=self.config.seed,
            num_inference_steps=self.config.num_inference_steps,
        ).image


class ScoreBoard:
    """The scorers of one run; a scorer whose weights are absent is reported once and its
    column stays empty, while the other scores still run."""

    def __init__(self, names: Sequence[str], tiny: bool, batch_size: int):
        self.scorers: dict[str, ImageScorer] = {
            name: build_scorer(name, tiny=tiny, batch_size=batch_size) for name in names
        }
        self.unavailable: dict[str, str] = {}

    def usable(self, name: str) -> ImageScorer | None:
        """Return the loaded scorer, or None when its weights are absent (reported once)."""
        if name in self.unavailable:
            return None
        try:
            self.scorers[name].load()
        except DiffChatError as error:
            self.unavailable[name] = str(error)
            print(f"score {name} not computed: {error}", file=sys.stderr)
            return None
        return self.scorers[name]

    def score(self, images, prompts, edits, rewrites_prompt: bool) -> dict[str, list[float]]:
        """Return {score name: one value per image}; NaN where a score does not apply."""
        table = {}
        for name in self.scorers:
            scorer = self.usable(name)
            # CI judges a rewritten prompt; InstructPix2Pix writes none (the paper's "-").
            if scorer is None or (name == "content_integrity" and not rewrites_prompt):
                table[name] = [math.nan] * len(images)
            else:
                table[name] = scorer.score(images, prompts, edits)
        return table


def read_finished_rows(csv_path: Path) -> list[dict]:
    """Return the complete rows of a previous run's CSV, dropping a half-written last line."""
    if not csv_path.is_file():
        return []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            return []
        if tuple(reader.fieldnames) != ROW_FIELDS:
            raise DataError(
                "written by a different version of the harness; use a new --out folder",
                str(csv_path),
            )
        return [row for row in reader if None not in row.values() and row["target_image"]]


def _open_rows(csv_path: Path, finished: list[dict]):
    # Rewrite the finished rows first so a torn last line from a killed run disappears.
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=ROW_FIELDS)
        writer.writeheader()
        writer.writerows(finished)
    handle = csv_path.open("a", newline="", encoding="utf-8")
    return handle, csv.DictWriter(handle, fieldnames=ROW_FIELDS)


def _check_resume(out: Path, config: EvaluationConfig) -> None:
    run_file = out / "run.json"
    if run_file.is_file():
        previous = json.loads(run_file.read_text()).get("identity")
        if previous is not None and previous != json.loads(json.dumps(config.identity())):
            raise InputError(
                f"{out} holds a run with other settings ({previous}); "
                "use a new --out folder or the same settings to resume."
            )
    settings = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in asdict(config).items()
    }
    run_file.write_text(json.dumps({"identity": config.identity(), "config": settings}, indent=2))


def _load_or_render(path: Path, render: Callable[[], object]):
    from PIL import Image, UnidentifiedImageError

    if path.is_file():
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (OSError, UnidentifiedImageError):
            print(f"re-rendering {path}: the cached image does not decode", file=sys.stderr)
    image = render()
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return image


def _raw_image(example: Example, tis_model: str, out: Path, renderer: Renderer):
    from PIL import Image

    if example.raw_image is None:
        path = out / "images" / tis_model / "raw" / f"{example.example_id}.png"
        return _load_or_render(path, lambda: renderer.text_to_image(example.raw_prompt, tis_model))
    with Image.open(example.raw_image) as image:  # checked to decode by load_examples
        return image.convert("RGB")


def _prompt_cache(out: Path) -> dict[tuple[str, str], str]:
    cache_file = out / "prompts.jsonl"
    cache = {}
    if cache_file.is_file():
        for text in cache_file.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(text)
                cache[(row["method"], row["example_id"])] = row["target_prompt"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a torn last line from a killed run
    return cache


def _rewrite(method: Method, examples: list[Example], out: Path, cache: dict) -> list[str]:
    # Rewrites do not depend on the TIS model: cache them across models and resumed runs.
    todo = [example for example in examples if (method.name, example.example_id) not in cache]
    if todo:
        prompts = method.rewriter.rewrite_batch([(e.raw_prompt, e.instruction) for e in todo])
        with (out / "prompts.jsonl").open("a", encoding="utf-8") as handle:
            for example, prompt in zip(todo, prompts, strict=True):
                cache[(method.name, example.example_id)] = prompt
                record = {
                    "method": method.name,
                    "example_id": example.example_id,
                    "target_prompt": prompt,
                }
                handle.write(json.dumps(record) + "\n")
    return [cache[(method.name, example.example_id)] for example in examples]


def _targets(method, block, raw_images, tis_model, config, renderer, board, cache, out):
    """Return (target prompts, target images) of one block of examples for one method."""
    from core.best_of_n import best_of_n

    if method.name == "instructpix2pix":
        images = [
            renderer.instruct_pix2pix(raw, example.instruction, tis_model)
            for example, raw in zip(block, raw_images, strict=True)
        ]
        return [example.target_prompt for example in block], images
    if method.name == "best-of-n":
        weights = {
            name: w
            for name, w in config.best_of_n_weights.items()
            if board.usable(name) is not None
        }
        if not weights:
            raise InputError(
                "best-of-n: none of its weighted scores is available; see the messages above."
            )
        prompts, images = [], []
        for example, raw in zip(block, raw_images, strict=True):
            best = best_of_n(
                method.rewriter,
                example.raw_prompt,
                example.instruction,
                config.best_of_n,
                weights,
                renderer.request(example.raw_prompt, tis_model),
                seed=config.seed,
                scorers=board.scorers,
                raw_image=raw,
                reference_target=example.target_prompt,
            )[0]
            prompts.append(best.prompt)
            images.append(best.image)
        return prompts, images
    prompts = _rewrite(method, block, out, cache)
    return prompts, [renderer.text_to_image(prompt, tis_model) for prompt in prompts]


def run_evaluation(
    config: EvaluationConfig,
    renderer: Renderer | None = None,
    load_rewriter: Callable | None = None,
    progress: bool = True,
) -> dict:
    """Run (or resume) an evaluation and return the summary dict also written to summary.json.

    Writes into `config.out`: examples.csv (one row per method x TIS model x example),
    prompts.jsonl, images/, summary.md, summary.json, distributions.png, per_tis_model.png.
    Refuses (InputError) unknown methods or scores and an output folder holding a run with
    other settings; DataError for a bad data file.
    """
    from tqdm import tqdm

    config.check()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(out, config)

    # 1. data
    examples = load_examples(config.data, config.skip_bad_rows, config.limit)
    # 2. methods and scorers
    methods, skipped = load_methods(config, load_rewriter)
    renderer = renderer or Renderer(config)
    board = ScoreBoard(config.scores, config.tiny_scorers, config.batch_size)

    # 3. rows, appended as they finish
    csv_path = out / "examples.csv"
    finished = read_finished_rows(csv_path)
    done = {(row["method"], row["tis_model"], row["example_id"]) for row in finished}
    cache = _prompt_cache(out)
    total = len(methods) * len(config.tis_models) * len(examples)
    initial = sum(
        (m.name, t, e.example_id) in done
        for m in methods
        for t in config.tis_models
        for e in examples
    )
    handle, writer = _open_rows(csv_path, finished)
    bar = tqdm(total=total, initial=initial, unit="row", desc="evaluate", disable=not progress)
    try:
        for tis_model in config.tis_models:
            for method in methods:
                todo = [e for e in examples if (method.name, tis_model, e.example_id) not in done]
                for start in range(0, len(todo), config.batch_size):
                    block = todo[start : start + config.batch_size]
                    rows = _evaluate_block(
                        method, block, tis_model, config, renderer, board, cache, out
                    )
                    writer.writerows(rows)
                    handle.flush()
                    bar.update(len(block))
    finally:
        bar.close()
        handle.close()

    # 4. summary, plots
    rows = read_finished_rows(csv_path)
    summary = summarize(rows, config.scores)
    summary.update(
        meaningless=config.tiny_scorers,
        skipped_methods=skipped,
        unavailable_scores=board.unavailable,
        plots=write_plots(rows, config.scores, out, config.tiny_scorers),
    )
    (out / "summary.md").write_text(summary_markdown(summary))
    (out / "summary.json").write_text(json.dumps(_json_safe(summary), indent=2))
    return summary


def _json_safe(value):
    # JSON has no NaN: a score that does not apply (or was not computed) becomes null.
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _evaluate_block(method, block, tis_model, config, renderer, board, cache, out) -> list[dict]:
    raw_images = [_raw_image(example, tis_model, out, renderer) for example in block]
    prompts, images = _targets(
        method, block, raw_images, tis_model, config, renderer, board, cache, out
    )
    folder = out / "images" / tis_model / method.name
    folder.mkdir(parents=True, exist_ok=True)
    image_paths = []
    for example, image in zip(block, images, strict=True):
        image_paths.append(folder / f"{example.example_id}.png")
        image.save(image_paths[-1])
    edits = [
        EditContext(example.raw_prompt, example.instruction, example.target_prompt, raw)
        for example, raw in zip(block, raw_images, strict=True)
    ]
    table = board.score(images, prompts, edits, method.rewrites_prompt)
    rows = []
    for index, example in enumerate(block):
        raw_path = (
            example.raw_image or out / "images" / tis_model / "raw" / f"{example.example_id}.png"
        )
        row = {
            "example_id": example.example_id,
            "line": example.line,
            "method": method.name,
            "tis_model": tis_model,
            "seed": config.seed,
            "raw_prompt": example.raw_prompt,
            "instruction": example.instruction,
            "reference_target": example.target_prompt,
            "target_prompt": prompts[index] if method.rewrites_prompt else "",
            "raw_image": str(raw_path),
            "target_image": str(image_paths[index]),
        }
        for name in SCORE_NAMES:
            value = table.get(name, [math.nan] * len(block))[index]
            row[name] = "" if math.isnan(value) else f"{value:.6f}"
        rows.append(row)
    return rows


# --- 4. summary: DiffChat Table 1 / Table 4 -------------------------------------------------


def _value(text: str) -> float:
    return float(text) if text not in ("", None) else math.nan


def _mean(values: list[float]) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return sum(finite) / len(finite) if finite else math.nan


def average_ranks(table: dict[str, dict[str, float]], scores: Sequence[str]) -> dict[str, float]:
    """Return each method's average rank over the scores it has (DiffChat Table 1 "Avg. Rank.").

    Higher scores rank first; tied values share the better rank (1, 1, 3). A method without a
    value for a score (NaN: InstructPix2Pix's CI) is ranked on the other scores only, as the
    paper does (its 3.400 is an average over five scores).
    """
    rank_sums = {method: [] for method in table}
    for score in scores:
        values = {
            m: row[score] for m, row in table.items() if math.isfinite(row.get(score, math.nan))
        }
        for method, value in values.items():
            rank_sums[method].append(1 + sum(other > value for other in values.values()))
    return {method: (sum(r) / len(r) if r else math.nan) for method, r in rank_sums.items()}


def summarize(rows: list[dict], scores: Sequence[str] = SCORE_NAMES) -> dict:
    """Return the mean scores per method (overall and per TIS model) with average ranks."""
    methods = list(dict.fromkeys(row["method"] for row in rows))
    tis_models = list(dict.fromkeys(row["tis_model"] for row in rows))

    def table_of(selected: list[dict]) -> dict:
        means = {
            method: {
                score: _mean([_value(r[score]) for r in selected if r["method"] == method])
                for score in scores
            }
            for method in methods
            if any(r["method"] == method for r in selected)
        }
        ranks = average_ranks(means, scores)
        return {"means": means, "average_rank": ranks}

    return {
        "scores": list(scores),
        "labels": {score: SCORERS[score].label for score in scores},
        "rows": len(rows),
        "examples": len({row["example_id"] for row in rows}),
        "overall": table_of(rows),
        "per_tis_model": {
            tis: table_of([r for r in rows if r["tis_model"] == tis]) for tis in tis_models
        },
    }


def _marks(values: dict[str, float], higher_is_better: bool) -> dict[str, str]:
    # Best bold, second underlined, as in DiffChat Table 1; equal displayed values share a mark.
    shown = sorted(
        {round(v, 3) for v in values.values() if math.isfinite(v)}, reverse=higher_is_better
    )
    marks = {}
    for method, value in values.items():
        text = "-" if not math.isfinite(value) else f"{value:.3f}"
        if math.isfinite(value) and shown and round(value, 3) == shown[0]:
            text = f"**{text}**"
        elif math.isfinite(value) and len(shown) > 1 and round(value, 3) == shown[1]:
            text = f"<u>{text}</u>"
        marks[method] = text
    return marks


def markdown_table(table: dict, scores: Sequence[str]) -> str:
    """Return one table in the paper's format: a row per method, the scores, Avg. Rank."""
    means, ranks = table["means"], table["average_rank"]
    header = ["Method"] + [f"{SCORERS[s].label} ↑" for s in scores] + ["Avg. Rank. ↓"]
    columns = [_marks({m: means[m][s] for m in means}, True) for s in scores]
    columns.append(_marks(ranks, False))
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for method in means:
        lines.append("| " + " | ".join([method] + [column[method] for column in columns]) + " |")
    return "\n".join(lines)


def summary_markdown(summary: dict) -> str:
    """Return summary.md: the overall table (Table 1 format), per-TIS tables (Table 4), notes."""
    scores = summary["scores"]
    parts = ["# Evaluation summary", ""]
    if summary.get("meaningless"):
        parts += [MEANINGLESS_NOTE, ""]
    parts += [
        f"{summary['examples']} examples, {summary['rows']} rows. Means over all TIS models and "
        "examples; Avg. Rank. is the mean rank over the scores a method has "
        "(best **bold**, second <u>underlined</u>).",
        "",
        markdown_table(summary["overall"], scores),
        "",
    ]
    for tis_model, table in summary["per_tis_model"].items():
        parts += [f"## {tis_model}", "", markdown_table(table, scores), ""]
    for name, reason in summary.get("skipped_methods", {}).items():
        parts.append(f"- Method {name} was skipped: {reason}")
    for name, reason in summary.get("unavailable_scores", {}).items():
        parts.append(f"- Score {name} was not computed: {reason}")
    for plot in summary.get("plots", []):
        parts.append(f"\n![{plot}]({plot})")
    return "\n".join(parts).rstrip() + "\n"


def write_plots(rows: list[dict], scores: Sequence[str], out: Path, meaningless: bool) -> list[str]:
    """Write distributions.png (per-method score distributions) and per_tis_model.png (bars);
    return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(row["method"] for row in rows))
    tis_models = list(dict.fromkeys(row["tis_model"] for row in rows))
    suffix = " (tiny random-weight scorers: meaningless)" if meaningless else ""
    columns = 3
    grid = (math.ceil(len(scores) / columns), columns)
    written = []

    figure, axes = plt.subplots(*grid, figsize=(5 * columns, 3.6 * grid[0]), squeeze=False)
    for axis, score in zip(axes.flat, scores, strict=False):
        data = [
            [v for r in rows if r["method"] == m and math.isfinite(v := _value(r[score]))]
            for m in methods
        ]
        kept = [(m, d) for m, d in zip(methods, data, strict=True) if d]
        if kept:
            axis.boxplot([d for _, d in kept], tick_labels=[m for m, _ in kept])
        axis.set_title(SCORERS[score].label)
        axis.tick_params(axis="x", rotation=30)
    for axis in list(axes.flat)[len(scores) :]:
        axis.set_visible(False)
    figure.suptitle("Score distributions per method" + suffix)
    figure.tight_layout()
    figure.savefig(out / "distributions.png", dpi=80)
    plt.close(figure)
    written.append("distributions.png")

    figure, axes = plt.subplots(*grid, figsize=(5 * columns, 3.6 * grid[0]), squeeze=False)
    width = 0.8 / max(len(methods), 1)
    for axis, score in zip(axes.flat, scores, strict=False):
        for offset, method in enumerate(methods):
            heights = [
                _mean(
                    [
                        _value(r[score])
                        for r in rows
                        if r["method"] == method and r["tis_model"] == tis
                    ]
                )
                for tis in tis_models
            ]
            positions = [i + offset * width for i in range(len(tis_models))]
            axis.bar(positions, [0 if math.isnan(h) else h for h in heights], width, label=method)
        axis.set_xticks(
            [i + width * (len(methods) - 1) / 2 for i in range(len(tis_models))], tis_models
        )
        axis.set_title(SCORERS[score].label)
    for axis in list(axes.flat)[len(scores) :]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize="small")
    figure.suptitle("Mean score per TIS model" + suffix)
    figure.tight_layout()
    figure.savefig(out / "per_tis_model.png", dpi=80)
    plt.close(figure)
    written.append("per_tis_model.png")
    return written
