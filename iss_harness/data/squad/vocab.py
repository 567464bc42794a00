"""Vocabularies of words and characters, and GloVe vectors for the words that need them."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import torch

from iss_harness.data.fetch import DataError
from iss_harness.data.squad.read import SquadExample

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1


# --- vocabularies and GloVe ----------------------------------------------------------------


def count_words_and_chars(examples: Iterable[SquadExample]) -> tuple[Counter, Counter]:
    """Lower-cased word counts and (case-kept) character counts, as BiDAF's prepro counts them.

    Each example contributes its question and its context, so a paragraph's words count once
    per question asked about it (BiDAF adds ``len(qas)`` per context word).
    """
    words: Counter = Counter()
    chars: Counter = Counter()
    for ex in examples:
        for tokens in (ex.context_tokens, ex.question_tokens):
            for tok in tokens:
                words[tok.token.lower()] += 1
                chars.update(tok.token)
    return words, chars


def needed_words(examples: Iterable[SquadExample]) -> set[str]:
    """Every lower-cased word of the examples: the GloVe rows worth reading."""
    needed: set[str] = set()
    for ex in examples:
        needed.update(t.token.lower() for t in ex.question_tokens)
        needed.update(t.token.lower() for t in ex.context_tokens)
    return needed


@dataclass
class SquadVocab:
    """Word and character ids.

    `words` is id -> lower-cased word. Ids below `num_trainable_words` are trained: <pad> (0),
    <unk> (1) and frequent words without a GloVe vector; ids from `num_trainable_words` on are
    GloVe words whose vectors stay fixed (BiDAF's ``use_glove_for_unk`` without fine-tuning).
    `chars` is id -> character, with <pad> (0) and <unk> (1).
    """

    words: list[str]
    chars: list[str]
    num_trainable_words: int
    word_to_id: dict[str, int] = field(init=False, repr=False)
    char_to_id: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.words[:2] != [PAD, UNK] or self.chars[:2] != [PAD, UNK]:
            raise ValueError(f"Word and char vocabularies must start with {PAD!r}, {UNK!r}.")
        if not 2 <= self.num_trainable_words <= len(self.words):
            raise ValueError(f"num_trainable_words must be in 2..{len(self.words)}, got {self.num_trainable_words}.")
        self.word_to_id = {w: i for i, w in enumerate(self.words)}
        self.char_to_id = {c: i for i, c in enumerate(self.chars)}
        if len(self.word_to_id) != len(self.words) or len(self.char_to_id) != len(self.chars):
            raise ValueError("Vocabulary entries must be unique.")

    @property
    def num_glove_words(self) -> int:
        return len(self.words) - self.num_trainable_words

    def word_id(self, token: str) -> int:
        return self.word_to_id.get(token.lower(), UNK_ID)

    def char_id(self, char: str) -> int:
        return self.char_to_id.get(char, UNK_ID)

    def glove_matrix(self, glove: Mapping[str, torch.Tensor], dim: int) -> torch.Tensor:
        """[num_glove_words, dim] float tensor: the fixed vectors, row k for word id num_trainable_words + k."""
        rows = [glove[w] for w in self.words[self.num_trainable_words:]]
        if not rows:
            return torch.zeros(0, dim)
        matrix = torch.stack([torch.as_tensor(r, dtype=torch.float32) for r in rows])
        if matrix.shape[1] != dim:
            raise ValueError(f"GloVe vectors have {matrix.shape[1]} dimensions, expected {dim}.")
        return matrix


def build_vocab(train_examples: Iterable[SquadExample], glove_words: Iterable[str] | None = None,
                word_count_th: int = 10, char_count_th: int = 50) -> SquadVocab:
    """Vocabularies from training examples (counted as in ``count_words_and_chars``).

    Trainable words: lower-cased words seen more than `word_count_th` times that are not in
    `glove_words`, most frequent first (ties alphabetical). Fixed words: every word of
    `glove_words` (e.g. the keys of ``read_glove(..., needed_words(train + eval examples))``),
    sorted. Characters: seen more than `char_count_th` times, most frequent first.
    """
    word_counts, char_counts = count_words_and_chars(train_examples)
    glove = set(glove_words or ())
    glove.discard(PAD)
    glove.discard(UNK)
    trainable = sorted((w for w, c in word_counts.items() if c > word_count_th and w not in glove),
                       key=lambda w: (-word_counts[w], w))
    chars = sorted((ch for ch, c in char_counts.items() if c > char_count_th and ch not in (PAD, UNK)),
                   key=lambda ch: (-char_counts[ch], ch))
    words = [PAD, UNK] + trainable
    return SquadVocab(words=words + sorted(glove), chars=[PAD, UNK] + chars, num_trainable_words=len(words))


def read_glove(path: str | Path, dim: int, words_needed: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """Vectors of the `words_needed` (all words if None) from a GloVe text file, streamed line by line.

    Every line must be a word followed by `dim` numbers, separated by single spaces; otherwise a
    DataError names the file and the line.
    """
    path = Path(path)
    needed = None if words_needed is None else set(words_needed)
    vectors: dict[str, torch.Tensor] = {}
    lines = 0
    try:
        with open(path, encoding="utf-8") as f:
            for lines, line in enumerate(f, start=1):
                line = line.rstrip("\n").rstrip("\r")
                word, _, rest = line.partition(" ")
                if line.count(" ") != dim or not word:
                    raise DataError(f"{path}, line {lines}: expected a word and {dim} numbers "
                                    f"({dim + 1} space-separated fields), got {len(line.split(' '))} fields. "
                                    "Is this a GloVe text file of that dimension?")
                if needed is not None and word not in needed:
                    continue
                try:
                    values = [float(x) for x in rest.split(" ")]
                except ValueError as err:
                    raise DataError(f"{path}, line {lines}: a vector entry is not a number ({err}).") from err
                vectors[word] = torch.tensor(values, dtype=torch.float32)
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not valid UTF-8 ({err}); expected a GloVe text file.") from err
    except OSError as err:
        raise DataError(f"Cannot read GloVe file {path}: {err}") from err
    if lines == 0:
        raise DataError(f"{path} is empty; expected a GloVe text file.")
    return vectors
