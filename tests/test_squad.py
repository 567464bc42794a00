"""Tests for iss_harness.data.squad (reading, tokenising, spans, vocabularies, tensors) and iss_harness.data.squad_metric.

Everything runs on a small hand-written SQuAD-like file made in tmp_path, except the test
marked ``data``, which reads the real dev set through ISS_DATA_MIRROR.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random

import pytest
import torch

from iss_harness.data.fetch import MIRROR_ENV_VAR, DataError, fetch
from iss_harness.data.squad import (PAD_ID, UNK_ID, SquadLimits, Token, best_span, best_spans, build_vocab,
                       char_span_to_token_span, count_words_and_chars, encode, examples_from_articles,
                       load_squad, needed_words, read_glove, read_squad_json, span_to_text, split_articles,
                       tokenize, write_squad_json)
from iss_harness.data.squad_metric import evaluate, exact_match, f1, normalize_answer

# --- a tiny SQuAD-like data set ------------------------------------------------------------


def _qa(qid: str, question: str, context: str, *answers: str) -> dict:
    return {"id": qid, "question": question,
            "answers": [{"text": a, "answer_start": context.index(a)} for a in answers]}


def _paragraph(context: str, *qas: tuple) -> dict:
    return {"context": context, "qas": [_qa(qid, q, context, *answers) for qid, q, *answers in qas]}


SB1 = ("Super Bowl 50 was an American football game played on February 7, 2016, at Levi’s Stadium "
       "in Santa Clara, California. The Denver Broncos defeated the Carolina Panthers 24–10, earning "
       "their third title.  About 71,088 fans attended; tickets cost $3,000–$5,000.")
SB2 = ("Beyoncé’s halftime show featured “Formation,” and Coldplay’s set was called \"uplifting\" by "
       "critics. The game was broadcast in the U.S. by CBS.")
SP1 = ("São Paulo is the most populous city in Brazil, with 12.3 million people (2019).\n"
       "It was founded in 1554 by Jesuit priests — José de Anchieta and Manuel da Nóbrega.")
SP2 = "The city's GDP grew 3.5% in 1990-91; it didn't fall until 2014."
CAT = "A cat sat on the mat. The mat was red."


def tiny_articles() -> list[dict]:
    return [
        {"title": "Super_Bowl_Test", "paragraphs": [
            _paragraph(SB1,
                       ("q1", "Who won Super Bowl 50?", "Denver Broncos", "Denver Broncos", "The Denver Broncos"),
                       ("q2", "What was the final score?", "24–10"),
                       ("q3", "How many fans attended?", "71,088", "About 71,088")),
            _paragraph(SB2,
                       ("q4", "Which song did Beyoncé perform?", "Formation"),
                       ("q5", "Who broadcast the game in the U.S.?", "CBS")),
        ]},
        {"title": "São_Paulo", "paragraphs": [
            _paragraph(SP1,
                       ("q6", "When was São Paulo founded?", "1554"),
                       ("q7", "Who founded it?", "José de Anchieta and Manuel da Nóbrega", "Jesuit priests")),
            _paragraph(SP2,
                       ("q8", "How much did GDP grow?", "3.5%"),
                       ("q9", "When did it fall?", "2014")),
        ]},
        {"title": "Tiny", "paragraphs": [
            _paragraph(CAT,
                       ("q10", "What color was the mat?", "red"),
                       ("q11", "Where did the cat sit?", "on the mat", "the mat")),
        ]},
    ]


def write_json(path, obj, ensure_ascii=False):
    path.write_text(json.dumps(obj, ensure_ascii=ensure_ascii), encoding="utf-8")
    return path


@pytest.fixture
def squad_file(tmp_path):
    return write_json(tmp_path / "tiny.json", {"version": "1.1", "data": tiny_articles()})


@pytest.fixture
def examples(squad_file):
    return load_squad(squad_file)


# --- metric: normalisation ------------------------------------------------------------------


@pytest.mark.parametrize("raw, normalised", [
    ("Denver BRONCOS", "denver broncos"),  # lower-case
    ("Hello, world! (yes) $5.00 #1 a_b", "hello world yes 500 1 ab"),  # ASCII punctuation deleted
    ("“Formation”", "“formation”"),  # curly quotes survive
    ("24–10", "24–10"),  # en dash survives
    ("1990-91", "199091"),  # ASCII hyphen is deleted, joining the pieces
    ("The cat and a dog ate an apple", "cat and dog ate apple"),  # articles removed
    ("theater anthem banana", "theater anthem banana"),  # only whole words
    ("The", ""),
    ("the-end", "theend"),  # punctuation goes first, so no whole-word 'the' is left
    ("(the) a.", ""),  # ... and here it leaves whole words
    ("  New \n\t York  ", "new york"),  # whitespace folded
    ("Beyoncé's", "beyoncés"),
])
def test_normalize_answer(raw, normalised):
    assert normalize_answer(raw) == normalised


def test_exact_match():
    assert exact_match("the Denver Broncos.", "Denver Broncos") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0
    assert exact_match("“Formation”", "Formation") == 0.0  # curly quotes are not stripped


def test_f1_uses_multiset_intersection():
    # pred: cat cat dog; gold: cat dog dog -> 2 shared tokens, P = R = 2/3
    assert f1("cat cat dog", "cat dog dog") == pytest.approx(2 / 3)
    assert f1("cat cat cat", "cat") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert f1("Denver Broncos", "the Denver Broncos") == 1.0
    assert f1("red", "blue") == 0.0


def test_both_empty_after_normalisation():
    assert exact_match("the", "a") == 1.0
    assert f1("the", "a") == 0.0


# --- metric: evaluate ---------------------------------------------------------------------


def test_evaluate_max_over_answers_unanswered_and_unknown_ids():
    data = {"version": "1.1", "data": tiny_articles()}
    predictions = {
        "q1": "Broncos",  # EM 0; F1 vs "Denver Broncos" 2/3 and vs "The Denver Broncos" 2/3
        "q2": "24–10",
        "q3": "about 71,088",  # matches the second answer exactly
        "q4": "Formation",
        "q5": "NBC",
        "q6": "1554", "q7": "Jesuit priests", "q8": "3.5 %", "q9": "in 2014", "q10": "red",
        # q11 unanswered
        "nope": "ignored",
    }
    err = io.StringIO()
    result = evaluate(data, predictions, err=err)
    em = [0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0]
    f1s = [2 / 3, 1, 1, 1, 0, 1, 1, 1, 2 / 3, 1, 0]
    assert result["total"] == 11
    assert result["unanswered"] == 1
    assert result["exact_match"] == pytest.approx(100 * sum(em) / 11)
    assert result["f1"] == pytest.approx(100 * sum(f1s) / 11)
    message = err.getvalue()
    assert message.count("\n") == 1 and "1 of 11" in message and "q11" in message
    # The article list alone works too, and a perfect answer set scores 100.
    gold = {qa["id"]: qa["answers"][0]["text"]
            for art in tiny_articles() for par in art["paragraphs"] for qa in par["qas"]}
    assert evaluate(tiny_articles(), gold, err=io.StringIO()) == {
        "exact_match": 100.0, "f1": 100.0, "total": 11, "unanswered": 0}


def test_evaluate_duplicate_answers_and_version_warning():
    data = {"version": "2.0", "data": [{"title": "t", "paragraphs": [_paragraph(
        "x y z", ("a", "q?", "x y", "x y"))]}]}
    err = io.StringIO()
    result = evaluate(data, {"a": "x"}, err=err)
    assert result["f1"] == pytest.approx(100 * 2 / 3)
    assert "version is '2.0'" in err.getvalue()


def test_evaluate_default_stderr(capsys):
    evaluate(tiny_articles(), {})
    assert "11 of 11 questions are unanswered" in capsys.readouterr().err


# --- tokenisation ---------------------------------------------------------------------------


def tokens_of(text):
    return [t.token for t in tokenize(text)]


@pytest.mark.parametrize("text, expected", [
    ("He said “don’t go”.", ["He", "said", "“", "do", "n’t", "go", "”", "."]),
    ("it costs $1,000.50 (about 5%)...", ["it", "costs", "$", "1,000.50", "(", "about", "5", "%", ")", "..."]),
    ("The U.S. team, e.g. in 1990-91", ["The", "U.S.", "team", ",", "e.g.", "in", "1990", "-", "91"]),
    ("São Paulo's Beyoncé’s O'Neil", ["São", "Paulo", "'s", "Beyoncé", "’s", "O'Neil"]),
    ("24–10 — 7−3", ["24", "–", "10", "—", "7", "−", "3"]),
    ("state-of-the-art", ["state", "-", "of", "-", "the", "-", "art"]),
    ("students' 'quoted' '90s", ["students", "'", "'", "quoted", "'", "'", "90s"]),
    ("I'm can't we'll they've", ["I", "'m", "ca", "n't", "we", "'ll", "they", "'ve"]),
    ("10:30 a/b ~5°C", ["10", ":", "30", "a", "/", "b", "~", "5", "°", "C"]),
    ("Beyonce\u0301  \n\n\t x", ["Beyonce\u0301", "x"]),  # combining accent stays in the word
    ("End.Start", ["End", ".", "Start"]),
    ("", []),
    ("   \n ", []),
])
def test_tokenize_policy(text, expected):
    assert tokens_of(text) == expected


TRICKY = [SB1, SB2, SP1, SP2, CAT, "“Hello,” she said — ‘twice’ –\u00a0then\u200b left…  (U.S.A.)",
          "हिन्दी 日本語 Ελληνικά; naïve café\r\nfoo--bar", "don't\tO’Reilly's 1,000,000th 3.14.15 x.y"]


@pytest.mark.parametrize("text", TRICKY)
def test_tokenize_offsets_and_coverage(text):
    tokens = tokenize(text)
    for tok in tokens:
        assert isinstance(tok, Token)
        assert text[tok.start:tok.end] == tok.token
        assert tok.token and not any(ch.isspace() for ch in tok.token)
    assert all(a.end <= b.start for a, b in zip(tokens, tokens[1:]))
    # Only whitespace (and zero-width spaces) is left out.
    left_out = "".join(ch for i, ch in enumerate(text) if not any(t.start <= i < t.end for t in tokens))
    assert all(ch.isspace() or ch in "\u200b\ufeff" for ch in left_out)


def test_tokenize_random_text_keeps_offsets():
    alphabet = "ab é1,.'’-–“”\"$% \n\tZ\u0301U.S"
    rng = random.Random(0)
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        for tok in tokenize(text):
            assert text[tok.start:tok.end] == tok.token and tok.token.strip() == tok.token != ""


# --- answer spans ---------------------------------------------------------------------------


def test_char_span_to_token_span():
    text = "The Denver Broncos won 24–10 in 2016s."
    tokens = tokenize(text)
    names = [t.token for t in tokens]
    start = text.index("Denver Broncos")
    assert char_span_to_token_span(tokens, start, start + len("Denver Broncos")) == (1, 2)
    score = text.index("24–10")
    assert char_span_to_token_span(tokens, score, score + 5) == (names.index("24"), names.index("10"))
    # An answer ending or starting inside a token takes the whole token.
    year = text.index("2016")
    span = char_span_to_token_span(tokens, year, year + 4)
    assert span_to_text(text, tokens, *span) == "2016s"
    assert span_to_text(text, tokens, *char_span_to_token_span(tokens, start + 2, start + 5)) == "Denver"
    # Leading/trailing spaces in an answer do not add tokens; whitespace alone maps to nothing.
    assert char_span_to_token_span(tokens, start - 1, start + len("Denver ")) == (1, 1)
    assert char_span_to_token_span(tokens, 3, 4) is None


def test_span_to_text_returns_original_text():
    text = "He  said:\n“New   York”"
    tokens = tokenize(text)
    assert span_to_text(text, tokens, 0, len(tokens) - 1) == text
    assert span_to_text(text, tokens, 3, 5) == "“New   York"
    with pytest.raises(IndexError):
        span_to_text(text, tokens, 2, 1)
    with pytest.raises(IndexError):
        span_to_text(text, tokens, 0, len(tokens))


# --- reading --------------------------------------------------------------------------------


def test_load_squad(examples):
    assert [ex.qid for ex in examples] == [f"q{i}" for i in range(1, 12)]
    q1 = examples[0]
    assert q1.title == "Super_Bowl_Test" and (q1.article_index, q1.paragraph_index) == (0, 0)
    assert q1.answers == ["Denver Broncos", "Denver Broncos", "The Denver Broncos"]
    assert [q1.answer_text(k) for k in range(3)] == q1.answers
    assert q1.context_tokens is examples[1].context_tokens  # tokenised once per paragraph
    assert [t.token for t in examples[3].question_tokens] == ["Which", "song", "did", "Beyoncé", "perform", "?"]
    for ex in examples:
        for k, answer in enumerate(ex.answers):
            assert normalize_answer(ex.answer_text(k)) == normalize_answer(answer)
    assert examples[6].answer_text(0) == "José de Anchieta and Manuel da Nóbrega"
    assert examples[7].answer_text(0) == "3.5%"


def test_ascii_escaped_file_reads_the_same(tmp_path, examples):
    path = write_json(tmp_path / "ascii.json", {"version": "1.1", "data": tiny_articles()}, ensure_ascii=True)
    assert load_squad(path) == examples


def test_other_version_warns(tmp_path):
    path = write_json(tmp_path / "v2.json", {"version": "2.0", "data": tiny_articles()})
    with pytest.warns(UserWarning, match="version is '2.0'"):
        assert len(load_squad(path)) == 11


def _broken(change):
    data = {"version": "1.1", "data": tiny_articles()}
    change(data)
    return data


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.pop("data"), '"data" list'),
    (lambda d: d.update(data={"a": 1}), '"data" list'),
    (lambda d: d["data"][1].pop("paragraphs"), r"article 1 \('São_Paulo'\): expected an object with a \"paragraphs\""),
    (lambda d: d["data"][0]["paragraphs"][1].pop("context"), "paragraph 1: expected a \"context\""),
    (lambda d: d["data"][0]["paragraphs"][0].pop("qas"), '"qas" list'),
    (lambda d: d["data"][2]["paragraphs"][0]["qas"][0].pop("id"), 'question 0: expected an "id"'),
    (lambda d: d["data"][2]["paragraphs"][0]["qas"][1].pop("question"), "question 'q11': expected a \"question\""),
    (lambda d: d["data"][2]["paragraphs"][0]["qas"][1].pop("answers"), '"answers" list'),
    (lambda d: d["data"][2]["paragraphs"][0]["qas"][1].update(id="q10"), "unique id"),
    (lambda d: d["data"][2]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start=5),
     "answer 0: expected the context at answer_start 5 to read 'red'"),
    (lambda d: d["data"][2]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start="34"),
     'integer "answer_start"'),
    (lambda d: d["data"][2]["paragraphs"][0]["qas"][0]["answers"][0].pop("text"), '"text" string'),
])
def test_not_squad_structure_raises(tmp_path, change, expected):
    path = write_json(tmp_path / "bad.json", _broken(change))
    with pytest.raises(DataError, match=expected) as info:
        read_squad_json(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty"),
    (b"  \n", "is empty"),
    (b'{"version": "1.1", "data": [', "not valid JSON"),
    (b"<!DOCTYPE html><html>404</html>", "not valid JSON"),
    (b'{"data": []}\xff', "not valid UTF-8"),
    (b"[1, 2]", '"data" list'),
])
def test_unreadable_file_raises(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expected) as info:
        load_squad(path)
    assert str(path) in str(info.value)


def test_missing_file_raises(tmp_path):
    with pytest.raises(DataError, match="nothere.json"):
        load_squad(tmp_path / "nothere.json")


# --- best span ------------------------------------------------------------------------------


def brute_force(ps, pe, max_length=None, valid=None):
    n = len(ps)
    valid = valid or [True] * n
    best = (0, 0, float("-inf"))
    for j in range(n):  # end-major with strict '>' and earliest start, like BiDAF
        for i in range(j + 1):
            if not (valid[i] and valid[j]) or (max_length is not None and j - i + 1 > max_length):
                continue
            if ps[i] * pe[j] > best[2]:
                best = (i, j, ps[i] * pe[j])
    return best


def test_best_span_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    for trial in range(50):
        n = int(torch.randint(1, 18, (1,), generator=gen))
        ps = torch.softmax(torch.randn(n, generator=gen) * 3, 0)
        pe = torch.softmax(torch.randn(n, generator=gen) * 3, 0)
        for max_length in (None, 1, 3, 30):
            i, j, score = best_span(ps, pe, max_length=max_length)
            bi, bj, bscore = brute_force(ps.double().tolist(), pe.double().tolist(), max_length)
            assert (i, j) == (bi, bj), (trial, max_length)
            assert score == pytest.approx(bscore)


def test_best_spans_batched_with_mask_matches_brute_force():
    gen = torch.Generator().manual_seed(1)
    b, n = 16, 20
    ps = torch.rand(b, n, generator=gen)
    pe = torch.rand(b, n, generator=gen)
    lengths = torch.randint(1, n + 1, (b,), generator=gen)
    mask = torch.arange(n)[None, :] < lengths[:, None]
    mask[3, 0] = False  # a hole at the start
    ps[~mask] = 10.0  # padding must never be chosen, however large
    pe[~mask] = 10.0
    for max_length in (None, 4):
        start, end, score = best_spans(ps, pe, mask=mask, max_length=max_length)
        for row in range(b):
            expected = brute_force(ps[row].tolist(), pe[row].tolist(), max_length, mask[row].tolist())
            assert (int(start[row]), int(end[row])) == expected[:2]
            assert float(score[row]) == pytest.approx(expected[2])


def test_best_span_ties_and_edge_cases():
    # Ties: earliest end, then earliest start (BiDAF's get_best_span).
    assert best_span([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])[:2] == (0, 1)
    assert best_span([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], max_length=2)[:2] == (0, 0)
    assert best_span([0.1, 0.9, 0.0], [0.8, 0.1, 0.1]) == pytest.approx((1, 1, 0.09))  # i <= j enforced
    assert best_span([1.0], [1.0]) == (0, 0, 1.0)
    empty = best_spans(torch.rand(2, 3), torch.rand(2, 3), mask=torch.zeros(2, 3, dtype=torch.bool))
    assert empty[2].tolist() == [float("-inf")] * 2
    with pytest.raises(ValueError):
        best_span([0.1, 0.2], [0.3], max_length=None)


# --- splits and writing -------------------------------------------------------------------


def test_split_articles_is_disjoint_and_deterministic():
    articles = [{"title": f"a{i}", "paragraphs": []} for i in range(48)]
    train, held = split_articles(articles, 0.25, seed=7)
    assert len(held) == 12 and len(train) == 36
    titles = [a["title"] for a in train], [a["title"] for a in held]
    assert not set(titles[0]) & set(titles[1])
    assert sorted(titles[0] + titles[1]) == sorted(a["title"] for a in articles)
    assert titles[1] == sorted(titles[1], key=lambda t: int(t[1:]))  # original order kept
    assert split_articles(articles, 0.25, seed=7) == (train, held)
    assert split_articles(articles, 0.25, seed=8) != (train, held)
    assert [len(p) for p in split_articles(articles[:3], 0.01, seed=0)] == [2, 1]
    assert [len(p) for p in split_articles(articles[:3], 0.99, seed=0)] == [1, 2]
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError):
            split_articles(articles, bad, seed=0)
    with pytest.raises(ValueError):
        split_articles(articles[:1], 0.5, seed=0)


def test_write_squad_json_roundtrip_and_official_metric(tmp_path):
    train, held = split_articles(tiny_articles(), 1 / 3, seed=3)
    path = write_squad_json(held, tmp_path / "sub" / "eval.json")
    assert sorted(p.name for p in path.parent.iterdir()) == ["eval.json"]  # no temporary left
    obj = read_squad_json(path)
    assert obj["version"] == "1.1" and obj["data"] == held
    examples = load_squad(path)
    predictions = {ex.qid: ex.answer_text(0) for ex in examples}
    result = evaluate(obj, predictions, err=io.StringIO())
    assert result["exact_match"] == 100.0 and result["total"] == len(examples)
    with pytest.raises(DataError):
        write_squad_json([{"title": "x"}], tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


# --- vocabulary and GloVe -----------------------------------------------------------------


def test_counts_weight_context_words_by_questions(examples):
    words, chars = count_words_and_chars(examples)
    # "Denver" is once in SB1 (3 questions); "mat" twice in CAT (2 questions) plus once in q10.
    assert words["denver"] == 3
    assert words["mat"] == 2 * 2 + 1
    assert words["beyoncé"] == 2 * 1 + 1  # SB2 (2 questions) and question q4
    assert chars["B"] > 0 and "b" in chars  # characters keep their case


def test_build_vocab_thresholds_and_glove_part(examples):
    words, chars = count_words_and_chars(examples)
    vocab = build_vocab(examples, glove_words={"denver", "the", "zebra"}, word_count_th=3, char_count_th=20)
    assert vocab.words[PAD_ID] == "<pad>" and vocab.words[UNK_ID] == "<unk>"
    assert vocab.chars[:2] == ["<pad>", "<unk>"]
    trainable = vocab.words[2:vocab.num_trainable_words]
    assert trainable and all(words[w] > 3 and w not in {"denver", "the"} for w in trainable)
    assert set(trainable) == {w for w, c in words.items() if c > 3} - {"the"}
    assert [words[w] for w in trainable] == sorted((words[w] for w in trainable), reverse=True)
    assert vocab.words[vocab.num_trainable_words:] == ["denver", "the", "zebra"]
    assert vocab.num_glove_words == 3
    assert set(vocab.chars[2:]) == {c for c, n in chars.items() if n > 20}
    assert vocab.word_id("The") == vocab.word_id("the") == vocab.words.index("the")
    assert vocab.word_id("never-seen") == UNK_ID and vocab.char_id("\u2603") == UNK_ID
    glove = {"denver": torch.ones(4), "the": torch.zeros(4), "zebra": torch.full((4,), 2.0)}
    assert vocab.glove_matrix(glove, 4).tolist() == [[1.0] * 4, [0.0] * 4, [2.0] * 4]
    assert build_vocab(examples).num_glove_words == 0


def test_read_glove(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 0.2 0.3\nbeyoncé -1 2e-3 3\n, 1 1 1\nzebra 4 5 6\n", encoding="utf-8")
    vectors = read_glove(path, 3, {"the", "beyoncé", ",", "absent"})
    assert set(vectors) == {"the", "beyoncé", ","}
    assert vectors["beyoncé"].tolist() == pytest.approx([-1.0, 0.002, 3.0])
    assert vectors["the"].dtype == torch.float32
    assert set(read_glove(path, 3)) == {"the", "beyoncé", ",", "zebra"}
    with pytest.raises(DataError, match=r"glove.txt, line 1: expected a word and 4 numbers"):
        read_glove(path, 4, {"the"})
    bad = tmp_path / "bad.txt"
    bad.write_text("the 0.1 0.2 0.3\nshort 1 2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.txt, line 2"):
        read_glove(bad, 3, {"the"})  # every line is checked, needed or not
    bad.write_text("the 0.1 x 0.3\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a number"):
        read_glove(bad, 3, {"the"})
    bad.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        read_glove(bad, 3)


def test_needed_words(examples):
    needed = needed_words(examples)
    assert {"são", "paulo", "beyoncé", "“", "3.5", "didn", "n't"} - needed == {"didn"}
    assert all(w == w.lower() for w in needed)


# --- tensors --------------------------------------------------------------------------------


def test_encode_shapes_masks_and_answers(examples):
    vocab = build_vocab(examples, word_count_th=0, char_count_th=0)
    limits = SquadLimits(word_size_th=5)
    data = encode(examples, vocab, limits, training=True)
    assert len(data) == 11 and data.summary() == "11 of 11 examples kept"
    batches = list(data.batches(4))
    assert [len(b.ids) for b in batches] == [4, 4, 3]
    batch = batches[0]
    b, n = batch.context_words.shape
    assert batch.context_chars.shape == (b, n, 5) and batch.context_mask.shape == (b, n)
    assert batch.question_chars.shape[2] == 5
    for row, i in enumerate(batch.indices):
        ex = data.examples[i]
        k, q = len(ex.context_tokens), len(ex.question_tokens)
        assert batch.context_mask[row].sum() == k and batch.question_mask[row].sum() == q
        assert batch.context_words[row, :k].tolist() == [vocab.word_id(t.token) for t in ex.context_tokens]
        assert (batch.context_words[row, k:] == PAD_ID).all() and (batch.context_chars[row, k:] == PAD_ID).all()
        for pos, tok in enumerate(ex.context_tokens):
            chars = [vocab.char_id(c) for c in tok.token[:5]]
            assert batch.context_chars[row, pos].tolist() == chars + [PAD_ID] * (5 - len(chars))
        assert (int(batch.answer_start[row]), int(batch.answer_end[row])) == ex.answer_spans[0]
    # Gold spans decode to the gold text, and the official metric gives 100.
    predictions = {}
    for batch in data.batches(3):
        predictions.update(data.predictions(batch.indices, batch.answer_start, batch.answer_end))
    result = evaluate({"version": "1.1", "data": tiny_articles()}, predictions, err=io.StringIO())
    assert result["exact_match"] == 100.0 and result["unanswered"] == 0


def test_encode_training_drops_and_eval_keeps(examples):
    vocab = build_vocab(examples, word_count_th=0, char_count_th=0)
    q1_end = examples[0].answer_spans[0][1]  # "Broncos" in SB1
    q3_end = examples[2].answer_spans[0][1]  # "71,088", later in SB1
    assert q1_end < q3_end
    limits = SquadLimits(sent_size_th=q1_end + 1, ques_size_th=5)
    train = encode(examples, vocab, limits, training=True)
    long_questions = {ex.qid for ex in examples if len(ex.question_tokens) > 5}
    beyond = {ex.qid for ex in examples if ex.answer_spans[0][1] > q1_end}
    assert "q3" in beyond and "q1" not in beyond and "q5" in long_questions
    assert {ex.qid for ex in train.examples} == {ex.qid for ex in examples} - beyond - long_questions
    assert train.dropped["answer_beyond_limit"] == len(beyond)
    assert train.dropped["question_too_long"] == len(long_questions - beyond)
    assert "dropped" in train.summary()
    assert max(len(e.context_words) for e in train.encoded) <= q1_end + 1
    evaluation = encode(examples, vocab, limits, training=False)
    assert len(evaluation) == 11 and evaluation.dropped == {}
    assert max(b.context_words.shape[1] for b in evaluation.batches(11)) == max(
        len(ex.context_tokens) for ex in examples)


def test_batches_shuffle_is_deterministic(examples):
    vocab = build_vocab(examples, word_count_th=0, char_count_th=0)
    data = encode(examples, vocab)
    order = lambda seed: list(itertools.chain.from_iterable(b.ids for b in data.batches(3, shuffle=True, seed=seed)))
    assert order(5) == order(5)
    assert sorted(order(5)) == sorted(ex.qid for ex in examples)
    assert order(5) != order(6)
    assert [b.ids for b in data.batches(3)] == [["q1", "q2", "q3"], ["q4", "q5", "q6"], ["q7", "q8", "q9"], ["q10", "q11"]]
    assert [len(b.ids) for b in data.batches(3, drop_last=True)] == [3, 3, 3]
    assert data.num_batches(3) == 4 and data.num_batches(3, drop_last=True) == 3
    moved = next(data.batches(2)).to("cpu")
    assert moved.context_words.dtype == torch.long and moved.context_mask.dtype == torch.bool


def test_examples_from_articles_matches_load(examples):
    assert examples_from_articles(tiny_articles()) == examples


# --- the real dev set --------------------------------------------------------------------


@pytest.mark.data
def test_real_dev_set(tmp_path):
    mirror = os.environ.get(MIRROR_ENV_VAR)
    if not mirror:
        pytest.skip(f"set {MIRROR_ENV_VAR} to a data mirror to run this test")
    path = fetch("squad", tmp_path / "squad", mirror=mirror, download=False, names=["dev-v1.1.json"])["dev-v1.1.json"]
    obj = read_squad_json(path)
    assert len(obj["data"]) == 48
    examples = examples_from_articles(obj["data"])
    assert len(examples) == 10_570
    total = matched = 0
    for ex in examples:
        for k, answer in enumerate(ex.answers):
            total += 1
            text = ex.answer_text(k)
            matched += text is not None and normalize_answer(text) == normalize_answer(answer)
    assert total == 34_726
    assert matched / total >= 0.99  # observed: 34,647 / 34,726 = 0.99773
    # Predicting the token span of the first answer is (almost) perfect under the official metric.
    predictions = {ex.qid: ex.answer_text(0) for ex in examples}
    result = evaluate(obj, predictions, err=io.StringIO())
    assert result["total"] == 10_570 and result["unanswered"] == 0
    assert result["exact_match"] > 99.0
