"""Reading, checking and writing SQuAD v1.1 files; one SquadExample per question; article-level splits."""
from __future__ import annotations

import json
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence


from iss_harness.data.fetch import DataError
from iss_harness.data.squad.tokenize import Token, span_to_text, token_overlap, tokenize

SQUAD_VERSION = "1.1"

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


class QuestionId:
    """What training batches need of an example: its id (the prepare step keeps no tokens for training)."""

    __slots__ = ("qid",)

    def __init__(self, qid: str):
        self.qid = qid

    def __eq__(self, other) -> bool:
        return isinstance(other, QuestionId) and other.qid == self.qid

    def __repr__(self) -> str:
        return f"QuestionId({self.qid!r})"


# --- plain form: what a weights-only torch file may hold (dicts, lists, str, numbers) -------


def examples_to_plain(examples: Sequence[SquadExample | QuestionId]) -> list:
    """Examples as plain containers. A QuestionId becomes its id string; a SquadExample a dict whose
    tokens are [token, start, end] lists, shared (as in memory) by the questions of one paragraph."""
    tokens_of: dict[int, list] = {}

    def plain_tokens(tokens: list[Token]) -> list:
        if id(tokens) not in tokens_of:
            tokens_of[id(tokens)] = [[t.token, t.start, t.end] for t in tokens]
        return tokens_of[id(tokens)]

    out: list = []
    for ex in examples:
        if isinstance(ex, QuestionId):
            out.append(ex.qid)
            continue
        out.append(dict(qid=ex.qid, question=ex.question, question_tokens=plain_tokens(ex.question_tokens),
                        context=ex.context, context_tokens=plain_tokens(ex.context_tokens), answers=ex.answers,
                        answer_starts=ex.answer_starts,
                        answer_spans=[None if s is None else list(s) for s in ex.answer_spans],
                        title=ex.title, article_index=ex.article_index, paragraph_index=ex.paragraph_index))
    return out


def examples_from_plain(plain: Sequence) -> list[SquadExample | QuestionId]:
    """Inverse of ``examples_to_plain``; token lists shared in the file are shared again."""
    tokens_of: dict[int, list[Token]] = {}

    def tokens(items: list) -> list[Token]:
        if id(items) not in tokens_of:
            tokens_of[id(items)] = [Token(*t) for t in items]
        return tokens_of[id(items)]

    out: list = []
    for item in plain:
        if isinstance(item, str):
            out.append(QuestionId(item))
            continue
        out.append(SquadExample(**{**item, "question_tokens": tokens(item["question_tokens"]),
                                   "context_tokens": tokens(item["context_tokens"]),
                                   "answer_spans": [None if s is None else tuple(s) for s in item["answer_spans"]]}))
    return out


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
                spans = [token_overlap(starts, ends, b, b + len(t)) for t, b in zip(answers, begins)]
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
    from iss_harness.io import write_text_atomic

    articles = list(articles)
    check_squad_articles(articles, f"articles for {path}")
    write_text_atomic(path, json.dumps({"version": version, "data": articles}) + "\n")
    return Path(path)
