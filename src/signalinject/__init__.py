"""signalinject: find the blindspots of models by injecting a label-revealing signal.

An implementation of, and an extension to, Hoffer et al. (2018), "On the Blindspots of
Convolutional Networks" (arXiv:1802.05187). See https://signalinject.readthedocs.io for the guide.
"""

from typing import TYPE_CHECKING, Any

from signalinject.core import (
    Compose,
    Injector,
    Params,
    Prepared,
    from_config,
    get_signal,
    list_signals,
)
from signalinject.image import (
    ImageInjector,
    ImageParams,
    MultipleLocations,
    OnePixel,
    PatternPixels,
    RandomPixel,
)
from signalinject.image_noise import OrthogonalNoise, orthogonal_noise_basis
from signalinject.quantizer import ZHANG_ALPHABET, CharQuantizer
from signalinject.ranges import ValueRangeWarning
from signalinject.text import (
    LengthEncoding,
    Mnemonic,
    PatternChar,
    TextInjector,
)

# -- the signals beyond the paper: triggers of shortcut and backdoor research (issue 16) --
from signalinject.text_triggers import TriggerWord
from signalinject.triggers import Blend, ClassPatch, OnePixelShortcut, Sinusoid, blend_patterns

if TYPE_CHECKING:
    from signalinject.adapters import (
        HFInjectMap,
        IndexedDataset,
        InjectCollate,
        InjectedDataset,
        InjectTransform,
        decode_batch,
        hf_inject,
        inject_batch,
    )

__version__ = "0.2.0"

#: The adapters' names: `signalinject.adapters` (which imports torch) is imported at the first
#: use of one of them (or of ``signalinject.adapters``), so that ``import signalinject`` and
#: NumPy injection never import torch.
_ADAPTERS = frozenset(
    {
        "HFInjectMap",
        "IndexedDataset",
        "InjectCollate",
        "InjectTransform",
        "InjectedDataset",
        "decode_batch",
        "hf_inject",
        "inject_batch",
    }
)


def __getattr__(name: str) -> Any:
    """The adapters (`_ADAPTERS`, ``adapters``), imported at their first use."""
    if name in _ADAPTERS or name == "adapters":
        import signalinject.adapters as adapters  # sets the attribute: no second call here

        return adapters if name == "adapters" else getattr(adapters, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _ADAPTERS | {"adapters"})


__all__ = [
    "ZHANG_ALPHABET",
    "Blend",
    "CharQuantizer",
    "ClassPatch",
    "Compose",
    "HFInjectMap",
    "ImageInjector",
    "ImageParams",
    "IndexedDataset",
    "InjectCollate",
    "InjectTransform",
    "InjectedDataset",
    "Injector",
    "LengthEncoding",
    "Mnemonic",
    "MultipleLocations",
    "OnePixel",
    "OnePixelShortcut",
    "OrthogonalNoise",
    "Params",
    "PatternChar",
    "PatternPixels",
    "Prepared",
    "RandomPixel",
    "Sinusoid",
    "TextInjector",
    "TriggerWord",
    "ValueRangeWarning",
    "__version__",
    "blend_patterns",
    "decode_batch",
    "from_config",
    "get_signal",
    "hf_inject",
    "inject_batch",
    "list_signals",
    "orthogonal_noise_basis",
]
