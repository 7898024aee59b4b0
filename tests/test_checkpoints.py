"""Injectors in checkpoints: validated whenever one comes into being, loadable with
``torch.load(weights_only=True)`` in either import order, configs refused with a clear error.

An injector is built three ways: its constructor, ``from_config`` and unpickling (``pickle``,
``copy``, DataLoader workers, ``torch.load``). All three run the same field rules, so a
checkpoint holding a field the constructor refuses raises at load, never at the first call.
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import signalinject as si
from signalinject.core import Params, Prepared, checkpoint_globals
from signalinject.image import ImageParams

SRC = str(Path(si.__file__).parent.parent)


def saved(obj: Any) -> io.BytesIO:
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def tampered(inj: Any, **fields: Any) -> Any:
    """``inj`` with ``fields`` set behind the constructor's back (what a bad checkpoint holds)."""
    for name, value in fields.items():
        object.__setattr__(inj, name, value)
    return inj


BAD = [
    (si.OnePixel(10), {"fidelity": -1.0}, ValueError, r"fidelity must be in \[0, 1\], got -1.0"),
    (si.OnePixel(10), {"coverage": 7.0}, ValueError, r"coverage must be in \[0, 1\], got 7.0"),
    (si.OnePixel(10), {"seed": -1}, ValueError, r"seed must be in \[0, 18446744073709551615\]"),
    (si.OnePixel(10), {"num_classes": 1}, ValueError, r"num_classes must be in \[2, inf\], got 1"),
    (si.OnePixel(10), {"num_classes": -5}, ValueError, r"num_classes must be in \[2, inf\]"),
    (si.OnePixel(10), {"seed": 1.5}, TypeError, r"seed must be an integer, got 1.5"),
    (
        si.PatternPixels(10),
        {"num_classes": 10**6},
        ValueError,
        r"PatternPixels: num_classes=1000000 exceeds the signal's capacity of 16",
    ),
    (
        si.OnePixel(3),
        {"values": (1.0, 1.0, 2.0)},
        ValueError,
        r"values must be distinct",
    ),
    (si.OnePixel(3), {"values": (1.0, float("nan"), 2.0)}, ValueError, r"finite numbers"),
    (si.OnePixel(3), {"position": "ab"}, TypeError, r"position must be a \(row, column\) pair"),
    (si.Blend(3), {"strength": 1.5}, ValueError, r"strength \(alpha\) must be in \(0, 1\)"),
    (si.Mnemonic(3), {"chars": "aab"}, ValueError, r"chars must be distinct"),
    (
        si.Mnemonic(3),
        {"quantizer": tampered(si.CharQuantizer(), length=-1)},
        ValueError,
        r"length must be in \[1, 16777216\], got -1",
    ),
    (si.TriggerWord(3), {"count": 0}, ValueError, r"count must be in \[1, 64\], got 0"),
]


@pytest.mark.parametrize(("inj", "fields", "exc", "match"), BAD, ids=lambda v: str(v)[:40])
def test_a_bad_field_raises_at_load(
    inj: Any, fields: dict[str, Any], exc: type[Exception], match: str
) -> None:
    bad = tampered(copy.copy(inj), **fields)
    with pytest.raises(exc, match=match):
        torch.load(saved({"hyper_parameters": {"injector": bad}}), weights_only=True)
    with pytest.raises(exc, match=f"unpickling a .*{match}"):
        pickle.loads(pickle.dumps(bad))
    with pytest.raises(exc, match=match):
        copy.deepcopy(bad)


def test_a_bad_child_of_a_compose_raises_at_load() -> None:
    c = si.Compose([si.OrthogonalNoise(4), tampered(si.OnePixel(4), fidelity=2.0)])
    with pytest.raises(ValueError, match=r"unpickling a OnePixel: fidelity must be in"):
        torch.load(saved(c), weights_only=True)
    tampered(c, injectors=(si.OnePixel(4), "OnePixel"))
    with pytest.raises(TypeError, match=r"Compose: injectors\[1\] must be an Injector, got str"):
        pickle.loads(pickle.dumps(c))


@pytest.mark.parametrize(
    ("state", "exc", "match"),
    [
        ({"num_classes": 3, "decode": 1}, ValueError, r"holds 'decode', no field of it"),
        ({"seed": 1}, TypeError, r"OnePixel: the pickled state lacks num_classes"),
        ([("num_classes", 3)], TypeError, r"a pickled state must be a dict of its fields"),
    ],
)
def test_a_state_that_is_no_injector_is_refused(
    state: Any, exc: type[Exception], match: str
) -> None:
    inj = si.OnePixel.__new__(si.OnePixel)
    with pytest.raises(exc, match=match):
        inj.__setstate__(state)


def test_a_state_missing_a_field_with_a_default_takes_the_default() -> None:
    """A pickle from before a field existed loads with the field's default."""
    inj = si.OnePixel.__new__(si.OnePixel)
    inj.__setstate__({"num_classes": 3, "seed": 2})
    assert inj == si.OnePixel(3, seed=2)


def test_a_compose_state_is_checked() -> None:
    c = si.Compose.__new__(si.Compose)
    with pytest.raises(ValueError, match=r"must hold 'injectors' alone, got 'extra', 'injectors'"):
        c.__setstate__({"extra": 1, "injectors": (si.OnePixel(2),)})
    with pytest.raises(ValueError, match=r"Compose needs at least one injector"):
        c.__setstate__({"injectors": ()})


def test_a_prepared_injector_is_checked_as_it_loads() -> None:
    fast = si.OnePixel(4).prepare(np.zeros((2, 4, 4, 1), np.uint8), channels_last=True)
    assert pickle.loads(pickle.dumps(fast)) == fast
    for options, match in [
        ((("channels_last", "yes"),), r"channels_last must be True, False or None, got 'yes'"),
        ((("colour", 1),), r"takes the option channels_last only, got \['colour'\]"),
        ("channels_last", r"options must be \(name, value\) pairs"),
    ]:
        bad = tampered(copy.copy(fast), options=options)
        with pytest.raises(TypeError, match=match):
            torch.load(saved(bad), weights_only=True)
    bad = tampered(copy.copy(fast), injector=tampered(si.OnePixel(4), seed=-3))
    with pytest.raises(ValueError, match=r"unpickling a OnePixel: seed must be in"):
        torch.load(saved(bad), weights_only=True)
    text = si.Mnemonic(3).prepare(np.zeros((2, 1014), np.uint8))
    with pytest.raises(TypeError, match=r"Mnemonic takes no options, got \['channels_last'\]"):
        pickle.loads(pickle.dumps(tampered(text, options=(("channels_last", True),))))


def test_good_injectors_pickle_copy_and_load_as_they_were() -> None:
    for inj in (si.OnePixel(10, position=(1, 2), seed=3), si.LengthEncoding(5, pad="~")):
        assert pickle.loads(pickle.dumps(inj)) == inj
        assert copy.deepcopy(inj) == inj
        assert torch.load(saved(inj), weights_only=True) == inj
    c = si.Compose([si.OrthogonalNoise(4), si.OnePixel(4)])
    assert torch.load(saved(c), weights_only=True) == c
    fast = si.OnePixel(4).prepare(np.zeros((2, 4, 4, 1), np.uint8))
    assert torch.load(saved(fast), weights_only=True) == fast


def test_checkpoint_globals_lists_every_registered_signal() -> None:
    listed = set(checkpoint_globals())
    assert set(si.list_signals().values()) <= listed
    assert {si.Compose, si.CharQuantizer, Prepared, Params, ImageParams} <= listed
    assert si.adapters.checkpoint_globals() == checkpoint_globals()


# -- every registered signal through torch.save / torch.load(weights_only=True), both orders -------
ROUND_TRIP = """
    import io, json, sys
    import {first}
    import numpy as np
    import signalinject as si
    import torch

    @__import__("dataclasses").dataclass(frozen=True)
    class Late(si.OnePixel):  # a user's signal, defined after both imports
        name = "test_checkpoints_late"

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    y = np.arange(6) % 4
    codes = si.CharQuantizer().encode(["the cat sat on the mat"] * 6)
    done = []
    for name, cls in si.list_signals().items():
        inj = cls.for_benchmark(4, 3)
        x = img if cls.kind == "image" else codes
        inj = inj.fit(x, y)  # the One-Pixel Shortcut fitted: its fit is in its fields
        buf = io.BytesIO()
        torch.save({{"injector": inj, "w": torch.ones(2)}}, buf)
        buf.seek(0)
        back = torch.load(buf, weights_only=True)["injector"]
        assert back == inj and type(back) is cls, name
        assert np.array_equal(back(x, y), inj(x, y)), name
        done.append(name)
    print(json.dumps([done, list(si.list_signals())]))
"""


@pytest.mark.parametrize("first", ["torch", "signalinject"])
def test_every_registered_signal_loads_under_weights_only(first: str) -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    code = textwrap.dedent(ROUND_TRIP.format(first=first))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    names, registered = json.loads(done.stdout)
    assert names == registered  # every signal of the registry, read in that process
    assert {"blend", "sinusoid", "class_patch", "one_pixel_shortcut", "trigger_word"} <= set(names)
    assert "test_checkpoints_late" in names  # a user's signal, registered after torch loaded
    builtin = {n for n, c in si.list_signals().items() if c.__module__.startswith("signalinject.")}
    assert builtin <= set(names)


def test_a_users_signal_defined_before_torch_is_allow_listed_when_torch_comes() -> None:
    code = """
        import dataclasses, io, sys
        import signalinject as si

        @dataclasses.dataclass(frozen=True)
        class Early(si.OnePixel):
            name = "test_checkpoints_early"

        assert "torch" not in sys.modules
        import torch
        buf = io.BytesIO()
        torch.save(Early(3, seed=1), buf)
        buf.seek(0)
        print(torch.load(buf, weights_only=True) == Early(3, seed=1))
    """
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


# -- configs: a clear error for every malformed one ------------------------------------------------
def nested_compose(depth: int) -> dict[str, Any]:
    cfg: dict[str, Any] = si.OnePixel(2).get_config()
    for _ in range(depth):
        cfg = {"name": "compose", "injectors": [cfg]}
    return cfg


def nested_list(depth: int) -> Any:
    v: Any = [0, 0]
    for _ in range(depth):
        v = [v]
    return v


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"name": "compose"}, r"a compose config needs 'injectors': a list of injector configs"),
        ({"name": "compose", "injectors": "one_pixel"}, r"needs 'injectors': a list"),
        (
            {"name": "compose", "injectors": [si.OnePixel(2).get_config()], "seed": 3},
            r"a compose config holds 'name' and 'injectors' only, got 'seed'",
        ),
        (nested_compose(5000), r"injectors\[0\]: a Compose cannot hold another Compose"),
        (nested_compose(2), r"injectors\[0\]: a Compose cannot hold another Compose"),
        (
            {"name": "compose", "injectors": [{"num_classes": 2}]},
            r"injectors\[0\] must be a mapping with 'name'",
        ),
        (
            si.OnePixel(3).get_config() | {"colour": 1},
            r"config: OnePixel has no field 'colour'; its fields: num_classes, seed, coverage",
        ),
        (
            si.OnePixel(3).get_config() | {"position": nested_list(5000)},
            r"config\['position'\]: lists nested deeper than 8 levels",
        ),
        ({"name": ["compose"]}, r"config: unknown injector \['compose'\]"),
    ],
    ids=[
        "compose-no-injectors",
        "compose-injectors-not-a-list",
        "compose-extra-key",
        "compose-nested-5000",
        "compose-nested-2",
        "compose-child-without-name",
        "signal-extra-key",
        "value-nested-5000",
        "name-a-list",
    ],
)
def test_from_config_refuses_with_a_clear_value_error(config: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        si.from_config(config)
