"""The command line both speed benchmarks share (run them as `python benchmarks/<name>.py`)."""
import argparse

import torch

from iss_harness.tasks import timing


def main(doc: str, inference_speedup, training_overhead, rounds: int) -> None:
    """--rounds, --threads 1,2, --skip-training, --skip-inference; prints the machine first."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-inference", action="store_true")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"torch {torch.__version__}, {timing.machine_info()}")
    if not args.skip_inference:
        inference_speedup(args.rounds, threads)
    if not args.skip_training:
        training_overhead(args.rounds, max(threads))
