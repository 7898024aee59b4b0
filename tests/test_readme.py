"""The README and the guide pages say only what works.

- Every ``python`` code block of README.md and of the guide pages written with it runs.
- Every shell command there names something real: nox sessions of noxfile.py, ``signalinject``
  subcommands and options the parser accepts, pinned torch, extras of pyproject.toml, scripts
  that exist.
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
import itertools
import os
import re
import shlex
import socket
import subprocess
import sys
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


def _check_pip(args: list[str]) -> None:
    assert args[0] == "install", args
    with_value = {"--index-url", "--extra-index-url"}  # options whose value is not a requirement
    for before, req in itertools.pairwise(args):
        if req.startswith("-") or before in with_value:
            if before in with_value:
                assert req == "https://download.pytorch.org/whl/cpu", f"odd index {req}"
            continue
        m = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", req)
        if m:  # the project itself, with extras
            unknown = set((m.group(1) or "").split(",")) - _extras() - {""}
            assert not unknown, f"no such extra(s) {unknown} in pyproject.toml"
        elif re.match(r"torch\b", req):
            assert req == _torch_pin(), f"torch must be pinned as {_torch_pin()}, got {req}"
        else:
            assert re.fullmatch(r"[\w.-]+([<>=!~]=?[\w.*]+)?", req), f"odd requirement {req}"


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
    elif head in ("cd", "mkdir", "tar", "ls"):
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
