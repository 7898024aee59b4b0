"""The README and the guide pages say only what works.

- Every ``python`` code block of README.md and of the guide pages written with it runs.
- Every shell command there names something real: nox sessions of noxfile.py, ``signalinject``
  subcommands and options the parser accepts, ``pip install`` lines that pip's own parser
  accepts (pinned torch, or the torchvision pair; extras of pyproject.toml; PyTorch's index only
  with a short ``--timeout`` and ``--retries``), the repository of mkdocs.yml, scripts that exist.
- The install blocks of README.md, the home page and the Install page run, offline, in fresh
  virtual environments: the editable install from a checkout and the wheel route (``python -m
  build``, then ``pip install dist/*.whl``, a ``cp311-abi3`` wheel), each ending with the README's
  example run against what was installed (slow).
- ``--help`` of every ``signalinject`` command fits a terminal screen and shows the defaults.
- A first run on a machine without network: the default commands never open a connection, and
  they end by printing where the tables and figures were written.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.metadata
import io
import os
import re
import shlex
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signalinject.benchmarks.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
# The pages whose commands and code this file checks (docs/pipelines.md and
# docs/scanning.md are checked by the tests of the code they document).
PAGES = [
    "README.md",
    "docs/index.md",
    "docs/install.md",
    "docs/signals.md",
    "docs/reproducing.md",
    "docs/performance.md",
]
HELP_MAX_LINES = 40  # a terminal screen
HELP_COLUMNS = "80"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(page: str, langs: tuple[str, ...]) -> list[str]:
    text = (ROOT / page).read_text(encoding="utf-8")
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) in langs]


def _python_blocks() -> list[Any]:
    return [
        pytest.param(code, id=f"{page}#{i}")
        for page in PAGES
        for i, code in enumerate(_blocks(page, ("python",)))
    ]


def _shell_commands() -> list[Any]:
    """Every command of the ``bash``/``sh`` blocks: comments dropped, ``&&`` chains split."""
    out = []
    for page in PAGES:
        for block in _blocks(page, ("bash", "sh", "shell")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip()
                if not line or line.startswith("#"):
                    continue
                for cmd in line.split("&&"):
                    out.append(pytest.param(cmd.strip(), id=f"{page}: {cmd.strip()}"))
    return out


def test_pages_have_code() -> None:
    assert _blocks("README.md", ("python",)), "the README needs its 10-line example"
    assert len(_blocks("README.md", ("bash",))) >= 2, "the README needs its shell commands"


@pytest.mark.parametrize("code", _python_blocks())
def test_python_block_runs(code: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{code}\n{proc.stdout}\n{proc.stderr}"


def _nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    return {
        f.name
        for f in tree.body
        if isinstance(f, ast.FunctionDef)
        and any("nox.session" in ast.unparse(d) for d in f.decorator_list)
    }


def _extras() -> set[str]:
    # the installed (editable) package's metadata: pyproject.toml's optional-dependencies
    return set(importlib.metadata.metadata("signalinject").get_all("Provides-Extra") or [])


def _torch_pin() -> str:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "TORCH":
            return str(ast.literal_eval(node.value))
    raise AssertionError("noxfile.py has no TORCH pin")


def _torchvision_pair() -> tuple[str, ...]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "TORCHVISION":
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("noxfile.py has no TORCHVISION pair")


CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# PyTorch's index may be unreachable (no route, a DNS that never answers): pip must give up
# within seconds there, not retry five times at 15 s each.
MAX_TIMEOUT_S = 15
MAX_RETRIES = 1


def _parse_pip_install(args: list[str]) -> tuple[Any, list[str]]:
    """``pip install ARGS`` parsed by pip's own parser: (options, requirements). An option pip
    does not know, or a bad value, fails the test with pip's message."""
    assert args[0] == "install", args
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), warnings.catch_warnings():
            # pip's import brings setuptools' distutils shim; where another test imported the
            # standard library's distutils first, setuptools warns that it replaces it
            warnings.filterwarnings(
                "ignore", "Setuptools is replacing distutils", UserWarning, "_distutils_hack"
            )
            from pip._internal.commands import create_command

            # isolated: this machine's pip configuration and PIP_* variables are ignored
            options, reqs = create_command("install", isolated=True).parse_args(args[1:])
    except SystemExit as e:
        pytest.fail(f"pip rejects `pip {shlex.join(args)}` (exit {e.code}): {err.getvalue()}")
    return options, reqs


def _check_pip(args: list[str]) -> None:
    options, reqs = _parse_pip_install(args)
    reqs = [*options.editables, *reqs]
    assert reqs, f"pip {shlex.join(args)} installs nothing"
    from pip._internal.models.index import PyPI

    index = options.index_url
    assert index in (PyPI.simple_url, CPU_INDEX), f"odd index {index}"
    if index == CPU_INDEX:  # where it cannot be reached pip must give up quickly
        assert options.timeout <= MAX_TIMEOUT_S, f"{shlex.join(args)}: --timeout {MAX_TIMEOUT_S}"
        assert options.retries <= MAX_RETRIES, f"{shlex.join(args)}: --retries {MAX_RETRIES}"
    assert not options.extra_index_urls, "no extra index: pip would mix builds of torch"
    torch_reqs = sorted(r for r in reqs if re.match(r"torch(vision)?\b", r))
    if torch_reqs:  # torch alone at the pin, or the torchvision pair of noxfile.py together
        allowed = ([_torch_pin()], sorted(_torchvision_pair()))
        assert torch_reqs in allowed, f"torch must be pinned as one of {allowed}, got {torch_reqs}"
    for req in reqs:
        m = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", req)
        if m:  # the project itself, with extras
            unknown = set((m.group(1) or "").split(",")) - _extras() - {""}
            assert not unknown, f"no such extra(s) {unknown} in pyproject.toml"
        elif req == "dist/*.whl":  # the wheel that `python -m build` writes
            continue
        elif req not in torch_reqs:
            assert re.fullmatch(r"[\w.-]+([<>=!~]=?[\w.*]+)?", req), f"odd requirement {req}"


def _repo_url() -> str:
    m = re.search(r"^repo_url: (\S+)$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)
    assert m, "mkdocs.yml has no repo_url"
    return m.group(1)


def _check_signalinject(args: list[str]) -> None:
    code: object = 0
    try:
        build_parser().parse_args(args)
    except SystemExit as e:  # --help and --version exit 0; an unknown option exits 2
        code = e.code
    assert code == 0, f"signalinject {shlex.join(args)}: rejected by the parser"


@pytest.mark.parametrize("command", _shell_commands())
def test_shell_command_is_real(command: str) -> None:
    argv = shlex.split(command)
    while argv and re.fullmatch(r"\w+=\S*", argv[0]):  # VAR=value prefixes
        argv = argv[1:]
    head, rest = argv[0], argv[1:]
    if head in ("python", "python3") and rest[:2] == ["-m", "pip"]:
        _check_pip(rest[2:])
    elif head == "pip":
        _check_pip(rest)
    elif head == "nox":
        assert rest[0] == "-s", command
        sessions = [a for a in rest[1:] if not a.startswith("-")]
        assert sessions, command
        assert set(sessions) <= _nox_sessions(), f"no nox session {set(sessions)}"
    elif head == "signalinject":
        _check_signalinject(rest)
    elif head in ("python", "python3") and rest[:2] == ["-m", "signalinject"]:
        _check_signalinject(rest[2:])
    elif head in ("python", "python3") and rest[:2] == ["-m", "pytest"]:
        for path in (a for a in rest[2:] if not a.startswith("-")):
            assert (ROOT / path.split("::")[0]).exists(), f"no {path}"
    elif head in ("python", "python3") and rest[:1] == ["-m"] and "signalinject." in rest[1]:
        parser = importlib.import_module(rest[1]).build_parser()  # a module run as a script
        assert parser.parse_args(rest[2:]) is not None, command
    elif head in ("python", "python3") and rest and rest[0].endswith(".py"):
        assert (ROOT / rest[0]).is_file(), f"no script {rest[0]}"
    elif head in ("python", "python3") and rest[:2] == ["-m", "build"]:
        from build.__main__ import main_parser  # the `build` package of the dev extra

        main_parser().parse_args(rest[2:])  # an unknown option exits 2
    elif head == "git":
        assert rest == ["clone", _repo_url()], f"clone the repository of mkdocs.yml: {command}"
    elif head == "cd":
        assert rest in (["signalinject"], ["-"], []) or not rest[0].startswith("/"), command
    elif head in ("mkdir", "tar", "ls"):
        pass  # plain file handling around the commands
    else:
        pytest.fail(f"unchecked command {command!r}: teach this test what it means")


# -- --help of every command ------------------------------------------------------------------
def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    out = []
    todo = [build_parser()]
    while todo:
        p = todo.pop()
        out.append((p.prog, p))
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(dict.fromkeys(action.choices.values()))  # aliases once
    return sorted(out, key=lambda t: t[0])


PARSERS = _all_parsers()


def test_the_parser_walk_finds_the_commands() -> None:
    progs = {prog for prog, _ in PARSERS}
    assert {"signalinject", "signalinject bench images", "signalinject show"} <= progs


@pytest.mark.parametrize(("prog", "parser"), PARSERS, ids=[p for p, _ in PARSERS])
def test_help_fits_a_screen_and_shows_defaults(
    prog: str, parser: argparse.ArgumentParser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", HELP_COLUMNS)
    text = parser.format_help()
    n = len(text.rstrip("\n").splitlines())
    assert n <= HELP_MAX_LINES, f"{prog} --help is {n} lines:\n{text}"
    fmt = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        shown = fmt._expand_help(action) if action.help else ""
        assert "default" in shown, f"{prog} {action.option_strings[0]}: no default in {shown!r}"


# -- the first run, offline -----------------------------------------------------------------
@contextlib.contextmanager
def _no_network() -> Iterator[list[str]]:
    """Any attempt to open a connection or resolve a name is recorded and refused."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[:2]))
        raise OSError("network access refused by the test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield attempts


def _cli(command: list[str], *options: str) -> str:
    argv = [*command, *options]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    assert code == 0, f"signalinject {shlex.join(argv)} returned {code}:\n{buf.getvalue()}"
    return buf.getvalue()


def _printed_paths(out: str) -> dict[str, Path]:
    return {
        m.group(1): Path(m.group(2))
        for m in re.finditer(r"^(\w+): (\S+)$", out, flags=re.MULTILINE)
    }


def test_first_run_is_offline_and_says_where_the_results_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an empty data directory: the embedded defaults must need nothing from it
    monkeypatch.setenv("SIGNALINJECT_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.chdir(tmp_path)
    quick = ("--limit", "120", "--epochs", "1", "--no-progress")
    with _no_network() as attempts:
        images = _cli(
            ["bench", "images", "--signals", "one_pixel", "--models", "convnet,decision_tree"],
            "--out",
            "img",
            *quick,
        )
        text = _cli(
            ["bench", "text", "--signals", "mnemonic", "--models", "gaussian_nb"],
            "--out",
            "txt",
            *quick,
        )
        figure = _cli(["show", "all"], "--out", "signals.png")
        text_figure = _cli(["show", "mnemonic"], "--out", "mnemonic.png")
    assert attempts == []
    for out, table_row in ((images, "| One pixel |"), (text, "| Mnemonic |")):
        assert table_row in out
        paths = _printed_paths(out)
        assert {"results", "table", "figure"} <= set(paths), out
        assert all(p.is_file() for p in paths.values()), paths
        assert out.rstrip().splitlines()[-1].startswith(tuple(f"{k}: " for k in paths))
    for out, name in ((figure, "signals.png"), (text_figure, "mnemonic.png")):
        assert (tmp_path / name).is_file()
        assert name in out.strip().splitlines()[-1]  # the last line names the picture


# -- the install lines, run offline ---------------------------------------------------------------
# The pages' install blocks run here, offline, in fresh virtual environments that see this
# environment's packages (torch, NumPy, ...) but not its signalinject: each command runs as
# written, through bash, with three changes that offline needs, and only these: `git clone` +
# `cd signalinject` become a copy of this working tree; pip gets PIP_NO_INDEX=1 (everything but
# signalinject is already installed, so the torch line finds its pin satisfied); building from
# source uses this environment's setuptools (`--no-build-isolation`, `python -m build
# --no-isolation`). The torchvision pair's block cannot run offline (torch 2.14.1 is not
# installed): its flags are checked by pip's parser above.
INSTALL_BLOCKS = [  # (page, a line that identifies the block)
    ("README.md", 'python -m pip install -e ".[bench]"'),
    ("docs/index.md", 'python -m pip install -e ".[bench]"'),
    ("docs/install.md", 'python -m pip install -e ".[bench]"'),
    ("docs/install.md", "python -m pip install dist/*.whl"),
]


def _block_commands(page: str, marker: str) -> list[str]:
    for block in _blocks(page, ("bash",)):
        if marker in block:
            cmds = []
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip()
                if line and not line.startswith("#"):
                    cmds += [c.strip() for c in line.split("&&")]
            return cmds
    raise AssertionError(f"{page} has no bash block with {marker!r}")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `git clone` + `cd signalinject` give: this working tree's files that git does not
    ignore (committed or not), copied."""
    out = tmp_path_factory.mktemp("clone") / "signalinject"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(src.read_bytes())
    return out


def _offline_venv(where: Path) -> dict[str, str]:
    """A virtual environment at ``where`` without pip or signalinject of its own; this
    environment's site-packages come after its own (a .pth line: no editable install of this
    checkout is activated there). Returns the environment variables that run it offline."""
    import sysconfig
    import venv

    venv.create(where, with_pip=False)
    site = Path(
        subprocess.run(
            [
                str(where / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "_outer_env.pth").write_text("\n".join(ours) + "\n")
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))
        },
        "PATH": f"{where / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(where),
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "OMP_NUM_THREADS": "1",
    }


def _offline(cmd: str) -> str | None:
    """``cmd`` as it runs offline here, or None for a command this test does not run."""
    argv = shlex.split(cmd)
    if argv[:2] == ["git", "clone"] or argv[:1] == ["cd"]:
        return None  # the checkout fixture
    if argv[:3] == ["python", "-m", "build"]:
        return f"{cmd} --no-isolation"
    if argv[:4] == ["python", "-m", "pip", "install"]:
        return f"{cmd} --no-build-isolation" if "-e" in argv else cmd
    return None  # the benchmarks and the test suite: checked by the parser tests above


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "marker"), INSTALL_BLOCKS, ids=[f"{p}: {m}" for p, m in INSTALL_BLOCKS]
)
def test_install_block_runs_offline(page: str, marker: str, checkout: Path, tmp_path: Path) -> None:
    env = _offline_venv(tmp_path / "venv")
    ran = []
    for cmd in _block_commands(page, marker):
        line = _offline(cmd)
        if line is None:
            continue
        proc = subprocess.run(
            ["bash", "-c", line], cwd=checkout, env=env, capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, (
            f"{page}: `{line}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        ran.append(line)
    assert any("pip install" in line for line in ran), ran
    # the package installed by the block is the one imported in the new environment
    probe = (
        "import signalinject, signalinject._native as n; "
        "print(signalinject.__version__, signalinject.__file__, n.__file__)"
    )
    proc = subprocess.run(
        ["python", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    version, path, native = proc.stdout.split()
    assert version == _source_version()
    assert Path(path).is_relative_to(checkout if "-e" in " ".join(ran) else tmp_path / "venv"), path
    if any(line.startswith("python -m pip install dist/") for line in ran):
        wheels = sorted((checkout / "dist").glob("*.whl"))
        assert [w.name for w in wheels] == [f"signalinject-{version}-cp311-abi3-linux_x86_64.whl"]
        assert native.endswith("_native.abi3.so"), native
    # the README's example, against what was installed
    code = _blocks("README.md", ("python",))[0]
    proc = subprocess.run(
        ["python", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[3 1 4 1]"


def _source_version() -> str:
    m = re.search(
        r'^__version__ = "([^"]+)"', (ROOT / "src/signalinject/__init__.py").read_text(), re.M
    )
    assert m
    return m.group(1)
