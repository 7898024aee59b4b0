"""mkdocs hook: the examples gallery shows what each script of ``examples/`` prints and draws.

When the site is built, each script that ``docs/gallery.md`` includes (``--8<-- "examples/X.py"``)
is run as a user runs it (``python examples/X.py`` in an empty working directory, one torch
thread, matplotlib's Agg backend), and the page gets, after the script's code, its output and
every PNG figure it wrote. A script that fails fails the build (``mkdocs build --strict``).

The outputs are cached under ``build/gallery/``, keyed by the script, the other files of
``examples/`` and the package's source: a rebuild with nothing changed runs nothing.
``SIGNALINJECT_EXAMPLES_QUICK=1`` in the environment runs the scripts' quick versions (as the
tests do) and the page says so.
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
INCLUDE = re.compile(r'^--8<-- "examples/([\w-]+\.py)"\n```\n', re.MULTILINE)
MAX_FIGURES = 6  # per script: more would swamp the page

_outputs: dict[str, dict[str, Any]] = {}


def _quick() -> bool:
    return os.environ.get("SIGNALINJECT_EXAMPLES_QUICK") == "1"


def _key(script: Path) -> str:
    """A digest of what the script's output depends on: itself, examples/, the package."""
    h = hashlib.sha256(f"quick={_quick()}".encode())
    sources = sorted(EXAMPLES.rglob("*.py")) + sorted((ROOT / "src").rglob("*.py"))
    sources += sorted((ROOT / "src").rglob("*.c"))
    for path in [script, *sources]:
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


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
    with tempfile.TemporaryDirectory(prefix=f"gallery-{script.stem}-") as tmp:
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(script)],
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
    record = {"stdout": proc.stdout, "seconds": round(seconds, 1), "quick": _quick()}
    meta.write_text(json.dumps(record))
    return {**record, "figures": sorted(entry.glob("*.png"))}


def output_markdown(name: str, run: dict[str, Any], figure_uris: list[str]) -> str:
    """The Markdown shown after the script ``name``: its printed output and its figures."""
    how = "`SIGNALINJECT_EXAMPLES_QUICK=1 python examples/" if run["quick"] else "`python examples/"
    lines = [
        "",
        f'<p class="si-output-title">Output of {how}{name}`, run when this page was built '
        f"({run['seconds']:.0f} s on the build machine):</p>",
        "",
    ]
    text = run["stdout"].rstrip() or "(it prints nothing)"
    lines += ["```text", text, "```", ""]
    for uri in figure_uris:
        label = Path(uri).stem.split("-", 1)[-1].replace("_", " ")
        lines += [f"![{name}: {label}]({uri})", ""]
    return "\n".join(lines)


def on_files(files: Any, config: Any) -> Any:
    page = Path(config["docs_dir"]) / PAGE
    if not page.is_file():
        return files
    for name in INCLUDE.findall(page.read_text(encoding="utf-8")):
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

    def with_output(m: re.Match[str]) -> str:
        name = m.group(1)
        return m.group(0) + output_markdown(name, _outputs[name], _outputs[name]["uris"])

    return INCLUDE.sub(with_output, markdown)
