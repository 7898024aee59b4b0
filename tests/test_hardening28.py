"""Issue 28, "no silent wrong result": each case a hostile user found, as a regression test.

scikit-learn scoring keyed by ids, float ids refused everywhere, the unchecked fast path's label
range, Hugging Face streams, transforms and shuffled datasets. (Value ranges, big-endian images,
torch.compile and the benchmarks' files have their own files: ``test_value_range.py``,
``test_compile.py``, ``test_hardening28_bench.py``.)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import sklearn
import torch
from sklearn.model_selection import KFold, cross_validate
from sklearn.tree import DecisionTreeClassifier

import signalinject as si
from signalinject._backend import as_index, cpu_route
from signalinject.sklearn import InjectedEstimator

K = 10


def _rows(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 17, (n, 64)).astype(np.float64), rng.integers(0, K, n)


def _tree(inj: si.Injector, **kw: Any) -> InjectedEstimator:
    """A tree on 8x8x1 rows of 0..16, the injector told their range."""
    inj = dataclasses.replace(inj, value_range=(0, 16))
    return InjectedEstimator(
        DecisionTreeClassifier(random_state=0), inj, image_shape=(8, 8, 1), **kw
    )


# -- scikit-learn: inject_score keys rows by their ids ------------------------------------------
class TestInjectScore:
    def test_without_ids_for_score_fit_refuses_naming_both_ways(self) -> None:
        X, y = _rows()
        with pytest.raises(ValueError, match=r"index_column=.*set_score_request\(index=True\)"):
            _tree(si.RandomPixel(K), inject_score=True).fit(X, y, index=np.arange(90))
        # cross_validate with params={"index": ...} but no routing: the 0.61 train score
        with pytest.raises(ValueError, match="index_column="):
            cross_validate(
                _tree(si.RandomPixel(K), inject_score=True), X, y, cv=3,
                params={"index": np.arange(90)}, error_score="raise",
            )  # fmt: skip

    def test_routed_ids_key_the_scored_rows(self) -> None:
        # Keyed by position, the train rows are injected at other pixels than in fit (0.61).
        X, y = _rows()
        ids = np.arange(90) * 7 + 5
        with sklearn.config_context(enable_metadata_routing=True):
            est = _tree(si.RandomPixel(K, seed=1), inject_score=True)
            est.set_fit_request(index=True).set_score_request(index=True)
            cv = cross_validate(
                est, X, y, cv=KFold(3, shuffle=True, random_state=0),
                params={"index": ids}, return_train_score=True, return_estimator=True,
                return_indices=True,
            )  # fmt: skip
        assert cv["train_score"].tolist() == [1.0, 1.0, 1.0]
        inj = si.RandomPixel(K, seed=1, value_range=(0, 16))
        for fold, test, score in zip(
            cv["estimator"], cv["indices"]["test"], cv["test_score"], strict=True
        ):
            rows = inj(X[test].reshape(-1, 8, 8, 1), y[test], index=ids[test]).reshape(-1, 64)
            assert score == (fold.estimator_.predict(rows) == y[test]).mean()

    def test_an_index_column_keys_the_scored_rows(self) -> None:
        X, y = _rows()
        Xi = np.column_stack([np.arange(90) * 3 + 1, X])
        est = _tree(si.RandomPixel(K, seed=2), inject_score=True, index_column=0)
        cv = cross_validate(est, Xi, y, cv=KFold(3, shuffle=True, random_state=0),
                            return_train_score=True)  # fmt: skip
        assert cv["train_score"].tolist() == [1.0, 1.0, 1.0]

    def test_score_never_keys_rows_by_position(self) -> None:
        X, y = _rows()
        est = _tree(si.RandomPixel(K)).fit(X, y, index=np.arange(90))
        est.set_params(inject_score=True)
        with pytest.raises(ValueError, match="no ids reach score"):
            est.score(X, y)
        assert est.score(X, y, index=np.arange(90)) == 1.0

    @pytest.mark.parametrize("flag", ["yes", 1, None, 0.0, "False"])
    def test_inject_score_must_be_a_bool(self, flag: Any) -> None:
        X, y = _rows()
        est = _tree(si.OnePixel(K), inject_score=flag, index_column=0)
        with pytest.raises(TypeError, match="inject_score must be True or False"):
            est.fit(X, y)
        fitted = _tree(si.OnePixel(K)).fit(X, y).set_params(inject_score=flag)
        with pytest.raises(TypeError, match="inject_score must be True or False"):
            fitted.score(X, y, index=np.arange(90))

    @pytest.mark.parametrize(
        ("shape", "error", "match"),
        [
            ((-8, -8, 1), ValueError, "positive sizes"),
            ((-8, -8, 3), ValueError, "positive sizes"),  # the product is 192: not enough
            ((0, 8, 8), ValueError, "positive sizes"),
            ((8.0, 8, 1), TypeError, "three integers"),
            ((8, 8), TypeError, "three integers"),
            ("8x8", TypeError, "three integers"),
            ((True, 64, 1), TypeError, "three integers"),
        ],
    )
    def test_bad_image_shapes(self, shape: Any, error: type, match: str) -> None:
        X = np.zeros((6, 192))
        with pytest.raises(error, match=match):
            InjectedEstimator(DecisionTreeClassifier(), si.OnePixel(K), image_shape=shape).fit(
                X, np.arange(6) % 2
            )


# -- float ids are refused everywhere -------------------------------------------------------------
FLOAT_IDS = [np.arange(4) + 0.7, np.arange(4, dtype=np.float64), [0.0, 1.0, 2.0, 3.0]]


class TestFloatIds:
    @pytest.mark.parametrize("ids", FLOAT_IDS, ids=["frac", "whole", "list"])
    def test_sklearn_fit_inject_score(self, ids: Any) -> None:
        X, y = _rows(4)
        est = _tree(si.OnePixel(K))
        with pytest.raises(TypeError, match="index must hold integers"):
            est.fit(X, y, index=ids)
        est.fit(X, y, index=np.arange(4))
        with pytest.raises(TypeError, match="index must hold integers"):
            est.inject(X, y, index=ids)
        with pytest.raises(TypeError, match="index must hold integers"):
            est.set_params(inject_score=True).score(X, y, index=ids)

    def test_sklearn_index_column_of_fractions(self) -> None:
        X, y = _rows(4)
        Xi = np.column_stack([X, [0.0, 1.5, 2.0, 3.0]])
        with pytest.raises(ValueError, match=r"non-negative integer ids.*1\.5"):
            _tree(si.OnePixel(K), index_column=-1).fit(Xi, y)
        huge = np.column_stack([X, [0.0, 1.0, 2.0, 2.0**60]])
        with pytest.raises(ValueError, match=r"at most 2\*\*53"):
            _tree(si.OnePixel(K), index_column=-1).fit(huge, y)

    @pytest.mark.parametrize("ids", [*FLOAT_IDS, torch.arange(4.0)], ids=["a", "b", "c", "t"])
    def test_injectors_adapters_and_as_index(self, ids: Any) -> None:
        x, y = np.zeros((4, 4, 4, 1), np.uint8), np.arange(4)
        inj = si.RandomPixel(K)
        with pytest.raises(TypeError, match="index must hold integers"):
            inj(x, y, index=ids)
        with pytest.raises(TypeError, match="index must hold integers"):
            inj.decode(x, index=ids)
        with pytest.raises(TypeError, match="index must hold integers"):
            si.inject_batch(inj, x, y, ids)
        with pytest.raises(TypeError, match="index must hold integers"):
            si.decode_batch(inj, x, index=ids)
        with pytest.raises(TypeError, match="index must hold integers"):
            as_index(ids, 4, x)
        with pytest.raises(TypeError, match="indices must hold integers"):
            si.HFInjectMap(inj, channels_last=True)({"image": x, "label": y}, ids)

    @pytest.mark.parametrize("key", [1.0, 0.7, np.float64(1.0), torch.tensor(1.0)])
    def test_single_sample_keys(self, key: Any) -> None:
        img = np.zeros((4, 4, 1), np.uint8)
        base = [(img, 1), (img, 2)]
        with pytest.raises(TypeError, match="index must be an integer"):
            si.InjectedDataset(base, si.OnePixel(K))[key]
        with pytest.raises(TypeError, match="index must be an integer"):
            si.IndexedDataset(base)[key]
        with pytest.raises(TypeError, match="index must be an integer"):
            si.InjectTransform(si.OnePixel(K))(img, 1, key)
        with pytest.raises(TypeError, match="index must be an integer"):
            si.InjectCollate(si.OnePixel(K))([(img, 1, key)])
        with pytest.raises(TypeError, match="index must"):
            si.OnePixel(K)(img, 1, index=key)

    def test_a_float_index_column_of_hugging_face(self) -> None:
        datasets = pytest.importorskip("datasets")
        ds = datasets.Dataset.from_dict(
            {"x": np.zeros((4, 4, 4, 1), np.uint8), "y": [0, 1, 2, 3], "id": [0.0, 1.0, 2.0, 3.5]}
        )
        with pytest.raises(TypeError, match="index_column 'id' must hold one integer per row"):
            si.hf_inject(ds, si.OnePixel(K), column="x", label_column="y", index_column="id")


# -- the unchecked fast path: one answer for an out-of-range label on every route ------------------
def _image_injectors() -> list[si.Injector]:
    out: list[si.Injector] = []
    for name, cls in si.list_signals("image").items():
        make: Any = cls
        if name == "one_pixel_shortcut":
            pos = ((0, 0), (1, 1), (2, 2), (3, 3))
            out.append(make(4, positions=pos, colours=((1,),) * 4, value_range=(0, 255)))
        else:
            out.append(make(4, value_range=(0, 255)))
    return out


@pytest.mark.parametrize("inj", _image_injectors(), ids=lambda i: i.name)
@pytest.mark.parametrize("native", [True, False], ids=["native", "numpy"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_prepared_refuses_out_of_range_labels_on_every_route(
    inj: si.Injector, native: bool, dtype: Any, backend: str
) -> None:
    # Before: the compiled route raised an IndexError on 255 while NumPy's wrote a valid class,
    # -1 wrote class K-1 everywhere, PatternPixels wrote the bits of 4 (a 5th class).
    x: Any = np.zeros((3, 16, 16, 1), dtype)
    if backend == "torch":
        x = torch.from_numpy(x).permute(0, 3, 1, 2)
    with cpu_route(native=native):
        fast = inj.prepare(x)
        for label in (4, -1, 255):
            y: Any = np.array([0, 1, label])
            i: Any = np.arange(3)
            if backend == "torch":
                y, i = torch.from_numpy(y), torch.from_numpy(i)
            before = x.clone() if backend == "torch" else x.copy()
            with pytest.raises(ValueError, match=rf"labels in \[0, 3\].*got {label}"):
                fast(x, y, i)
            assert (x == before).all()  # refused before anything is written
        good = torch.tensor([0, 1, 3]) if backend == "torch" else np.array([0, 1, 3])
        fast(x, good, good)  # in range: as a call


def test_prepared_text_refuses_out_of_range_labels() -> None:
    q = si.CharQuantizer(length=16)
    inj = si.Mnemonic(4, quantizer=q)
    codes = q.encode(["abc", "def"], dtype=np.int64)
    fast = inj.prepare(codes)
    with pytest.raises(ValueError, match=r"labels in \[0, 3\]"):
        fast(codes, np.array([0, 7]), np.arange(2))


# -- Hugging Face ------------------------------------------------------------------------------
class TestHuggingFace:
    @pytest.fixture(autouse=True)
    def _datasets(self) -> None:
        self.datasets = pytest.importorskip("datasets")

    def _data(self, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), np.arange(n) % K

    def test_a_stream_without_features_takes_dtype(self) -> None:
        x, y = self._data()

        def rows() -> Any:
            for i in range(len(x)):
                yield {"x": x[i].tolist(), "y": int(y[i]), "id": i}

        stream = self.datasets.IterableDataset.from_generator(rows)
        assert stream.features is None
        args = {"column": "x", "label_column": "y", "index_column": "id"}
        with pytest.raises(ValueError, match=r"hf_inject\(\.\.\., dtype='uint8'\)"):
            list(si.hf_inject(stream, si.OnePixel(K), **args))
        out = list(si.hf_inject(stream, si.OnePixel(K), dtype="uint8", **args))
        got = np.stack([np.asarray(r["x"]) for r in out])
        assert np.array_equal(got, si.OnePixel(K)(x, y))
        assert sorted(out[0]) == ["id", "x", "y"]
        with pytest.raises(TypeError, match="dtype must be a str"):
            si.hf_inject(stream, si.OnePixel(K), dtype=np.uint8, **args)

    def test_with_transform_keeps_the_other_columns(self) -> None:
        x, y = self._data()
        ids = np.arange(len(x)) * 5 + 1
        ds = self.datasets.Dataset.from_dict({"x": x, "y": y, "id": ids, "note": ["a"] * len(x)})
        fn = si.HFInjectMap(
            si.RandomPixel(K), column="x", label_column="y", index_column="id", dtype="uint8",
            channels_last=True,
        )  # fmt: skip
        batch = ds.with_transform(fn)[2:5]
        assert sorted(batch) == ["id", "note", "x", "y"]
        assert list(batch["id"]) == ids[2:5].tolist()
        assert np.array_equal(np.asarray(batch["x"]), si.RandomPixel(K)(x, y, index=ids)[2:5])
        only = dataclass_replace(fn, all_columns=False)
        assert sorted(ds.with_transform(only)[:2]) == ["x"]
        with pytest.raises(TypeError, match="all_columns must be True, False or None"):
            si.HFInjectMap(si.OnePixel(K), all_columns="yes")  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "view",
        [
            lambda d: d.shuffle(seed=0),
            lambda d: d.train_test_split(test_size=0.5, seed=0)["train"],
            lambda d: d.filter(lambda r: r["y"] != 3),
            lambda d: d.select([5, 1, 3]),
        ],
        ids=["shuffle", "split", "filter", "select"],
    )
    def test_an_index_mapped_dataset_needs_an_index_column(self, view: Any) -> None:
        x, y = self._data()
        ds = self.datasets.Dataset.from_dict({"x": x, "y": y, "id": np.arange(len(x))})
        mapped = view(ds)
        with pytest.raises(ValueError, match=r"indices mapping.*index_column=.*flatten_indices"):
            si.hf_inject(mapped, si.RandomPixel(K), column="x", label_column="y")
        out = si.hf_inject(
            mapped, si.RandomPixel(K), column="x", label_column="y", index_column="id"
        ).with_format("numpy")
        ref = si.RandomPixel(K)(x, y)  # keyed by the rows' own ids, whatever the view
        assert np.array_equal(out["x"], ref[out["id"]])
        flat = si.hf_inject(mapped.flatten_indices(), si.RandomPixel(K), column="x",
                            label_column="y")  # fmt: skip
        assert len(flat) == len(mapped)


def dataclass_replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)
