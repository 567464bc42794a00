"""Best-span decoding: the answer span of highest p_start x p_end, end not before start."""
from __future__ import annotations


import torch


# --- best-span decoding --------------------------------------------------------------------


def best_spans(p_start: torch.Tensor, p_end: torch.Tensor, mask: torch.Tensor | None = None,
               max_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched ``best_span``: for [B, N] probabilities, the (i, j) with i <= j maximising p_start[i] * p_end[j].

    `mask` [B, N] marks valid positions (default: all). `max_length` bounds j - i + 1.
    Returns LongTensors start [B], end [B] and the scores [B]. O(N) per row without
    `max_length` (running max, as BiDAF), O(N * max_length) with it. Ties go to the earliest
    end, then the earliest start, as in BiDAF's ``get_best_span``. Probabilities must be >= 0.
    A row without any valid position gets (0, 0, -inf).
    """
    if p_start.shape != p_end.shape or p_start.dim() != 2:
        raise ValueError(f"p_start and p_end must both be [B, N]; got {tuple(p_start.shape)} and {tuple(p_end.shape)}.")
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}.")
    batch, n = p_start.shape
    neg_inf = torch.tensor(float("-inf"), dtype=p_start.dtype, device=p_start.device)
    if mask is None:
        mask = torch.ones_like(p_start, dtype=torch.bool)
    mask = mask.to(torch.bool)
    if n == 0:
        empty = torch.zeros(batch, dtype=torch.long, device=p_start.device)
        return empty, empty.clone(), neg_inf.expand(batch).clone()
    starts_masked = torch.where(mask, p_start, neg_inf)
    positions = torch.arange(n, device=p_start.device)
    if max_length is None or max_length >= n:
        # Running max; cummax breaks ties towards the last index, so find where each max begins.
        best, _ = torch.cummax(starts_masked, dim=1)
        rises = torch.ones_like(mask)
        rises[:, 1:] = best[:, 1:] > best[:, :-1]
        best_start = torch.cummax(torch.where(rises, positions, torch.zeros_like(positions)), dim=1).values
    else:
        # Window max over i in [j - max_length + 1, j]; torch.max picks the first maximum.
        padded = torch.nn.functional.pad(starts_masked, (max_length - 1, 0), value=float("-inf"))
        best, offset = padded.unfold(1, max_length, 1).max(dim=2)
        best_start = positions - (max_length - 1) + offset
    valid = mask & (best > neg_inf)
    scores = torch.where(valid, best * p_end, neg_inf)
    score, end = scores.max(dim=1)
    start = best_start.gather(1, end[:, None]).squeeze(1)
    none = score == neg_inf
    start = torch.where(none, torch.zeros_like(start), start).clamp(min=0)
    end = torch.where(none, torch.zeros_like(end), end)
    return start, end, score


def best_span(p_start, p_end, max_length: int | None = None) -> tuple[int, int, float]:
    """(i, j, p_start[i] * p_end[j]) maximised over i <= j (and j - i + 1 <= max_length if given)."""
    ps = torch.as_tensor(p_start, dtype=torch.float64).reshape(1, -1)
    pe = torch.as_tensor(p_end, dtype=torch.float64).reshape(1, -1)
    if ps.shape[1] == 0:
        raise ValueError("best_span needs at least one position.")
    start, end, score = best_spans(ps, pe, max_length=max_length)
    return int(start[0]), int(end[0]), float(score[0])
