"""Why ISS training at a strong lambda can be several times slower per step on an x86 CPU.

Prints the ratios; --record keeps them (not a test).

A unit that ISS has removed owns only zeros: its gate rows, its recurrent column, its column in the
next layer and (after the element threshold) its input-side gate biases. Its candidate value is
then g = tanh(0) = 0, so its cell state is only scaled, c <- f * c, by a forget gate f = sigmoid(forget
bias) that never changes. In a language model the state is carried from one BPTT window to the
next, so the state the unit had when it was removed decays geometrically and passes through the
denormal floats (below 1.2e-38) on its way to zero, slowly when f is near 1. While it does, its
output h = o * tanh(c) is denormal too, and every matrix product that reads the layer's output (the
next layer or the decoder, and their weight gradients) multiplies denormal operands, which x86 CPUs
handle in microcode, many times slower. The unit's outgoing weights are zero, so these products
change nothing: flushing denormals to zero (torch.set_flush_denormal(True), FTZ/DAZ) removes the cost.

This benchmark builds that state directly: a Table 1 (mid) sized LM, 2 x 200 units, with 40 % of
each layer's units removed and forget bias 3 (f = 0.95), and times one training step (forward and
backward over 35 x 20 tokens) from three carried states, interleaved in one process
(iss_harness.tasks.timing): the removed units' cell state zero, the same state denormal, and the
denormal state with denormals flushed to zero.

    python benchmarks/denormal_states.py [--rounds 6] [--threads 1] [--record]
"""
import torch
import torch.nn.functional as F

from _cli import finish, parser, show, start
from iss_harness.models.lstm_lm import FORGET_BLOCK, LSTMLanguageModel
from iss_harness.tasks import timing

VOCAB, EMBEDDING, HIDDEN, STEPS, BATCH = 10_000, 200, 200, 35, 20
REMOVED_FRACTION, FORGET_BIAS, DENORMAL = 0.4, 3.0, 1e-39


@torch.no_grad()
def remove_units(model: LSTMLanguageModel, fraction: float) -> list[torch.Tensor]:
    """Zero every weight and input-side gate bias of the first ``fraction`` of each layer's units,
    as ISS and the element threshold leave them; their forget bias (frozen bias_hh) is FORGET_BIAS.
    Returns the removed unit indices per layer. Gate order i, f, g, o: row block b of a weight
    [4h, n_in] holds gate b of every unit."""
    removed = []
    for layer, (lstm, h) in enumerate(zip(model.lstms, model.hidden_sizes)):
        units = torch.arange(int(fraction * h))
        rows = torch.cat([block * h + units for block in range(4)])
        lstm.weight_ih_l0[rows] = 0
        lstm.weight_hh_l0[rows] = 0
        lstm.weight_hh_l0[:, units] = 0  # the removed units' recurrent columns
        lstm.bias_ih_l0[rows] = 0
        lstm.bias_hh_l0[rows] = 0
        lstm.bias_hh_l0[FORGET_BLOCK * h + units] = FORGET_BIAS
        consumer = model.lstms[layer + 1].weight_ih_l0 if layer + 1 < len(model.lstms) else model.decoder.weight
        consumer[:, units] = 0
        removed.append(units)
    return removed


def carried_state(model: LSTMLanguageModel, removed: list[torch.Tensor], value: float):
    """The state carried into a window: zero for the kept units, ``value`` in the removed units'
    cell state and o * tanh(value) ~ value / 2 in their output (o = sigmoid(0))."""
    state = model.init_state(BATCH)
    for (h, c), units in zip(state, removed):
        c[..., units] = value
        h[..., units] = 0.5 * value
    return state


def training_step(model, tokens, state, flush: bool):
    def run():
        torch.set_flush_denormal(flush)
        try:
            logits, _ = model(tokens[:-1], [(h.clone(), c.clone()) for h, c in state])
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), tokens[1:].reshape(-1)) * STEPS
            model.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            torch.set_flush_denormal(False)
    return run


def main() -> None:
    cli = parser(__doc__, rounds=6, threads="1", threads_help="must be 1 (the flushed candidate sets the float "
                                                              "mode per call, which worker threads do not see)")
    args = cli.parse_args()
    if args.threads != "1":
        cli.error("--threads must be 1: torch's worker threads keep the float mode they started with, so the "
                  "flushed candidate would flush only part of each operation")
    threads = 1  # one thread: see the check above
    run = start(args)
    if not torch.set_flush_denormal(False):
        print("this CPU cannot flush denormals (torch.set_flush_denormal needs SSE3 on x86): nothing to measure")
        return
    torch.manual_seed(0)
    model = LSTMLanguageModel(VOCAB, EMBEDDING, [HIDDEN, HIDDEN], keep_prob=0.6)
    model.train()
    removed = remove_units(model, REMOVED_FRACTION)
    tokens = torch.randint(0, VOCAB, (STEPS + 1, BATCH))
    zero, denormal = carried_state(model, removed, 0.0), carried_state(model, removed, DENORMAL)
    candidates = [timing.Candidate("removed units' state zero", training_step(model, tokens, zero, False), threads),
                  timing.Candidate("state denormal", training_step(model, tokens, denormal, False), threads),
                  timing.Candidate("state denormal, flushed to zero", training_step(model, tokens, denormal, True),
                                   threads)]
    summary = timing.interleaved(candidates, rounds=args.rounds, chunk_seconds=1.0, inference=False)
    base = summary["removed units' state zero"]["median_ms"]
    rows = [[name, f"{s['median_ms']:.1f}", f"{s['median_ms'] / base:.2f}x", f"{s['p10_ms']:.1f}", f"{s['p90_ms']:.1f}",
             str(s["calls"])] for name, s in summary.items()]
    title = (f"Training step, 2 x {HIDDEN} units, {int(100 * REMOVED_FRACTION)} % removed per layer, forget bias "
             f"{FORGET_BIAS}, batch {BATCH} x {STEPS}, {threads} thread(s), {args.rounds} interleaved rounds")
    columns = ["Carried state of the removed units", "Median ms", "Vs state zero", "p10 ms", "p90 ms", "Calls"]
    finish(run, __doc__, show([dict(title=title, columns=columns, rows=rows, notes=[], raw=summary)]))


if __name__ == "__main__":
    main()
