"""torch is imported only when a tensor arrives, and ``torch._dynamo`` only when something compiles.

Each check runs in a fresh interpreter (``sys.modules`` of this one holds torch already): what a
NumPy user's process imports, what ``import signalinject`` costs in CPU time, and the
import-order machinery of ``signalinject._backend`` (`when_imported`, the stand-in types).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import signalinject as si
from signalinject._backend import is_torch, when_imported

SRC = str(Path(si.__file__).parent.parent)


def run_python(code: str, *, cwd: Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter (this checkout's package first); its stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(cwd or SRC)])}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


NUMPY_ONLY = """
    import json, sys
    import numpy as np
    import signalinject as si

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    y = np.arange(6) % 4
    q = si.CharQuantizer(length=256)
    texts = ["signal inject the blind spot of a model"] * 6
    codes = q.encode(texts, dtype=np.uint8)
    done = []
    for name, cls in si.list_signals().items():
        if cls.kind == "image":
            inj = cls(4).fit(img, y)
            for x in (img, img.astype(np.float32) / 255, img[0]):
                yy = y if x.ndim == 4 else 1
                out = inj(x, yy, index=np.arange(len(yy)) if x.ndim == 4 else 3)
                inj.decode(out)
                inj(x.copy(), yy, inplace=True)
        else:
            inj = cls(4, quantizer=q)
            for x in (texts, codes, codes[0]):
                yy = 1 if getattr(x, "ndim", 2) == 1 else y
                inj.decode(inj(x, yy))
        assert si.from_config(inj.get_config()) == inj
        inj.prepare(img if cls.kind == "image" else codes)
        done.append(name)
    c = si.Compose([si.OrthogonalNoise(4), si.OnePixel(4)])
    c.decode(c(img, y))
    assert si.from_config(c.get_config()) == c
    loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
    print(json.dumps({"signals": done, "registered": list(si.list_signals()), "torch": loaded}))
"""


def test_numpy_injection_never_imports_torch() -> None:
    out = json.loads(run_python(NUMPY_ONLY))
    assert out["signals"] == out["registered"]  # every registered signal ran
    builtin = {n for n, c in si.list_signals().items() if c.__module__.startswith("signalinject.")}
    assert builtin <= set(out["signals"])
    assert out["torch"] == []


def test_a_tensor_brings_torch_in_and_is_injected() -> None:
    out = run_python(
        """
        import sys, signalinject as si
        x = si.OnePixel(4)(__import__("numpy").zeros((1, 4, 4, 1), "uint8"), [3])
        before = "torch" in sys.modules
        import torch
        t = si.OnePixel(4)(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), [3])
        print(before, int(t[0, 0, 0, 0]), int(si.OnePixel(4).decode(t)[0]))
        """
    )
    assert out.split() == ["False", "3", "3"]


@pytest.mark.parametrize("first", ["signalinject", "torch"])
def test_the_adapters_import_torch_but_not_dynamo(first: str) -> None:
    out = run_python(
        f"""
        import sys
        import {first}
        import signalinject as si
        print("torch" in sys.modules)
        si.inject_batch, si.InjectedDataset, si.adapters.checkpoint_globals
        import torch
        si.OnePixel(4)(torch.zeros(2, 1, 4, 4), [1, 2])
        print("torch" in sys.modules, "torch._dynamo" in sys.modules)
        """
    )
    assert out.split() == [str(first == "torch"), "True", "False"]


def test_inject_batch_is_disabled_for_dynamo_once_dynamo_is_imported() -> None:
    out = run_python(
        """
        import sys, signalinject as si, torch
        inj = si.RandomPixel(10, seed=1, coverage=0.7)
        x = torch.randint(0, 255, (8, 3, 8, 8), dtype=torch.uint8)
        y, i = torch.arange(8) % 10, torch.arange(8)
        si.inject_batch(inj, x, y, i)
        print("torch._dynamo" in sys.modules)
        step = lambda x, y, i: si.inject_batch(inj, x * 1, y, i) + 0
        f = torch.compile(step, backend="aot_eager")
        explained = torch._dynamo.explain(step)(x, y, i)
        print(torch.equal(f(x, y, i), inj(x, y, index=i)), explained.graph_break_count)
        """
    )
    assert out.split() == ["False", "True", "1"]


def test_is_torch_and_isinstance_do_not_import_torch() -> None:
    out = run_python(
        """
        import sys, numpy as np
        from signalinject._backend import is_torch, torch
        a = np.zeros(2)
        checks = [is_torch(a), isinstance(a, torch.Tensor)]
        checks += [isinstance(a, np.ndarray | torch.Tensor), isinstance(a.dtype, torch.dtype)]
        checks += [issubclass(np.ndarray, torch.Tensor)]
        print(checks, "torch" in sys.modules)
        real = torch.zeros(2)  # the first use of a function imports it
        print("torch" in sys.modules, is_torch(real), isinstance(real, torch.Tensor),
              torch.Tensor is sys.modules["torch"].Tensor)
        """
    ).splitlines()
    assert out == ["[False, False, True, False, False] False", "True True True True"]


def test_is_torch_in_this_process() -> None:
    assert is_torch(torch.zeros(1))
    assert not is_torch(np.zeros(1))
    assert not is_torch([1])


def _median_cpu_seconds(code: str, runs: int = 5) -> float:
    """Median CPU time (user + system) of ``python -c code`` over ``runs`` fresh processes."""
    times = []
    env = {**os.environ, "PYTHONPATH": SRC}
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(
            after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
        )
    return statistics.median(times)


@pytest.mark.slow
def test_import_costs_little_more_than_numpy() -> None:
    """``import signalinject`` costs at most 1.1x ``import numpy`` + 0.25 s of CPU time.

    Measured on the 2-core VM: numpy 0.14 s, signalinject 0.23 s (torch: 2.0 s); before lazy
    torch, 3.6 s. CPU time, not wall time, so that a busy machine changes it less.
    """
    numpy_s = _median_cpu_seconds("import numpy")
    ours_s = _median_cpu_seconds("import signalinject")
    assert ours_s <= 1.1 * numpy_s + 0.25, (ours_s, numpy_s)


# -- when_imported: a callback after someone else's import ----------------------------------------
def test_when_imported_runs_after_the_import_and_never_imports(tmp_path: Path) -> None:
    (tmp_path / "si_probe_pkg").mkdir()
    (tmp_path / "si_probe_pkg" / "__init__.py").write_text("VALUE = 42\n")
    (tmp_path / "si_probe_pkg" / "sub.py").write_text("import si_probe_pkg\nHERE = True\n")
    out = run_python(
        """
        import sys
        from signalinject._backend import _PENDING, when_imported
        seen = []
        when_imported("si_probe_pkg", lambda m: seen.append(("pkg", m.VALUE)))
        when_imported("si_probe_pkg.sub", lambda m: seen.append(("sub", m.HERE)))
        print("si_probe_pkg" in sys.modules, seen)
        import si_probe_pkg.sub
        print(seen)
        when_imported("si_probe_pkg", lambda m: seen.append(("now", m.VALUE)))  # already in
        print(seen[-1], sorted(_PENDING))  # torch's callbacks wait for torch
        """,
        cwd=tmp_path,
    ).splitlines()
    assert out == [
        "False []",
        "[('pkg', 42), ('sub', True)]",
        "('now', 42) ['torch']",
    ]


def test_when_imported_does_not_fire_for_a_failed_import(tmp_path: Path) -> None:
    (tmp_path / "si_probe_bad.py").write_text("raise ImportError('no')\n")
    out = run_python(
        """
        from signalinject._backend import when_imported
        seen = []
        when_imported("si_probe_bad", seen.append)
        try:
            import si_probe_bad
        except ImportError as e:
            print(e, seen)
        """,
        cwd=tmp_path,
    )
    assert out.strip() == "no []"


def test_when_imported_now_in_this_process() -> None:
    seen: list[str] = []
    when_imported("json", lambda m: seen.append(m.__name__))
    assert seen == ["json"]


def test_reading_results_never_imports_torch() -> None:
    # `report` on a results file and the store's row checks work on a machine state without torch
    # loaded: the preprocessing names live in a torch-free module.
    out = run_python(
        """
        import sys
        from signalinject.benchmarks import store
        from signalinject.benchmarks._preprocess import check_preprocess
        check_preprocess("standardize")
        print("torch" in sys.modules)
        """
    )
    assert out.split() == ["False"]
