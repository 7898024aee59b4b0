"""The order check of the children of a ``Compose``.

In a [`Compose`][signalinject.core.Compose] the children write in turn, so a later child that writes
where an earlier child wrote its code destroys that code: with ``Compose([RandomPixel,
OrthogonalNoise])`` the noise, added to every pixel, leaves the pixel code readable in 19% of the
samples (100% the other way round). [`order_conflicts`][signalinject.footprint.order_conflicts]
names every such pair and [`warn_order`][signalinject.footprint.warn_order] warns about them
([`OrderWarning`][signalinject.footprint.OrderWarning]); ``Compose`` calls it when it is built.

Each signal declares where it writes ([`footprint`][signalinject.image.ImageInjector.footprint],
[`footprint`][signalinject.text.TextInjector.footprint]), so a new signal takes part with no edit
here. A conflict is reported when a later child writes every pixel, when two children's fixed
pixels (or characters) meet, or when a later child cuts or pads the text before an earlier
child's positions. A signal that writes one pixel drawn per sample landing on another child's
fixed pixel is not reported: it happens in ``P / (H * W)`` of the samples for ``P`` fixed pixels
(0.1% for one pixel of a 32x32 image). Fixed pixels are compared at the image sizes in
`SIZES` that hold every position.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from signalinject.core import Injector
from signalinject.image import Footprint, ImageInjector
from signalinject.text import TextFootprint, TextInjector

__all__ = ["SIZES", "OrderWarning", "order_conflicts", "pixels_written", "warn_order"]

#: Image sizes ``(height, width)`` at which fixed pixels are compared.
SIZES: tuple[tuple[int, int], ...] = ((8, 8), (28, 28), (32, 32), (64, 64), (224, 224))


class OrderWarning(UserWarning):
    """A later child of a ``Compose`` can overwrite an earlier child's code."""


def pixels_written(injector: Injector, height: int, width: int) -> Footprint | None:
    """The pixels ``(row, column)`` an image injector can write in a ``height x width`` image
    (its [`footprint`][signalinject.image.ImageInjector.footprint]).

    Returns:
        A frozenset of pixels (fixed positions, every class's included), ``"every pixel"``,
        ``"one drawn pixel"``, or None for a text injector or a signal that cannot be laid out
        at this size.
    """
    if not isinstance(injector, ImageInjector):
        return None
    try:
        return injector.footprint(height, width)
    except ValueError:  # e.g. more classes than pairs of border pixels at this size
        return None


def _text_written(injector: Injector) -> TextFootprint | None:
    return injector.footprint() if isinstance(injector, TextInjector) else None


def _image_conflict(early: Injector, late: Injector) -> str | None:
    for h, w in SIZES:
        a, b = pixels_written(early, h, w), pixels_written(late, h, w)
        if a is None or b is None:
            continue  # a text injector, or one that does not fit this size: try a larger one
        if b == "every pixel":
            return f"{type(late).__name__} writes every pixel"
        if isinstance(a, frozenset) and isinstance(b, frozenset):
            if any(r >= h or c >= w for r, c in a | b):
                continue  # a position outside this size: compare at a larger one
            both = sorted(a & b)
            if both:
                return f"both write pixel {both[0]} in a {h}x{w} image"
            return None
    return None


def _text_conflict(early: Injector, late: Injector) -> str | None:
    a, b = _text_written(early), _text_written(late)
    if a is None or b is None:
        return None
    both = sorted(a[0] & b[0])
    if both:
        return f"both write character {both[0]}"
    if b[1] is not None and a[0] and max(a[0]) >= b[1]:
        return f"{type(late).__name__} cuts texts to {b[1]} characters, before position {max(a[0])}"
    return None


def order_conflicts(injectors: Sequence[Injector]) -> list[str]:
    """One sentence per pair ``(earlier, later)`` where the later child can overwrite the code.

    Examples:
        >>> import signalinject as si
        >>> (line,) = order_conflicts([si.RandomPixel(10), si.OrthogonalNoise(10)])
        >>> print(line)  # doctest: +NORMALIZE_WHITESPACE
        injectors[1] (OrthogonalNoise) can overwrite the code of injectors[0] (RandomPixel):
        OrthogonalNoise writes every pixel
        >>> order_conflicts([si.OrthogonalNoise(10), si.RandomPixel(10)])
        []
    """
    out = []
    for j, late in enumerate(injectors):
        for i, early in enumerate(injectors[:j]):
            why = _image_conflict(early, late) or _text_conflict(early, late)
            if why:
                out.append(
                    f"injectors[{j}] ({type(late).__name__}) can overwrite the code of "
                    f"injectors[{i}] ({type(early).__name__}): {why}"
                )
    return out


def warn_order(injectors: Sequence[Injector], *, stacklevel: int = 2) -> None:
    """Warn ([`OrderWarning`][signalinject.footprint.OrderWarning]) about each pair of
    [`order_conflicts`][signalinject.footprint.order_conflicts].

    The advice in the message: put the child that writes every pixel (or cuts the text) first.
    """
    for msg in order_conflicts(injectors):
        warnings.warn(
            f"Compose: {msg}; put the injector that writes more first",
            OrderWarning,
            stacklevel=stacklevel + 1,
        )
