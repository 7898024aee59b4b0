"""The order check of the children of a ``Compose``.

In a [`Compose`][signalinject.core.Compose] the children write in turn, so a later child that writes
where an earlier child wrote its code destroys that code: with ``Compose([RandomPixel,
OrthogonalNoise])`` the noise, added to every pixel, leaves the pixel code readable in 19% of the
samples (100% the other way round). [`order_conflicts`][signalinject.footprint.order_conflicts]
names every such pair, and ``Compose`` warns about each when it is built
([`OrderWarning`][signalinject.footprint.OrderWarning], through ``warn_order``).

The check knows no signal and no family: it asks each later child
([`overwrites`][signalinject.core.Injector.overwrites]) whether it can overwrite an earlier child's
code. Each family answers from what its signals declare about where they write (the image
signals' [`footprint`][signalinject.image.ImageInjector.footprint], the text signals'
[`footprint`][signalinject.text.TextInjector.footprint]), so a new signal takes part with no edit
here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # core imports this module: the annotation only
    from signalinject.core import Injector

__all__ = [
    "OrderWarning",
    "order_conflicts",
]


class OrderWarning(UserWarning):
    """A later child of a ``Compose`` can overwrite an earlier child's code."""


def order_conflicts(injectors: Sequence[Injector]) -> list[str]:
    """One sentence per pair ``(earlier, later)`` where the later child can overwrite the code.

    Examples:
        >>> import signalinject as si
        >>> (line,) = order_conflicts([si.RandomPixel(10), si.OrthogonalNoise(10)])
        >>> print(line)  # doctest: +NORMALIZE_WHITESPACE
        injectors[1] (OrthogonalNoise) can overwrite the code of
        injectors[0] (RandomPixel): OrthogonalNoise writes every pixel
        >>> order_conflicts([si.OrthogonalNoise(10), si.RandomPixel(10)])
        []
    """
    out = []
    for j, late in enumerate(injectors):
        for i, early in enumerate(injectors[:j]):
            why = late.overwrites(early)
            if why:
                out.append(
                    f"injectors[{j}] ({type(late).__name__}) can overwrite the code of "
                    f"injectors[{i}] ({type(early).__name__}): {why}"
                )
    return out


def warn_order(injectors: Sequence[Injector], *, stacklevel: int = 2) -> None:
    """Warn ([`OrderWarning`][signalinject.footprint.OrderWarning]) about each pair of
    [`order_conflicts`][signalinject.footprint.order_conflicts] (what ``Compose`` calls).

    The advice in the message: put the child that writes every pixel (or cuts the text) first.
    """
    for msg in order_conflicts(injectors):
        warnings.warn(
            f"Compose: {msg}; put the injector that writes more first",
            OrderWarning,
            stacklevel=stacklevel + 1,
        )
