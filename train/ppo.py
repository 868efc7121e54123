"""`python -m train ppo`: reinforcement learning of the rewriter with PPO, ADM and VCI.

DiffChat section 3.3 and appendix A.5, written on torch + accelerate in the shape of CleanRL's
ppo.py and TRL's old PPOTrainer (trl 1.16 has no PPO any more). One PPO step:

    1. rollout (no grads): query T(x, i); response sampled with ADM+ locally typical sampling
       (eq. 3) or plain sampling (eq. 2); with ADM- a share of rollouts is replaced by a
       perturbed target prompt (eq. 4, see train/adm.py for our reading)
    2. truncate at the first stop (any special token, or the newline ending the first line,
       as inference stops), mask
    3. score: w_aes * RM_aes(y) + w_pick * RM_pick(y) + w_ci * CI_thresholded(x, i, y_o, y)
       (Listing 1); the reward models are optional — without them the reward is CI only
    4. log-probs of policy and frozen reference, values V(s_t) of the value head
    5. per-token reward: -beta * KL on every token + score on the last (eq. 6's r_t)
    6. VCI (eq. 7): V̂(s_t) = V(s_t) + alpha * CI(s_t) on every prefix, which in eq. 6 is the
       potential-based shaping term alpha * (gamma * CI(s_{t+1}) - CI(s_t)) added to r_t
    7. GAE on the shaped rewards (eqs. 5-6), returns, whitened advantages
    8. minibatch epochs: clipped policy loss + 0.5 * clipped value loss, AdamW, cosine LR
    9. adaptive KL coefficient, logging (objective/, loss/, policy/, val/), checkpoints

The value head learns the plain return (our reading; the paper does not say what V regresses),
so the CI term keeps shaping the advantages once V has converged (docs/ppo.md, "VCI").
Only the last 8 transformer blocks (their LoRA weights for a LoRA policy) and the value head
train (Table 3).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.errors import DataError, InputError
from core.rewrite import first_line
from train import ppo_math
from train.common import (
    Progress,
    RunLogger,
    StopOnInterrupt,
    bf16_unsupported_reason,
    check_causal_lm,
    check_finite,
    checkpoint_to_resume,
    load_checkpoint,
    reporting_full_disk,
    resolve_model_path,
    save_checkpoint,
    write_stage_tag,
)

STAGE = "ppo"


@dataclass
class PPOStageConfig:
    """PPO hyperparameters. Defaults: DiffChat Table 3 (RL column) and appendix A.5."""

    model_name_or_path: str = field(
        default="smollm2-base",
        metadata={
            "help": "Base causal LM: registry name, local folder or Hugging Face id.",
            "path": "read-or-id",
        },
    )
    adapter_path: str = field(
        default="",
        metadata={
            "help": "SFT LoRA adapter to start from (its LoRA weights are what PPO trains).",
            "path": "read-or-id",
        },
    )
    train_file: str = field(
        default="assets/instructpe/train.jsonl",
        metadata={"help": "InstructPE triplets.", "path": "read-or-id"},
    )
    output_dir: str = field(
        default="runs/ppo", metadata={"help": "Checkpoints, logs, final policy.", "path": "write"}
    )
    # Table 3, RL column
    num_train_epochs: float = field(
        default=5, metadata={"help": "Passes over the prompts (Table 3: 5)."}
    )
    batch_size: int = field(
        default=128, metadata={"help": "Rollouts per PPO step, all processes (Table 3: 128)."}
    )
    max_length: int = field(
        default=384, metadata={"help": "Max query + response tokens (Table 3: 384)."}
    )
    learning_rate: float = field(default=5e-6, metadata={"help": "Peak LR (Table 3: 5e-6)."})
    num_unfrozen_layers: int = field(
        default=8, metadata={"help": "Trainable last blocks (Table 3: 8)."}
    )
    weight_decay: float = field(
        default=1e-6, metadata={"help": "AdamW weight decay (Table 3: 1e-6)."}
    )
    # Appendix A.5
    init_kl_coef: float = field(
        default=0.05, metadata={"help": "Initial KL coefficient (A.5: 0.05)."}
    )
    adaptive_kl: bool = field(
        default=True, metadata={"help": "Adapt the KL coefficient (A.5: adaptive)."}
    )
    kl_target: float = field(
        default=6.0, metadata={"help": "Adaptive KL target (not in paper; TRL: 6)."}
    )
    kl_horizon: float = field(
        default=10000, metadata={"help": "Adaptive KL horizon (not in paper; TRL: 10000)."}
    )
    gamma: float = field(default=0.99, metadata={"help": "Discount (A.5: 0.99)."})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda (A.5: 0.95)."})
    typical_p: float = field(
        default=0.97, metadata={"help": "ADM+ typical sampling mass p (A.5: 0.97)."}
    )
    vci_alpha: float = field(
        default=0.05, metadata={"help": "VCI weight alpha of eq. 7 (A.5: 0.05)."}
    )
    adam_eps: float = field(default=1e-8, metadata={"help": "AdamW eps (A.5: 1e-8)."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1 (A.5: 0.9)."})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW beta2 (A.5: 0.95)."})
    lr_scheduler_type: str = field(
        default="cosine", metadata={"help": "LR schedule (A.5: cosine)."}
    )
    cliprange: float = field(default=0.2, metadata={"help": "Policy clip range (A.5: 0.2)."})
    cliprange_value: float = field(
        default=0.2, metadata={"help": "Value clip range (not in paper; TRL: 0.2)."}
    )
    vf_coef: float = field(
        default=0.5, metadata={"help": "Value loss scale w.r.t. policy loss (A.5: 0.5)."}
    )
    # Not in the paper
    ppo_epochs: int = field(
        default=4, metadata={"help": "Optimisation passes per batch (not in paper; TRL: 4)."}
    )
    mini_batch_size: int = field(
        default=32, metadata={"help": "Rollouts per optimizer step, all processes."}
    )
    micro_batch_size: int = field(
        default=8, metadata={"help": "Rollouts per forward pass (gradient accumulation)."}
    )
    max_new_tokens: int = field(default=128, metadata={"help": "Max response tokens."})
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "Gradient clipping (not in paper)."}
    )
    # ADM / VCI switches for ablations
    use_adm_positive: bool = field(
        default=True, metadata={"help": "ADM+: typical sampling (else plain sampling)."}
    )
    use_adm_negative: bool = field(
        default=True, metadata={"help": "ADM-: perturbed target prompts as rollouts."}
    )
    negative_rate: float = field(
        default=0.04, metadata={"help": "ADM- share of rollouts (section 3.3: 0.04)."}
    )
    negative_remove_share: float = field(
        default=0.5,
        metadata={"help": "ADM- share of removals, the rest replaced (section 3.3: 0.5)."},
    )
    use_vci: bool = field(
        default=True, metadata={"help": "VCI: add alpha * CI(prefix) to the values (eq. 7)."}
    )
    # Reward
    ci_threshold: float = field(default=0.7, metadata={"help": "CI threshold (Listing 1: 0.7)."})
    ci_weight: float = field(
        default=1.0, metadata={"help": "Weight of the thresholded CI score (Listing 1)."}
    )
    edit_weight: float = field(
        default=1.0,
        metadata={
            "help": "Weight of the verifiable edit score (core.instructions.check_edit: gains, "
            "losses, rest kept; not in paper). 0 gives the paper's reward."
        },
    )
    aesthetic_rm_path: str = field(
        default="",
        metadata={"help": "Aesthetic reward model folder (train.reward_model).", "path": "read"},
    )
    aesthetic_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of the aesthetic RM (used when its folder is given)."},
    )
    preference_rm_path: str = field(
        default="",
        metadata={"help": "PickScore reward model folder (train.reward_model).", "path": "read"},
    )
    preference_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of the preference RM (used when its folder is given)."},
    )
    # Run control
    max_steps: int = field(
        default=-1, metadata={"help": "Stop after this many PPO steps (-1: epochs)."}
    )
    max_train_rows: int = field(
        default=0, metadata={"help": "Use only the first N triplets (0: all)."}
    )
    save_steps: int = field(default=20, metadata={"help": "Checkpoint every N PPO steps."})
    save_total_limit: int = field(default=3, metadata={"help": "Keep this many checkpoints."})
    resume_from_checkpoint: str = field(
        default="",
        metadata={"help": "Checkpoint folder, or 'latest' in output_dir.", "path": "read"},
    )
    seed: int = field(default=0, metadata={"help": "Seed for data order, sampling and ADM-."})
    bf16: bool = field(
        default=False,
        metadata={
            "help": "bf16 autocast with fp32 master weights (a GPU with bf16, or a CPU with "
            "AVX-512 BF16 / AMX; refused elsewhere)."
        },
    )
    tensorboard: bool = field(default=True, metadata={"help": "Also log to TensorBoard."})

    def __post_init__(self) -> None:
        if min(self.batch_size, self.mini_batch_size, self.micro_batch_size, self.ppo_epochs) < 1:
            raise InputError("batch sizes and ppo_epochs must be at least 1.")
        if self.batch_size % self.mini_batch_size:
            raise InputError("batch_size must be a multiple of mini_batch_size.")
        if not 0.0 < self.typical_p < 1.0:
            raise InputError("typical_p must be in (0, 1).")
        if self.max_new_tokens < 1 or self.max_length <= self.max_new_tokens:
            raise InputError("max_length must exceed max_new_tokens (>= 1).")
        weights = self.reward_weights()
        negative = [f"--{name}_weight {weight}" for name, weight in weights.items() if weight < 0]
        if negative:
            raise InputError(f"reward weights must be >= 0: {', '.join(negative)}.")
        if not any(weights.values()):
            raise InputError("every reward weight is 0: PPO would have nothing to learn from.")

    def reward_weights(self) -> dict[str, float]:
        """Return {term name: weight} of every reward term (see `reward_terms`)."""
        return {
            "ci": self.ci_weight,
            "edit": self.edit_weight,
            "aesthetic": self.aesthetic_weight,
            "preference": self.preference_weight,
        }


# ---------------------------------------------------------------------------------------------
# Precision


def check_bf16(config: PPOStageConfig, device: torch.device) -> None:
    """Refuse (InputError) `--bf16 True` on a device without native bf16; else do nothing."""
    if not config.bf16:
        return
    reason = bf16_unsupported_reason(torch.device(device))
    if reason is not None:
        raise InputError(f"--bf16 True needs native bf16, but {reason}; run without --bf16.")


def autocast(config: PPOStageConfig, device: torch.device):
    """Return the forward-pass precision context: bf16 autocast with --bf16, else a no-op."""
    if not config.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


# ---------------------------------------------------------------------------------------------
# Models


def load_policy(config: PPOStageConfig):
    """Return (policy, reference, tokenizer).

    policy: PolicyWithValueHead over the base LM (+ the SFT adapter when given), only the last
    `num_unfrozen_layers` blocks and the value head trainable. reference: a frozen copy of the
    starting LM (DiffChat: the SFT model), used for the KL penalty. Refuses (InputError) a
    model that is not a causal LM.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.value_head import PolicyWithValueHead, load_value_head, unfreeze_last_layers

    path = resolve_model_path(config.model_name_or_path)
    check_causal_lm(path)
    has_own_tokenizer = (
        config.adapter_path and (Path(config.adapter_path) / "tokenizer_config.json").is_file()
    )
    tokenizer = AutoTokenizer.from_pretrained(config.adapter_path if has_own_tokenizer else path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # fp32 master weights always: with --bf16 only the forward passes run in bf16 (autocast);
    # bf16 weights would round most 5e-6 AdamW updates away (issue 10).
    language_model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if config.adapter_path:
        from peft import PeftModel

        language_model = PeftModel.from_pretrained(
            language_model, config.adapter_path, is_trainable=True
        )
    reference = copy.deepcopy(language_model)
    if config.adapter_path:
        reference = reference.merge_and_unload()
    reference.requires_grad_(False).eval()
    policy = PolicyWithValueHead(language_model)
    if config.adapter_path:
        load_value_head(policy, config.adapter_path)  # continue from an earlier PPO run
    unfreeze_last_layers(policy, config.num_unfrozen_layers)
    # Dropout off: the rollout log-probs must be those the update recomputes (ratio 1 at start).
    policy.eval()
    return policy, reference, tokenizer


@dataclass(frozen=True)
class RewardTerm:
    """One named term of the PPO reward: `score(rollouts)` is a float tensor [B]."""

    name: str
    weight: float
    score: Callable[[Any], torch.Tensor]


def reward_terms(config: PPOStageConfig, device: Any = "cpu") -> tuple[list[RewardTerm], list[str]]:
    """Return (terms, left_out): the reward terms that run, and one sentence per term left out.

    Terms: `ci` (thresholded CI against `ci_references`, Listing 1), `edit` (the instruction
    reader's `check_edit` score of the rewrite of x), and the reward models `aesthetic` and
    `preference` of `python -m train rm`, whose predictions are in standard units (z-scores
    of their training labels) so that the weights compare with the [0, 1] scores. A term with
    weight 0 is left out; so is a reward model whose folder or weights are missing (named in
    `left_out`, the rest runs). Refuses (InputError) a reward with no term left, and
    (TrainingError) a folder written by another stage.
    """
    from core.content_integrity import content_integrity
    from core.instructions import check_edit

    weights = config.reward_weights()
    terms, left_out = [], []

    def ci_score(rollouts) -> torch.Tensor:
        return torch.tensor(
            [
                content_integrity(*ci_references(t)[:3], text, threshold=config.ci_threshold).score
                for t, text in zip(rollouts.triplets, rollouts.response_texts, strict=True)
            ]
        )

    def edit_score(rollouts) -> torch.Tensor:
        return torch.tensor(
            [
                check_edit(t.raw_prompt, t.instruction, text).score
                for t, text in zip(rollouts.triplets, rollouts.response_texts, strict=True)
            ]
        )

    for name, score in (("ci", ci_score), ("edit", edit_score)):
        if weights[name] > 0:
            terms.append(RewardTerm(name, weights[name], score))
    for name, path in (
        ("aesthetic", config.aesthetic_rm_path),
        ("preference", config.preference_rm_path),
    ):
        if not path or weights[name] == 0:
            continue
        missing = _missing_reward_model(Path(path))
        if missing:
            left_out.append(f"{name}: {missing}; the reward runs without it")
            continue
        terms.append(RewardTerm(name, weights[name], _reward_model_score(path, config, device)))
    if not terms:
        raise InputError(
            "no reward term is left to run"
            + (f" ({'; '.join(left_out)})" if left_out else "")
            + ": give a reward model folder that exists or a weight > 0 for ci or edit."
        )
    return terms, left_out


def _missing_reward_model(folder: Path) -> str | None:
    if not folder.is_dir():
        return f"the reward model folder {folder} does not exist"
    if not (folder / "reward_head.json").is_file():
        return f"{folder} has no reward_head.json (not a finished `python -m train rm` output)"
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        return f"{folder} has no model weights"
    return None


def _reward_model_score(path: str, config: PPOStageConfig, device: Any):
    from train.reward_model import load_reward_model, predict

    model, tokenizer, head = load_reward_model(path)
    model.to(device)

    def score(rollouts) -> torch.Tensor:
        return torch.tensor(
            predict(
                model,
                tokenizer,
                rollouts.response_texts,
                head,
                max_length=config.max_length,
                standardized=True,
            )
        )

    return score


# ---------------------------------------------------------------------------------------------
# 1-2. Rollout


@dataclass
class Rollouts:
    """One batch of rollouts on this process. Tensors: queries left-padded, responses right-padded."""

    triplets: list[Any]
    query_ids: torch.Tensor  # [B, Lq]
    query_mask: torch.Tensor  # [B, Lq]
    response_ids: torch.Tensor  # [B, T]
    response_mask: torch.Tensor  # [B, T] float, 1 up to and including the stop
    negative: list[bool]  # ADM- rollouts (perturbed target prompts)
    response_texts: list[str]  # the first line of each response: what is scored
    token_texts: list[list[str]]  # the first-line text each real token adds (prefix CI)


def encode_queries(
    tokenizer, triplets: list[Any], max_query_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return left-padded query ids and mask of T(x, i) (the paper's template), cut from the left."""
    from train.sft import paper_prompt

    tokenizer.padding_side, tokenizer.truncation_side = "left", "left"
    batch = tokenizer(
        [paper_prompt(t.raw_prompt, t.instruction) for t in triplets],
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=max_query_length,
    )
    return batch.input_ids, batch.attention_mask


def stop_token_ids(tokenizer, language_model) -> list[int]:
    """Return the ids that end a rollout: EOS and every other special token.

    The rule of inference (core.rewrite's local rewriter, `stop_token_ids`): a rewrite never
    holds a special token, and a fine-tuned model may close its output with a neighbour of EOS.
    """
    eos = getattr(language_model.generation_config, "eos_token_id", None)
    eos_ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
    ids = set(eos_ids) | set(tokenizer.all_special_ids)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def newline_token_ids(tokenizer) -> set[int]:
    """Return the ids of the tokens whose text holds a newline (generation may stop at them)."""
    texts = tokenizer.batch_decode([[index] for index in range(len(tokenizer))])
    return {index for index, text in enumerate(texts) if "\n" in text}


def response_lengths(
    token_ids: list[list[int]], token_texts: list[list[str]], stop_ids: list[int]
) -> list[int]:
    """Return how many tokens of each response are real: up to and including its first stop.

    A response stops at its first special token (`stop_ids`) or at the token whose text holds
    its first newline, as inference does (it keeps only the first line and generates with
    stop_strings "\n"); every response keeps at least its first token.
    """
    stops = set(stop_ids)
    lengths = []
    for ids, texts in zip(token_ids, token_texts, strict=True):
        length = len(ids)
        for position, (token, text) in enumerate(zip(ids, texts, strict=True)):
            if token in stops or "\n" in text:
                length = position + 1
                break
        lengths.append(max(1, length))
    return lengths


def finish_responses(tokenizer, responses: list[list[int]], stop_ids: list[int]):
    """Return (response_ids [B, T], mask [B, T], first-line texts, per-token first-line texts).

    Rows are right-padded with the pad id; the mask is 1 on the real tokens
    (`response_lengths`). The per-token texts come from growing prefixes
    (`core.content_integrity.decoded_token_texts`), cut at the first newline, so that they join
    to the first line that the reward scores.
    """
    from core.content_integrity import decoded_token_texts

    token_texts = [decoded_token_texts(tokenizer, ids) for ids in responses]
    lengths = response_lengths(responses, token_texts, stop_ids)
    length = max(len(ids) for ids in responses)
    response_ids = torch.full((len(responses), length), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros(len(responses), length)
    kept_texts = []
    for index, (ids, real) in enumerate(zip(responses, lengths, strict=True)):
        response_ids[index, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[index, :real] = 1.0
        pieces = token_texts[index][:real]
        if pieces and "\n" in pieces[-1]:
            pieces[-1] = pieces[-1].split("\n", 1)[0]
        kept_texts.append(pieces)
    texts = [first_line("".join(pieces)) for pieces in kept_texts]
    return response_ids, mask, texts, kept_texts


def rollout(
    policy,
    tokenizer,
    triplets: list[Any],
    config: PPOStageConfig,
    negative_sampler,
    rng: random.Random,
) -> Rollouts:
    """Sample one response per triplet (no grads); swap in ADM- negatives. Returns Rollouts.

    A response ends where inference ends it: at its first special token or first newline
    (`finish_responses`).
    """
    from core.nlp import extract_keywords
    from train.adm import sample_responses

    device = next(policy.parameters()).device
    query_ids, query_mask = encode_queries(
        tokenizer, triplets, config.max_length - config.max_new_tokens
    )
    stop_ids = stop_token_ids(tokenizer, policy.language_model)
    # Rows also stop at a newline token, as inference does: later tokens would be cut anyway.
    generation_stops = sorted(set(stop_ids) | newline_token_ids(tokenizer))
    with autocast(config, device):
        sampled = sample_responses(
            policy.language_model,
            query_ids.to(device),
            query_mask.to(device),
            max_new_tokens=config.max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=generation_stops,
            typical_p=config.typical_p if config.use_adm_positive else None,
        ).cpu()
    responses = [row.tolist() for row in sampled]
    negative = [False] * len(triplets)
    if negative_sampler is not None:
        for index, triplet in enumerate(triplets):
            reference_target = ci_references(triplet)[2]
            perturbation = negative_sampler.maybe_perturb(
                triplet.target_prompt, rng, keywords=extract_keywords(reference_target)
            )
            if perturbation is not None:
                ids = tokenizer(" " + perturbation.text, add_special_tokens=False).input_ids
                responses[index] = (ids + [tokenizer.eos_token_id])[: config.max_new_tokens]
                negative[index] = True
    response_ids, response_mask, texts, token_texts = finish_responses(
        tokenizer, responses, stop_ids
    )
    return Rollouts(
        triplets, query_ids, query_mask, response_ids, response_mask, negative, texts, token_texts
    )


# ---------------------------------------------------------------------------------------------
# 3. Scores and content integrity


def ci_references(triplet) -> tuple[str, str, str, bool]:
    """Return (x_o, i, y_o, from_captions): the references content integrity scores against.

    DiffChat Listing 1 scores against the short InstructPix2Pix captions (x_o, i, y_o); data v2
    rows carry them as `raw_caption` / `target_caption`. A row without both captions falls
    back to its prompts (x, i, y), and `from_captions` says which ran.
    """
    raw_caption = (getattr(triplet, "raw_caption", None) or "").strip()
    target_caption = (getattr(triplet, "target_caption", None) or "").strip()
    if raw_caption and target_caption:
        return raw_caption, triplet.instruction, target_caption, True
    return triplet.raw_prompt, triplet.instruction, triplet.target_prompt, False


def score_rollouts(rollouts: Rollouts, terms: list[RewardTerm]) -> tuple[torch.Tensor, dict]:
    """Return (scores [B], parts): sum of weight * term over `terms`; parts[name] unweighted [B]."""
    parts = {term.name: term.score(rollouts).float() for term in terms}
    scores = sum(term.weight * parts[term.name] for term in terms)
    return scores, parts


def prefix_content_integrity(rollouts: Rollouts, threshold: float) -> torch.Tensor:
    """Return [B, T]: the thresholded CI of each response after each of its tokens, for VCI.

    Element [b, t] is CI(s_{t+1}), the CI of the first t + 1 tokens' first-line text
    (core's incremental CI over `rollouts.token_texts`); positions after the end repeat the
    last value (they are masked out).
    """
    from core.content_integrity import PrefixContentIntegrity

    batch, length = rollouts.response_ids.shape
    result = torch.zeros(batch, length)
    for index, (triplet, pieces) in enumerate(
        zip(rollouts.triplets, rollouts.token_texts, strict=True)
    ):
        scores = PrefixContentIntegrity(
            *ci_references(triplet)[:3], threshold=threshold
        ).prefix_scores(pieces, thresholded=True)
        result[index, : len(scores)] = torch.tensor(scores)
        result[index, len(scores) :] = scores[-1]
    return result


# ---------------------------------------------------------------------------------------------
# 4. Forward passes


def forward_policy(policy, query_ids, query_mask, response_ids, response_mask):
    """Return (logprobs [B, T], values [B, T], logits [B, T, V]) of the response tokens."""
    input_ids = torch.cat([query_ids, response_ids], dim=1)
    attention_mask = torch.cat([query_mask, response_mask.long()], dim=1)
    logits, values = policy(input_ids, attention_mask)
    start = query_ids.shape[1] - 1  # position predicting response token 0
    logits = logits[:, start:-1].float()
    return ppo_math.token_logprobs(logits, response_ids), values[:, start:-1].float(), logits


def forward_reference(
    reference, query_ids, query_mask, response_ids, response_mask
) -> torch.Tensor:
    """Return the frozen reference model's log-probs [B, T] of the response tokens."""
    from train.value_head import position_ids_for

    input_ids = torch.cat([query_ids, response_ids], dim=1)
    attention_mask = torch.cat([query_mask, response_mask.long()], dim=1)
    extra = position_ids_for(reference, attention_mask)
    logits = reference(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **extra
    ).logits
    start = query_ids.shape[1] - 1
    logits = logits[:, start:-1].float()
    return ppo_math.token_logprobs(logits, response_ids)


@dataclass
class Batch:
    """Everything the minibatch updates need, on this process."""

    query_ids: torch.Tensor
    query_mask: torch.Tensor
    response_ids: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor  # V(s_t) of the value head (what the value loss clips around)
    advantages: torch.Tensor
    returns: torch.Tensor


def make_batch(
    policy, reference, rollouts: Rollouts, scores, prefix_ci, kl_coef: float, config, device
):
    """Steps 4-7: log-probs, values, KL-shaped rewards, VCI values, GAE. Returns (Batch, stats)."""
    query_ids, query_mask = rollouts.query_ids.to(device), rollouts.query_mask.to(device)
    response_ids, mask = rollouts.response_ids.to(device), rollouts.response_mask.to(device)
    logprobs, values, ref_logprobs, entropies = [], [], [], []
    with torch.no_grad(), autocast(config, device):
        for part in _chunks(len(rollouts.triplets), config.micro_batch_size):
            lp, v, logits = forward_policy(
                policy, query_ids[part], query_mask[part], response_ids[part], mask[part]
            )
            (
                logprobs.append(lp),
                values.append(v),
                entropies.append(ppo_math.entropy_from_logits(logits)),
            )
            ref_logprobs.append(
                forward_reference(
                    reference, query_ids[part], query_mask[part], response_ids[part], mask[part]
                )
            )
    logprobs, values = torch.cat(logprobs), torch.cat(values)
    ref_logprobs, entropy = torch.cat(ref_logprobs), torch.cat(entropies)
    # 5. per-token KL penalty + score on the last token
    rewards, kl = ppo_math.kl_shaped_rewards(
        scores.to(device), logprobs, ref_logprobs, mask, kl_coef
    )
    # 6. DiffChat eq. 7 (VCI): V̂ = V + alpha * CI put into eq. 6 is potential-based shaping of
    # r_t, so it keeps acting once V has learned the return (ppo_math.content_integrity_shaping).
    if config.use_vci:
        ci_after = prefix_ci.to(device)
        shaping = ppo_math.content_integrity_shaping(ci_after, mask, config.vci_alpha, config.gamma)
    else:
        ci_after = shaping = torch.zeros_like(values)
    # 7. DiffChat eqs. 5-6 (GAE) on the shaped rewards; the value head learns the plain return.
    advantages, returns = ppo_math.advantages_and_returns(
        rewards, values, mask, config.gamma, config.lam, shaping if config.use_vci else None
    )
    plain_advantages = returns - values
    vci_shift = ppo_math.masked_mean((advantages - plain_advantages).abs(), mask)
    advantages = ppo_math.whiten(advantages, mask)
    stats = {
        "objective/kl": (kl.sum(1)).mean(),
        "objective/entropy": ppo_math.masked_mean(entropy, mask),
        "objective/scores": scores.mean(),
        "objective/rlhf_reward": (scores.to(device) - kl_coef * kl.sum(1)).mean(),
        "objective/response_length": mask.sum(1).mean(),
        "val/mean": ppo_math.masked_mean(values, mask),
        "val/vci_mean": ppo_math.masked_mean(ci_after, mask),
        "val/vci_shaping": ppo_math.masked_mean(shaping, mask),
        "val/vci_advantage_shift": vci_shift,
        "val/returns_mean": ppo_math.masked_mean(returns, mask),
    }
    batch = Batch(query_ids, query_mask, response_ids, mask, logprobs, values, advantages, returns)
    return batch, stats


def _chunks(count: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


# ---------------------------------------------------------------------------------------------
# 8. Updates


def ppo_update(
    policy, optimizer, scheduler, accelerator, batch: Batch, config, generator, step: int
) -> dict:
    """Minibatch epochs of clipped policy + value loss; returns mean loss/policy/val stats."""
    count = batch.query_ids.shape[0]
    mini = max(1, config.mini_batch_size // accelerator.num_processes)
    totals: dict[str, float] = {}
    updates = 0
    for _ in range(config.ppo_epochs):
        order = torch.randperm(count, generator=generator).tolist()
        for start in range(0, count, mini):
            indices = order[start : start + mini]
            for part in _chunks(len(indices), config.micro_batch_size):
                index = torch.tensor(indices[part], device=batch.query_ids.device)
                mask = batch.mask[index]
                with autocast(config, batch.query_ids.device):
                    logprobs, values, logits = forward_policy(
                        policy,
                        batch.query_ids[index],
                        batch.query_mask[index],
                        batch.response_ids[index],
                        mask,
                    )
                policy_loss, policy_stats = ppo_math.clipped_policy_loss(
                    logprobs, batch.logprobs[index], batch.advantages[index], mask, config.cliprange
                )
                value_loss, value_stats = ppo_math.clipped_value_loss(
                    values, batch.values[index], batch.returns[index], mask, config.cliprange_value
                )
                loss = policy_loss + config.vf_coef * value_loss
                check_finite(loss, step, "loss/total")
                accelerator.backward(loss * len(index) / len(indices))
                with torch.no_grad():
                    entropy = ppo_math.masked_mean(ppo_math.entropy_from_logits(logits), mask)
                for key, value in {
                    "loss/policy": policy_loss,
                    "loss/value": value_loss,
                    "loss/total": loss,
                    "policy/approxkl": policy_stats["approxkl"],
                    "policy/clipfrac": policy_stats["clipfrac"],
                    "policy/entropy": entropy,
                    "val/clipfrac": value_stats["clipfrac"],
                }.items():
                    totals[key] = totals.get(key, 0.0) + float(value.detach()) * len(index) / len(
                        indices
                    )
            if config.max_grad_norm > 0:
                accelerator.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            updates += 1
    return {key: value / updates for key, value in totals.items()}


def build_optimizer(policy, config: PPOStageConfig, total_updates: int):
    """Return (AdamW over the trainable parameters, cosine schedule) — DiffChat A.5."""
    from transformers import get_scheduler

    optimizer = torch.optim.AdamW(
        [p for p in policy.parameters() if p.requires_grad],
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_eps,
        weight_decay=config.weight_decay,
    )
    scheduler = get_scheduler(
        config.lr_scheduler_type, optimizer, num_warmup_steps=0, num_training_steps=total_updates
    )
    return optimizer, scheduler


# ---------------------------------------------------------------------------------------------
# The loop


def load_ppo_triplets(config: PPOStageConfig) -> list[Any]:
    """Return the training triplets; refuses (DataError) fewer rows than one batch."""
    from train.data import load_triplets

    triplets = list(load_triplets(config.train_file))
    if config.max_train_rows:
        triplets = triplets[: config.max_train_rows]
    if len(triplets) < config.batch_size:
        raise DataError(
            f"{len(triplets)} triplets are fewer than one PPO batch ({config.batch_size}); "
            "lower --batch_size or add data.",
            path=config.train_file,
        )
    return triplets


def batch_triplets(
    triplets: list[Any], step: int, config: PPOStageConfig, rank: int, world: int
) -> list[Any]:
    """Return this process's triplets for PPO step `step` (0-based): the data position is the step.

    Each epoch is a seeded permutation of the rows; a step takes the next batch_size of it and
    each process every world-th row of that batch.
    """
    per_epoch = len(triplets) // config.batch_size
    epoch, position = divmod(step, per_epoch)
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    order = torch.randperm(len(triplets), generator=generator).tolist()
    chosen = order[position * config.batch_size : (position + 1) * config.batch_size]
    return [triplets[i] for i in chosen[rank::world]]


def train_ppo(config: PPOStageConfig) -> Path:
    """Run PPO and return the folder of the final policy (adapter or model + value head).

    Refuses (InputError) a model that is not a causal LM, (DataError) too few triplets,
    (TrainingError) a checkpoint of another stage; stops with TrainingDivergedError on a
    NaN/inf loss, and with a TrainingError naming the checkpoint that stays the latest when
    the disk fills up (in a checkpoint, the log, or the final policy). Ctrl-C saves a
    checkpoint and returns early.
    """
    with reporting_full_disk(config.output_dir):
        return _train_ppo(config)


def _train_ppo(config: PPOStageConfig) -> Path:
    from accelerate import Accelerator

    from train.adm import NegativeSampler
    from train.value_head import TrainableParameters, save_policy

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    rank, world = accelerator.process_index, accelerator.num_processes
    if config.batch_size % world or (config.batch_size // world) < 1:
        raise InputError(
            f"batch_size {config.batch_size} must be a multiple of the {world} processes."
        )
    check_bf16(config, accelerator.device)
    torch.manual_seed(config.seed)
    triplets = load_ppo_triplets(config)
    policy, reference, tokenizer = load_policy(config)
    terms, left_out = reward_terms(config, accelerator.device)
    negative_sampler = None
    if config.use_adm_negative and config.negative_rate > 0:
        negative_sampler = NegativeSampler.from_target_prompts(
            [t.target_prompt for t in triplets], config.negative_rate, config.negative_remove_share
        )

    steps_per_epoch = len(triplets) // config.batch_size
    total_steps = (
        config.max_steps
        if config.max_steps > 0
        else math.ceil(steps_per_epoch * config.num_train_epochs)
    )
    updates_per_step = config.ppo_epochs * math.ceil(
        (config.batch_size // world) / max(1, config.mini_batch_size // world)
    )
    optimizer, scheduler = build_optimizer(policy, config, total_steps * updates_per_step)
    trainable = TrainableParameters(policy)
    kl_controller = ppo_math.AdaptiveKLController(
        config.init_kl_coef, config.kl_target, config.kl_horizon
    )

    policy, optimizer = accelerator.prepare(policy, optimizer)
    reference.to(accelerator.device)
    unwrapped = accelerator.unwrap_model(policy)
    start_step = 0
    resume = checkpoint_to_resume(config.resume_from_checkpoint, config.output_dir)
    if resume is not None:  # after prepare, so the optimizer state lands on the parameters' device
        state = load_checkpoint(
            resume,
            stage=STAGE,
            modules={"trainable": trainable},
            optimizer=optimizer,
            scheduler=scheduler,
        )
        start_step = state.step
        kl_controller.value = float(state.extra.get("kl_coef", kl_controller.value))

    is_main = accelerator.is_main_process
    logger = RunLogger(
        config.output_dir, STAGE, config, tensorboard=config.tensorboard, enabled=is_main
    )
    if is_main:
        reward = " + ".join(f"{term.weight:g} * {term.name}" for term in terms)
        print(
            f"[ppo] {len(triplets)} triplets, {total_steps} steps of {config.batch_size} rollouts, "
            f"{world} process(es); reward = {reward}"
            + f"; ADM+ {config.use_adm_positive}, ADM- {config.use_adm_negative}, VCI {config.use_vci}",
            flush=True,
        )
        for sentence in left_out:
            print(f"[ppo] reward term left out: {sentence}", flush=True)
        captioned = sum(ci_references(t)[3] for t in triplets)
        print(
            f"[ppo] content integrity references: captions (x_o, i, y_o) for {captioned} of "
            f"{len(triplets)} triplets, prompts (x, i, y) for the rest",
            flush=True,
        )
    step = start_step
    started = time.time()
    with (
        StopOnInterrupt() as stop,
        logger,
        Progress(total_steps, initial=start_step, desc="ppo", enabled=is_main) as progress,
    ):
        while step < total_steps:
            # Seeds depend on the step only, so a resumed run samples what the unbroken one would.
            torch.manual_seed(config.seed * 100003 + step * 101 + rank)
            rng = random.Random(f"{config.seed}-{step}-{rank}")
            part = batch_triplets(triplets, step, config, rank, world)
            # 1-2. rollout
            rollouts = rollout(unwrapped, tokenizer, part, config, negative_sampler, rng)
            # 3. scores, prefix CI
            scores, parts = score_rollouts(rollouts, terms)
            prefix_ci = (
                prefix_content_integrity(rollouts, config.ci_threshold)
                if config.use_vci
                else None  # make_batch uses zeros without VCI
            )
            # 4-7. log-probs, values, rewards, VCI, GAE
            batch, stats = make_batch(
                unwrapped,
                reference,
                rollouts,
                scores,
                prefix_ci,
                kl_controller.value,
                config,
                accelerator.device,
            )
            # 8. updates
            generator = torch.Generator().manual_seed(config.seed * 7919 + step)
            stats.update(
                ppo_update(
                    policy, optimizer, scheduler, accelerator, batch, config, generator, step
                )
            )
            for name, values in parts.items():
                stats[f"reward/{name}"] = values.mean()
            stats["reward/total"] = scores.mean()
            stats["objective/ci_on_captions"] = sum(
                ci_references(t)[3] for t in rollouts.triplets
            ) / len(rollouts.triplets)
            stats["objective/negative_share"] = sum(rollouts.negative) / len(rollouts.negative)
            stats = _mean_over_processes(accelerator, stats)
            # 9. adaptive KL, logging, checkpoints
            stats["objective/kl_coef"] = kl_controller.value
            if config.adaptive_kl:
                kl_controller.update(stats["objective/kl"], config.batch_size)
            stats["policy/learning_rate"] = scheduler.get_last_lr()[0]
            step += 1
            done = step - start_step
            stats["time/eta_s"] = (time.time() - started) / done * (total_steps - step)
            logger.log(step, stats)
            progress.update(
                1,
                score=stats["objective/scores"],
                kl=stats["objective/kl"],
                loss=stats["loss/total"],
            )
            if step % config.save_steps == 0 or stop.requested or step == total_steps:
                accelerator.wait_for_everyone()
                if is_main:
                    save_checkpoint(
                        config.output_dir,
                        step,
                        stage=STAGE,
                        config=config,
                        modules={"trainable": trainable},
                        optimizer=optimizer,
                        scheduler=scheduler,
                        data_position={"step": step},
                        extra={"kl_coef": kl_controller.value},
                        keep_last=config.save_total_limit,
                    )
            if stop.requested:
                break

    final = Path(config.output_dir) / "final"
    accelerator.wait_for_everyone()
    if is_main:
        save_policy(unwrapped, final, tokenizer)
        if config.adapter_path:
            _keep_base_model_name(Path(config.adapter_path), final)
        write_stage_tag(
            final,
            STAGE,
            config,
            step=step,
            stopped_early=stop.requested,
            kl_coef=kl_controller.value,
        )
    return final


def _keep_base_model_name(source_adapter: Path, final: Path) -> None:
    # peft writes the base model's local path; keep the name the SFT adapter was shipped with
    # (e.g. the registry name "smollm2-base") so the PPO adapter loads wherever that one does.
    import json

    source, target = source_adapter / "adapter_config.json", final / "adapter_config.json"
    if source.is_file() and target.is_file():
        name = json.loads(source.read_text()).get("base_model_name_or_path")
        config = json.loads(target.read_text())
        config["base_model_name_or_path"] = name
        target.write_text(json.dumps(config, indent=2) + "\n")


def _mean_over_processes(accelerator, stats: dict) -> dict[str, float]:
    keys = sorted(stats)
    values = torch.tensor([float(stats[key]) for key in keys], device=accelerator.device)
    values = (
        accelerator.reduce(values, reduction="mean") if accelerator.num_processes > 1 else values
    )
    return dict(zip(keys, values.tolist(), strict=True))


def parse_config(argv: list[str]) -> PPOStageConfig:
    """Parse command-line options into a PPOStageConfig (HfArgumentParser)."""
    from train.common import parse_stage_config

    return parse_stage_config(PPOStageConfig, argv)


def main(argv: list[str]) -> int:
    config = parse_config(argv)
    final = train_ppo(config)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"saved {final}")
    return 0
