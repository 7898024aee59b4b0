"""Lightning (optional: ``nox -s lightning``): the docs' example runs as a script with two
``ddp_spawn`` processes and DataLoader workers on the fast path, and the injector stored by
``save_hyperparameters`` comes back from ``load_from_checkpoint(weights_only=True)``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from test_adapters import doc_examples

pytest.importorskip("lightning")


@pytest.mark.slow
def test_docs_lightning_example_runs_with_ddp_spawn(tmp_path: Path) -> None:
    (code,) = doc_examples("Lightning")
    script = tmp_path / "lightning_example.py"
    script.write_text(code)
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "checkpoint loaded with Compose(injectors=(OrthogonalNoise" in run.stdout
    assert (
        "All distributed processes registered. Starting with 2 processes" in run.stderr + run.stdout
    )
