"""Loss math as small pure functions on tensors: the paper's objective (Liao, Wang et al., ICLR 2026,
arXiv 2603.09980, Eq. 2-4) and the baselines of README's "Methods and their settings" table.

Conventions:
- ``labels`` use -100 for positions that carry no loss (prompt, padding).
- ``token_log_probs`` (tru/modeling/log_probs.py, re-exported here) returns log p(y_t | x, y_<t) aligned
  with a mask of answer tokens.
- Token-level terms are token means over the batch (the authors' convention); sequence-level
  terms (NPO, SimNPO, DPO) are means over items of functions of sequence-summed log-probabilities.
- ``normalizer`` overrides the denominator of a mean. Multi-process training passes the global
  count divided by the world size, so that the data-parallel average of the per-process losses
  equals the loss of the whole global batch on one process.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tru.data.formatting import IGNORE_INDEX  # noqa: F401 (recipes read losses.IGNORE_INDEX)
from tru.modeling.log_probs import sequence_log_prob, token_log_probs  # noqa: F401 (losses.token_log_probs)


def _mean(total: torch.Tensor, count: torch.Tensor | float, normalizer: torch.Tensor | float | None):
    denominator = count if normalizer is None else normalizer
    if isinstance(denominator, torch.Tensor):
        denominator = denominator.clamp(min=1e-6)
    else:
        denominator = max(float(denominator), 1e-6)
    return total / denominator


def nll_loss(log_probs, mask, normalizer=None) -> torch.Tensor:
    """Token-mean negative log-likelihood (cross-entropy) over answer tokens."""
    return _mean(-(log_probs * mask).sum(), mask.sum(), normalizer)


def ga_loss(log_probs, mask, normalizer=None) -> torch.Tensor:
    """Gradient ascent: the negated NLL, so that minimising it raises the forget NLL."""
    return -nll_loss(log_probs, mask, normalizer)


def capped_ga_loss(log_probs, mask, cap: float, normalizer=None) -> torch.Tensor:
    """Gradient ascent that stops pushing a token down once its NLL reaches ``cap``:
    -mean_t min(-log p_t, cap). A token past the cap adds the constant ``cap`` and no gradient, so a
    small forget set trained for many epochs is not driven towards ever lower probabilities."""
    return -_mean((torch.clamp(-log_probs, max=cap) * mask).sum(), mask.sum(), normalizer)


def sequence_capped_ga_loss(log_probs, mask, cap: float, normalizer=None) -> torch.Tensor:
    """Gradient ascent that stops pushing an answer down once its mean NLL per token reaches ``cap``:
    -(sum_i n_i * min(NLL_i / n_i, cap)) / sum_i n_i, with n_i answer i's tokens. Below the cap it is
    ``ga_loss`` exactly; an answer past it adds a constant and no gradient, while every token of an
    answer still below it keeps its push (the token-level cap stops the push token by token)."""
    token_count = mask.sum(-1)
    total_nll = -(log_probs * mask).sum(-1)
    capped = torch.minimum(total_nll, cap * token_count)
    return -_mean(capped.sum(), mask.sum(), normalizer)


def wga_loss(log_probs, mask, beta: float = 1.0, normalizer=None) -> torch.Tensor:
    """Weighted GA: each token's log-probability weighted by p_t^beta (weights detached)."""
    weights = torch.exp(beta * log_probs).detach() * mask
    return _mean((weights * log_probs).sum(), mask.sum(), normalizer)


def npo_loss(seq_log_prob, ref_seq_log_prob, beta: float = 0.1, normalizer=None) -> torch.Tensor:
    """NPO: -(2/beta) * mean_i log sigmoid(-beta * (log p(y_i|x_i) - log p_ref(y_i|x_i)))."""
    log_ratio = seq_log_prob - ref_seq_log_prob
    per_item = -(2.0 / beta) * F.logsigmoid(-beta * log_ratio)
    return _mean(per_item.sum(), per_item.numel(), normalizer)


def simnpo_loss(seq_log_prob, lengths, beta: float = 4.5, delta: float = 0.0, normalizer=None) -> torch.Tensor:
    """SimNPO: -(2/beta) * mean_i log sigmoid(-(beta/|y_i|) * log p(y_i|x_i) - beta*delta)."""
    per_item = -(2.0 / beta) * F.logsigmoid(-(beta / lengths.clamp(min=1.0)) * seq_log_prob - beta * delta)
    return _mean(per_item.sum(), per_item.numel(), normalizer)


def dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta: float = 0.1, normalizer=None) -> torch.Tensor:
    """DPO on sequence-summed log-probs, scaled by 2/beta as NPO is:
    -(2/beta) * mean_i log sigmoid(beta * ((chosen - ref_chosen) - (rejected - ref_rejected)))."""
    margin = (chosen - ref_chosen) - (rejected - ref_rejected)
    per_item = -(2.0 / beta) * F.logsigmoid(beta * margin)
    return _mean(per_item.sum(), per_item.numel(), normalizer)


def kl_loss(logits: torch.Tensor, ref_logits: torch.Tensor, normalizer=None) -> torch.Tensor:
    """Token-mean KL(ref || model) of next-token distributions, one row per answer position.

    logits, ref_logits: [N, V] taken at the positions that predict an answer token.
    """
    log_p = torch.log_softmax(logits.float(), dim=-1)
    log_q_ref = torch.log_softmax(ref_logits.float(), dim=-1)
    per_token = (log_q_ref.exp() * (log_q_ref - log_p)).sum(-1)
    return _mean(per_token.sum(), per_token.numel(), normalizer)


def mse_loss(hidden: torch.Tensor, target: torch.Tensor, normalizer=None) -> torch.Tensor:
    """Mean over tokens (rows) of the squared error averaged over the hidden dimension (RMU)."""
    per_token = ((hidden.float() - target.float()) ** 2).mean(-1)
    return _mean(per_token.sum(), per_token.numel(), normalizer)
