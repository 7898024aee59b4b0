"""Developer sessions. Every session that needs torch installs it through :func:`install_torch`
before the package, so that pip never resolves a bare ``torch`` (on Linux the default build pulls
several GB of CUDA libraries): on a machine without a GPU it is PyTorch's CPU-only build from
PyTorch's CPU wheel index when that index answers within a few seconds, else the pinned version
from the default index (with a notice); where a GPU is present, or ``SIGNALINJECT_TORCH=cuda``
asks for it, the default (CUDA) build. ``SIGNALINJECT_TORCH=cpu`` forces the CPU choice."""

from __future__ import annotations

import glob
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

import nox

#: Set by CI: the optional C extension must be built (the tests and the wheel check fail
#: without it); a user's machine without a C compiler runs NumPy's kernels instead.
REQUIRE_NATIVE = os.environ.get("SIGNALINJECT_REQUIRE_NATIVE") == "1"

nox.options.sessions = ["lint", "typecheck", "docs", "tests", "package"]
nox.options.default_venv_backend = "venv"

TORCH = "torch==2.13.0"
# Real torchvision only imports beside its matching torch; this pair is ~5.5 GB installed, so it
# lives in its own session, outside the default CI path.
TORCHVISION = ("torch==2.14.1", "torchvision==0.29.1")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_TIMEOUT_S = 3.0


def has_gpu() -> bool:
    """An NVIDIA GPU on this machine: ``nvidia-smi`` on the PATH or a ``/dev/nvidia<N>``."""
    return shutil.which("nvidia-smi") is not None or bool(glob.glob("/dev/nvidia[0-9]*"))


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``url`` answers an HTTP request within ``timeout`` seconds (any status counts)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:  # it answered, with an error status: it is there
        return True
    except (OSError, ValueError):  # no network, DNS, refused, timed out, a proxy that fails
        return False


def torch_install(
    requirements: tuple[str, ...] = (TORCH,),
    env: Mapping[str, str] = os.environ,
    gpu: Callable[[], bool] = has_gpu,
    probe: Callable[[str], bool] = reachable,
) -> tuple[list[str], str]:
    """The ``pip install`` arguments for ``requirements`` (torch and its companions) and a
    one-line notice of the choice.

    ``SIGNALINJECT_TORCH`` (``cuda`` or ``cpu``, default: ``cuda`` where :func:`has_gpu`)
    decides the build; the CPU build comes from :data:`CPU_INDEX` when ``probe`` reaches it,
    else from the default index.
    """
    choice = env.get("SIGNALINJECT_TORCH", "").strip().lower()
    if choice not in ("", "cpu", "cuda"):
        raise ValueError(f"SIGNALINJECT_TORCH must be 'cpu' or 'cuda', got {choice!r}")
    pins = " ".join(requirements)
    if choice == "cuda" or (not choice and gpu()):
        why = "SIGNALINJECT_TORCH=cuda" if choice else "a GPU is present"
        return [*requirements], f"{pins}: the default (CUDA) build, {why}"
    if probe(CPU_INDEX):
        return [
            *requirements,
            "--index-url",
            CPU_INDEX,
        ], f"{pins}: the CPU-only build from {CPU_INDEX}"
    return [*requirements], (
        f"{pins}: {CPU_INDEX} is not reachable; installing from the default index (where that "
        "is PyPI on Linux, the CUDA build: several GB; the line after the install says which "
        "build came)"
    )


#: Prints the installed torch's version and its CUDA version (``cpu`` for the CPU-only build).
TORCH_BUILD_PROBE = "import torch; print(torch.__version__, torch.version.cuda or 'cpu')"


def build_notice(probe_output: str) -> str:
    """The line that says which torch build came, from `TORCH_BUILD_PROBE`'s output.

    Examples:
        >>> build_notice("2.13.0+cpu cpu\n")
        'installed: torch 2.13.0+cpu, the CPU-only build'
        >>> build_notice("2.13.0 12.8")
        'installed: torch 2.13.0, the CUDA 12.8 build (several GB)'
    """
    words = probe_output.split()
    if len(words) < 2:
        raise ValueError(f"probe_output must be 'VERSION CUDA-or-cpu', got {probe_output!r}")
    version, cuda = words[-2], words[-1]
    build = "the CPU-only build" if cuda == "cpu" else f"the CUDA {cuda} build (several GB)"
    return f"installed: torch {version}, {build}"


_CHOICES: dict[tuple[str, ...], tuple[list[str], str]] = {}


def install_torch(session: nox.Session, requirements: tuple[str, ...] = (TORCH,)) -> None:
    """Install ``requirements`` as :func:`torch_install` decides (probed once per nox run)."""
    if requirements not in _CHOICES:
        _CHOICES[requirements] = torch_install(requirements)
    args, notice = _CHOICES[requirements]
    session.log(notice)
    session.install(*args)
    # the choice above is a plan; this says what pip brought (an index may hold either build)
    out = session.run("python", "-c", TORCH_BUILD_PROBE, silent=True)
    if isinstance(out, str):  # None under --no-install's reuse or a dry run
        session.log(build_notice(out))


def _install(session: nox.Session, extras: str) -> None:
    install_torch(session)
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


#: What ``nox -s tests`` (CI) gives pytest before the arguments after ``--``: both cores of the
#: CI machine (pytest-xdist), and every test but the slow ones whose guard a fast test also
#: holds (marked ``slow`` without ``ci``; see pyproject.toml's markers).
PYTEST_ARGS = ("-n", "2", "-m", "not slow or ci")


def pytest_command(posargs: list[str]) -> list[str]:
    """The pytest command of ``nox -s tests``: `PYTEST_ARGS`, then ``posargs``, which win
    (``-- -m slow``: the slow tests left out; ``-- -n 0``: one process; ``-- tests/x.py -x``)."""
    return ["python", "-m", "pytest", *PYTEST_ARGS, *posargs]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on two processes, without the slow tests a fast test covers."""
    _install(session, "test")
    session.run(*pytest_command(list(session.posargs)))


@nox.session
def torchvision(session: nox.Session) -> None:
    """The adapters against real torchvision (not a default session: ~5.5 GB to install)."""
    install_torch(session, TORCHVISION)
    session.install("-e", ".[test,torchvision]")
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

    ``signalinject bench images`` (Table 1 on ``photo_digits``, the digits over crops of two
    photographs: the paper's ConvNet at 85-87% clean, as on CIFAR-10) and ``bench text``
    (Table 3 on ``stdlib_code``, function sources of five standard-library packages, with a narrow
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


#: The wheel's tags: the compiled kernels are built against the stable ABI of CPython 3.11 (the
#: first whose limited API has the buffer protocol), one wheel per platform for every CPython.
WHEEL_TAG = "cp311-abi3"


def wheel_problems(names: set[str], version: str, wheel: str, native_required: bool) -> list[str]:
    """What the wheel ``wheel`` (a file name) holding the files ``names`` lacks for ``version``:
    the typing marker and stubs, the CLI, the license, and the compiled kernels (``abi3``) where
    ``native_required`` or where it holds any. An empty list: nothing."""
    problems = []
    for need in (
        "signalinject/py.typed",
        "signalinject/_native.pyi",
        "signalinject/__init__.py",
        "signalinject/benchmarks/cli.py",
    ):
        if need not in names:
            problems.append(f"no {need}")
    if f"signalinject-{version}.dist-info/licenses/LICENSE" not in names:
        problems.append(f"no signalinject-{version}.dist-info/licenses/LICENSE")
    native = sorted(n for n in names if n.startswith("signalinject/_native.") and n.endswith(".so"))
    if native_required and not native:
        problems.append("no signalinject/_native*.so (the compiled kernels)")
    if native:
        if native != ["signalinject/_native.abi3.so"]:
            problems.append(f"the compiled kernels are {native}, not _native.abi3.so")
        if f"-{WHEEL_TAG}-" not in wheel:
            problems.append(f"{wheel} is not tagged {WHEEL_TAG}")
    if not wheel.startswith(f"signalinject-{version}-"):
        problems.append(f"{wheel} is not version {version}")
    return problems


@nox.session
def package(session: nox.Session) -> None:
    """Build the wheel and the sdist, check what they hold (``twine check``, the stable ABI with
    ``abi3audit``), install the wheel alone and run the CLI from it."""
    import tomllib
    import zipfile

    with open("pyproject.toml", "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    session.install("build>=1.0", "twine>=6.1", "abi3audit>=0.0.20")
    shutil.rmtree("build/dist", ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", "build/dist", silent=True)
    wheels = sorted(glob.glob(f"build/dist/signalinject-{version}-*.whl"))
    sdists = sorted(glob.glob(f"build/dist/signalinject-{version}.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        session.error(f"expected one {version} wheel and one sdist, got {wheels + sdists}")
    wheel = wheels[0]
    names = set(zipfile.ZipFile(wheel).namelist())
    problems = wheel_problems(names, version, os.path.basename(wheel), REQUIRE_NATIVE)
    if problems:
        session.error(f"{wheel}: {'; '.join(problems)}")
    # The C extension is optional (no compiler: NumPy's kernels, the same bits); CI requires it.
    if not any(n.endswith(".so") for n in names):
        session.warn("the wheel has no compiled kernels (no C compiler?): NumPy's are used")
    else:  # every symbol the module imports is in the 3.11 stable ABI
        session.run("abi3audit", "--strict", "--assume-minimum-abi3", "3.11", wheel)
    with tarfile.open(sdists[0]) as tar:
        source = {n.split("/", 1)[-1] for n in tar.getnames()}
    need = (
        "setup.py", "pyproject.toml", "src/signalinject/_native.c", "LICENSE", "README.md",
        "CITATION.cff",
    )  # fmt: skip
    lacking = [n for n in need if n not in source]
    if lacking:
        session.error(f"the sdist lacks {lacking}")
    session.run("twine", "check", "--strict", wheel, sdists[0])
    install_torch(session)
    session.install(wheel)
    session.run(
        "python",
        "-c",
        f"import signalinject; assert signalinject.__version__ == {version!r}, "
        "signalinject.__version__; print(signalinject.__file__, signalinject.__version__)",
    )
    if REQUIRE_NATIVE:
        check = "from signalinject._backend import native_kernels as n; assert n()"
        session.run("python", "-c", check)
    session.run("signalinject", "--help", silent=True)


@nox.session
def lightning(session: nox.Session) -> None:
    """The Lightning example of docs/pipelines.md with 2 ddp_spawn processes (not a default
    session: Lightning is heavy)."""
    _install(session, "test,lightning")
    args = session.posargs or ["tests/test_lightning.py"]
    session.run("python", "-m", "pytest", *args)


@nox.session
def skorch(session: nox.Session) -> None:
    """skorch nets wrapped in signalinject.sklearn.InjectedEstimator (not a default session)."""
    _install(session, "test,skorch")
    args = session.posargs or ["tests/test_skorch.py"]
    session.run("python", "-m", "pytest", *args)
