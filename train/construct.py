"""Build InstructPE rows from InstructPix2Pix-style triplets: DiffChat section 3.1 (Fig. 2).

`python -m train data construct --input ip2p.jsonl --beautifier MODEL --chat-backend
openai|local --out FILE` runs, for every (x_o, i, y_o):

1. beautify: the prompt-beautification (PB) model turns the simple captions x_o and y_o into
   model-friendly prompts x and y;
2. choose the template: count the keywords (core.nlp.extract_keywords, DiffChat Listing 1
   line 14) kept in x_o -> x and in y_o -> y; the side that kept more is trusted. If y kept
   more, template A asks the chat LLM for x given y and i; otherwise template B asks for y
   given x and i (appendix Fig. 10a/10b — the wording below is ours, in the same spirit);
3. ask the chat LLM (any OpenAI-compatible endpoint, or a local causal LM offline);
4. filter: non-English rows, rows with a word of the NSFW list
   (assets/instructpe/nsfw_words.txt), and rows whose content-integrity score of y against
   the reference y_o (core.content_integrity, raw value before thresholding) is below
   `--ci-threshold`.

Offline, the beautifier and the chat model can be the local SmolLM2-135M (`smollm2-base`):
it runs, but a 135M model is a weak beautifier and a weaker chat model, so expect most rows to
be filtered out. The paper used a fine-tuned BLOOM-1.1B PB model and ChatGPT.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.errors import DataError, InputError
from train.data import Triplet, load_triplets, save_triplets

NSFW_WORDS_FILE = (
    Path(__file__).resolve().parent.parent / "assets" / "instructpe" / "nsfw_words.txt"
)

# Prompt-beautification request (the paper fine-tunes a PB model on pairs collected as in its
# appendix Fig. 9; a plain few-shot prompt lets any causal LM play that role).
BEAUTIFY_TEMPLATE = """Rewrite the simple image caption as a detailed, high-quality text-to-image prompt: keep every object it mentions, add descriptive detail, lighting and style tags, one line.

Caption: a dog on a beach
Prompt: a happy golden retriever running on a sandy beach at sunset, warm golden light, splashing waves, highly detailed, sharp focus, 35mm photograph

Caption: a castle in the mountains
Prompt: a majestic stone castle perched high in snowy mountains, dramatic clouds, soft morning light, epic fantasy landscape, digital painting, highly detailed, artstation

Caption: {caption}
Prompt:"""

# DiffChat appendix Fig. 10(a): given the target y and the instruction, write the raw prompt x.
TEMPLATE_A = """Write the image description that, after the modification is applied, becomes the given description. Change only what the modification is about and keep all other words.

Description: a red fox standing in a snowy forest at dawn, soft pink light, highly detailed, digital painting
Modification: make the fox red
Output: a grey fox standing in a snowy forest at dawn, soft pink light, highly detailed, digital painting

Description: {target_prompt}
Modification: {instruction}
Output:"""

# DiffChat appendix Fig. 10(b): given the raw prompt x and the instruction, write the target y.
TEMPLATE_B = """Apply the modification to the image description. Change only what the modification is about and keep all other words.

Description: a grey fox standing in a snowy forest at dawn, soft pink light, highly detailed, digital painting
Modification: make the fox red
Output: a red fox standing in a snowy forest at dawn, soft pink light, highly detailed, digital painting

Description: {raw_prompt}
Modification: {instruction}
Output:"""


@dataclass
class ConstructConfig:
    """Options of the construction pipeline (DiffChat section 3.1)."""

    input: Path = field(metadata={"help": "InstructPix2Pix-style triplets (JSONL/CSV/hub id)"})
    out: Path = field(metadata={"help": "output JSONL of InstructPE triplets"})
    beautifier: str = field(
        default="smollm2-base", metadata={"help": "causal LM (registry name, folder or hub id)"}
    )
    chat_backend: str = field(default="local", metadata={"help": "'openai' or 'local'"})
    chat_model: str | None = field(
        default=None,
        metadata={
            "help": "chat model: API model name (openai) or causal LM (local; default: "
            "the beautifier)"
        },
    )
    api_base: str = field(
        default="", metadata={"help": "OpenAI-compatible base URL (default $OPENAI_BASE_URL)"}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "environment variable holding the API key"}
    )
    ci_threshold: float = field(
        # DiffChat Listing 1: thres=0.7
        default=0.7,
        metadata={"help": "drop rows whose raw CI score is below this (Listing 1)"},
    )
    max_new_tokens: int = field(default=96, metadata={"help": "tokens per generated prompt"})
    limit: int | None = field(default=None, metadata={"help": "process only the first N rows"})
    rejects: Path | None = field(default=None, metadata={"help": "JSONL of dropped rows + reason"})


# ---------------------------------------------------------------------------------------------
# Text generators: the beautifier and the chat LLM


class TextModel(Protocol):
    def complete(self, prompt: str) -> str:
        """Return the model's one-line continuation of `prompt`."""
        ...


class _Completer:
    """A `TextModel` over a core.rewrite backend, with fixed generation overrides."""

    def __init__(self, backend, **overrides):
        self.backend = backend
        self.overrides = overrides

    def complete(self, prompt: str) -> str:
        return self.backend.complete(prompt, **self.overrides)


def load_local_model(name_or_path: str, max_new_tokens: int = 96) -> TextModel:
    """Return a local causal LM (core.rewrite.LocalCausalLMRewriter) as a `TextModel`.

    A registered rewriter name (e.g. "smollm2-base") goes through `load_rewriter`, sharing its
    cached model; a folder or hub id is checked to be a causal LM (InputError otherwise) and
    loaded with `LocalCausalLMRewriter.from_pretrained`. Greedy, one line per answer.
    """
    from core.registry import MODELS
    from core.rewrite import LocalCausalLMRewriter, load_rewriter
    from train.common import check_causal_lm, resolve_model_path

    spec = MODELS.get(name_or_path)
    if spec is not None and spec.kind == "rewriter":
        rewriter = load_rewriter(name_or_path)
        if not isinstance(rewriter, LocalCausalLMRewriter):
            raise InputError(
                f"'{name_or_path}' is not a local causal language model; pass a causal LM "
                "(registry name, folder or hub id)."
            )
    else:
        path = resolve_model_path(name_or_path)
        check_causal_lm(path)
        rewriter = LocalCausalLMRewriter.from_pretrained(path, name=name_or_path)
    rewriter = rewriter.with_settings(max_new_tokens=max_new_tokens, num_beams=1, typical_p=None)
    # small LMs loop ("snowy mountains, snowy mountains, ...") without no_repeat_ngram_size
    return _Completer(rewriter, no_repeat_ngram_size=3)


def load_chat_api_model(config: ConstructConfig) -> TextModel:
    """Return the OpenAI-compatible chat model of `config` (core.rewrite.ChatAPIRewriter).

    The key is read from the variable named by `config.api_key_env` and never logged; the base
    URL is `config.api_base`, else $OPENAI_BASE_URL, else OpenAI's.
    """
    from core.rewrite import ChatAPIRewriter

    client = None
    if config.api_base or config.api_key_env != "OPENAI_API_KEY":
        api_key = os.environ.get(config.api_key_env, "").strip()
        api_base = config.api_base or os.environ.get("OPENAI_BASE_URL") or ""
        if not api_key and (not api_base or "api.openai.com" in api_base):
            raise InputError(f"set the API key in the environment variable {config.api_key_env}.")
        from openai import OpenAI

        # A local OpenAI-compatible server may need no key; the client requires a value.
        client = OpenAI(api_key=api_key or "unused", base_url=api_base or None, timeout=60)
    return _Completer(
        ChatAPIRewriter.from_env(config.chat_model, client=client),
        max_tokens=config.max_new_tokens,
    )


# ---------------------------------------------------------------------------------------------
# The pure steps


def kept_keywords(simple: str, beautified: str) -> int:
    """Return how many keywords of `simple` are still among the keywords of `beautified`."""
    from core.nlp import extract_keywords

    kept = set(extract_keywords(beautified))
    return sum(keyword in kept for keyword in extract_keywords(simple))


def choose_template(
    raw_original: str, raw_beautified: str, target_original: str, target_beautified: str
) -> str:
    """Return "A" (trust y, ask for x) when y_o -> y kept more keywords than x_o -> x, else "B".

    DiffChat section 3.1: the side that lost fewer keywords in beautification is the reference.
    """
    kept_raw = kept_keywords(raw_original, raw_beautified)
    kept_target = kept_keywords(target_original, target_beautified)
    return "A" if kept_target > kept_raw else "B"


def load_nsfw_words(path: str | Path = NSFW_WORDS_FILE) -> frozenset[str]:
    """Return the lower-case words of the NSFW list (comments and blank lines skipped)."""
    words = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            words.add(line)
    return frozenset(words)


def is_nsfw(text: str, words: frozenset[str]) -> bool:
    """Return True when a whole word of `text` (or it without a plural "s") is on the list."""
    for token in re.findall(r"[a-z]+", text.lower()):
        if token in words or (token.endswith("s") and token[:-1] in words):
            return True
    return False


def is_english(text: str, kind: str = "prompt") -> bool:
    """Return False for text that does not look English.

    Instructions use core.validation's check (letters and common words). Prompts are mostly
    nouns and tags the common-word list lacks, so for them only the share of ASCII letters is
    checked, with the same threshold.
    """
    from core.validation import MIN_ASCII_LETTER_RATIO, ascii_letter_ratio, check_instruction

    if kind == "instruction":
        return not check_instruction(text).warnings
    ratio = ascii_letter_ratio(text)
    return ratio is not None and ratio >= MIN_ASCII_LETTER_RATIO


@dataclass
class Decision:
    """What happened to one input row: the built triplet, or why it was dropped."""

    triplet: Triplet | None
    reason: str  # "kept", "empty", "non_english", "nsfw", "low_ci"
    template: str
    ci_raw: float | None = None


def construct_one(
    original: Triplet,
    beautifier: TextModel,
    chat: TextModel,
    nsfw_words: frozenset[str],
    ci_threshold: float = 0.7,
) -> Decision:
    """Run the section 3.1 steps on one (x_o, i, y_o) and return the Decision."""
    from core.content_integrity import content_integrity

    # 1. beautify both sides with the PB model
    raw_beautified = beautifier.complete(BEAUTIFY_TEMPLATE.format(caption=original.raw_prompt))
    target_beautified = beautifier.complete(
        BEAUTIFY_TEMPLATE.format(caption=original.target_prompt)
    )
    # 2. trust the side that kept more keywords; 3. ask the chat LLM for the other side
    template = choose_template(
        original.raw_prompt, raw_beautified, original.target_prompt, target_beautified
    )
    if template == "A":
        raw_prompt = chat.complete(
            TEMPLATE_A.format(target_prompt=target_beautified, instruction=original.instruction)
        )
        target_prompt = target_beautified
    else:
        raw_prompt = raw_beautified
        target_prompt = chat.complete(
            TEMPLATE_B.format(raw_prompt=raw_beautified, instruction=original.instruction)
        )
    if not raw_prompt or not target_prompt:
        return Decision(None, "empty", template)
    triplet = Triplet(
        raw_prompt, original.instruction, target_prompt, original.category, "constructed"
    )
    # 4. filters: non-English, NSFW, low content integrity against the reference y_o
    if not (
        is_english(raw_prompt)
        and is_english(target_prompt)
        and is_english(original.instruction, "instruction")
    ):
        return Decision(triplet, "non_english", template)
    if any(is_nsfw(text, nsfw_words) for text in (raw_prompt, original.instruction, target_prompt)):
        return Decision(triplet, "nsfw", template)
    score = content_integrity(
        original.raw_prompt,
        original.instruction,
        original.target_prompt,
        target_prompt,
        threshold=ci_threshold,
    )
    if score.raw < ci_threshold:
        return Decision(triplet, "low_ci", template, score.raw)
    return Decision(triplet, "kept", template, score.raw)


# ---------------------------------------------------------------------------------------------
# The command


def build_models(config: ConstructConfig) -> tuple[TextModel, TextModel]:
    """Return (beautifier, chat model) for `config`; the chat model reuses a local beautifier
    when both name the same model."""
    beautifier = load_local_model(config.beautifier, config.max_new_tokens)
    if config.chat_backend == "openai":
        if not config.chat_model:
            raise InputError("--chat-backend openai needs --chat-model (e.g. gpt-4o-mini).")
        chat: TextModel = load_chat_api_model(config)
    elif config.chat_backend == "local":
        same = config.chat_model in (None, config.beautifier)
        chat = beautifier if same else load_local_model(config.chat_model, config.max_new_tokens)
    else:
        raise InputError(
            f"--chat-backend must be 'openai' or 'local', not {config.chat_backend!r}."
        )
    return beautifier, chat


def run_construct(
    config: ConstructConfig, beautifier: TextModel | None = None, chat: TextModel | None = None
) -> Counter:
    """Build InstructPE rows from `config.input` into `config.out`; return counts per outcome.

    Models can be passed in (tests); otherwise they are loaded from the config. Refuses
    (DataError) an input without rows; writes an empty output when every row is filtered.
    """
    from tqdm.auto import tqdm

    originals = load_triplets(config.input)
    if config.limit:
        originals = originals[: config.limit]
    if beautifier is None or chat is None:
        beautifier, chat = build_models(config)
    nsfw_words = load_nsfw_words()
    kept: list[Triplet] = []
    rejected: list[dict] = []
    counts: Counter = Counter()
    progress = tqdm(originals, desc="construct", unit="row", dynamic_ncols=True)
    for original in progress:
        decision = construct_one(original, beautifier, chat, nsfw_words, config.ci_threshold)
        counts[decision.reason] += 1
        counts[f"template_{decision.template}"] += 1
        if decision.reason == "kept":
            kept.append(decision.triplet)
        else:
            rejected.append(
                {
                    "reason": decision.reason,
                    "ci_raw": decision.ci_raw,
                    "original": original.to_dict(),
                    "built": decision.triplet.to_dict() if decision.triplet else None,
                }
            )
        progress.set_postfix(kept=counts["kept"], refresh=False)
    save_triplets(kept, config.out)
    if config.rejects:
        Path(config.rejects).parent.mkdir(parents=True, exist_ok=True)
        with open(config.rejects, "w", encoding="utf-8") as handle:
            for row in rejected:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the construct options to `parser` (used by `python -m train data construct`)."""
    parser.add_argument(
        "--input",
        required=True,
        help="InstructPix2Pix-style triplets "
        "(JSONL/CSV with input/edit/output or raw_prompt/instruction/target_prompt)",
    )
    parser.add_argument("--out", required=True, help="output JSONL of InstructPE triplets")
    parser.add_argument(
        "--beautifier",
        default="smollm2-base",
        help="prompt-beautification causal LM: registry name, folder or hub id",
    )
    parser.add_argument(
        "--chat-backend",
        choices=("openai", "local"),
        default="local",
        help="who writes the other side: an OpenAI-compatible API or a local LM",
    )
    parser.add_argument(
        "--chat-model",
        default=None,
        help="API model name (openai) or causal LM (local; default: the beautifier)",
    )
    parser.add_argument(
        "--api-base",
        default="",
        help="OpenAI-compatible base URL (default: $OPENAI_BASE_URL or https://api.openai.com/v1)",
    )
    parser.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable that holds the API key (never logged)",
    )
    parser.add_argument(
        "--ci-threshold",
        type=float,
        default=0.7,
        help="drop rows whose raw content-integrity score is below this",
    )
    parser.add_argument("--max-new-tokens", type=int, default=96, help="tokens per prompt")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows")
    parser.add_argument("--rejects", default=None, help="also write dropped rows to this JSONL")


def main(args: argparse.Namespace) -> int:
    """Run the command from parsed arguments; print the outcome counts."""
    config = ConstructConfig(
        input=Path(args.input),
        out=Path(args.out),
        beautifier=args.beautifier,
        chat_backend=args.chat_backend,
        chat_model=args.chat_model,
        api_base=args.api_base,
        api_key_env=args.api_key_env,
        ci_threshold=args.ci_threshold,
        max_new_tokens=args.max_new_tokens,
        limit=args.limit,
        rejects=Path(args.rejects) if args.rejects else None,
    )
    if not 0.0 <= config.ci_threshold <= 1.0:
        raise DataError(f"--ci-threshold must be between 0 and 1, got {config.ci_threshold}")
    counts = run_construct(config)
    total = sum(counts[key] for key in ("kept", "empty", "non_english", "nsfw", "low_ci"))
    print(f"kept {counts['kept']} of {total} rows -> {config.out}")
    print(
        "dropped: "
        + ", ".join(
            f"{reason} {counts[reason]}" for reason in ("empty", "non_english", "nsfw", "low_ci")
        )
    )
    print(f"templates: A {counts['template_A']}, B {counts['template_B']}")
    return 0
