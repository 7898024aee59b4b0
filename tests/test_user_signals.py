"""The user's own signals by ``MODULE:FACTORY`` (issue 16): ``bench images``, ``bench text``,
``scan``, ``sweep`` and ``show`` take a factory in a user's module beside the built-in names, and
report errors in it as ``scan`` reports a bad model factory."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from signalinject.benchmarks import cli
from signalinject.benchmarks.errors import ModelFactoryError
from signalinject.benchmarks.signals import SIGNALS, make_injector, sweepable, user_signal

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "my_signals" / "stripe.py"
SPEC = f"{EXAMPLE}:make_signal"

TEXT_SIGNAL = """
import signalinject as si

def make_words(num_classes, seed, quantizer=None):
    return si.TriggerWord(num_classes, seed=seed, quantizer=quantizer, words=WORDS[:num_classes])

WORDS = ("zzq", "qqz", "jjx", "xxj", "zqj", "qzx")
"""


def _module(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_a_spec_is_a_benchmark_signal() -> None:
    sig = SIGNALS[SPEC]
    assert sig is user_signal(SPEC)  # loaded once
    assert sig.name == SPEC
    assert sig.kinds == ("image",)
    assert sig.cls is not None
    assert sig.cls.name == "example_stripe"
    assert sig.strength == "value of a lit pixel"
    assert sweepable(SPEC)
    inj = make_injector(SPEC, 10, 3, kind="image", strength=60)
    assert inj is not None
    assert inj.get_config()["value"] == 60.0
    with pytest.raises(ValueError, match="applies to image data, not text"):
        make_injector(SPEC, 10, 3, kind="text")


def test_bench_images_takes_a_spec(tmp_path: Path) -> None:
    args = ["bench", "images", "--signals", f"{SPEC},class_patch", "--limit", "60"]
    args += ["--models", "gaussian_nb", "--no-progress", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    rows = {r["signal"]: r for r in _rows(tmp_path)}
    assert set(rows) == {"clean", SPEC, "class_patch"}
    ident = rows[SPEC]["injector"]
    assert isinstance(ident, dict)
    assert ident["name"] == "example_stripe"  # the cell's identity holds the config
    assert ident["value"] == 255
    assert rows["class_patch"]["decode_accuracy"] == 1.0


def test_bench_text_passes_the_quantizer(tmp_path: Path) -> None:
    spec = f"{_module(tmp_path, 'words.py', TEXT_SIGNAL)}:make_words"
    out = tmp_path / "out"
    args = ["bench", "text", "--signals", f"{spec},trigger_word", "--limit", "60"]
    args += ["--models", "gaussian_nb", "--no-progress", "--out", str(out)]
    assert cli.main(args) == 0
    rows = {r["signal"]: r for r in _rows(out)}
    assert rows[spec]["decode_accuracy"] == 1.0
    assert rows["trigger_word"]["decode_accuracy"] == 1.0
    ident = rows[spec]["injector"]
    assert isinstance(ident, dict)
    assert ident["words"][0] == "zzq"
    assert ident["quantizer"] is not None  # the benchmark's quantizer reached the factory


def test_show_takes_a_spec(tmp_path: Path) -> None:
    out = tmp_path / "mine.png"
    assert cli.main(["show", SPEC, "--out", str(out), "-n", "3"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_takes_a_spec(tmp_path: Path) -> None:
    args = ["bench", "sweep", "--signals", SPEC, "--strengths", "128", "--models", "gaussian_nb"]
    args += ["--limit", "60", "--no-progress", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    got = {(r["signal"], r["strength"]) for r in _rows(tmp_path) if r["signal"] != "clean"}
    assert got == {(SPEC, 128.0), (SPEC, 255.0)}  # and the signal's default


BAD = [
    ("nope.py:make", None, r"module file '.*nope\.py' not found"),
    ("boom.py:make", "raise RuntimeError('kaput')\n", "raised RuntimeError: kaput"),
    ("empty.py:make", "x = 1\n", "has no attribute 'make'"),
    (
        "fails.py:make",
        "def make(num_classes, seed):\n    raise KeyError('oops')\n",
        r"make\(2, 0\) raised KeyError",
    ),
    (
        "wrong.py:make",
        "def make(num_classes, seed):\n    return 42\n",
        "must return an Injector of a registered signal class",
    ),
]


@pytest.mark.parametrize(("spec", "source", "match"), BAD)
def test_errors_in_the_users_module(
    tmp_path: Path, spec: str, source: str | None, match: str
) -> None:
    file, attr = spec.split(":")
    if source is not None:
        _module(tmp_path, file, source)
    full = f"{tmp_path / file}:{attr}"
    with pytest.raises(ModelFactoryError, match=match):
        user_signal(full)
    with pytest.raises(ModelFactoryError, match=match):  # not cached: asked again, refused again
        _ = SIGNALS[full]


def test_cli_reports_a_bad_signal_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _module(tmp_path, "broken.py", "import no_such_module_xyz\n")
    args = ["bench", "images", "--signals", f"{path}:make", "--limit", "60"]
    args += ["--models", "gaussian_nb", "--no-progress", "--out", str(tmp_path / "out")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "raised ModuleNotFoundError" in err
    assert "broken.py" in err


MODEL = """
import torch

def make_net(input_shape, num_classes):
    size = 1
    for d in input_shape:
        size *= d
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(size, num_classes))
"""


def test_scan_takes_a_spec(tmp_path: Path) -> None:
    model = f"{_module(tmp_path, 'net.py', MODEL)}:make_net"
    out = tmp_path / "scan"
    args = ["scan", model, "--signals", SPEC, "--limit", "60", "--epochs", "1"]
    args += ["--no-progress", "--out", str(out)]
    assert cli.main(args) == 0
    assert {r["signal"] for r in _rows(out)} == {"clean", SPEC}
