"""The benchmark's signals by name: each name maps to an injector factory with the paper's defaults.

A factory takes ``(num_classes, seed)`` and returns a fresh :class:`~signalinject.Injector`
(``clean`` returns None: no signal). Image signals write into uint8 ``(N, H, W, C)`` images in
0..255 units (the class number itself is the pixel's code, as in the paper); text signals edit the
strings before character quantization.

The paper's pixel codes are faint (class k is the pixel value k, at most 9 of 255). Four image
signals take a ``strength`` in 0..255 image units that scales their code through the injector's
own parameters (``None``, or the paper's value, gives the paper's injector unchanged):

======================  ====================================================  ==============
signal                  ``strength``                                          paper's value
======================  ====================================================  ==============
``one_pixel``           step between class codes: ``values=(0, s, 2s, ...)``  1
``pattern_pixels``      value of a set bit: ``on_value=s`` (``off_value=0``)  1
``random_pixel``        step between class codes: ``values=(0, s, 2s, ...)``  1
``orthogonal_noise``    per-element RMS of the noise: ``strength=s``          7.65 (3%)
======================  ====================================================  ==============

``multiple_locations`` has no strength (its code is *where* a pair of pixels equals, with a random
value), nor do the text signals (a character is a character).

>>> from signalinject.benchmarks.signals import make_injector, signal_names
>>> signal_names("image")
('clean', 'one_pixel', 'pattern_pixels', 'random_pixel', 'multiple_locations', 'orthogonal_noise')
>>> make_injector("one_pixel", num_classes=10, seed=3)
OnePixel(num_classes=10, seed=3, coverage=1.0, fidelity=1.0, position=(0, 0), values=None)
>>> make_injector("clean", num_classes=10, seed=3) is None
True
>>> make_injector("one_pixel", num_classes=4, seed=0, strength=60).values
(0.0, 60.0, 120.0, 180.0)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Literal

from signalinject.core import Injector
from signalinject.image import (
    MultipleLocations,
    OnePixel,
    OrthogonalNoise,
    PatternPixels,
    RandomPixel,
)

__all__ = [
    "IMAGE_SIGNALS",
    "SIGNALS",
    "STRENGTH_SIGNALS",
    "TEXT_SIGNALS",
    "Signal",
    "check_strength",
    "make_injector",
    "signal_names",
    "wrong_signal",
]

Kind = Literal["image", "text"]
Factory = Callable[..., "Injector | None"]


@dataclasses.dataclass(frozen=True)
class Signal:
    """One benchmark signal.

    Attributes:
        name: the benchmark's name (``one_pixel``).
        kinds: the data kinds it applies to (``clean`` applies to both).
        paper_name: its name in Hoffer & Fine (2016), Table 1 or Table 3.
        factory: ``(num_classes, seed) -> Injector`` with the paper's defaults (None for
            ``clean``); text factories also take ``quantizer=`` (a ``CharQuantizer``, None for
            Zhang's), which bounds what the signal may write; factories of signals with a
            strength also take ``strength=`` (see the module doc).
        strength: what ``strength`` sets, in words; None: the signal has no strength.
        default_strength: the paper's strength (what ``strength=None`` means).
    """

    name: str
    kinds: tuple[Kind, ...]
    paper_name: str
    factory: Factory
    strength: str | None = None
    default_strength: float | None = None


def _clean(num_classes: int, seed: int, **_: Any) -> None:
    return None


# The text injectors are imported when called, so that the image suite does not depend on the
# text module being importable.
def _mnemonic(num_classes: int, seed: int, quantizer: Any = None) -> Injector:
    from signalinject.text import Mnemonic

    return Mnemonic(num_classes, seed=seed, quantizer=quantizer)


def _length_encoding(num_classes: int, seed: int, quantizer: Any = None) -> Injector:
    from signalinject.text import LengthEncoding

    return LengthEncoding(num_classes, seed=seed, quantizer=quantizer)


def _pattern_char(num_classes: int, seed: int, quantizer: Any = None) -> Injector:
    from signalinject.text import PatternChar

    return PatternChar(num_classes, seed=seed, quantizer=quantizer)


def _image(cls: type[Injector]) -> Factory:
    def factory(num_classes: int, seed: int) -> Injector:
        return cls(num_classes, seed=seed)

    factory.__name__ = f"make_{cls.__name__}"
    return factory


# The image signals with a strength: None (or the paper's strength) gives the paper's injector
# itself, so a sweep's point at the paper's strength is the same cell as ``bench images``'.
def _one_pixel(num_classes: int, seed: int, strength: float | None = None) -> Injector:
    if strength is None or strength == 1:
        return OnePixel(num_classes, seed=seed)
    return OnePixel(num_classes, seed=seed, values=tuple(k * strength for k in range(num_classes)))


def _random_pixel(num_classes: int, seed: int, strength: float | None = None) -> Injector:
    if strength is None or strength == 1:
        return RandomPixel(num_classes, seed=seed)
    values = tuple(k * strength for k in range(num_classes))
    return RandomPixel(num_classes, seed=seed, values=values)


def _pattern_pixels(num_classes: int, seed: int, strength: float | None = None) -> Injector:
    if strength is None or strength == 1:
        return PatternPixels(num_classes, seed=seed)
    return PatternPixels(num_classes, seed=seed, on_value=strength, off_value=0)


_NOISE_DEFAULT = 0.03 * 255  # OrthogonalNoise's default RMS on uint8 images


def _orthogonal_noise(num_classes: int, seed: int, strength: float | None = None) -> Injector:
    if strength is None or math.isclose(strength, _NOISE_DEFAULT, rel_tol=1e-6):  # 7.65
        return OrthogonalNoise(num_classes, seed=seed)
    return OrthogonalNoise(num_classes, seed=seed, strength=strength)


_STEP = "step between class codes (class k's pixel value is k * strength)"


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        Signal("clean", ("image", "text"), "Clean", _clean),
        Signal("one_pixel", ("image",), "One pixel", _one_pixel, _STEP, 1),
        Signal(
            "pattern_pixels",
            ("image",),
            "Pattern pixels",
            _pattern_pixels,
            "value of a set bit (on_value; off_value 0)",
            1,
        ),
        Signal("random_pixel", ("image",), "Random pixel", _random_pixel, _STEP, 1),
        Signal("multiple_locations", ("image",), "Multiple locations", _image(MultipleLocations)),
        Signal(
            "orthogonal_noise",
            ("image",),
            "Noise",
            _orthogonal_noise,
            "per-element RMS of the noise",
            _NOISE_DEFAULT,
        ),
        Signal("mnemonic", ("text",), "Mnemonic", _mnemonic),
        Signal("length_encoding", ("text",), "Length encoding", _length_encoding),
        Signal("pattern_char", ("text",), "Pattern char", _pattern_char),
    )
}

IMAGE_SIGNALS: tuple[str, ...] = tuple(n for n, s in SIGNALS.items() if "image" in s.kinds)
TEXT_SIGNALS: tuple[str, ...] = tuple(n for n, s in SIGNALS.items() if "text" in s.kinds)
#: The signals that take a ``strength`` (see the module doc).
STRENGTH_SIGNALS: tuple[str, ...] = tuple(n for n, s in SIGNALS.items() if s.strength)


def signal_names(kind: Kind) -> tuple[str, ...]:
    """The signal names for ``kind`` (``"image"`` or ``"text"``), ``clean`` first."""
    if kind == "image":
        return IMAGE_SIGNALS
    if kind == "text":
        return TEXT_SIGNALS
    raise ValueError(f"kind must be 'image' or 'text', got {kind!r}")


def check_strength(name: str, strength: float | None, num_classes: int | None = None) -> None:
    """Refuse a ``strength`` that signal ``name`` cannot take (before anything is run).

    ``clean`` ignores any strength. Pixel codes must be whole numbers (the benchmark's images
    are uint8): ``strength`` an integer >= 1, and, given ``num_classes``, the largest code
    within 255.

    Raises:
        TypeError: not a number.
        ValueError: a signal without a strength, or a strength that does not fit.
    """
    if strength is None or name == "clean":
        return
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise TypeError(f"strength must be a number, got {strength!r}")
    sig = SIGNALS.get(name)
    if sig is None:
        raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNALS)}")
    if sig.strength is None:
        raise ValueError(
            f"signal {name!r} has no strength (signals with one: {', '.join(STRENGTH_SIGNALS)})"
        )
    if not math.isfinite(strength) or strength <= 0:
        raise ValueError(f"strength must be a finite number > 0, got {strength!r}")
    if name == "orthogonal_noise":
        return
    if strength != math.floor(strength):
        raise ValueError(
            f"{name} writes uint8 pixels: strength must be a whole number, got {strength!r}"
        )
    top = strength if name == "pattern_pixels" else strength * ((num_classes or 1) - 1)
    if top > 255:
        most = 255 if name == "pattern_pixels" else 255 // ((num_classes or 2) - 1)
        raise ValueError(
            f"strength {strength:g} is too large for {name} with {num_classes} classes: its "
            f"largest code would be {top:g} > 255 (at most {most})"
        )


def make_injector(
    name: str,
    num_classes: int,
    seed: int,
    *,
    kind: Kind | None = None,
    quantizer: Any = None,
    strength: float | None = None,
) -> Injector | None:
    """A fresh injector for signal ``name`` (None for ``clean``).

    Args:
        name: a key of :data:`SIGNALS`.
        num_classes: the dataset's number of classes K.
        seed: the injector's seed (one per benchmark seed).
        kind: if given, refuse a signal that does not apply to that data kind.
        quantizer: for text signals, the ``CharQuantizer`` the models' input goes through
            (None: Zhang's, length 1014); ignored by image signals.
        strength: the code's strength in 0..255 image units (see the module doc); None: the
            paper's. ``clean`` ignores it.

    Raises:
        ValueError: unknown name, a signal of the wrong kind, or a strength it cannot take
            (:func:`check_strength`).
    """
    sig = SIGNALS.get(name)
    if sig is None:
        raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNALS)}")
    if kind is not None and kind not in sig.kinds:
        raise ValueError(
            f"signal {name!r} applies to {'/'.join(sig.kinds)} data, not {kind}; "
            f"{kind} signals: {', '.join(signal_names(kind))}"
        )
    check_strength(name, strength, num_classes)
    if "text" in sig.kinds and quantizer is not None:
        return sig.factory(num_classes, seed, quantizer=quantizer)
    if strength is not None and sig.strength is not None:
        # float: 60 and 60.0 must give the same injector config (and so the same cell id)
        return sig.factory(num_classes, seed, strength=float(strength))
    return sig.factory(num_classes, seed)


def wrong_signal(inj: Injector) -> Injector:
    """The same injector with ``fidelity=0.0``: every carried sample encodes a wrong class.

    The wrong class of each sample is ``inj_wrong.codes(y, index)[0]`` (uniform over the other
    K-1 classes, a pure function of ``(seed, index)``); everything else (positions, values,
    coverage) is drawn as by ``inj``.
    """
    return dataclasses.replace(inj, fidelity=0.0)
