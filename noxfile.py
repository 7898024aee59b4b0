"""Developer sessions. Every session installs the CPU wheel ``torch==2.13.0`` before the package,
so that pip never resolves a bare ``torch`` (which would pull a multi-GB CUDA build)."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "docs", "tests", "package"]
nox.options.default_venv_backend = "venv"

TORCH = "torch==2.13.0"
# Real torchvision only imports beside its matching torch; this pair is ~5.5 GB installed, so it
# lives in its own session, outside the default CI path.
TORCHVISION = ("torch==2.14.1", "torchvision==0.29.1")


def _install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    _install(session, "test")
    session.install("mypy>=1.10")
    session.run("mypy", "--strict", "src/signalinject")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (the README's test command)."""
    _install(session, "test")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def torchvision(session: nox.Session) -> None:
    """The adapters against real torchvision (not a default session: ~5.5 GB to install)."""
    session.install(*TORCHVISION)
    session.install("-e", ".[test]")
    args = session.posargs or ["tests/test_adapters_torchvision.py", "tests/test_adapters.py"]
    session.run("python", "-m", "pytest", *args)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site in strict mode."""
    _install(session, "docs,bench")
    session.run("mkdocs", "build", "--strict", "--site-dir", "build/site")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job, offline on the embedded stand-ins: the paper's tables and figures.

    ``signalinject bench images`` (Table 1 on ``noisy_digits``, the digits made hard: the
    paper's ConvNet at 70-90% clean, as on CIFAR-10) and ``bench text`` (Table 3 on
    ``stdlib_code``, function sources of five standard-library packages, with a narrow
    char-CNN), each with the paper's numbers beside ours, then the pictures of the signals, all
    under ``signalinject-bench/``. Arguments after ``--`` go to both benchmarks
    (``-- --seeds 0,1,2``, ``-- --limit 300``).

    Torch and the BLAS run on one thread (``OMP_NUM_THREADS=1`` unless set): on a shared
    machine idle threads spin and double the CPU time for nothing; the measured cost is in
    docs/reproducing.md. ``OMP_NUM_THREADS=2 nox -s demo`` trades CPU time for wall time.
    """
    _install(session, "bench")
    session.env["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "1")
    out = "signalinject-bench"
    session.run("signalinject", "bench", "images", "--out", f"{out}/images", *session.posargs)
    session.run("signalinject", "bench", "text", "--out", f"{out}/text", *session.posargs)
    session.run("signalinject", "show", "all", "--contrast", "--out", f"{out}/signals.png")
    for signal in ("mnemonic", "length_encoding", "pattern_char"):
        session.run("signalinject", "show", signal, "--out", f"{out}/{signal}.png")
    session.log(
        f"tables: {out}/images/results.md, {out}/text/results.md (and table.csv); "
        f"figures: {out}/images/results.png, {out}/text/results.png, {out}/*.png"
    )


@nox.session
def package(session: nox.Session) -> None:
    """Build the wheel, check what it holds, install it alone and run the CLI from it."""
    import glob
    import zipfile

    session.install("build>=1.0")
    session.run("python", "-m", "build", "--wheel", "--outdir", "build/dist", silent=True)
    wheels = sorted(glob.glob("build/dist/signalinject-*.whl"))
    if not wheels:
        session.error("no wheel was built")
    names = set(zipfile.ZipFile(wheels[-1]).namelist())
    needed = [
        "signalinject/py.typed",
        "signalinject/__init__.py",
        "signalinject/benchmarks/cli.py",
    ]
    missing = [n for n in needed if n not in names]
    if missing or not any(n.endswith("/licenses/LICENSE") for n in names):
        session.error(f"the wheel lacks {missing or 'LICENSE'}: {sorted(names)}")
    session.install(TORCH)
    session.install(wheels[-1])
    session.run("python", "-c", "import signalinject, sys; print(signalinject.__version__)")
    session.run("signalinject", "--help", silent=True)
