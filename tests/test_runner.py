"""Tests of signalinject.benchmarks.runner and .signals: reliance, the injected splits, the
results file (atomic lines, corrupt lines) and the configuration."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.dummy import DummyClassifier
from sklearn.tree import DecisionTreeClassifier

import signalinject as si
from signalinject.benchmarks import runner, store
from signalinject.benchmarks.datasets import load_dataset
from signalinject.benchmarks.registry import CustomModel, structure_hash
from signalinject.benchmarks.runner import BenchConfig, measure, prepare, reliance
from signalinject.benchmarks.settings import RunSettings
from signalinject.benchmarks.signals import (
    IMAGE_SIGNALS,
    SIGNALS,
    TEXT_SIGNALS,
    make_injector,
    wrong_signal,
)
from signalinject.benchmarks.store import RESULTS_FILE, append_record, load_records, repair_records

K = 10


def noise_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 8, 8, 1) of pure noise in 50..255 and random labels: no content signal.

    The noise stays above the codes 0..9, so that a written code is the only such value.
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(50, 256, size=(n, 8, 8, 1), dtype=np.uint8)
    return x, rng.integers(0, K, size=n).astype(np.int64)


def flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float32)


# -- signals -----------------------------------------------------------------------------------
class TestSignals:
    def test_names(self) -> None:
        assert IMAGE_SIGNALS == (
            "clean",
            "one_pixel",
            "pattern_pixels",
            "random_pixel",
            "multiple_locations",
            "orthogonal_noise",
        )
        assert TEXT_SIGNALS == ("clean", "mnemonic", "length_encoding", "pattern_char")

    @pytest.mark.parametrize("name", [n for n in SIGNALS if n != "clean"])
    def test_factories_give_the_papers_defaults(self, name: str) -> None:
        k = K if name in IMAGE_SIGNALS else 5  # CIFAR-10; Yelp and Amazon "full"
        inj = make_injector(name, k, 7)
        assert isinstance(inj, si.Injector)
        assert (inj.num_classes, inj.seed, inj.coverage, inj.fidelity) == (k, 7, 1.0, 1.0)
        # the paper's defaults are the classes' own defaults
        assert inj == type(inj)(k, seed=7)

    def test_text_factories_take_the_quantizer(self) -> None:
        from signalinject.text import CharQuantizer

        q = CharQuantizer(length=100)
        inj = make_injector("length_encoding", 5, 0, quantizer=q)
        assert inj is not None
        assert inj.get_config()["quantizer"] == q.get_config()
        # image signals ignore it
        assert make_injector("one_pixel", 5, 0, quantizer=q) == si.OnePixel(5)

    def test_unknown_signal(self) -> None:
        with pytest.raises(
            ValueError, match="unknown signal 'two_pixels'; known: clean, one_pixel"
        ):
            make_injector("two_pixels", K, 0)

    def test_signal_of_the_wrong_kind(self) -> None:
        with pytest.raises(ValueError, match="'mnemonic' applies to text data, not image"):
            make_injector("mnemonic", K, 0, kind="image")

    @pytest.mark.parametrize("name", ["one_pixel", "random_pixel", "orthogonal_noise"])
    def test_wrong_signal_encodes_a_wrong_class_everywhere(self, name: str) -> None:
        inj = make_injector(name, K, 3)
        assert inj is not None
        wrong = wrong_signal(inj)
        assert dataclasses.replace(wrong, fidelity=1.0) == inj
        y = np.arange(1000, dtype=np.int64) % K
        code, carried = wrong.codes(y, np.arange(1000, dtype=np.int64))
        assert carried.all()
        assert (code != y).all()
        # the wrong class is spread over the K-1 others
        assert len(np.unique(code[y == 0])) == K - 1


# -- reliance on constructed cases -----------------------------------------------------------------
class TestReliance:
    @settings(max_examples=50, deadline=None)
    @given(st.integers(1, 200), st.integers(0, 2**31))
    def test_bounds(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        y = rng.integers(0, K, n)
        wrong = (y + 1 + rng.integers(0, K - 1, n)) % K
        carried = rng.random(n) < 0.7
        got = reliance(wrong, wrong, carried)  # a model that always follows the signal
        assert got == (1.0 if carried.any() else None)
        got = reliance(y, wrong, carried)  # a model that never does
        assert got == (0.0 if carried.any() else None)
        pred = rng.integers(0, K, n)
        got = reliance(pred, wrong, carried)
        if carried.any():
            assert got == pytest.approx(np.mean(pred[carried] == wrong[carried]))

    def test_decision_tree_on_one_pixel_relies_on_it(self) -> None:
        x_tr, y_tr = noise_images(600, 0)
        x_te, y_te = noise_images(300, 1)
        prep = prepare(si.OnePixel(K), x_tr, y_tr, x_te, y_te)
        tree = DecisionTreeClassifier(random_state=0).fit(flat(prep.x_train), prep.y_train)
        s = measure(lambda x: tree.predict(flat(x)), prep)
        assert prep.decode_accuracy == 1.0
        assert s.accuracy == 1.0
        assert s.reliance is not None
        assert s.reliance > 0.99
        assert s.reliance_true_accuracy is not None
        assert s.reliance_true_accuracy < 0.01

    def test_constant_predictor_has_chance_reliance(self) -> None:
        x_tr, y_tr = noise_images(600, 0)
        x_te, y_te = noise_images(2000, 1)
        prep = prepare(si.OnePixel(K), x_tr, y_tr, x_te, y_te)
        const = DummyClassifier(strategy="most_frequent").fit(flat(prep.x_train), prep.y_train)
        s = measure(lambda x: const.predict(flat(x)).astype(np.int64), prep)
        assert s.reliance is not None
        # it follows the signal only where the wrong class happens to be its constant:
        # (1 - p_c) / (K - 1) of the samples, ~0.1 for K = 10
        c = int(const.predict(flat(x_te[:1]))[0])
        assert prep.wrong_code is not None
        assert s.reliance == pytest.approx(np.mean(prep.wrong_code == c))
        assert s.reliance < 0.15

    def test_content_only_model_has_zero_reliance(self) -> None:
        # the class is also written in the content (pixel (4, 4)); a model reading only it
        # ignores the signal at (0, 0) entirely
        x_tr, y_tr = noise_images(300, 0)
        x_te, y_te = noise_images(300, 1)
        for x, y in ((x_tr, y_tr), (x_te, y_te)):
            x[:, 4, 4, 0] = 100 + 10 * y
        prep = prepare(si.OnePixel(K), x_tr, y_tr, x_te, y_te)
        s = measure(lambda x: (x[:, 4, 4, 0].astype(np.int64) - 100) // 10, prep)
        assert (s.accuracy, s.reliance, s.reliance_true_accuracy) == (1.0, 0.0, 1.0)

    def test_decision_tree_on_mnemonic_codes_relies_on_it(self) -> None:
        from signalinject.text import CharQuantizer, Mnemonic

        q = CharQuantizer(length=64)
        rng = np.random.default_rng(0)
        alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz ,."))

        def texts(n: int) -> list[str]:
            return ["".join(rng.choice(alphabet, int(rng.integers(5, 60)))) for _ in range(n)]

        y_tr, y_te = rng.integers(0, 5, 400), rng.integers(0, 5, 400)
        prep = prepare(Mnemonic(5, quantizer=q), texts(400), y_tr, texts(400), y_te, seen=q.encode)
        tree = DecisionTreeClassifier(random_state=0).fit(q.encode(prep.x_train), prep.y_train)
        s = measure(lambda x: tree.predict(q.encode(x)).astype(np.int64), prep)
        assert prep.decode_accuracy == 1.0
        assert s.accuracy == 1.0
        assert s.reliance == 1.0

    def test_clean_has_no_reliance(self) -> None:
        x, y = noise_images(50, 0)
        prep = prepare(None, x, y, x, y)
        assert (prep.x_wrong, prep.decode_accuracy) == (None, None)
        s = measure(lambda d: np.zeros(len(d), np.int64), prep)
        assert s.reliance is None
        assert s.reliance_true_accuracy is None
        assert s.accuracy == pytest.approx(np.mean(y == 0))

    def test_partial_coverage_counts_carried_samples_only(self) -> None:
        x_tr, y_tr = noise_images(100, 0)
        x_te, y_te = noise_images(1000, 1)
        inj = si.OnePixel(K, coverage=0.5)
        prep = prepare(inj, x_tr, y_tr, x_te, y_te)
        assert prep.carried is not None
        assert prep.wrong_code is not None
        assert 0.4 < prep.carried.mean() < 0.6
        # an oracle of the pixel: right wherever the signal is, so reliance is exactly 1
        s = measure(lambda x: np.minimum(x[:, 0, 0, 0], K - 1).astype(np.int64), prep)
        assert s.reliance == 1.0

    def test_prepare_keys_the_test_set_after_the_training_set(self) -> None:
        x_tr, y_tr = noise_images(40, 0)
        x_te, y_te = noise_images(40, 1)
        inj = si.RandomPixel(K, seed=5)
        prep = prepare(inj, x_tr, y_tr, x_te, y_te)
        idx = np.arange(40, 80)
        np.testing.assert_array_equal(prep.x_test, inj(x_te, y_te, index=idx))
        np.testing.assert_array_equal(inj.decode(prep.x_test, index=idx), y_te)
        wrong = wrong_signal(inj)
        np.testing.assert_array_equal(wrong.decode(prep.x_wrong, index=idx), prep.wrong_code)
        np.testing.assert_array_equal(x_te, noise_images(40, 1)[0])  # the input is untouched

    def test_text_decode_reads_what_the_model_sees(self) -> None:
        from signalinject.text import CharQuantizer, LengthEncoding

        q = CharQuantizer(length=40)
        texts = ["short", "a somewhat longer text here", "mid size"] * 20
        y = np.arange(60, dtype=np.int64) % 4
        inj = LengthEncoding(4, quantizer=q)
        on_texts = prepare(inj, texts, y, texts, y)
        on_codes = prepare(inj, texts, y, texts, y, seen=q.encode)
        assert on_texts.decode_accuracy == 1.0
        # the space padding does not show in the codes: the decode on them is worse
        assert on_codes.decode_accuracy is not None
        assert on_codes.decode_accuracy < 1.0
        expected = np.mean(np.asarray(inj.decode(q.encode(on_codes.x_test))) == y)
        assert on_codes.decode_accuracy == pytest.approx(expected)


# -- the shut-down control and the cell identity ---------------------------------------------------
class TestBlankAndIdentity:
    def test_blank_data(self) -> None:
        x = np.full((3, 4, 4, 3), 200, np.uint8)
        b = runner.blank_data(x)
        assert (b.shape, b.dtype, int(b.max())) == (x.shape, np.uint8, 0)
        assert int(x.min()) == 200  # the input is untouched
        assert runner.blank_data(["a", "bc"]) == ["", ""]

    def test_on_blank_images_only_the_signal_is_left(self) -> None:
        x, y = noise_images(30, 0)
        inj = si.PatternPixels(K, on_value=255)
        blank = runner.blank_data(x)
        prep = prepare(inj, blank, y, blank, y)
        corners = np.zeros(prep.x_train.shape[1:3], bool)
        corners[[0, 0, -1, -1], [0, -1, 0, -1]] = True
        assert (prep.x_train[:, ~corners] == 0).all()
        assert prep.decode_accuracy == 1.0

    @staticmethod
    def _keys(**kw: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
        cfg = BenchConfig.for_suite(
            "images", models=("convnet", "decision_tree"), limit=20, progress=False, **kw
        )
        data = runner.load(cfg)
        inj = make_injector("one_pixel", K, 0)
        torch_key = runner.cell_key(data, runner.Cell(0, "one_pixel", "convnet"), inj)
        tree_key = runner.cell_key(data, runner.Cell(0, "one_pixel", "decision_tree"), inj)
        return torch_key, tree_key, data.fingerprint

    def test_the_identity_of_earlier_cells_is_kept(self) -> None:
        # the fields of a cell's key before blank/strength/custom models existed: a default run
        # must produce exactly these, so that its earlier results.jsonl lines are reused; a torch
        # model's image cell names its preprocessing since 0.2.0 (0.1.x's "input_scale" cells,
        # divided by 255, are never reused for another preprocessing)
        torch_key, tree_key, _ = self._keys()
        common = {"suite", "dataset", "data_fingerprint", "signal", "injector", "model", "seed"}
        assert set(torch_key) == common | {"train", "preprocess"}
        assert torch_key["preprocess"] == "standardize"
        assert set(tree_key) == common | {"fit_fraction"}
        assert torch_key["injector"] == si.OnePixel(K).identity()

    def test_a_modern_models_structure_is_part_of_the_identity(self) -> None:
        # a model added after 0.1.0 whose architecture changes under the same name (the ViT's
        # pooling, positions, input standardisation) gives new cells, never stale results
        from signalinject.benchmarks.modern import ViT

        cfg = BenchConfig.for_suite("images", models=("vit-w64-d4",), limit=20, progress=False)
        data = runner.load(cfg)
        key = runner.cell_key(data, runner.Cell(0, "one_pixel", "vit-w64-d4"), None)
        default = ViT(K, width=64, depth=4)
        assert key["model_identity"] == {"structure": structure_hash(default)}
        torch.manual_seed(1)  # the structure, not the weights
        again = ViT(K, width=64, depth=4)
        assert structure_hash(again) == key["model_identity"]["structure"]
        for options in ({"pool": "token"}, {"positions": "learned"}, {"input_norm": False}):
            other = ViT(K, width=64, depth=4, **options)
            assert structure_hash(other) != structure_hash(default), options

    def test_blank_is_part_of_the_identity(self) -> None:
        torch_key, tree_key, fingerprint = self._keys()
        b_torch, b_tree, b_fingerprint = self._keys(blank=True)
        assert b_torch == {**torch_key, "blank": True}
        assert b_tree == {**tree_key, "blank": True}
        assert b_fingerprint == fingerprint  # of the real data: blank is the key's own field

    def test_strength_is_in_the_injector_config(self) -> None:
        cfg = BenchConfig.for_suite(
            "images", signals=("one_pixel",), strength=16, models=("decision_tree",)
        )
        assert cfg.strength == 16.0
        inj = make_injector("one_pixel", K, 0, strength=cfg.strength)
        assert inj is not None
        assert list(inj.get_config()["values"]) == [16.0 * k for k in range(K)]

    @pytest.mark.parametrize(
        ("kw", "err", "match"),
        [
            (
                {"signals": ("one_pixel", "multiple_locations"), "strength": 4},
                ValueError,
                "signal 'multiple_locations' has no strength",
            ),
            ({"strength": -2, "signals": ("one_pixel",)}, ValueError, "finite number > 0"),
            ({"blank": 1}, TypeError, "blank must be True or False, got 1"),
            ({"custom_models": "net"}, TypeError, "custom_models must be a sequence"),
            ({"custom_models": ("net",)}, TypeError, "custom_models must hold CustomModel"),
        ],
    )
    def test_bad_settings(self, kw: dict[str, Any], err: type[Exception], match: str) -> None:
        with pytest.raises(err, match=match):
            BenchConfig.for_suite(kw.pop("suite", "images"), **kw)

    def test_strength_too_large_for_the_classes_fails_before_training(self, tmp_path: Any) -> None:
        cfg = BenchConfig.for_suite(
            "images", signals=("one_pixel",), strength=64, models=("decision_tree",), limit=20,
            out=str(tmp_path), progress=False,
        )  # fmt: skip
        with pytest.raises(ValueError, match="too large for one_pixel with 10 classes"):
            runner.run(cfg)
        assert not (tmp_path / store.RESULTS_FILE).exists()

    def test_custom_model_arguments(self) -> None:
        with pytest.raises(TypeError, match=r"CustomModel\.factory must be callable, got 3"):
            CustomModel("m", 3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"CustomModel\.name must be a non-empty string"):
            CustomModel("", len)
        with pytest.raises(TypeError, match=r"CustomModel\.fingerprint must be a string"):
            CustomModel("m", len, 5)  # type: ignore[arg-type]


# -- the results file ------------------------------------------------------------------------------
def record(cid: str, **kw: Any) -> dict[str, Any]:
    """A valid result line of a clean cell (the fields :data:`store.REQUIRED_FIELDS` names)."""
    base = dict.fromkeys(store.REQUIRED_FIELDS, None)
    base.update(model="decision_tree", seed=0, accuracy=0.5, clean_accuracy=0.5, gain=0.0)
    return {**base, "cell_id": cid, "dataset": "digits", "signal": "clean", **kw}


class TestResultsFile:
    def test_round_trip(self, tmp_path: Path) -> None:
        path = tmp_path / "results.jsonl"
        recs = [record(f"{i:04x}", accuracy=i / 10) for i in range(5)]
        for r in recs:
            append_record(path, r)
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") == 5
        assert text.endswith("\n")
        got, bad = load_records(path)
        assert list(got.values()) == recs
        assert bad == []

    def test_missing_file(self, tmp_path: Path) -> None:
        assert load_records(tmp_path / "nope.jsonl") == ({}, [])

    def test_refuses_nan(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="the field 'accuracy' is NaN, expected a number"):
            append_record(tmp_path / "r.jsonl", record("aa", accuracy=float("nan")))
        assert not (tmp_path / "r.jsonl").exists()  # nothing is written

    @settings(max_examples=40, deadline=None)
    @given(st.integers(3, 6), st.data())
    def test_truncation_anywhere_loses_only_the_last_line(self, n: int, data: Any) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "results.jsonl"
            recs = [record(f"{i:04x}", accuracy=0.5) for i in range(n)]
            for r in recs:
                append_record(path, r)
            raw = path.read_bytes()
            last_start = raw.rstrip(b"\n").rfind(b"\n") + 1
            cut = data.draw(st.integers(last_start, len(raw) - 1))  # a kill mid-line
            path.write_bytes(raw[:cut])
            got, bad = load_records(path)
            assert list(got.values()) == recs[:-1]
            assert len(bad) == (0 if cut == last_start else 1)

    def test_bad_lines(self, tmp_path: Path) -> None:
        path = tmp_path / "results.jsonl"
        good = [record("aa01"), record("aa02")]
        lines = [
            json.dumps(good[0]),
            '{"cell_id": "bb01", "dataset": "dig',  # garbage in the middle
            json.dumps({"cell_id": "cc01"}),  # a field missing
            "[1, 2]",  # not an object
            json.dumps(good[0]),  # a duplicate
            "",  # blank lines are fine
            json.dumps(good[1]),
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        got, bad = load_records(path)
        assert list(got.values()) == good
        assert [no for no, _ in bad] == [2, 3, 4, 5]

    def test_repair_says_so_and_quarantines(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = tmp_path / "results.jsonl"
        good = record("aa01")
        dup = json.dumps(good)
        path.write_text(f'{dup}\n{dup}\n{{"cell_id": "bb02", "acc', encoding="utf-8")
        got, bad = load_records(path)
        with caplog.at_level(logging.WARNING, logger="signalinject.benchmarks"):
            repair_records(path, got, bad)
        assert f"{path}:2: duplicate line for cell aa01" in caplog.text
        assert f"{path}:3: corrupt or truncated line; cell bb02 will be recomputed" in caplog.text
        assert path.read_text(encoding="utf-8") == dup + "\n"
        quarantine = (tmp_path / store.CORRUPT_FILE).read_text(encoding="utf-8")
        assert quarantine == f'{dup}\n{{"cell_id": "bb02", "acc\n'
        assert not list(tmp_path.glob("*.tmp"))
        # appending after a repair gives whole lines again
        append_record(path, record("cc03"))
        assert list(load_records(path)[0]) == ["aa01", "cc03"]


# -- configuration ---------------------------------------------------------------------------
class TestBenchConfig:
    def test_suite_defaults(self) -> None:
        cfg = BenchConfig.for_suite("text")
        assert (cfg.dataset, cfg.kind, cfg.signals) == ("stdlib_code", "text", TEXT_SIGNALS)
        assert cfg.models[0] == "charcnn_narrow"
        assert BenchConfig.for_suite("images").dataset == "photo_digits"
        assert cfg.models == runner.SUITES["text"].models
        images = BenchConfig.for_suite("images")
        assert (images.suite, images.models, images.out) == (
            "images", runner.SUITES["images"].models, "signalinject-bench/images"
        )  # fmt: skip

    def test_text_length_default_depends_on_the_dataset(self) -> None:
        assert BenchConfig.for_suite("text").text_length == 256
        assert BenchConfig.for_suite("text", dataset="stdlib_docs").text_length == 256
        assert BenchConfig.for_suite("text", dataset="yelp_full").text_length == 1014
        assert BenchConfig.for_suite("text", text_length=500).frame_length == 500

    def test_clean_is_always_first(self) -> None:
        cfg = BenchConfig.for_suite("images", signals=("random_pixel", "clean", "one_pixel"))
        assert cfg.signals == ("clean", "random_pixel", "one_pixel")
        cfg = BenchConfig.for_suite("images", signals=["one_pixel"], models=["decision_tree"])
        assert cfg.signals == ("clean", "one_pixel")
        grid = runner.cell_grid(dataclasses.replace(cfg, settings=RunSettings(seeds=(4, 2))))
        assert [(c.seed, c.signal) for c in grid] == [
            (4, "clean"),
            (4, "one_pixel"),
            (2, "clean"),
            (2, "one_pixel"),
        ]

    @pytest.mark.parametrize(
        ("kw", "err", "match"),
        [
            ({"suite": "audio"}, ValueError, "unknown suite 'audio'; known: images, text"),
            (
                {"dataset": "mnist"},
                ValueError,
                "unknown dataset 'mnist'; known: photo_digits, noisy_digits, digits",
            ),
            ({"dataset": "stdlib_docs"}, ValueError, "holds text data but suite='images'"),
            ({"signals": ("mnemonic",)}, ValueError, "'mnemonic' applies to text data"),
            ({"signals": ()}, ValueError, "signals must name at least one entry"),
            ({"signals": "one_pixel"}, TypeError, "signals must be a sequence of names"),
            ({"signals": ("one_pixel",) * 2}, ValueError, "signals must not repeat a name"),
            ({"models": ("resnet",)}, ValueError, "unknown model 'resnet'; known: convnet"),
            (
                {"seeds": (0, 0)},
                ValueError,
                r"seeds must be distinct and at least one, got \[0, 0\]",
            ),
            ({"seeds": (-1,)}, ValueError, r"seeds\[i\] must be in \[0, 4294967295\], got -1"),
            ({"seeds": 3}, TypeError, "seeds must be a sequence of integers, got 3"),
            ({"epochs": 0}, ValueError, r"epochs must be in \[1, inf\], got 0"),
            ({"batch_size": 0}, ValueError, r"batch_size must be in \[1, inf\], got 0"),
            ({"limit": 0}, ValueError, r"limit must be in \[1, inf\], got 0"),
            ({"preprocess": "pixels"}, ValueError, "preprocess must be one of 'standardize', "),
            ({"fit_fraction": 0.0}, ValueError, "fit_fraction must be > 0, got 0.0"),
            ({"fit_fraction": 2.0}, ValueError, r"fit_fraction must be in \[0, 1\], got 2.0"),
            ({"text_length": 0}, ValueError, r"text_length must be in \[1, 65536\], got 0"),
            ({"text_length": 2**16 + 1}, ValueError, r"text_length must be in \[1, 65536\]"),
            ({"device": "toaster"}, ValueError, "device must be 'auto' or a torch device string"),
        ],
    )
    def test_bad_settings(self, kw: dict[str, Any], err: type[Exception], match: str) -> None:
        with pytest.raises(err, match=match):
            BenchConfig.for_suite(kw.pop("suite", "images"), **kw)

    @pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
    def test_cuda_where_there_is_none(self) -> None:
        with pytest.raises(ValueError, match="asked for CUDA, but CUDA is not available here"):
            BenchConfig.for_suite("images", device="cuda")

    def test_for_suite_unknown_field(self) -> None:
        with pytest.raises(TypeError, match=r"BenchConfig has no field\(s\) \['epoch'\]"):
            BenchConfig.for_suite("images", epoch=3)


# -- the measured fields -------------------------------------------------------------------------
class TestMeasureFields:
    def test_every_line_holds_them_with_their_types(self, tmp_path: Path) -> None:
        from signalinject.benchmarks import stats

        cfg = BenchConfig.for_suite(
            "images", dataset="digits", signals=("one_pixel",), models=("decision_tree", "lda"),
            limit=60, progress=False, out=str(tmp_path),
        )  # fmt: skip
        rows = runner.run(cfg)
        y = np.asarray(load_dataset("digits", limit=60).y_test)
        for r in rows:
            assert store.record_problem(r) is None
            for name in store.MEASURE_FIELDS:
                assert name in r, name
            n = r["n_test"]
            assert r["majority_rate"] == stats.majority_rate(y)
            lo, hi = stats.wilson_interval(round(r["accuracy"] * n), n)
            assert (r["accuracy_low"], r["accuracy_high"]) == (lo, hi)
            k = round(r["clean_accuracy"] * n)
            assert r["clean_p_value"] == stats.clean_p_value(k, n, r["majority_rate"])
            assert r["nonfinite_outputs"] == r["clean_nonfinite_outputs"] == 0
            if r["signal"] == "clean":
                assert r["n_carried"] is r["reliance_low"] is r["reliance_high"] is None
            else:
                assert r["n_carried"] == n  # coverage 1: every test sample carries it
                assert r["reliance_low"] <= r["reliance"] <= r["reliance_high"]
        # written to the file as they are returned
        assert list(load_records(tmp_path / RESULTS_FILE)[0].values()) == rows
