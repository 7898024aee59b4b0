"""signalinject: find the blindspots of models by injecting a label-revealing signal.

An implementation of, and an extension to, Hoffer & Fine, "On the Blindspots of Convolutional
Networks" (2016). See https://signalinject.readthedocs.io for the guide.
"""

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
    OrthogonalNoise,
    PatternPixels,
    RandomPixel,
    orthogonal_noise_basis,
)
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

__version__ = "0.1.0"

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
