"""How every job sets torch's CPU arithmetic up before it computes anything: its thread count, and
denormal floats flushed to zero.

Why flush: a hidden unit that ISS removed (all its weights zero) keeps a cell state that only its
forget gate scales, and a language model carries that state from window to window, so it decays
through the denormal range (below about 1e-38 in float32). x86 CPUs handle denormal operands in
microcode, and every matrix product that reads the layer's output then slows down by an order of
magnitude (benchmarks/denormal_states.py measures it; reports/benchmarks.md). Flushing them to zero
(FTZ/DAZ) changes values below 1e-38 only, and none of them can move a perplexity.

This module counts toward the code digest (iss_harness.provenance.code_digest): results made
before jobs flushed denormals carry another digest than results made after, and `iss record` and the
report's provenance table name a table whose pieces mix them (the command line, where this is
called, does not count).
"""
from __future__ import annotations


def start_torch(threads: int) -> bool:
    """Set ``threads`` torch threads and flush denormals; True when this CPU can flush them
    (torch.set_flush_denormal needs SSE3 on x86; elsewhere it is a no-op that returns False)."""
    import torch
    torch.set_num_threads(threads)
    return torch.set_flush_denormal(True)
