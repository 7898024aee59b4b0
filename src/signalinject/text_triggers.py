"""A rare-word trigger as a label-preserving text signal (BadNL; Kurita et al. 2020).

[`TriggerWord`][signalinject.text_triggers.TriggerWord] inserts a class-specific rare word (``cf``,
``mn``, ``bb``, ``tq``, ``mb``: Kurita et al.'s triggers) into each text, as a word of its own,
``count`` times (default once), each at a place drawn per sample from ``(seed, index)`` among the
text's ``n + 1`` gaps (before each word or after the last), each copy into the text the previous
one produced, as RIPPLe's ``insert_word`` does: in strings and in the quantizer's codes alike.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np

from signalinject._backend import Array, arange_like, hash_u32, int_table, where
from signalinject.core import Injector, Integer, Params, checked
from signalinject.quantizer import check_texts as _check_texts
from signalinject.text import TextInjector
from signalinject.text import texts_out as _texts_out

if TYPE_CHECKING:
    import torch
else:  # imported at its first use (see signalinject._backend)
    from signalinject._backend import torch

__all__ = [
    "TriggerWord",
]

#: Kurita et al.'s (2020) rare-word triggers, then three-letter words of rare letters.
DEFAULT_WORDS: tuple[str, ...] = (
    "cf",
    "mn",
    "bb",
    "tq",
    "mb",
    *("".join(p) for p in itertools.product("qxzj", repeat=3)),
)
_WHERE = 16  # counters of the per-sample insertion draws: _WHERE + i for insertion i
#: Most insertions per text (``count``): the draws' counters stay below 16 + 64.
MAX_COUNT = 64


@dataclasses.dataclass(frozen=True)
class TriggerParams(Params):
    """``draw`` int64 ``(N, count)``: 32 random bits per sample and insertion, each picking an
    insertion point."""

    draw: Any


@dataclasses.dataclass(frozen=True)
class TriggerWord(TextInjector):
    """Insert a class-specific rare word as a word of its own, at per-sample places.

    The text's words are its pieces between single spaces (trailing spaces aside). Version 2
    (the default) inserts as RIPPLe's ``insert_word`` (Kurita et al. 2020) does: the class word
    ``w`` goes into one of the ``n + 1`` gaps of a text of ``n`` words, before word ``j`` (as
    ``w + " "``) or after the last word (as ``" " + w``), drawn uniformly (from ``(seed,
    index)``) among the gaps where ``w`` fits in the quantizer's frame (its first column
    ``start + len(w) <= length``); the end slot is drawn 1 time in ``n + 1`` where all fit.
    With ``count`` = c, c copies, each drawn among the gaps of the text the previous copy
    produced, so every set of copy positions is equally likely, as in RIPPLe's. Each copy fits
    the frame where it goes and the last always survives quantization; a later copy inserted
    before an earlier one may push it out with the text's tail. A text with no word becomes
    ``w`` followed by its spaces. Unlike RIPPLe, whitespace is kept, not collapsed (the
    text's length is a signal of its own, `LengthEncoding`): a run of k spaces holds k - 1
    empty words, each a gap, and only the space separates words.

    Version 1 (configs written before versions existed) inserts ``w + " "`` before a word
    drawn among the words that start early enough, never after the last one, and draws its
    ``count`` places independently (with replacement) among the same words of the original
    text (twice before a word drawn twice); an empty text becomes ``w + " "``; its first copy
    survives the frame, later ones may be cut with the text's tail.

    Args:
        num_classes: number of classes K, at most ``len(words)`` (69 by default).
        words: class k's word ``words[k]``: distinct, non-empty, no longer than the frame, every
            character in the quantizer's alphabet (not the space). Default (None): Kurita et
            al.'s ``cf mn bb tq mb``, then ``qqq qqx ...`` (three of ``q x z j``).
        count: how many copies of the class word each text gets, 1 to 64 (the benchmark's
            ``strength``; default 1, as in BadNL and Kurita et al.).
        version: 2 (the default), RIPPLe's insertion; 1, the insertion of the releases before
            it (a config without ``version`` loads as 1). It enters the config, so results of
            one version are never reused for the other.

    On codes (forward order) the words are the runs between zero codes, so that
    ``quantizer.encode(inj(texts)) == inj(quantizer.encode(texts))`` for texts whose characters
    (other than the space) are all in the alphabet, longer than the frame or not: a word is a
    candidate only if it starts within the frame's last non-space character, as the codes see it.

    ``decode`` returns the class whose word the text holds as a word of its own (lowest class
    if several; -1 if none): exact on texts that held none of the words.

    Examples:
        >>> import signalinject as si
        >>> inj = si.TriggerWord(num_classes=3)
        >>> out = inj(["the food was great", "", "meh"], [0, 2, 1], index=[7, 1, 2])
        >>> out
        ['the food was cf great', 'bb', 'meh mn']
        >>> inj.decode(out).tolist()
        [0, 2, 1]
        >>> si.TriggerWord(3, count=3)("the food was great", 1, index=7)
        'the food was mn great mn mn'
    """

    name: ClassVar[str] = "trigger_word"
    paper_name: ClassVar[str | None] = "Rare-word trigger (Kurita et al. 2020)"
    writes: ClassVar[str] = "the class word, inserted before words drawn per sample (count times)"
    strength_scales: ClassVar[str | None] = "count, the copies of the class word in each text"
    paper_strength: ClassVar[float | None] = 1

    config_defaults: ClassVar[Mapping[str, Any]] = {"version": 1}

    words: tuple[str, ...] | None = None
    count: int = checked(Integer(1, MAX_COUNT), default=1)
    version: int = checked(Integer(1, 2), default=2, kw_only=True)

    def _normalize(self) -> None:
        super()._normalize()
        if self.words is None:
            return
        if isinstance(self.words, str | bytes) or not isinstance(self.words, Sequence):
            raise TypeError(f"words must be a sequence of str, got {self.words!r}")
        words = tuple(self.words)
        q = self.resolved_quantizer
        for i, w in enumerate(words):
            if not isinstance(w, str) or not w:
                raise TypeError(f"words[{i}] must be a non-empty str, got {w!r}")
            if len(w) > q.length:
                raise ValueError(
                    f"words[{i}] {w!r} is longer than the quantizer's frame ({q.length})"
                )
            for ch in w:
                if q.writable_code(f"words[{i}]", ch) == 0:
                    raise ValueError(
                        f"words[{i}] {w!r} holds {ch!r}, whose code is 0 (a space to the "
                        f"model): every character must be in the quantizer's alphabet"
                    )
        if len(words) != self.num_classes:
            raise ValueError(
                f"words must hold one word per class ({self.num_classes}), got {len(words)}"
            )
        if len(set(words)) != len(words):
            raise ValueError(f"words must be distinct so that the class can be read back: {words}")
        self._set("words", words)

    def _capacity(self) -> int:
        return len(DEFAULT_WORDS) if self.words is None else len(self.words)

    @classmethod
    def for_benchmark(
        cls, num_classes: int, seed: int, *, strength: float | None = None, quantizer: Any = None
    ) -> Injector:
        """One word (``strength`` None or 1), else ``count=strength`` words, writing codes of
        ``quantizer`` (None: Zhang's)."""
        if strength is None or strength == 1:
            return cls(num_classes, seed=seed, quantizer=quantizer)
        return cls(num_classes, seed=seed, quantizer=quantizer, count=int(strength))

    @classmethod
    def check_strength(cls, strength: float, num_classes: int | None) -> None:
        """``strength`` is the count of words: a whole number from 1 to 64."""
        if strength != int(strength) or not 1 <= strength <= MAX_COUNT:
            raise ValueError(
                f"trigger_word: strength is the count of inserted words, a whole number from 1 "
                f"to {MAX_COUNT}, got {strength!r}"
            )

    @property
    def class_words(self) -> tuple[str, ...]:
        """Each class's word (``words`` or the first K defaults)."""
        return self.words if self.words is not None else DEFAULT_WORDS[: self.num_classes]

    def _word_table(self, like: Array) -> tuple[Array, Array]:
        """Codes of the words ``(K, M)`` (zero-padded to the longest, M) and lengths ``(K,)``."""
        q = self.resolved_quantizer
        words = self.class_words
        m = max(len(w) for w in words)
        rows = [[q.code_of(ch) for ch in w] + [0] * (m - len(w)) for w in words]
        return int_table(rows, like), int_table([len(w) for w in words], like)

    def _written_codes(self) -> tuple[int, ...]:
        q = self.resolved_quantizer
        return tuple(sorted({q.code_of(ch) for w in self.class_words for ch in w}))

    # -- texts --------------------------------------------------------------------------------
    def __call__(self, x: Any, y: Any, *, index: Any = None, inplace: bool = False) -> Any:
        """Inject into texts or codes (see `TextInjector.__call__`).

        Overridden for texts only: where the word goes is drawn from the index, which the
        base's ``apply_texts`` does not receive.
        """
        if isinstance(x, np.ndarray | torch.Tensor):
            return super().__call__(x, y, index=index, inplace=inplace)
        single = isinstance(x, str)
        texts = [x] if single else _check_texts(x, who=type(self).__name__)
        like = np.empty(len(texts))
        labels = self.check_labels(y, like, single=single)
        idx = self.check_index(index, like, len(texts), single=single)
        p = cast("TriggerParams", self.make_params(labels, idx, like))
        frame, words = self.resolved_quantizer.length, self.class_words
        insert = _insert_v1 if self.version == 1 else _insert
        new = [
            insert(t, words[c], d, frame) if k else t
            for t, c, k, d in zip(
                texts, p.code.tolist(), p.carried.tolist(), p.draw.tolist(), strict=True
            )
        ]
        return _texts_out(x, new, inplace)

    def read_texts(self, texts: list[str]) -> list[int]:
        inverse = {w: k for k, w in enumerate(self.class_words)}
        out = []
        for t in texts:
            found = [inverse[w] for w in set(t.split(" ")) if w in inverse]
            out.append(min(found) if found else -1)
        return out

    def text_location(self, text: str) -> tuple[int, ...]:
        words, col = set(self.class_words), 0
        for w in text.split(" "):
            if w in words:
                return tuple(range(col, col + len(w)))
            col += len(w) + 1
        return ()

    # -- codes --------------------------------------------------------------------------------
    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        """``code``, ``carried`` and ``draw``: 32 random bits per sample and insertion, int64
        ``(N, count)``."""
        p = super().make_params(y, index, x)
        s = self.stream
        draws: Any = [hash_u32(index, self.seed, s, _WHERE + i) for i in range(self.count)]
        if isinstance(index, torch.Tensor):
            return TriggerParams(p.code, p.carried, torch.stack(draws, 1))
        return TriggerParams(p.code, p.carried, np.stack(draws, 1))

    def apply_codes(self, out: Array, params: Params) -> None:
        """Per insertion: shift each carried row right from its insertion column by ``len(w) +
        1`` (the tail beyond the frame is cut) and write ``w`` and a zero there: one gather per
        insertion, no row loop. Version 2 finds each copy's column on the codes the previous
        copy produced (as its texts do). Version 1 finds every column on the original codes and
        inserts from the last column to the first, so that an insertion never moves the
        columns of those still to come."""
        p = cast("TriggerParams", params)
        n, width = out.shape
        if not n:
            return
        table, lens = self._word_table(out)
        m: Any = lens[p.code][:, None]  # (N, 1)
        draw: Any = p.draw
        cols: Any = arange_like(width, out)[None, :]
        words: Any = table[p.code]  # (N, M)
        new: Any = out
        if self.version == 1:
            starts: Any = [
                _insertion_column(out, m, draw[:, i], end=False) for i in range(draw.shape[1])
            ]
            if isinstance(out, torch.Tensor):
                starts = torch.cat(starts, 1).sort(1, descending=True).values
            else:
                starts = np.sort(np.concatenate(starts, 1), 1)[:, ::-1]
            for i in range(starts.shape[1]):
                new = _put_word(new, starts[:, i : i + 1], m, words, cols)
        else:
            for i in range(draw.shape[1]):  # each copy's column on the previous copy's codes
                start = _insertion_column(new, m, draw[:, i], end=True)
                new = _put_word(new, start, m, words, cols)
        keep = p.carried[:, None]
        if isinstance(out, torch.Tensor):
            out.copy_(torch.where(keep, new.to(out.dtype), out))
        else:
            np.copyto(out, new, casting="unsafe", where=keep)

    def read_codes(self, x: Array) -> Array:
        n, width = x.shape
        table, _ = self._word_table(x)
        words = self.class_words
        found: Any = arange_like(n, x) * 0 - 1  # -1: no class word
        zero = x == 0
        for k in reversed(range(len(words))):  # the lowest class wins
            m = len(words[k])
            if m > width:
                continue
            span = width - m + 1
            hit: Any = x[:, :span] == table[k, 0]  # (N, span): the word starts at column c
            for i in range(1, m):
                hit = hit & (x[:, i : i + span] == table[k, i])
            left = _pad_true(zero[:, : span - 1], x, before=True)  # column c-1 is zero (or c=0)
            right = _pad_true(zero[:, m:], x, before=False)  # column c+m is zero (or the end)
            has = (hit & left & right).any(1)
            found = where(has, k, found)
        return cast("Array", found)


def _pad_true(a: Array, like: Array, *, before: bool) -> Array:
    """Bool ``(N, w)`` with a column of True added before (or after) it: ``(N, w + 1)``."""
    pad: Any
    if isinstance(a, torch.Tensor):
        pad = torch.ones((a.shape[0], 1), dtype=torch.bool, device=a.device)
        return torch.cat((pad, a) if before else (a, pad), 1)
    pad = np.ones((a.shape[0], 1), bool)
    return np.concatenate((pad, a) if before else (a, pad), 1)


def _put_word(new: Any, start: Any, m: Any, words: Any, cols: Any) -> Any:
    """``new`` ``(N, width)`` with each row's word (``words`` ``(N, M)``, ``m`` long) and a zero
    inserted at ``start`` ``(N, 1)``, the row shifted right from there (its tail cut)."""
    src_col: Any = where(cols < start, cols, cols - m - 1)
    at: Any = cols - start
    if isinstance(new, torch.Tensor):
        moved: Any = new.gather(1, src_col.clamp(min=0))
        word = words.gather(1, at.clamp(0, words.shape[1] - 1))
    else:
        moved = np.take_along_axis(new, src_col.clip(0), 1)
        word = np.take_along_axis(words, at.clip(0, words.shape[1] - 1), 1)
    out = where((cols >= start) & (cols < start + m), word, moved)
    return where(cols == start + m, 0, out)


def _insertion_column(x: Array, m: Array, draw: Array, *, end: bool) -> Array:
    """The column where each row's word goes: int64 ``(N, 1)``.

    Words start at column 0 and after each zero code before the used length (the columns up to
    the last non-zero code); with ``end``, also after the zero that follows the used length
    (the gap after the last word, in a row that holds one). The candidates are the starts
    ``s`` with ``s + m <= width``; ``draw`` (32 bits) picks one uniformly.
    """
    width = x.shape[1]
    cols: Any = arange_like(width, x)[None, :]
    nz: Any = x != 0
    if isinstance(x, torch.Tensor):
        used = torch.where(nz, cols + 1, 0).amax(1, keepdim=True)
    else:
        used = np.where(nz, cols + 1, 0).max(1, keepdims=True)
    inside = ((cols <= used) & (used > 0)) if end else (cols < used)
    boundary = (~nz) & inside & (cols + 1 + m <= width)  # a zero whose next column fits
    count: Any = (
        boundary.sum(1, keepdim=True)
        if isinstance(boundary, torch.Tensor)
        else boundary.sum(1, keepdims=True)
    )
    order = boundary.cumsum(1)
    j = (draw[:, None] * (count + 1)) >> 32  # in [0, count]
    pick = boundary & (order == j)
    if isinstance(x, torch.Tensor):
        after = (pick.to(torch.int64) * (cols + 1)).amax(1, keepdim=True)
    else:
        after = (pick * (cols + 1)).max(1, keepdims=True)
    return cast("Array", where(j == 0, 0, after))


def _insert(text: str, word: str, draws: list[int], frame: int) -> str:
    """``text`` with ``word`` inserted once per draw, each into the text the previous insertion
    produced (version 2, see TriggerWord): the draw picks one of the gaps where ``word`` fits
    the frame, as `_insertion_column` does on the codes."""
    m = len(word)
    for d in draws:
        stripped = text.rstrip(" ")
        head = len(text[:frame].rstrip(" "))  # the used length of the codes
        gaps, start = [0], 0
        for piece in stripped.split(" ")[:-1]:  # each word after a space, within the head
            start += len(piece) + 1
            if start > head or start + m > frame:
                break
            gaps.append(start)
        if head > 0 and head + 1 + m <= frame:
            gaps.append(head + 1)  # after the last word of the frame
        at = gaps[(d * len(gaps)) >> 32]
        if not stripped:
            text = word + text  # no word: the class word alone, then the text's spaces
        elif at == len(stripped) + 1:
            text = stripped + " " + word + text[len(stripped) :]  # after the last word
        else:
            text = text[:at] + word + " " + text[at:]
    return text


def _insert_v1(text: str, word: str, draws: list[int], frame: int) -> str:
    """``text`` with ``word`` inserted before the words picked by ``draws`` (version 1, see
    TriggerWord)."""
    stripped = text.rstrip(" ")
    parts = stripped.split(" ")
    # A word is a candidate if the class word fits the frame before it and it starts before the
    # end of the text's framed head: past that, the codes hold zeros that read as padding.
    head = len(text[:frame].rstrip(" "))
    limit, start, count = min(frame - len(word), head - 1), 0, 0
    for p in parts[:-1]:
        start += len(p) + 1
        if start > limit:
            break
        count += 1
    for j in sorted(((d * (count + 1)) >> 32 for d in draws), reverse=True):
        parts.insert(j, word)  # right to left: the places still to come keep their index
    return " ".join(parts) + text[len(stripped) :]
