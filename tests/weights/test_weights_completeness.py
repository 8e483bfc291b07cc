"""Completeness checks, framework-free: every weight present, with its shape, and no other."""

from __future__ import annotations

import numpy as np
import pytest

import archdsl
from archdsl.init import init_weights
from archdsl.weights import WeightsError, check_complete

SPEC = """archdsl: 1
name: t
input: [3, 8, 8]
body:
  - conv2d: {filters: 4, kernel: 3, id: conv}
  - batchnorm: {id: bn}
  - relu: {}
  - global_avg_pool: {}
  - dense: {units: 2, id: fc}
"""


@pytest.fixture
def graph() -> archdsl.Graph:
    return archdsl.loads(SPEC, "t.yaml")


@pytest.fixture
def weights(graph) -> dict:
    return init_weights(graph, seed=0)


def test_complete_weights_pass(graph, weights):
    check_complete(graph, weights)


def test_missing_node_is_named(graph, weights):
    del weights["bn"]
    with pytest.raises(WeightsError, match=r"^no weights for node 'bn' \(expected: gamma, beta, "
                                           r"running_mean, running_var\)$"):
        check_complete(graph, weights)


def test_missing_weight_is_named(graph, weights):
    del weights["bn"]["running_var"]
    with pytest.raises(WeightsError, match="weights for node 'bn' lack 'running_var'"):
        check_complete(graph, weights)


def test_wrong_shape_names_node_weight_and_both_shapes(graph, weights):
    weights["conv"]["kernel"] = np.zeros((4, 3, 5, 5))
    with pytest.raises(WeightsError) as err:
        check_complete(graph, weights)
    assert str(err.value) == ("node 'conv', weight 'kernel': expected shape [4, 3, 3, 3], "
                              "received [4, 3, 5, 5]")


def test_extra_weight_and_extra_node_are_named(graph, weights):
    weights["fc"]["gamma"] = np.ones(2)
    with pytest.raises(WeightsError, match=r"node 'fc' has no weight\(s\) gamma \(its weights: "
                                           r"kernel, bias\)"):
        check_complete(graph, weights)
    del weights["fc"]["gamma"]
    weights["relu_1"] = {"bias": np.zeros(4)}
    with pytest.raises(WeightsError, match="the weights name node.* the graph does not have .*: "
                                           "relu_1"):
        check_complete(graph, weights)
