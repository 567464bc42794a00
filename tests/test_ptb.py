"""Tests for iss_harness.data.ptb on tiny generated corpora (the real PTB only in the `data`-marked test)."""

from __future__ import annotations

import os

import pytest
import torch

from iss_harness.data.fetch import MIRROR_ENV_VAR, DataError, fetch
from iss_harness.data.ptb import Corpus, Vocabulary, batchify, num_windows, read_tokens, windows


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# --- read_tokens


def test_read_tokens_adds_eos_per_line(tmp_path):
    path = write(tmp_path, "t.txt", " a b c \n d <unk> \n")
    assert read_tokens(path) == ["a", "b", "c", "<eos>", "d", "<unk>", "<eos>"]


def test_read_tokens_without_final_newline(tmp_path):
    path = write(tmp_path, "t.txt", "a b\nc")
    assert read_tokens(path) == ["a", "b", "<eos>", "c", "<eos>"]


def test_empty_file_rejected(tmp_path):
    path = write(tmp_path, "empty.txt", "")
    with pytest.raises(DataError, match="empty.txt is empty"):
        read_tokens(path)


@pytest.mark.parametrize("page", ["<!DOCTYPE html>\n<p>404</p>\n", "\n<HTML><body>Rate limited</body></HTML>\n"])
def test_html_page_rejected(tmp_path, page):
    path = write(tmp_path, "page.txt", page)
    with pytest.raises(DataError, match=r"page\.txt looks like an HTML page"):
        read_tokens(path)


def test_invalid_utf8_rejected(tmp_path):
    path = write(tmp_path, "bin.txt", b"a b \xff\xfe c\n")
    with pytest.raises(DataError, match="bin.txt is not valid UTF-8"):
        read_tokens(path)


def test_blank_lines_only_rejected(tmp_path):
    path = write(tmp_path, "blank.txt", " \n\n  \n")
    with pytest.raises(DataError, match="blank.txt has no words"):
        read_tokens(path)


# --- Vocabulary


def test_vocab_orders_by_frequency_then_alphabet():
    vocab = Vocabulary.from_tokens("b a c a b d a".split())
    # a:3, b:2, then c and d tie at 1 -> alphabetical
    assert vocab.itos == ["a", "b", "c", "d"]
    assert vocab.stoi == {"a": 0, "b": 1, "c": 2, "d": 3}
    assert len(vocab) == 4
    assert vocab.encode(["d", "a"]).tolist() == [3, 0]
    assert vocab.encode(["d"]).dtype == torch.long


def test_vocab_max_size_maps_rare_words_to_unk():
    tokens = "a a a a b b b c c d e".split()
    vocab = Vocabulary.from_tokens(tokens, max_size=3)
    # keep the 2 most frequent (a, b); c, d, e -> <unk> with count 4, so it ranks first
    assert vocab.itos == ["<unk>", "a", "b"]
    assert vocab.encode(["c", "a", "zzz"]).tolist() == [0, 1, 0]


def test_vocab_max_size_does_not_duplicate_existing_unk():
    tokens = "<unk> <unk> <unk> a a b c d".split()
    vocab = Vocabulary.from_tokens(tokens, max_size=3)
    assert len(vocab) == 3
    assert vocab.itos.count("<unk>") == 1
    assert vocab.itos == ["<unk>", "a", "b"]  # <unk>: 3 + c + d = 5


def test_vocab_max_size_larger_than_types_keeps_all():
    vocab = Vocabulary.from_tokens("a b b".split(), max_size=10)
    assert vocab.itos == ["b", "a"]


def test_unknown_word_without_unk_raises():
    vocab = Vocabulary.from_tokens("a b".split())
    with pytest.raises(DataError, match="'zzz' is not in the vocabulary"):
        vocab.encode(["a", "zzz"])


def test_ensure_unk_keeps_exact_size():
    vocab = Vocabulary.from_tokens("a a b c".split(), max_size=3, ensure_unk=True)
    assert len(vocab) == 3 and "<unk>" in vocab and "c" not in vocab


# --- Corpus


@pytest.fixture
def tiny_ptb(tmp_path):
    train = write(tmp_path, "train.txt", " the cat sat \n the dog <unk> \n the end \n")
    valid = write(tmp_path, "valid.txt", " the bird sat \n")
    test = write(tmp_path, "test.txt", " the cat \n")
    return train, valid, test


def test_corpus_from_files(tiny_ptb):
    corpus = Corpus.from_files(*tiny_ptb)
    assert corpus.train.numel() == 11  # 8 words + 3 <eos>
    assert corpus.valid.numel() == 4
    assert corpus.test.numel() == 3
    assert corpus.vocab.itos[:2] == ["<eos>", "the"]
    assert corpus.vocab.decode(corpus.valid) == ["the", "<unk>", "sat", "<eos>"]  # bird unseen


def test_corpus_max_tokens_slices_and_keeps_unk(tmp_path):
    train = write(tmp_path, "train.txt", " a b \n c d \n")
    valid = write(tmp_path, "valid.txt", " d a \n")
    corpus = Corpus.from_files(train, valid, valid, max_tokens={"train": 3, "valid": 2})
    assert corpus.train.numel() == 3 and corpus.valid.numel() == 2 and corpus.test.numel() == 3
    assert set(corpus.vocab.itos) == {"a", "b", "<eos>", "<unk>"}  # d is past the train slice
    assert corpus.vocab.decode(corpus.valid) == ["<unk>", "a"]


def test_corpus_unknown_word_without_unk_names_file(tmp_path):
    train = write(tmp_path, "train.txt", " a b \n")
    valid = write(tmp_path, "valid.txt", " zzz \n")
    with pytest.raises(DataError, match="valid.txt"):
        Corpus.from_files(train, valid, train)


def test_corpus_rejects_unknown_split_limit(tiny_ptb):
    with pytest.raises(ValueError, match="unknown split"):
        Corpus.from_files(*tiny_ptb, max_tokens={"training": 5})


# --- batchify and windows


def test_batchify_shape_and_content():
    data = batchify(torch.arange(26), 4)  # 26 // 4 = 6 steps, 2 tokens dropped
    assert data.shape == (6, 4)
    assert data[:, 0].tolist() == [0, 1, 2, 3, 4, 5]  # each column is a contiguous stream
    assert data[:, 1].tolist() == [6, 7, 8, 9, 10, 11]
    assert data[0].tolist() == [0, 6, 12, 18]
    assert data.is_contiguous()


def test_batchify_too_few_tokens():
    with pytest.raises(ValueError, match="need at least 5"):
        batchify(torch.arange(4), 5)


def test_windows_count_and_shift():
    data = batchify(torch.arange(22), 2)  # [11, 2]
    got = list(windows(data, 4))
    assert len(got) == num_windows(data, 4) == 3  # ceil(10 / 4)
    assert [x.size(0) for x, _ in got] == [4, 4, 2]
    for inputs, targets in got:
        assert torch.equal(targets, inputs + 1)  # arange data: next token is +1
    # together the windows cover every input step 0..T-2 and target step 1..T-1 once
    assert torch.equal(torch.cat([x for x, _ in got]), data[:-1])
    assert torch.equal(torch.cat([y for _, y in got]), data[1:])


def test_windows_exact_fit():
    data = batchify(torch.arange(9), 1)  # T = 9, 8 predictions
    assert num_windows(data, 4) == 2
    assert [x.size(0) for x, _ in windows(data, 4)] == [4, 4]


def test_windows_need_two_steps():
    with pytest.raises(ValueError, match="at least 2 time steps"):
        windows(torch.zeros(1, 3, dtype=torch.long), 5)


# --- the real PTB, only when a mirror is available


@pytest.mark.data
def test_real_ptb_from_mirror(tmp_path):
    mirror = os.environ.get(MIRROR_ENV_VAR)
    if not mirror:
        pytest.skip(f"set {MIRROR_ENV_VAR} to a data mirror to run this test")
    paths = fetch("ptb", tmp_path / "ptb", mirror=mirror, download=False)
    corpus = Corpus.from_files(paths["ptb.train.txt"], paths["ptb.valid.txt"], paths["ptb.test.txt"])
    assert corpus.train.numel() == 929_589
    assert corpus.valid.numel() == 73_760
    assert corpus.test.numel() == 82_430
    assert len(corpus.vocab) == 10_000
    assert len(Vocabulary.from_tokens(read_tokens(paths["ptb.train.txt"]), max_size=10_000)) == 10_000
