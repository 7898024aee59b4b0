"""``signalinject bench atlas``: the grid on the data and on blank data through the runner,
resumable, its files, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signalinject.benchmarks import cli
from signalinject.benchmarks.atlas import AtlasConfig, atlas, atlas_table, write_atlas_report
from signalinject.benchmarks.registry import default_models
from signalinject.benchmarks.settings import RunSettings
from signalinject.benchmarks.signals import signal_names
from signalinject.benchmarks.stats import VERDICTS
from signalinject.benchmarks.store import RESULTS_FILE

ARGV = [
    "bench", "atlas", "--dataset", "digits", "--models", "mlp-w8-d1,decision_tree",
    "--signals", "one_pixel",
    "--limit", "80", "--epochs", "1", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("atlas")
    assert cli.main([*ARGV, "--out", str(out)]) == 0
    return out


def test_files_and_cells(ran: Path) -> None:
    assert (ran / "data" / RESULTS_FILE).is_file()
    assert (ran / "blank" / RESULTS_FILE).is_file()
    for name in ("atlas.md", "scan.md", "scan.csv", "scan.json", "scan.png"):
        assert (ran / name).stat().st_size > 0, name
    cells = json.loads((ran / "scan.json").read_text())["rows"]
    assert [(c["model"], c["signal"]) for c in cells] == [
        ("mlp-w8-d1", "one_pixel"), ("decision_tree", "one_pixel")
    ]  # fmt: skip
    tree = cells[1]
    # the shut-down control: on blank images the one pixel is the only information left
    assert tree["blank_reliance"] > 0.55  # fits a quarter of 80 samples: some classes unseen
    assert tree["blank_verdict"] == "reads"
    assert all(c["verdict"] in VERDICTS for c in cells)
    # the MLP at this size may learn nothing from 80 images: then said so (its cells never
    # "ignores", the report warns that the size is too small to answer for it)
    md = (ran / "atlas.md").read_text()
    if not cells[0]["learned"]:
        assert cells[0]["verdict"] != "ignores"
        assert "too small to answer for 1 of 2 models" in md
        assert "MLP (w8-d1) did not learn the clean task" in md
    else:
        assert "too small" not in md
    assert "| Model | Clean | One pixel |" in md
    assert "| Decision tree |" in md
    assert f"{100 * tree['blank_reliance']:.1f} reads" in md


def test_resumes(ran: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: (ran / p / RESULTS_FILE).read_bytes() for p in ("data", "blank")}
    capsys.readouterr()
    assert cli.main([*ARGV, "--out", str(ran)]) == 0
    assert {p: (ran / p / RESULTS_FILE).read_bytes() for p in ("data", "blank")} == before
    out = capsys.readouterr().out
    assert "| MLP (w8-d1) |" in out  # the registry's display name, the size beside it
    assert "mlp-w8-d1" not in out.split("results:")[0]


def test_api_matches_cli(ran: Path) -> None:
    cfg = AtlasConfig(
        models=("mlp-w8-d1", "decision_tree"), signals=("one_pixel",),
        settings=RunSettings(dataset="digits", limit=80, epochs=1, out=str(ran), progress=False),
    )  # fmt: skip
    cells = atlas(cfg)  # every cell is already there: read back, nothing trains
    assert cells == json.loads((ran / "scan.json").read_text())["rows"]
    assert atlas_table(cells) in (ran / "atlas.md").read_text()


def test_defaults() -> None:
    cfg = AtlasConfig()
    assert cfg.bench_config().models == default_models("atlas")
    assert "resnet18-w16" in cfg.bench_config().models  # the CPU variants
    assert cfg.bench_config().signals == signal_names("image")  # clean first
    assert not cfg.bench_config().blank
    blank = cfg.bench_config(blank=True)
    assert blank.blank
    assert Path(blank.out) == Path("signalinject-bench/atlas/blank")
    full = AtlasConfig(full_size=True).bench_config().models
    assert full == default_models("atlas_full")
    assert "resnet18" in full


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet18-q3'"):
        AtlasConfig(models=("resnet18-q3",))
    with pytest.raises(TypeError, match="full_size must be True or False, got 1"):
        AtlasConfig(full_size=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mnemonic"):
        AtlasConfig(signals=("mnemonic",))
    with pytest.raises(ValueError, match="dataset 'stdlib_docs' holds text data"):
        AtlasConfig(settings=RunSettings(dataset="stdlib_docs"))
    with pytest.raises(ValueError, match="cells is empty"):
        atlas_table([])
    with pytest.raises(ValueError, match="cells is empty"):
        write_atlas_report([], tmp_path)
    assert cli.main(["bench", "atlas", "--models", "vit-z3", "--out", str(tmp_path)]) == 2
    assert "unknown model 'vit-z3'" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["bench", "atlas", "--help"])
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) <= 100
    for words in ("resnet18-w16", "vit-w64-d4", "docs/models.md", "--full-size", "(default: 0)"):
        assert words in " ".join(text.split()), words
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    assert "    atlas" in capsys.readouterr().out


def test_docs_commands_parse() -> None:
    """Every ``signalinject bench atlas`` command in docs/atlas.md is one the parser takes."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "atlas.md").read_text()
    commands = [
        line.split("#")[0].replace("\\", "").split()
        for line in doc.replace("\\\n", " ").splitlines()
        if line.split("=1 ")[-1].startswith("signalinject bench atlas")  # command lines only
    ]
    assert len(commands) >= 4
    parser = cli.build_parser()
    for words in commands:
        argv = words[words.index("signalinject") + 1 :]
        args = parser.parse_args(argv)
        assert args.func is cli.run_atlas
    assert "--models resnet18 " in doc
