"""Tests of signalinject.benchmarks.scan: the verdict, loading a user's factory (and each of its
errors), the summary of the runner's rows, and ``signalinject scan`` end to end on a small slice
of the embedded data."""

from __future__ import annotations

import csv
import json
import math
import re
import shlex
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from signalinject.benchmarks import cli
from signalinject.benchmarks._user_code import parse_spec
from signalinject.benchmarks.errors import ModelFactoryError
from signalinject.benchmarks.registry import CustomModel, custom_model, load_factory
from signalinject.benchmarks.runner import BenchConfig, run
from signalinject.benchmarks.scan import (
    SCAN_FIELDS,
    ScanConfig,
    scan,
    scan_figure,
    scan_table,
    summarize_scan,
    write_scan_report,
)
from signalinject.benchmarks.settings import RunSettings
from signalinject.benchmarks.stats import IGNORES, READS, normalized_reliance, verdict
from signalinject.benchmarks.store import RECORD_FIELDS, RESULTS_FILE

ORDER = {"ignores": 0, "partial": 1, "reads": 2}

# The user's models of the end-to-end tests, in a module file as a user would write them.
MODELS = '''
import torch
from torch import nn
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier


def first_pixel(x):
    return x[:, :3]  # the three channels of pixel (0, 0), where one_pixel writes its code


def code_reader(input_shape, num_classes):
    """Built to read the one-pixel code: a tree on pixel (0, 0) only."""
    return make_pipeline(FunctionTransformer(first_pixel), DecisionTreeClassifier(random_state=0))


def tree(input_shape, num_classes):
    return DecisionTreeClassifier(random_state=0)


class Constant(nn.Module):
    """The same logits for every input: it can only learn the class frequencies."""

    def __init__(self, num_classes):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        return self.bias.expand(x.shape[0], -1)


def constant(input_shape, num_classes):
    return Constant(num_classes)
'''


@pytest.fixture(scope="module")
def models_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("user") / "my_models.py"
    path.write_text(MODELS, encoding="utf-8")
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- the verdict -----------------------------------------------------------------------------------
class TestVerdict:
    @pytest.mark.parametrize(
        ("reliance", "k", "expected"),
        [
            (1.0, 10, "reads"),
            (0.55, 10, "reads"),  # rho = 0.5 exactly
            (0.54, 10, "partial"),
            (0.19, 10, "partial"),  # rho = 0.1 exactly
            (0.18, 10, "ignores"),
            (0.1, 10, "ignores"),  # chance
            (0.0, 10, "ignores"),
            (0.6, 5, "reads"),
            (0.27, 5, "ignores"),
            (0.3, 5, "partial"),
        ],
    )
    def test_thresholds(self, reliance: float, k: int, expected: str) -> None:
        assert verdict(reliance, k) == expected

    def test_no_reliance(self) -> None:
        assert verdict(None, 10) is None
        assert verdict(math.nan, 10) is None

    @given(st.floats(0, 1), st.floats(0, 1), st.integers(2, 100))
    def test_monotone_in_reliance(self, a: float, b: float, k: int) -> None:
        lo, hi = sorted((a, b))
        assert ORDER[verdict(lo, k) or ""] <= ORDER[verdict(hi, k) or ""]

    @given(st.integers(2, 1000))
    def test_chance_is_zero_and_following_the_signal_is_one(self, k: int) -> None:
        assert normalized_reliance(1 / k, k) == pytest.approx(0.0, abs=1e-12)
        assert normalized_reliance(1.0, k) == pytest.approx(1.0)
        # a model that ignores the signal and is at least at chance stays below 'partial'
        assert verdict(1 / k, k) == "ignores"
        assert 0 < IGNORES < READS < 1

    def test_bad_num_classes(self) -> None:
        with pytest.raises(ValueError, match="num_classes must be an integer >= 2, got 1"):
            normalized_reliance(0.5, 1)


# -- loading the factory ---------------------------------------------------------------------------
class TestLoadFactory:
    def test_from_a_file(self, models_file: Path) -> None:
        cm = load_factory(f"{models_file}:constant")
        assert cm.name == f"{models_file}:constant"
        net = cm.factory((3, 8, 8), 4)
        assert net(torch.zeros(2, 3, 8, 8)).shape == (2, 4)
        assert len(cm.fingerprint) == 32

    def test_from_a_module_name(self) -> None:
        cm = load_factory("signalinject.benchmarks.registry:build_model")
        assert cm.factory("perceptron", (4,), 3).linear.out_features == 3

    def test_dotted_attribute(self, tmp_path: Path) -> None:
        path = write(tmp_path, "nets.py", """
            class Nets:
                @staticmethod
                def small(input_shape, num_classes):
                    return ("small", input_shape, num_classes)
        """)  # fmt: skip
        assert load_factory(f"{path}:Nets.small").factory((1,), 2) == ("small", (1,), 2)

    def test_the_fingerprint_follows_the_source(self, tmp_path: Path) -> None:
        path = write(tmp_path, "fp.py", "def f(s, k):\n    return 1\n")
        before = load_factory(f"{path}:f").fingerprint
        assert load_factory(f"{path}:f").fingerprint == before
        path.write_text("def f(s, k):\n    return 2\n", encoding="utf-8")
        assert load_factory(f"{path}:f").fingerprint != before

    @pytest.mark.parametrize("spec", ["my_models", "my_models:", ":make_net", "m.py:make-net", ""])
    def test_bad_spec(self, spec: str) -> None:
        with pytest.raises(ModelFactoryError, match="expected MODULE:FACTORY"):
            load_factory(spec)

    def test_parse_spec_keeps_a_windows_drive(self) -> None:
        assert parse_spec(r"C:\models\nets.py:make") == (r"C:\models\nets.py", "make")

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ModelFactoryError, match=r"module file '.*nope\.py' not found"):
            load_factory(f"{tmp_path}/nope.py:f")

    def test_missing_module(self) -> None:
        with pytest.raises(ModelFactoryError, match="no module named 'no_such_module_xyz'"):
            load_factory("no_such_module_xyz:f")

    def test_module_that_raises_on_import(self, tmp_path: Path) -> None:
        path = write(tmp_path, "broken.py", "x = 1\ny = 1 / 0\n")
        with pytest.raises(
            ModelFactoryError,
            match=r"importing '.*broken\.py' raised ZeroDivisionError: division by zero "
            r"\(at .*broken\.py:2\)",
        ):
            load_factory(f"{path}:f")

    def test_module_with_a_syntax_error(self, tmp_path: Path) -> None:
        path = write(tmp_path, "syntax.py", "def f(:\n")
        with pytest.raises(ModelFactoryError, match="raised SyntaxError"):
            load_factory(f"{path}:f")

    def test_module_whose_import_fails_inside(self, tmp_path: Path, monkeypatch: Any) -> None:
        write(tmp_path, "uses_missing.py", "import no_such_dependency_xyz\n")
        monkeypatch.chdir(tmp_path)
        with pytest.raises(
            ModelFactoryError,
            match="importing 'uses_missing' raised ModuleNotFoundError: No module named "
            "'no_such_dependency_xyz'",
        ):
            load_factory("uses_missing:f")

    def test_missing_attribute_lists_the_callables(self, models_file: Path) -> None:
        with pytest.raises(
            ModelFactoryError,
            match=r"has no attribute 'resnet'; callables it defines: Constant, code_reader, "
            r"constant, first_pixel, tree",
        ):
            load_factory(f"{models_file}:resnet")

    def test_not_callable(self, tmp_path: Path) -> None:
        path = write(tmp_path, "value.py", "size = 3\n")
        with pytest.raises(ModelFactoryError, match="'size' is a int, not a callable factory"):
            load_factory(f"{path}:size")

    def test_custom_model_from_a_callable(self) -> None:
        cm = custom_model(_linear)
        assert cm.name == f"{__name__}:_linear"
        assert cm.fingerprint == custom_model(_linear).fingerprint
        with pytest.raises(ModelFactoryError, match="factory must be callable, got 3"):
            custom_model(3)  # type: ignore[arg-type]


def _linear(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), num_classes))


# -- the user's model, checked before any training -------------------------------------------------
def _cfg(tmp_path: Path, factory: Any, **kw: Any) -> BenchConfig:
    options: dict[str, Any] = {
        "models": ("user",),
        "custom_models": (CustomModel("user", factory),),
        "signals": ("one_pixel",),
        "limit": 20,
        "epochs": 1,
        "out": str(tmp_path),
        "progress": False,
        **kw,
    }
    return BenchConfig.for_suite("images", **options)


class TestModelErrors:
    def test_factory_that_raises(self, tmp_path: Path) -> None:
        def factory(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
            raise RuntimeError("no GPU kernels for this shape")

        with pytest.raises(
            ModelFactoryError,
            match=r"the factory user raised RuntimeError: no GPU kernels for this shape \(it was "
            r"called with input_shape=\(3, 32, 32\), num_classes=10\)",
        ):
            run(_cfg(tmp_path, factory))
        assert not (tmp_path / RESULTS_FILE).exists()  # nothing trained, nothing written

    def test_wrong_output_shape(self, tmp_path: Path) -> None:
        def factory(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
            return _linear(input_shape, 5)

        with pytest.raises(
            ModelFactoryError,
            match=r"returned \(2, 5\) for a batch of 2 samples; expected logits of shape "
            r"\(2, 10\), one per class \(num_classes=10\)",
        ):
            run(_cfg(tmp_path, factory))

    def test_model_that_fails_on_the_data(self, tmp_path: Path) -> None:
        def factory(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
            return nn.Linear(7, num_classes)

        with pytest.raises(
            ModelFactoryError,
            match=r"the model from user failed on a batch of 2 samples \(torch.float32 "
            r"\(2, 3, 32, 32\)\): RuntimeError",
        ):
            run(_cfg(tmp_path, factory))

    def test_not_a_model(self, tmp_path: Path) -> None:
        with pytest.raises(
            ModelFactoryError,
            match=r"returned a str; expected a torch\.nn\.Module or an estimator with fit",
        ):
            run(_cfg(tmp_path, lambda s, k: "a model"))

    def test_integer_outputs(self, tmp_path: Path) -> None:
        class Argmax(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.w = nn.Parameter(torch.zeros(1))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.zeros(x.shape[0], 10, dtype=torch.int64)

        with pytest.raises(
            ModelFactoryError, match=r"returned torch\.int64 outputs; expected float"
        ):
            run(_cfg(tmp_path, lambda s, k: Argmax()))

    def test_estimator_predicting_no_class(self, tmp_path: Path) -> None:
        from sklearn.dummy import DummyRegressor

        with pytest.raises(
            ModelFactoryError,
            match=r"the estimator from user predicted float64 \(20,\) for 20 samples; expected "
            r"\(20,\) class labels in 0..9",
        ):
            run(_cfg(tmp_path, lambda s, k: DummyRegressor(strategy="constant", constant=0.5)))

    def test_training_failure_names_the_model_and_cell(self, tmp_path: Path) -> None:
        class FailsInTraining(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.w = nn.Parameter(torch.zeros(10))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                if self.training:
                    raise ValueError("dropout rate out of range")
                return self.w.expand(x.shape[0], -1)

        with pytest.raises(
            ModelFactoryError,
            match="the model from user failed in seed 0, signal clean: ValueError: dropout rate",
        ):
            run(_cfg(tmp_path, lambda s, k: FailsInTraining()))

    def test_name_of_a_built_in_model(self) -> None:
        with pytest.raises(ValueError, match="custom model name 'convnet' is a built-in model"):
            BenchConfig.for_suite(
                "images", models=("convnet",), custom_models=(CustomModel("convnet", _linear),)
            )

    def test_bare_word_that_is_no_model(self, tmp_path: Path) -> None:
        with pytest.raises(ModelFactoryError, match=r"or a built-in model \(convnet, charcnn"):
            scan(ScanConfig(models=("resnet50",), settings=RunSettings(out=str(tmp_path))))

    def test_config_without_models(self) -> None:
        with pytest.raises(ValueError, match="models must name at least one model"):
            ScanConfig(models=())


# -- the summary -----------------------------------------------------------------------------------
def _row(model: str, signal: str, seed: int, acc: float, rel: float | None, **kw: Any) -> dict:
    return {
        "dataset": "digits",
        "model": model,
        "signal": signal,
        "seed": seed,
        "num_classes": 10,
        "n_train": 100,
        "n_test": 50,
        "preprocess": "standardize",
        "accuracy": acc,
        "gain": kw.get("gain", 0.0),
        "decode_accuracy": None if signal == "clean" else 1.0,
        "reliance": rel,
        "reliance_true_accuracy": None if rel is None else 1 - rel,
    }


class TestSummary:
    def test_means_std_and_verdicts(self) -> None:
        rows = [
            _row("m", "clean", 0, 0.9, None),
            _row("m", "clean", 1, 0.8, None),
            _row("m", "one_pixel", 0, 1.0, 0.96),
            _row("m", "one_pixel", 1, 1.0, 0.98),
        ]
        blank = [
            _row("m", "clean", 0, 0.1, None),
            _row("m", "clean", 1, 0.1, None),
            _row("m", "one_pixel", 0, 0.1, 0.1),
            _row("m", "one_pixel", 1, 0.1, 0.1),
        ]
        (out,) = summarize_scan(rows, blank)
        assert set(out) == set(SCAN_FIELDS)
        assert out["clean_accuracy"] == pytest.approx(0.85)
        assert out["reliance"] == pytest.approx(0.97)
        assert out["reliance_std"] == pytest.approx(np.std([0.96, 0.98], ddof=1))
        # two seeds: the t interval (t = 12.7 at one degree of freedom) is the wider one
        half = 12.7062 * out["reliance_std"] / 2**0.5
        assert out["reliance_low"] == pytest.approx(0.97 - half, abs=1e-4)
        assert out["reliance_high"] == 1.0
        assert out["verdict"] == "reads"
        assert out["blank_clean_accuracy"] == pytest.approx(0.1)
        assert out["blank_verdict"] == "ignores"
        assert out["seeds"] == [0, 1]
        assert out["signal_name"] == "One pixel"

    def test_without_the_shutdown_control(self) -> None:
        rows = [_row("m", "clean", 0, 0.9, None), _row("m", "one_pixel", 0, 0.9, 0.0)]
        (out,) = summarize_scan(rows)
        assert out["blank_accuracy"] is None
        assert out["blank_verdict"] is None
        table = scan_table([out])
        assert "Shut-down" not in table
        assert "| m | Clean | – | 90.0 [78.6, 95.7] |" in table

    def test_display_names(self) -> None:
        rows = [
            _row("convnet", "clean", 0, 0.9, None),
            _row("a/x.py:net", "clean", 0, 0.9, None),
            _row("b/y.py:net", "clean", 0, 0.9, None),
            _row("c/z.py:tiny", "clean", 0, 0.9, None),
        ]
        rows += [{**r, "signal": "one_pixel", "reliance": 0.0} for r in rows]
        names = [r["model_name"] for r in summarize_scan(rows)]
        assert names == ["ConvNet", "a/x.py:net", "b/y.py:net", "tiny"]

    def test_each_panel_names_its_own_clean_accuracy(self) -> None:
        # the scan.png: the blank panel repeated the data's "clean 97.3%" (10.1% there)
        rows = [_row("m", "clean", 0, 0.973, None), _row("m", "one_pixel", 0, 0.97, 0.0)]
        blank = [_row("m", "clean", 0, 0.101, None), _row("m", "one_pixel", 0, 0.8, 0.8)]
        fig = scan_figure(summarize_scan(rows, blank))
        data, shut = fig.axes[0], fig.axes[1]
        assert [t.get_text() for t in data.get_yticklabels()] == ["m\nclean 97.3%"]
        assert [t.get_text() for t in shut.get_yticklabels()] == ["m\nclean 10.1%"]
        assert shut.get_title() == "shut-down control: blank data"

    def test_scan_defaults_to_the_benchmarks_image_data(self) -> None:
        from signalinject.benchmarks.runner import BenchConfig

        assert ScanConfig(models=("lda",)).dataset == BenchConfig.for_suite("images").dataset
        parser = cli.build_parser()
        assert parser.parse_args(["scan", "lda"]).dataset == BenchConfig.for_suite("images").dataset

    def test_refuses_mixed_datasets_and_nothing(self) -> None:
        with pytest.raises(ValueError, match="rows must come from one dataset"):
            summarize_scan([_row("m", "clean", 0, 0.9, None)], [{"dataset": "cifar10"}])
        with pytest.raises(ValueError, match="rows is empty"):
            summarize_scan([])
        with pytest.raises(ValueError, match="rows is empty"):
            scan_table([])


class NaNNet(nn.Module):
    """A net whose logits are NaN: a broken model, whatever it learns."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(1, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)[:, :1]) * float("nan")


def test_every_column_is_a_record_field_or_the_scans_own() -> None:
    # a scan row summarises result lines: a field of RECORD_FIELDS keeps its name (with
    # blank_ on blank data, _std / _low / _high for its spread); the rest is the scan's own
    own = {"model_name", "signal_name", "seeds", "verdict", "learned", "finite"}
    for name in SCAN_FIELDS:
        base = name.removeprefix("blank_")
        for suffix in ("_std", "_low", "_high"):
            if base.endswith(suffix) and base.removesuffix(suffix) in RECORD_FIELDS:
                base = base.removesuffix(suffix)
        assert base in RECORD_FIELDS or base in own, name


class TestNonFinite:
    def test_nan_logits_are_reported_as_such(self, tmp_path: Path) -> None:
        cm = CustomModel("nan_net", lambda shape, k: NaNNet(k))
        cfg = BenchConfig.for_suite(
            "images", dataset="digits", signals=("one_pixel",), models=("nan_net", "lda"),
            custom_models=(cm,), limit=40, epochs=1, progress=False, out=str(tmp_path),
        )  # fmt: skip
        rows = run(cfg)
        nan_rows = [r for r in rows if r["model"] == "nan_net"]
        # the test set; + the wrong copy and the clean test images (the shortcut drop)
        assert [r["nonfinite_outputs"] for r in nan_rows] == [40, 120]
        assert nan_rows[1]["clean_nonfinite_outputs"] == 40
        assert all(r["nonfinite_outputs"] == 0 for r in rows if r["model"] == "lda")
        out = {r["model"]: r for r in summarize_scan(rows)}
        assert out["nan_net"]["verdict"] == "non-finite"
        assert out["nan_net"]["finite"] is False
        assert out["lda"]["verdict"] != "non-finite"
        assert "**nan_net: non-finite outputs**" in scan_table(list(out.values())) + "".join(
            write_scan_report(list(out.values()), tmp_path / "r")["table"].read_text("utf-8")
        )


# -- end to end ------------------------------------------------------------------------------------
def _scan_cli(out: Path, *models: str, extra: tuple[str, ...] = (), limit: int = 80) -> int:
    args = ["scan", *models, "--limit", str(limit), "--epochs", "1", "--no-progress"]
    args += ["--out", str(out)]
    return cli.main([*args, *extra])


@pytest.fixture(scope="module")
def scanned(models_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scan of three user models on one_pixel (200 samples: enough for a reliance at
    chance to lie wholly below the ignores line; 1 epoch), via the CLI."""
    out = tmp_path_factory.mktemp("scan") / "out"
    models = [f"{models_file}:{f}" for f in ("code_reader", "constant", "tree")]
    assert _scan_cli(out, *models, extra=("--signals", "one_pixel"), limit=200) == 0
    return out


class TestEndToEnd:
    def test_table_columns_and_verdicts(self, scanned: Path) -> None:
        out = scanned
        data = json.loads((out / "scan.json").read_text(encoding="utf-8"))
        assert data["config"]["limit"] == 200
        rows = {r["model_name"]: r for r in data["rows"]}
        assert set(rows) == {"code_reader", "constant", "tree"}
        for r in rows.values():
            assert r["signal"] == "one_pixel"
            assert r["decode_accuracy"] == 1.0
            assert r["blank_decode_accuracy"] == 1.0
            assert (r["n_train"], r["n_test"], r["num_classes"]) == (200, 200, 10)
        # built to read the code: it follows a wrong code everywhere, on data and on blank data
        assert rows["code_reader"]["reliance"] == 1.0
        assert rows["code_reader"]["verdict"] == "reads"
        assert rows["code_reader"]["blank_verdict"] == "reads"
        # a constant predictor cannot follow anything, nor learn the digits: its "ignores" says
        # nothing and reads "did not learn" (on blank data, chance by construction, it does not)
        assert rows["constant"]["learned"] is False
        assert rows["constant"]["verdict"] == "did not learn"
        assert rows["constant"]["blank_verdict"] == "ignores"
        # a model that fails the clean task (one pixel tells nothing of a digit) but follows
        # the signal still reads it
        assert rows["code_reader"]["learned"] is False
        assert rows["constant"]["blank_accuracy"] == rows["constant"]["blank_clean_accuracy"]
        # the shut-down control: with only the signal left, a decision tree reads it
        assert rows["tree"]["blank_verdict"] == "reads"
        assert rows["tree"]["blank_accuracy"] == 1.0
        # on blank data without a signal every model is at most at the majority class's rate
        assert rows["tree"]["blank_clean_accuracy"] <= 0.2
        md = (out / "scan.md").read_text(encoding="utf-8")
        header = (
            "| Model | Signal | Decode | Accuracy | Gain | Reliance | Drop | Verdict "
            "| Shut-down decode | Shut-down acc. | Shut-down reliance | Shut-down verdict |"
        )
        assert header in md
        assert "| code_reader | Clean |" in md
        assert "**reads** when the reliance's 95% interval lies at or above 55%" in md
        assert "**ignores** when it lies below 19%" in md
        assert "**constant did not learn the clean task**" in md

    def test_csv_and_figure(self, scanned: Path) -> None:
        out = scanned
        with open(out / "scan.csv", newline="", encoding="utf-8") as f:
            lines = list(csv.DictReader(f))
        assert list(lines[0]) == list(SCAN_FIELDS)
        assert [r["verdict"] for r in lines] == ["reads", "did not learn", _tree_verdict(out)]
        png = (out / "scan.png").read_bytes()
        assert png.startswith(b"\x89PNG")

    def test_rerun_reuses_every_cell(
        self, scanned: Path, models_file: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = scanned
        before = (out / RESULTS_FILE).read_bytes()
        models = [f"{models_file}:{f}" for f in ("code_reader", "constant", "tree")]
        assert _scan_cli(out, *models, extra=("--signals", "one_pixel"), limit=200) == 0
        assert (out / RESULTS_FILE).read_bytes() == before
        printed = capsys.readouterr().out
        for name in ("scan.md", "scan.json", "scan.csv", "scan.png"):
            assert f"{out / name}" in printed  # where the files went
        assert "| Model | Signal |" in printed

    def test_the_preprocessing_is_part_of_the_identity(
        self, models_file: Path, tmp_path: Path
    ) -> None:
        out = tmp_path / "scales"
        model = f"{models_file}:constant"
        assert _scan_cli(out, model, extra=("--signals", "one_pixel", "--no-shutdown")) == 0
        n = len((out / RESULTS_FILE).read_text().splitlines())
        extra = ("--signals", "one_pixel", "--no-shutdown", "--preprocess", "raw")
        assert _scan_cli(out, model, extra=extra) == 0
        lines = [json.loads(x) for x in (out / RESULTS_FILE).read_text().splitlines()]
        assert len(lines) == 2 * n
        assert [r["preprocess"] for r in lines] == ["standardize"] * n + ["raw"] * n

    def test_text_data_gets_the_text_signals(self, models_file: Path, tmp_path: Path) -> None:
        rows = scan(
            ScanConfig(
                models=(load_factory(f"{models_file}:tree"),),
                settings=RunSettings(
                    # all 180 test texts: a reliance at chance lies wholly below the ignores line
                    dataset="stdlib_docs",
                    limit=180,
                    out=str(tmp_path),
                    progress=False,
                ),
            )
        )
        by = {r["signal"]: r for r in rows}
        assert list(by) == ["mnemonic", "length_encoding", "pattern_char"]
        assert by["mnemonic"]["verdict"] == "reads"  # the first character is the class
        assert by["mnemonic"]["blank_verdict"] == "reads"
        # on empty texts the length code is only spaces, which quantize to padding: no signal
        assert by["length_encoding"]["blank_decode_accuracy"] <= 0.5
        assert by["length_encoding"]["blank_verdict"] == "ignores"


def _tree_verdict(out: Path) -> str:
    data = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    return next(r["verdict"] for r in data["rows"] if r["model_name"] == "tree")


class TestCli:
    def test_bad_spec(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert _scan_cli(tmp_path, "my_models.make_net") == 2
        err = capsys.readouterr().err
        assert "signalinject scan: error: expected MODULE:FACTORY" in err
        assert "got 'my_models.make_net'" in err

    def test_factory_error_is_reported_without_a_traceback(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write(tmp_path, "bad.py", "def net(shape, k):\n    raise ValueError('k too big')\n")
        assert _scan_cli(tmp_path / "out", f"{path}:net") == 2
        err = capsys.readouterr().err
        assert err.startswith(f"signalinject scan: error: the factory {path}:net raised ValueError")
        assert "Traceback" not in err

    def test_help_gives_every_default_and_fits_a_screen(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit):
            cli.main(["scan", "--help"])
        text = capsys.readouterr().out
        assert len(text.splitlines()) <= 48
        assert max(len(line) for line in text.splitlines()) <= 100
        entries: list[str] = []
        for line in text[text.index("options:") :].splitlines()[1:]:
            if line.startswith("  -"):
                entries.append(line)
            elif entries:
                entries[-1] += " " + line.strip()
        for e in entries:
            if not e.split()[0].startswith("-h"):
                assert "(default: " in e, e
        assert "factory(input_shape, num_classes)" in text


# -- the worked example ----------------------------------------------------------------------------
def _example() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "examples" / "scan_your_model.py"
    spec = importlib.util.spec_from_file_location("scan_your_model_example", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class TestWorkedExample:
    def test_factories_as_documented(self) -> None:
        from signalinject.benchmarks.registry import count_parameters

        ex = _example()
        x = torch.zeros(2, 3, 32, 32)
        for name, params in [
            ("paper_convnet", 608_778),
            ("shallow_max", 1_034),
            ("tiny_resnet", 78_042),
        ]:
            net = getattr(ex, name)((3, 32, 32), 10)
            assert count_parameters(net) == params, name
            assert net(x).shape == (2, 10)
        # global average pooling: the ResNet's logits do not depend on the input's size
        assert ex.tiny_resnet((3, 16, 24), 4)(torch.zeros(1, 3, 16, 24)).shape == (1, 4)

    def test_main_prints_the_table_and_the_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "scan"
        argv = ["--limit", "30", "--epochs", "1", "--signals", "one_pixel", "--out", str(out)]
        assert _example().main(argv) == 0
        printed = capsys.readouterr().out
        for name in ("paper_convnet", "shallow_max", "tiny_resnet"):
            assert f"| {name} | Clean |" in printed
        assert "|  | One pixel | 100.0 |" in printed
        for name in ("scan.md", "scan.json", "scan.csv", "scan.png"):
            assert f"{out / name}" in printed


# -- docs/scanning.md says only what works ---------------------------------------------------------
DOCS = Path(__file__).resolve().parent.parent / "docs" / "scanning.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _doc_blocks(lang: str) -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) == lang]


class TestDocs:
    def test_every_command_parses(self) -> None:
        commands = [
            shlex.split(line)
            for block in _doc_blocks("bash")
            for line in block.replace("\\\n", " ").splitlines()
            if line.strip()
        ]
        assert len(commands) >= 4
        parser = cli.build_parser()
        for argv in commands:
            assert argv[0] == "signalinject", argv
            args = parser.parse_args(argv[1:])
            for spec in getattr(args, "models", []):
                if spec.startswith("examples/"):  # the worked example's factories exist
                    path, _, name = spec.partition(":")
                    assert callable(load_factory(f"{DOCS.parent.parent / path}:{name}").factory)

    def test_python_blocks_run(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        blocks = _doc_blocks("python")
        assert len(blocks) == 2, "each Python block of docs/scanning.md needs its check here"
        namespaces: list[dict[str, Any]] = []
        for code in blocks:
            namespace: dict[str, Any] = {}
            exec(compile(code, str(DOCS), "exec"), namespace)  # our own docs' example
            namespaces.append(namespace)
        net_ns, data_ns = namespaces
        net = net_ns["make_net"]((3, 32, 32), 10)
        assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
        # The data example, on files of the shapes and dtypes its comments name.
        rng = np.random.default_rng(0)
        np.save(tmp_path / "x.npy", rng.integers(0, 256, (5100, 32, 32, 3), dtype=np.uint8))
        np.save(tmp_path / "y.npy", rng.integers(0, 10, 5100, dtype=np.int64))
        monkeypatch.chdir(tmp_path)
        bundle = data_ns["load"]()
        assert (len(bundle.x_train), len(bundle.x_test), bundle.kind) == (5000, 100, "image")

    def test_pictures_exist_and_are_small(self) -> None:
        text = DOCS.read_text(encoding="utf-8")
        pictures = re.findall(r"!\[[^\]]*\]\((img/[^)]+\.png)\)", text)
        assert len(pictures) >= 6
        for rel in pictures:
            path = DOCS.parent / rel
            assert path.stat().st_size < 200_000, rel
            assert path.read_bytes().startswith(b"\x89PNG")
