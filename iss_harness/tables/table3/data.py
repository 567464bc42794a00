"""Table 3's data: the files (verified), the dev split of the small scales, and one prepare step
that tokenises and encodes everything once for the training and evaluation jobs.

Files
    All come from the registry of ``iss_harness.data.fetch``: SQuAD dev-v1.1.json and GloVe 6B 50d by sha256;
    the paper scale's train-v1.1.json and glove.6B.100d.txt by their published md5, pinned by a
    sha256 lock after the first verified copy (``iss_harness.data.md5``). Those two may also be handed
    over by path (``table3.data.train_file``, ``table3.glove.file``); otherwise they come from the
    data mirror or are downloaded (glove.6B.100d.txt out of glove.6B.zip).

Split (``table3.data.source: dev_split``, smoke and mid)
    dev-v1.1.json is cut into disjoint sets of whole articles (``split_articles`` with
    ``eval_fraction`` and ``split_seed``), written as two valid v1.1 files
    ``results/<scale>/table3/data/{train,eval}.json``; the official metric scores the eval file.

Prepare (``prepare``)
    Vocabularies from the training questions (BiDAF's thresholds), the GloVe rows of every word of
    train + eval (fixed vectors), training tensors (contexts cut to ``sent_size_th``, unusable
    examples dropped and counted) and evaluation tensors (every question, full length), saved
    atomically in ``results/<scale>/table3/data/prepared.pt`` with ``summary.json`` beside it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from iss_harness.data import squad
from iss_harness.data.fetch import DataError, fetch, resolve_mirror
from iss_harness.tables.table3.rows import (SQUAD_DEV, SQUAD_TRAIN, data_files, glove_name, prepared_dir, settings,
                               uses_dev_split)
from iss_harness.io import load_torch, save_torch_atomic, write_json_atomic

# 2: plain containers only (weights-only loadable); 1 pickled the dataset classes.
PREPARED_VERSION = 2
CHUNK = 1 << 20


def fetch_table3_data(config: dict, dataset: str, names: list[str] | None = None) -> dict[str, Path]:
    """The verified files of ``dataset`` ("squad" or "glove") that this scale's Table 3 needs
    (or ``names``), in ``data.dir/<dataset>/``."""
    table = settings(config)
    mirror = resolve_mirror(config["data"].get("mirror"))
    dest = Path(config["data"]["dir"]) / dataset
    if names is None:
        if dataset == "squad":
            names = [SQUAD_DEV] + ([] if uses_dev_split(config) else [SQUAD_TRAIN])
        elif dataset == "glove":
            name = glove_name(config)
            if name is None:
                raise DataError(f"scale {config['scale']!r} learns its word vectors (table3.glove is null): "
                                "it needs no GloVe file.")
            names = [name]
        else:
            raise DataError(f"Table 3 uses the data sets squad and glove, not {dataset!r}.")
    explicit = {SQUAD_TRAIN: table["data"].get("train_file"),
                glove_name(config): (table.get("glove") or {}).get("file")}
    given = {name: explicit.get(name) for name in names if explicit.get(name)}
    return fetch(dataset, dest, mirror=mirror, names=names, explicit=given)


# ---- split and prepare ---------------------------------------------------------------------


@dataclass
class Prepared:
    vocab: squad.SquadVocab
    fixed_vectors: torch.Tensor | None  # [num_glove_words, word_dim], None without GloVe
    word_dim: int | None  # GloVe's dimension, None without GloVe (the config's model.word_dim)
    train: squad.SquadDataset  # examples are squad.QuestionIds
    eval: squad.SquadDataset  # full examples (tokens and offsets for span_to_text)
    eval_json: Path
    summary: dict
    digest: str  # sha256 of prepared.pt: a checkpoint resumes only on the same data


def split_dev(dev_json: Path, out_dir: Path, eval_fraction: float, seed: int) -> tuple[Path, Path]:
    """Cut dev into whole-article train/eval parts; write both as v1.1 files."""
    obj = squad.read_squad_json(dev_json)
    train, held_out = squad.split_articles(obj["data"], eval_fraction, seed)
    return (squad.write_squad_json(train, out_dir / "train.json"),
            squad.write_squad_json(held_out, out_dir / "eval.json"))


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{path} ({what}) is missing: run `iss fetch-data {path.parent.name}` "
                        f"(snakemake {path}) first.")
    return path


def prepare(config: dict, results: Path) -> Path:
    table = settings(config)
    files = data_files(config)
    out = prepared_dir(results, config)
    if uses_dev_split(config):
        data = table["data"]
        train_json, eval_json = split_dev(_require(files["squad_dev"], "SQuAD dev"), out,
                                          data["eval_fraction"], data["split_seed"])
    else:
        train_json = _require(files["squad_train"], "SQuAD train")
        eval_json = _require(files["squad_dev"], "SQuAD dev")
    train_examples = squad.load_squad(train_json)
    eval_examples = squad.load_squad(eval_json)
    limits = squad.SquadLimits(**table["limits"])
    glove, dim = None, None
    if table.get("glove") is not None:
        dim = table["glove"]["dim"]
        glove = squad.read_glove(_require(files["glove"], "GloVe"), dim,
                                 squad.needed_words(train_examples + eval_examples))
    vocab = squad.build_vocab(train_examples, glove.keys() if glove else None,
                              word_count_th=limits.word_count_th, char_count_th=limits.char_count_th)
    train_set = squad.encode(train_examples, vocab, limits, training=True)
    eval_set = squad.encode(eval_examples, vocab, limits, training=False)
    train_set.examples = [squad.QuestionId(ex.qid) for ex in train_set.examples]
    summary = dict(
        source=table["data"]["source"], train_json=str(train_json), eval_json=str(eval_json),
        train_articles=len({ex.article_index for ex in train_examples}),
        eval_articles=len({ex.article_index for ex in eval_examples}),
        train_questions=len(train_examples), train_kept=len(train_set), train_dropped=train_set.dropped,
        split_seed=table["data"].get("split_seed"), eval_fraction=table["data"].get("eval_fraction"),
        eval_questions=len(eval_set), words=len(vocab.words), trainable_words=vocab.num_trainable_words,
        glove_words=vocab.num_glove_words, chars=len(vocab.chars), glove_dim=dim, limits=table["limits"])
    payload = dict(version=PREPARED_VERSION, words=vocab.words, chars=vocab.chars,
                   num_trainable_words=vocab.num_trainable_words,
                   fixed_vectors=vocab.glove_matrix(glove, dim) if glove is not None else None, word_dim=dim,
                   train=train_set.to_plain(), eval=eval_set.to_plain(), eval_json=str(eval_json), summary=summary)
    save_torch_atomic(payload, out / "prepared.pt")
    write_json_atomic(out / "summary.json", summary)
    print(f"[iss] table3 data: train {train_set.summary()} from {summary['train_articles']} articles; eval "
          f"{len(eval_set)} questions from {summary['eval_articles']} articles ({eval_json}); vocabulary "
          f"{len(vocab.words)} words ({vocab.num_trainable_words} trainable), {len(vocab.chars)} characters",
          flush=True)
    return out / "prepared.pt"


def load_prepared(path: Path) -> Prepared:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: run `iss prepare --table table3` (snakemake {path}) first.")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    saved = load_torch(path, "rerun `iss prepare --table table3` (snakemake --forcerun table3_prepare)", map_location="cpu")
    if saved.get("version") != PREPARED_VERSION:
        raise DataError(f"{path} was written by another version of the prepare step; delete it and rerun.")
    vocab = squad.SquadVocab(words=saved["words"], chars=saved["chars"],
                             num_trainable_words=saved["num_trainable_words"])
    return Prepared(vocab=vocab, fixed_vectors=saved["fixed_vectors"], word_dim=saved["word_dim"],
                    train=squad.SquadDataset.from_plain(saved["train"]),
                    eval=squad.SquadDataset.from_plain(saved["eval"]), eval_json=Path(saved["eval_json"]),
                    summary=saved["summary"], digest=digest.hexdigest()[:16])
