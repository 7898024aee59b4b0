"""Hugging Face ``datasets`` in its own terms: features, formats, ``map``, ``IterableDataset``,
``num_proc`` and the cache fingerprint (issue 21: layout, dtype, streamed keys, version).

The reference is the injector called once on the whole NumPy batch ``(N, H, W, C)`` uint8 keyed
by ``arange(N)`` (or by the id column).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import signalinject as si

datasets = pytest.importorskip("datasets")
PIL_Image = pytest.importorskip("PIL.Image")

K, N = 10, 40


def _data(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, K, n)


def image_dataset(n: int = N) -> tuple[Any, np.ndarray, np.ndarray]:
    """A dataset with an ``Image`` feature (PNG-encoded PIL images) and a ``ClassLabel``."""
    x, y = _data(n)
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=K)}
    )
    ds = datasets.Dataset.from_dict(
        {"image": [PIL_Image.fromarray(a) for a in x], "label": y.tolist()}, features=features
    )
    return ds, x, y


def array_dataset(n: int = N, array3d: bool = False) -> tuple[Any, np.ndarray, np.ndarray]:
    """A dataset whose ``x`` column stores uint8 ``(32, 32, 3)`` (nested lists or Array3D)."""
    x, y = _data(n)
    ds = datasets.Dataset.from_dict({"x": x, "y": y, "id": np.arange(n) * 7 + 3})
    if array3d:
        ds = ds.cast_column("x", datasets.Array3D((32, 32, 3), "uint8"))
    return ds, x, y


class TestLayout:
    def test_torch_formatted_image_column_is_injected_in_its_layout(self) -> None:
        # datasets' torch format gives an Image column as (N, C, H, W): the pixel code must land
        # on the pixel, every row (0/400 rows were right when the layout was guessed).
        ds, x, y = image_dataset()
        inj = si.OnePixel(K, position=(5, 9))
        fn = si.HFInjectMap(inj, output_column="injected", dtype="uint8")
        out = ds.with_format("torch").map(fn, batched=True, with_indices=True, batch_size=16)
        chw = out[:]["injected"]
        assert tuple(chw.shape) == (N, 3, 32, 32)
        assert np.array_equal(chw.numpy(), inj(x, y).transpose(0, 3, 1, 2))
        assert (chw[:, :, 5, 9].numpy() == y[:, None]).all()
        # hf_inject writes the Image column back as images (stored (H, W, C)), torch format kept.
        back = si.hf_inject(ds.with_format("torch"), inj, batch_size=16)
        assert back.format["type"] == "torch"
        assert back.features == ds.features
        got = back.with_format("numpy")[:]["image"]
        assert np.array_equal(got, inj(x, y))

    @pytest.mark.parametrize("fmt", ["torch", "numpy", None])
    @pytest.mark.parametrize("array3d", [False, True])
    def test_array_column_is_channels_last_in_every_format(
        self, fmt: str | None, array3d: bool
    ) -> None:
        ds, x, y = array_dataset(array3d=array3d)
        inj = si.PatternPixels(K, seed=1)
        out = si.hf_inject(ds.with_format(fmt), inj, column="x", label_column="y", batch_size=16)
        got = out.with_format("numpy")[:]["x"]
        assert np.array_equal(got, inj(x, y))
        assert np.array_equal(inj.decode(got.astype(np.uint8)), y)
        assert out.format["type"] == fmt  # the format is restored

    def test_ambiguous_shapes_are_refused(self) -> None:
        # (3, 8, 3): either axis could hold the channels.
        ds = datasets.Dataset.from_dict(
            {"x": np.zeros((4, 3, 8, 3), np.uint8), "y": [0, 1, 2, 3]}
        ).with_format("numpy")
        fn = si.HFInjectMap(si.OnePixel(K), column="x", label_column="y", dtype="uint8")
        with pytest.raises(ValueError, match=r"layout of images of shape \(3, 8, 3\) is ambiguous"):
            ds.map(fn, batched=True, with_indices=True)
        ok = si.HFInjectMap(
            si.OnePixel(K), column="x", label_column="y", dtype="uint8", channels_last=True
        )
        got = ds.map(ok, batched=True, with_indices=True)[:]["x"]
        assert got[:, 0, 0, :].tolist() == [[0] * 3, [1] * 3, [2] * 3, [3] * 3]

    def test_a_declared_layout_wins(self) -> None:
        # Stored channels-first (3, 32, 32): the shape shows it; hf_inject follows the feature.
        x, y = _data(8)
        chw = x.transpose(0, 3, 1, 2).copy()
        ds = datasets.Dataset.from_dict({"x": chw, "y": y}).cast_column(
            "x", datasets.Array3D((3, 32, 32), "uint8")
        )
        inj = si.OnePixel(K, position=(1, 2))
        got = si.hf_inject(ds, inj, column="x", label_column="y").with_format("numpy")[:]["x"]
        assert np.array_equal(got, inj(chw, y, channels_last=False))


class TestDtype:
    @pytest.mark.parametrize("array3d", [False, True])
    def test_uint8_stays_uint8_and_is_clipped(self, array3d: bool) -> None:
        ds, x, y = array_dataset(array3d=array3d)
        inj = si.OrthogonalNoise(K, seed=2)
        out = si.hf_inject(ds.with_format("torch"), inj, column="x", label_column="y")
        assert out.features["x"] == ds.features["x"]  # stored as uint8 by Arrow
        got = out.with_format("numpy")[:]["x"]
        assert got.min() >= 0
        assert got.max() <= 255
        assert np.array_equal(got, inj(x, y))  # injected in uint8: saturated, not widened

    def test_widened_batches_are_refused_without_dtype(self) -> None:
        ds, _, _ = array_dataset(4)
        fn = si.HFInjectMap(si.OrthogonalNoise(K), column="x", label_column="y")
        with pytest.raises(ValueError, match=r"arrives as torch.int64.*dtype='uint8'"):
            ds.with_format("torch").map(fn, batched=True, with_indices=True)

    def test_a_lossy_dtype_is_refused(self) -> None:
        ds = datasets.Dataset.from_dict(
            {"x": np.full((2, 4, 4, 1), 300, np.int64), "y": [0, 1]}
        ).with_format("numpy")
        fn = si.HFInjectMap(si.OnePixel(K), column="x", label_column="y", dtype="uint8")
        with pytest.raises(ValueError, match=r"uint8 cannot store exactly.*300"):
            ds.map(fn, batched=True, with_indices=True)

    def test_pil_images_keep_their_mode(self) -> None:
        ds, x, y = image_dataset(12)
        inj = si.RandomPixel(K, seed=3)
        out = si.hf_inject(ds, inj)
        assert out.features == ds.features
        assert out[0]["image"].mode == "RGB"
        assert np.array_equal(np.stack([np.asarray(r["image"]) for r in out]), inj(x, y))


class TestKeys:
    def test_iterable_dataset_without_a_stable_key_is_refused(self) -> None:
        ds, _, _ = array_dataset(8)
        with pytest.raises(ValueError, match="IterableDataset has no stable row index"):
            si.hf_inject(ds.to_iterable_dataset(), si.OnePixel(K), column="x", label_column="y")

    def test_streamed_shuffled_workers_and_epochs_key_by_the_id_column(self) -> None:
        ds, x, y = array_dataset(64)
        inj = si.RandomPixel(K, seed=4, coverage=0.8)
        ids = np.arange(64) * 7 + 3
        ref = inj(x, y, index=ids)
        stream = ds.to_iterable_dataset(num_shards=4).shuffle(seed=1, buffer_size=16)
        out = si.hf_inject(stream, inj, column="x", label_column="y", index_column="id")
        seen: dict[int, np.ndarray] = {}
        for epoch in range(2):
            out.set_epoch(epoch)
            loader = DataLoader(out.with_format("torch"), batch_size=8, num_workers=2)
            rows = 0
            for batch in loader:
                for xi, i in zip(batch["x"], batch["id"].tolist(), strict=True):
                    got = xi.numpy().astype(np.uint8)
                    assert np.array_equal(got, ref[(i - 3) // 7])
                    if i in seen:
                        assert np.array_equal(seen[i], got)  # the same in both epochs
                    seen[i] = got
                    rows += 1
            assert rows == 64

    @pytest.mark.parametrize("fmt", [None, "numpy", "torch"])
    def test_the_format_of_a_stream_is_kept(self, fmt: str | None) -> None:
        ds, x, y = array_dataset(8)
        stream = ds.to_iterable_dataset().with_format(fmt)
        out = si.hf_inject(stream, si.OnePixel(K), column="x", label_column="y", index_column="id")
        first = next(iter(out))["x"]
        kind = {None: (list, np.ndarray), "numpy": np.ndarray, "torch": torch.Tensor}[fmt]
        assert isinstance(first, kind)
        assert np.array_equal(np.asarray(first, dtype=np.uint8), si.OnePixel(K)(x[0], int(y[0])))

    def test_index_offset_and_index_column(self) -> None:
        ds, x, y = array_dataset(10)
        inj = si.RandomPixel(K, seed=5)
        out = si.hf_inject(ds, inj, column="x", label_column="y", index_offset=1000)
        assert np.array_equal(
            out.with_format("numpy")[:]["x"], inj(x, y, index=np.arange(10) + 1000)
        )
        by_id = si.hf_inject(
            ds.shuffle(seed=0), inj, column="x", label_column="y", index_column="id"
        ).with_format("numpy")[:]
        order = (by_id["id"] - 3) // 7
        assert sorted(order.tolist()) == list(range(10))
        assert np.array_equal(by_id["x"], inj(x, y, index=np.arange(10) * 7 + 3)[order])

    def test_num_proc_gives_the_same_rows(self) -> None:
        ds, x, y = array_dataset(16)
        inj = si.RandomPixel(K, seed=6)
        two = si.hf_inject(ds, inj, column="x", label_column="y", batch_size=4, num_proc=2)
        assert np.array_equal(two.with_format("numpy")[:]["x"], inj(x, y))

    def test_bad_index_column(self) -> None:
        ds = datasets.Dataset.from_dict(
            {"x": np.zeros((2, 4, 4, 1), np.uint8), "y": [0, 1], "id": ["a", "b"]}
        )
        fn = si.HFInjectMap(
            si.OnePixel(K), column="x", label_column="y", index_column="id", dtype="uint8"
        )
        with pytest.raises(TypeError, match="index_column 'id' must hold one integer per row"):
            ds.map(fn, batched=True)
        with pytest.raises(ValueError, match=r"no column 'uid' in the batch"):
            ds.map(dataclasses.replace(fn, index_column="uid"), batched=True)


class TestFingerprint:
    def test_the_version_is_part_of_the_cache_fingerprint(self) -> None:
        ds, _, _ = array_dataset(4)
        fn = si.HFInjectMap(si.OnePixel(K), column="x", label_column="y", dtype="uint8")
        assert fn.version == si.__version__
        old = dataclasses.replace(fn)
        object.__setattr__(old, "version", "0.0.1")
        hasher = datasets.fingerprint.Hasher
        assert hasher.hash(fn) == hasher.hash(dataclasses.replace(fn))
        assert hasher.hash(fn) != hasher.hash(old)
        a = ds.map(fn, batched=True, with_indices=True)
        b = ds.map(old, batched=True, with_indices=True)
        assert a._fingerprint != b._fingerprint

    def test_the_cache_of_another_version_is_not_reused(self, tmp_path: Any) -> None:
        ds, _, _ = array_dataset(6)
        ds.save_to_disk(str(tmp_path / "ds"))
        on_disk = datasets.load_from_disk(str(tmp_path / "ds"))
        fn = si.HFInjectMap(si.OnePixel(K), column="x", label_column="y", dtype="uint8")
        first = on_disk.map(fn, batched=True, with_indices=True)
        again = on_disk.map(fn, batched=True, with_indices=True)
        assert again.cache_files == first.cache_files  # the cache works for one version
        old = dataclasses.replace(fn)
        object.__setattr__(old, "version", "0.0.1")
        other = on_disk.map(old, batched=True, with_indices=True)
        assert other.cache_files != first.cache_files


class TestArguments:
    def test_bad_arguments(self) -> None:
        with pytest.raises(TypeError, match="HFInjectMap: dtype must name a NumPy dtype, got 'u9'"):
            si.HFInjectMap(si.OnePixel(K), dtype="u9")
        with pytest.raises(TypeError, match="index_column must be a str or None, got 1"):
            si.HFInjectMap(si.OnePixel(K), index_column=1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="index_offset must be >= 0, got -1"):
            si.HFInjectMap(si.OnePixel(K), index_offset=-1)
        with pytest.raises(TypeError, match="channels_last must be a bool or None, got 1"):
            si.HFInjectMap(si.OnePixel(K), channels_last=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"dataset must be a datasets\.Dataset"):
            si.hf_inject([1, 2], si.OnePixel(K))
        ds, _, _ = array_dataset(2)
        with pytest.raises(ValueError, match=r"hf_inject: no column 'image'; columns: \['id'"):
            si.hf_inject(ds, si.OnePixel(K))
