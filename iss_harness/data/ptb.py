"""The Penn Treebank language-model corpus in Mikolov's format.

One sentence per line, words separated by spaces, rare words already replaced
by ``<unk>``. Each line ends with an ``<eos>`` token, which is how the standard
token counts (929,589 / 73,760 / 82,430) are obtained.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import torch

from iss_harness.data.fetch import MIRROR_ENV_VAR, DataError, sniff_bytes

EOS = "<eos>"
UNK = "<unk>"
SPLITS = ("train", "valid", "test")


PTB_EXPECTED = "PTB text: plain UTF-8, one sentence of space-separated words per line"


def _not_ptb(path: Path, problem: str, present: bool = True) -> DataError:
    action = "Delete it and fetch it again" if present else "Fetch it"
    return DataError(
        f"{path} {problem}; expected {PTB_EXPECTED}. {action} with `iss fetch-data ptb`; if it "
        f"comes back wrong, check the data mirror it came from (config key data.mirror or ${MIRROR_ENV_VAR})."
    )


def read_tokens(path: str | Path) -> list[str]:
    """Words of each line plus ``<eos>`` per line, after checking the file is plausible text.

    A file that is clearly not PTB text (missing, empty, an HTML page, compressed or
    binary data, not UTF-8, JSON, or without a single word) raises one DataError that
    names the file and says what to do.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _not_ptb(path, "does not exist", present=False) from None
    except IsADirectoryError:
        raise _not_ptb(path, "is a folder, not a file") from None
    except OSError as err:
        raise _not_ptb(path, f"cannot be read ({err.strerror or err})") from err
    if not raw:
        raise _not_ptb(path, "is empty")
    kind = sniff_bytes(raw[:4096])
    if kind:
        raise _not_ptb(path, kind)
    if b"\x00" in raw:
        raise _not_ptb(path, "holds binary data (NUL bytes), not text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _not_ptb(path, f"is not valid UTF-8 text (byte {err.start}: {err.reason})") from None
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(text)
        except ValueError:
            pass
        else:
            raise _not_ptb(path, "is JSON (perhaps an error reply from a server), not PTB text")

    # Split on "\n" only (not str.splitlines, which also breaks on other control characters).
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another one
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    if len(tokens) == len(lines):
        raise _not_ptb(path, "has no words, only blank lines")
    return tokens


class Vocabulary:
    """Word <-> id maps, ordered by frequency (descending) with ties broken alphabetically."""

    def __init__(self, itos: Sequence[str]):
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {word: i for i, word in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("Vocabulary words must be unique.")
        self.unk_id: int | None = self.stoi.get(UNK)

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], max_size: int | None = None, ensure_unk: bool = False) -> "Vocabulary":
        """Build from training tokens.

        `max_size`: keep the `max_size - 1` most frequent words other than ``<unk>``,
        and map the rest to ``<unk>``, giving exactly `max_size` types (or all types
        if there are no more than that). `ensure_unk` adds ``<unk>`` even when
        nothing is dropped, for training text that is a slice of the real corpus.
        """
        counts = Counter(tokens)
        if max_size is not None:
            if max_size < 1:
                raise ValueError(f"max_size must be at least 1, got {max_size}.")
            if len(counts) > max_size:
                others = sorted((w for w in counts if w != UNK), key=lambda w: (-counts[w], w))
                kept, dropped = others[: max_size - 1], others[max_size - 1 :]
                unk_count = counts.get(UNK, 0) + sum(counts[w] for w in dropped)
                counts = Counter({w: counts[w] for w in kept})
                counts[UNK] = unk_count
        if ensure_unk and UNK not in counts:
            if max_size is not None and len(counts) >= max_size:
                # Full: the last word in vocabulary order becomes <unk>, keeping exactly max_size types.
                rarest = sorted(counts, key=lambda w: (-counts[w], w))[-1]
                counts[UNK] = counts.pop(rarest)
            else:
                counts[UNK] = 0
        return cls(sorted(counts, key=lambda w: (-counts[w], w)))

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: Iterable[str]) -> torch.Tensor:
        """Ids as a 1-D LongTensor; unknown words become ``<unk>``, or raise if there is none."""
        stoi, unk = self.stoi, self.unk_id
        try:
            ids = [stoi[w] for w in tokens] if unk is None else [stoi.get(w, unk) for w in tokens]
        except KeyError as err:
            raise DataError(
                f"Word {err.args[0]!r} is not in the vocabulary, which has no {UNK} to map it to. "
                "Build the vocabulary with max_size or ensure_unk so that it has one."
            ) from None
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]


@dataclass
class Corpus:
    """The three PTB splits as 1-D LongTensors of ids, with the vocabulary built from train."""

    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    vocab: Vocabulary

    @classmethod
    def from_files(
        cls,
        train_path: str | Path,
        valid_path: str | Path,
        test_path: str | Path,
        vocab_size: int | None = None,
        max_tokens: int | Mapping[str, int] | None = None,
    ) -> "Corpus":
        """Read and encode the splits.

        `max_tokens` keeps only the first N tokens of each split (an int for all
        splits, or a dict such as ``{"train": 20000}``), for quick smoke runs on a
        slice of the real data. The vocabulary comes from the (sliced) train split;
        when train is sliced, ``<unk>`` is always included so valid/test words not
        seen in the slice can be encoded.
        """
        limits = _split_limits(max_tokens)
        paths = {"train": Path(train_path), "valid": Path(valid_path), "test": Path(test_path)}
        tokens = {}
        for split, path in paths.items():
            split_tokens = read_tokens(path)
            if limits[split] is not None:
                split_tokens = split_tokens[: limits[split]]
            tokens[split] = split_tokens

        vocab = Vocabulary.from_tokens(tokens["train"], max_size=vocab_size, ensure_unk=limits["train"] is not None)
        encoded = {}
        for split, split_tokens in tokens.items():
            try:
                encoded[split] = vocab.encode(split_tokens)
            except DataError as err:
                raise DataError(f"{paths[split]}: {err}") from None
        return cls(train=encoded["train"], valid=encoded["valid"], test=encoded["test"], vocab=vocab)


def _split_limits(max_tokens: int | Mapping[str, int] | None) -> dict[str, int | None]:
    if max_tokens is None:
        return {split: None for split in SPLITS}
    if isinstance(max_tokens, int):
        limits: dict[str, int | None] = {split: max_tokens for split in SPLITS}
    else:
        unknown = set(max_tokens) - set(SPLITS)
        if unknown:
            raise ValueError(f"max_tokens has unknown split(s) {sorted(unknown)}; use {list(SPLITS)}.")
        limits = {split: max_tokens.get(split) for split in SPLITS}
    for split, limit in limits.items():
        if limit is not None and limit < 2:
            raise ValueError(f"max_tokens[{split!r}] must be at least 2, got {limit}.")
    return limits


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a 1-D id stream into `batch_size` contiguous streams: shape [T, batch_size], time-major.

    Column b holds tokens ``b*T .. (b+1)*T - 1``; the remainder that does not fill
    a whole row is dropped.
    """
    if ids.dim() != 1:
        raise ValueError(f"batchify expects a 1-D tensor of ids, got shape {tuple(ids.shape)}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    steps = ids.numel() // batch_size
    if steps == 0:
        raise ValueError(f"Cannot batchify {ids.numel()} tokens into {batch_size} streams: need at least {batch_size}.")
    return ids[: steps * batch_size].view(batch_size, steps).t().contiguous()


def num_windows(data: torch.Tensor, num_steps: int) -> int:
    """How many (inputs, targets) windows `windows` yields: ceil((T - 1) / num_steps)."""
    _check_windows_args(data, num_steps)
    return math.ceil((data.size(0) - 1) / num_steps)


def windows(data: torch.Tensor, num_steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive (inputs, targets) slices of [T, B] data, each [t, B] with t <= num_steps.

    targets are inputs shifted one step ahead; the last window may be shorter.
    """
    _check_windows_args(data, num_steps)
    return _iter_windows(data, num_steps)


def _iter_windows(data: torch.Tensor, num_steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    last_input = data.size(0) - 1  # the final step has no next token to predict
    for start in range(0, last_input, num_steps):
        length = min(num_steps, last_input - start)
        yield data[start : start + length], data[start + 1 : start + 1 + length]


def _check_windows_args(data: torch.Tensor, num_steps: int) -> None:
    if data.dim() != 2:
        raise ValueError(f"windows expects batchified data of shape [T, B], got shape {tuple(data.shape)}.")
    if num_steps < 1:
        raise ValueError(f"num_steps must be at least 1, got {num_steps}.")
    if data.size(0) < 2:
        raise ValueError(f"Need at least 2 time steps to make (input, target) windows, got {data.size(0)}.")
