"""A CLIP tokenizer built offline from the BPE vocabulary that open_clip_torch ships.

The real CLIP tokenizer files (vocab.json, merges.txt) cannot be downloaded here, but
open_clip carries the same byte-pair merges in `bpe_simple_vocab_16e6.txt.gz`. The vocabulary
is the 256 byte symbols, the same with `</w>`, then one token per merge, then the two
special tokens: 49,408 entries, identical to openai/clip-vit-large-patch14's.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from core.paths import models_dir

CLIP_VOCAB_SIZE = 49408
CLIP_MAX_LENGTH = 77


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2/CLIP byte-to-printable-character table (same as open_clip.tokenizer.bytes_to_unicode).
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def _bpe_path() -> Path:
    import open_clip

    return Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"


def write_clip_tokenizer_files(folder: Path) -> Path:
    """Write vocab.json and merges.txt for a CLIP tokenizer into `folder` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = gzip.open(_bpe_path()).read().decode("utf-8").split("\n")
    # open_clip keeps the first 49152 - 256 - 2 merges (its SimpleTokenizer does the same).
    merges = lines[1 : 49152 - 256 - 2 + 1]
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [symbol + "</w>" for symbol in symbols]
    vocab += ["".join(merge.split()) for merge in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == CLIP_VOCAB_SIZE, len(vocab)
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder


@lru_cache(maxsize=1)
def clip_tokenizer_folder() -> Path:
    """Return a cached folder holding a saved CLIPTokenizer (built on first use)."""
    from transformers import CLIPTokenizer

    folder = models_dir() / "clip-tokenizer"
    if not (folder / "tokenizer_config.json").exists():
        # Build beside the target and rename, so concurrent first uses never see half a folder.
        staging = Path(tempfile.mkdtemp(prefix="clip-tokenizer-", dir=models_dir()))
        raw = write_clip_tokenizer_files(staging / "raw")
        tokenizer = CLIPTokenizer(
            vocab=str(raw / "vocab.json"),
            merges=str(raw / "merges.txt"),
            model_max_length=CLIP_MAX_LENGTH,
        )
        tokenizer.save_pretrained(staging)
        shutil.rmtree(raw)
        try:
            staging.rename(folder)
        except OSError:  # another process won the race; its folder is identical
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_clip_tokenizer():
    """Return a CLIPTokenizer with the real CLIP vocabulary, loaded from the offline cache."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(clip_tokenizer_folder())
