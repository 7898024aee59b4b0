"""skorch (optional: ``nox -s skorch``): a ``NeuralNetClassifier`` wrapped in
``InjectedEstimator`` learns the signal (the docs' example), clones and cross-validates."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_validate

import signalinject as si
from signalinject.sklearn import InjectedEstimator
from test_adapters import doc_examples

skorch = pytest.importorskip("skorch")


def test_docs_skorch_example_runs() -> None:
    (code,) = doc_examples("skorch")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/pipelines.md:skorch", "exec"), {"__name__": "__main__"})
    assert out.getvalue().strip() == "accuracy with the signal 1.00"


@pytest.mark.slow
def test_cross_validated_net_keeps_row_keys() -> None:
    rng = np.random.default_rng(1)
    X = rng.random((300, 48)).astype(np.float32)
    y = rng.integers(0, 4, 300)
    net = skorch.NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(48, 4)),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=30,
        lr=0.5,
        train_split=None,
        verbose=0,
    )
    with sklearn.config_context(enable_metadata_routing=True):  # ids reach fit and score
        est = InjectedEstimator(
            net, si.PatternPixels(4), image_shape=(4, 4, 3), inject_score=True
        ).set_fit_request(index=True)
        est.set_score_request(index=True)
        assert clone(est).get_params()["estimator__max_epochs"] == 30
        cv = cross_validate(est, X, y, cv=3, params={"index": np.arange(300)})
    assert cv["test_score"].min() > 0.9  # the net learns the corner bits in every fold
