"""The Injector base (validation, per-sample codes, labels, index), Compose and configs.

``OnePixel`` serves as the concrete injector: the base class alone does not inject.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import zlib
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

import signalinject as si
from checks import assert_same, check_decode, check_injector, check_rejects
from signalinject.core import check_finite_values, check_fraction, check_int

N = 40_000  # samples for the statistical tests: 5 sigma of a fraction is at most 0.0125


def five_sigma(p: float, n: int) -> float:
    return 5 * math.sqrt(max(p * (1 - p), 1e-12) / n)


# -- validation helpers ------------------------------------------------------------------------
def test_check_int() -> None:
    assert check_int("n", np.int16(7), low=0, high=9) == 7
    with pytest.raises(TypeError, match=r"n must be an integer, got True \(bool\)"):
        check_int("n", True)
    with pytest.raises(TypeError, match=r"n must be an integer, got 2.0 \(float\)"):
        check_int("n", 2.0)
    with pytest.raises(ValueError, match=r"n must be in \[0, 9\], got 10"):
        check_int("n", 10, low=0, high=9)
    with pytest.raises(ValueError, match=r"n must be in \[-inf, 3\], got 4"):
        check_int("n", 4, high=3)


def test_check_fraction() -> None:
    assert check_fraction("p", 1) == 1.0
    for bad in (-0.01, 1.01, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got"):
            check_fraction("p", bad)
    with pytest.raises(TypeError, match=r"p must be a number in \[0, 1\], got '0.5'"):
        check_fraction("p", "0.5")


def test_check_finite_values() -> None:
    assert check_finite_values("v", (1, 2.5, np.int64(3))) == (1, 2.5, 3)
    assert check_finite_values("v", np.array([0.5, 1.5])) == (0.5, 1.5)
    with pytest.raises(ValueError, match=r"v must hold finite numbers, got nan"):
        check_finite_values("v", (1, math.nan))
    with pytest.raises(ValueError, match=r"v must hold finite numbers, got inf"):
        check_finite_values("v", (math.inf,))
    with pytest.raises(TypeError, match=r"v must hold numbers, got 'a'"):
        check_finite_values("v", (1, "a"))
    with pytest.raises(TypeError, match=r"v must be a sequence of numbers, got '12'"):
        check_finite_values("v", "12")
    with pytest.raises(TypeError, match=r"v must be a sequence of numbers, got 3"):
        check_finite_values("v", 3)


# -- construction --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"num_classes": 1}, ValueError, r"num_classes must be in \[2, inf\], got 1"),
        ({"num_classes": -3}, ValueError, r"num_classes must be in \[2, inf\], got -3"),
        ({"num_classes": 2.5}, TypeError, r"num_classes must be an integer, got 2.5"),
        ({"num_classes": True}, TypeError, r"num_classes must be an integer, got True"),
        ({"num_classes": 3, "seed": -1}, ValueError, r"seed must be in \[0, \d+\], got -1"),
        ({"num_classes": 3, "seed": 2**64}, ValueError, r"seed must be in \[0, \d+\], got 2\*\*64"),
        ({"num_classes": 3, "seed": 1.0}, TypeError, r"seed must be an integer, got 1.0"),
        ({"num_classes": 3, "coverage": 1.5}, ValueError, r"coverage must be in \[0, 1\], got 1.5"),
        (
            {"num_classes": 3, "coverage": -0.1},
            ValueError,
            r"coverage must be in \[0, 1\], got -0.1",
        ),
        ({"num_classes": 3, "coverage": math.nan}, ValueError, r"coverage must be .*got nan"),
        ({"num_classes": 3, "coverage": "all"}, TypeError, r"coverage must be a number"),
        ({"num_classes": 3, "fidelity": 2}, ValueError, r"fidelity must be in \[0, 1\], got 2.0"),
        ({"num_classes": 3, "fidelity": math.nan}, ValueError, r"fidelity must be .*got nan"),
        ({"num_classes": 3, "fidelity": None}, TypeError, r"fidelity must be a number"),
    ],
)
def test_constructor_rejects(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    if kwargs.get("seed") == 2**64:
        match = match.replace(r"2\*\*64", str(2**64))
    with pytest.raises(exc, match=match):
        si.OnePixel(**kwargs)


def test_fields_are_normalized_and_frozen() -> None:
    inj = si.OnePixel(np.int64(4), seed=np.uint8(3), coverage=1, fidelity=np.float32(0.5))
    assert inj.seed == 3
    assert type(inj.coverage) is float
    assert inj.fidelity == 0.5
    with pytest.raises(AttributeError):
        inj.seed = 4  # type: ignore[misc]
    assert si.OnePixel(4, seed=2**64 - 1).seed == 2**64 - 1


# -- per-sample codes ------------------------------------------------------------------------
@pytest.mark.parametrize(("coverage", "fidelity"), [(1.0, 1.0), (0.3, 1.0), (1.0, 0.6), (0.5, 0.2)])
def test_codes_give_the_asked_fractions(coverage: float, fidelity: float) -> None:
    k = 7
    inj = si.OnePixel(k, seed=5, coverage=coverage, fidelity=fidelity)
    y = np.random.default_rng(0).integers(0, k, N)
    code, carried = inj.codes(y, np.arange(N))
    assert code.dtype == np.int64
    assert carried.dtype == np.bool_
    assert abs(carried.mean() - coverage) <= five_sigma(coverage, N)
    truthful = code == y
    assert abs(truthful.mean() - fidelity) <= five_sigma(fidelity, N)
    # coverage and fidelity are drawn independently: the truthful fraction holds among carried
    m = int(carried.sum())
    assert abs(truthful[carried].mean() - fidelity) <= five_sigma(fidelity, m)
    if fidelity == 1.0:
        assert code is y  # no draw at all for the truth
    if coverage == 1.0:
        assert carried.all()


def test_wrong_codes_are_uniform_over_the_other_classes() -> None:
    k = 5
    inj = si.OnePixel(k, seed=1, fidelity=0.0)
    y = np.full(N, 2)
    code, _ = inj.codes(y, np.arange(N))
    assert not (code == 2).any()
    counts = np.bincount(code, minlength=k)
    others = counts[[0, 1, 3, 4]]
    assert np.all(np.abs(others - N / 4) <= 5 * math.sqrt(N * 0.25 * 0.75)), counts


def test_codes_are_a_pure_function_of_seed_and_index() -> None:
    inj = si.OnePixel(10, seed=3, coverage=0.5, fidelity=0.5)
    y = np.random.default_rng(1).integers(0, 10, 1000)
    idx = np.random.default_rng(2).permutation(10**6)[:1000]
    code, carried = inj.codes(y, idx)
    # any subset, any order: the same draws per index
    sel = np.random.default_rng(3).permutation(1000)[:300]
    code_s, carried_s = inj.codes(y[sel], idx[sel])
    assert np.array_equal(code_s, code[sel])
    assert np.array_equal(carried_s, carried[sel])
    # torch gives the same bits
    code_t, carried_t = inj.codes(torch.from_numpy(y), torch.from_numpy(idx))
    assert np.array_equal(code_t.numpy(), code)
    assert np.array_equal(carried_t.numpy(), carried)
    # another seed gives other draws
    code2, carried2 = si.OnePixel(10, seed=4, coverage=0.5, fidelity=0.5).codes(y, idx)
    assert (carried2 != carried).mean() > 0.3
    assert (code2 != code).mean() > 0.2


def test_streams_differ_per_class_and_are_stable() -> None:
    names = {
        type(inj).__name__: inj.stream
        for inj in (si.OnePixel(2), si.PatternPixels(2), si.RandomPixel(2), si.MultipleLocations(2))
    }
    assert len(set(names.values())) == 4
    assert si.OnePixel(2).stream == si.OnePixel(3, seed=9).stream


def test_draw_int_is_in_range_and_keyed_by_counter() -> None:
    inj = si.OnePixel(2, seed=8)
    a = inj.draw_int(np.arange(1000), 37, 16)
    b = inj.draw_int(np.arange(1000), 37, 17)
    assert a.min() >= 0
    assert a.max() < 37
    assert (a != b).mean() > 0.9


# -- labels and index ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "y",
    [
        np.array([1, 0, 3], np.uint8),
        np.array([1, 0, 3], np.int16),
        np.array([1, 0, 3], np.uint64),
        [1, 0, 3],
        (1, 0, 3),
        torch.tensor([1, 0, 3], dtype=torch.uint8),
        torch.tensor([1, 0, 3], dtype=torch.int32),
    ],
    ids=["uint8", "int16", "uint64", "list", "tuple", "torch-uint8", "torch-int32"],
)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_labels_of_any_integer_dtype(y: Any, backend: str) -> None:
    x: Any = np.zeros((3, 2, 2, 1), np.uint8)
    if backend == "torch":
        x = torch.zeros(3, 1, 2, 2, dtype=torch.uint8)
        if isinstance(y, np.ndarray):
            y = torch.from_numpy(y.astype(np.int64))
    inj = si.OnePixel(4)
    labels = inj.check_labels(y, x, single=False)
    assert type(labels) is type(x)
    assert labels.tolist() == [1, 0, 3]
    assert labels.dtype in (np.int64, torch.int64)


@pytest.mark.parametrize(
    "y", [2, np.int64(2), np.array(2, np.uint8), torch.tensor(2)], ids=["int", "np", "0d", "t"]
)
def test_single_label_forms(y: Any) -> None:
    inj = si.OnePixel(4)
    x = np.zeros((2, 2, 1), np.uint8)
    assert inj.check_labels(y, x, single=True).tolist() == [2]
    assert inj(x, y)[0, 0, 0] == 2


@pytest.mark.parametrize(
    ("y", "exc", "match"),
    [
        ([0, 4], ValueError, r"y must hold labels in \[0, 3\] \(num_classes=4\), got 4"),
        ([-1, 0], ValueError, r"y must hold labels in \[0, 3\] \(num_classes=4\), got -1"),
        ([0.0, 1.0], TypeError, r"y must hold integers, got dtype float64"),
        ([True, False], TypeError, r"y must hold integers, got dtype bool"),
        (torch.tensor([0.0, 1.0]), TypeError, r"y must hold integers, got a tensor of dtype"),
        ([0, 1, 2], ValueError, r"y must have shape \(2,\), one label per sample of x, got \(3,\)"),
        (np.zeros((2, 1), np.int64), ValueError, r"y must have shape \(2,\).*got \(2, 1\)"),
        (
            torch.zeros(2, dtype=torch.int64, device="meta"),
            TypeError,
            r"y is a torch tensor on meta but the data is a NumPy array",
        ),
    ],
    ids=["too-big", "negative", "float", "bool", "torch-float", "count", "2-d", "meta-labels"],
)
def test_check_labels_rejects(y: Any, exc: type[Exception], match: str) -> None:
    x = np.zeros((2, 3, 3, 1), np.uint8)
    with pytest.raises(exc, match=match):
        si.OnePixel(4).check_labels(y, x, single=False)
    check_rejects(si.OnePixel(4), x, y, exc, match)


def test_check_labels_single_rejects() -> None:
    x = np.zeros((3, 3, 1), np.uint8)
    inj = si.OnePixel(4)
    with pytest.raises(TypeError, match=r"y must be an integer label, got True \(bool\)"):
        inj.check_labels(True, x, single=True)
    with pytest.raises(TypeError, match=r"y must be an integer label, got 1.0 \(float\)"):
        inj.check_labels(1.0, x, single=True)
    with pytest.raises(ValueError, match=r"y must be one integer label .*got shape \(2,\)"):
        inj.check_labels(np.array([1, 2]), x, single=True)
    with pytest.raises(ValueError, match=r"y is one integer but x holds a batch of 3"):
        inj.check_labels(1, np.zeros((3, 2, 2, 1)), single=False)


def test_check_index() -> None:
    x = np.zeros((2, 2, 1), np.uint8)
    inj = si.OnePixel(3)
    assert inj.check_index(None, x, 1, single=True).tolist() == [0]
    assert inj.check_index(7, x, 1, single=True).tolist() == [7]
    assert inj.check_index(np.array(7), x, 1, single=True).tolist() == [7]
    with pytest.raises(ValueError, match=r"index must be in \[0, inf\], got -2"):
        inj.check_index(-2, x, 1, single=True)
    with pytest.raises(TypeError, match=r"index must be an integer, got 1.5"):
        inj.check_index(1.5, x, 1, single=True)
    with pytest.raises(ValueError, match=r"index must be one integer for a single sample"):
        inj.check_index(np.array([1, 2]), x, 1, single=True)


# -- configuration -----------------------------------------------------------------------------
def test_get_config_is_json_and_round_trips() -> None:
    inj = si.PatternPixels(
        6, positions=[[0, 1], [2, 3], [4, 5]], on_value=9, seed=2**63 + 5, coverage=0.25
    )
    cfg = inj.get_config()
    assert cfg["name"] == "pattern_pixels"
    assert "__class_fullname__" not in cfg
    assert cfg["positions"] == [[0, 1], [2, 3], [4, 5]]
    text = json.dumps(cfg)
    back = si.from_config(json.loads(text))
    assert back == inj
    assert back.positions == ((0, 1), (2, 3), (4, 5))  # type: ignore[union-attr]
    assert si.Injector.from_config(cfg) == inj
    assert si.Compose.from_config(cfg) == inj


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"__class_fullname__": "signalinject.image.Nope", "num_classes": 2}, r"unknown injector"),
        ({"__class_fullname__": "builtins.dict"}, r"unknown injector 'builtins.dict'"),
        ({"name": "nope", "num_classes": 2}, r"unknown injector 'nope'; known: one_pixel, "),
        ({"name": 3}, r"unknown injector 3"),
        ({"num_classes": 2}, r"config must be a mapping with 'name'"),
        ({"name": "one_pixel", "__class_fullname__": "x"}, r"config must be a mapping with"),
        ([("__class_fullname__", "x")], r"config must be a mapping"),
        (
            {
                "__class_fullname__": "signalinject.core.Compose",
                "injectors": [si.Compose([si.OnePixel(2)]).get_config()],
            },
            r"a Compose cannot hold another Compose",
        ),
    ],
    ids=[
        "unknown",
        "not-an-injector",
        "unknown-name",
        "name-not-str",
        "no-class",
        "both-keys",
        "not-a-mapping",
        "nested-compose",
    ],
)
def test_from_config_rejects(config: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        si.from_config(config)


def test_from_config_rejects_unknown_argument() -> None:
    cfg = si.OnePixel(3).get_config() | {"colour": 1}
    with pytest.raises(ValueError, match=r"OnePixel has no field 'colour'; its fields: num_class"):
        si.from_config(cfg)


# -- Compose -----------------------------------------------------------------------------------
def two_pixels() -> si.Compose:
    return si.Compose([si.OnePixel(10), si.OnePixel(10, position=(3, 2), values=range(10, 20))])


def test_compose_applies_in_order_and_decodes_per_child() -> None:
    c = two_pixels()
    x = np.random.default_rng(0).integers(100, 256, (6, 5, 5, 3), dtype=np.uint8)
    y = np.array([3, 1, 4, 1, 5, 9])
    out = check_injector(c, x, y, index=np.arange(6) * 7, check_repr=False)
    assert (out[:, 0, 0] == y[:, None]).all()
    assert (out[:, 3, 2] == y[:, None] + 10).all()
    d = c.decode(out)
    assert d.shape == (2, 6)
    assert d.tolist() == [y.tolist(), y.tolist()]
    assert c.decode(out[0]).tolist() == [3, 3]
    t = c.decode(torch.from_numpy(out).permute(0, 3, 1, 2))
    assert isinstance(t, torch.Tensor)
    assert t.tolist() == [y.tolist(), y.tolist()]
    assert check_decode(c.injectors[0], out).tolist() == y.tolist()


def test_compose_children_keep_their_draws() -> None:
    # Adding a child never shifts another child's draws: RandomPixel writes the same pixels.
    rp = si.RandomPixel(10, values=range(100, 110), seed=4, coverage=0.5)
    x = np.zeros((50, 6, 6, 1), np.uint8)
    y = np.arange(50) % 10
    alone = rp(x, y)
    both = si.Compose([si.OnePixel(10, position=(0, 0), values=range(200, 210)), rp])(x, y)
    mask = alone != 0
    assert mask.any()
    assert np.array_equal(both[mask], alone[mask])


def test_compose_inplace_leaves_x_untouched_when_a_later_child_refuses() -> None:
    c = si.Compose([si.OnePixel(10), si.OnePixel(10, position=(9, 9))])
    x = np.full((2, 4, 4, 1), 50, np.uint8)
    check_rejects(c, x, np.array([1, 2]), ValueError, r"position \(9, 9\) lies outside")
    tx = torch.full((2, 1, 4, 4), 50, dtype=torch.uint8)
    check_rejects(c, tx, torch.tensor([1, 2]), ValueError, r"position \(9, 9\) lies outside")


def test_compose_inplace_torch() -> None:
    c = two_pixels()
    x = torch.full((2, 3, 5, 5), 77, dtype=torch.uint8)
    out = c(x, torch.tensor([2, 5]), inplace=True)
    assert out is x
    assert x[:, :, 0, 0].tolist() == [[2, 2, 2], [5, 5, 5]]
    assert x[:, :, 3, 2].tolist() == [[12, 12, 12], [15, 15, 15]]


# OnePixel's class numbers 0..3 in [0, 1) images: the range warning (issue 28) is expected.
@pytest.mark.filterwarnings("ignore::signalinject.ranges.ValueRangeWarning")
def test_compose_config_pickle_repr() -> None:
    c = si.Compose([si.OrthogonalNoise(4, strength=0.5), si.OnePixel(4, seed=1)])
    cfg = json.loads(json.dumps(c.get_config()))
    assert cfg["name"] == "compose"
    assert si.from_config(cfg) == c
    old = {"__class_fullname__": "signalinject.core.Compose", "injectors": cfg["injectors"]}
    assert si.from_config(old) == c  # a 0.1.0 Compose config
    assert pickle.loads(pickle.dumps(c)) == c
    assert "OnePixel(num_classes=4" in repr(c)
    assert "OrthogonalNoise(num_classes=4" in repr(c)
    x = np.random.default_rng(0).random((3, 4, 4, 2))
    assert_same(si.from_config(cfg)(x, [0, 1, 3]), c(x, [0, 1, 3]))


def test_compose_rejects() -> None:
    with pytest.raises(ValueError, match=r"Compose needs at least one injector, got none"):
        si.Compose([])
    with pytest.raises(TypeError, match=r"Compose: injectors\[1\] must be an Injector, got str"):
        si.Compose([si.OnePixel(2), "OnePixel"])  # type: ignore[list-item]


def test_compose_declares_its_childrens_kind_and_labels() -> None:
    assert si.Compose([si.OrthogonalNoise(4), si.OnePixel(10)]).kind == "image"
    assert si.Compose([si.Mnemonic(5)]).kind == "text"
    assert si.Compose([si.OnePixel(10), si.Mnemonic(5)]).kind == ""  # mixed
    assert si.Compose([si.OrthogonalNoise(4), si.OnePixel(10)]).num_classes == 4


def test_the_order_check_reads_what_a_signal_declares() -> None:
    """A signal outside the families takes part in the order check through ``overwrites``."""
    from signalinject.footprint import OrderWarning, order_conflicts

    @dataclasses.dataclass(frozen=True)
    class Eraser(si.Injector):
        def overwrites(self, earlier: si.Injector) -> str | None:
            return f"{type(self).__name__} erases {type(earlier).__name__}"

    (line,) = order_conflicts([si.OnePixel(10), Eraser(10)])
    assert line.endswith("(OnePixel): Eraser erases OnePixel")
    assert order_conflicts([Eraser(10), si.OnePixel(10)]) == []  # OnePixel's pixel is no image
    with pytest.warns(OrderWarning, match=r"Eraser erases Mnemonic"):
        si.Compose([si.Mnemonic(5), Eraser(5)])
    # the families answer only for their own kind: an image child never overwrites text
    assert si.OrthogonalNoise(10).overwrites(si.Mnemonic(5)) is None
    assert si.LengthEncoding(5).overwrites(si.OnePixel(10)) is None


# -- identity and the registry -----------------------------------------------------------------
def test_names_streams_and_legacy_ids_are_frozen() -> None:
    # the 0.1.0 streams (crc32 of the class names then): a draw must never change
    expected = {
        "one_pixel": (si.OnePixel, 0x6E7E5A42),
        "pattern_pixels": (si.PatternPixels, 0x5F27A8E7),
        "random_pixel": (si.RandomPixel, 0x04B59283),
        "multiple_locations": (si.MultipleLocations, 0x6412CF33),
        "orthogonal_noise": (si.OrthogonalNoise, 0x08A38740),
        "mnemonic": (si.Mnemonic, 0x7420F38B),
        "length_encoding": (si.LengthEncoding, 0xFDA208D5),
        "pattern_char": (si.PatternChar, 0x1CA72F2C),
    }
    for name, (cls, stream) in expected.items():
        assert si.get_signal(name) is cls
        assert cls.name == name
        assert cls.stream == stream == zlib.crc32(cls.__name__.encode())
        assert cls.legacy_id == f"signalinject.{cls.kind}.{cls.__name__}"  # its 0.1.0 module
        assert si.get_signal(cls.legacy_id) is cls
    assert list(si.list_signals("image"))[:5] == list(expected)[:5]
    assert list(si.list_signals("text"))[:3] == list(expected)[5:]


def test_identity_keeps_the_0_1_0_form_and_config_the_name() -> None:
    inj = si.OnePixel(3, seed=2)
    cfg, ident = inj.get_config(), inj.identity()
    assert cfg["name"] == "one_pixel"
    assert ident["__class_fullname__"] == "signalinject.image.OnePixel"
    assert {k: v for k, v in ident.items() if k != "__class_fullname__"} == {
        k: v for k, v in cfg.items() if k != "name"
    }
    assert si.from_config(ident) == si.from_config(cfg) == inj


def test_a_signal_registers_by_being_defined() -> None:
    @dataclasses.dataclass(frozen=True)
    class Corner(si.OnePixel):
        name: ClassVar[str] = "test_core_corner"

    assert si.get_signal("test_core_corner") is Corner
    assert Corner.stream == zlib.crc32(b"test_core_corner")  # default: crc32 of its name
    # what only the declaring class may have is not inherited
    assert Corner.legacy_id is None
    assert not Corner.default_grid
    inj = Corner(3, position=(1, 1))
    assert inj.get_config()["name"] == "test_core_corner"
    assert si.from_config(inj.get_config()) == inj
    assert si.list_signals("image")["test_core_corner"] is Corner


def test_registry_refuses_bad_and_taken_names() -> None:
    with pytest.raises(ValueError, match=r"name must be a short snake_case identifier"):

        class Bad(si.OnePixel):
            name: ClassVar[str] = "Bad Name"

    with pytest.raises(ValueError, match=r"signal name 'one_pixel' of .* is already taken by "):

        class Twin(si.OnePixel):
            name: ClassVar[str] = "one_pixel"

    with pytest.raises(ValueError, match=r"unknown signal 'nope'; known: one_pixel, "):
        si.get_signal("nope")
    with pytest.raises(TypeError, match=r"a signal name must be a str, got 3"):
        si.get_signal(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"kind must be 'image', 'text' or None, got 'audio'"):
        si.list_signals("audio")


def test_a_subclass_without_its_own_name_has_no_config() -> None:
    @dataclasses.dataclass(frozen=True)
    class Private(si.OnePixel):
        pass

    with pytest.raises(TypeError, match=r"Private declares no name of its own"):
        Private(2).get_config()


def test_fit_returns_the_same_injector_for_signals_without_a_fit() -> None:
    inj = si.RandomPixel(4)
    assert inj.fit(np.zeros((2, 4, 4, 1)), np.array([0, 1])) is inj


# -- validate once, then inject fast -----------------------------------------------------------
@pytest.mark.parametrize(
    ("inj", "x", "kw"),
    [
        (si.OnePixel(10, coverage=0.5), np.zeros((6, 8, 8, 3), np.uint8), {}),
        (si.RandomPixel(10, fidelity=0.5), torch.zeros(6, 3, 8, 8), {}),
        (
            si.OrthogonalNoise(10),
            torch.zeros(6, 8, 8, 3, dtype=torch.uint8),
            {"channels_last": True},
        ),
        (si.MultipleLocations(10), np.zeros((6, 3, 8, 8), np.float32), {"channels_last": False}),
        (si.Mnemonic(5, coverage=0.5), si.CharQuantizer(length=20).encode(["ab"] * 6), {}),
    ],
    ids=["numpy", "torch", "torch-channels-last", "numpy-channels-first", "codes"],
)
# class numbers in float images: the range warning (issue 28) is expected.
@pytest.mark.filterwarnings("ignore::signalinject.ranges.ValueRangeWarning")
def test_prepare_then_inject_fast_equals_the_call(inj: Any, x: Any, kw: dict[str, Any]) -> None:
    if isinstance(inj, si.Mnemonic):
        inj = si.Mnemonic(5, coverage=0.5, quantizer=si.CharQuantizer(length=20))
    y = np.array([3, 1, 4, 1, 0, 2])
    idx = np.array([10, 2, 7, 2**33, 5, 6])
    if isinstance(x, torch.Tensor):
        y, idx = torch.from_numpy(y), torch.from_numpy(idx)
    expected = inj(x, y, index=idx, **kw)
    before = clone_like(x)
    fast = inj.prepare(x, **kw)
    assert_same(x, before)  # preparing writes nothing
    assert pickle.loads(pickle.dumps(fast)) == fast
    out = clone_like(x)
    assert fast(out, y, idx) is out
    assert_same(out, expected)


def clone_like(x: Any) -> Any:
    return x.clone() if isinstance(x, torch.Tensor) else x.copy()


def test_prepare_refuses_what_a_call_refuses() -> None:
    with pytest.raises(ValueError, match=r"position \(9, 9\) lies outside the image"):
        si.OnePixel(10, position=(9, 9)).prepare(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(TypeError, match=r"prepare: like must be a non-empty batch"):
        si.OnePixel(10).prepare(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(TypeError, match=r"prepare: like must be a non-empty batch .* got list"):
        si.Mnemonic(5).prepare(["abc"])


# -- declared field rules ----------------------------------------------------------------------
def test_declared_rules_run_field_by_field_before_the_signals_own_checks() -> None:
    from signalinject.core import Integer, Real, checked

    @dataclasses.dataclass(frozen=True)
    class Stepped(si.OnePixel):
        name: ClassVar[str] = "test_core_stepped"
        step: int = checked(Integer(low=1, high=255), default=1)
        gain: float | None = checked(
            Real(positive=True, optional=True, as_float=True), default=None
        )

    inj = Stepped(np.int64(4), step=np.uint8(3), gain=2)  # type: ignore[arg-type]
    assert (type(inj.num_classes), type(inj.step), inj.gain) == (int, int, 2.0)
    with pytest.raises(ValueError, match=r"step must be in \[1, 255\], got 0"):
        Stepped(4, step=0)
    with pytest.raises(TypeError, match=r"step must be an integer, got 1\.5 \(float\)"):
        Stepped(4, step=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"gain must be > 0, got -1"):
        Stepped(4, gain=-1)
    with pytest.raises(ValueError, match=r"gain must hold finite numbers, got nan"):
        Stepped(4, gain=math.nan)
    # the base fields' rules run first, in field order
    with pytest.raises(TypeError, match=r"num_classes must be an integer, got '4'"):
        Stepped("4", step=0)  # type: ignore[arg-type]
    assert si.from_config(inj.get_config()) == inj
