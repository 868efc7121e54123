"""PPO arithmetic as small pure functions over tensors (DiffChat section 3.3, appendix A.5).

Shapes: B = rollouts in a batch, T = response tokens (right-padded); `mask` is 1.0 on real
response tokens and 0.0 on padding / tokens after the first EOS. Index t of `values` is the
value of the state *before* response token t is emitted (the hidden state that predicts it),
which is the convention of CleanRL and TRL's old PPOTrainer.

The training loop in train/ppo.py only calls these; each has a unit test against hand-worked
numbers in tests/test_ppo_math.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the mean of `values` over positions where `mask` is 1."""
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def masked_var(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the unbiased variance of `values` over positions where `mask` is 1."""
    mean = masked_mean(values, mask)
    count = mask.sum()
    variance = masked_mean((values - mean) ** 2, mask)
    if count > 1:
        variance = variance * count / (count - 1)
    return variance


def whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return `values` shifted to zero mean and scaled to unit variance over the mask.

    Padding positions come back as 0. Used on the advantages before the policy loss, as in
    TRL's old PPOTrainer.
    """
    mean, variance = masked_mean(values, mask), masked_var(values, mask)
    return (values - mean) * torch.rsqrt(variance + 1e-8) * mask


def kl_shaped_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (rewards [B, T], kl [B, T]): the per-token reward r_t of DiffChat eq. 6.

    r_t = -kl_coef * (log pi(y_t) - log pi_ref(y_t)) on every response token, plus the
    sequence score (reward models + content integrity, [B]) on the last real token. This is
    the KL-penalised reward of Ziegler et al. (2019) / InstructGPT that the paper follows.
    Refuses (ValueError) a row without any real token.
    """
    if (mask.sum(1) == 0).any():
        raise ValueError("every rollout needs at least one response token")
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    last = mask.sum(1).long() - 1  # [B] index of the last real token (responses are right-padded)
    rewards[torch.arange(rewards.shape[0]), last] += scores
    return rewards * mask, kl


def content_integrity_shaping(
    content_integrity_after: torch.Tensor, mask: torch.Tensor, alpha: float, gamma: float
) -> torch.Tensor:
    """Return F [B, T], F_t = alpha * (gamma * CI(s_{t+1}) - CI(s_t)): DiffChat eq. 7 (VCI).

    Putting eq. 7's V̂(s) = V(s) + alpha * CI(s) into eq. 6 gives
    delta_t = r_t + gamma * V(s_{t+1}) - V(s_t) + F_t, i.e. potential-based reward shaping
    (Ng et al., 1999) with potential alpha * CI, so GAE runs on rewards + F with the plain
    critic V, which learns the plain return. (Training V toward return - alpha * CI instead
    would make V + alpha * CI converge to the plain return and the term would fade.)

    `content_integrity_after[b, t]` is CI(s_{t+1}), the CI of the prefix that ends with token
    t; CI(s_0) of the empty response is 0. The state after the last real token is the whole
    response, and its potential is that response's CI (not 0, which would charge the end
    token -alpha * CI for finishing a good prompt). Padding positions get 0.
    """
    before = torch.zeros_like(content_integrity_after)
    before[:, 1:] = content_integrity_after[:, :-1]
    return alpha * (gamma * content_integrity_after - before) * mask


def generalized_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Return GAE advantages [B, T] — DiffChat eqs. 5-6 (Schulman et al., 2015b).

    delta_t = r_t + gamma * V(s_{t+1}) - V(s_t);  A_t = sum_l (gamma * lam)^l delta_{t+l}.
    The state after the last real token is terminal (V = 0); padding positions get 0.
    VCI (eq. 7) enters through the rewards: see `content_integrity_shaping`.
    """
    batch, length = rewards.shape
    values = values * mask
    advantages = torch.zeros_like(rewards)
    last_advantage = torch.zeros(batch, dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(last_advantage)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last_advantage = delta + gamma * lam * last_advantage
        # Padding after the end must not leak into the last real token's advantage.
        last_advantage = last_advantage * mask[:, t]
        advantages[:, t] = last_advantage
    return advantages


def advantages_and_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
    shaping: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (advantages, returns) [B, T] of one batch, with optional VCI shaping.

    advantages: GAE (eqs. 5-6) of rewards + `shaping` (`content_integrity_shaping`, eq. 7)
    under the critic V; returns: the plain GAE return A + V without the shaping, which is the
    value head's target, so V keeps estimating the return of the reward itself and the
    shaping keeps moving the advantages once V has converged.
    """
    plain = generalized_advantages(rewards, values, mask, gamma, lam)
    returns = plain + values
    if shaping is None:
        return plain, returns
    return generalized_advantages(rewards + shaping, values, mask, gamma, lam), returns


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return (loss, stats): PPO's clipped surrogate objective, negated, averaged over the mask.

    loss = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps))) (Schulman et al., 2017;
    clip 0.2 in DiffChat A.5). stats: clipfrac (share of tokens where the clip was active) and
    approxkl (mean of (log ratio)^2 / 2).
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    stats = {
        "clipfrac": masked_mean((clipped > unclipped).float(), mask),
        "approxkl": 0.5 * masked_mean(log_ratio**2, mask),
    }
    return loss, stats


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range_value: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return (loss, stats): 0.5 * mean(max((V - R)^2, (V_clipped - R)^2)) over the mask.

    V_clipped keeps the new value within `clip_range_value` of the rollout value, as in
    CleanRL and TRL's old PPOTrainer. stats: clipfrac of the value clip.
    """
    clipped_values = old_values + torch.clamp(
        values - old_values, -clip_range_value, clip_range_value
    )
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask)
    return loss, {"clipfrac": masked_mean((clipped_error > unclipped_error).float(), mask)}


def token_logprobs(logits: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """Return log p(token) [B, T] of each chosen token under `logits` [B, T, V]."""
    return torch.log_softmax(logits, dim=-1).gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Return the entropy of the softmax of `logits` along the last dimension."""
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


@dataclass
class AdaptiveKLController:
    """The adaptive KL coefficient of Ziegler et al. (2019), as in TRL's old PPOTrainer.

    After each batch, `update(kl, n_steps)` moves the coefficient so that the observed KL goes
    toward `target`: beta *= 1 + clip(kl / target - 1, -0.2, 0.2) * n_steps / horizon.
    DiffChat A.5: initial coefficient 0.05, adaptive (target and horizon are not given in the
    paper; TRL's defaults 6 and 10000 are used).
    """

    value: float = 0.05
    target: float = 6.0
    horizon: float = 10000.0

    def update(self, current_kl: float, n_steps: int) -> float:
        """Update and return the coefficient given the mean sequence KL of the last batch."""
        proportional_error = max(-0.2, min(0.2, current_kl / self.target - 1.0))
        self.value *= 1.0 + proportional_error * n_steps / self.horizon
        return self.value


def typical_support_mask(
    logits: torch.Tensor, typical_p: float, min_tokens_to_keep: int = 1
) -> torch.Tensor:
    """Return a bool mask of the tokens that locally typical sampling keeps (Meister et al., 2023).

    DiffChat eq. 3 (ADM+): sort tokens by |(-log p) - H| (distance of their information from
    the entropy H), and keep the smallest such prefix whose probabilities sum past
    `typical_p` (0.97 in A.5), at least `min_tokens_to_keep`. Same rule as transformers'
    TypicalLogitsWarper, which generate(typical_p=...) applies (that one also keeps tokens
    tied with the last kept one). Refuses (ValueError) a
    typical_p outside (0, 1).
    """
    if not 0.0 < typical_p < 1.0:
        raise ValueError(f"typical_p must be in (0, 1), got {typical_p}")
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    probs = log_probs.exp()
    entropy = -(probs * torch.nan_to_num(log_probs)).sum(-1, keepdim=True)
    distance = (-log_probs - entropy).abs()
    order = torch.sort(distance, dim=-1).indices
    cumulative = probs.gather(-1, order).cumsum(-1)
    # Number of tokens before the cumulative probability first exceeds typical_p, plus that one.
    keep_count = (cumulative < typical_p).sum(-1, keepdim=True) + 1
    keep_count = keep_count.clamp(min=min_tokens_to_keep, max=logits.shape[-1])
    ranks = torch.arange(logits.shape[-1], device=logits.device).expand_as(order)
    keep_sorted = ranks < keep_count
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
