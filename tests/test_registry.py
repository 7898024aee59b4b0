"""The registries of models and data sets: the shared checkers over every entry, the docs' tables
generated from them, the paper's models' pinned cell ids, the registry's own errors, and a
throwaway model and data set, each one module plus one line of ``MODULES``, taken by
``bench images``, ``atlas``, ``scan`` and the checkers with no other file edited."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from registry_checks import check_dataset, check_model
from signalinject.benchmarks import cli, registry, runner
from signalinject.benchmarks.atlas import AtlasConfig
from signalinject.benchmarks.errors import ModelFactoryError
from signalinject.benchmarks.registry import (
    DATASETS,
    MODELS,
    DatasetEntry,
    ModelEntry,
    build_model,
    count_parameters,
    default_models,
    structure_hash,
)
from signalinject.benchmarks.runner import BenchConfig
from signalinject.benchmarks.signals import make_injector
from signalinject.benchmarks.store import cell_id

pytestmark = pytest.mark.usefixtures("one_thread")

DOCS = Path(__file__).resolve().parent.parent / "docs"


# -- the shared checkers over every entry ---------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_every_model(name: str) -> None:
    check_model(name)


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_data_set(name: str, tmp_path: Path) -> None:
    check_dataset(name, tmp_path)


# -- the docs' numbers ----------------------------------------------------------------------------
def test_the_docs_tables_are_the_registrys() -> None:
    page = (DOCS / "models.md").read_text()
    assert page == registry.docs_block(page), (
        "docs/models.md is stale: python -m signalinject.benchmarks.registry docs/models.md"
    )


def test_every_registered_name_is_in_the_docs() -> None:
    page = (DOCS / "models.md").read_text()
    for name in (*MODELS, *DATASETS):
        assert f"| `{name}` |" in page, name


def test_the_atlas_pages_parameter_counts() -> None:
    """docs/atlas.md's measured tables give each model's parameters at 32x32x3."""
    rows = re.findall(r"^\| `([a-z0-9_-]+)` \| ([\d,]+) \|", (DOCS / "atlas.md").read_text(), re.M)
    assert len(rows) >= 6
    for name, count in rows:
        assert count_parameters(build_model(name, (3, 32, 32), 10)) == int(count.replace(",", ""))


# -- the paper's models keep their stored identities ----------------------------------------------
#: Cell ids at b0e1472 (before the registry): digits and stdlib_docs, limit 20, seed 0, cpu.
PINNED = {
    ("images", "one_pixel", "convnet"): "35bc7270fb43d3c45c91",
    ("images", "one_pixel", "perceptron"): "54e578d154ac8754dc39",
    ("images", "one_pixel", "decision_tree"): "da71f85287b2522a2bff",
    ("images", "one_pixel", "qda"): "b79c04cbbcd7cf8eb2c9",
    ("images", "one_pixel", "mlp"): "6853035a3f05ecfbc35d",
    ("images", "one_pixel", "resnet18-w16"): "bc66daff519d3398dcd2",
    ("images", "one_pixel", "vit-w64-d4"): "e09fa4b1155a2b231eb0",
    ("text", "mnemonic", "charcnn"): "ea003159f9509adb5414",
    ("text", "mnemonic", "charcnn_narrow"): "3d9a1a4171ca5664a891",
    ("text", "mnemonic", "perceptron"): "0c1ab75b02ad561d8ce7",
}


@pytest.mark.parametrize("suite", ["images", "text"])
def test_cell_ids_are_those_before_the_registry(suite: str) -> None:
    pinned = {m: cid for (s, _, m), cid in PINNED.items() if s == suite}
    dataset, signal = ("digits", "one_pixel") if suite == "images" else ("stdlib_docs", "mnemonic")
    cfg = BenchConfig.for_suite(
        suite, dataset=dataset, models=tuple(pinned), limit=20, progress=False, device="cpu",
        preprocess="unit",
    )  # fmt: skip
    data = runner.load(cfg)
    inj = make_injector(signal, data.num_classes, 0, quantizer=data.inj_quantizer)
    got = {}
    for m in pinned:
        key = runner.cell_key(data, runner.Cell(0, signal, m), inj)
        # a torch model's image cell names its preprocessing since 0.2.0 (issue 26: no cell of
        # 0.1.x's /255 is reused); the rest of its key is what it was, as "input_scale" shows
        if "preprocess" in key:
            assert data.models[m].torch
            assert key["preprocess"] == "unit"
            key["input_scale"] = key.pop("preprocess")
        got[m] = cell_id(key)
    assert got == pinned


def test_the_shallow_max_cells_of_0_1_0_are_not_reused() -> None:
    """0.2.0 changed the Shallow MaxNN (batch normalisation, lr 3e-2): its cell id at b0e1472's
    settings is no longer 0.1.0's, so no stored result of the old model resumes."""
    cfg = BenchConfig.for_suite(
        "images", dataset="digits", models=("shallow_max",), limit=20, progress=False, device="cpu"
    )
    data = runner.load(cfg)
    inj = make_injector("one_pixel", data.num_classes, 0, quantizer=data.inj_quantizer)
    key = runner.cell_key(data, runner.Cell(0, "one_pixel", "shallow_max"), inj)
    assert cell_id(key) != "ec2811151b7a9d872c72"
    assert key["train"]["lr"] == 3e-2
    assert "BatchNorm1d" in repr(build_model("shallow_max", (3, 32, 32), 10))
    assert key["model_identity"] == {
        "structure": structure_hash(build_model("shallow_max", (3, 32, 32), 10))
    }


# -- the registry's own errors --------------------------------------------------------------------
def _build(input_shape: tuple[int, ...], num_classes: int, *, seed: int) -> Any:
    return torch.nn.Linear(1, num_classes)


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"build": 3}, TypeError, "ModelEntry.build must be callable, got 3"),
        ({"display_name": ""}, TypeError, "display_name must be a non-empty string"),
        ({"inputs": ("pixels",)}, ValueError, r"inputs must be among .*, got \('pixels',\)"),
        ({"inputs": ()}, ValueError, "inputs must be among"),
        ({"identity": "name"}, ValueError, "identity must be one of .*, got 'name'"),
        ({"sizes": {"width": "w"}}, ValueError, "sizes must map one letter to an option"),
        ({"defaults": ["atlas"]}, TypeError, r"defaults must be a mapping, got \['atlas'\]"),
        ({"lr": "0.1"}, TypeError, r"ModelEntry.lr must be None or a number, got '0.1'"),
        ({"lr": True}, TypeError, r"ModelEntry.lr must be None or a number, got True"),
        ({"lr": 0.0}, ValueError, r"ModelEntry.lr must be a finite number > 0, got 0.0"),
        ({"lr": float("inf")}, ValueError, r"ModelEntry.lr must be a finite number > 0, got inf"),
    ],
)
def test_bad_model_entry(kw: dict[str, Any], error: type[Exception], match: str) -> None:
    args: dict[str, Any] = {
        "name": "m", "build": _build, "display_name": "M", "inputs": ("images",), **kw
    }  # fmt: skip
    with pytest.raises(error, match=match):
        ModelEntry(**args)


def test_registering_twice_or_a_bad_name_is_refused() -> None:
    with pytest.raises(ValueError, match="model 'convnet' is registered already"):
        registry.register_model(ModelEntry("convnet", _build, "C", ("images",)))
    with pytest.raises(ValueError, match="lowercase letters, digits and underscores, got 'My-Net'"):
        registry.register_model(ModelEntry("My-Net", _build, "C", ("images",)))
    with pytest.raises(TypeError, match="register_model takes a ModelEntry, got 'convnet'"):
        registry.register_model("convnet")  # type: ignore[arg-type]
    loader = DATASETS["digits"].load
    with pytest.raises(ValueError, match="data set 'digits' is registered already"):
        registry.register_dataset(DatasetEntry("digits", loader, "image", 10, "b", "c", "1 / 1"))
    with pytest.raises(ValueError, match="kind must be 'image' or 'text', got 'audio'"):
        DatasetEntry("sound", loader, "audio", 10, "b", "c", "1 / 1")  # type: ignore[arg-type]


def test_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; known: convnet, .*resnet18-w16"):
        registry.model("resnet")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; known: photo_digits, noisy_"):
        registry.dataset("mnist")
    with pytest.raises(ValueError, match="no model belongs to the default run 'nightly'"):
        default_models("nightly")


def test_a_users_factory_is_a_model_of_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text("import torch\n\ndef net(shape, k):\n    return torch.nn.Linear(3, k)\n")
    m = registry.model(f"{path}:net")
    assert (m.name, m.entry.identity, m.display_name) == (f"{path}:net", "code", "net")
    ident = m.identity(m.build((3, 8, 8), 4))
    assert ident is not None
    assert (ident["code"], ident["kind"], len(ident["architecture"])) == (
        m.entry.fingerprint, "torch", 16
    )  # fmt: skip
    assert registry.find_model(f"{path}:net") is None  # never registered, never imported there


# -- a throwaway model and data set ---------------------------------------------------------------
THROWAWAY_MODEL = '''
"""A throwaway model: this module alone declares it."""
import math

from torch import nn

from signalinject.benchmarks.registry import ModelEntry, register_model


def build(input_shape, num_classes, *, seed, width=8):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(),
        nn.Linear(width, num_classes),
    )


register_model(ModelEntry(
    "throwaway_net", build, "Throwaway net", ("images",), sizes={"w": "width"},
    defaults={"atlas": "throwaway_net-w4"}, description="one hidden layer",
))
'''

THROWAWAY_DATA = '''
"""A throwaway image data set: this module alone declares it."""
import numpy as np

from signalinject.benchmarks.registry import DataBundle, DatasetEntry, register_dataset


def load(root, *, download, limit):
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    x = rng.integers(0, 100, size=(60, 8, 8, 3)).astype(np.uint8)
    x[:, 2:6, 2:6] += (50 * y).astype(np.uint8)[:, None, None, None]  # the content: brightness
    return DataBundle(
        "throwaway_data", "image", 3, x[:40], y[:40], x[40:], y[40:], "a made-up image set"
    )


register_dataset(DatasetEntry(
    "throwaway_data", load, "image", 3, "random 8x8x3 images, a brighter centre per class",
    "made up for a test", "40 / 20", embedded=True,
))
'''


@pytest.fixture
def throwaway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The two modules, written as files and named in ``MODULES`` (their one line each); the
    registries as they were afterwards."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "si_throwaway_model.py").write_text(textwrap.dedent(THROWAWAY_MODEL))
    (src / "si_throwaway_data.py").write_text(textwrap.dedent(THROWAWAY_DATA))
    monkeypatch.syspath_prepend(str(src))
    for reg in (MODELS, DATASETS):
        monkeypatch.setattr(reg, "_entries", dict(reg._entries))  # type: ignore[attr-defined]
    mine = ["si_throwaway_model", "si_throwaway_data"]
    monkeypatch.setattr(registry, "MODULES", [*registry.MODULES, *mine])
    yield tmp_path
    for name in mine:
        registry._loaded.discard(name)
        sys.modules.pop(name, None)


QUICK = ["--limit", "40", "--epochs", "1", "--no-progress", "--signals", "one_pixel"]


def test_throwaway_in_bench_images(throwaway: Path) -> None:
    out = throwaway / "bench"
    argv = ["bench", "images", "--dataset", "throwaway_data", "--models", "throwaway_net,lda"]
    assert cli.main([*argv, *QUICK, "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["signal"], r["model"]) for r in rows] == [
        ("clean", "throwaway_net"), ("clean", "lda"), ("one_pixel", "throwaway_net"),
        ("one_pixel", "lda"),
    ]  # fmt: skip
    assert rows[0]["dataset"] == "throwaway_data"
    assert rows[0]["num_classes"] == 3
    assert rows[0]["model_identity"] == {"structure": rows[2]["model_identity"]["structure"]}
    assert "Throwaway net" in (out / "results.md").read_text()


def test_throwaway_in_the_atlas(throwaway: Path) -> None:
    assert "throwaway_net-w4" in default_models("atlas")
    assert "throwaway_net-w4" in AtlasConfig().bench_config().models
    out = throwaway / "atlas"
    argv = ["bench", "atlas", "--dataset", "throwaway_data", "--models", "throwaway_net-w4"]
    assert cli.main([*argv, *QUICK, "--out", str(out)]) == 0
    assert "| Throwaway net (w4) |" in (out / "atlas.md").read_text()  # its display name


def test_throwaway_in_scan(throwaway: Path) -> None:
    out = throwaway / "scan"
    argv = ["scan", "throwaway_net", "--dataset", "throwaway_data", "--no-shutdown"]
    assert cli.main([*argv, *QUICK, "--out", str(out)]) == 0
    rows = json.loads((out / "scan.json").read_text())["rows"]
    assert [(r["model"], r["model_name"], r["signal"]) for r in rows] == [
        ("throwaway_net", "Throwaway net", "one_pixel")
    ]


def test_throwaway_in_the_checkers_help_and_docs(
    throwaway: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_model("throwaway_net")
    check_dataset("throwaway_data", throwaway)
    tables = registry.docs_tables()
    assert "| `throwaway_net-w4` | `throwaway_net` with width 4 | structure | atlas |" in tables
    assert "| `throwaway_data` | image, 3 classes | 40 / 20 |" in tables
    with pytest.raises(SystemExit):
        cli.main(["bench", "images", "--help"])
    assert "throwaway_data" in " ".join(capsys.readouterr().out.split())


def test_a_module_that_fails_to_import_fails_every_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "MODULES", [*registry.MODULES, "si_no_such_module_xyz"])
    for _ in range(2):  # not once and then a registry without its entries
        with pytest.raises(ModuleNotFoundError, match="si_no_such_module_xyz"):
            list(MODELS)


USER_DATA = """
import numpy as np
from signalinject.benchmarks.registry import DataBundle

def load():
    rng = np.random.default_rng(0)
    x = rng.integers(16, 240, (120, 8, 8, 3), dtype=np.uint8)
    y = np.arange(120) % 3
    return DataBundle("mine", "image", 3, x[:80], y[:80], x[80:], y[80:], "random, 3 classes")

def not_data():
    return [1, 2, 3]
"""


def test_a_users_data_set_goes_through_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "mydata.py"
    path.write_text(USER_DATA)
    spec = f"{path}:load"
    entry = registry.dataset(spec)
    assert (entry.name, entry.kind, entry.num_classes, entry.size) == (spec, "image", 3, "80 / 40")
    assert registry.dataset(spec) is entry  # loaded once per module source
    assert spec not in DATASETS  # never registered
    out = tmp_path / "bench"
    argv = ["bench", "images", "--dataset", spec, "--models", "decision_tree"]
    assert cli.main([*argv, "--signals", "one_pixel", "--no-progress", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["signal"], r["dataset"], r["n_test"]) for r in rows] == [
        ("clean", spec, 40), ("one_pixel", spec, 40)
    ]  # fmt: skip
    assert rows[1]["reliance"] == 1.0  # the tree reads the one pixel of these random images


def test_a_users_data_set_that_is_not_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "baddata.py"
    path.write_text(USER_DATA)
    with pytest.raises(TypeError, match=r"must return a .*DataBundle, got list"):
        registry.dataset(f"{path}:not_data")
    with pytest.raises(ModelFactoryError, match="has no attribute 'nothing'"):
        registry.dataset(f"{path}:nothing")
    loader = DATASETS["digits"].load
    with pytest.raises(ValueError, match="must be lowercase, got 'a:b'"):
        registry.register_dataset(DatasetEntry("a:b", loader, "image", 10, "b", "c", "1 / 1"))
