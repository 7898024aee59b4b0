"""Tests of signalinject.text: the Zhang quantizer and the three text signals.

Shared properties run on every injector (both representations); then exact encodings against the
paper's literal rules; then one test per bad input.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import signalinject as si
from checks import check_decode, check_injector, check_kernel, check_pipeline
from signalinject._backend import BLOCK_BYTES, cpu_route
from signalinject.text import _best_subset_below

# Characters that exercise every branch: letters of both cases, digits, punctuation of the
# alphabet, the space and the new line, characters outside the alphabet (tab, accents, an emoji),
# the Kelvin sign (lower-cases to "k") and "İ" (lower-cases to two characters: left alone).
CHARS = [*"aAbBzZ09-,;.!~_ \n\t", "é", "Ç", "ü", "😀", "\u212a", "İ", "ß"]
text = st.text(alphabet=st.sampled_from(CHARS), max_size=40)
# Long texts without slow generation: a short text repeated, up to ~2,000 characters.
long_text = st.builds(lambda t, n: t * n, st.text(st.sampled_from(CHARS), min_size=1, max_size=25),
                      st.integers(0, 80))  # fmt: skip
PROPS = settings(max_examples=40, deadline=None)

Q = si.CharQuantizer(length=24)  # a small frame: texts longer than it are cheap to generate


def _lower1(c: str) -> str:
    low = c.lower()
    return low if len(low) == 1 else c


def reference_encode(t: str, q: si.CharQuantizer) -> list[int]:
    """A plain per-character reference of Zhang's quantization."""
    codes = [q.alphabet.find(_lower1(c) if q.lowercase else c) + 1 for c in t[: q.length]]
    if q.reverse:
        codes = codes[::-1]
    return codes + [0] * (q.length - len(codes))


# -- the alphabet --------------------------------------------------------------------------------
def test_zhang_alphabet_is_crepes_list_deduplicated_plus_the_new_line() -> None:
    # The literal string of zhangxiangxiao/Crepe, train/config.lua (69 characters, "-" twice).
    crepe = "abcdefghijklmnopqrstuvwxyz0123456789-,;.!?:'\"/\\|_@#$%^&*~`+-=<>()[]{}"
    assert len(crepe) == 69
    assert crepe.count("-") == 2
    assert "".join(dict.fromkeys(crepe)) + "\n" == si.ZHANG_ALPHABET
    assert len(si.ZHANG_ALPHABET) == len(set(si.ZHANG_ALPHABET)) == 69
    assert " " not in si.ZHANG_ALPHABET
    assert si.CharQuantizer().code_of("-") == 37
    assert si.CharQuantizer().code_of("\n") == 69
    assert si.CharQuantizer().code_of(" ") == 0


# -- the quantizer: exact encodings ----------------------------------------------------------------
def test_encode_exact_codes() -> None:
    q = si.CharQuantizer(length=10)
    got = q.encode(["Hi, you!", "", "a\tb\nc"]).tolist()
    assert got == [
        [8, 9, 38, 0, 25, 15, 21, 41, 0, 0],
        [0] * 10,
        [1, 0, 2, 69, 3, 0, 0, 0, 0, 0],
    ]


def test_encode_cuts_to_the_first_length_characters() -> None:
    q = si.CharQuantizer(length=3)
    assert q.encode(["abcdef"]).tolist() == [[1, 2, 3]]
    assert si.CharQuantizer(length=3, reverse=True).encode(["abcdef"]).tolist() == [[3, 2, 1]]


def test_encode_backward_order_keeps_padding_at_the_end() -> None:
    q = si.CharQuantizer(length=6, reverse=True)
    assert q.encode(["abc", "", "a"]).tolist() == [[3, 2, 1, 0, 0, 0], [0] * 6, [1, 0, 0, 0, 0, 0]]


def test_encode_lowercases_per_code_point_keeping_positions() -> None:
    q = si.CharQuantizer(length=4)
    # KELVIN SIGN lower-cases to "k"; "İ" lower-cases to two characters and stays (code 0).
    assert q.encode(["\u212aİK"]).tolist() == [[11, 0, 11, 0]]
    assert si.CharQuantizer(length=2, lowercase=False).encode(["aA"]).tolist() == [[1, 0]]


def test_encode_unicode_outside_the_alphabet_is_zero() -> None:
    q = si.CharQuantizer(length=6)
    assert q.encode(["é😀x\U0010ffff\ud800z"]).tolist() == [[0, 0, 24, 0, 0, 26]]


def test_encode_custom_alphabet_and_dtypes() -> None:
    q = si.CharQuantizer(alphabet="xy ", length=4)
    assert q.encode(["y x!"]).tolist() == [[2, 3, 1, 0]]
    assert q.encode(["y"], dtype=np.uint8).dtype == np.uint8
    t = q.encode(["y"], backend="torch", dtype=torch.int16)
    assert isinstance(t, torch.Tensor)
    assert t.dtype == torch.int16
    assert t.tolist() == [[2, 0, 0, 0]]
    assert isinstance(q.encode(["y"], device="cpu"), torch.Tensor)


def test_decode_exact() -> None:
    q = si.CharQuantizer(length=8)
    codes = np.array([[8, 9, 38, 0, 25, 0, 0, 0]])
    assert q.decode(codes) == ["hi, y"]
    assert q.decode(codes, strip=False) == ["hi, y   "]
    assert q.decode(torch.from_numpy(codes)) == ["hi, y"]


def test_one_hot_exact() -> None:
    q = si.CharQuantizer(alphabet="ab", length=3)
    codes = np.array([[2, 0, 1]])
    assert q.one_hot(codes).tolist() == [[[0, 0, 1], [1, 0, 0]]]
    assert q.one_hot(codes, channels_first=False).tolist() == [[[0, 1], [0, 0], [1, 0]]]
    assert q.one_hot(codes).dtype == np.float32
    assert q.one_hot(torch.from_numpy(codes), dtype=torch.float64).dtype == torch.float64


def test_one_hot_default_shape_is_zhangs_frame() -> None:
    q = si.CharQuantizer()
    assert q.one_hot(q.encode(["abc"], backend="torch")).shape == (1, 69, 1014)


# -- the quantizer: properties -------------------------------------------------------------------
@PROPS
@given(st.lists(st.one_of(text, long_text), max_size=6), st.booleans(), st.booleans())
def test_encode_matches_the_per_character_reference(
    texts: list[str], lowercase: bool, reverse: bool
) -> None:
    q = si.CharQuantizer(length=24, lowercase=lowercase, reverse=reverse)
    got = q.encode(texts)
    assert got.shape == (len(texts), 24)
    assert got.dtype == np.int64
    assert got.tolist() == [reference_encode(t, q) for t in texts]
    assert torch.equal(q.encode(texts, backend="torch"), torch.from_numpy(got))


@PROPS
@given(st.lists(st.one_of(text, long_text), max_size=6), st.booleans())
def test_decode_inverts_encode_up_to_what_the_codes_lose(texts: list[str], reverse: bool) -> None:
    q = si.CharQuantizer(length=24, reverse=reverse)
    seen = ["".join(_lower1(c) if _lower1(c) in q.alphabet else " " for c in t[:24]) for t in texts]
    # Padding is code 0 like the space: forward decoding drops trailing spaces, backward leading.
    want = [s.lstrip(" ") if reverse else s.rstrip(" ") for s in seen]
    assert q.decode(q.encode(texts)) == want
    assert q.encode(q.decode(q.encode(texts))).tolist() == q.encode(texts).tolist()


@PROPS
@given(st.lists(text, max_size=5))
def test_one_hot_rows_are_the_codes(texts: list[str]) -> None:
    q = Q
    codes = q.encode(texts)
    hot = q.one_hot(codes)
    assert hot.shape == (len(texts), q.size, q.length)
    assert (hot.sum(1) == (codes != 0)).all()
    assert (np.where(codes != 0, hot.argmax(1) + 1, 0) == codes).all()
    assert np.array_equal(q.one_hot(torch.from_numpy(codes)).numpy(), hot)


# -- the injectors: one shared checker -------------------------------------------------------------
QS = si.CharQuantizer(length=24)
INJECTORS: dict[str, si.TextInjector] = {
    "mnemonic": si.Mnemonic(5, quantizer=QS),
    "mnemonic-chars": si.Mnemonic(4, chars="~ z\n", quantizer=QS),
    "length": si.LengthEncoding(5, quantizer=QS),
    "length-pad": si.LengthEncoding(4, lengths=(0, 5, 17, 24), pad="_", quantizer=QS),
    "pattern": si.PatternChar(8, positions=(3, 7, 12), quantizer=QS),
    "pattern-rare": si.PatternChar(6, positions=(0, 5, 23), char="~", quantizer=QS),
    "mnemonic-zhang": si.Mnemonic(5),
    "length-zhang": si.LengthEncoding(5),
    "pattern-zhang": si.PatternChar(8),
}
NAMES = list(INJECTORS)


def _batch(draw: Callable[..., Any], inj: si.TextInjector) -> tuple[list[str], np.ndarray]:
    texts = draw(st.lists(st.one_of(text, long_text), max_size=8))
    y = draw(st.lists(st.integers(0, inj.num_classes - 1), min_size=len(texts),
                      max_size=len(texts)))  # fmt: skip
    return texts, np.asarray(y, dtype=np.int64).reshape(-1)


def _variant(inj: si.TextInjector, data: st.DataObject) -> si.TextInjector:
    return dataclasses.replace(
        inj,
        seed=data.draw(st.integers(0, 2**64 - 1)),
        coverage=data.draw(st.sampled_from([1.0, 0.6])),
        fidelity=data.draw(st.sampled_from([1.0, 0.7])),
    )


def _only_nonzero_chars(inj: si.TextInjector) -> bool:
    """LengthEncoding with a non-space pad agrees on codes only for texts ending in a code."""
    return isinstance(inj, si.LengthEncoding) and inj.pad != " "


@pytest.mark.parametrize("name", NAMES)
def test_the_shared_checker_at_every_level(name: str) -> None:
    inj = dataclasses.replace(INJECTORS[name], coverage=0.7, fidelity=0.6, seed=4)
    q = inj.resolved_quantizer
    texts = ["", "hello world", "Crème brûlée!" * 3, "x" * (q.length + 5), "a b c", "the end"]
    y = np.arange(len(texts)) % inj.num_classes
    index = np.array([3, 0, 2**35, 9, 1, 77])
    check_injector(inj, texts, y, index=index)
    for codes in (q.encode(texts, dtype=np.uint8), q.encode(texts, backend="torch")):
        labels = torch.from_numpy(y) if isinstance(codes, torch.Tensor) else y
        idx = torch.from_numpy(index) if isinstance(codes, torch.Tensor) else index
        check_injector(inj, codes, labels, index=idx)
        check_decode(inj, inj(codes, labels, index=idx))
        check_kernel(inj, codes, labels, index=idx)
        check_pipeline(inj, codes, labels, index=idx)


@pytest.mark.parametrize("name", NAMES)
@PROPS
@given(data=st.data())
def test_texts_and_codes_agree(name: str, data: st.DataObject) -> None:
    inj = _variant(INJECTORS[name], data)
    texts, y = _batch(data.draw, inj)
    if _only_nonzero_chars(inj):
        texts = [t for t in texts if all(c.isalnum() and c.isascii() for c in t)]
        y = y[: len(texts)]
    q = inj.resolved_quantizer
    before = copy.deepcopy(texts)
    injected = inj(texts, y)
    assert texts == before  # never mutated
    assert isinstance(injected, list)
    assert injected is not texts
    assert all(isinstance(t, str) for t in injected)
    codes = q.encode(texts, dtype=np.int16)
    codes_before = codes.copy()
    out = inj(codes, y)
    assert np.array_equal(codes, codes_before)
    assert out.dtype == np.int16
    assert out.shape == codes.shape
    assert np.array_equal(q.encode(injected, dtype=np.int16), out)
    # NumPy == torch, for the write and for the decode.
    out_t = inj(torch.from_numpy(codes), torch.from_numpy(y))
    assert out_t.dtype == torch.int16
    assert np.array_equal(out_t.numpy(), out)
    assert np.array_equal(inj.decode(out_t).numpy(), inj.decode(out))


@pytest.mark.parametrize("name", NAMES)
@PROPS
@given(data=st.data())
def test_per_sample_determinism_by_index(name: str, data: st.DataObject) -> None:
    inj = _variant(INJECTORS[name], data)
    texts, y = _batch(data.draw, inj)
    n = len(texts)
    index = np.asarray(data.draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n)),
                       dtype=np.int64).reshape(-1)  # fmt: skip
    keep = data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n)) if n else []
    full = inj(texts, y, index=index)
    sub = inj([texts[i] for i in keep], y[keep], index=index[keep])
    assert sub == [full[i] for i in keep]
    codes = inj.resolved_quantizer.encode(texts)
    full_c = inj(codes, y, index=index)
    assert np.array_equal(inj(codes[keep], y[keep], index=index[keep]), full_c[keep])
    # One sample at a time, with its index, is the same again.
    for i in keep[:2]:
        assert inj(texts[i], int(y[i]), index=int(index[i])) == full[i]
        assert np.array_equal(inj(codes[i], int(y[i]), index=int(index[i])), full_c[i])


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_and_pickle(name: str) -> None:
    inj = dataclasses.replace(INJECTORS[name], seed=7, coverage=0.5, fidelity=0.75)
    cfg = json.loads(json.dumps(inj.get_config()))
    back = si.from_config(cfg)
    assert back == inj
    assert pickle.loads(pickle.dumps(inj)) == inj
    texts = ["The quick brown fox jumps over the lazy dog. " * k for k in range(12)]
    y = np.arange(12) % inj.num_classes
    assert back(texts, y) == inj(texts, y)
    codes = inj.resolved_quantizer.encode(texts)
    assert np.array_equal(back(codes, y), inj(codes, y))


@pytest.mark.parametrize("name", NAMES)
def test_coverage_and_fidelity(name: str) -> None:
    inj = INJECTORS[name]
    texts = ["Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20] * 400
    y = np.arange(400) % inj.num_classes
    codes = inj.resolved_quantizer.encode(texts)
    none = dataclasses.replace(inj, coverage=0.0)
    assert none(texts, y) == texts
    assert np.array_equal(none(codes, y), codes)
    half = dataclasses.replace(inj, coverage=0.5, seed=3)
    changed = np.array([a != b for a, b in zip(half(texts, y), inj(texts, y), strict=True)])
    carried = half.codes(y, np.arange(400))[1]
    assert not np.asarray(changed)[carried].any()  # carried samples got the true signal
    assert 0.4 < carried.mean() < 0.6
    lie = dataclasses.replace(inj, fidelity=0.0)
    code, _ = lie.codes(y, np.arange(400))
    assert np.all(code != y)
    assert lie(texts, y) == inj(texts, code)


@pytest.mark.parametrize("name", NAMES)
def test_inplace(name: str) -> None:
    inj = INJECTORS[name]
    q = inj.resolved_quantizer
    texts = ["some text here", "", "x" * 30]
    y = np.array([1, 0, 1])
    codes = q.encode(texts)
    want = inj(codes, y)
    assert inj(codes, y, inplace=True) is codes
    assert np.array_equal(codes, want)
    t = torch.from_numpy(q.encode(texts))
    assert inj(t, torch.from_numpy(y), inplace=True) is t
    assert np.array_equal(t.numpy(), want)
    lst = list(texts)
    assert inj(lst, y, inplace=True) is lst
    assert lst == inj(texts, y)


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch(name: str) -> None:
    inj = INJECTORS[name]
    assert inj([], []) == []
    empty = np.zeros((0, inj.resolved_quantizer.length), np.int64)
    assert inj(empty, np.zeros(0, np.int64)).shape == empty.shape
    assert inj.decode(empty).shape == (0,)
    assert inj.decode([]).shape == (0,)


def test_compose_of_text_injectors_agrees_on_both_representations() -> None:
    c = si.Compose((si.Mnemonic(5), si.PatternChar(5, char="~"), si.LengthEncoding(5)))
    texts = ["Great food, slow service.", "Never again!!! " * 90, ""]
    y = np.array([4, 0, 2])
    q = si.CharQuantizer()
    assert np.array_equal(q.encode(c(texts, y)), c(q.encode(texts), y))
    assert c.decode(c(texts, y)).tolist() == [[4, 0, 2]] * 3


EDGE_TEXTS = [
    "",  # empty
    "abc",  # shorter than every position and length
    "Crème brûlée 😀 déjà vu, naïve café. " * 40,  # unicode, longer than 1014
    "x" * 1014,  # exactly the frame
    " " * 300,  # only spaces: code 0 throughout
]


@pytest.mark.parametrize("name", ["mnemonic-zhang", "length-zhang", "pattern-zhang"])
def test_edge_texts_with_the_zhang_defaults(name: str) -> None:
    inj = INJECTORS[name]
    q = si.CharQuantizer()
    for k in range(inj.num_classes):
        y = np.full(len(EDGE_TEXTS), k)
        out = inj(EDGE_TEXTS, y)
        assert np.array_equal(q.encode(out), inj(q.encode(EDGE_TEXTS), y))
        if not isinstance(inj, si.PatternChar):  # PatternChar with the space is partial
            assert inj.decode(out).tolist() == [k] * len(EDGE_TEXTS)


def test_numpy_array_of_texts_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"got <U3 \(texts go in as a list of str"):
        si.Mnemonic(2)(np.array(["abc", "def"]), [0, 1])


# -- decoding ------------------------------------------------------------------------------------
@PROPS
@given(st.lists(st.one_of(text, long_text), max_size=8), st.data())
def test_mnemonic_decode_is_exact_on_both(texts: list[str], data: st.DataObject) -> None:
    for inj in (INJECTORS["mnemonic"], INJECTORS["mnemonic-chars"], INJECTORS["mnemonic-zhang"]):
        y = np.asarray(data.draw(st.lists(st.integers(0, inj.num_classes - 1),
                                          min_size=len(texts), max_size=len(texts))),
                       dtype=np.int64).reshape(-1)  # fmt: skip
        assert np.array_equal(inj.decode(inj(texts, y)), y)
        codes = inj.resolved_quantizer.encode(texts, backend="torch")
        assert torch.equal(inj.decode(inj(codes, torch.from_numpy(y))), torch.from_numpy(y))


@PROPS
@given(st.lists(st.one_of(text, long_text), max_size=8), st.data())
def test_length_encoding_decode(texts: list[str], data: st.DataObject) -> None:
    for name in ("length", "length-pad"):
        inj = INJECTORS[name]
        assert isinstance(inj, si.LengthEncoding)
        n = len(texts)
        y = np.asarray(data.draw(st.lists(st.integers(0, inj.num_classes - 1), min_size=n,
                                          max_size=n)), dtype=np.int64).reshape(-1)  # fmt: skip
        assert np.array_equal(inj.decode(inj(texts, y)), y)  # exact on texts
        codes = inj.resolved_quantizer.encode(texts)
        got = inj.decode(inj(codes, y))
        # On codes the used length never exceeds the class length: the decoded class's length
        # is at most the true one, and exact where the text's last kept character has a code.
        lens = np.asarray(inj.class_lengths)
        assert (lens[got] <= lens[y]).all()
        assert (got >= 0).all()
        q = inj.resolved_quantizer
        for t, k, g in zip(texts, y, got, strict=True):
            kept = t[: lens[k]]
            if (len(kept) == lens[k] and lens[k] and q.code_of(kept[-1])) or (
                inj.pad != " " and (not kept or q.code_of(kept[-1]))
            ):
                assert g == k


@PROPS
@given(st.lists(st.one_of(text, long_text), max_size=8), st.data())
def test_pattern_char_decode_with_a_rare_char_is_exact(
    texts: list[str], data: st.DataObject
) -> None:
    inj = INJECTORS["pattern-rare"]
    texts = [t.replace("~", "x") for t in texts]  # the only ambiguity: "~" already there
    n = len(texts)
    y = np.asarray(data.draw(st.lists(st.integers(0, inj.num_classes - 1), min_size=n,
                                      max_size=n)), dtype=np.int64).reshape(-1)  # fmt: skip
    assert np.array_equal(inj.decode(inj(texts, y)), y)
    codes = inj.resolved_quantizer.encode(texts)
    assert np.array_equal(inj.decode(inj(codes, y)), y)


@PROPS
@given(st.lists(st.one_of(text, long_text), max_size=8), st.data())
def test_pattern_char_set_bits_always_read_set(texts: list[str], data: st.DataObject) -> None:
    # With K = 2**bits every read pattern is a label: the decode is a superset of the label's
    # bits (a clear bit reads set where the text already holds the character).
    inj = INJECTORS["pattern"]
    n = len(texts)
    y = np.asarray(data.draw(st.lists(st.integers(0, 7), min_size=n, max_size=n)),
                   dtype=np.int64).reshape(-1)  # fmt: skip
    for got in (inj.decode(inj(texts, y)), inj.decode(inj(Q.encode(texts), y))):
        assert ((y & ~got) == 0).all()


def _patterns(m: int) -> st.SearchStrategy[tuple[int, int, list[int]]]:
    """``(bits, K, read patterns)`` with 2 <= K <= 2**bits."""
    return st.tuples(
        st.just(m), st.integers(2, 2**m), st.lists(st.integers(0, 2**m - 1), max_size=20)
    )


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6).flatmap(_patterns))
def test_best_subset_below_is_the_brute_force_rule(args: tuple[int, int, list[int]]) -> None:
    m, k, bs = args
    b = np.asarray(bs, dtype=np.int64).reshape(-1)

    def brute(v: int) -> int:
        subsets = [u for u in range(k) if u & ~v == 0]
        return max(subsets, key=lambda u: (bin(u).count("1"), u))

    want = [brute(v) for v in bs]
    assert _best_subset_below(b, k, m).tolist() == want
    assert _best_subset_below(torch.from_numpy(b), k, m).tolist() == want


def test_decode_returns_minus_one_without_a_signal() -> None:
    assert si.Mnemonic(3).decode(["zebra", "abc", ""]).tolist() == [-1, 0, -1]
    assert si.LengthEncoding(2, lengths=(3, 5)).decode(["abc", "ab", "abcde"]).tolist() == [
        0, -1, 1
    ]  # fmt: skip
    q = si.CharQuantizer(length=8)
    le = si.LengthEncoding(2, lengths=(3, 5), quantizer=q)
    assert le.decode(q.encode(["abcdefgh", "ab", "abcd "])).tolist() == [-1, 0, 1]


# -- exact encodings of the paper's rules ----------------------------------------------------------
def test_mnemonic_exact() -> None:
    inj = si.Mnemonic(5)
    assert inj.class_chars == ("a", "b", "c", "d", "e")
    assert inj(["great food", "", "Meh"], np.array([2, 4, 0])) == ["creat food", "e", "aeh"]
    assert inj("x", 1) == "b"
    codes = si.CharQuantizer().encode(["great food", ""])
    out = inj(codes, np.array([2, 4]))
    assert out[:, 0].tolist() == [3, 5]
    assert np.array_equal(out[:, 1:], codes[:, 1:])
    assert si.Mnemonic(2, chars=(" ", "~"))(["abc", "abc"], [0, 1]) == [" bc", "~bc"]
    assert si.Mnemonic(70).class_chars[-1] == " "  # the space is the 70th character


def test_length_encoding_exact() -> None:
    assert si.LengthEncoding(5).class_lengths == (202, 405, 608, 811, 1014)
    inj = si.LengthEncoding(3, lengths=(2, 4, 6), pad="_")
    assert inj(["hello", "hi", "hey", ""], [0, 2, 1, 1]) == ["he", "hi____", "hey_", "____"]
    q = si.CharQuantizer(length=6)
    le = si.LengthEncoding(3, lengths=(0, 2, 6), quantizer=q)
    out = le(q.encode(["abcdef", "abcdef", "abc"]), np.array([0, 1, 2]))
    assert out.tolist() == [[0] * 6, [1, 2, 0, 0, 0, 0], [1, 2, 3, 0, 0, 0]]


def test_length_encoding_with_a_pad_code_pads_after_the_last_code() -> None:
    q = si.CharQuantizer(length=6)
    le = si.LengthEncoding(2, lengths=(1, 5), pad="_", quantizer=q)
    codes = q.encode(["ab", "ab "])
    out = le(codes, np.array([1, 1]))
    assert out.tolist() == [[1, 2, 49, 49, 49, 0]] * 2
    # The texts differ where the codes cannot: a trailing space is padding on codes.
    assert le(["ab", "ab "], [1, 1]) == ["ab___", "ab __"]


def test_pattern_char_exact() -> None:
    inj = si.PatternChar(8)
    assert inj.positions == (50, 150, 200)
    t = "a" * 300
    out = inj(t, 5)  # 0b101: positions 50 and 200
    assert [i for i, c in enumerate(out) if c != "a"] == [50, 200]
    assert set(out[50] + out[200]) == {" "}
    codes = si.CharQuantizer().encode([t])
    assert (inj(codes, np.array([5])) == 0).sum() == (codes == 0).sum() + 2
    assert inj.decode(out) == 5


def test_pattern_char_pads_short_texts_with_spaces() -> None:
    inj = si.PatternChar(8)
    out = inj("abc", 2)  # bit 1: position 150
    assert out == "abc" + " " * 148
    assert len(inj("abc", 4)) == 201
    assert inj("abc", 0) == "abc"
    # Past the text, a clear bit reads as the space: the paper's partial information.
    assert inj.decode(out) == 7
    rare = si.PatternChar(8, char="~")
    assert rare("abc", 2) == "abc" + " " * 147 + "~"
    assert rare.decode(rare("abc", 2)) == 2


def test_pattern_char_with_fewer_classes_picks_the_likeliest_label() -> None:
    inj = si.PatternChar(5, positions=(0, 1, 2), char="~")
    # Read 0b111 = 7 is no label (K=5): the labels that are subsets with the most bits: 3.
    assert inj.decode(["~~~"]).tolist() == [3]
    # 0b101 = 5 is no label either: 4 and 1 have one of its bits each; ties go to the larger.
    assert inj.decode(["~x~", "x~x", "~~x"]).tolist() == [4, 2, 3]


def test_single_sample_decode_is_zero_d() -> None:
    inj = si.Mnemonic(5)
    q = si.CharQuantizer()
    row = q.encode(["abc"])[0]
    assert inj.decode(inj(row, 3)).shape == ()
    assert int(inj.decode(inj(row, 3))) == 3
    assert int(inj.decode(inj("abc", 3))) == 3


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    texts = ["Great food, slow service. " * k for k in range(50)]
    y = torch.arange(50) % 5
    q = si.CharQuantizer()
    cpu = q.encode(texts, backend="torch")
    gpu = q.encode(texts, device="cuda")
    assert gpu.device.type == "cuda"
    for inj in (si.Mnemonic(5), si.LengthEncoding(5, pad="~"), si.PatternChar(5)):
        inj = dataclasses.replace(inj, coverage=0.7, fidelity=0.8, seed=11)
        a, b = inj(cpu, y), inj(gpu, y.cuda())
        assert b.device.type == "cuda"
        assert torch.equal(a, b.cpu())
        assert torch.equal(inj.decode(a), inj.decode(b).cpu())
    assert torch.equal(q.one_hot(gpu).cpu(), q.one_hot(cpu))


# -- the codes path: block writes and the torch path of accelerators vs a plain reference ---------
def _char_code(q: si.CharQuantizer, ch: str) -> int:
    return q.alphabet.find(ch) + 1  # 0 for the space outside the alphabet


def reference_codes(
    inj: si.TextInjector, codes: np.ndarray, y: np.ndarray, index: np.ndarray
) -> np.ndarray:
    """Each signal's write on codes ``(N, L)``, one cell at a time in plain Python."""
    code, carried = inj.codes(y, index)
    q = inj.resolved_quantizer
    out = codes.copy()
    for i, row in enumerate(out):  # each row a view of out
        if not carried[i]:
            continue
        c = int(code[i])
        if isinstance(inj, si.Mnemonic):
            row[0] = _char_code(q, inj.class_chars[c])
        elif isinstance(inj, si.LengthEncoding):
            n, pad = inj.class_lengths[c], _char_code(q, inj.pad)
            used = max((j + 1 for j in range(len(row)) if row[j] != 0), default=0)
            for j in range(len(row)):
                if j >= n:
                    row[j] = 0  # the cut
                elif j >= used:
                    row[j] = pad  # padding after the last non-zero code
        else:
            assert isinstance(inj, si.PatternChar)
            for j, p in enumerate(inj.positions):
                if (c >> j) & 1:
                    row[p] = _char_code(q, inj.char)
    return out


CODE_INJECTORS: dict[str, si.TextInjector] = {
    **INJECTORS,
    "length-zhang-pad": si.LengthEncoding(5, pad="~"),
    "pattern-zhang-rare": si.PatternChar(8, positions=(0, 500, 1013), char="~"),
}


def _code_batch(
    data: st.DataObject, inj: si.TextInjector, dtype: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random codes as texts give them: zeros (spaces) inside, zero padding after a used length
    (0 to the full frame), a few rows all zero; labels and indices."""
    q = inj.resolved_quantizer
    n = data.draw(st.integers(0, 40))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    codes = rng.integers(1, q.size + 1, (n, q.length))
    codes[rng.random((n, q.length)) < 0.2] = 0
    codes[np.arange(q.length) >= rng.integers(0, q.length + 1, (n, 1))] = 0
    y = rng.integers(0, inj.num_classes, n)
    index = rng.integers(0, 2**40, n)
    return codes.astype(dtype), y, index


def _check_all_paths(
    inj: si.TextInjector, codes: np.ndarray, y: Any, index: Any, want: np.ndarray
) -> None:
    """NumPy, a CPU tensor (through its NumPy view) and the torch path of accelerators (run on
    the CPU), each as a new output and in place, give ``want``; a new output leaves ``x``."""
    as_t = (lambda v: torch.from_numpy(np.asarray(v))) if isinstance(y, np.ndarray) else None
    ty, ti = (as_t(y), as_t(index)) if as_t else (y, index)
    for device_path in (False, True):
        with cpu_route(tensor_views=not device_path):
            for x in (codes.copy(), torch.from_numpy(codes.copy())):
                lab, idx = (ty, ti) if isinstance(x, torch.Tensor) else (y, index)
                before = copy.deepcopy(x)
                out = inj(x, lab, index=idx)
                got = out.numpy() if isinstance(out, torch.Tensor) else out
                assert type(out) is type(x)
                assert got.dtype == want.dtype
                assert np.array_equal(got, want)
                assert np.array_equal(np.asarray(x), np.asarray(before))
                assert inj(x, lab, index=idx, inplace=True) is x
                assert np.array_equal(np.asarray(x), want)


@pytest.mark.parametrize("name", list(CODE_INJECTORS))
@PROPS
@given(data=st.data())
def test_codes_match_the_plain_reference_on_every_path(name: str, data: st.DataObject) -> None:
    inj = _variant(CODE_INJECTORS[name], data)
    dtype = data.draw(st.sampled_from([np.int64, np.int16, np.uint8]))
    codes, y, index = _code_batch(data, inj, dtype)
    want = reference_codes(inj, codes, y, index)
    row_bytes = codes.shape[1] * codes.itemsize
    # One row per block, blocks that end inside a row's bytes, the default: the same result.
    block = data.draw(st.sampled_from([1, 3 * row_bytes + 5, BLOCK_BYTES["text"]]))
    with cpu_route(block_bytes=block):
        _check_all_paths(inj, codes, y, index, want)
        if len(codes):  # one row, one label, one index
            _check_all_paths(inj, codes[0], int(y[0]), int(index[0]), want[0])


def test_zhang_frame_cut_and_pad_exact() -> None:
    # Rows of every used length class: empty, inside each class length, on one, the full frame.
    q = si.CharQuantizer()
    lens = [0, 1, 150, 202, 203, 500, 811, 1013, 1014]
    codes = np.where(np.arange(1014) < np.array(lens)[:, None], 7, 0).astype(np.int64)
    y = np.arange(len(lens)) % 5
    for pad, code in ((" ", 0), ("~", q.code_of("~"))):
        inj = si.LengthEncoding(5, pad=pad, coverage=0.8, fidelity=0.9, seed=5)
        want = reference_codes(inj, codes, y, np.arange(len(lens)))
        assert (want != codes).any()
        _check_all_paths(inj, codes, y, np.arange(len(lens)), want)
        cls, carried = inj.codes(y, np.arange(len(lens)))
        for i, n in enumerate(lens):  # the rule itself, against the class length
            ell = inj.class_lengths[cls[i]]
            if carried[i]:
                pad_cells = [code] * max(0, ell - n)
                assert want[i].tolist() == [7] * min(n, ell) + pad_cells + [0] * (1014 - ell)
            else:
                assert np.array_equal(want[i], codes[i])


def test_codes_keep_the_layout_of_a_copy() -> None:
    inj = si.LengthEncoding(5, pad="~")
    codes = si.CharQuantizer().encode(["a short text", "x" * 900, "yz " * 300])
    y = np.array([4, 0, 2])
    want = inj(codes, y)
    fortran = np.asfortranarray(codes)
    out = inj(fortran, y)
    assert out.flags.c_contiguous  # as fortran.copy() is
    assert np.array_equal(out, want)
    strided = np.zeros((6, 1014), np.int64)[::2]
    strided[...] = codes
    assert np.array_equal(inj(strided, y), want)
    t = torch.from_numpy(np.ascontiguousarray(codes.T)).T  # column-major tensor
    out_t = inj(t, torch.from_numpy(y))
    assert out_t.stride() == t.clone().stride()
    assert np.array_equal(out_t.numpy(), want)


def test_torch_codes_of_unsigned_dtypes_on_the_cpu() -> None:
    # Through the NumPy view: no torch kernel is needed for uint16/uint32 (aminmax has none).
    codes = si.CharQuantizer().encode(["some text here", "more"], dtype=np.uint16)
    y = np.array([1, 3])
    for inj in (si.Mnemonic(5), si.LengthEncoding(5, pad="~"), si.PatternChar(5, char="~")):
        want = inj(codes, y)
        for dt in (torch.uint16, torch.uint32):
            t = torch.from_numpy(codes.astype(np.int64)).to(dt)
            out = inj(t, torch.from_numpy(y))
            assert out.dtype == dt
            assert np.array_equal(out.to(torch.int64).numpy(), want.astype(np.int64))
            assert np.array_equal(inj.decode(out).numpy(), inj.decode(want))


@pytest.mark.parametrize("name", ["mnemonic-zhang", "length-zhang", "length-zhang-pad",
                                  "pattern-zhang"])  # fmt: skip
def test_codes_peak_memory_is_one_copy(name: str) -> None:
    # tracemalloc sees every NumPy allocation: the output, the O(N) parameters, the block
    # temporaries. Full-size masks (N x L booleans) would add 1/8 of a copy each.
    inj = dataclasses.replace(CODE_INJECTORS[name], coverage=0.9, fidelity=0.9)
    n = 4000
    codes, y, _ = _code_batch_fixed(inj, n)
    inj(codes[:10], y[:10])  # lookup tables and caches outside the measurement
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = inj(codes, y)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert out.shape == codes.shape
    assert peak <= codes.nbytes + 256 * n + BLOCK_BYTES["text"] // 2


def _code_batch_fixed(inj: si.TextInjector, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    q = inj.resolved_quantizer
    codes = rng.integers(1, q.size + 1, (n, q.length))
    codes[np.arange(q.length) >= rng.integers(0, q.length + 1, (n, 1))] = 0
    return codes, rng.integers(0, inj.num_classes, n), np.arange(n)


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [None, b"bytes", 3])
def test_non_str_item_is_refused(bad: object) -> None:
    with pytest.raises(TypeError, match=r"Mnemonic: texts\[1\] must be a str, got"):
        si.Mnemonic(5)(["ok", bad], [0, 1])
    with pytest.raises(TypeError, match=r"CharQuantizer.encode: texts\[1\] must be a str"):
        si.CharQuantizer().encode(["ok", bad])  # type: ignore[list-item]


def test_texts_not_a_sequence_is_refused() -> None:
    with pytest.raises(TypeError, match=r"texts must be a sequence .* of str, got bytes"):
        si.Mnemonic(5)(b"abc", 0)
    with pytest.raises(TypeError, match=r"texts must be a sequence .* of str, got str"):
        si.CharQuantizer().encode("abc")


def test_labels_out_of_range() -> None:
    with pytest.raises(
        ValueError, match=r"y must hold labels in \[0, 4\] \(num_classes=5\), got 5"
    ):
        si.PatternChar(5)(["a", "b"], [0, 5])
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 4\]"):
        si.Mnemonic(5)(si.CharQuantizer().encode(["a"]), np.array([-1]))


def test_labels_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        si.Mnemonic(5)(["a", "b"], [0, 1, 2])


@pytest.mark.parametrize(
    ("make", "cap"),
    [
        (lambda: si.Mnemonic(71), 70),
        (lambda: si.PatternChar(9), 8),
        (lambda: si.PatternChar(3, positions=(4,)), 2),
        (lambda: si.LengthEncoding(1016), 1015),
    ],
)
def test_num_classes_above_capacity(make: Callable[[], object], cap: int) -> None:
    with pytest.raises(ValueError, match=f"exceeds the signal's capacity of {cap} classes"):
        make()


def test_duplicate_chars() -> None:
    with pytest.raises(ValueError, match=r"chars must be distinct .* 'a' is listed twice"):
        si.Mnemonic(3, chars="aba")


def test_chars_of_the_wrong_count() -> None:
    with pytest.raises(ValueError, match=r"chars must hold one character per class \(3\), got 2"):
        si.Mnemonic(3, chars="ab")


def test_chars_not_single_characters() -> None:
    with pytest.raises(TypeError, match=r"chars\[1\] must be a single character"):
        si.Mnemonic(2, chars=("a", "bc"))


def test_duplicate_lengths() -> None:
    with pytest.raises(ValueError, match=r"lengths must be distinct .* 5 is listed twice"):
        si.LengthEncoding(3, lengths=(5, 9, 5))


def test_lengths_of_the_wrong_count() -> None:
    with pytest.raises(ValueError, match=r"lengths must hold one length per class \(3\), got 2"):
        si.LengthEncoding(3, lengths=(5, 9))


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda: si.Mnemonic(2, chars="aA"), r"chars\[1\]='A'"),
        (lambda: si.Mnemonic(2, chars="aé"), r"chars\[1\]='é'"),
        (lambda: si.PatternChar(2, char="\t"), r"char='\\t'"),
        (lambda: si.LengthEncoding(2, pad="é"), r"pad='é'"),
        (lambda: si.Mnemonic(2, chars="xy", quantizer=si.CharQuantizer("abc")), r"chars\[0\]='x'"),
    ],
)
def test_code_character_outside_the_alphabet(make: Callable[[], object], what: str) -> None:
    with pytest.raises(ValueError, match=what + " is not in the quantizer's alphabet"):
        make()


def test_lengths_above_the_quantizer_length() -> None:
    with pytest.raises(ValueError, match=r"lengths\[1\] must be in \[0, 1014\], got 1015"):
        si.LengthEncoding(2, lengths=(10, 1015))
    with pytest.raises(ValueError, match=r"lengths\[0\] must be in \[0, 24\], got 30"):
        si.LengthEncoding(2, lengths=(30, 2), quantizer=QS)


def test_lengths_not_integers() -> None:
    with pytest.raises(TypeError, match=r"lengths\[0\] must be an integer, got 2.5"):
        si.LengthEncoding(2, lengths=(2.5, 3))  # type: ignore[arg-type]


@pytest.mark.parametrize("positions", [(50, 50, 200), (150, 50), (1, 3, 2)])
def test_positions_not_strictly_increasing(positions: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="positions must be strictly increasing"):
        si.PatternChar(2, positions=positions)


def test_positions_negative() -> None:
    with pytest.raises(ValueError, match=r"positions\[0\] must be in \[0, inf\], got -1"):
        si.PatternChar(2, positions=(-1, 5))


def test_positions_past_the_quantizer_length() -> None:
    with pytest.raises(
        ValueError, match="positions must be below the quantizer's length 24, got 30"
    ):
        si.PatternChar(2, positions=(3, 30), quantizer=QS)


def test_positions_empty() -> None:
    with pytest.raises(ValueError, match="positions must hold at least one position"):
        si.PatternChar(2, positions=())


def test_quantizer_not_a_quantizer() -> None:
    with pytest.raises(
        TypeError, match="Mnemonic: quantizer must be a CharQuantizer or None, got str"
    ):
        si.Mnemonic(2, quantizer="zhang")  # type: ignore[arg-type]


def test_codes_with_a_float_dtype() -> None:
    with pytest.raises(
        TypeError, match="PatternChar: codes must have an integer dtype, got float32"
    ):
        si.PatternChar(2)(np.zeros((1, 1014), np.float32), [0])


def test_codes_of_the_wrong_width() -> None:
    with pytest.raises(
        ValueError, match=r"codes must have the quantizer's length 1014 .* \(2, 10\)"
    ):
        si.Mnemonic(2)(np.zeros((2, 10), np.int64), [0, 1])


def test_codes_of_the_wrong_rank() -> None:
    with pytest.raises(ValueError, match=r"Mnemonic: codes must be \(N, 1014\) or one row"):
        si.Mnemonic(2)(np.zeros((2, 3, 1014), np.int64), [0, 1])


def test_codes_out_of_range() -> None:
    codes = np.zeros((1, 1014), np.int64)
    codes[0, 5] = 70
    with pytest.raises(ValueError, match=r"codes must be in \[0, 69\] .*got 70"):
        si.LengthEncoding(2)(codes, [0])
    with pytest.raises(ValueError, match=r"codes must be in \[0, 69\] .*got 70"):
        si.LengthEncoding(2).decode(codes)


@pytest.mark.parametrize("bad", [70, -3])
def test_codes_out_of_range_in_a_later_block(bad: int) -> None:
    codes = np.zeros((50, 1014), np.int64)
    codes[-1, -1] = bad
    y = np.zeros(50, np.int64)
    with cpu_route(block_bytes=1014 * 8):  # one row per block: the last fails
        for inj in (si.Mnemonic(2), si.LengthEncoding(2), si.PatternChar(2)):
            for x in (codes.copy(), torch.from_numpy(codes.copy())):
                for inplace in (False, True):
                    with pytest.raises(
                        ValueError, match=rf"codes must be in \[0, 69\] .*got {bad}"
                    ):
                        inj(x, y, inplace=inplace)
                    assert np.array_equal(np.asarray(x), codes)  # nothing written


def test_codes_out_of_range_are_named_before_bad_labels() -> None:
    codes = np.zeros((2, 1014), np.int64)
    codes[1, 0] = 99
    for x in (codes, torch.from_numpy(codes)):
        with pytest.raises(ValueError, match=r"codes must be in \[0, 69\] .*got 99"):
            si.Mnemonic(2)(x, [0, 5])
        with pytest.raises(ValueError, match=r"codes must be in \[0, 69\] .*got 99"):
            si.LengthEncoding(2)(x, [0, 1], index=[0, -1])
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 1\]"):
        si.Mnemonic(2)(np.zeros((2, 1014), np.int64), [0, 5])  # valid codes: the labels' turn


def test_labels_or_index_on_another_device_than_cpu_codes() -> None:
    # Parameters of CPU codes are drawn with NumPy, but a tensor off the CPU is named as such
    # (the meta device stands in for an accelerator).
    x = torch.zeros((2, 1014), dtype=torch.int64)
    on_meta = torch.zeros(2, dtype=torch.int64, device="meta")
    with pytest.raises(ValueError, match="y is on meta but the data is on cpu; move y to cpu"):
        si.Mnemonic(2)(x, on_meta)
    with pytest.raises(ValueError, match="index is on meta but the data is on cpu"):
        si.PatternChar(2)(x, torch.zeros(2, dtype=torch.int64), index=on_meta)


def test_negative_codes_of_a_narrow_signed_dtype() -> None:
    # Read as uint8, int8 -56 is 200 = the alphabet's size: only the sign tells it is invalid.
    alphabet = "".join(chr(0x4E00 + i) for i in range(200))
    q = si.CharQuantizer(alphabet, length=4)
    inj = si.Mnemonic(2, chars=(alphabet[0], alphabet[1]), quantizer=q)
    codes = np.array([[1, -56, 0, 0]], np.int8)
    for x in (codes, torch.from_numpy(codes)):
        with pytest.raises(ValueError, match=r"codes must be in \[0, 200\] .*got -56"):
            inj(x, [1])
        with pytest.raises(ValueError, match=r"codes must be in \[0, 200\] .*got -56"):
            inj.decode(x)
    assert inj(np.array([[1, 127, 0, 0]], np.int8), [1]).tolist() == [[2, 127, 0, 0]]


def test_codes_dtype_too_small_for_the_written_code() -> None:
    alphabet = "".join(chr(0x4E00 + i) for i in range(200))  # CJK: no case
    q = si.CharQuantizer(alphabet, length=4)
    inj = si.Mnemonic(2, chars=(alphabet[150], alphabet[0]), quantizer=q)
    with pytest.raises(ValueError, match="codes of dtype int8 cannot hold the code 151"):
        inj(np.zeros((1, 4), np.int8), [0])


def test_backward_codes_are_refused() -> None:
    q = si.CharQuantizer(reverse=True)
    inj = si.Mnemonic(2, quantizer=q)
    assert inj(["abc"], [1]) == ["bbc"]  # texts are fine
    with pytest.raises(ValueError, match="Mnemonic works on forward-order codes"):
        inj(q.encode(["abc"]), [1])


def test_quantizer_duplicate_alphabet() -> None:
    with pytest.raises(ValueError, match="alphabet must hold distinct characters, '-' is listed"):
        si.CharQuantizer("ab-c-")


def test_quantizer_empty_alphabet() -> None:
    with pytest.raises(ValueError, match="alphabet must hold at least one character"):
        si.CharQuantizer("")


def test_quantizer_alphabet_not_a_str() -> None:
    with pytest.raises(TypeError, match="alphabet must be a str of distinct characters, got"):
        si.CharQuantizer(["a", "b"])  # type: ignore[arg-type]


def test_quantizer_upper_case_alphabet_with_lowercase() -> None:
    with pytest.raises(ValueError, match="alphabet holds 'A', which lowercase=True turns into 'a'"):
        si.CharQuantizer("aA")
    assert si.CharQuantizer("aA", lowercase=False).encode(["Aa"], dtype=np.uint8).tolist() == [
        [2, 1] + [0] * 1012
    ]  # fmt: skip


def test_quantizer_bad_length() -> None:
    with pytest.raises(ValueError, match=r"length must be in \[1, 16777216\], got 0"):
        si.CharQuantizer(length=0)


def test_quantizer_bad_flag() -> None:
    with pytest.raises(TypeError, match="reverse must be a bool, got 1"):
        si.CharQuantizer(reverse=1)  # type: ignore[arg-type]


def test_encode_bad_backend() -> None:
    with pytest.raises(ValueError, match="backend must be 'numpy' or 'torch', got 'jax'"):
        si.CharQuantizer().encode(["a"], backend="jax")


def test_encode_bad_dtype() -> None:
    with pytest.raises(TypeError, match="dtype must be an integer dtype, got float32"):
        si.CharQuantizer().encode(["a"], dtype=np.float32)
    with pytest.raises(
        TypeError, match=r"dtype torch\.int32 is a torch dtype but backend is 'numpy'"
    ):
        si.CharQuantizer().encode(["a"], dtype=torch.int32)


def test_encode_dtype_too_small() -> None:
    q = si.CharQuantizer("".join(chr(0x4E00 + i) for i in range(300)))
    with pytest.raises(ValueError, match="dtype uint8 cannot hold codes up to 300"):
        q.encode(["a"], dtype=np.uint8)


def test_decode_bad_codes() -> None:
    q = si.CharQuantizer(length=4)
    with pytest.raises(
        ValueError, match=r"CharQuantizer.decode: codes must be \(N, L\), got shape \(4,\)"
    ):
        q.decode(np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"codes must be in \[0, 69\] .*got -1"):
        q.decode(np.full((1, 4), -1))
    with pytest.raises(
        TypeError, match=r"codes must be a numpy\.ndarray or a torch\.Tensor, got list"
    ):
        q.decode([[1, 2]])


def test_one_hot_bad_codes() -> None:
    with pytest.raises(
        TypeError, match=r"CharQuantizer\.one_hot: codes must have an integer dtype"
    ):
        si.CharQuantizer().one_hot(np.zeros((1, 3), np.float64))


def test_inplace_on_saved_codes_trips_autograd() -> None:
    """Codes written in place through their NumPy view still bump the autograd version: an
    embedding that saved them for its backward pass raises instead of a wrong gradient."""
    codes = torch.randint(1, 70, (3, 1014))
    emb = torch.nn.Embedding(70, 2)
    loss = emb(codes).sum()
    si.LengthEncoding(3)(codes, torch.tensor([0, 1, 2]), inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()  # type: ignore[no-untyped-call]
