"""The eligibility rule on per-criterion scores, and the loss that trains them.

A pair is eligible iff every inclusion criterion is met and no exclusion criterion is met. With a
probability p_i = sigmoid(logit_i) that criterion i is met, taken as independent,
P(eligible) = prod_inclusion p_i * prod_exclusion (1 - p_i): the pair's screening score. It is
differentiable, so pairs without per-criterion labels still train the criterion scorer through it
(multiple-instance learning from the pair label).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def log_eligible(
    met_logits: torch.Tensor, exclusion: torch.Tensor, pair_index: torch.Tensor, n_pairs: int
) -> torch.Tensor:
    """log P(eligible) per pair: the sum over its criteria of log P(criterion does not block).

    met_logits, exclusion (bool), pair_index: one entry per criterion; pair_index says whose it is.
    """
    allows = F.logsigmoid(torch.where(exclusion, -met_logits, met_logits))
    return allows.new_zeros(n_pairs).index_add(0, pair_index, allows)


def eligibility_loss(
    met_logits: torch.Tensor,
    criteria_met: torch.Tensor,
    log_p: torch.Tensor,
    labels: torch.Tensor,
    pair_index: torch.Tensor,
) -> torch.Tensor:
    """Binary cross-entropy on every criterion with a known status (criteria_met 1 or 0; -1 is
    unlabelled), plus on P(eligible) for the pairs none of whose criteria is labelled."""
    known = criteria_met >= 0
    loss = met_logits.new_zeros(())
    if known.any():
        loss = loss + F.binary_cross_entropy_with_logits(met_logits[known], criteria_met[known])
    unlabelled = torch.ones_like(labels, dtype=torch.bool).index_fill(0, pair_index[known], False)
    if unlabelled.any():
        log_p, labels = log_p[unlabelled].clamp(max=-1e-6), labels[unlabelled]
        log_not = torch.log(-torch.expm1(log_p))  # log(1 - p), exact near p = 1
        loss = loss - (labels * log_p + (1 - labels) * log_not).mean()
    return loss
