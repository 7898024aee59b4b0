"""A signal of your own, as one class: the class k lights the first k + 1 pixels of the top row.

Used by ``examples/own_signal.py`` and the docs page "Write your own signal": the benchmarks
take it as ``--signals examples/my_signals/stripe.py:make_signal``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import torch

import signalinject as si


@dataclasses.dataclass(frozen=True)
class Stripe(si.ImageInjector):
    """The first ``k + 1`` pixels of the top row hold ``value`` (every channel) for class k."""

    name: ClassVar[str] = "example_stripe"
    writes: ClassVar[str] = "the start of the top row, every channel"
    strength_scales: ClassVar[str | None] = "value of a lit pixel"
    paper_strength: ClassVar[float | None] = 255

    value: float = 255

    def write(self, out: Any, params: Any, *, source: Any = None) -> None:
        width = out.shape[2]
        cols = np.arange(width)
        if isinstance(out, torch.Tensor):
            lit = torch.from_numpy(cols).to(out.device) <= params.code[:, None]  # (N, W)
            lit &= params.carried[:, None]
            out[:, 0] = torch.where(lit[..., None], torch.tensor(self.value).to(out), out[:, 0])
        else:
            lit = (cols <= params.code[:, None]) & params.carried[:, None]
            np.copyto(out[:, 0], np.asarray(self.value, out.dtype), where=lit[..., None])

    def read(self, x: Any, index: Any) -> Any:
        """The length of the lit run that starts the top row, minus one."""
        if isinstance(x, torch.Tensor):
            lit = x[:, 0].to(torch.float64).mean(-1) > self.value / 2  # nearer lit than 0
            return lit.to(torch.int64).cumprod(-1).sum(-1) - 1
        lit = np.asarray(x[:, 0], np.float64).mean(-1) > self.value / 2
        return lit.astype(np.int64).cumprod(-1).sum(-1) - 1


def make_signal(num_classes: int, seed: int, strength: float | None = None) -> Stripe:
    """The factory the benchmarks call: ``(num_classes, seed)``, and ``strength=`` if given."""
    return Stripe(num_classes, seed=seed, value=255 if strength is None else strength)
