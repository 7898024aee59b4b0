"""mkdocs hook: the examples gallery shows what each script of ``examples/`` prints and draws.

When the site is built, each script that ``docs/gallery.md`` shows under its own heading
(``## X.py``, whose code the page includes with ``--8<-- "examples/X.py"``) is run as a user runs
it (``python examples/X.py`` in an empty working directory, one torch thread, matplotlib's Agg
backend), and its section ends with what the script printed and every PNG figure it wrote. A
script that fails fails the build (``mkdocs build --strict``).

The outputs are cached under ``build/gallery/``, keyed by the script, the other files of
``examples/`` and the package's source: a rebuild with nothing changed runs nothing.
The scripts run in their quick versions (``SIGNALINJECT_EXAMPLES_QUICK=1``, as the tests run
them: fewer samples and epochs, and ``QUICK_ARGS``), which keep a build within minutes on two
cores; the page names the command that produced each output. ``SIGNALINJECT_EXAMPLES_QUICK=0``
in the environment of ``mkdocs build`` runs the full versions instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CACHE = ROOT / "build" / "gallery"
PAGE = "gallery.md"
SITE_DIR = "gallery"  # the figures' folder in the built site
TIMEOUT_S = 1800
SECTION = re.compile(r"^## ([\w-]+\.py)\n", re.MULTILINE)
# What the scripts' quick versions take on the command line (they read the variable otherwise).
QUICK_ARGS: dict[str, list[str]] = {"scan_your_model.py": ["--limit", "40", "--epochs", "1"]}
MAX_FIGURES = 6  # per script: more would swamp the page

_outputs: dict[str, dict[str, Any]] = {}


def _quick() -> bool:
    return os.environ.get("SIGNALINJECT_EXAMPLES_QUICK", "1") != "0"


def _key(script: Path) -> str:
    """A digest of what the script's output depends on: itself, examples/, the package."""
    h = hashlib.sha256(f"quick={_quick()} {_argv(script.name)}".encode())
    sources = sorted(EXAMPLES.rglob("*.py")) + sorted((ROOT / "src").rglob("*.py"))
    sources += sorted((ROOT / "src").rglob("*.c"))
    for path in [script, *sources]:
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _argv(name: str) -> list[str]:
    return QUICK_ARGS.get(name, []) if _quick() else []


def scripts(markdown: str) -> list[str]:
    """The scripts of examples/ that the gallery page shows, each under a ``## NAME.py``
    heading, in the page's order."""
    return [m.group(1) for m in SECTION.finditer(markdown) if (EXAMPLES / m.group(1)).is_file()]


def run_example(name: str) -> dict[str, Any]:
    """Run ``examples/NAME`` (or read its cached run): its stdout, its figures (paths of PNG
    files, largest first), the wall time in seconds and whether it was the quick version."""
    script = EXAMPLES / name
    entry = CACHE / f"{script.stem}-{_key(script)}"
    meta = entry / "run.json"
    if meta.is_file():
        return {**json.loads(meta.read_text()), "figures": sorted(entry.glob("*.png"))}
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env["MPLBACKEND"] = "Agg"
    env["SIGNALINJECT_EXAMPLES_QUICK"] = "1" if _quick() else "0"
    with tempfile.TemporaryDirectory(prefix=f"gallery-{script.stem}-") as tmp:
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(script), *_argv(name)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        seconds = time.monotonic() - t0
        if proc.returncode != 0:
            raise PluginError(
                f"examples/{name} failed (exit {proc.returncode}) while building the gallery:\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
            )
        pngs = sorted(Path(tmp).rglob("*.png"), key=lambda p: -p.stat().st_size)[:MAX_FIGURES]
        shutil.rmtree(entry, ignore_errors=True)
        entry.mkdir(parents=True)
        for i, png in enumerate(pngs):
            shutil.copyfile(png, entry / f"{i}-{png.name}")
    record = {
        "stdout": proc.stdout,
        "seconds": round(seconds, 1),
        "command": " ".join(["python", f"examples/{name}", *_argv(name)]),
        "quick": _quick(),
    }
    meta.write_text(json.dumps(record))
    return {**record, "figures": sorted(entry.glob("*.png"))}


def output_markdown(name: str, run: dict[str, Any], figure_uris: list[str]) -> str:
    """The Markdown shown after the script ``name``: its printed output and its figures."""
    command = ("SIGNALINJECT_EXAMPLES_QUICK=1 " if run["quick"] else "") + run["command"]
    did = "printed and drew" if figure_uris else "printed"
    lines = [
        "",
        f'<p class="si-output-title">What <code>{command}</code> {did} when this page was '
        "built:</p>",
        "",
    ]
    text = run["stdout"].rstrip() or "(it prints nothing)"
    lines += ['<div class="si-output" markdown>', "", "```text", text, "```", "", "</div>", ""]
    for uri in figure_uris:
        label = Path(uri).stem.split("-", 1)[-1].replace("_", " ")
        lines += [f"![{name}: {label}]({uri})", ""]
    return "\n".join(lines)


def on_files(files: Any, config: Any) -> Any:
    page = Path(config["docs_dir"]) / PAGE
    if not page.is_file():
        return files
    for name in scripts(page.read_text(encoding="utf-8")):
        run = run_example(name)
        uris = []
        for png in run["figures"]:
            uri = f"{SITE_DIR}/{Path(name).stem}/{png.name.split('-', 1)[-1]}"
            files.append(File.generated(config, uri, abs_src_path=str(png)))
            uris.append(uri)
        _outputs[name] = {**run, "uris": uris}
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    heads = list(SECTION.finditer(markdown))
    out = [markdown[: heads[0].start()] if heads else markdown]
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(markdown)
        body = markdown[m.start() : end].rstrip("\n") + "\n"
        name = m.group(1)
        if name in _outputs:
            body += output_markdown(name, _outputs[name], _outputs[name]["uris"])
        out.append(body + "\n")
    return "".join(out)
