"""PPO throughput on SmolLM2-135M on this machine: response tokens per second, by phase.

One PPO step (DiffChat section 3.3) on a small batch of the sample training split, timed phase
by phase in the same run: rollout (generation with ADM+ typical sampling), scoring (CI) and
prefix CI for VCI, the no-grad forward passes of policy and reference, and the minibatch
update. The first step is a warm-up and not reported.
"""

from __future__ import annotations

import os
import random
import time

BATCH = 8
MAX_NEW_TOKENS = 48
STEPS = 2


def main() -> None:
    import torch
    from accelerate import Accelerator

    from bench.__main__ import machine_description, write_result
    from train.adm import NegativeSampler
    from train.ppo import (
        PPOStageConfig,
        build_optimizer,
        load_policy,
        load_ppo_triplets,
        make_batch,
        ppo_update,
        prefix_content_integrity,
        reward_terms,
        rollout,
        score_rollouts,
    )

    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = PPOStageConfig(
        model_name_or_path="smollm2-base",
        batch_size=BATCH,
        mini_batch_size=BATCH,
        micro_batch_size=BATCH,
        ppo_epochs=1,
        max_new_tokens=MAX_NEW_TOKENS,
        max_train_rows=64,
        tensorboard=False,
    )
    torch.manual_seed(0)
    triplets = load_ppo_triplets(config)
    policy, reference, tokenizer = load_policy(config)
    policy.to(device), reference.to(device)
    optimizer, scheduler = build_optimizer(policy, config, total_updates=STEPS)
    accelerator = Accelerator(cpu=device == "cpu")
    terms, _ = reward_terms(config, device)
    sampler = NegativeSampler.from_target_prompts([t.target_prompt for t in triplets])
    timings: list[dict[str, float]] = []
    tokens = 0
    for step in range(STEPS):
        phase: dict[str, float] = {}
        part = triplets[step * BATCH : (step + 1) * BATCH]
        start = time.perf_counter()
        rollouts = rollout(policy, tokenizer, part, config, sampler, random.Random(step))
        phase["rollout (generate, typical_p)"] = time.perf_counter() - start
        start = time.perf_counter()
        scores, _ = score_rollouts(rollouts, terms)
        prefix_ci = prefix_content_integrity(rollouts, config.ci_threshold)
        phase["score + prefix CI"] = time.perf_counter() - start
        start = time.perf_counter()
        batch, _ = make_batch(policy, reference, rollouts, scores, prefix_ci, 0.05, config, device)
        phase["forward policy + reference"] = time.perf_counter() - start
        start = time.perf_counter()
        ppo_update(
            policy,
            optimizer,
            scheduler,
            accelerator,
            batch,
            config,
            torch.Generator().manual_seed(step),
            step,
        )
        phase["update (1 epoch)"] = time.perf_counter() - start
        if step > 0:  # step 0 warms up
            timings.append(phase)
            tokens += int(rollouts.response_mask.sum())
    total = {name: sum(t[name] for t in timings) for name in timings[0]}
    seconds = sum(total.values())
    lines = [
        "## PPO throughput (SmolLM2-135M, bench/bench_ppo.py)",
        "",
        f"Machine: {machine_description()}. Device: {device}, fp32. {STEPS - 1} measured step(s) of "
        f"{BATCH} rollouts, up to {MAX_NEW_TOKENS} new tokens, 1 PPO epoch, last 8 layers trainable.",
        "",
        f"**{tokens / seconds:.1f} response tokens/s** over a whole PPO step ({tokens} tokens in {seconds:.1f} s); "
        f"load average during the run {os.getloadavg()[0]:.1f} (this CPU is shared, so absolute numbers vary "
        "several-fold between runs; compare phases within one run only).",
        "",
        "| phase | seconds | share |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {value:.2f} | {value / seconds:.0%} |" for name, value in total.items()]
    slowest = max(total, key=total.get)
    lines += [
        "",
        f"The slowest phase is {slowest}. At this rate the paper's Table 3 PPO batch of 128 "
        f"rollouts would take about {seconds / BATCH * 128 / 60:.0f} minutes per step here "
        "(with 1 PPO epoch; the default is 4). On the lent H100 (fp32) a step of 64 rollouts, "
        "up to 96 new tokens and 4 PPO epochs took about 6 s (bench/results/ppo_on_shipped.md).",
    ]
    path = write_result("ppo", "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
