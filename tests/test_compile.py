"""Injectors called directly inside ``torch.compile``'d code (issue 28).

Traced by Dynamo, OnePixel, OrthogonalNoise, Blend and Compose failed (``'ndarray' object has no
attribute 'setflags'``) and RandomPixel ran with 22 graph breaks. Every injector method now runs
outside the graph (`signalinject._compile.outside_graph`): one break per call, the eager result,
and ``torch._dynamo`` is still not imported by ``import signalinject``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

import signalinject as si

K = 4


def _image_injectors() -> list[Any]:
    out: list[Any] = []
    for name, cls in si.list_signals("image").items():
        make: Any = cls
        if name == "one_pixel_shortcut":
            pos = ((0, 0), (1, 1), (2, 2), (3, 3))
            out.append(make(K, positions=pos, colours=((1, 0, 1),) * K))
        else:
            out.append(make(K, seed=3))
    out.append(si.Compose([si.OrthogonalNoise(K), si.RandomPixel(K, seed=1)]))
    return out


def _name(inj: Any) -> str:
    return "compose" if isinstance(inj, si.Compose) else str(inj.name)


def _breaks() -> dict[str, int]:
    from torch._dynamo.utils import counters

    return dict(counters["graph_break"])


def _compiled_step(inj: Any, backend: str) -> tuple[Any, Any, dict[str, int]]:
    """A step that injects and decodes directly, compiled and eager, and its graph breaks."""
    import torch._dynamo

    def step(x: torch.Tensor, y: torch.Tensor, i: torch.Tensor) -> tuple[Any, Any]:
        z = x.flip(-1)  # traced work before and after the injector
        out = inj(z, y, index=i)
        kw = {"index": i} if not isinstance(inj, si.Compose) and inj.decode_needs_index else {}
        return out.float().mean() * 2, inj.decode(out, **kw)

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 200, (6, 3, 16, 16), dtype=torch.uint8, generator=g)
    y, i = torch.tensor([0, 1, 2, 3, 1, 2]), torch.arange(6) + 10
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    got = torch.compile(step, backend=backend)(x, y, i)
    breaks = _breaks()
    want = step(x, y, i)
    return got, want, breaks


@pytest.mark.parametrize("inj", _image_injectors(), ids=_name)
def test_each_image_signal_runs_inside_a_compiled_step(inj: Any) -> None:
    got, want, breaks = _compiled_step(inj, "aot_eager")
    assert torch.equal(got[0], want[0])
    assert torch.equal(got[1], want[1])
    # every break is the injector's call being run eagerly (RandomPixel had 22 inside it)
    assert all("disable" in reason for reason in breaks), breaks
    assert sum(breaks.values()) <= 6, breaks


@pytest.mark.slow
# Inductor's CPU path calls torch.jit.script_method, deprecated by torch itself.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no cc")
@pytest.mark.parametrize(
    "inj", [si.OnePixel(K), si.RandomPixel(K), si.OrthogonalNoise(K), si.Blend(K)], ids=_name
)
def test_inductor(inj: Any) -> None:
    got, want, _ = _compiled_step(inj, "inductor")
    assert torch.allclose(got[0], want[0])
    assert torch.equal(got[1], want[1])


def test_prepared_and_text_codes_inside_a_compiled_step() -> None:
    x = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    fast = si.RandomPixel(K).prepare(x)
    y, i = torch.tensor([0, 1, 2, 3]), torch.arange(4)

    def step(xb: torch.Tensor) -> torch.Tensor:
        return fast(xb.clone(), y, i).sum()

    assert torch.equal(torch.compile(step, backend="aot_eager")(x), step(x))
    q = si.CharQuantizer(length=16)
    codes = torch.from_numpy(q.encode(["abc", "def", "ghi", "jkl"], dtype=np.int64))
    inj = si.Mnemonic(K, quantizer=q)

    def text_step(c: torch.Tensor) -> torch.Tensor:
        return inj.decode(inj(c, y, index=i))

    assert torch.compile(text_step, backend="aot_eager")(codes).tolist() == [0, 1, 2, 3]


def test_errors_inside_a_compiled_step_are_the_eager_errors() -> None:
    def step(x: torch.Tensor) -> torch.Tensor:
        return si.OnePixel(K)(x, torch.tensor([0, 9]))

    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 3\]"):
        torch.compile(step, backend="aot_eager")(torch.zeros(2, 1, 4, 4))


def test_eager_calls_keep_their_methods_documented() -> None:
    assert si.OnePixel.__call__.__doc__ == si.ImageInjector.__call__.__doc__
    assert "Inject the signal" in (si.ImageInjector.__call__.__doc__ or "")
    assert "Read the code" in (si.RandomPixel.decode.__doc__ or "")


def test_import_loads_no_dynamo() -> None:
    code = (
        "import sys, signalinject, signalinject.adapters, signalinject.sklearn; "
        "import numpy as np; si = signalinject; "
        "si.OnePixel(3)(np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1])); "
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
