"""The one training-settings type: what identifies a training run, whatever the model.

``TrainingSettings`` is the base of the language models' ``TrainConfig`` (epochs of BPTT windows,
``iss_harness.tasks.train_lm``) and BiDAF's ``QATrainConfig`` (optimiser steps,
``iss_harness.tables.table3.train``). Its ``run_digest`` is the one identity of a run: every setting
except those that cannot change the weights (``NOT_WEIGHTS``: validation and checkpointing), plus
what else decides the run (model geometry, data, starting weights). A checkpoint resumes only the run
whose digest it carries.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from iss_harness.config import training_digest


@dataclass
class TrainingSettings:
    # Field-name prefixes of settings that never change the weights (left out of the digest).
    NOT_WEIGHTS: ClassVar[tuple[str, ...]] = ("checkpoint_",)

    def run_digest(self, **identity) -> str:
        return training_digest(asdict(self), self.NOT_WEIGHTS, **identity)
