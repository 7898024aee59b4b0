"""The torch-side glue of issue 21, each in its client's own terms: the collate fast path
against ``InjectedDataset`` with DataLoader workers, layouts never guessed, per-split keys,
a ``torch.compile``'d training step, checkpoints under ``weights_only=True``, and the order
check of ``Compose``.
"""

from __future__ import annotations

import io
import shutil
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

import signalinject as si
from signalinject.footprint import OrderWarning, order_conflicts

K = 10


def base_tensors(n: int = 64, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    return TensorDataset(x, torch.randint(0, K, (n,), generator=g))


def base_numpy(n: int = 64) -> list[tuple[np.ndarray, int]]:
    x, y = base_tensors(n).tensors
    return [(x[i].permute(1, 2, 0).numpy().copy(), int(y[i])) for i in range(n)]


INJECTORS = [
    si.OnePixel(K, position=(2, 5), coverage=0.9),
    si.PatternPixels(K, seed=5, fidelity=0.7),
    si.RandomPixel(K, seed=1, coverage=0.7, fidelity=0.8),
    si.OrthogonalNoise(K, seed=2),
    si.Compose([si.OrthogonalNoise(K, seed=3), si.MultipleLocations(K, seed=4)]),
]


def to_float(x: Any) -> torch.Tensor:
    return torch.as_tensor(x).float() / 255


# -- InjectCollate: the fast path ------------------------------------------------------------------
class TestInjectCollate:
    @pytest.mark.parametrize("inj", INJECTORS, ids=lambda i: type(i).__name__)
    @pytest.mark.parametrize("make_base", [base_tensors, base_numpy])
    def test_bit_identical_to_injected_dataset_with_workers(self, inj: Any, make_base: Any) -> None:
        base = make_base()
        kw: dict[str, Any] = {"batch_size": 16, "shuffle": True, "num_workers": 2}
        g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        slow = DataLoader(
            si.InjectedDataset(base, inj, transform=to_float, return_index=True, index_offset=7),
            generator=g1,
            **kw,
        )
        fast = DataLoader(
            si.IndexedDataset(base, index_offset=7),
            collate_fn=si.InjectCollate(inj, transform=to_float, return_index=True),
            generator=g2,
            **kw,
        )
        n = 0
        for (xa, ya, ia), (xb, yb, ib) in zip(slow, fast, strict=True):
            assert xa.dtype == xb.dtype == torch.float32
            assert torch.equal(xa, xb)
            assert torch.equal(ya, yb)
            assert torch.equal(ia, ib)
            n += len(ia)
        assert n == len(base)

    def test_without_transform_and_index(self) -> None:
        base = base_tensors(20)
        inj = si.OnePixel(K, position=(2, 2))
        (x, y), *_ = DataLoader(
            si.IndexedDataset(base), batch_size=20, collate_fn=si.InjectCollate(inj)
        )
        ref = inj(*base.tensors)
        assert torch.equal(x, ref)
        assert torch.equal(y, base.tensors[1])

    def test_pil_and_text_samples(self) -> None:
        image = pytest.importorskip("PIL.Image")
        base = [(image.fromarray(a), lab) for a, lab in base_numpy(8)]
        inj = si.RandomPixel(K, seed=9)
        (x, _), *_ = DataLoader(
            si.IndexedDataset(base), batch_size=8, collate_fn=si.InjectCollate(inj)
        )
        ref = si.InjectedDataset(base, inj)
        assert all(torch.equal(x[i], torch.as_tensor(ref[i][0])) for i in range(8))
        texts = [(f"text number {i} " * 3, i % 4) for i in range(6)]
        mn = si.Mnemonic(4, seed=1)
        (xs, _ys), *_ = DataLoader(
            si.IndexedDataset(texts), batch_size=6, collate_fn=si.InjectCollate(mn)
        )
        assert list(xs) == [si.InjectedDataset(texts, mn)[i][0] for i in range(6)]

    def test_bad_batches(self) -> None:
        inj = si.OnePixel(K)
        collate = si.InjectCollate(inj)
        with pytest.raises(TypeError, match=r"items must be \(sample, label, key\) triples"):
            collate([(np.zeros((4, 4, 1), np.uint8), 1)])
        with pytest.raises(TypeError, match="samples of a batch must be arrays or tensors of one"):
            collate([(np.zeros((4, 4, 1), np.uint8), 1, 0), (np.zeros((5, 4, 1), np.uint8), 1, 1)])
        with pytest.raises(
            TypeError, match=r"the label of sample key 3 must be an integer, got 1\.5"
        ):
            collate([(np.zeros((4, 4, 1), np.uint8), 1.5, 3)])
        with pytest.raises(ValueError, match=r"sample index 4 \(row 0 of the batch\) has label 12"):
            collate([(np.zeros((4, 4, 1), np.uint8), 12, 4)])
        with pytest.raises(ValueError, match=r"batch of keys \[4\]: images must be a batch"):
            collate([(np.zeros((4, 4), np.uint8), 1, 4)])
        with pytest.raises(ValueError, match="got an empty batch"):
            collate([])
        with pytest.raises(TypeError, match="InjectCollate: transform must be callable, got int"):
            si.InjectCollate(inj, transform=3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="return_index must be a bool, got 1"):
            si.InjectCollate(inj, return_index=1)  # type: ignore[arg-type]


# -- layouts are declared or refused ---------------------------------------------------------------
class TestLayout:
    def test_channels_last_tensor_batches_are_refused(self) -> None:
        # A DataLoader over NumPy/PIL samples collates (N, H, W, C) tensors.
        x = torch.zeros(4, 32, 32, 3, dtype=torch.uint8)
        y, i = torch.arange(4), torch.arange(4)
        inj = si.OnePixel(K)
        with pytest.raises(ValueError, match=r"torch tensor of shape \(4, 32, 32, 3\) looks"):
            si.inject_batch(inj, x, y, i)
        with pytest.raises(ValueError, match="pass channels_last=True"):
            si.decode_batch(inj, x)
        out = si.inject_batch(inj, x, y, i, channels_last=True)
        assert out[:, 0, 0, :].tolist() == [[v] * 3 for v in range(4)]
        assert si.decode_batch(inj, out, channels_last=True).tolist() == [0, 1, 2, 3]

    def test_channels_first_numpy_and_samples_are_refused(self) -> None:
        inj = si.OnePixel(K)
        with pytest.raises(ValueError, match=r"NumPy array of shape \(2, 3, 16, 16\) looks"):
            si.inject_batch(inj, np.zeros((2, 3, 16, 16), np.uint8), [0, 1], [0, 1])
        ds = si.InjectedDataset([(torch.zeros(16, 16, 3, dtype=torch.uint8), 1)], inj)
        with pytest.raises(ValueError, match=r"item 0 of list: InjectedDataset: a torch tensor"):
            ds[0]
        t = si.InjectTransform(inj)
        with pytest.raises(ValueError, match="InjectTransform: sample index 0: InjectTransform"):
            t(torch.zeros(16, 16, 3, dtype=torch.uint8), 1, 0)

    @settings(max_examples=30, deadline=None)
    @given(c=st.integers(1, 4), hw=st.integers(5, 12), torch_first=st.booleans())
    def test_the_default_layout_is_kept_when_the_shape_fits_it(
        self, c: int, hw: int, torch_first: bool
    ) -> None:
        # Any image in its default layout is accepted and injected like the declared layout.
        inj = si.RandomPixel(K, seed=3)
        y, i = np.arange(2) % K, np.arange(2)
        if torch_first:
            x: Any = torch.randint(0, 200, (2, c, hw, hw), dtype=torch.uint8)
            ref = inj(x, torch.as_tensor(y), index=torch.as_tensor(i), channels_last=False)
            assert torch.equal(si.inject_batch(inj, x, torch.as_tensor(y), torch.as_tensor(i)), ref)
        else:
            x = np.random.default_rng(c).integers(0, 200, (2, hw, hw, c), dtype=np.uint8)
            ref = inj(x, y, index=i, channels_last=True)
            assert np.array_equal(si.inject_batch(inj, x, y, i), ref)


# -- per-split keys ----------------------------------------------------------------------------
class TestIndexOffset:
    def test_validation_keys_differ_from_training_keys(self) -> None:
        train, val = base_tensors(64, seed=1), base_tensors(64, seed=2)
        inj = si.RandomPixel(K, seed=4)
        a = si.InjectedDataset(train, inj, return_index=True)
        b = si.InjectedDataset(val, inj, return_index=True, index_offset=len(train))
        keys_a = {int(a[i][2]) for i in range(64)}
        keys_b = {int(b[i][2]) for i in range(64)}
        assert not keys_a & keys_b
        rows_a, cols_a = inj.locations(torch.arange(64), 8, 8)
        rows_b, cols_b = inj.locations(torch.arange(64) + 64, 8, 8)
        assert not (torch.equal(rows_a, rows_b) and torch.equal(cols_a, cols_b))
        x, _, k = b[5]
        assert torch.equal(x, inj(val.tensors[0][5], val.tensors[1][5], index=69))
        assert k == 69
        assert si.IndexedDataset(val, index_offset=64)[5][2] == 69

    def test_bad_offsets(self) -> None:
        with pytest.raises(ValueError, match="IndexedDataset: index_offset must be >= 0, got -3"):
            si.IndexedDataset([], index_offset=-3)
        with pytest.raises(TypeError, match="InjectedDataset: index_offset must be an integer"):
            si.InjectedDataset([], si.OnePixel(K), index_offset=1.5)  # type: ignore[arg-type]


# -- torch.compile -------------------------------------------------------------------------------
def _training_run(compiled: bool, inj: Any, backend: str = "inductor") -> list[float]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, K))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        x = si.inject_batch(inj, x, y, index)
        return torch.nn.functional.cross_entropy(model(x.float() / 255), y)

    run = torch.compile(step, backend=backend) if compiled else step
    losses = []
    loader = DataLoader(si.IndexedDataset(base_tensors(64)), batch_size=16)
    for _ in range(2):
        for x, y, index in loader:
            opt.zero_grad()
            loss = run(x, y, index)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    return losses


@pytest.mark.slow
@pytest.mark.ci  # the only compiled training step
# Inductor's CPU path calls torch.jit.script_method, deprecated by torch itself.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no cc")
@pytest.mark.parametrize(
    "inj",
    [si.OnePixel(K), si.RandomPixel(K, seed=1, coverage=0.7, fidelity=0.8)],
    ids=["OnePixel", "RandomPixel-coverage-fidelity"],
)
def test_a_compiled_training_step_that_injects_gives_the_eager_result(inj: Any) -> None:
    torch._dynamo.reset()
    assert _training_run(True, inj) == pytest.approx(_training_run(False, inj), rel=1e-5)


def test_inject_batch_under_compile_aot_eager() -> None:
    # Fast and without a C compiler: the same graph break under the aot_eager backend.
    torch._dynamo.reset()
    inj = si.RandomPixel(K, seed=1, coverage=0.7, fidelity=0.8)

    def f(x: torch.Tensor, y: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return si.inject_batch(inj, x * 1, y, i) + 0

    x, y = base_tensors(16).tensors
    i = torch.arange(16)
    assert torch.equal(torch.compile(f, backend="aot_eager")(x, y, i), inj(x, y))


# -- checkpoints ----------------------------------------------------------------------------------
ALL = [
    si.OnePixel(K, position=(1, 2), seed=3),
    si.PatternPixels(K),
    si.RandomPixel(K, coverage=0.5),
    si.MultipleLocations(K),
    si.OrthogonalNoise(K, strength=0.5),
    si.Mnemonic(5),
    si.LengthEncoding(5, pad="~"),
    si.PatternChar(5),
    si.Compose([si.OrthogonalNoise(K), si.OnePixel(K)]),
]


@pytest.mark.parametrize("inj", ALL, ids=lambda i: type(i).__name__)
def test_injectors_load_under_weights_only(inj: Any) -> None:
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {"injector": inj}}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    assert ck["hyper_parameters"]["injector"] == inj
    buf = io.BytesIO()
    torch.save({"injector": inj.get_config()}, buf)  # the config round trip needs no allow-list
    buf.seek(0)
    assert si.from_config(torch.load(buf, weights_only=True)["injector"]) == inj


def test_checkpoint_globals_lists_every_injector_class() -> None:
    names = {c.__name__ for c in si.adapters.checkpoint_globals()}
    assert {"Compose", "CharQuantizer", "OnePixel", "OrthogonalNoise", "PatternChar"} <= names


# -- Compose order ---------------------------------------------------------------------------------
class TestOrder:
    def test_a_dense_child_after_a_pixel_code_warns_once_where_it_is_built(self) -> None:
        with pytest.warns(OrderWarning, match=r"injectors\[1\] \(OrthogonalNoise\) can overwrite"):
            comp = si.Compose([si.RandomPixel(K), si.OrthogonalNoise(K)])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the adapters do not warn a second time
            si.InjectedDataset(base_tensors(4), comp)
            si.InjectCollate(comp)
            si.InjectTransform(comp)
            si.HFInjectMap(comp)

    def test_the_warning_points_at_the_callers_line(self) -> None:
        with pytest.warns(OrderWarning, match="put the injector that writes more first") as rec:
            si.Compose([si.PatternPixels(K), si.OrthogonalNoise(K)])
        assert rec[0].filename == __file__

    @pytest.mark.parametrize(
        "children",
        [
            [si.OnePixel(K), si.OnePixel(K)],  # the same pixel
            [si.MultipleLocations(K), si.PatternPixels(K)],  # a corner of the border pairs
            [si.Mnemonic(K), si.PatternChar(4, positions=(0, 5))],  # character 0
            [si.PatternChar(4), si.LengthEncoding(K)],  # a cut before position 200
        ],
    )
    def test_every_family_declares_where_it_writes(self, children: list[Any]) -> None:
        with pytest.warns(OrderWarning):
            si.Compose(children)

    @pytest.mark.parametrize(
        "children",
        [
            [si.OrthogonalNoise(K), si.RandomPixel(K)],
            [si.OnePixel(K), si.OnePixel(K, position=(5, 5))],
            [si.PatternPixels(K), si.RandomPixel(K)],  # a drawn pixel is not reported
            [si.LengthEncoding(K), si.Mnemonic(K)],
        ],
    )
    def test_orders_that_keep_every_code_do_not_warn(self, children: list[Any]) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            si.Compose(children)

    def test_the_warning_is_right_about_the_decode(self) -> None:
        # The warned order loses most of the pixel code; the advised order keeps all of it.
        x, y = base_tensors(200).tensors
        rp = si.RandomPixel(K, seed=1)
        with pytest.warns(OrderWarning):
            bad = si.Compose([rp, si.OrthogonalNoise(K, seed=2)])
        good = si.Compose([si.OrthogonalNoise(K, seed=2), rp])
        idx = torch.arange(200)
        acc_bad = float((rp.decode(bad(x, y), index=idx) == y).float().mean())
        acc_good = float((rp.decode(good(x, y), index=idx) == y).float().mean())
        assert acc_good == 1.0
        assert acc_bad < 0.5
        assert order_conflicts(bad.injectors)
        assert not order_conflicts(good.injectors)

    @pytest.mark.parametrize(
        ("children", "expected"),
        [
            ([si.OnePixel(K), si.PatternPixels(K)], "both write pixel (0, 0)"),
            ([si.OnePixel(K, position=(3, 3)), si.OnePixel(K, position=(3, 3))], "(3, 3)"),
            ([si.PatternChar(5), si.LengthEncoding(5, lengths=(10, 20, 30, 40, 50))], "cuts"),
            ([si.Mnemonic(5), si.PatternChar(5, positions=(0, 4, 8))], "character 0"),
            ([si.OnePixel(K, position=(40, 40)), si.OnePixel(K, position=(40, 40))], "64x64"),
        ],
    )
    def test_conflicts(self, children: list[Any], expected: str) -> None:
        (msg,) = order_conflicts(children)
        assert expected in msg

    @pytest.mark.parametrize(
        "children",
        [
            [si.OnePixel(K), si.OnePixel(K, position=(5, 5))],
            [si.OrthogonalNoise(K), si.PatternPixels(K)],
            [si.RandomPixel(K), si.MultipleLocations(K)],
            [si.Mnemonic(5), si.PatternChar(5), si.LengthEncoding(5)],
        ],
    )
    def test_no_conflict(self, children: list[Any]) -> None:
        assert order_conflicts(children) == []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            si.InjectCollate(si.Compose(children))
