"""Modern image models in plain torch, registered: a CIFAR ResNet-18, a small ViT, an MLP-Mixer, a
plain MLP.

Each takes float images ``(N, C, H, W)`` of any size and channel count and returns logits
``(N, K)``. A model's name may carry its size: ``resnet18-w16`` is a ResNet-18 of width 16,
``vit-w64-d4`` a 4-block ViT of width 64 (the grammar is the registry's, see
[`signalinject.benchmarks.registry`][signalinject.benchmarks.registry]; each entry declares the
letters it takes). Their cells are keyed by a hash of their structure (identity
``"structure"``), so a changed architecture under the same name gives new cells. Their parameter
counts, at the atlas's sizes and at published sizes, are in the generated table of
docs/models.md (the tests check it against the registry).

The ViTs average their tokens and take fixed sine-cosine positions and standardised inputs
(see [`ViT`][signalinject.benchmarks.modern.ViT]; ViT-Lite-7/4 as published, with a class
token and learned positions, is ``ViT(10, pool="token", positions="learned",
input_norm=False)``: 3,722,250 parameters).

Examples:
    >>> import torch
    >>> from signalinject.benchmarks.registry import build_model
    >>> net = build_model("resnet18-w16", (1, 8, 8), 10)
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from signalinject.benchmarks.registry import COLOURS, ModelEntry, register_model
from signalinject.core import check_int

__all__ = ["MLP", "MLPMixer", "ResNet18", "ViT"]


# -- ResNet-18 ------------------------------------------------------------------------------------
class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """The CIFAR ResNet-18: a 3x3 stem without max-pool, four stages of two basic blocks.

    Stage widths ``width`` x (1, 2, 4, 8), strides 1, 2, 2, 2, batch norm, global average
    pooling, one linear classifier (He et al. 2016, in the CIFAR form of common training code).
    Its parameters grow as ``width**2`` (docs/models.md counts them at width 64 and 16). Any
    input size works (the pooling is global).

    Args:
        num_classes: K outputs.
        in_channels: C of the input ``(N, C, H, W)``.
        width: the stem's and first stage's channels (64 published).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, *, width: int = 64) -> None:
        super().__init__()
        k = check_int("num_classes", num_classes, low=2)
        c = check_int("in_channels", in_channels, low=1)
        w = check_int("width", width, low=1)
        self.stem = nn.Sequential(
            nn.Conv2d(c, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)
        )
        blocks: list[nn.Module] = []
        cin = w
        for i, stride in enumerate((1, 2, 2, 2)):
            cout = w * 2**i
            blocks += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
            cin = cout
        self.stages = nn.Sequential(*blocks)
        self.classifier = nn.Linear(cin, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float ``(N, C, H, W)`` -> logits ``(N, K)``."""
        h = self.stages(self.stem(x)).mean(dim=(2, 3))
        return self.classifier(h)  # type: ignore[no-any-return]


# -- patch models ---------------------------------------------------------------------------------
class _Patches(nn.Module):
    """Zero-pad ``(N, C, H, W)`` on the right and bottom to multiples of ``patch``, then embed
    each ``patch x patch`` patch linearly: ``(N, P, width)`` with P = ceil(H/p) * ceil(W/p),
    patches in row-major order of the ``grid`` ``(ceil(H/p), ceil(W/p))``.

    With ``norm`` the image is first standardised per channel with batch statistics (a batch
    norm without learned scale and shift; running statistics at evaluation), so the tokens do
    not depend on the input's offset and scale (0..1 or 0..255 alike).
    """

    def __init__(
        self, in_channels: int, image_size: Any, patch: int, width: int, *, norm: bool = False
    ) -> None:
        super().__init__()
        c = check_int("in_channels", in_channels, low=1)
        if isinstance(image_size, (str, bytes)) or not isinstance(image_size, (tuple, list)):
            raise TypeError(f"image_size must be a (height, width) pair, got {image_size!r}")
        if len(image_size) != 2:
            raise TypeError(f"image_size must be a (height, width) pair, got {image_size!r}")
        h = check_int("image_size[0]", image_size[0], low=1)
        w = check_int("image_size[1]", image_size[1], low=1)
        patch = check_int("patch", patch, low=1)
        self.patch = patch
        self.pad = (0, -w % patch, 0, -h % patch)
        self.grid = (math.ceil(h / patch), math.ceil(w / patch))
        self.num_patches = self.grid[0] * self.grid[1]
        self.norm: nn.Module = nn.BatchNorm2d(c, affine=False) if norm else nn.Identity()
        self.proj = nn.Conv2d(c, width, patch, patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if any(self.pad):
            x = F.pad(x, self.pad)
        return self.proj(x).flatten(2).transpose(1, 2)  # type: ignore[no-any-return]


def _sincos_2d(grid: tuple[int, int], width: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine positions ``(1, gh * gw, width)`` for a ``grid`` of patches in
    row-major order (Beyer et al. 2022): a quarter of the features each for sin and cos of the
    column and of the row, at frequencies 1 down to 1/10000. ``width`` is a multiple of 4."""
    gh, gw = grid
    quarter = width // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / max(quarter - 1, 1))
    rows, cols = torch.meshgrid(
        torch.arange(gh, dtype=torch.float64), torch.arange(gw, dtype=torch.float64),
        indexing="ij",
    )  # fmt: skip
    r = rows.flatten()[:, None] * omega[None]
    c = cols.flatten()[:, None] * omega[None]
    return torch.cat([c.sin(), c.cos(), r.sin(), r.cos()], dim=1)[None].to(torch.float32)


def _mlp(width: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))


class _Attention(nn.Module):
    """A pre-norm transformer block: attention, then an MLP, each with a residual."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = _mlp(width, mlp_ratio * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))  # type: ignore[no-any-return]


class ViT(nn.Module):
    """A small Vision Transformer: patch embedding, pre-norm blocks, pooling, linear head.

    The sizes are ViT-Lite-7/4 of Hassani et al. 2021 ("Escaping the Big Data Paradigm with
    Compact Transformers"), a ViT sized for CIFAR: patch 4, 7 blocks, width 256, 4 heads, MLP
    ratio 2. Three choices (the defaults) make it learn from a thousand images in a few epochs.
    At width 64 and depth 4 on the noisy digits (1,352 images; AdamW, learning rate 1e-3,
    cosine decay, batch 64, seed 0), clean test accuracy after 5 / 10 epochs is 21.3% / 45.2%
    with them and 10.1% (the majority-class rate) / 17.3% (with a learning-rate warm-up) with
    ViT-Lite's own (docs/atlas.md):

    - ``positions="sincos"``: fixed 2-D sine-cosine positions (Beyer et al. 2022, "Better plain
      ViT baselines for ImageNet-1k"), so a token knows its place from the first step;
      ``"learned"`` is ViT-Lite's learned embedding (initialised at a scale of 0.02).
    - ``pool="mean"``: the head reads the mean of the tokens (Beyer et al. 2022); ``"token"``
      is a class token's output, as in ViT-Lite.
    - ``input_norm=True``: the image standardised per channel (a batch norm without learned
      scale and shift) before the patch embedding, as ViT pipelines standardise their data
      (centring the 0..1 input alone lifts the ViT-Lite choices from 10.1% to 18.9% at 5
      epochs).

    ``pool="token", positions="learned", input_norm=False`` is ViT-Lite-7/4 as published:
    3,722,250 parameters (the paper's 3.72M) for 10 classes on 32x32x3; the defaults have no
    class token and no learned positions (docs/models.md). An image whose sides are not
    multiples of ``patch`` is zero-padded on the right and bottom.

    Args:
        num_classes: K outputs.
        in_channels: C of the input ``(N, C, H, W)``.
        image_size: ``(H, W)`` (sets the number of patches).
        width: token features (a multiple of ``heads``; of 4 with ``positions="sincos"``).
        depth: transformer blocks.
        heads: attention heads.
        patch: patch side in pixels.
        mlp_ratio: hidden units of each block's MLP per token feature.
        pool: ``"mean"`` or ``"token"``.
        positions: ``"sincos"`` or ``"learned"``.
        input_norm: standardise the image per channel before the patch embedding.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        image_size: tuple[int, int] = (32, 32),
        *,
        width: int = 256,
        depth: int = 7,
        heads: int = 4,
        patch: int = 4,
        mlp_ratio: int = 2,
        pool: Literal["mean", "token"] = "mean",
        positions: Literal["sincos", "learned"] = "sincos",
        input_norm: bool = True,
    ) -> None:
        super().__init__()
        k = check_int("num_classes", num_classes, low=2)
        w = check_int("width", width, low=1)
        n_heads = check_int("heads", heads, low=1)
        if w % n_heads:
            raise ValueError(f"width must be a multiple of heads={n_heads}, got width={w}")
        if pool not in ("mean", "token"):
            raise ValueError(f"pool must be 'mean' or 'token', got {pool!r}")
        if positions not in ("sincos", "learned"):
            raise ValueError(f"positions must be 'sincos' or 'learned', got {positions!r}")
        if positions == "sincos" and w % 4:
            raise ValueError(f"width must be a multiple of 4 with positions='sincos', got {w}")
        if not isinstance(input_norm, bool):
            raise TypeError(f"input_norm must be True or False, got {input_norm!r}")
        self.pool = pool
        self.patches = _Patches(in_channels, image_size, patch, w, norm=input_norm)
        tokens = self.patches.num_patches + (pool == "token")
        self.cls: nn.Parameter | None = None
        if pool == "token":
            self.cls = nn.Parameter(torch.zeros(1, 1, w))
        self.pos: torch.Tensor
        if positions == "learned":
            self.pos = nn.Parameter(torch.randn(1, tokens, w) * 0.02)
        else:  # a buffer: fixed, saved with the model, moved with it
            self.register_buffer("pos", _sincos_2d(self.patches.grid, w), persistent=False)
        ratio = check_int("mlp_ratio", mlp_ratio, low=1)
        self.blocks = nn.Sequential(
            *(_Attention(w, n_heads, ratio) for _ in range(check_int("depth", depth, low=1)))
        )
        self.norm = nn.LayerNorm(w)
        self.head = nn.Linear(w, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float ``(N, C, H, W)`` -> logits ``(N, K)``."""
        t = self.patches(x)
        if self.cls is not None:
            t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1)
        h = self.blocks(t + self.pos)
        h = h[:, 0] if self.cls is not None else h.mean(dim=1)
        return self.head(self.norm(h))  # type: ignore[no-any-return]


class _MixerBlock(nn.Module):
    def __init__(self, tokens: int, width: int, token_hidden: int, channel_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.token_mlp = _mlp(tokens, token_hidden)
        self.norm2 = nn.LayerNorm(width)
        self.channel_mlp = _mlp(width, channel_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))  # type: ignore[no-any-return]


class MLPMixer(nn.Module):
    """An MLP-Mixer (Tolstikhin et al. 2021): patches, then blocks of token and channel MLPs.

    Token MLPs of ``width // 2`` hidden units mix across patches, channel MLPs of ``4 * width``
    across features; global average pooling and a linear head. Defaults: patch 4, 8 blocks,
    width 256 (its parameters: docs/models.md).

    Args:
        num_classes: K outputs.
        in_channels: C of the input ``(N, C, H, W)``.
        image_size: ``(H, W)`` (sets the number of patches).
        width: features per patch.
        depth: mixer blocks.
        patch: patch side in pixels.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        image_size: tuple[int, int] = (32, 32),
        *,
        width: int = 256,
        depth: int = 8,
        patch: int = 4,
    ) -> None:
        super().__init__()
        k = check_int("num_classes", num_classes, low=2)
        w = check_int("width", width, low=2)
        self.patches = _Patches(in_channels, image_size, patch, w)
        n = self.patches.num_patches
        self.blocks = nn.Sequential(
            *(_MixerBlock(n, w, w // 2, 4 * w) for _ in range(check_int("depth", depth, low=1)))
        )
        self.norm = nn.LayerNorm(w)
        self.head = nn.Linear(w, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float ``(N, C, H, W)`` -> logits ``(N, K)``."""
        return self.head(self.norm(self.blocks(self.patches(x))).mean(dim=1))  # type: ignore[no-any-return]


class MLP(nn.Module):
    """A plain MLP on the flattened image: ``depth`` hidden layers of ``width`` units, ReLU.

    Defaults (our choice): 3 hidden layers of 512 (its parameters: docs/models.md).

    Args:
        num_classes: K outputs.
        in_features: values of one sample (``C * H * W``).
        width: hidden units per layer.
        depth: hidden layers.
    """

    def __init__(
        self, num_classes: int, in_features: int, *, width: int = 512, depth: int = 3
    ) -> None:
        super().__init__()
        k = check_int("num_classes", num_classes, low=2)
        d = check_int("in_features", in_features, low=1)
        w = check_int("width", width, low=1)
        layers: list[nn.Module] = []
        for _ in range(check_int("depth", depth, low=1)):
            layers += [nn.Linear(d, w), nn.ReLU(inplace=True)]
            d = w
        self.layers = nn.Sequential(*layers, nn.Linear(d, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> logits ``(N, K)``."""
        return self.layers(x.flatten(1))  # type: ignore[no-any-return]


# -- the registry's entries ----------------------------------------------------------------------
def _build_resnet18(
    input_shape: tuple[int, ...], num_classes: int, *, seed: int, **options: Any
) -> nn.Module:
    return ResNet18(num_classes, input_shape[0], **options)


def _build_vit(
    input_shape: tuple[int, ...], num_classes: int, *, seed: int, **options: Any
) -> nn.Module:
    c, h, w = input_shape
    return ViT(num_classes, c, (h, w), **options)


def _build_mixer(
    input_shape: tuple[int, ...], num_classes: int, *, seed: int, **options: Any
) -> nn.Module:
    c, h, w = input_shape
    return MLPMixer(num_classes, c, (h, w), **options)


def _build_mlp(
    input_shape: tuple[int, ...], num_classes: int, *, seed: int, **options: Any
) -> nn.Module:
    return MLP(num_classes, math.prod(input_shape), **options)


register_model(ModelEntry(
    "resnet18", _build_resnet18, "ResNet-18", ("images",), COLOURS[9], sizes={"w": "width"},
    defaults={"atlas": "resnet18-w16", "atlas_full": "resnet18"},
    description="CIFAR ResNet-18 (3×3 stem, no max-pool), width 64 (He et al. 2016)",
))  # fmt: skip
register_model(ModelEntry(
    "vit", _build_vit, "ViT", ("images",), COLOURS[10],
    sizes={"w": "width", "d": "depth", "h": "heads", "p": "patch"},
    defaults={"atlas": "vit-w64-d4", "atlas_full": "vit"},
    description="ViT-Lite-7/4's sizes (Hassani et al. 2021): patch 4, 7 blocks, width 256, 4 heads",
))  # fmt: skip
register_model(ModelEntry(
    "mixer", _build_mixer, "MLP-Mixer", ("images",), COLOURS[11],
    sizes={"w": "width", "d": "depth", "p": "patch"},
    defaults={"atlas": "mixer-w128-d4", "atlas_full": "mixer"},
    description="MLP-Mixer (Tolstikhin et al. 2021): patch 4, 8 blocks, width 256",
))  # fmt: skip
register_model(ModelEntry(
    "mlp", _build_mlp, "MLP", ("images",), COLOURS[12], sizes={"w": "width", "d": "depth"},
    defaults={"atlas": "mlp", "atlas_full": "mlp"}, description="3 hidden layers of 512, ReLU",
))  # fmt: skip
