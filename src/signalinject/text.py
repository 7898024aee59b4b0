"""The paper's three text signals (Section 3.2) and the base of every text signal.

Text reaches a character-level ConvNet as Zhang, Zhao & LeCun (2015) quantize it
([`CharQuantizer`][signalinject.quantizer.CharQuantizer], in `signalinject.quantizer`; also
importable from here). The three injectors of Hoffer et al. (2018) work on both representations:

- a sequence of ``str`` (returns a new ``list[str]``), and
- the integer codes of [`CharQuantizer.encode`][signalinject.quantizer.CharQuantizer.encode], ``(N,
  length)`` or one row ``(length,)``, NumPy or torch (returns the same type, dtype, shape and
  device).

Each injector learns the quantizer from its ``quantizer`` field (default ``None``: the Zhang
quantizer ``CharQuantizer()``); on codes it writes a character as the quantizer's code of it,
so that ``quantizer.encode(inj(texts, y)) == inj(quantizer.encode(texts), y)``, for texts of any
length (one exception: [`LengthEncoding`][signalinject.text.LengthEncoding] with a pad other than
the space). The characters an injector writes must therefore be in the quantizer's alphabet, or be
the space (code 0). On codes
the injectors need the forward order (``reverse=False``): in Zhang's backward order a text's first
character sits at a column that depends on its length, which zero padding hides. Inject into the
texts before a backward encoding.

Per-sample parameters (which class a sample's signal encodes and whether it carries one) come
from ``(seed, index)`` through [`codes`][signalinject.core.Injector.codes]; on codes the write is
vectorized. On the CPU (NumPy, and tensors through their NumPy view) the copy of the input, the
range check of the codes and the write go block by block of rows while each block is in the
cache: one pass over memory, so that an injection costs about a copy. The string path is one
Python operation per text (slices), never per character. Measured on 2 shared CPU cores:
injecting into 100,000 x 1014 codes, median of 7:
uint8 (101 MB; a copy 11 ms) 17 ms (Mnemonic), 19 ms (PatternChar), 23 ms (LengthEncoding),
145 ms (LengthEncoding with ``pad="~"``); int64 (811 MB) 0.75-0.95x the time of ``x.copy()``.

Examples:
    >>> import numpy as np
    >>> import signalinject as si
    >>> inj = si.Mnemonic(num_classes=3, seed=0)
    >>> x = inj(["hello", "world"], np.array([0, 2]))
    >>> x, inj.decode(x).tolist()
    (['aello', 'corld'], [0, 2])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np

from signalinject._backend import (
    Array,
    arange_like,
    as_int64,
    dtype_bounds,
    int_table,
    is_array,
    row_blocks,
    where,
)
from signalinject.core import Injector, Params, check_int
from signalinject.quantizer import (
    SPACE,
    check_code_array,
    check_code_values,
    check_texts,
    column_numbers,
    out_of_range,
    range_error,
    used_length,
)
from signalinject.quantizer import ZHANG_ALPHABET as ZHANG_ALPHABET  # importable from here too
from signalinject.quantizer import CharQuantizer as CharQuantizer

if TYPE_CHECKING:
    import torch
else:  # imported at its first use (see signalinject._backend)
    from signalinject._backend import torch

__all__ = [
    "LengthEncoding",
    "Mnemonic",
    "PatternChar",
    "TextFootprint",
    "TextInjector",
]

#: Where a text signal may write (`TextInjector.footprint`).
#:
#: The fixed character positions, and the position from which it may cut or pad the text (None:
#: the length is kept).
TextFootprint = tuple[frozenset[int], int | None]


@dataclasses.dataclass(frozen=True)
class CharParams(Params):
    """``value`` int64 ``(N,)``: the code each sample's first character gets (``Mnemonic``)."""

    value: Any


@dataclasses.dataclass(frozen=True)
class LengthParams(Params):
    """``length`` int64 ``(N,)``: the class length of each code; ``cut_class`` int64 ``(N,)``:
    the code where carried, else -1 (no cut) (``LengthEncoding``)."""

    length: Any
    cut_class: Any


@dataclasses.dataclass(frozen=True)
class BitParams(Params):
    """``write`` bool ``(N, P)``: True where bit j of the code is set and the sample carries
    the signal: position j gets the character (``PatternChar``)."""

    write: Any


#: Row blocks of LengthEncoding's masks on torch devices: the masks take 1/16 of the rows' cells.
_TORCH_BLOCKS = 16


# -- validation helpers --------------------------------------------------------------------------
def texts_out(x: str | list[str], new: list[str], inplace: bool) -> str | list[str]:
    """What a call on texts ``x`` returns: the one new text for a ``str``, else ``new`` (written
    into the list ``x`` itself with ``inplace``)."""
    if isinstance(x, str):
        return new[0]
    if inplace and isinstance(x, list):
        x[:] = new
        return x
    return new


# -- the base of text injectors ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TextInjector(Injector):
    """Base of the text signals: the injection template's hooks for texts and codes.

    Texts take a Python path (one slice operation per text); codes take the hooks of
    [`Injector`][signalinject.core.Injector]'s template: ``batch_view``, ``check_values``,
    ``apply`` with its blocked copy and range check, ``read``.

    Args:
        quantizer: the [`CharQuantizer`][signalinject.quantizer.CharQuantizer] whose codes the
            injector reads and writes (and whose alphabet and length bound its characters and
            lengths); ``None`` for the Zhang default ``CharQuantizer()``. A ``get_config()``
            dictionary of one is accepted.
    """

    kind: ClassVar[str] = "text"

    quantizer: CharQuantizer | None = dataclasses.field(default=None, kw_only=True)

    def _normalize(self) -> None:
        super()._normalize()
        q = self.quantizer
        if isinstance(q, Mapping):
            q = CharQuantizer(**q)
        if q is not None and not isinstance(q, CharQuantizer):
            raise TypeError(
                f"{type(self).__name__}: quantizer must be a CharQuantizer or None, got "
                f"{type(q).__name__}"
            )
        self._set("quantizer", q)

    @classmethod
    def for_benchmark(
        cls, num_classes: int, seed: int, *, strength: float | None = None, quantizer: Any = None
    ) -> Injector:
        """The paper's injector, writing codes of ``quantizer`` (None: Zhang's)."""
        if strength is not None:
            raise ValueError(f"signal {cls.name!r} has no strength")
        return cls(num_classes, seed=seed, quantizer=quantizer)

    @property
    def resolved_quantizer(self) -> CharQuantizer:
        """The quantizer in use: ``quantizer``, or the Zhang default ``CharQuantizer()``."""
        return _DEFAULT_QUANTIZER if self.quantizer is None else self.quantizer

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        if self.quantizer is not None:
            cfg["quantizer"] = self.quantizer.get_config()
        return cfg

    # -- dispatch -----------------------------------------------------------------------------
    def __call__(self, x: Any, y: Any, *, index: Any = None, inplace: bool = False) -> Any:
        """Inject the signal of labels ``y`` into texts or their codes.

        Args:
            x: a sequence of N ``str`` (or one ``str``), or codes ``(N, length)`` (or one row
                ``(length,)``) from the forward-order quantizer, NumPy or torch.
            y: int labels ``(N,)`` in [0, K) (NumPy, torch or list), or one integer.
            index: int sample indices ``(N,)`` keying the per-sample draws (default
                ``arange(N)``; one integer for one sample, default 0).
            inplace: write into ``x`` (codes, or a ``list`` of texts) instead of a copy.

        Returns:
            A new ``list[str]`` (a ``str`` for one text), or codes of the same type, dtype, shape
            and device as ``x``.
        """
        who = type(self).__name__
        if is_array(x):
            return self._inject(x, y, index, inplace, {})
        single = isinstance(x, str)
        texts = [x] if single else check_texts(x, who=who)
        like = np.empty(len(texts))  # the string path draws its parameters with NumPy
        labels = self.check_labels(y, like, single=single)
        idx = self.check_index(index, like, len(texts), single=single)
        code, carried = self.codes(labels, idx)
        return texts_out(x, self.apply_texts(texts, code.tolist(), carried.tolist()), inplace)

    def decode(self, x: Any, *, index: Any = None) -> Any:
        """Read the encoded class back from texts or codes.

        Returns:
            int64 labels ``(N,)`` (0-d for one sample): NumPy for texts, the backend and device
            of the codes otherwise; -1 where the data carries no class's signal (see each class).
            ``index`` is accepted for a uniform API; no text signal depends on it.
        """
        if is_array(x):
            return self._decode(x, index, {})
        single = isinstance(x, str)
        texts = [x] if single else check_texts(x, who=f"{type(self).__name__}.decode")
        like = np.empty(len(texts))
        self.check_index(index, like, len(texts), single=single)
        out_np = np.asarray(self.read_texts(texts), dtype=np.int64).reshape(len(texts))
        return out_np[0] if single else out_np

    def batch_view(self, x: Any, single: bool | None, **options: Any) -> tuple[Array, bool]:
        """The codes ``x`` validated, as ``(N, L)`` (one row: ``(1, L)``), and whether ``x`` was
        one row. A call (``single`` given) checks their dtype and shape, the values later
        ([`check_values`][signalinject.text.TextInjector.check_values], or block by block as
        ``apply`` copies them); ``decode`` (``single`` None) checks the values too."""
        return self._check_codes(x, values=single is None)

    def check_values(self, x: Array) -> None:
        """Refuse codes outside ``[0, size]`` of the quantizer: one pass."""
        check_code_values(x, who=type(self).__name__, size=self.resolved_quantizer.size)

    def read(self, x: Array, index: Array) -> Array:
        """[`read_codes`][signalinject.text.TextInjector.read_codes]: no text signal needs the
        index."""
        return self.read_codes(x)

    def _check_codes(self, x: Array, *, values: bool = True) -> tuple[Array, bool]:
        who, q = type(self).__name__, self.resolved_quantizer
        if q.reverse:
            raise ValueError(
                f"{who} works on forward-order codes, but its quantizer has reverse=True (the "
                f"columns of a text's characters then depend on its hidden length): inject into "
                f"the texts before encoding them backward"
            )
        if x.ndim not in (1, 2):
            raise ValueError(
                f"{who}: codes must be (N, {q.length}) or one row ({q.length},), got shape "
                f"{tuple(x.shape)}"
            )
        check_code_array(x, who=who, size=q.size, width=q.length, values=values)
        written = self._written_codes()
        if written and max(written) > dtype_bounds(x)[2]:
            if not values:
                check_code_values(x, who=who, size=q.size)  # bad codes are named first
            raise ValueError(
                f"{who}: codes of dtype {x.dtype} cannot hold the code {max(written)} it writes"
            )
        return (x[None] if x.ndim == 1 else x), x.ndim == 1

    def text_location(self, text: str) -> tuple[int, ...]:
        """The positions of an injected ``text`` that carry the signal (what ``show``
        outlines); default none."""
        return ()

    def footprint(self) -> TextFootprint | None:
        """Where the signal writes, over all classes and samples (what a later child of a
        ``Compose`` must leave alone): the fixed character positions it may write, and the
        position from which it may cut or pad the text (None: it keeps the length); None where
        the signal does not declare it (the default)."""
        return None

    def overwrites(self, earlier: Injector) -> str | None:
        """Why this signal, applied after ``earlier``, can overwrite its code, or None.

        Read from both signals' [`footprint`][signalinject.text.TextInjector.footprint]: a
        conflict where the two write a common fixed character, or where this signal cuts or
        pads the text before one of ``earlier``'s positions.
        """
        if not isinstance(earlier, TextInjector):
            return None  # an image signal writes elsewhere
        a, b = earlier.footprint(), self.footprint()
        if a is None or b is None:
            return None
        both = sorted(a[0] & b[0])
        if both:
            return f"both write character {both[0]}"
        if b[1] is not None and a[0] and max(a[0]) >= b[1]:
            return (
                f"{type(self).__name__} cuts texts to {b[1]} characters, before position "
                f"{max(a[0])}"
            )
        return None

    # -- what subclasses implement -----------------------------------------------------------
    def _written_codes(self) -> tuple[int, ...]:
        """Every code the injector may write on codes (for the dtype check)."""
        raise NotImplementedError

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        """The per-sample parameters for codes ``x`` ``(N, L)``: what class, whether carried.

        Every value has ``N`` rows (sliced per block of rows on the CPU), on ``x``'s backend;
        ``__call__`` passes CPU tensors as their NumPy view, so that they draw with NumPy.
        """
        return super().make_params(y, index, x)

    _fuses_copy = True

    def apply(self, out: Any, params: Params, *, source: Any = None) -> None:
        """Write into codes ``out`` ``(N, L)``, copied from ``source`` first if given (whose
        values are then checked as they are copied: see
        [`check_values`][signalinject.text.TextInjector.check_values]).

        NumPy (the CPU, also for tensors through their NumPy view): the copy, the range check
        and the write go block by block of rows (`row_blocks`), each block while it is in the
        cache: one pass over memory, no ``(N, L)`` temporary; a block out of range raises
        (``out`` is then partly written, never ``source``). Torch (an accelerator): a copy,
        the range check (its one host sync) and whole-batch writes without host syncs.
        """
        if isinstance(out, torch.Tensor):
            if source is not None:
                out.copy_(source)
                self.check_values(out)
            self.apply_codes(out, params)
            return
        n, width = out.shape
        size = self.resolved_quantizer.size
        for rows in row_blocks(n, width * out.itemsize, "text"):
            block = out[rows]
            if source is not None:
                np.copyto(block, source[rows])
                if out_of_range(block, size):
                    raise range_error(source, who=type(self).__name__, size=size)
            whole = rows.start == 0 and rows.stop == n  # one block: nothing to slice
            self.apply_codes(block, params if whole else params.take(rows))

    def apply_codes(self, out: Array, params: Params) -> None:
        """Write the signal into codes ``out`` ``(N, L)`` in place, vectorized over the rows.

        On the CPU ``out`` is one block of rows of the output (NumPy; ``params`` sliced to the
        same rows), on a torch device the whole batch (no host sync).
        """
        raise NotImplementedError

    def apply_texts(self, texts: list[str], code: list[int], carried: list[bool]) -> list[str]:
        """The injected texts (a new list; one slice operation per text)."""
        raise NotImplementedError

    def read_codes(self, x: Array) -> Array:
        """The decoding rule on codes ``(N, L)``: int64 ``(N,)``, same backend."""
        raise NotImplementedError

    def read_texts(self, texts: list[str]) -> list[int]:
        """The decoding rule on texts."""
        raise NotImplementedError


_DEFAULT_QUANTIZER = CharQuantizer()


def _check_chars(name: str, chars: object, k: int, q: CharQuantizer) -> tuple[str, ...]:
    """One writable, distinct character per class, as a tuple of 1-character strings."""
    if isinstance(chars, bytes) or not isinstance(chars, (str, Sequence)):
        raise TypeError(f"{name} must be a str or a sequence of characters, got {chars!r}")
    out = tuple(chars)
    if len(out) != k:
        raise ValueError(f"{name} must hold one character per class ({k}), got {len(out)}")
    for i, c in enumerate(out):
        q.writable_code(f"{name}[{i}]", c)
    if len(set(out)) != k:
        dup = next(c for i, c in enumerate(out) if c in out[:i])
        raise ValueError(
            f"{name} must be distinct so that the class can be read back, {dup!r} is listed twice"
        )
    return out


# -- the three signals ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Mnemonic(TextInjector):
    """The first character becomes a class-specific character (the paper's "mnemonic").

    Args:
        num_classes: number of classes K, at most the alphabet size (+1 for the space).
        chars: class k's character ``chars[k]`` (a str of K characters or a sequence of them),
            distinct, each in the quantizer's alphabet or the space. Default (None): the first K
            characters of the alphabet, ``"abc..."`` for Zhang's.

    An empty text becomes the class character alone. ``decode`` reads the first character back:
    exact on texts and on codes; -1 where the first character is no class's (no signal).

    Examples:
        >>> import signalinject as si
        >>> inj = si.Mnemonic(num_classes=5)
        >>> inj(["great food", "", "meh"], [2, 4, 0])
        ['creat food', 'e', 'aeh']
        >>> inj.decode(['creat food', 'e', 'aeh']).tolist()
        [2, 4, 0]
    """

    name: ClassVar[str] = "mnemonic"
    stream: ClassVar[int] = 0x7420F38B  # crc32(b"Mnemonic"), its 0.1.0 value
    legacy_id: ClassVar[str | None] = "signalinject.text.Mnemonic"
    paper_name: ClassVar[str | None] = "Mnemonic"
    writes: ClassVar[str] = "the first character"
    default_grid: ClassVar[bool] = True

    chars: str | tuple[str, ...] | None = None

    def _normalize(self) -> None:
        super()._normalize()
        if self.chars is not None:
            self._set(
                "chars",
                _check_chars("chars", self.chars, self.num_classes, self.resolved_quantizer),
            )

    def _capacity(self) -> int:
        q = self.resolved_quantizer  # normalized before the base class checks the capacity
        return q.size + (SPACE not in q.alphabet)

    @property
    def class_chars(self) -> tuple[str, ...]:
        """Each class's character (``chars`` or the first K of the alphabet, then the space)."""
        if self.chars is not None:
            return tuple(self.chars)
        q = self.resolved_quantizer
        pool = q.alphabet if SPACE in q.alphabet else q.alphabet + SPACE
        return tuple(pool[: self.num_classes])

    @property
    def class_codes(self) -> tuple[int, ...]:
        """Each class's code under the quantizer."""
        q = self.resolved_quantizer
        return tuple(q.writable_code("chars", c) for c in self.class_chars)

    def _written_codes(self) -> tuple[int, ...]:
        return self.class_codes

    def apply_texts(self, texts: list[str], code: list[int], carried: list[bool]) -> list[str]:
        chars = self.class_chars
        return [chars[c] + t[1:] if k else t for t, c, k in zip(texts, code, carried, strict=True)]

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        """``code``, ``carried`` and ``value``: the code written in column 0, int64 ``(N,)``."""
        p = super().make_params(y, index, x)
        return CharParams(p.code, p.carried, int_table(self.class_codes, x)[p.code])

    def apply_codes(self, out: Array, params: Params) -> None:
        carried, value = params.carried, cast("CharParams", params).value
        if isinstance(out, torch.Tensor):
            out[:, 0] = torch.where(carried, value, out[:, 0])
        else:  # no temporary; the value fits the dtype (checked against it before)
            np.copyto(out[:, 0], value, casting="unsafe", where=carried)

    def read_codes(self, x: Array) -> Array:
        inverse = [-1] * (self.resolved_quantizer.size + 1)
        for k, c in enumerate(self.class_codes):
            inverse[c] = k
        first = x[:, 0]
        first = as_int64(first)
        return int_table(inverse, x)[first]

    def text_location(self, text: str) -> tuple[int, ...]:
        return (0,)

    def footprint(self) -> TextFootprint | None:
        return frozenset({0}), None

    def read_texts(self, texts: list[str]) -> list[int]:
        inverse = {c: k for k, c in enumerate(self.class_chars)}
        return [inverse.get(t[:1], -1) for t in texts]


@dataclasses.dataclass(frozen=True)
class LengthEncoding(TextInjector):
    """The text is cut, or padded with ``pad``, to a class-specific length ("length encoding").

    Args:
        num_classes: number of classes K, at most ``length + 1`` of the quantizer.
        lengths: class k's length ``lengths[k]``, distinct, in ``[0, quantizer.length]``.
            Default (None): ``(k + 1) * length // K``, spread over the frame: 202, 405, 608, 811,
            1014 for K=5 and Zhang's 1014.
        pad: the padding character, in the quantizer's alphabet or the space (default, code 0).

    ``decode`` on texts reads the length: exact; -1 for a length of no class. On codes only the
    *used* length shows (1 + the last non-zero column): trailing spaces and characters outside
    the alphabet, including space padding, look like the quantizer's own zero padding. The rule
    returns the class of the smallest length >= the used length (-1 above every length): it errs
    where a text was padded with spaces (its used length is its own) or cut just after a long run
    of zero codes. Measured (CPython 3.11.7, random labels, K=5, default lengths) on the
    docstrings of 129 pure-Python standard-library modules (module, public classes, functions
    and methods; cleaned, >= 40 characters, distinct: 2,284 texts, median 151 characters) and on
    5,000 review-sized slices of them (400-1000 characters, median 701): on texts 100%; on codes
    with the space pad 35.1% and 79.2%, every error a padded text (the cut texts decode exactly,
    although 17.8% and 16.3% of them end in a zero code, which an exact-length rule would miss);
    with ``pad="~"`` 100% on both.

    ``quantizer.encode(inj(texts)) == inj(quantizer.encode(texts))`` for any texts with the space
    pad (a text longer than the frame included); with another pad, for texts whose last kept
    character has a non-zero code (else the codes pad from the last non-zero column).

    Examples:
        >>> import signalinject as si
        >>> inj = si.LengthEncoding(num_classes=3, lengths=(2, 4, 6), pad="_")
        >>> inj(["hello", "hi", "hey"], [0, 2, 1])
        ['he', 'hi____', 'hey_']
        >>> inj.decode(['he', 'hi____', 'hey_']).tolist()
        [0, 2, 1]
    """

    name: ClassVar[str] = "length_encoding"
    stream: ClassVar[int] = 0xFDA208D5  # crc32(b"LengthEncoding"), its 0.1.0 value
    legacy_id: ClassVar[str | None] = "signalinject.text.LengthEncoding"
    paper_name: ClassVar[str | None] = "Length encoding"
    writes: ClassVar[str] = "the end of the text (cut or padded to the class's length)"
    default_grid: ClassVar[bool] = True

    lengths: tuple[int, ...] | None = None
    pad: str = SPACE

    def _normalize(self) -> None:
        super()._normalize()
        q = self.resolved_quantizer
        if self.lengths is not None:
            if isinstance(self.lengths, (str, bytes)) or not isinstance(
                self.lengths, (Sequence, np.ndarray)
            ):
                raise TypeError(f"lengths must be a sequence of integers, got {self.lengths!r}")
            lens = tuple(
                check_int(f"lengths[{i}]", v, low=0, high=q.length)
                for i, v in enumerate(self.lengths)
            )
            if len(lens) != self.num_classes:
                raise ValueError(
                    f"lengths must hold one length per class ({self.num_classes}), got {len(lens)}"
                )
            if len(set(lens)) != len(lens):
                dup = next(v for i, v in enumerate(lens) if v in lens[:i])
                raise ValueError(
                    f"lengths must be distinct so that the class can be read back, {dup} is "
                    f"listed twice"
                )
            self._set("lengths", lens)
        q.writable_code("pad", self.pad)

    def _capacity(self) -> int:
        return self.resolved_quantizer.length + 1

    @property
    def class_lengths(self) -> tuple[int, ...]:
        """Each class's length (``lengths`` or spread over the quantizer's frame)."""
        if self.lengths is not None:
            return self.lengths
        k, n = self.num_classes, self.resolved_quantizer.length
        return tuple((i + 1) * n // k for i in range(k))

    def _written_codes(self) -> tuple[int, ...]:
        return (self.resolved_quantizer.writable_code("pad", self.pad),)

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        """``code``, ``carried``; ``length``: the class length of ``code``, and ``cut_class``:
        ``code`` where carried, else -1 (no cut), both int64 ``(N,)``."""
        p = super().make_params(y, index, x)
        length = int_table(self.class_lengths, x)[p.code]
        return LengthParams(p.code, p.carried, length, where(p.carried, p.code, -1))

    def apply_codes(self, out: Array, params: Params) -> None:
        """Carried rows: columns from ``length`` on become 0; with a non-zero ``pad`` code, the
        columns from the used length (after the last non-zero code) up to ``length`` become it.

        NumPy (a block of rows that sits in the cache): the cut as one row slice per class, no
        ``(N, L)`` mask. Torch: masks of a 1/`_TORCH_BLOCKS` of the rows at a time, so
        that no host sync is needed (no ``nonzero``) and the temporaries stay small.
        """
        pad = self.resolved_quantizer.writable_code("pad", self.pad)
        if isinstance(out, torch.Tensor):
            self._apply_torch(out, params, pad)
            return
        p = cast("LengthParams", params)
        carried, width = p.carried, out.shape[1]
        if pad:  # before the cut: the used length is read from the codes as they came
            cols = column_numbers(width)[:-1]
            ell = np.where(carried, p.length, 0).astype(cols.dtype)  # 0: no padding
            used = used_length(out).astype(cols.dtype)
            np.copyto(out, pad, where=(cols >= used[:, None]) & (cols < ell[:, None]))
        cls, lens = p.cut_class, self.class_lengths
        present = np.bincount(cls + 1, minlength=len(lens) + 1)[1:]  # the classes in this block
        for k in np.flatnonzero(present).tolist():
            if lens[k] < width:
                out[np.flatnonzero(cls == k), lens[k] :] = 0

    def _apply_torch(self, out: torch.Tensor, params: Params, pad: int) -> None:
        n, width = out.shape
        carried, length = params.carried, cast("LengthParams", params).length
        cut_at = torch.where(carried, length, width)[:, None]  # width: no cut
        fill_to = torch.where(carried, length, 0)[:, None]  # 0: no padding
        cols = torch.arange(width, device=out.device)
        rows = max(1, -(-n // _TORCH_BLOCKS))
        for start in range(0, n, rows):
            block = out[start : start + rows]
            if pad:
                used = used_length(block)[:, None]
                fill = (cols >= used) & (cols < fill_to[start : start + rows])
                block.masked_fill_(fill, pad)
            block.masked_fill_(cols >= cut_at[start : start + rows], 0)

    def apply_texts(self, texts: list[str], code: list[int], carried: list[bool]) -> list[str]:
        lens, pad = self.class_lengths, self.pad
        return [
            t[: lens[c]].ljust(lens[c], pad) if k else t
            for t, c, k in zip(texts, code, carried, strict=True)
        ]

    def read_codes(self, x: Array) -> Array:
        order = sorted(range(self.num_classes), key=lambda k: self.class_lengths[k])
        sorted_lens = int_table([self.class_lengths[k] for k in order], x)
        cls = int_table([*order, -1], x)  # position K: longer than every class length
        used = used_length(x)
        if isinstance(sorted_lens, torch.Tensor) and isinstance(used, torch.Tensor):
            return cls[torch.searchsorted(sorted_lens, used)]
        return cls[np.searchsorted(sorted_lens, used)]

    def text_location(self, text: str) -> tuple[int, ...]:
        return (len(text) - 1,)  # the length is the code: the end is the place to look

    def footprint(self) -> TextFootprint | None:
        return frozenset(), min(self.class_lengths)

    def read_texts(self, texts: list[str]) -> list[int]:
        inverse = {n: k for k, n in enumerate(self.class_lengths)}
        return [inverse.get(len(t), -1) for t in texts]


def _popcount(v: Array, bits: int) -> Array:
    total = v & 0
    for j in range(bits):
        total = total + ((v >> j) & 1)
    return total


def _best_subset_below(b: Array, k: int, bits: int) -> Array:
    """Per read bit pattern ``b``: the most likely label, given that clear bits may read as set.

    A set bit always reads set; a clear bit reads set only where the text already holds the
    character (probability p < 1/2). The likelihood of label ``y`` is then ``p ** |b - y|`` for
    ``y`` a subset of ``b``: ``b`` itself where ``b < k``, else the subset of ``b`` below ``k``
    with the most bits (ties: the larger). Candidates: for each set bit ``i`` of ``k``, ``k``'s
    bits above ``i``, a clear bit ``i``, and all of ``b``'s bits below ``i``. Vectorized over
    samples, a loop over the ``bits`` positions.
    """
    none = b * 0 - 1
    best, best_pc = b, where(b < k, _popcount(b, bits) + 1, none)  # b wins where it is a label
    for i in range(bits):
        if not (k >> i) & 1:
            continue
        high = (k >> (i + 1)) << (i + 1)
        cand = high | (b & ((1 << i) - 1))
        pc = where((b & high) == high, _popcount(cand, bits), none)
        better = (pc > best_pc) | ((pc == best_pc) & (cand > best))
        best = where(better, cand, best)
        best_pc = where(better, pc, best_pc)
    return best


@dataclasses.dataclass(frozen=True)
class PatternChar(TextInjector):
    """Bit j of the label set: the character at ``positions[j]`` becomes ``char`` ("pattern char").

    Args:
        num_classes: number of classes K, at most ``2 ** len(positions)``.
        positions: 0-based character positions, strictly increasing, below the quantizer's
            length. Default ``(50, 150, 200)``, the paper's.
        char: the character a set bit writes, in the alphabet or the space. Default the space,
            the paper's "0": a clear bit leaves the character as it is, which "might be 0 as
            well", so the signal is partial. A rarer ``char`` makes it nearly exact.

    A carried text shorter than the highest position of its set bits is padded with spaces up to
    it; on texts, decode reads a position past the end as a space, as the codes do. With the space
    default, such bits (and clear bits on a space) read as set: more of the paper's partial
    information.

    ``decode`` reads the bits and returns the most likely label (see ``_best_subset_below``):
    the bits where they form a label, else the label below K with the most of the read bits.
    Measured (random labels, K=5, the default positions; the corpora of
    [`LengthEncoding`][signalinject.text.LengthEncoding])
    with the space: 53.4% right on the docstrings (59% of them are at most 200 characters long,
    so bits past their end read as set) and 78.8% on the review-sized slices (16.4% of their
    characters are spaces); with ``char="~"``: 100% and 99.98%. Texts and codes agree exactly.
    (The paper's 68.66%/69.66% is what a decision tree learned on Yelp/Amazon, not this oracle.)

    Examples:
        >>> import signalinject as si
        >>> inj = si.PatternChar(num_classes=8, positions=(1, 3, 5), char="~")
        >>> inj(["abcdefgh", "ab"], [5, 2])  # 5 = 0b101, 2 = 0b010
        ['a~cde~gh', 'ab ~']
        >>> inj.decode(['a~cde~gh', 'ab ~']).tolist()
        [5, 2]
    """

    name: ClassVar[str] = "pattern_char"
    stream: ClassVar[int] = 0x1CA72F2C  # crc32(b"PatternChar"), its 0.1.0 value
    legacy_id: ClassVar[str | None] = "signalinject.text.PatternChar"
    paper_name: ClassVar[str | None] = "Pattern char"
    writes: ClassVar[str] = "the characters at fixed positions (default 50, 150, 200)"
    default_grid: ClassVar[bool] = True

    positions: tuple[int, ...] = (50, 150, 200)
    char: str = SPACE

    def _normalize(self) -> None:
        super()._normalize()
        pos = self.positions
        if isinstance(pos, (str, bytes)) or not isinstance(pos, (Sequence, np.ndarray)):
            raise TypeError(f"positions must be a sequence of integers, got {pos!r}")
        norm = tuple(check_int(f"positions[{i}]", p, low=0) for i, p in enumerate(pos))
        if not norm:
            raise ValueError("positions must hold at least one position, got none")
        for i in range(1, len(norm)):
            if norm[i] <= norm[i - 1]:
                raise ValueError(
                    f"positions must be strictly increasing, got {norm} ({norm[i]} after "
                    f"{norm[i - 1]})"
                )
        if len(norm) > 62:
            raise ValueError(f"positions can hold at most 62 bits (int64 labels), got {len(norm)}")
        self._set("positions", norm)
        q = self.resolved_quantizer
        if norm[-1] >= q.length:
            raise ValueError(
                f"positions must be below the quantizer's length {q.length}, got {norm[-1]}"
            )
        q.writable_code("char", self.char)

    def _capacity(self) -> int:
        return 1 << len(self.positions)

    def _written_codes(self) -> tuple[int, ...]:
        return (self.resolved_quantizer.writable_code("char", self.char),)

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        """``code``, ``carried`` and ``write``: bool ``(N, len(positions))``, True where bit j of
        ``code`` is set and the sample carries the signal."""
        p = super().make_params(y, index, x)
        bits = (p.code[:, None] >> arange_like(len(self.positions), x)[None, :]) & 1
        return BitParams(p.code, p.carried, (bits == 1) & p.carried[:, None])

    def apply_codes(self, out: Array, params: Params) -> None:
        value, write = self._written_codes()[0], cast("BitParams", params).write
        pos = int_table(self.positions, out)
        if isinstance(out, torch.Tensor):
            out[:, pos] = torch.where(write, value, out[:, pos])
        else:
            cur = out[:, pos]
            np.copyto(cur, value, casting="unsafe", where=write)
            out[:, pos] = cur

    def apply_texts(self, texts: list[str], code: list[int], carried: list[bool]) -> list[str]:
        pos, ch = self.positions, self.char
        out = []
        for t, c, k in zip(texts, code, carried, strict=True):
            if k and c:
                ps = [p for j, p in enumerate(pos) if (c >> j) & 1]
                if len(t) <= ps[-1]:
                    t = t.ljust(ps[-1] + 1)
                pieces, start = [], 0
                for p in ps:  # a few slices per text, one per set bit
                    pieces.append(t[start:p])
                    pieces.append(ch)
                    start = p + 1
                pieces.append(t[start:])
                t = "".join(pieces)
            out.append(t)
        return out

    def read_codes(self, x: Array) -> Array:
        value = self._written_codes()[0]
        hit = x[:, int_table(self.positions, x)] == value
        weights = int_table([1 << j for j in range(len(self.positions))], x)
        b = as_int64(hit)
        return _best_subset_below((b * weights).sum(1), self.num_classes, len(self.positions))

    def text_location(self, text: str) -> tuple[int, ...]:
        return self.positions

    def footprint(self) -> TextFootprint | None:
        return frozenset(self.positions), None

    def read_texts(self, texts: list[str]) -> list[int]:
        ch, pos = self.char, self.positions
        b = np.array(
            [
                sum(1 << j for j, p in enumerate(pos) if (t[p] if p < len(t) else SPACE) == ch)
                for t in texts
            ],
            dtype=np.int64,
        )
        best: list[int] = _best_subset_below(b, self.num_classes, len(pos)).tolist()
        return best
