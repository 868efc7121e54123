"""Tiny stand-ins for the training tests: a byte-level BPE tokenizer and a 2-layer random Llama.

Both are built in a second from seeded code, so the tests need no download and no fetched
asset, and run the same code path as SmolLM2 (a Llama-architecture causal LM).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

COLOURS = ["red", "blue", "green", "golden", "silver", "black", "white", "purple"]
THINGS = ["cat", "car", "house", "tree", "dog", "boat", "castle", "flower"]
STYLES = ["oil painting", "watercolor", "photo", "sketch", "digital art"]


def tiny_triplets(count: int = 32) -> list[SimpleNamespace]:
    """Return `count` deterministic colour-change triplets (raw_prompt, instruction, target_prompt)."""
    rows = []
    for index in range(count):
        thing = THINGS[index % len(THINGS)]
        old = COLOURS[index % len(COLOURS)]
        new = COLOURS[(index * 3 + 1) % len(COLOURS)]
        style = STYLES[index % len(STYLES)]
        rows.append(
            SimpleNamespace(
                raw_prompt=f"a {old} {thing}, {style}, detailed",
                instruction=f"make the {thing} {new}",
                target_prompt=f"a {new} {thing}, {style}, detailed",
            )
        )
    return rows


def write_triplets_jsonl(path: Path, triplets: list[SimpleNamespace]) -> Path:
    """Write triplets in InstructPE JSONL format and return the path."""
    path.write_text(
        "".join(
            json.dumps(
                {
                    "raw_prompt": t.raw_prompt,
                    "instruction": t.instruction,
                    "target_prompt": t.target_prompt,
                }
            )
            + "\n"
            for t in triplets
        )
    )
    return path


def build_tiny_tokenizer():
    """Return a PreTrainedTokenizerFast (byte-level BPE, ~400 tokens) trained on tiny_triplets."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from train.sft import paper_prompt

    corpus = []
    for t in tiny_triplets(64):
        corpus += [paper_prompt(t.raw_prompt, t.instruction), " " + t.target_prompt]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<pad>"
    )


def tiny_llama_config(tokenizer, **overrides):
    """Return the LlamaConfig of the tiny test models (2 layers, hidden 32) for `tokenizer`."""
    from transformers import LlamaConfig

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    return LlamaConfig(**(settings | overrides))


def save_tiny_llama(folder: Path, seed: int = 0) -> Path:
    """Save a 2-layer, hidden-32 random LlamaForCausalLM + tiny tokenizer into `folder`."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    config = tiny_llama_config(tokenizer)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
