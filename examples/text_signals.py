"""The paper's three text signals on strings and on quantized codes (NumPy and torch).

Runs offline on the embedded stand-in for the Yelp/Amazon reviews (docstrings of the Python
standard library, 5 classes). A character-level model never sees the strings, only Zhang et al.'s
quantized codes, and the signals behave differently there: space padding, for one, is invisible.
For each signal it prints what ``decode`` reads back from the texts and from the codes, and
checks that injecting before or after the quantization gives the same codes (one documented
exception: a pad other than the space, after a text whose last kept character has code 0).

    python examples/text_signals.py

Takes a few seconds on 2 CPU cores.
"""

from __future__ import annotations

import numpy as np
import torch

import signalinject as si
from signalinject.benchmarks.datasets import load_stdlib_docs


def main() -> None:
    data = load_stdlib_docs()
    texts, y = [str(t) for t in data.x_test], data.y_test  # 180 texts, int64 (180,)
    k = data.num_classes
    print(f"{data.name}: {len(texts)} texts, {k} classes, e.g. {texts[0][:60]!r}")

    # Zhang et al.'s quantization: 69-character alphabet, lower-cased, code 0 for everything
    # else (space and padding included); 256 characters here instead of 1014, as the benchmark.
    q = si.CharQuantizer(length=256)
    codes = q.encode(texts, dtype=np.uint8)  # uint8 (180, 256)
    print(f"codes: {codes.dtype} {codes.shape}")

    signals = [
        si.Mnemonic(num_classes=k, quantizer=q),  # first character: 'a'..'e'
        si.LengthEncoding(num_classes=k, quantizer=q),  # cut or space-padded to a class length
        si.LengthEncoding(num_classes=k, quantizer=q, pad="~"),  # a visible pad
        si.PatternChar(num_classes=k, quantizer=q),  # spaces at (50, 150, 200): partial
    ]
    print(f"  {'decode accuracy':<42} {'on texts':>9} {'on codes':>9}")
    for inj in signals:
        injected = inj(texts, y)  # a new list[str]
        on_codes = inj(codes, y)  # a new uint8 array
        # One rule: inject, then quantize == quantize, then inject (the pad="~" exception aside).
        same = (q.encode(injected, dtype=np.uint8) == on_codes).all(1)
        assert same.all() or getattr(inj, "pad", " ") != " "
        acc_text = np.mean(inj.decode(injected) == y)
        acc_codes = np.mean(inj.decode(on_codes) == y)
        name = type(inj).__name__ + (f"(pad={inj.pad!r})" if hasattr(inj, "pad") else "")
        note = "" if same.all() else f"  ({np.mean(~same):.0%} differ: texts ending in code 0)"
        print(f"  {name:<42} {acc_text:>9.1%} {acc_codes:>9.1%}{note}")

    # The same injector on torch codes (and on the GPU when there is one), same bits.
    device = "cuda" if torch.cuda.is_available() else "cpu"
    mn = signals[0]
    t = mn(torch.from_numpy(codes).to(device), torch.from_numpy(y).to(device))
    assert np.array_equal(t.cpu().numpy(), mn(codes, y))
    print(f"  torch codes on {device}: identical to NumPy")

    # One text, one label; and what the model sees, decoded back to characters.
    print(f"  {si.Mnemonic(num_classes=k)('great food', 2)!r}")
    print(f"  {q.decode(mn(codes[:1], y[:1]))[0][:60]!r}")


if __name__ == "__main__":
    main()
