"""`python -m core rewrite`: rewrite a prompt for an instruction (DiffChat's text step).

One request:  --prompt P --instruction I      prints the new prompt (or {"prompt": ...})
Many:         --batch IN.jsonl                 one {"prompt", "instruction"} object a line in,
                                               one {"prompt": ...} line out per input line
                                               ({"prompt": null, "error": ...} for a blank or,
                                               with --skip-bad, a bad one)
Verified decoding: --candidates K               check the greedy rewrite; when it fails, rerank
                                               K beam candidates (core/rewrite.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import DataError, InputError
from core.rewrite import (
    DEFAULT_REWRITE_CANDIDATES,
    DEFAULT_REWRITER,
    MAX_REWRITE_CANDIDATES,
    ChatAPIRewriter,
    LocalCausalLMRewriter,
    Rewriter,
    check_rewrite_candidates,
    load_rewriter,
)
from core.validation import check_instruction

HELP = "Rewrite a text-to-image prompt for an edit instruction (local LM or chat API)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", help="the current text-to-image prompt")
    parser.add_argument("--instruction", help="what to change, e.g. 'make it night'")
    parser.add_argument(
        "--batch", type=Path, help="JSONL file of {'prompt', 'instruction'} objects"
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help='with --batch: answer a malformed line with {"prompt": null, "error": ...} '
        "and a warning instead of stopping",
    )
    parser.add_argument(
        "--backend", choices=("local", "openai"), default="local", help="where the LM runs"
    )
    parser.add_argument(
        "--model",
        default=None,
        help=f"local: registry name, model/adapter folder or hub id (default {DEFAULT_REWRITER}); "
        "openai: chat model name (default $DIFFCHAT_CHAT_MODEL)",
    )
    parser.add_argument("--json", action="store_true", help='print {"prompt": ...}')
    parser.add_argument(
        "--typical-p",
        type=float,
        default=None,
        help="sample with locally typical sampling at this mass (default: greedy)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --typical-p sampling")
    parser.add_argument("--num-beams", type=int, default=1, help="beam search width (local)")
    parser.add_argument(
        "--candidates",
        type=int,
        default=None,
        metavar="K",
        help="verified decoding: when the greedy rewrite fails the instruction check, try the "
        "reader's literal edit, then draw K candidates (beam n-best locally) and keep the best "
        f"(1-{MAX_REWRITE_CANDIDATES}; default {DEFAULT_REWRITE_CANDIDATES}, or 1 = greedy "
        "only with --typical-p)",
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=96, help="longest rewrite in LM tokens (local)"
    )


def _load(args: argparse.Namespace) -> Rewriter:
    if args.backend == "openai":
        if args.num_beams != 1:
            raise InputError("--num-beams works only with --backend local.")
        return ChatAPIRewriter.from_env(model=args.model)
    rewriter = load_rewriter(args.model)
    if isinstance(rewriter, LocalCausalLMRewriter):
        return rewriter.with_settings(num_beams=args.num_beams, max_new_tokens=args.max_new_tokens)
    if args.num_beams != 1:
        raise InputError(f"--num-beams does not apply to the {rewriter.name} rewriter.")
    return rewriter


def _check_decoding(args: argparse.Namespace) -> None:
    if args.candidates is None:  # --typical-p asks for one sample: no verified decoding
        args.candidates = 1 if args.typical_p is not None else DEFAULT_REWRITE_CANDIDATES
    check_rewrite_candidates(args.candidates)
    if args.candidates != 1 and args.typical_p is not None:
        raise InputError(
            "--candidates (verified decoding) and --typical-p (one sampled rewrite) are two "
            "ways to decode; give one of them."
        )


def _rewrite_all(rewriter: Rewriter, pairs: list[tuple[str, str]], args) -> list[str]:
    if args.candidates != 1:
        return [result.prompt for result in rewriter.rewrite_batch_verified(pairs, args.candidates)]
    if args.typical_p is None:
        return rewriter.rewrite_batch(pairs)
    return [
        rewriter.sample(prompt, instruction, 1, typical_p=args.typical_p, seed=args.seed)[0]
        for prompt, instruction in pairs
    ]


def read_batch(path: Path, skip_bad: bool) -> list[tuple[int, tuple[str, str] | str]]:
    """Return (line number, (prompt, instruction) or error message) for every line, blank ones
    included, so the output keeps one line per input line.

    Refuses (DataError naming file:line) a malformed line (not UTF-8, not JSON, a field that
    is missing or not a string) unless `skip_bad`, in which case the line's error message
    takes the place of the pair. A blank line always gets an error message, never a refusal.
    """
    from core.files import json_type_name, read_jsonl

    rows: list[tuple[int, tuple[str, str] | str]] = []
    for line in read_jsonl(path):
        try:
            if line.blank:
                rows.append((line.number, line.error))
                continue
            if line.record is None:
                raise ValueError(line.error)
            fields = []
            for name in ("prompt", "instruction"):
                value = line.record.get(name)
                if not isinstance(value, str):
                    wanted = "is missing" if name not in line.record else "must be a string"
                    found = "" if name not in line.record else f", not {json_type_name(value)}"
                    raise ValueError(f'"{name}" {wanted}{found}')
                fields.append(value)
            prompt, instruction = fields
            rows.append((line.number, (prompt, check_instruction(instruction).text)))
        except (ValueError, InputError) as error:
            if not skip_bad:
                raise DataError(str(error), path=str(path), line=line.number) from error
            print(f"warning: {path}:{line.number}: skipped: {error}", file=sys.stderr)
            rows.append((line.number, str(error)))
    return rows


def _run_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    rows = read_batch(args.batch, args.skip_bad)
    rewriter = _load(args)
    chunk_size = 8
    with tqdm(total=len(rows), desc="rewrite", unit="line", file=sys.stderr) as bar:
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start : start + chunk_size]
            pairs = [item for _, item in chunk if isinstance(item, tuple)]
            outputs = iter(_rewrite_all(rewriter, pairs, args))
            for _, item in chunk:
                record = (
                    {"prompt": next(outputs)}
                    if isinstance(item, tuple)
                    else {"prompt": None, "error": item}
                )
                print(json.dumps(record, ensure_ascii=False), flush=True)
            bar.update(len(chunk))
    return 0


def run(args: argparse.Namespace) -> int:
    _check_decoding(args)
    if args.batch is not None:
        if args.prompt is not None or args.instruction is not None:
            raise InputError("Give either --batch or --prompt/--instruction, not both.")
        return _run_batch(args)
    if args.prompt is None or args.instruction is None:
        raise InputError("Give --prompt and --instruction (or --batch FILE.jsonl).")
    checked = check_instruction(args.instruction)
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    rewriter = _load(args)
    if getattr(rewriter, "is_fallback", False):
        print(f"note: {rewriter.description}", file=sys.stderr)
    new_prompt = _rewrite_all(rewriter, [(args.prompt, checked.text)], args)[0]
    print(json.dumps({"prompt": new_prompt}, ensure_ascii=False) if args.json else new_prompt)
    return 0
