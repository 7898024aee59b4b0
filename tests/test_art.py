"""The comparison with IBM ART's triggers (signalinject.benchmarks.perf.art): it runs where ART
is installed and says why not where it is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from signalinject.benchmarks.perf import art


def test_missing_art_is_said_and_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("art", "art.attacks.poisoning.perturbations"):  # as if never installed
        monkeypatch.setitem(sys.modules, name, None)
    why = art.art_missing()
    assert why is not None
    assert "pip install 'signalinject[art]'" in why
    assert art.main(["--n", "8"]) == 0
    assert "skipped: IBM ART" in capsys.readouterr().err
    with pytest.raises(ModuleNotFoundError, match="adversarial-robustness-toolbox"):
        art.compare(n=8)


needs_art = pytest.mark.skipif(art.art_missing() is not None, reason="IBM ART not installed")


@needs_art
def test_compare_times_each_trigger_against_the_copy_floor(tmp_path: Path) -> None:
    rows = art.compare(n=40, shape=(16, 16, 3), num_classes=5, repeats=1, warmup=0)
    names = [(r["library"], r["name"], r["dtype"]) for r in rows]
    assert ("art", "add_pattern_bd by class", "uint8") in names
    assert ("signalinject", "Sinusoid", "uint8") in names
    for r in rows:
        assert r["ms"] > 0
        assert r["ratio_to_floor"] == pytest.approx(r["floor_ms"] / r["ms"])
        assert (r["art_over_ours"] is not None) == (r["library"] == "art")
    table = art.to_markdown(rows).splitlines()
    assert all(line.count("|") == 9 for line in table)  # 8 columns
    assert len(table) == len(rows) + 2
    out = tmp_path / "rows.json"
    assert art.main(["--n", "20", "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    assert len(json.loads(out.read_text())) == len(rows)


@needs_art
def test_compare_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n must be"):
        art.compare(n=0)
    with pytest.raises(ValueError, match="repeats must be"):
        art.compare(n=4, repeats=0)
    with pytest.raises(ValueError, match=r"shape must be \(H, W, C\), got \(4, 4\)"):
        art.compare(n=4, shape=(4, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"channels\) must be 1 or 3 .*, got 2"):
        art.compare(n=4, shape=(8, 8, 2))
    with pytest.raises(ValueError, match="num_classes must be"):
        art.compare(n=4, shape=(8, 8, 3), num_classes=5)  # Sinusoid: at most (8 - 1) // 2
