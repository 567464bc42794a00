"""The library's one error family: catch ``iss.ISSError`` for any of them.

Each subclass also derives from the built-in exception it used to be, so code that caught
``TypeError`` / ``ValueError`` / ``KeyError`` keeps working.
"""
from __future__ import annotations

import math


class ISSError(Exception):
    """Anything iss refuses to do, with a message that says why and what to do instead."""


class NotSupported(ISSError, TypeError):
    """A module iss cannot shrink (nn.GRU, nn.RNN, nn.LSTM with proj_size > 0)."""


class ConsumerNotFound(ISSError, ValueError):
    """The layer that reads an LSTM's output could not be found: declare it (see the message)."""


class InvalidDescription(ISSError, KeyError):
    """The ISS families do not fit the model they are applied to: a parameter that is not there,
    a slice outside its tensor, or a family whose size is not the width of the layer it describes
    (families built from another model)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class InvalidArgument(ISSError, ValueError):
    """A lambda, threshold or scope that cannot be meant (NaN, infinite, negative, unknown)."""


class NotExact(ISSError):
    """The compact model's outputs differ from the masked large model's on the example inputs."""


def check_nonnegative(name: str, value: float) -> float:
    """``value`` if it is a finite number >= 0, else InvalidArgument naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be a number >= 0, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise InvalidArgument(f"{name} must be a finite number >= 0, got {value!r}")
    return number
