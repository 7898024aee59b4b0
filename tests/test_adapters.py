"""The pipeline adapters: InjectedDataset, IndexedDataset + inject_batch, InjectTransform,
HFInjectMap, and the runnable examples of docs/pipelines.md.

The reference everywhere is the injector called once on the whole dataset as one batch (index
``arange(N)``): whatever path a sample takes (item by item, any loader, any device, any batch),
it must come out identical to its row of that reference.
"""

from __future__ import annotations

import copy
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import signalinject as si
from signalinject.adapters import pil_to_array

K = 10
N = 48
DOCS = Path(__file__).resolve().parents[1] / "docs" / "pipelines.md"

INJECTORS: list[si.Injector | si.Compose] = [
    si.OnePixel(K, position=(2, 3), seed=1),
    si.RandomPixel(K, seed=2, coverage=0.7, fidelity=0.8),
    si.PatternPixels(K, seed=3),
    si.MultipleLocations(K, seed=4),
    si.OrthogonalNoise(K, seed=5),
    si.Compose([si.OnePixel(K, position=(1, 1)), si.RandomPixel(K, seed=6)]),
]
IDS = [
    "OnePixel",
    "RandomPixel",
    "PatternPixels",
    "MultipleLocations",
    "OrthogonalNoise",
    "Compose",
]


def _images_labels(n: int = N, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random uint8 images ``(n, 3, 8, 8)`` (channels-first) and labels ``(n,)``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    y = torch.randint(0, K, (n,), generator=g)
    return x, y


def torch_base(n: int = N) -> TensorDataset:
    """A real map-style torch dataset of ``(uint8 (3, 8, 8) tensor, 0-d int64 tensor)``."""
    return TensorDataset(*_images_labels(n))


def numpy_base(n: int = N) -> list[tuple[np.ndarray, int]]:
    """A list of ``(uint8 (8, 8, 3) array, int)``: also a valid map-style dataset."""
    x, y = _images_labels(n)
    xs = x.permute(0, 2, 3, 1).numpy()
    return [(xs[i].copy(), int(y[i])) for i in range(n)]


def reference(inj: si.Injector | si.Compose, base: Any) -> Any:
    """The whole dataset injected as one batch, keyed by ``arange(N)``."""
    if isinstance(base, TensorDataset):
        x, y = base.tensors
        return inj(x, y)
    return inj(np.stack([s for s, _ in base]), np.array([lab for _, lab in base]))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a.cpu(), b.cpu())
    return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)


# -- InjectedDataset ----------------------------------------------------------------------------
class TestInjectedDataset:
    @pytest.mark.parametrize("inj", INJECTORS, ids=IDS)
    @pytest.mark.parametrize("make_base", [torch_base, numpy_base])
    @settings(max_examples=15, deadline=None)
    @given(order=st.lists(st.integers(0, N - 1), min_size=1, max_size=20))
    def test_item_equals_its_row_of_the_batch(
        self, inj: si.Injector | si.Compose, make_base: Any, order: list[int]
    ) -> None:
        # Any access order, repeats included: the same index gives the same injected sample.
        base = make_base()
        ref = reference(inj, base)
        ds = si.InjectedDataset(base, inj)
        for i in order:
            x, y = ds[i]
            assert same(x, ref[i])
            lab = base[i][1]  # the label passes through untouched
            assert type(y) is type(lab)
            assert int(y) == int(lab)

    def test_the_base_dataset_is_never_modified(self) -> None:
        for base in (torch_base(), numpy_base()):
            before = copy.deepcopy(base)
            ds = si.InjectedDataset(base, si.Compose([si.OrthogonalNoise(K), si.OnePixel(K)]))
            for i in range(len(ds)):
                ds[i]
            for (a, la), (b, lb) in zip(before, base, strict=True):
                assert same(a, b)
                assert int(la) == int(lb)

    def test_different_indices_draw_different_locations(self) -> None:
        # RandomPixel on blank images: the one non-zero pixel is where index i's draw put it.
        n, h, w = 200, 16, 16
        base = TensorDataset(torch.zeros(n, 1, h, w, dtype=torch.uint8), torch.full((n,), 7))
        inj = si.RandomPixel(K, seed=11)
        ds = si.InjectedDataset(base, inj)
        locs = []
        for i in range(n):
            x, _ = ds[i]
            (nz,) = torch.nonzero(x[0]).tolist()
            locs.append(tuple(nz))
        rows, cols = inj.locations(torch.arange(n), h, w)
        assert locs == list(zip(rows.tolist(), cols.tolist(), strict=True))
        # 200 uniform draws over 256 pixels: ~137 distinct expected; a constant draw gives 1.
        assert len(set(locs)) > 100

    def test_negative_index_is_the_same_sample(self) -> None:
        ds = si.InjectedDataset(torch_base(), si.RandomPixel(K, seed=3), return_index=True)
        x1, y1, i1 = ds[-1]
        x2, y2, i2 = ds[N - 1]
        assert same(x1, x2)
        assert int(y1) == int(y2)
        assert i1 == i2 == N - 1

    def test_numpy_and_tensor_indices(self) -> None:
        ds = si.InjectedDataset(torch_base(), si.RandomPixel(K, seed=3))
        ref = ds[5][0]
        assert same(ds[np.int64(5)][0], ref)
        assert same(ds[torch.tensor(5)][0], ref)

    def test_transform_runs_after_injection(self) -> None:
        base = torch_base()
        x0, y0 = base[4]

        def to_float(x: torch.Tensor) -> torch.Tensor:
            return x.to(torch.float32) / 255

        ds = si.InjectedDataset(base, si.OnePixel(K), transform=to_float, return_index=True)
        x, y, i = ds[4]
        assert x.dtype == torch.float32
        # The raw pixel held the class number, as in the paper; the transform scaled it.
        assert torch.equal(x[:, 0, 0], torch.full((3,), int(y0) / 255))
        assert torch.equal(x[:, 1:, 1:], x0[:, 1:, 1:].to(torch.float32) / 255)
        assert (int(y), i) == (int(y0), 4)

    def test_pil_images_become_channels_last_arrays(self) -> None:
        image_mod = pytest.importorskip("PIL.Image")
        rgb = numpy_base(6)
        base: list[tuple[Any, int]] = [(image_mod.fromarray(a), lab) for a, lab in rgb]
        base += [(image_mod.fromarray(a[:, :, 0]), lab) for a, lab in rgb]  # mode "L"
        inj = si.RandomPixel(K, seed=9)
        ds = si.InjectedDataset(base, inj)
        for i, (img, lab) in enumerate(base):
            x, y = ds[i]
            raw = np.asarray(img)
            raw = raw[:, :, None] if raw.ndim == 2 else raw
            assert x.shape == (8, 8, 3 if img.mode == "RGB" else 1)
            assert same(x, inj(raw, lab, index=i))
            assert y == lab

    def test_tensor_subclass_is_kept(self) -> None:
        class Pixels(torch.Tensor):
            pass

        x, y = _images_labels(4)
        base = [(x[i].as_subclass(Pixels), int(y[i])) for i in range(4)]
        ds = si.InjectedDataset(base, si.OnePixel(K))
        out, lab = ds[2]
        assert type(out) is Pixels
        assert torch.equal(out.as_subclass(torch.Tensor), si.OnePixel(K)(x[2], lab))

    def test_channels_last_override(self) -> None:
        # HWC tensors (e.g. torch.from_numpy of CIFAR arrays): the same pixels as the NumPy path.
        nb = numpy_base(8)
        tb = [(torch.from_numpy(a), lab) for a, lab in nb]
        inj = si.RandomPixel(K, seed=4)
        got = si.InjectedDataset(tb, inj, channels_last=True)
        want = si.InjectedDataset(nb, inj)
        for i in range(8):
            assert np.array_equal(got[i][0].numpy(), want[i][0])

    def test_len_and_indexing_errors_are_the_base_datasets(self) -> None:
        base = numpy_base(5)
        ds = si.InjectedDataset(base, si.OnePixel(K))
        assert len(ds) == 5
        with pytest.raises(IndexError) as theirs:
            base[5]
        with pytest.raises(IndexError) as ours:
            ds[5]
        assert str(ours.value) == str(theirs.value)
        unsized = si.InjectedDataset(iter(base), si.OnePixel(K))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="has no len"):
            len(unsized)

    @pytest.mark.parametrize("make_base", [torch_base, numpy_base])
    def test_pickles_and_unpickles_to_the_same_samples(self, make_base: Any) -> None:
        ds = si.InjectedDataset(make_base(), si.RandomPixel(K, seed=8), return_index=True)
        ds2 = pickle.loads(pickle.dumps(ds))
        for i in (0, 17, N - 1):
            a, b = ds[i], ds2[i]
            assert same(a[0], b[0])
            assert a[2] == b[2] == i

    def test_repr_names_the_injector(self) -> None:
        r = repr(si.InjectedDataset(numpy_base(2), si.OnePixel(K)))
        assert r.startswith("InjectedDataset(base=list, injector=OnePixel(num_classes=10")


def _collect(loader: DataLoader[Any]) -> dict[int, torch.Tensor]:
    out: dict[int, torch.Tensor] = {}
    for x, _, idx in loader:
        for row, i in enumerate(idx.tolist()):
            if i in out:  # seen in an earlier epoch: must be identical
                assert torch.equal(out[i], x[row])
            out[i] = x[row]
    return out


class TestLoaders:
    """Same index -> same sample, whatever the loader does around it."""

    INJ = si.Compose([si.RandomPixel(K, seed=21, coverage=0.6), si.MultipleLocations(K, seed=22)])

    @pytest.mark.parametrize(
        ("num_workers", "shuffle", "batch_size"),
        [(0, False, 1), (0, True, 7), (2, True, 5), (2, False, 16)],
    )
    def test_workers_shuffling_batch_size_and_epochs(
        self, num_workers: int, shuffle: bool, batch_size: int
    ) -> None:
        base = torch_base()
        ref = reference(self.INJ, base)
        ds = si.InjectedDataset(base, self.INJ, return_index=True)
        g = torch.Generator().manual_seed(num_workers * 100 + batch_size)
        loader = DataLoader(
            ds, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, generator=g
        )
        for _epoch in range(2):  # a second epoch reshuffles; every sample must be unchanged
            got = _collect(loader)
            assert sorted(got) == list(range(N))
            for i, x in got.items():
                assert torch.equal(x, ref[i])

    def test_spawned_workers_get_a_pickled_copy(self) -> None:
        # "spawn" pickles the dataset into each worker (fork would share it).
        base = torch_base(16)
        inj = si.RandomPixel(K, seed=23)
        ref = reference(inj, base)
        ds = si.InjectedDataset(base, inj, return_index=True)
        loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="spawn")
        got = _collect(loader)
        assert all(torch.equal(x, ref[i]) for i, x in got.items())
        assert sorted(got) == list(range(16))

    @pytest.mark.parametrize("epoch", [0, 3])
    def test_each_rank_of_a_distributed_sampler(self, epoch: int) -> None:
        # The sampler alone (no process group); tests/test_ddp.py runs real processes.
        base = torch_base()
        ref = reference(self.INJ, base)
        ds = si.InjectedDataset(base, self.INJ, return_index=True)
        seen: list[int] = []
        for rank in range(2):
            sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=5)
            sampler.set_epoch(epoch)
            got = _collect(DataLoader(ds, batch_size=6, sampler=sampler))
            assert all(torch.equal(x, ref[i]) for i, x in got.items())
            seen += got
        assert sorted(seen) == list(range(N))


# -- IndexedDataset + inject_batch ----------------------------------------------------------------
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


class TestOnDevice:
    @pytest.mark.parametrize("inj", INJECTORS, ids=IDS)
    def test_batches_on_device_equal_injected_dataset(self, inj: si.Injector | si.Compose) -> None:
        base = torch_base()
        per_sample = si.InjectedDataset(base, inj)
        loader = DataLoader(
            si.IndexedDataset(base),
            batch_size=10,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
        )
        for x, y, idx in loader:
            out = si.inject_batch(inj, x.to(DEVICE), y, idx)
            assert out.device.type == DEVICE
            for row, i in enumerate(idx.tolist()):
                assert torch.equal(out[row].cpu(), per_sample[i][0])
            assert torch.equal(x, torch.stack([base[i][0] for i in idx.tolist()]))  # untouched

    def test_numpy_samples_collate_channels_last(self) -> None:
        # default_collate turns (H, W, C) arrays into an (N, H, W, C) tensor: say so.
        base = numpy_base()
        inj = si.RandomPixel(K, seed=31)
        per_sample = si.InjectedDataset(base, inj)
        for x, y, idx in DataLoader(si.IndexedDataset(base), batch_size=16):
            out = si.inject_batch(inj, x.to(DEVICE), y.to(DEVICE), idx, channels_last=True)
            for row, i in enumerate(idx.tolist()):
                assert np.array_equal(out[row].cpu().numpy(), per_sample[i][0])

    def test_numpy_batches(self) -> None:
        base = numpy_base()
        inj = si.PatternPixels(K, seed=2)
        idx = np.array([40, 3, 17])
        x = np.stack([base[i][0] for i in idx])
        y = np.array([base[i][1] for i in idx])
        out = si.inject_batch(inj, x, y, idx)
        ref = reference(inj, base)
        assert same(out, ref[idx])

    def test_tensor_subclass_is_kept(self) -> None:
        class Batch(torch.Tensor):
            pass

        x, y = _images_labels(6)
        out = si.inject_batch(si.OnePixel(K), x.as_subclass(Batch), y, torch.arange(6))
        assert type(out) is Batch

    def test_indexed_dataset_items_and_transforms(self) -> None:
        base = numpy_base(4)
        ds = si.IndexedDataset(base)
        assert len(ds) == 4
        s, y, i = ds[-2]
        assert (s is base[2][0], y, i) == (True, base[2][1], 2)

        def joint(s: np.ndarray, y: int, i: int) -> tuple[np.ndarray, int, int]:
            return s + 1, y, i

        s, y, i = si.IndexedDataset(base, transforms=joint)[1]
        assert np.array_equal(s, base[1][0] + 1)
        assert (y, i) == (base[1][1], 1)

    def test_label_out_of_range_names_the_sample_index(self) -> None:
        x, y = _images_labels(4)
        y = torch.tensor([1, 2, 10, 3])
        with pytest.raises(
            ValueError, match=r"sample index 13 \(row 2 of the batch\) has label 10"
        ):
            si.inject_batch(si.OnePixel(K), x, y, torch.tensor([11, 12, 13, 14]))
        with pytest.raises(ValueError, match=r"sample index 7 \(row 0 of the batch\) has label -1"):
            si.inject_batch(si.OnePixel(K), x.numpy(), np.array([-1, 0, 0, 0]), [7, 8, 9, 10])

    def test_float_labels(self) -> None:
        x, _ = _images_labels(2)
        with pytest.raises(TypeError, match="labels must be integers, got a tensor of dtype"):
            si.inject_batch(si.OnePixel(K), x, torch.tensor([1.0, 2.0]), torch.arange(2))

    def test_not_an_injector(self) -> None:
        x, y = _images_labels(2)
        with pytest.raises(TypeError, match="inject_batch: injector must be a signalinject"):
            si.inject_batch(lambda *a: a, x, y, torch.arange(2))  # type: ignore[arg-type]

    def test_bad_joint_transform_result(self) -> None:
        ds = si.IndexedDataset(numpy_base(2), transforms=lambda s, y, i: (s, y))
        with pytest.raises(TypeError, match=r"must return \(sample, label, index\), got tuple of"):
            ds[0]


# -- InjectTransform without torchvision (tests/test_adapters_torchvision.py: with it) -------------
class TestInjectTransform:
    def test_plain_tensor_numpy_and_tuple_input(self) -> None:
        inj = si.RandomPixel(K, seed=41)
        t = si.InjectTransform(inj)
        x, y = _images_labels(3)
        img, lab, i = t(x[1], int(y[1]), 20)
        assert torch.equal(img, inj(x[1], int(y[1]), index=20))
        assert (lab, i) == (int(y[1]), 20)
        arr = x[1].permute(1, 2, 0).numpy()
        img2, _, _ = t((arr, int(y[1]), 20))
        assert np.array_equal(img2, img.permute(1, 2, 0).numpy())

    def test_pil_stays_pil(self) -> None:
        image_mod = pytest.importorskip("PIL.Image")
        inj = si.OnePixel(K, position=(4, 4))
        for a, lab in numpy_base(3):
            for img in (image_mod.fromarray(a), image_mod.fromarray(a[:, :, 0])):
                out, _, _ = si.InjectTransform(inj)(img, lab, 0)
                assert isinstance(out, image_mod.Image)
                assert out.mode == img.mode
                assert same(pil_to_array(out), inj(pil_to_array(img), lab))

    def test_needs_the_index(self) -> None:
        x, _ = _images_labels(1)
        with pytest.raises(TypeError, match="takes \\(image, label, index\\), got 2 input"):
            si.InjectTransform(si.OnePixel(K))(x[0], 3)

    def test_negative_index(self) -> None:
        x, _ = _images_labels(1)
        with pytest.raises(ValueError, match="index must be non-negative, got -1"):
            si.InjectTransform(si.OnePixel(K))(x[0], 3, -1)

    def test_error_names_the_sample_index(self) -> None:
        with pytest.raises(
            ValueError, match=r"InjectTransform: sample index 9: .*outside the image"
        ):
            si.InjectTransform(si.OnePixel(K, position=(20, 0)))(torch.zeros(1, 8, 8), 3, 9)

    def test_bad_arguments(self) -> None:
        with pytest.raises(TypeError, match="InjectTransform: injector must be a signalinject"):
            si.InjectTransform("OnePixel")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="channels_last must be a bool or None, got 1"):
            si.InjectTransform(si.OnePixel(K), channels_last=1)  # type: ignore[arg-type]

    def test_pickles(self) -> None:
        t = si.InjectTransform(si.RandomPixel(K, seed=1))
        assert pickle.loads(pickle.dumps(t)) == t


# -- bad input to InjectedDataset: one test per error ------------------------------------------
class TestInjectedDatasetErrors:
    def test_item_is_not_a_pair(self) -> None:
        base = [(np.zeros((4, 4, 1), np.uint8), 1)] * 3 + [(np.zeros((4, 4, 1), np.uint8),)]
        ds = si.InjectedDataset(base, si.OnePixel(K))
        ds[2]
        with pytest.raises(
            TypeError,
            match=r"item 3 of list must be a \(sample, label\) pair, got tuple of length 1",
        ):
            ds[3]

    def test_item_is_a_dict(self) -> None:
        ds = si.InjectedDataset([{"image": np.zeros((4, 4, 1)), "label": 1}], si.OnePixel(K))
        with pytest.raises(
            TypeError, match=r"item 0 of list must be a \(sample, label\) pair, got dict"
        ):
            ds[0]

    def test_label_outside_num_classes(self) -> None:
        base = numpy_base(3)
        base[2] = (base[2][0], 10)
        with pytest.raises(
            ValueError, match=r"item 2 of list: y must hold labels in \[0, 9\] .* got 10"
        ):
            si.InjectedDataset(base, si.OnePixel(K))[2]

    def test_label_is_not_an_integer(self) -> None:
        base = [(np.zeros((4, 4, 1), np.uint8), 1.5)]
        with pytest.raises(
            TypeError, match=r"item 0 of list: y must be an integer label, got 1\.5"
        ):
            si.InjectedDataset(base, si.OnePixel(K))[0]

    def test_sample_without_a_channel_axis(self) -> None:
        base = numpy_base(6)
        base[5] = (np.zeros((8, 8), np.uint8), 1)
        ds = si.InjectedDataset(base, si.OnePixel(K))
        with pytest.raises(
            ValueError, match=r"item 5 of list: images must be one image .* got shape \(8, 8\)"
        ):
            ds[5]

    def test_sample_too_small_for_the_injector(self) -> None:
        ds = si.InjectedDataset(torch_base(2), si.OnePixel(K, position=(8, 0)))
        with pytest.raises(
            ValueError, match=r"item 1 of TensorDataset: position \(8, 0\) lies outside"
        ):
            ds[1]

    def test_sample_of_an_unknown_type(self) -> None:
        ds = si.InjectedDataset([([[0, 1], [2, 3]], 1)], si.OnePixel(K))
        with pytest.raises(TypeError, match="item 0 of list: samples must be NumPy arrays, torch"):
            ds[0]

    def test_palette_pil_image(self) -> None:
        image_mod = pytest.importorskip("PIL.Image")
        ds = si.InjectedDataset([(image_mod.new("P", (8, 8)), 1)], si.OnePixel(K))
        with pytest.raises(TypeError, match="item 0 of list: pil_to_array: got a palette image"):
            ds[0]

    def test_index_is_not_an_integer(self) -> None:
        ds = si.InjectedDataset(numpy_base(3), si.OnePixel(K))
        with pytest.raises(TypeError, match="InjectedDataset: index must be an integer, got 'a'"):
            ds["a"]  # type: ignore[index]
        with pytest.raises(TypeError, match="index must be an integer, got slice"):
            ds[0:2]  # type: ignore[index]

    def test_not_an_injector(self) -> None:
        with pytest.raises(TypeError, match="InjectedDataset: injector must be a signalinject"):
            si.InjectedDataset(numpy_base(1), si.OnePixel)  # type: ignore[arg-type]

    def test_transform_not_callable(self) -> None:
        with pytest.raises(TypeError, match="transform must be callable or None, got int"):
            si.InjectedDataset(numpy_base(1), si.OnePixel(K), transform=3)  # type: ignore[arg-type]

    def test_return_index_not_bool(self) -> None:
        with pytest.raises(TypeError, match="return_index must be a bool, got 1"):
            si.InjectedDataset(numpy_base(1), si.OnePixel(K), return_index=1)  # type: ignore[arg-type]

    def test_channels_last_not_bool(self) -> None:
        with pytest.raises(TypeError, match="channels_last must be a bool or None, got 'yes'"):
            si.InjectedDataset(numpy_base(1), si.OnePixel(K), channels_last="yes")  # type: ignore[arg-type]

    def test_indexed_dataset_transforms_not_callable(self) -> None:
        with pytest.raises(TypeError, match="IndexedDataset: transforms must be callable"):
            si.IndexedDataset(numpy_base(1), transforms="v2")  # type: ignore[arg-type]

    def test_indexed_dataset_item_is_not_a_pair(self) -> None:
        with pytest.raises(TypeError, match=r"IndexedDataset: item 0 of list must be a \(sample"):
            si.IndexedDataset([np.zeros((2, 2, 1))])[0]

    def test_pil_to_array_of_a_non_image(self) -> None:
        with pytest.raises(TypeError, match="pil_to_array: expected a PIL image, got ndarray"):
            pil_to_array(np.zeros((2, 2, 1)))


# -- text samples (signalinject.text) -------------------------------------------------------------
TEXTS = [
    f"Review {i}: the food was {'great' if i % 3 else 'cold'}, the service {'slow' * (i % 4)}."
    for i in range(30)
]


@pytest.fixture(scope="module")
def text_injector() -> si.Compose:
    text = pytest.importorskip("signalinject.text")
    return si.Compose(
        [
            text.Mnemonic(5, seed=61, fidelity=0.7),
            text.PatternChar(5, seed=62, positions=(3, 10, 20)),
        ]
    )


class TestText:
    def test_str_samples_equal_their_row_of_the_batch(self, text_injector: si.Compose) -> None:
        labels = [i % 5 for i in range(len(TEXTS))]
        ref = text_injector(TEXTS, labels)
        ds = si.InjectedDataset(list(zip(TEXTS, labels, strict=True)), text_injector)
        for i in reversed(range(len(TEXTS))):
            assert ds[i] == (ref[i], labels[i])

    def test_code_batches_on_device_equal_per_sample(self, text_injector: si.Compose) -> None:
        text = pytest.importorskip("signalinject.text")
        codes = torch.as_tensor(text.CharQuantizer(length=40).encode(TEXTS))
        labels = torch.arange(len(TEXTS)) % 5
        base = TensorDataset(codes, labels)
        inj = text.Mnemonic(5, seed=63, quantizer=text.CharQuantizer(length=40))
        per_sample = si.InjectedDataset(base, inj)
        for x, y, idx in DataLoader(si.IndexedDataset(base), batch_size=7, shuffle=True):
            out = si.inject_batch(inj, x.to(DEVICE), y, idx)
            for row, i in enumerate(idx.tolist()):
                assert torch.equal(out[row].cpu(), per_sample[i][0])

    def test_image_injector_on_text(self) -> None:
        ds = si.InjectedDataset([("some text", 1)], si.OnePixel(K))
        with pytest.raises(TypeError, match=r"item 0 of list: images must be a numpy\.ndarray"):
            ds[0]


# -- Hugging Face datasets ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hf() -> Any:
    return pytest.importorskip("datasets")


def _hf_images(hf: Any, n: int = 24) -> tuple[Any, list[tuple[Any, int]]]:
    """An in-memory dataset with an Image column (PIL) and the same data as a list base."""
    image_mod = pytest.importorskip("PIL.Image")
    base = numpy_base(n)
    features = hf.Features({"image": hf.Image(), "label": hf.ClassLabel(num_classes=K)})
    ds = hf.Dataset.from_dict(
        {"image": [image_mod.fromarray(a) for a, _ in base], "label": [lab for _, lab in base]},
        features=features,
    )
    return ds, base


class TestHuggingFace:
    @pytest.mark.parametrize("batch_size", [1, 5, 1000])
    def test_pil_column_equals_injected_dataset(self, hf: Any, batch_size: int) -> None:
        ds, base = _hf_images(hf)
        inj = si.RandomPixel(K, seed=51, fidelity=0.5)
        out = ds.map(si.HFInjectMap(inj), batched=True, with_indices=True, batch_size=batch_size)
        per_sample = si.InjectedDataset(base, inj)
        assert out.features == ds.features
        for i in range(len(ds)):
            row = out[i]
            assert row["image"].mode == "RGB"
            assert same(pil_to_array(row["image"]), per_sample[i][0])
            assert row["label"] == base[i][1]
        assert same(pil_to_array(ds[0]["image"]), base[0][0])  # the source is untouched

    @pytest.mark.parametrize("fmt", ["numpy", "torch"])
    def test_formatted_columns_in_one_call(self, hf: Any, fmt: str) -> None:
        base = numpy_base(20)
        ds = hf.Dataset.from_dict(
            {"x": np.stack([a for a, _ in base]), "y": [lab for _, lab in base]}
        ).with_format(fmt)
        inj = si.MultipleLocations(K, seed=52)
        fn = si.HFInjectMap(inj, column="x", label_column="y", output_column="x_inj", dtype="uint8")
        out = ds.map(fn, batched=True, with_indices=True, batch_size=8)
        ref = reference(inj, base)
        got = out[:]["x_inj"]
        got = got.numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
        assert np.array_equal(got, ref)
        assert "x" in out.column_names
        assert out.features["x_inj"].feature.feature.feature.dtype == "uint8"

    def test_nested_list_column(self, hf: Any) -> None:
        base = numpy_base(6)
        ds = hf.Dataset.from_dict(
            {"image": [a.tolist() for a, _ in base], "label": [lab for _, lab in base]}
        )
        inj = si.OnePixel(K)
        out = ds.map(si.HFInjectMap(inj, dtype="uint8"), batched=True, with_indices=True)
        got = out.with_format("numpy")[:]["image"]
        assert np.array_equal(got, reference(inj, base))

    def test_two_processes_give_the_same_rows(self, hf: Any) -> None:
        ds, _ = _hf_images(hf, 16)
        fn = si.HFInjectMap(si.RandomPixel(K, seed=53))
        one = ds.map(fn, batched=True, with_indices=True, batch_size=4)
        two = ds.map(fn, batched=True, with_indices=True, batch_size=4, num_proc=2)
        for i in range(len(ds)):
            assert same(pil_to_array(one[i]["image"]), pil_to_array(two[i]["image"]))

    def test_text_column(self, hf: Any, text_injector: si.Compose) -> None:
        labels = [i % 5 for i in range(len(TEXTS))]
        ds = hf.Dataset.from_dict({"text": TEXTS, "label": labels})
        fn = si.HFInjectMap(text_injector, column="text")
        out = ds.map(fn, batched=True, with_indices=True, batch_size=4)
        assert out[:]["text"] == text_injector(TEXTS, labels)

    def test_missing_column(self, hf: Any) -> None:
        ds, _ = _hf_images(hf, 2)
        with pytest.raises(
            ValueError, match=r"no column 'img' in the batch; columns: \['image', 'label'\]"
        ):
            ds.map(si.HFInjectMap(si.OnePixel(K), column="img"), batched=True, with_indices=True)

    def test_not_batched(self, hf: Any) -> None:
        ds, _ = _hf_images(hf, 2)
        with pytest.raises(
            TypeError, match=r"call Dataset.map\(fn, batched=True, with_indices=True\)"
        ):
            ds.map(si.HFInjectMap(si.OnePixel(K)), with_indices=True)

    def test_label_out_of_range_names_the_row(self, hf: Any) -> None:
        ds = hf.Dataset.from_dict(
            {"image": [np.zeros((4, 4, 1), np.uint8)] * 4, "label": [0, 1, 12, 3]}
        )
        with pytest.raises(ValueError, match=r"sample index 2 \(row 2 of the batch\) has label 12"):
            ds.map(si.HFInjectMap(si.OnePixel(K), dtype="uint8"), batched=True, with_indices=True)

    def test_bad_arguments(self) -> None:
        with pytest.raises(TypeError, match="HFInjectMap: column must be a str, got 3"):
            si.HFInjectMap(si.OnePixel(K), column=3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="output_column must be a str or None, got 0"):
            si.HFInjectMap(si.OnePixel(K), output_column=0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="HFInjectMap: injector must be a signalinject"):
            si.HFInjectMap(None)  # type: ignore[arg-type]


# -- docs/pipelines.md: the examples run as written ---------------------------------------------
def doc_examples(heading: str) -> list[str]:
    """The ```python blocks under the ``## heading`` of docs/pipelines.md."""
    text = DOCS.read_text()
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"no section '## {heading}' in {DOCS}"
    blocks = re.findall(r"^```python\n(.*?)^```", m.group(1), re.M | re.S)
    assert blocks, f"no python block under '## {heading}'"
    return blocks


def run_doc_examples(heading: str) -> None:
    for i, code in enumerate(doc_examples(heading)):
        exec(compile(code, f"{DOCS}:{heading}:{i}", "exec"), {"__name__": "__main__"})


@pytest.mark.parametrize(
    "heading",
    [
        "The fast path: whole batches in the DataLoader workers",
        "Plain torch: Dataset and DataLoader",
        "Splits: `index_offset`",
        "On-device batches",
        "torch.compile",
        "scikit-learn",
    ],
)
def test_docs_example_runs(heading: str) -> None:
    run_doc_examples(heading)


def test_docs_hugging_face_example_runs(hf: Any) -> None:
    pytest.importorskip("PIL")
    run_doc_examples("Hugging Face datasets")


def test_docs_lead_with_the_fast_path() -> None:
    first = re.search(r"^## (.*)$", DOCS.read_text(), re.M)
    assert first is not None
    assert first.group(1).startswith("The fast path")
