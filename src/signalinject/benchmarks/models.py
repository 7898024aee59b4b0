"""The paper's torch models, registered: its image ConvNet, Zhang et al.'s char-CNNs, the Shallow
Max NN and a perceptron.

| name | class | input | role |
|---|---|---|---|
| ``convnet`` | `PaperConvNet` | float ``(N, C, H, W)`` | the paper's image ConvNet |
| ``charcnn`` | `CharCNN` | int64 codes ``(N, L)`` | Zhang et al.'s small char-CNN |
| ``charcnn_large`` | `CharCNN` | int64 codes ``(N, L)`` | Zhang et al.'s large char-CNN |
| ``charcnn_narrow`` | `CharCNN` | int64 codes ``(N, L)`` | width 64, FC 256 (the stand-ins) |
| ``shallow_max`` | `ShallowMaxNet` | float ``(N, C, H, W)`` | the paper's "Shallow MaxNN" |
| ``perceptron`` | `Perceptron` | anything ``(N, ...)`` | one linear layer on raw inputs |

Importing this module registers them
([`signalinject.benchmarks.registry`][signalinject.benchmarks.registry], identity ``"paper"``:
their 0.1.0 cell ids stay, except the Shallow MaxNN's, keyed by its structure since 0.2.0 changed
it); the modern architectures are in
[`signalinject.benchmarks.modern`][signalinject.benchmarks.modern], the scikit-learn baselines in
[`signalinject.benchmarks.baselines`][signalinject.benchmarks.baselines]. Their parameter counts
are in the generated table of docs/models.md.

The three char-CNNs differ only in width: Zhang et al.'s small (256 conv features, 1024 hidden
units) and large (1024, 2048) models, and a narrow one (64, 256), the text suite's default on the
small embedded stand-in, where the small model's 11M parameters (at length 1014) overfit a
thousand samples and cost minutes per epoch on a CPU.

Examples:
    >>> import torch
    >>> from signalinject.benchmarks.registry import build_model, count_parameters
    >>> net = build_model("convnet", (3, 32, 32), 10)
    >>> net(torch.zeros(2, 3, 32, 32)).shape, count_parameters(net)
    (torch.Size([2, 10]), 608778)
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from signalinject.benchmarks.registry import COLOURS, ModelEntry, register_model
from signalinject.core import check_int

__all__ = ["CharCNN", "PaperConvNet", "Perceptron", "ShallowMaxNet"]


def _image_size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, (str, bytes)) or not isinstance(image_size, (tuple, list)):
        raise TypeError(f"image_size must be a (height, width) pair, got {image_size!r}")
    if len(image_size) != 2:
        raise TypeError(f"image_size must be a (height, width) pair, got {image_size!r}")
    return check_int("image_size[0]", image_size[0], low=4), check_int(
        "image_size[1]", image_size[1], low=4
    )


class PaperConvNet(nn.Module):
    """The paper's image ConvNet: 4 conv layers, ReLU, then one fully connected classifier.

    Filter sizes 5, 3, 3, 2 and feature maps 3 -> 64 -> 128 -> 256 -> 128 (Hoffer et al.
    2018). The paper leaves pooling and padding unstated; our choice: every conv is padded by
    ``kernel // 2`` (so the 2x2 conv grows 8x8 to 9x9) and a 2x2 max-pool follows the first two
    convs (32 -> 16 -> 8). The classifier is one linear layer on the flattened 128x9x9 maps.

    Parameters: 608,778 for 10 classes on 32x32x3 (505,088 in the convs, 103,690 in the
    classifier), the paper's "~600K".

    Args:
        num_classes: K outputs (logits).
        in_channels: C of the input ``(N, C, H, W)``.
        image_size: ``(H, W)``; 32x32 in the paper, any size >= 4 works.
    """

    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, *, image_size: Any = (32, 32)
    ) -> None:
        super().__init__()
        k = check_int("num_classes", num_classes, low=2)
        c = check_int("in_channels", in_channels, low=1)
        h, w = _image_size(image_size)
        self.features = nn.Sequential(
            nn.Conv2d(c, 64, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(128, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 128, 2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(128 * (h // 4 + 1) * (w // 4 + 1), k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float ``(N, C, H, W)`` -> logits ``(N, K)``."""
        return self.classifier(self.features(x).flatten(1))  # type: ignore[no-any-return]


def _charcnn_out_length(length: int) -> int:
    """Positions left after CharCNN's convs (kernels 7, 7, 3, 3, 3, 3) and its three pools of 3."""
    n = (length - 6) // 3  # conv 7, pool 3
    n = (n - 6) // 3  # conv 7, pool 3
    return (n - 8) // 3  # four convs of 3, pool 3


class CharCNN(nn.Module):
    """Zhang et al.'s (2015) small character-level ConvNet.

    Six temporal convs of ``width`` (256) features, kernels 7, 7, 3, 3, 3, 3, ReLU, max-pool of 3
    (stride 3) after convs 1, 2 and 6; then linear layers of ``fc_width`` (1024), 1024 and K with
    ReLU and dropout 0.5 between them. For ``length`` 1014: 34 positions reach the classifier,
    11.3M parameters for 5 classes.

    The input is the quantized text: int64 codes ``(N, L)`` with 1..``alphabet_size`` a character
    and 0 anything else (the all-zero vector). The one-hot encoding is a lookup in a frozen
    ``(alphabet_size + 1, alphabet_size)`` table (a buffer, row 0 zero, then the identity), done
    inside the model so that only the small codes travel to the device. Codes outside
    ``0..alphabet_size`` raise an IndexError (a device assert on CUDA).

    Args:
        num_classes: K outputs.
        alphabet_size: the quantizer's alphabet (70 in Zhang et al.).
        length: L, the quantized length (1014 in Zhang et al.; at least 123).
        width: conv features (256 in the small model; smaller for tests and CPU demos).
        fc_width: hidden linear units (1024 in the small model).
        dropout: dropout probability between the linear layers.
        init_std: if given, every weight is drawn from N(0, init_std) and biases zeroed, as
            Zhang et al. did (0.05 for the small model); default: PyTorch's initialization.
    """

    onehot: torch.Tensor  # the frozen one-hot table, a buffer

    def __init__(
        self,
        num_classes: int,
        alphabet_size: int = 70,
        length: int = 1014,
        *,
        width: int = 256,
        fc_width: int = 1024,
        dropout: float = 0.5,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        k = check_int("num_classes", num_classes, low=2)
        a = check_int("alphabet_size", alphabet_size, low=1)
        n = check_int("length", length, low=1)
        w = check_int("width", width, low=1)
        fc = check_int("fc_width", fc_width, low=1)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        out = _charcnn_out_length(n)
        if out < 1:
            raise ValueError(
                f"length must be at least 123 for CharCNN's convs and pools, got {length}"
            )
        self.alphabet_size, self.length = a, n
        self.register_buffer("onehot", torch.cat([torch.zeros(1, a), torch.eye(a)]))
        self.features = nn.Sequential(
            nn.Conv1d(a, w, 7), nn.ReLU(inplace=True), nn.MaxPool1d(3),
            nn.Conv1d(w, w, 7), nn.ReLU(inplace=True), nn.MaxPool1d(3),
            nn.Conv1d(w, w, 3), nn.ReLU(inplace=True),
            nn.Conv1d(w, w, 3), nn.ReLU(inplace=True),
            nn.Conv1d(w, w, 3), nn.ReLU(inplace=True),
            nn.Conv1d(w, w, 3), nn.ReLU(inplace=True), nn.MaxPool1d(3),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Linear(w * out, fc), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc, fc), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc, k),
        )  # fmt: skip
        if init_std is not None:
            if not init_std > 0 or not math.isfinite(init_std):
                raise ValueError(f"init_std must be a positive number, got {init_std}")
            for m in self.modules():
                if isinstance(m, (nn.Conv1d, nn.Linear)):
                    nn.init.normal_(m.weight, 0.0, init_std)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """int64 codes ``(N, L)`` -> logits ``(N, K)``."""
        if codes.ndim != 2 or codes.shape[1] != self.length:
            raise ValueError(
                f"CharCNN expects int64 codes of shape (N, {self.length}), got {tuple(codes.shape)}"
            )
        x = F.embedding(codes, self.onehot)  # (N, L, A); the buffer follows model.to(dtype)
        return self.classifier(self.features(x.transpose(1, 2)).flatten(1))  # type: ignore[no-any-return]


class ShallowMaxNet(nn.Module):
    """Our reading of the paper's "Shallow MaxNN": a per-pixel linear map, ReLU, global max,
    batch-normalised, then a linear classifier.

    A 1x1 conv maps each pixel's C values to ``hidden`` features, ReLU, then each feature's
    maximum over all pixels, normalised over the batch (``BatchNorm1d``), feeds a linear
    classifier. It sees *which values occur anywhere* in the image but not where: the opposite
    bias of a position-bound model such as a tree on pixels.

    Why the normalisation: a max unit that picks the random pixel's code (the grey value k of
    class k) gives a feature exact but with a slope of ~1/60 of a standard deviation per class
    once the images are standardised; without rescaling, the classifier's weights must grow to
    ~60, which 5 epochs of AdamW cannot reach (12-39% on the random pixel, measured on
    ``photo_digits``); batch-normalised, it reads it at 99.1-100% (seeds 0-2, lr 3e-2, the
    model's registered learning rate). A batch of one sample in training mode is normalised by the
    running statistics (a batch statistic of one sample is undefined).

    The forward takes the max without a graph: the winning pixel of each feature is found under
    ``no_grad`` (argmax), then only that pixel's input is mapped again, so the gradient flows
    through it alone. Values and gradients equal those of ``amax`` over the full map (up to
    float rounding and ties, where ``amax`` splits the gradient and this picks one pixel) at a
    fifth of the CPU time of a backward through the ``(N, hidden, H*W)`` map.

    Args:
        num_classes: K outputs.
        in_channels: C of the input ``(N, C, H, W)``.
        hidden: the number of per-pixel features.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, hidden: int = 256) -> None:
        super().__init__()
        k = check_int("num_classes", num_classes, low=2)
        c = check_int("in_channels", in_channels, low=1)
        h = check_int("hidden", hidden, low=1)
        self.pixel = nn.Conv2d(c, h, 1)
        self.norm = nn.BatchNorm1d(h)
        self.classifier = nn.Linear(h, k)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """float ``(N, C, H, W)`` -> each feature's maximum over the pixels, ``(N, hidden)``
        (after the ReLU, before the normalisation)."""
        w = self.pixel.weight.flatten(1)  # (hidden, C)
        z = x.flatten(2)  # (N, C, H*W)
        with torch.no_grad():  # the bias is the same at every pixel: it cannot move the argmax
            best = torch.einsum("hc,ncp->nhp", w.to(z.dtype), z).argmax(-1)  # (N, hidden)
        picked = torch.gather(z, 2, best.unsqueeze(1).expand(-1, z.shape[1], -1))  # (N, C, hidden)
        bias = self.pixel.bias
        assert bias is not None  # built with one (nn.Conv2d's default)
        return F.relu(torch.einsum("hc,nch->nh", w.to(z.dtype), picked) + bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float ``(N, C, H, W)`` -> logits ``(N, K)``."""
        h = self.pooled(x)
        if self.training and h.shape[0] == 1:
            n = self.norm
            h = F.batch_norm(h, n.running_mean, n.running_var, n.weight, n.bias, False, 0.0, n.eps)
        else:
            h = self.norm(h)
        return self.classifier(h)  # type: ignore[no-any-return]


class Perceptron(nn.Module):
    """One linear layer on the flattened raw input (cast to the weight's dtype).

    Args:
        num_classes: K outputs.
        in_features: the number of values of one sample (``C * H * W``, or ``L`` for codes).
    """

    def __init__(self, num_classes: int, in_features: int) -> None:
        super().__init__()
        k = check_int("num_classes", num_classes, low=2)
        d = check_int("in_features", in_features, low=1)
        self.linear = nn.Linear(d, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, ...)`` with ``in_features`` values per sample -> logits ``(N, K)``."""
        return self.linear(x.flatten(1).to(self.linear.weight.dtype))  # type: ignore[no-any-return]


# -- the registry's entries ----------------------------------------------------------------------
def _convnet(
    input_shape: tuple[int, ...], num_classes: int, *, seed: int, **options: Any
) -> nn.Module:
    c, h, w = input_shape
    return PaperConvNet(num_classes, c, image_size=(h, w), **options)


def _charcnn(width: int, fc_width: int) -> Any:
    """The builder of a char-CNN of these widths (``options`` may override them)."""

    def build(
        input_shape: tuple[int, ...], num_classes: int, *, seed: int, **options: Any
    ) -> nn.Module:
        sizes: dict[str, Any] = {"width": width, "fc_width": fc_width, **options}
        return CharCNN(num_classes, length=input_shape[0], **sizes)

    return build


def _shallow_max(
    input_shape: tuple[int, ...], num_classes: int, *, seed: int, **options: Any
) -> nn.Module:
    return ShallowMaxNet(num_classes, input_shape[0], **options)


def _perceptron(
    input_shape: tuple[int, ...], num_classes: int, *, seed: int, **options: Any
) -> nn.Module:
    return Perceptron(num_classes, math.prod(input_shape), **options)


_EVERY_RUN = {"images": "convnet", "atlas": "convnet", "atlas_full": "convnet", "sweep": "convnet"}
register_model(ModelEntry(
    "convnet", _convnet, "ConvNet", ("images",), COLOURS[0], identity="paper",
    defaults=_EVERY_RUN, headline=0, description="the paper's ConvNet (4 convs)",
))  # fmt: skip
register_model(ModelEntry(
    "charcnn", _charcnn(256, 1024), "Char-CNN", ("codes",), COLOURS[0], identity="paper",
    headline=1, description="Zhang et al.'s small char-CNN: width 256, FC 1024",
))  # fmt: skip
register_model(ModelEntry(
    "charcnn_large", _charcnn(1024, 2048), "Char-CNN (large)", ("codes",), COLOURS[0],
    identity="paper", headline=3, description="Zhang et al.'s large char-CNN: width 1024, FC 2048",
))  # fmt: skip
register_model(ModelEntry(
    "charcnn_narrow", _charcnn(64, 256), "Char-CNN (narrow)", ("codes",), COLOURS[0],
    identity="paper", defaults={"text": "charcnn_narrow", "sweep": "charcnn_narrow"}, headline=2,
    description="the char-CNN at width 64, FC 256 (the text suite's)",
))  # fmt: skip
# The Shallow MaxNN's cells are keyed by its structure (0.2.0 added the batch normalisation and
# its own learning rate: no 0.1.0 result of it may be reused).
register_model(ModelEntry(
    "shallow_max", _shallow_max, "Shallow max-pool net", ("images",), COLOURS[8],
    defaults={"images": "shallow_max", "atlas": "shallow_max", "atlas_full": "shallow_max"},
    description="the paper's Shallow Max NN (our reading): 1x1 conv, ReLU, global max, "
    "BatchNorm, linear; lr 3e-2", lr=3e-2,
))  # fmt: skip
register_model(ModelEntry(
    "perceptron", _perceptron, "Perceptron", ("images", "codes"), COLOURS[7], identity="paper",
    defaults={"images": "perceptron", "text": "perceptron"},
    description="one linear layer on the raw input",
))  # fmt: skip
