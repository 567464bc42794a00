"""Table 3's data: the files (verified), the dev split of the small scales, and one prepare step
that tokenises and encodes everything once for the training and evaluation jobs.

Files
    SQuAD dev-v1.1.json and GloVe 6B 50d are in the sha256 registry of ``iss.data`` (mirror or
    download). Two files the paper scale needs are not, because only their md5 is published:
    train-v1.1.json (md5 from torchtext's SQuAD1 loader) and glove.6B.100d.txt (md5 from the
    widely copied GloVe-to-gensim conversion table; see ../shared/data/*/README.md). They are
    taken from a path in the config (``table3.data.train_file``, ``table3.glove.file``) or from
    the data mirror (``<mirror>/squad/train-v1.1.json[.xz]``, ``<mirror>/glove/glove.6B.100d.txt[.xz]``),
    checked against that md5 and copied (atomically) into ``data.dir``. They are never
    downloaded: train-v1.1.json would need a sha256 for the registry, and glove.6B.100d.txt is
    published only inside glove.6B.zip (822 MB). When neither source has them, the job stops
    with a message that says where to get them and how to hand them over.

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
import lzma
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from iss import squad
from iss.data import DATASETS, DataError, fetch, resolve_mirror
from iss.provenance import write_json_atomic
from iss.table3_config import (SQUAD_DEV, SQUAD_TRAIN, data_files, glove_name, prepared_dir, settings,
                               uses_dev_split)
from iss.train import save_atomic

PREPARED_VERSION = 1
CHUNK = 1 << 20


@dataclass(frozen=True)
class Unregistered:
    """A file whose sha256 is not known here, only the md5 its publishers or users list."""

    dataset: str
    name: str
    md5: str
    md5_source: str
    how_to_get: str
    config_key: str


UNREGISTERED = {
    (f.dataset, f.name): f for f in (
        Unregistered(
            "squad", SQUAD_TRAIN, "981b29407e0affa3b1b156f72073b945",
            "torchtext's SQuAD1 loader (MD5['train']), quoted in ../shared/data/squad/README.md",
            "Download https://rajpurkar.github.io/SQuAD-explorer/dataset/train-v1.1.json (about 30.3 MB, "
            "87,599 questions) on a machine with internet access",
            "table3.data.train_file"),
        Unregistered(
            "glove", "glove.6B.100d.txt", "dd7f3ad906768166883176d69cc028de",
            "the GloVe-to-gensim conversion table (pretrain_checksum), quoted in ../shared/data/glove/README.md",
            "Download https://nlp.stanford.edu/data/glove.6B.zip (822 MB, md5 056ea991adb4740ac6bf1b6d9b50408b) "
            "on a machine with internet access and unzip glove.6B.100d.txt from it",
            "table3.glove.file"),
    )
}


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_verified(source: Path, target: Path, spec: Unregistered) -> None:
    """Copy (decompressing a .xz) into a temporary file beside ``target``, check the md5, rename."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(fd, "wb") as out:
            opener = lzma.open if source.suffix == ".xz" else open
            try:
                with opener(source, "rb") as src:
                    for chunk in iter(lambda: src.read(CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
            except (OSError, lzma.LZMAError, EOFError) as err:
                raise DataError(f"Cannot read {source} ({err}). Replace it with a good copy of {spec.name}.") from err
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.md5:
            raise DataError(f"{source} is not {spec.name}: md5 {digest.hexdigest()}, expected {spec.md5} "
                            f"(from {spec.md5_source}). {spec.how_to_get}, then hand it over again.")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_unregistered(spec: Unregistered, dest_dir: Path, explicit: str | None, mirror: Path | None) -> Path:
    """``dest_dir/<name>``, md5-verified, from ``explicit`` (a path, plain or .xz) or the mirror."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / spec.name
    if target.is_file():
        if md5_file(target) == spec.md5:
            return target
        target.unlink()
        print(f"[iss] {target} did not have the md5 of {spec.name}; deleted it", flush=True)
    candidates: list[Path] = []
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise DataError(f"{spec.config_key} is {explicit!r}, which is not a file. Point it at a copy of "
                            f"{spec.name} (plain or .xz).")
        candidates.append(path)
    if mirror is not None:
        candidates += [mirror / spec.dataset / spec.name, mirror / spec.dataset / f"{spec.name}.xz"]
    for source in candidates:
        if source.is_file():
            _copy_verified(source, target, spec)
            print(f"[iss] {spec.name}: copied from {source}, md5 verified", flush=True)
            return target
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no config path and no mirror)"
    raise DataError(
        f"{spec.name} is needed at this scale but is not available offline (looked in: {looked}). It is not "
        f"in the sha256 registry and is never downloaded by the harness. {spec.how_to_get}, check that its md5 "
        f"is {spec.md5} ({spec.md5_source}), then either set the config key {spec.config_key} to its path or "
        f"put it (plain or .xz) in the data mirror as {spec.dataset}/{spec.name} (config data.mirror or "
        f"$ISS_DATA_MIRROR). It will be copied to {target}.")


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
    explicit = {("squad", SQUAD_TRAIN): table["data"].get("train_file"),
                ("glove", glove_name(config)): (table.get("glove") or {}).get("file")}
    out = {}
    for name in names:
        if (dataset, name) in UNREGISTERED:
            out[name] = fetch_unregistered(UNREGISTERED[(dataset, name)], dest, explicit.get((dataset, name)), mirror)
        elif name in DATASETS.get(dataset, {}):
            if explicit.get((dataset, name)):
                raise DataError(f"{name} is in the sha256 registry: it comes from the mirror or its download "
                                f"address, not from a config path; set the config's file key to null.")
            out.update(fetch(dataset, dest, mirror=mirror, names=[name]))
        else:
            known = sorted({n for d, n in UNREGISTERED if d == dataset} | set(DATASETS.get(dataset, {})))
            raise DataError(f"No verified source for {dataset}/{name}: no checksum is known for it, so it cannot "
                            f"be checked. Known files: {', '.join(known)}.")
    return out


# ---- split and prepare ---------------------------------------------------------------------


class QuestionId:
    """What training batches need of an example: its id (the tokens are not kept for training)."""

    __slots__ = ("qid",)

    def __init__(self, qid: str):
        self.qid = qid

    def __getstate__(self):
        return self.qid

    def __setstate__(self, state):
        self.qid = state


@dataclass
class Prepared:
    vocab: squad.SquadVocab
    fixed_vectors: torch.Tensor | None  # [num_glove_words, word_dim], None without GloVe
    word_dim: int | None  # GloVe's dimension, None without GloVe (the config's model.word_dim)
    train: squad.SquadDataset  # examples are QuestionIds
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
    train_set.examples = [QuestionId(ex.qid) for ex in train_set.examples]
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
                   train=train_set, eval=eval_set, eval_json=str(eval_json), summary=summary)
    save_atomic(payload, out / "prepared.pt")
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
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if saved.get("version") != PREPARED_VERSION:
        raise DataError(f"{path} was written by another version of the prepare step; delete it and rerun.")
    vocab = squad.SquadVocab(words=saved["words"], chars=saved["chars"],
                             num_trainable_words=saved["num_trainable_words"])
    return Prepared(vocab=vocab, fixed_vectors=saved["fixed_vectors"], word_dim=saved["word_dim"],
                    train=saved["train"], eval=saved["eval"], eval_json=Path(saved["eval_json"]),
                    summary=saved["summary"], digest=digest.hexdigest()[:16])
