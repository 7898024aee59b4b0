"""The benchmark's signals by name: each name maps to an injector factory with the paper's defaults.

A factory takes ``(num_classes, seed)`` and returns a fresh :class:`~signalinject.Injector`
(``clean`` returns None: no signal). Image signals write into uint8 ``(N, H, W, C)`` images in
0..255 units (the class number itself is the pixel's code, as in the paper); text signals edit the
strings before character quantization.

>>> from signalinject.benchmarks.signals import make_injector, signal_names
>>> signal_names("image")
('clean', 'one_pixel', 'pattern_pixels', 'random_pixel', 'multiple_locations', 'orthogonal_noise')
>>> make_injector("one_pixel", num_classes=10, seed=3)
OnePixel(num_classes=10, seed=3, coverage=1.0, fidelity=1.0, position=(0, 0), values=None)
>>> make_injector("clean", num_classes=10, seed=3) is None
True
"""

from __future__ import annotations

import dataclasses
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
    "TEXT_SIGNALS",
    "Signal",
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
            Zhang's), which bounds what the signal may write.
    """

    name: str
    kinds: tuple[Kind, ...]
    paper_name: str
    factory: Factory


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


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        Signal("clean", ("image", "text"), "Clean", _clean),
        Signal("one_pixel", ("image",), "One pixel", _image(OnePixel)),
        Signal("pattern_pixels", ("image",), "Pattern pixels", _image(PatternPixels)),
        Signal("random_pixel", ("image",), "Random pixel", _image(RandomPixel)),
        Signal("multiple_locations", ("image",), "Multiple locations", _image(MultipleLocations)),
        Signal("orthogonal_noise", ("image",), "Noise", _image(OrthogonalNoise)),
        Signal("mnemonic", ("text",), "Mnemonic", _mnemonic),
        Signal("length_encoding", ("text",), "Length encoding", _length_encoding),
        Signal("pattern_char", ("text",), "Pattern char", _pattern_char),
    )
}

IMAGE_SIGNALS: tuple[str, ...] = tuple(n for n, s in SIGNALS.items() if "image" in s.kinds)
TEXT_SIGNALS: tuple[str, ...] = tuple(n for n, s in SIGNALS.items() if "text" in s.kinds)


def signal_names(kind: Kind) -> tuple[str, ...]:
    """The signal names for ``kind`` (``"image"`` or ``"text"``), ``clean`` first."""
    if kind == "image":
        return IMAGE_SIGNALS
    if kind == "text":
        return TEXT_SIGNALS
    raise ValueError(f"kind must be 'image' or 'text', got {kind!r}")


def make_injector(
    name: str, num_classes: int, seed: int, *, kind: Kind | None = None, quantizer: Any = None
) -> Injector | None:
    """A fresh injector for signal ``name`` (None for ``clean``).

    Args:
        name: a key of :data:`SIGNALS`.
        num_classes: the dataset's number of classes K.
        seed: the injector's seed (one per benchmark seed).
        kind: if given, refuse a signal that does not apply to that data kind.
        quantizer: for text signals, the ``CharQuantizer`` the models' input goes through
            (None: Zhang's, length 1014); ignored by image signals.

    Raises:
        ValueError: unknown name, or a signal of the wrong kind.
    """
    sig = SIGNALS.get(name)
    if sig is None:
        raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNALS)}")
    if kind is not None and kind not in sig.kinds:
        raise ValueError(
            f"signal {name!r} applies to {'/'.join(sig.kinds)} data, not {kind}; "
            f"{kind} signals: {', '.join(signal_names(kind))}"
        )
    if "text" in sig.kinds and quantizer is not None:
        return sig.factory(num_classes, seed, quantizer=quantizer)
    return sig.factory(num_classes, seed)


def wrong_signal(inj: Injector) -> Injector:
    """The same injector with ``fidelity=0.0``: every carried sample encodes a wrong class.

    The wrong class of each sample is ``inj_wrong.codes(y, index)[0]`` (uniform over the other
    K-1 classes, a pure function of ``(seed, index)``); everything else (positions, values,
    coverage) is drawn as by ``inj``.
    """
    return dataclasses.replace(inj, fidelity=0.0)
