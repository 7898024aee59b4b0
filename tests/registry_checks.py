"""Shared checkers for the registries' entries, as ``tests/checks.py`` is for signals.

- :func:`check_model`: a registered model builds at every input shape it takes
  (``registry.DOC_SHAPES``), maps a batch to finite logits ``(N, K)`` and back-propagates finite
  gradients (an estimator: fits and predicts labels in ``0..K-1``), has at every such shape the
  parameter count the docs' tables print (``registry.count_parameters``, checked against a
  count of its own; ``test_registry`` checks the tables against the docs), is refused an input
  it does not take, and keys its cells as its identity rule says (a changed structure gives a
  new identity; the weights do not).
- :func:`check_dataset`: a registered data set loads as its entry declares (kind, classes,
  dtypes, labels), honours ``limit``, loads the same twice, and, where it is not embedded, says
  where to put its files when they are missing.

``tests/test_registry.py`` runs both on every entry, a throwaway one included.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from signalinject.benchmarks import registry
from signalinject.benchmarks.datasets import load_dataset

__all__ = ["PAPER_MODELS", "check_dataset", "check_model"]

#: The models whose cells 0.1.0 keyed by name (identity "paper"): frozen history, never grows.
PAPER_MODELS = frozenset(
    {
        "convnet", "charcnn", "charcnn_large", "charcnn_narrow", "shallow_max", "perceptron",
        "gaussian_nb", "decision_tree", "extra_trees", "logistic_regression", "lda", "qda",
    }
)  # fmt: skip


def _batch(inputs: str, shape: tuple[int, ...], n: int = 3) -> torch.Tensor:
    if inputs == "codes":
        return torch.randint(0, 71, (n, *shape))  # 0 padding, 1..70 Zhang et al.'s alphabet
    return torch.rand(n, *shape)


def _counted(net: torch.nn.Module) -> int:
    """Trainable parameters, counted here (not by ``registry.count_parameters``)."""
    return sum(math.prod(p.shape) for p in net.parameters() if p.requires_grad)


def check_model(name: str) -> None:
    """Every check of the module doc on registered model ``name``."""
    entry = registry.MODELS[name]
    m = registry.model(name)
    assert m.entry is entry
    assert entry.display_name
    assert set(entry.kinds) <= {"image", "text"}
    assert entry.kinds
    for run, as_named in entry.defaults.items():  # a default run names a model of this entry
        found = registry.find_model(as_named)
        assert found is not None, (run, as_named)
        assert found.entry is entry, (run, as_named)
    if entry.inputs == ("features",):
        _check_estimator(m)
        return
    assert "features" not in entry.inputs, "a torch model takes images or codes"
    for inputs in entry.inputs:
        k = registry.DOC_CLASSES[inputs]
        for shape in registry.DOC_SHAPES[inputs]:  # the docs' tables count it there
            torch.manual_seed(0)
            net = m.build(shape, k)
            assert isinstance(net, torch.nn.Module), type(net)
            assert registry.count_parameters(net) == _counted(net), (name, shape)
        shape = registry.DOC_SHAPES[inputs][0]
        torch.manual_seed(0)
        net = m.build(shape, k).train()
        x = _batch(inputs, shape)
        out = net(x)
        assert out.shape == (3, k), out.shape
        assert out.dtype == torch.float32, out.dtype
        assert torch.isfinite(out).all()
        F.cross_entropy(out, torch.arange(3) % k).backward()
        grads = [p.grad for p in net.parameters() if p.requires_grad]
        assert grads
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        net.eval()
        assert net(x).shape == (3, k)
    for inputs, shapes in registry.DOC_SHAPES.items():
        if inputs not in entry.inputs:  # an input it does not take is refused by name
            with pytest.raises(ValueError, match=rf"^{re.escape(name)} takes "):
                m.build(shapes[0], 3)
    _check_identity(m)


def _check_identity(m: registry.Model) -> None:
    entry = m.entry
    inputs = entry.inputs[0]
    small, large = registry.DOC_SHAPES[inputs]
    k = registry.DOC_CLASSES[inputs]
    torch.manual_seed(0)
    a = m.build(small, k)
    torch.manual_seed(1)
    again = m.build(small, k)
    if entry.identity == "paper":
        assert entry.name in PAPER_MODELS, f"{entry.name}: only 0.1.0's models are keyed by name"
        assert m.identity(a) is None
        return
    assert entry.identity == "structure", entry.identity
    assert m.identity(a) == m.identity(again) == {"structure": registry.structure_hash(a)}
    other = m.build(large, k)  # another input: other layer shapes, another structure
    if _counted(other) != _counted(a):
        assert m.identity(other) != m.identity(a)
    sized = {registry.find_model(n) for n in entry.defaults.values()} - {None}
    variants = {repr(dict(s.options)): s for s in sized if s is not None}
    if len(variants) > 1:  # the default runs' sizes: different structures, different cells
        ids = {str(v.identity(v.build(small, k))) for v in variants.values()}
        assert len(ids) == len(variants), ids


def _check_estimator(m: registry.Model) -> None:
    assert m.entry.identity in ("paper", "structure")
    if m.entry.identity == "paper":
        assert m.entry.name in PAPER_MODELS
    rng = np.random.default_rng(0)
    for k in (2, 5):
        y = np.arange(40) % k
        x = (rng.normal(size=(40, 12)) + 4.0 * y[:, None]).astype(np.float32)
        est = m.build((12,), k, seed=3)
        est.fit(x, y)
        pred = np.asarray(est.predict(x))
        assert pred.shape == (40,)
        assert np.isin(pred, np.arange(k)).all()
        assert (pred == y).mean() > 0.9  # separable: learned


def check_dataset(name: str, tmp_path: Path) -> None:
    """Every check of the module doc on registered data set ``name`` (``tmp_path``: an empty
    folder, for a set that is not embedded)."""
    entry = registry.DATASETS[name]
    assert entry.built
    assert entry.citation
    assert entry.size
    assert entry.kind in ("image", "text")
    if not entry.embedded:
        # says where it looked (and what to put there)
        with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
            load_dataset(name, data_dir=tmp_path)
        return
    full = load_dataset(name)
    assert full.name == name
    assert (full.kind, full.num_classes) == (entry.kind, entry.num_classes)
    assert full.description
    for x, y in ((full.x_train, full.y_train), (full.x_test, full.y_test)):
        assert len(x) == len(y) > 0
        assert y.dtype == np.int64
        assert y.ndim == 1
        assert y.min() >= 0
        assert y.max() < entry.num_classes
        if entry.kind == "image":
            assert isinstance(x, np.ndarray)
            assert x.dtype == np.uint8
            assert x.ndim == 4
        else:
            assert isinstance(x, list)
            assert all(isinstance(t, str) for t in x[:50])
    sizes = re.fullmatch(r"(\d+) / (\d+)", entry.size)
    if sizes is not None:  # an exact size is what loads (a "~" one varies with the Python)
        assert (len(full.y_train), len(full.y_test)) == tuple(map(int, sizes.groups()))
    few = load_dataset(name, limit=7)
    assert len(few.y_train) == len(few.y_test) == 7
    np.testing.assert_array_equal(few.y_train, full.y_train[:7])
    again = load_dataset(name)  # the same data every time
    np.testing.assert_array_equal(again.y_test, full.y_test)
    if entry.kind == "image":
        np.testing.assert_array_equal(again.x_test, full.x_test)
    else:
        assert again.x_test == full.x_test
