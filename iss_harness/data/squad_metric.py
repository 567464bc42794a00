"""The official SQuAD v1.1 evaluation (evaluate-v1.1.py), reimplemented from its documented behaviour.

See ``../shared/data/squad/README.md``. In short:

* ``normalize_answer`` lower-cases, deletes every character of Python's ``string.punctuation``
  (ASCII only: curly quotes and en/em dashes survive), replaces the whole words a/an/the by a
  space, and folds runs of whitespace into single spaces, in that order;
* exact match compares normalised strings; F1 is computed on the whitespace tokens of the
  normalised strings with a multiset intersection (both empty: EM 1 but F1 0, as the script does);
* each question scores the max over its gold answers (duplicates included);
* totals run over every question of the data set: a question without prediction scores 0, and
  predictions for ids not in the data set are ignored;
* the result is in percent.

The numbers must agree with the official script, since the paper's EM/F1 come from it.
"""

from __future__ import annotations

import re
import string
import sys
from collections import Counter
from typing import Any, Iterable, Mapping, TextIO

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, drop the words a/an/the, fold whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """Token-level F1 of the normalised strings (0.0 when they share no token, even if both are empty)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def max_over_answers(metric, prediction: str, golds: Iterable[str]) -> float:
    """The best score of `prediction` against any of the gold answers."""
    scores = [metric(prediction, gold) for gold in golds]
    if not scores:
        raise ValueError("A question has no gold answer; SQuAD v1.1 gives every question at least one.")
    return max(scores)


def _articles_of(dataset: Any, err: TextIO) -> list:
    """The article list of a whole v1.1 JSON object (warning if its version is not 1.1), or the list itself."""
    if isinstance(dataset, Mapping):
        version = dataset.get("version")
        if version != "1.1":
            print(f"Warning: the metric is SQuAD v1.1's, but the dataset's version is {version!r}; "
                  "evaluating anyway.", file=err)
        if "data" not in dataset:
            raise ValueError("The dataset object has no 'data' list of articles.")
        return dataset["data"]
    return list(dataset)


def evaluate(dataset: Any, predictions: Mapping[str, str], *, err: TextIO | None = None,
             max_listed: int = 10) -> dict[str, float | int]:
    """Official v1.1 EM and F1 (percent) of `predictions` (question id -> answer text).

    `dataset` is the parsed JSON object of a v1.1 file (``{"version": ..., "data": [...]}``) or
    just its list of articles. Returns ``{"exact_match", "f1", "total", "unanswered"}``, where
    `total` counts every question in `dataset` and `unanswered` those without a prediction
    (they score 0). Unanswered questions are reported once on `err` (stderr by default), with
    their count and the first `max_listed` ids.
    """
    err = sys.stderr if err is None else err
    articles = _articles_of(dataset, err)
    em_sum = f1_sum = 0.0
    total = 0
    unanswered: list[str] = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                qid = qa["id"]
                if qid not in predictions:
                    unanswered.append(qid)
                    continue
                prediction = predictions[qid]
                golds = [answer["text"] for answer in qa["answers"]]
                em_sum += max_over_answers(exact_match, prediction, golds)
                f1_sum += max_over_answers(f1, prediction, golds)
    if total == 0:
        raise ValueError("The dataset has no questions to evaluate.")
    if unanswered:
        listed = ", ".join(unanswered[:max_listed]) + (", ..." if len(unanswered) > max_listed else "")
        print(f"{len(unanswered)} of {total} questions are unanswered and receive score 0: {listed}", file=err)
    return {
        "exact_match": 100.0 * em_sum / total,
        "f1": 100.0 * f1_sum / total,
        "total": total,
        "unanswered": len(unanswered),
    }
