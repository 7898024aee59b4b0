"""Exact carriers: which samples of a training set carry a signal, and which class each encodes.

An injector's own ``coverage`` and ``fidelity`` are decided per sample (each sample carries the
signal with probability ``coverage``): right for a data pipeline, which sees one batch at a time.
A poisoning experiment asks for counts instead: "5 carriers of class 3, 4 of them truthful".
[`carriers`][signalinject.carriers.carriers] draws them over a whole training set:

- **coverage** ``c``: exactly ``round(c * n_k)`` carriers in each class ``k`` (round half up;
  ``n_k`` the samples of class ``k``, or of those in ``among``): the samples of class ``k`` with
  the lowest *carrier key*, a hash of ``(seed, index)`` (ties, which a 32-bit hash allows, broken
  by the index). So the carriers are nested: those of a smaller ``c`` are among those of a larger
  one, and the same samples carry every signal (the key names no signal).
- **target** ``t``: only samples of class ``t`` carry (``round(c * n_t)`` of them), the rest are
  clean: the rare-spurious-correlation setting (Yang, Chou & Chaudhuri 2022).
- **fidelity** ``f``: of the ``m_k`` carriers of class ``k``, exactly ``round(f * m_k)`` encode
  their true class (those with the lowest *truth key*, a second hash of ``(seed, index)``; nested
  across ``f`` as well); the others encode a wrong class drawn uniformly among the other ``K - 1``
  per ``(seed, index)`` (so ``f = 1/K`` makes the code independent of the label: chance).

[`Carriers.inject`][signalinject.carriers.Carriers.inject] then writes any injector's signal into
the carriers alone, each with the code of its class in ``code``, keyed by its own index: the
injector's per-sample draws (positions, values) are those it makes on the whole set, and its own
``coverage`` and ``fidelity`` still apply among the carriers.

Examples:
    >>> import numpy as np, signalinject as si
    >>> y = np.repeat(np.arange(3), 20)
    >>> plan = si.carriers(y, 3, coverage=0.1, seed=0)
    >>> plan.counts
    (2, 2, 2)
    >>> bigger = si.carriers(y, 3, coverage=0.5, seed=0)
    >>> bool((bigger.carried >= plan.carried).all())  # nested
    True
    >>> x = np.zeros((60, 8, 8, 1), np.uint8)
    >>> out = plan.inject(si.OnePixel(3, values=(0, 100, 200)), x)
    >>> int((out[:, 0, 0, 0] > 0).sum())  # the carriers of classes 1 and 2
    4
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from signalinject._backend import hash_u32, is_torch, randint
from signalinject.core import check_fraction, check_int

__all__ = ["CARRIER_STREAM", "Carriers", "carrier_count", "carriers"]

#: The random stream of the carrier and truth keys (crc32 of ``"carriers"``): no signal's, so
#: the carriers of a seed are the same for every signal.
CARRIER_STREAM = zlib.crc32(b"carriers")
_CARRIER_KEY, _TRUTH_KEY, _WRONG_CLASS = 0, 1, 2

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def carrier_count(n: int, fraction: float) -> int:
    """``round(fraction * n)``, half up (``round`` of Python rounds half to even): the number of
    carriers among ``n`` samples at coverage (or of truthful carriers at fidelity) ``fraction``.

    Examples:
        >>> carrier_count(5, 0.5), carrier_count(7, 0.5), carrier_count(320, 0.005)
        (3, 4, 2)
    """
    n = check_int("n", n, low=0)
    f = check_fraction("fraction", fraction)
    # the 1e-9 keeps a product that is a half in exact arithmetic (0.05 * 1350) a half
    return min(n, math.floor(f * n + 0.5 + 1e-9))


def _class_ranks(
    labels: IntArray, index: IntArray, pool: BoolArray, seed: int, counter: int
) -> IntArray:
    """Each sample's rank among the samples of ``pool`` of its class, ordered by their key (a
    hash of ``(seed, index)``, then the index); -1 outside ``pool``. One sort: O(N log N)."""
    key = hash_u32(index, seed, CARRIER_STREAM, counter)
    members = np.flatnonzero(pool)
    order = members[np.lexsort((index[members], key[members], labels[members]))]
    sorted_labels = labels[order]
    first = np.searchsorted(sorted_labels, sorted_labels, side="left")  # each class's start
    rank = np.full(labels.shape, -1, dtype=np.int64)
    rank[order] = np.arange(order.size, dtype=np.int64) - first
    return rank


def _lowest(rank: IntArray, labels: IntArray, need: IntArray) -> BoolArray:
    """The samples whose class rank is below their class's ``need`` (int64 ``(K,)``)."""
    return (rank >= 0) & (rank < need[labels])


@dataclasses.dataclass(frozen=True)
class Carriers:
    """Which samples carry the signal and which class each one's code encodes
    ([`carriers`][signalinject.carriers.carriers] draws one).

    Attributes:
        index: int64 ``(N,)``: the samples' indices (the keys of every draw).
        y: int64 ``(N,)``: their labels, in ``[0, num_classes)``.
        carried: bool ``(N,)``: True for a carrier.
        code: int64 ``(N,)``: the class a carrier's signal encodes (its label where it tells the
            truth); the label elsewhere.
        num_classes: K.
    """

    index: IntArray
    y: IntArray
    carried: BoolArray
    code: IntArray
    num_classes: int

    @property
    def counts(self) -> tuple[int, ...]:
        """The carriers of each class, ``(K,)``."""
        return tuple(int(v) for v in np.bincount(self.y[self.carried], minlength=self.num_classes))

    @property
    def truthful(self) -> tuple[int, ...]:
        """The carriers of each class whose code is their class, ``(K,)``."""
        ok = self.carried & (self.code == self.y)
        return tuple(int(v) for v in np.bincount(self.y[ok], minlength=self.num_classes))

    def inject(self, injector: Callable[..., Any], x: Any) -> Any:
        """``x`` with ``injector``'s signal written into the carriers alone (a new array, tensor
        or list; ``x`` untouched).

        Args:
            injector: an [`Injector`][signalinject.Injector] or a
                [`Compose`][signalinject.Compose]: called once, on the carriers, with their
                codes as labels and their indices.
            x: the ``N`` samples: a NumPy array or torch tensor ``(N, ...)`` (the injector's
                layout), or a list of ``N`` texts.

        Raises:
            ValueError: ``x`` does not hold ``N`` samples.
        """
        n = len(self.index)
        if is_torch(x) or isinstance(x, np.ndarray):
            size = int(x.shape[0]) if x.ndim else -1
        elif isinstance(x, Sequence) and not isinstance(x, (str, bytes)):
            size = len(x)
        else:
            raise TypeError(
                f"x must be a NumPy array, a torch tensor or a list of texts, got "
                f"{type(x).__name__}"
            )
        if size != n:
            raise ValueError(f"x must hold the {n} samples of the carriers, got {size}")
        sel = np.flatnonzero(self.carried)
        code, index = self.code[sel], self.index[sel]
        if isinstance(x, np.ndarray):
            out_np = x.copy()
            if sel.size:
                out_np[sel] = injector(x[sel], code, index=index)
            return out_np
        if is_torch(x):
            import torch

            rows = torch.from_numpy(sel).to(x.device)
            out_t = x.clone()
            if sel.size:
                out_t[rows] = injector(
                    x[rows],
                    torch.from_numpy(code).to(x.device),
                    index=torch.from_numpy(index).to(x.device),
                )
            return out_t
        out = list(x)
        if sel.size:
            done = injector([x[i] for i in sel], code, index=index)
            for i, text in zip(sel.tolist(), done, strict=True):
                out[i] = text
        return out


def _host_ints(name: str, values: Any) -> IntArray:
    """``values`` (NumPy, torch or a sequence) as a host int64 ``(N,)`` array, else an error."""
    if is_torch(values):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, one entry per sample, got {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got {arr.dtype}")
    return arr.astype(np.int64)


def carriers(
    y: Any,
    num_classes: int,
    *,
    coverage: float = 1.0,
    fidelity: float = 1.0,
    seed: int = 0,
    index: Any = None,
    target: int | None = None,
    among: Any = None,
) -> Carriers:
    """Draw the carriers of a training set and their codes (see the module doc).

    Args:
        y: int labels ``(N,)`` in ``[0, num_classes)`` (NumPy, torch or a sequence).
        num_classes: K, at least 2.
        coverage: the fraction of each class that carries, in (0, 1].
        fidelity: the fraction of each class's carriers whose code is their class, in [0, 1].
        seed: the seed of the keys, ``0 <= seed < 2**64``.
        index: the samples' distinct non-negative indices ``(N,)``; None: ``arange(N)``.
        target: only this class carries (None: every class).
        among: bool ``(N,)``: the samples that may carry (those a model is fitted on); the
            counts are of them. None: all.

    Returns:
        The [`Carriers`][signalinject.carriers.Carriers] (host NumPy arrays).

    Raises:
        ValueError: a value out of range, mismatched lengths, repeated indices, or a coverage
            that names no carrier (``round(coverage * n_k)`` is 0 in every class that may carry).
        TypeError: labels or indices that are not integers.
    """
    k = check_int("num_classes", num_classes, low=2)
    labels = _host_ints("y", y)
    n = labels.size
    if n and (labels.min() < 0 or labels.max() >= k):
        bad = int(labels[(labels < 0) | (labels >= k)][0])
        raise ValueError(f"y must hold labels in [0, {k - 1}] (num_classes={k}), got {bad}")
    c = check_fraction("coverage", coverage)
    if c == 0.0:
        raise ValueError("coverage must be in (0, 1], got 0.0: a coverage of 0 names no carrier")
    f = check_fraction("fidelity", fidelity)
    seed = check_int("seed", seed, low=0, high=2**64 - 1)
    idx = np.arange(n, dtype=np.int64) if index is None else _host_ints("index", index)
    if idx.size != n:
        raise ValueError(f"index must hold one index per label ({n}), got {idx.size}")
    if n and idx.min() < 0:
        raise ValueError(f"index must hold non-negative indices, got {int(idx.min())}")
    if np.unique(idx).size != n:
        raise ValueError("index must not repeat an index: each names one sample")
    if target is not None:
        target = check_int("target", target, low=0, high=k - 1)
    if among is None:
        pool = np.ones(n, dtype=bool)
    else:
        pool = np.asarray(among.detach().cpu() if is_torch(among) else among)
        if pool.dtype != np.bool_ or pool.shape != (n,):
            raise ValueError(
                f"among must be a bool mask of shape ({n},), got {pool.dtype} {pool.shape}"
            )
    in_pool = np.bincount(labels[pool], minlength=k)
    need = np.array([carrier_count(int(v), c) for v in in_pool], dtype=np.int64)
    if target is not None:
        need[np.arange(k) != target] = 0
    carried = _lowest(_class_ranks(labels, idx, pool, seed, _CARRIER_KEY), labels, need)
    if not carried.any():
        sizes = in_pool if target is None else in_pool[[target]]
        largest = int(sizes.max()) if sizes.size else 0
        hint = f"; the smallest coverage that names one is {0.5 / largest:.3g}" if largest else ""
        where = f"class {target}" if target is not None else "every class"
        raise ValueError(
            f"coverage={c:g} names no carrier: round({c:g} * n_k) is 0 in {where} (largest "
            f"class: {largest} samples){hint}"
        )
    code = labels.copy()
    if f < 1.0:
        per_class = np.bincount(labels[carried], minlength=k)
        keep_n = np.array([carrier_count(int(v), f) for v in per_class], dtype=np.int64)
        keep = _lowest(_class_ranks(labels, idx, carried, seed, _TRUTH_KEY), labels, keep_n)
        wrong = (labels + 1 + randint(idx, k - 1, seed, CARRIER_STREAM, _WRONG_CLASS)) % k
        flip = carried & ~keep
        code[flip] = wrong[flip]
    return Carriers(index=idx, y=labels, carried=carried, code=code, num_classes=k)
