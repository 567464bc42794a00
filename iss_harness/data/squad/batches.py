"""Encoded examples as tensors (SquadDataset) and the padded batches BiDAF reads (SquadBatch)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Iterable, Iterator, Sequence

import torch

from iss_harness.data.squad.read import QuestionId, SquadExample, examples_from_plain, examples_to_plain
from iss_harness.data.squad.tokenize import Token, span_to_text
from iss_harness.data.squad.vocab import PAD_ID, UNK_ID, SquadVocab

# --- tensors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SquadLimits:
    """BiDAF's data limits (spec 2.5).

    Contexts are one token sequence per paragraph here (no sentence split), so for training
    `sent_size_th` is the context length: contexts are cut to it and a training example whose
    answer ends at or beyond it is dropped, as BiDAF's "max" filter does per sentence. Training
    questions longer than `ques_size_th` are dropped. Words keep their first `word_size_th`
    characters, everywhere. Evaluation examples are never dropped or cut (the official metric
    counts every question). `num_sents_th` and `para_size_th` are kept for the record only:
    BiDAF uses them when it splits paragraphs into sentences or squashes them, which this
    harness does not.
    """

    word_count_th: int = 10
    char_count_th: int = 50
    sent_size_th: int = 400
    ques_size_th: int = 30
    word_size_th: int = 16
    num_sents_th: int = 8
    para_size_th: int = 256


@dataclass
class SquadBatch:
    """Padded tensors of a batch. Masks are True at real tokens; answer indices are -1 when unknown."""

    indices: list[int]  # positions in SquadDataset.examples
    ids: list[str]
    context_words: torch.Tensor  # [B, N] long
    context_chars: torch.Tensor  # [B, N, W] long
    context_mask: torch.Tensor  # [B, N] bool
    question_words: torch.Tensor  # [B, M] long
    question_chars: torch.Tensor  # [B, M, W] long
    question_mask: torch.Tensor  # [B, M] bool
    answer_start: torch.Tensor  # [B] long, token index
    answer_end: torch.Tensor  # [B] long, token index (inclusive)

    def to(self, device: torch.device | str) -> "SquadBatch":
        moved = {name: getattr(self, name).to(device) for name in (
            "context_words", "context_chars", "context_mask", "question_words", "question_chars",
            "question_mask", "answer_start", "answer_end")}
        return SquadBatch(indices=self.indices, ids=self.ids, **moved)


@dataclass
class _Encoded:
    context_words: torch.Tensor  # [n] int32, possibly shared by the questions of a paragraph
    context_chars: torch.Tensor  # [n, W] int32
    question_words: torch.Tensor
    question_chars: torch.Tensor
    answer_start: int
    answer_end: int


@dataclass
class SquadDataset:
    """Encoded examples plus what was dropped; ``batches`` yields padded ``SquadBatch``es."""

    examples: list[SquadExample | QuestionId]
    encoded: list[_Encoded]
    limits: SquadLimits
    dropped: dict[str, int]

    def to_plain(self) -> dict:
        """Dicts, lists, strings, numbers and tensors only: what ``torch.load(weights_only=True)`` reads.
        A paragraph's context tensors stay shared by its questions (torch.save keeps one storage)."""
        return dict(examples=examples_to_plain(self.examples),
                    encoded={f.name: [getattr(e, f.name) for e in self.encoded] for f in fields(_Encoded)},
                    limits=asdict(self.limits), dropped=dict(self.dropped))

    @classmethod
    def from_plain(cls, plain: dict) -> "SquadDataset":
        columns = plain["encoded"]
        names = [f.name for f in fields(_Encoded)]
        encoded = [_Encoded(*values) for values in zip(*(columns[name] for name in names))]
        return cls(examples=examples_from_plain(plain["examples"]), encoded=encoded,
                   limits=SquadLimits(**plain["limits"]), dropped=dict(plain["dropped"]))

    def __len__(self) -> int:
        return len(self.encoded)

    def summary(self) -> str:
        kept = len(self.encoded)
        total = kept + sum(self.dropped.values())
        parts = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in self.dropped.items() if n)
        return f"{kept} of {total} examples kept" + (f" (dropped: {parts})" if parts else "")

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False) -> Iterator[SquadBatch]:
        """Batches in order, or in a random order fixed by `seed` (use e.g. seed + epoch per epoch)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        n = len(self.encoded)
        if shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
        else:
            order = list(range(n))
        stop = n - n % batch_size if drop_last else n
        for first in range(0, stop, batch_size):
            yield self._collate(order[first : first + batch_size])

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        n = len(self.encoded)
        return n // batch_size if drop_last else math.ceil(n / batch_size)

    def _collate(self, indices: list[int]) -> SquadBatch:
        items = [self.encoded[i] for i in indices]
        width = self.limits.word_size_th
        b = len(items)
        n = max(1, max(len(it.context_words) for it in items))
        m = max(1, max(len(it.question_words) for it in items))
        cw = torch.zeros(b, n, dtype=torch.long)
        cc = torch.zeros(b, n, width, dtype=torch.long)
        qw = torch.zeros(b, m, dtype=torch.long)
        qc = torch.zeros(b, m, width, dtype=torch.long)
        cmask = torch.zeros(b, n, dtype=torch.bool)
        qmask = torch.zeros(b, m, dtype=torch.bool)
        for row, it in enumerate(items):
            k, q = len(it.context_words), len(it.question_words)
            cw[row, :k] = it.context_words
            cc[row, :k] = it.context_chars
            cmask[row, :k] = True
            qw[row, :q] = it.question_words
            qc[row, :q] = it.question_chars
            qmask[row, :q] = True
        return SquadBatch(
            indices=indices, ids=[self.examples[i].qid for i in indices],
            context_words=cw, context_chars=cc, context_mask=cmask,
            question_words=qw, question_chars=qc, question_mask=qmask,
            answer_start=torch.tensor([it.answer_start for it in items], dtype=torch.long),
            answer_end=torch.tensor([it.answer_end for it in items], dtype=torch.long))

    def predictions(self, indices: Sequence[int], starts: Iterable[int], ends: Iterable[int]) -> dict[str, str]:
        """Question id -> original context text of the predicted token spans (input of the official metric)."""
        out = {}
        for i, s, e in zip(indices, starts, ends):
            ex = self.examples[i]
            out[ex.qid] = span_to_text(ex.context, ex.context_tokens, int(s), int(e))
        return out


def _encode_tokens(tokens: Sequence[Token], vocab: SquadVocab, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    words = torch.tensor([vocab.word_id(t.token) for t in tokens], dtype=torch.int32)
    char_to_id = vocab.char_to_id
    rows = []
    for t in tokens:
        ids = [char_to_id.get(c, UNK_ID) for c in t.token[:width]]
        rows.append(ids + [PAD_ID] * (width - len(ids)))
    chars = torch.tensor(rows, dtype=torch.int32).reshape(len(tokens), width)
    return words, chars


def encode(examples: Sequence[SquadExample], vocab: SquadVocab, limits: SquadLimits = SquadLimits(),
           training: bool = True) -> SquadDataset:
    """Token and character ids of `examples`, ready for ``SquadDataset.batches``.

    Training (``training=True``) uses the first gold answer, cuts contexts to
    `limits.sent_size_th` tokens and drops the examples it cannot train on, counted in
    ``dataset.dropped``: "no_answer" (no answer, or one covering no token),
    "answer_beyond_limit" (answer ends at or after token sent_size_th), "question_too_long"
    (more than ques_size_th tokens). Evaluation keeps every example at full length; its answer
    indices are those of the first answer (-1 if none).
    """
    width = limits.word_size_th
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id(context_tokens) -> encoded context
    kept: list[SquadExample] = []
    encoded: list[_Encoded] = []
    dropped = {"no_answer": 0, "answer_beyond_limit": 0, "question_too_long": 0} if training else {}
    for ex in examples:
        span = ex.answer_spans[0] if ex.answer_spans else None
        if training:
            if span is None:
                dropped["no_answer"] += 1
                continue
            if span[1] >= limits.sent_size_th:
                dropped["answer_beyond_limit"] += 1
                continue
            if len(ex.question_tokens) > limits.ques_size_th:
                dropped["question_too_long"] += 1
                continue
        key = id(ex.context_tokens)
        if key not in cache:
            cache[key] = _encode_tokens(ex.context_tokens, vocab, width)
        context_words, context_chars = cache[key]
        if training:
            context_words = context_words[: limits.sent_size_th]
            context_chars = context_chars[: limits.sent_size_th]
        question_words, question_chars = _encode_tokens(ex.question_tokens, vocab, width)
        start, end = span if span is not None else (-1, -1)
        kept.append(ex)
        encoded.append(_Encoded(context_words, context_chars, question_words, question_chars, start, end))
    return SquadDataset(examples=kept, encoded=encoded, limits=limits, dropped=dropped)
