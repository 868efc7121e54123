"""PPO arithmetic against hand-worked numbers (train/ppo_math.py)."""

from __future__ import annotations

import math

import pytest
import torch

from train import ppo_math


def test_gae_matches_hand_computed_example():
    # One rollout of 3 tokens + one padding position; gamma 0.5, lambda 0.5.
    rewards = torch.tensor([[1.0, 0.0, 2.0, 9.0]])
    values = torch.tensor([[0.5, 1.0, 1.5, 7.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    # delta_2 = 2 + 0.5*0 - 1.5 = 0.5 (terminal after the last real token)
    # delta_1 = 0 + 0.5*1.5 - 1.0 = -0.25
    # delta_0 = 1 + 0.5*1.0 - 0.5 = 1.0
    # A_2 = 0.5; A_1 = -0.25 + 0.25*0.5 = -0.125; A_0 = 1.0 + 0.25*(-0.125) = 0.96875
    advantages = ppo_math.generalized_advantages(rewards, values, mask, gamma=0.5, lam=0.5)
    assert advantages.tolist() == [[0.96875, -0.125, 0.5, 0.0]]


def test_gae_with_lambda_one_is_discounted_return_minus_value():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.2, 0.3, 0.4]])
    mask = torch.ones(1, 3)
    advantages = ppo_math.generalized_advantages(rewards, values, mask, gamma=0.9, lam=1.0)
    expected = torch.tensor([[0.81 - 0.2, 0.9 - 0.3, 1.0 - 0.4]])
    assert torch.allclose(advantages, expected)


def test_vci_shaping_is_alpha_times_the_discounted_change_in_ci():
    # CI after each token: 0, 0.8, 1.0 (then padding). CI before token 0 is 0; the state after
    # the last token is the whole response, potential 1.0.
    ci_after = torch.tensor([[0.0, 0.8, 1.0, 1.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    shaping = ppo_math.content_integrity_shaping(ci_after, mask, alpha=0.1, gamma=0.5)
    # F_0 = 0.1 * (0.5*0 - 0) = 0; F_1 = 0.1 * (0.5*0.8 - 0) = 0.04; F_2 = 0.1 * (0.5*1 - 0.8)
    assert torch.allclose(shaping, torch.tensor([[0.0, 0.04, -0.03, 0.0]]))


def test_vci_still_moves_the_advantages_once_the_critic_has_converged():
    # Toy episode: 3 tokens, the score 1.0 on the last one, no KL; gamma 0.5, lambda 0.5.
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    mask = torch.ones(1, 3)
    # A converged critic predicts the true return of every state: 0.25, 0.5, 1.0.
    values = torch.tensor([[0.25, 0.5, 1.0]])
    plain, returns = ppo_math.advantages_and_returns(rewards, values, mask, 0.5, 0.5)
    assert torch.allclose(plain, torch.zeros(1, 3))  # nothing left for the plain critic to say
    assert torch.allclose(returns, values)  # and its target is what it predicts: converged
    shaping = ppo_math.content_integrity_shaping(
        torch.tensor([[0.0, 0.8, 1.0]]), mask, alpha=0.1, gamma=0.5
    )
    shaped, shaped_returns = ppo_math.advantages_and_returns(
        rewards, values, mask, 0.5, 0.5, shaping
    )
    # A_2 = -0.03; A_1 = 0.04 + 0.25 * -0.03 = 0.0325; A_0 = 0 + 0.25 * 0.0325 = 0.008125
    assert torch.allclose(shaped, torch.tensor([[0.008125, 0.0325, -0.03]]))
    # The value target ignores the shaping, so the critic stays converged and VCI keeps acting.
    assert torch.allclose(shaped_returns, values)


def test_kl_shaped_rewards_put_the_score_on_the_last_real_token():
    scores = torch.tensor([1.0, 2.0])
    logprobs = torch.tensor([[-1.0, -1.0, -1.0], [-0.5, -2.0, -3.0]])
    ref_logprobs = torch.tensor([[-2.0, -1.0, -1.0], [-0.5, -1.0, -1.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    rewards, kl = ppo_math.kl_shaped_rewards(scores, logprobs, ref_logprobs, mask, kl_coef=0.1)
    assert torch.allclose(kl, torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, -2.0]]))
    assert torch.allclose(rewards, torch.tensor([[-0.1, 1.0, 0.0], [0.0, 0.1, 2.2]]))


def test_whiten_gives_zero_mean_unit_variance_on_the_mask():
    values = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    whitened = ppo_math.whiten(values, mask)
    assert whitened[0, 3] == 0.0
    assert torch.allclose(whitened[0, :3], torch.tensor([-1.0, 0.0, 1.0]), atol=1e-4)


def test_clipped_policy_loss_on_hand_values():
    old = torch.zeros(1, 2)
    # ratios e^0.5 = 1.6487 (clipped to 1.2) and e^-0.5 = 0.6065 (clipped to 0.8)
    new = torch.tensor([[0.5, -0.5]])
    advantages = torch.tensor([[1.0, 1.0]])
    loss, stats = ppo_math.clipped_policy_loss(
        new, old, advantages, torch.ones(1, 2), clip_range=0.2
    )
    # token 0: max(-1.6487, -1.2) = -1.2 (clipped); token 1: max(-0.6065, -0.8) = -0.6065
    assert loss.item() == pytest.approx((-1.2 - math.exp(-0.5)) / 2, rel=1e-5)
    assert stats["clipfrac"].item() == pytest.approx(0.5)
    assert stats["approxkl"].item() == pytest.approx(0.125)


def test_clipped_value_loss_on_hand_values():
    old_values = torch.tensor([[0.0, 0.0]])
    values = torch.tensor([[1.0, 0.1]])
    returns = torch.tensor([[2.0, 0.0]])
    loss, stats = ppo_math.clipped_value_loss(values, old_values, returns, torch.ones(1, 2), 0.2)
    # token 0: max((1-2)^2, (0.2-2)^2) = 3.24; token 1: max(0.01, 0.01) = 0.01
    assert loss.item() == pytest.approx(0.5 * (3.24 + 0.01) / 2)
    assert stats["clipfrac"].item() == pytest.approx(0.5)


def test_adaptive_kl_controller_moves_toward_target():
    controller = ppo_math.AdaptiveKLController(value=0.05, target=6.0, horizon=10000)
    # KL far above target: error clipped to +0.2 -> 0.05 * (1 + 0.2 * 100/10000)
    assert controller.update(60.0, 100) == pytest.approx(0.05 * 1.002)
    controller = ppo_math.AdaptiveKLController(value=0.05, target=6.0, horizon=10000)
    # KL 3 = half the target: error -0.5 clipped to -0.2
    assert controller.update(3.0, 100) == pytest.approx(0.05 * 0.998)


def test_typical_support_mask_on_a_hand_made_distribution():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.04, 0.01]])
    logits = probs.log()
    entropy = -(probs * probs.log()).sum()  # 1.2335 nats
    distance = (-probs.log() - entropy).abs()[0]
    # Order by |information - entropy|: 0.3 (0.029), 0.15 (0.664), 0.5 (0.540)... computed:
    order = torch.argsort(distance).tolist()
    assert order == [1, 0, 2, 3, 4]
    # cumulative mass in that order: 0.3, 0.8, 0.95, 0.99, 1.0
    mask = ppo_math.typical_support_mask(logits, typical_p=0.9)
    assert mask.tolist() == [[True, True, True, False, False]]
    mask = ppo_math.typical_support_mask(logits, typical_p=0.97)
    assert mask.tolist() == [[True, True, True, True, False]]
    mask = ppo_math.typical_support_mask(logits, typical_p=0.2)
    assert mask.tolist() == [[False, True, False, False, False]]


def test_typical_support_mask_agrees_with_transformers_warper():
    from transformers.generation.logits_process import TypicalLogitsWarper

    torch.manual_seed(0)
    logits = torch.randn(6, 50) * 3
    for mass in (0.5, 0.9, 0.97):
        warped = TypicalLogitsWarper(mass=mass)(None, logits.clone())
        expected = torch.isfinite(warped)
        assert torch.equal(ppo_math.typical_support_mask(logits, mass), expected)


def test_typical_support_mask_refuses_p_outside_0_1():
    with pytest.raises(ValueError, match="typical_p"):
        ppo_math.typical_support_mask(torch.zeros(1, 3), 1.0)
