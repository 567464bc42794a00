"""SQuAD v1.1 for BiDAF: reading, tokenising with character offsets, vocabularies, GloVe, tensors.

Reading
    ``read_squad_json`` parses and checks a v1.1 file (``DataError`` naming the file and the place
    when it is not one); ``load_squad`` also turns it into one ``SquadExample`` per question.
    ``split_articles`` and ``write_squad_json`` cut a data set into disjoint article sets and write
    a part as a valid v1.1 file, so that SQuAD dev can stand in for the missing train set at the
    smoke/mid scales and the held-out part can still be scored by the official metric.

Tokenisation (``tokenize``) keeps character offsets: every token is ``text[start:end]``. Policy, a
simplified PTB/NLTK tokeniser with BiDAF's extra splits:

* whitespace separates tokens and is never part of one (also U+200B and U+FEFF);
* a *word* is a run of letters, digits, underscores and combining marks (so "Beyoncé", "São",
  Devanagari with vowel signs stay whole; soft hyphen and zero-width (non-)joiners stay inside);
* digits joined by "." or "," stay one token: "1,000", "3.14", "1,000,000.5";
* letters joined by an apostrophe (' or ’) stay one token ("O'Neil", "rock'n'roll"), except
  that the PTB clitics n't 's 're 've 'll 'm 'd are split off: "don't" -> "do" "n't",
  "Beyoncé’s" -> "Beyoncé" "’s";
* abbreviations of single letters with periods stay one token: "U.S.", "e.g.", "U.S.S.R.";
* runs of periods ("...") and of ASCII hyphens ("--") are one token;
* every other character (punctuation, symbols, quotes “ ” ‘ ’ " ', dashes - – — −, slashes,
  "$", "%", "°", ...) is a token of its own. In particular hyphenated words, dates and number
  ranges are split at the hyphen ("1990-91" -> "1990" "-" "91", "state-of-the-art" -> 7
  tokens), as BiDAF's ``process_tokens`` does.

Answers are mapped to the tokens that overlap their characters (``char_span_to_token_span``);
predictions are the original context text between the predicted tokens (``span_to_text``), so
the official metric sees the original spelling and spacing.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import re
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

import torch

from iss.data.fetch import DataError

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
SQUAD_VERSION = "1.1"


# --- tokenisation --------------------------------------------------------------------------


class Token(NamedTuple):
    """A token and its character span in the text it came from: ``text[start:end] == token``."""

    token: str
    start: int
    end: int


def _combining_mark_class() -> str:
    """Regex class body holding every combining mark (categories Mn, Mc, Me) of the BMP."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code))[0] == "M":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


# Word characters: \w (letters, digits, underscore), combining marks, soft hyphen, ZWNJ, ZWJ, word joiner.
_W = "[\\w" + _combining_mark_class() + "\u00ad\u200c\u200d\u2060]"
_APOSTROPHE = "['\u2019]"
_TOKEN_RE = re.compile(
    r"(?:[^\W\d_]\.){2,}"  # U.S. e.g. U.S.S.R.
    rf"|{_W}+(?:(?:(?<=\d)[.,](?=\d)|{_APOSTROPHE}(?={_W})){_W}+)*"  # words, 1,000.5, O'Neil, don't
    r"|\.{2,}|-{2,}"  # ... and --
    "|[^\\s\u200b\ufeff]"  # any other single character
)
_CLITIC_RE = re.compile(rf"(?:n{_APOSTROPHE}t|{_APOSTROPHE}(?:s|re|ve|ll|m|d))$", re.IGNORECASE)


def tokenize(text: str) -> list[Token]:
    """Tokens of `text` with their character offsets (policy in the module docstring)."""
    tokens: list[Token] = []
    for match in _TOKEN_RE.finditer(text):
        word, start, end = match.group(), match.start(), match.end()
        if "'" in word or "\u2019" in word:
            clitic = _CLITIC_RE.search(word)
            if clitic is not None and clitic.start() > 0:
                cut = start + clitic.start()
                tokens.append(Token(text[start:cut], start, cut))
                tokens.append(Token(text[cut:end], cut, end))
                continue
        tokens.append(Token(word, start, end))
    return tokens


def char_span_to_token_span(tokens: Sequence[Token], char_start: int, char_end: int) -> tuple[int, int] | None:
    """(first, last) index of the tokens overlapping characters [char_start, char_end), or None if none do.

    `tokens` must be in text order (as ``tokenize`` returns them). The last index is inclusive.
    """
    ends = [t.end for t in tokens]
    starts = [t.start for t in tokens]
    return _overlap(starts, ends, char_start, char_end)


def _overlap(starts: list[int], ends: list[int], char_start: int, char_end: int) -> tuple[int, int] | None:
    first = bisect.bisect_right(ends, char_start)  # first token ending after char_start
    last = bisect.bisect_left(starts, char_end) - 1  # last token starting before char_end
    return (first, last) if first <= last else None


def span_to_text(context: str, tokens: Sequence[Token], start: int, end: int) -> str:
    """The original context text from the start of token `start` to the end of token `end` (inclusive)."""
    if not 0 <= start <= end < len(tokens):
        raise IndexError(f"Token span ({start}, {end}) is not within 0..{len(tokens) - 1} with start <= end.")
    return context[tokens[start].start : tokens[end].end]


# --- reading and checking v1.1 files -------------------------------------------------------


def _expect(condition: bool, source: str, where: str, expected: str) -> None:
    if not condition:
        raise DataError(f"{source}: {where}: expected {expected}. This is not a SQuAD v1.1 file.")


def check_squad_articles(articles: Any, source: str = "<SQuAD data>") -> None:
    """Raise DataError unless `articles` is a list of SQuAD v1.1 articles.

    Checks every field the harness uses: article "paragraphs", paragraph "context" and "qas",
    question "id" (unique), "question" and "answers", and that each answer's text is the context
    at its "answer_start".
    """
    _expect(isinstance(articles, list), source, "top level", 'a "data" list of articles')
    seen_ids: dict[str, str] = {}
    for a, article in enumerate(articles):
        title = article.get("title", "") if isinstance(article, dict) else ""
        at = f"article {a} ({title!r})" if title else f"article {a}"
        _expect(isinstance(article, dict) and isinstance(article.get("paragraphs"), list),
                source, at, 'an object with a "paragraphs" list')
        for p, paragraph in enumerate(article["paragraphs"]):
            pat = f"{at}, paragraph {p}"
            _expect(isinstance(paragraph, dict), source, pat, 'an object with "context" and "qas"')
            _expect(isinstance(paragraph.get("context"), str), source, pat, 'a "context" string')
            _expect(isinstance(paragraph.get("qas"), list), source, pat, 'a "qas" list')
            context = paragraph["context"]
            for q, qa in enumerate(paragraph["qas"]):
                qat = f"{pat}, question {q}"
                _expect(isinstance(qa, dict) and isinstance(qa.get("id"), str), source, qat, 'an "id" string')
                qat = f"{pat}, question {qa['id']!r}"
                _expect(qa["id"] not in seen_ids, source, qat,
                        f"a unique id (it is also used in {seen_ids.get(qa['id'])})")
                seen_ids[qa["id"]] = pat
                _expect(isinstance(qa.get("question"), str), source, qat, 'a "question" string')
                _expect(isinstance(qa.get("answers"), list), source, qat, 'an "answers" list')
                for n, answer in enumerate(qa["answers"]):
                    nat = f"{qat}, answer {n}"
                    _expect(isinstance(answer, dict) and isinstance(answer.get("text"), str) and answer["text"] != "",
                            source, nat, 'a non-empty "text" string')
                    begin = answer.get("answer_start")
                    _expect(isinstance(begin, int) and not isinstance(begin, bool), source, nat,
                            'an integer "answer_start"')
                    text = answer["text"]
                    found = context[begin : begin + len(text)] if begin >= 0 else None
                    _expect(found == text, source, nat,
                            f"the context at answer_start {begin} to read {text!r}, but it reads {found!r}")


def parse_squad_json(obj: Any, source: str = "<SQuAD data>") -> dict:
    """Check a parsed v1.1 JSON object (see ``check_squad_articles``) and return it.

    A "version" other than "1.1" gives a warning, not an error.
    """
    _expect(isinstance(obj, dict) and isinstance(obj.get("data"), list), source, "top level",
            'a JSON object with a "data" list of articles')
    version = obj.get("version")
    if version != SQUAD_VERSION:
        warnings.warn(f"{source}: SQuAD version is {version!r}, expected {SQUAD_VERSION!r}; reading it anyway.",
                      stacklevel=3)
    check_squad_articles(obj["data"], source)
    return obj


def read_squad_json(path: str | Path) -> dict:
    """Parse and check a SQuAD v1.1 file; DataError (naming the file) when it is not one."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"Cannot read SQuAD file {path}: {err}") from err
    if not raw.strip():
        raise DataError(f"{path} is empty; expected a SQuAD v1.1 JSON file. Delete it and fetch it again.")
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not valid UTF-8 ({err}); expected a SQuAD v1.1 JSON file.") from err
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON ({err}); expected a SQuAD v1.1 JSON file. "
                        "Delete it and fetch it again.") from err
    return parse_squad_json(obj, str(path))


@dataclass
class SquadExample:
    """One question with its (tokenised) paragraph.

    Examples of the same paragraph share the `context` string and the `context_tokens` list.
    `answer_spans[k]` is the inclusive token span of `answers[k]`, or None when no token
    overlaps it (only possible for a whitespace-only answer).
    """

    qid: str
    question: str
    question_tokens: list[Token]
    context: str
    context_tokens: list[Token]
    answers: list[str]
    answer_starts: list[int]
    answer_spans: list[tuple[int, int] | None]
    title: str = ""
    article_index: int = 0
    paragraph_index: int = 0

    def answer_text(self, k: int = 0) -> str | None:
        """The context text of answer k's token span (what a perfect span prediction would output)."""
        span = self.answer_spans[k]
        return None if span is None else span_to_text(self.context, self.context_tokens, *span)


def examples_from_articles(articles: Sequence[Mapping]) -> list[SquadExample]:
    """One example per question of already checked articles, in file order."""
    examples: list[SquadExample] = []
    for a, article in enumerate(articles):
        title = article.get("title", "")
        for p, paragraph in enumerate(article["paragraphs"]):
            context = paragraph["context"]
            tokens = tokenize(context)
            starts = [t.start for t in tokens]
            ends = [t.end for t in tokens]
            for qa in paragraph["qas"]:
                answers = [ans["text"] for ans in qa["answers"]]
                begins = [ans["answer_start"] for ans in qa["answers"]]
                spans = [_overlap(starts, ends, b, b + len(t)) for t, b in zip(answers, begins)]
                examples.append(SquadExample(
                    qid=qa["id"], question=qa["question"], question_tokens=tokenize(qa["question"]),
                    context=context, context_tokens=tokens, answers=answers, answer_starts=begins,
                    answer_spans=spans, title=title, article_index=a, paragraph_index=p))
    return examples


def load_squad(path: str | Path) -> list[SquadExample]:
    """Read and check a SQuAD v1.1 file; one ``SquadExample`` per question."""
    return examples_from_articles(read_squad_json(path)["data"])


# --- article-level splits ------------------------------------------------------------------


def split_articles(articles: Sequence[Mapping], eval_fraction: float, seed: int) -> tuple[list, list]:
    """Split whole articles into (train, eval) parts, deterministic given `seed`.

    round(eval_fraction * n) articles (at least 1, and at most n - 1) are drawn for eval;
    each part keeps the original article order, and no article is in both.
    """
    n = len(articles)
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be strictly between 0 and 1, got {eval_fraction}.")
    if n < 2:
        raise ValueError(f"Need at least 2 articles to split, got {n}.")
    n_eval = min(max(1, round(eval_fraction * n)), n - 1)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    eval_idx = set(order[:n_eval])
    train = [articles[i] for i in range(n) if i not in eval_idx]
    held_out = [articles[i] for i in range(n) if i in eval_idx]
    return train, held_out


def write_squad_json(articles: Sequence[Mapping], path: str | Path, version: str = SQUAD_VERSION) -> Path:
    """Write `articles` as a SQuAD JSON file, atomically; they are checked first."""
    from iss.io import write_text_atomic

    articles = list(articles)
    check_squad_articles(articles, f"articles for {path}")
    write_text_atomic(path, json.dumps({"version": version, "data": articles}) + "\n")
    return Path(path)


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

    examples: list[SquadExample]
    encoded: list[_Encoded]
    limits: SquadLimits
    dropped: dict[str, int]

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
