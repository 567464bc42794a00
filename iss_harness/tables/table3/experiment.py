"""Table 3 of the paper: BiDAF on SQuAD v1.1 with ISS on the modeling and output LSTMs.

Steps (each one ``iss`` command and one Snakemake rule; every step writes files):
    fetch-data squad / glove  resources/data/{squad,glove}/...            (verified; iss_harness.tables.table3.data)
    prepare                   results/<scale>/table3/data/prepared.pt    (split of dev at smoke/mid, vocab, tensors)
    train_row                 results/<scale>/table3/<row>/model.pt, history.csv
                              baseline: from scratch; iss_k: fine-tuned from the baseline's EMA weights with
                              lambda_k (Adam restarted, input keep 0.9), spec 2.5
    evaluate_row              .../metrics.json, compact.pt, predictions.json, group_norms.json
                              EMA weights -> element threshold -> structure coordinator -> removed components
                              -> shrink -> official EM/F1 of the compact model, sizes, weight #
    time_learned              results/<scale>/table3/timing_learned.json      (compact models, batch 1)
    time_paper_sizes          results/<scale>/table3/timing_paper_sizes.json  (paper's sizes, random weights)
    report.build              results/<scale>/table3.csv, reports/<scale>/table3.{md,tex}
    figures                   reports/<scale>/figures/bidaf_group_norms.{png,pdf}
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

import iss
from iss import counting
from iss_harness.data import squad_metric
from iss_harness.tasks import timing
from iss.groups import removed_components, surviving_sizes, zero_small_weights_
from iss_harness.tasks.lm import ExperimentError, load_model, save_model
from iss_harness.models.bidaf import FAMILIES, BiDAF
from iss_harness.provenance import provenance
from iss_harness.io import write_json_atomic, write_text_atomic
from iss_harness.data.squad import SquadBatch, SquadDataset, best_spans
from iss_harness.tables.table3.data import Prepared, load_prepared
from iss_harness.tables.table3.rows import TABLE, prepared_dir, row_dir, row_lambda, scale_dir, settings, table3_rows
from iss_harness.tasks.train_lm import pick_device, seed_everything
from iss_harness.tables.table3.jobs import row_settings as job_settings
from iss_harness.tables.table3.train import QATrainConfig, predict, thresholded_parameters, train_qa

# Paper-size geometry (spec 4.1): d = 100, GloVe 100d, char CNN 100 filters of width 5 over 8-d
# character vectors. The trainable vocabulary (VW word vectors, VC character vectors) depends on the
# SQuAD training set; the paper's baseline of 2.69M weights fixes only 100 VW + 8 VC = 119,300 (+-5k
# for the rounding), so the harness takes VW = 1177, VC = 200: baseline 2,690,003 weights.
PAPER_VW, PAPER_VC, PAPER_D = 1177, 200, 100
PAPER_COLUMNS = dict(zip(FAMILIES, ("modfwd1", "modbwd1", "modfwd2", "modbwd2", "outfwd", "outbwd")))


def prepared_path(results: Path, config: dict) -> Path:
    return prepared_dir(results, config) / "prepared.pt"


def row_settings(config: dict, row: str) -> dict:
    """Everything that decides how one row is trained (stored with its weights)."""
    table = settings(config)
    part = table["baseline"] if row == "baseline" else table["iss"]
    return {"lambda": row_lambda(config, row), "steps": part["steps"], "input_keep_prob": part["input_keep_prob"],
            "keep_best": part["keep_best"], "keep_prob": table["keep_prob"], "lr": part["lr"],
            "batch_size": table["batch_size"], "ema_decay": table["ema_decay"],
            "zero_threshold": table["zero_threshold"], "threshold_scope": table["threshold_scope"],
            "iss_variant": table["iss_variant"], "init": "random" if row == "baseline" else "baseline EMA weights"}


def build_model(config: dict, prepared: Prepared, input_keep_prob: float) -> BiDAF:
    table = settings(config)
    model = table["model"]
    word_dim = prepared.word_dim if prepared.fixed_vectors is not None else model.get("word_dim")
    if word_dim is None:
        raise ExperimentError(f"scale {config['scale']!r} learns its word vectors (table3.glove is null): set "
                              "table3.model.word_dim")
    return BiDAF(prepared.vocab.num_trainable_words, len(prepared.vocab.chars), fixed_vectors=prepared.fixed_vectors,
                 n_fixed_words=prepared.vocab.num_glove_words, word_dim=word_dim, char_dim=model["char_dim"],
                 char_filters=model["char_filters"], char_width=model["char_width"],
                 highway_layers=model["highway_layers"], hidden=model["hidden"], iss_variant=table["iss_variant"],
                 keep_prob=table["keep_prob"], input_keep_prob=input_keep_prob)


def train_config(config: dict, row: str) -> QATrainConfig:
    table = settings(config)
    rs = row_settings(config, row)
    valid = table["valid"]
    return QATrainConfig(steps=rs["steps"], batch_size=rs["batch_size"], lr=rs["lr"], ema_decay=rs["ema_decay"],
                         lam=rs["lambda"], zero_threshold=rs["zero_threshold"],
                         threshold_scope=rs["threshold_scope"], keep_best=rs["keep_best"],
                         seed=config["runtime"]["seed"], valid_every=valid["every"],
                         valid_questions=valid["questions"], valid_batch_size=valid["batch_size"],
                         checkpoint_seconds=config["runtime"].get("checkpoint_seconds", 600.0))


def train_row(config: dict, row: str, results: Path, restart: bool = False) -> Path:
    out = row_dir(results, config, row)
    device = pick_device(config["runtime"]["device"])
    prepared = load_prepared(prepared_path(results, config))
    rs = row_settings(config, row)
    seed_everything(config["runtime"]["seed"])  # the initial weights depend on the seed only
    model = build_model(config, prepared, rs["input_keep_prob"])
    if row != "baseline":
        source = row_dir(results, config, "baseline") / "model.pt"
        if not source.exists():
            raise ExperimentError(f"table3/{row} fine-tunes the baseline's EMA weights, but {source} does not exist: "
                                  f"train the baseline first (snakemake {source})")
        baseline, _ = load_model(source, torch.device("cpu"))
        if {**baseline.geometry(), "input_keep_prob": None} != {**model.geometry(), "input_keep_prob": None}:
            raise ExperimentError(f"table3/{row}: {source} has another geometry than this scale's model "
                                  f"(the config changed since the baseline was trained); retrain the baseline")
        model.load_state_dict(baseline.state_dict())
    print(f"[iss] table3/{row}: lambda {rs['lambda']}, hidden {model.hidden}, {counting.weight_count(model):,} weights, "
          f"{len(prepared.train)} training questions, {rs['steps']} steps of batch {rs['batch_size']}", flush=True)
    result = train_qa(model, prepared.train, prepared.eval, train_config(config, row), out, device,
                      prepared.digest, restart=restart, log=lambda text: print(text, flush=True))
    write_text_atomic(out / "history.csv", pd.DataFrame(result["history"]).to_csv(index=False))
    save_model(model, out / "model.pt", provenance(config, device, determined_by=job_settings(config, row)), rs)
    return out / "model.pt"


# ---- evaluation ----------------------------------------------------------------------------


@torch.no_grad()
def coordinate_structure_(model: BiDAF, families) -> dict[str, int]:
    """The original's test-time "structure coordinator" (spec 1.7): a component whose outgoing
    weights (recurrent column and every downstream column) are all zero gets its gate rows zeroed
    too, so it counts as removed. Returns how many components it zeroed this way per family."""
    params = dict(model.named_parameters())
    before = removed_components(model, families)
    for family in families:
        alive = torch.zeros(family.size, dtype=torch.bool)
        for part in family.parts:
            if part.dim != 1:
                continue
            nonzero_columns = (params[part.param] != 0).any(dim=0).cpu()
            alive |= nonzero_columns[part.indices(family.size)].any(0)
        dead = (~alive).nonzero().flatten()
        for part in family.parts:
            if part.dim == 0:
                weight = params[part.param]
                weight.index_fill_(0, part.indices(family.size)[:, dead].reshape(-1).to(weight.device), 0.0)
    after = removed_components(model, families)
    return {name: int(after[name].sum() - before[name].sum()) for name in after}


def probe_batch(dataset: SquadDataset, questions: int) -> SquadBatch:
    return next(dataset.batches(min(questions, len(dataset))))


@torch.no_grad()
def max_logprob_difference(large: torch.nn.Module, small: torch.nn.Module, batch: SquadBatch, device) -> float:
    """Max |log p_large - log p_small| of start and end over the valid context positions."""
    large.eval(), small.eval()
    batch = batch.to(device)
    mask = batch.context_mask
    worst = 0.0
    for a, b in zip(large(batch), small(batch)):
        diff = (torch.log_softmax(a.float(), -1) - torch.log_softmax(b.float(), -1)).abs()[mask]
        worst = max(worst, float(diff.max()))
    return worst


def official_scores(eval_json: Path, answers: dict[str, str]) -> dict:
    dataset = json.loads(Path(eval_json).read_text(encoding="utf-8"))
    return squad_metric.evaluate(dataset, answers)


def evaluate_row(config: dict, row: str, results: Path) -> dict:
    out = row_dir(results, config, row)
    device = pick_device(config["runtime"]["device"])
    ev = settings(config)["eval"]
    prepared = load_prepared(prepared_path(results, config))
    trained, saved = load_model(out / "model.pt", device)
    rs = saved["settings"] or row_settings(config, row)  # what the weights were trained with
    trained.eval()
    families = iss.components(trained)
    # spec 2.5 test: the element threshold on the loaded EMA weights, then the structure coordinator
    zero_small_weights_(thresholded_parameters(trained, rs["threshold_scope"]), ev["zero_threshold"])
    coordinated = coordinate_structure_(trained, families) if ev["structure_coordinator"] else {}
    removed = iss.removed(trained, families)
    emptied = [name for name, dead in removed.items() if bool(dead.all())]
    if emptied:
        raise ExperimentError(f"table3/{row}: ISS removed every unit of {', '.join(emptied)}; lower lambda "
                              f"(now {rs['lambda']}) for this row in the config")
    norms = {name: n.cpu().tolist() for name, n in iss.GroupLasso(trained, 0.0, families).norms().items()}
    compact = iss.shrink(trained, families, removed).eval()
    error = max_logprob_difference(trained, compact, probe_batch(prepared.eval, ev["probe_questions"]), device)
    if trained.iss_variant == "exact" and error > 1e-3:
        raise ExperimentError(f"table3/{row}: the exact variant's compact model differs from the trained model "
                              f"by {error:.2e} in log-probability; the ISS description is inconsistent")
    answers = predict(compact, prepared.eval, ev["batch_size"], device, max_span=ev["max_span"])
    scores = official_scores(prepared.eval_json, answers)
    before = official_scores(prepared.eval_json, predict(trained, prepared.eval, ev["batch_size"], device,
                                                         max_span=ev["max_span"]))
    sizes = surviving_sizes(removed)
    metrics = dict(
        table=TABLE, row=row, **{"lambda": rs["lambda"]}, iss_variant=trained.iss_variant,
        em=scores["exact_match"], f1=scores["f1"], eval_questions=scores["total"],
        em_before_shrink=before["exact_match"], f1_before_shrink=before["f1"],
        iss_sizes=sizes, trained_sizes=dict(trained.iss_sizes), coordinator_zeroed=coordinated,
        weights=counting.weight_count(compact), weights_before_shrink=counting.weight_count(trained),
        shrink_max_abs_logprob_error=error, eval_json=str(prepared.eval_json), eval_settings=ev,
        data=prepared.summary, provenance=provenance(config, device, determined_by=job_settings(config, row)),
        training_provenance=saved["provenance"],
        settings=rs)
    save_model(compact, out / "compact.pt", saved["provenance"], rs)
    write_json_atomic(out / "predictions.json", answers)
    write_json_atomic(out / "group_norms.json", dict(row=row, iss_variant=trained.iss_variant, norms=norms))
    write_json_atomic(out / "metrics.json", metrics)
    print(f"[iss] table3/{row}: EM {metrics['em']:.2f} F1 {metrics['f1']:.2f} on {scores['total']} questions "
          f"(before the shrink {metrics['em_before_shrink']:.2f} / {metrics['f1_before_shrink']:.2f}), ISS sizes "
          f"{list(sizes.values())}, {metrics['weights']:,} weights, shrink error {error:.2e} ({trained.iss_variant} "
          f"variant)", flush=True)
    return metrics


# ---- geometry and latency ------------------------------------------------------------------


def paper_sizes() -> dict[str, dict[str, int]]:
    """{paper row: {family: ISS size}} from the paper file (baseline all 100)."""
    from iss_harness.paper.tables import load_paper_tables
    paper = load_paper_tables()
    return {row: {family: int(paper.cell(TABLE, row, column).value) for family, column in PAPER_COLUMNS.items()}
            for row in paper.rows(TABLE)}


def paper_model(sizes: dict[str, int], variant: str = "paper", meta: bool = True) -> BiDAF:
    """BiDAF at d = 100 with the paper's vocabulary constants (VW, VC) and the given ISS sizes."""
    kwargs = dict(word_dim=PAPER_D, char_filters=100, hidden=PAPER_D, iss_sizes=sizes, iss_variant=variant)
    if meta:
        return counting.build_on_meta(BiDAF, PAPER_VW, PAPER_VC, **kwargs)
    return BiDAF(PAPER_VW, PAPER_VC, **kwargs)


def paper_size_geometry() -> dict:
    """Weight # of the paper's rows (both ISS variants) and how the count is made, for the report:
    C is everything outside the six ISS LSTMs and the two pointer layers they feed (spec 4.1)."""
    sizes = paper_sizes()
    baseline = paper_model(sizes["baseline"])
    iss_part = sum(p.numel() for name, p in baseline.named_parameters() if p.requires_grad and
                   name.startswith(("mod_", "out_", "start_logits", "end_logits")))
    return dict(d=PAPER_D, vw=PAPER_VW, vc=PAPER_VC, fixed_weights=counting.weight_count(baseline) - iss_part,
                weights={row: counting.weight_count(paper_model(s)) for row, s in sizes.items()},
                weights_exact={row: counting.weight_count(paper_model(s, "exact")) for row, s in sizes.items()})


def timing_batches(prepared: Prepared, questions: int) -> list[SquadBatch]:
    """The first ``questions`` evaluation questions, one batch of 1 each (fixed across rows)."""
    return list(prepared.eval.batches(1))[:questions]


def fold_batch(batch: SquadBatch, words: int, chars: int) -> SquadBatch:
    """The same question with word/char ids folded into another vocabulary (paper-size models)."""
    return SquadBatch(indices=batch.indices, ids=batch.ids, context_words=batch.context_words % words,
                      context_chars=batch.context_chars % chars, context_mask=batch.context_mask,
                      question_words=batch.question_words % words, question_chars=batch.question_chars % chars,
                      question_mask=batch.question_mask, answer_start=batch.answer_start,
                      answer_end=batch.answer_end)


def answer_all(model: torch.nn.Module, batches: list[SquadBatch]):
    """One timed call: answer every question, one at a time (forward, softmax, best span)."""
    model.eval()

    def run():
        for batch in batches:
            start, end = model(batch)
            best_spans(torch.softmax(start, -1), torch.softmax(end, -1), batch.context_mask)
    return run


def time_models(config: dict, models: dict[str, torch.nn.Module], batches: list[SquadBatch]) -> dict:
    """Interleaved latency per question at batch 1 (CPU), each model on its fastest path."""
    t = settings(config)["timing"]
    candidates = []
    for label, model in models.items():
        fn = answer_all(model, batches)
        for n in t["threads"]:
            for onednn in (True, False):
                candidates.append(timing.Candidate(f"{label}|{n}T|{'onednn' if onednn else 'aten'}", fn, n, onednn))
    raw = timing.interleaved(candidates, rounds=t["rounds"], chunk_seconds=t["chunk_seconds"])
    per_question = {name: {**s, **{k: s[k] / len(batches) for k in ("median_ms", "p10_ms", "p90_ms")}}
                    for name, s in raw.items()}
    others = [label for label in models if label != "baseline"]
    return dict(batch_size=1, questions=len(batches), context_tokens=[int(b.context_mask.sum()) for b in batches],
                sizes={label: dict(m.iss_sizes) for label, m in models.items()},
                speedups=timing.speedups(per_question, "baseline", others), candidates=per_question,
                machine=timing.machine_info(),
                provenance=provenance(config, torch.device("cpu"), determined_by=repr(settings(config)["timing"])))


def time_learned(config: dict, results: Path) -> dict:
    prepared = load_prepared(prepared_path(results, config))
    models = {row: load_model(row_dir(results, config, row) / "compact.pt", torch.device("cpu"))[0]
              for row in table3_rows(config)}
    report = time_models(config, models, timing_batches(prepared, settings(config)["timing"]["questions"]))
    write_json_atomic(scale_dir(results, config) / "timing_learned.json", report)
    for row, s in report["speedups"].items():
        print(f"[iss] table3/{row}: {s['median_ms']:.2f} ms per question ({s['path']}), speedup {s['speedup']:.2f}x")
    return report


def time_paper_sizes(config: dict, results: Path) -> dict:
    """The paper's sizes at d = 100 with random weights, on this scale's evaluation questions."""
    prepared = load_prepared(prepared_path(results, config))
    batches = [fold_batch(b, PAPER_VW, PAPER_VC)
               for b in timing_batches(prepared, settings(config)["timing"]["questions"])]
    torch.manual_seed(0)
    models = {row: paper_model(sizes, meta=False) for row, sizes in paper_sizes().items()}
    report = time_models(config, models, batches)
    report["weights"] = {row: counting.weight_count(m) for row, m in models.items()}
    report["geometry"] = paper_size_geometry()
    write_json_atomic(scale_dir(results, config) / "timing_paper_sizes.json", report)
    for row, s in report["speedups"].items():
        print(f"[iss] paper sizes {row}: {report['weights'][row]:,} weights, {s['median_ms']:.2f} ms per question "
              f"({s['path']}), speedup {s['speedup']:.2f}x")
    return report
