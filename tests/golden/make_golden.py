"""Make the golden files of signalinject 0.1.0: the contract of the redesign (issue 14).

Run once, from the repository root, with the 0.1.0 code (commit ``2dc309f`` on ``redesign``)::

    .venv/bin/python tests/golden/make_golden.py

It writes, next to this file:

- ``outputs.npz``: for every case of :func:`cases` (each of the 8 signals, coverage < 1 and
  fidelity < 1, fixed seeds, non-trivial indices) and every input of :func:`image_inputs` /
  :func:`text_codes`, the injected array and the decoded labels;
- ``golden.json``: each case's 0.1.0 ``get_config()``, the injected texts and their decoded
  labels, and the arguments of the two benchmark runs below;
- ``images/results.jsonl`` and ``text/results.jsonl``: ``signalinject bench images`` / ``bench
  text`` with :data:`BENCH_ARGS`, the real runner on the embedded data (a few seconds each).

``tests/test_golden.py`` rebuilds every injector from its stored 0.1.0 config, replays the inputs
and asserts bit-identical outputs, and resumes the two results files without recomputing a cell.
The inputs are rebuilt here (:func:`image_inputs`, :func:`text_codes`, :data:`TEXTS`) from a
fixed NumPy generator, so the test imports this module rather than storing them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

import signalinject as si

HERE = Path(__file__).resolve().parent

#: Arguments of the two benchmark runs (``--out`` is added); each takes a few seconds.
#: The data sets are named because the defaults changed after 0.1.0 (to noisy_digits and
#: stdlib_code); 0.1.0 ran these commands without ``--dataset`` (golden.json keeps them as run).
BENCH_ARGS: dict[str, list[str]] = {
    "images": [
        "bench", "images", "--dataset", "digits", "--limit", "80",
        "--models", "gaussian_nb,decision_tree",
        "--signals", "one_pixel,pattern_pixels,random_pixel,multiple_locations,orthogonal_noise",
        "--seeds", "0", "--no-progress",
    ],
    "text": [
        "bench", "text", "--dataset", "stdlib_docs", "--limit", "60",
        "--models", "gaussian_nb,decision_tree",
        "--seeds", "0", "--text-length", "256", "--no-progress",
    ],
}  # fmt: skip

#: Sample indices of every case: unordered, with gaps and one beyond 2**32.
INDEX = np.array([5, 17, 2**33 + 1, 3, 99, 1000], dtype=np.int64)
LABELS = np.array([3, 0, 2, 1, 3, 2], dtype=np.int64)
K = 4
#: Quantizer of the text cases: short frames, Zhang's alphabet.
QUANTIZER = si.CharQuantizer(length=256)
TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "",
    "Short.",
    "Crème brûlée, 42 times! " * 8,
    "x" * 300,
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 4,
]


def cases() -> dict[str, si.Injector]:
    """The injectors of the golden file, by case name (0.1.0 constructors)."""
    common: dict[str, Any] = {"seed": 123, "coverage": 0.8, "fidelity": 0.7}
    q = QUANTIZER
    return {
        "one_pixel": si.OnePixel(K, **common),
        "one_pixel_values": si.OnePixel(K, position=(3, 5), values=(10, 70, 130, 250), **common),
        "pattern_pixels": si.PatternPixels(K, **common),
        "pattern_pixels_custom": si.PatternPixels(
            K, positions=((1, 1), (6, 2)), on_value=200, off_value=20, **common
        ),
        "random_pixel": si.RandomPixel(K, **common),
        "random_pixel_values": si.RandomPixel(K, values=(0, 60, 120, 180), **common),
        "multiple_locations": si.MultipleLocations(K, **common),
        "multiple_locations_custom": si.MultipleLocations(
            K,
            pairs=(((0, 0), (7, 7)), ((0, 7), (7, 0)), ((2, 3), (5, 4)), ((1, 6), (6, 1))),
            value_range=(10, 90),
            **common,
        ),
        "orthogonal_noise": si.OrthogonalNoise(K, **common),
        "orthogonal_noise_strength": si.OrthogonalNoise(K, strength=5.0, **common),
        "mnemonic": si.Mnemonic(K, quantizer=q, **common),
        "mnemonic_chars": si.Mnemonic(K, chars="xyz~", quantizer=q, **common),
        "length_encoding": si.LengthEncoding(K, quantizer=q, **common),
        "length_encoding_pad": si.LengthEncoding(
            K, lengths=(10, 40, 100, 200), pad="~", quantizer=q, **common
        ),
        "pattern_char": si.PatternChar(K, positions=(5, 50, 150), quantizer=q, **common),
        "pattern_char_tilde": si.PatternChar(K, positions=(0, 7), char="~", quantizer=q, **common),
    }


def image_inputs() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Image batches ``(N=6, 8x8)`` by name, with the call's keyword arguments."""
    rng = np.random.default_rng(20161)
    u8 = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    f32 = rng.random((6, 8, 8, 1), dtype=np.float32) * 255
    chw = torch.from_numpy(rng.integers(0, 256, size=(6, 3, 8, 8), dtype=np.uint8))
    cl = torch.from_numpy(rng.random((6, 3, 8, 8), dtype=np.float32)).to(
        memory_format=torch.channels_last
    )
    f16 = rng.random((6, 8, 8, 2)).astype(np.float16) * 200
    return {
        "np_uint8_nhwc": (u8, {}),
        "np_float32_nhwc_gray": (f32, {}),
        "torch_uint8_nchw": (chw, {}),
        "torch_float32_channels_last_memory": (cl, {}),
        "np_float16_as_nchw": (np.ascontiguousarray(f16.transpose(0, 3, 1, 2)),
                               {"channels_last": False}),
    }  # fmt: skip


def text_codes() -> dict[str, Any]:
    """Codes of :data:`TEXTS` by name: NumPy uint8 and torch int64."""
    return {
        "np_uint8": QUANTIZER.encode(TEXTS, dtype=np.uint8),
        "torch_int64": QUANTIZER.encode(TEXTS, backend="torch"),
    }


def as_numpy(a: Any) -> np.ndarray[Any, Any]:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def outputs(inj: si.Injector, name: str) -> tuple[dict[str, np.ndarray[Any, Any]], Any]:
    """Every output of one case: ``({key: array}, texts record or None)``."""
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    text_rec = None
    if isinstance(inj, si.TextInjector):
        for inp, x in text_codes().items():
            labels = torch.from_numpy(LABELS) if isinstance(x, torch.Tensor) else LABELS
            out = inj(x, labels, index=INDEX)
            arrays[f"{name}/{inp}/out"] = as_numpy(out)
            arrays[f"{name}/{inp}/decode"] = as_numpy(inj.decode(out))
        texts = inj(TEXTS, LABELS.tolist(), index=INDEX)
        text_rec = {"texts": texts, "decode": inj.decode(texts).tolist()}
    else:
        for inp, (x, kw) in image_inputs().items():
            labels = torch.from_numpy(LABELS) if isinstance(x, torch.Tensor) else LABELS
            idx = torch.from_numpy(INDEX) if isinstance(x, torch.Tensor) else INDEX
            out = inj(x, labels, index=idx, **kw)
            arrays[f"{name}/{inp}/out"] = as_numpy(out)
            arrays[f"{name}/{inp}/decode"] = as_numpy(inj.decode(out, **kw))
            if isinstance(inj, si.RandomPixel):
                arrays[f"{name}/{inp}/decode_index"] = as_numpy(inj.decode(out, index=idx, **kw))
    return arrays, text_rec


def main() -> None:
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    record: dict[str, Any] = {"version": si.__version__, "configs": {}, "texts": {}}
    for name, inj in cases().items():
        record["configs"][name] = inj.get_config()
        a, t = outputs(inj, name)
        arrays.update(a)
        if t is not None:
            record["texts"][name] = t
    np.savez_compressed(HERE / "outputs.npz", **arrays)
    record["bench"] = BENCH_ARGS
    (HERE / "golden.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    for suite, args in BENCH_ARGS.items():
        out = HERE / suite
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "signalinject", *args, "--out", str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        for p in out.iterdir():  # only the results file is the contract
            if p.name != "results.jsonl":
                p.unlink()


if __name__ == "__main__":
    main()
