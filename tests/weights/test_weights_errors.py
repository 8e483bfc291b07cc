"""The error type of the weights package: a user-input error with its own kind, exit code 2."""

from __future__ import annotations

import argparse

import numpy as np

from archdsl import cli
from archdsl.errors import ArchdslError, BackendError
from archdsl.weights import WeightsError, check_complete


def test_weights_error_is_a_user_input_error():
    assert issubclass(WeightsError, ArchdslError)
    assert not issubclass(WeightsError, BackendError)
    err = WeightsError("no weights for node 'fc'", hint="import them for this spec")
    assert err.kind == "weights error" and err.exit_code == 2
    assert err.render() == "weights error: no weights for node 'fc'\nhint: import them for this spec"


def test_cli_prints_it_and_exits_2(monkeypatch, capsys):
    import archdsl

    graph = archdsl.loads("archdsl: 1\nname: t\ninput: [4]\nbody:\n  - dense: {units: 2}\n")

    def probe(ns: argparse.Namespace) -> int:
        check_complete(graph, {"dense_1": {"kernel": np.zeros((2, 4))}})
        return 0

    monkeypatch.setitem(cli.COMMANDS, "weights-probe", (probe, lambda p: None, "test only"))
    assert cli.main(["weights-probe"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("weights error: weights for node 'dense_1' lack 'bias'"), err
    assert "Traceback" not in err
