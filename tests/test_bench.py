"""The benchmark scripts' framework-free parts: the variants and tables they print."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import divergence


def types(graph):
    return Counter(graph[n].type for n in graph.nx)


def test_divergence_variants_change_only_what_they_name():
    chapter = divergence.variant_graph("chapter")
    no_bias = divergence.variant_graph("no-conv-bias")
    avg = divergence.variant_graph("avg-pool")
    assert chapter.params == {"trainable": 293034, "non_trainable": 896, "total": 293930}
    # 2 convs per block of 32, 64 and 128 filters lose their biases
    assert no_bias.params["trainable"] == 293034 - 2 * (32 + 64 + 128) == 292586
    assert types(no_bias) == types(chapter)
    assert avg.params == chapter.params
    assert types(avg)["avg_pool2d"] == types(chapter)["max_pool2d"] == 3
    assert types(avg)["max_pool2d"] == 0


def test_loss_gaps_is_the_running_maximum(tmp_path):
    rows = ["epoch,step,framework,loss,acc,lr"]
    for step, (t, k) in enumerate([(2.0, 2.0), (1.0, 1.5), (1.0, 1.1)], start=1):
        rows += [f"1,{step},torch,{t},0.1,0.001", f"1,{step},keras,{k},0.1,0.001"]
    path = tmp_path / "metrics.csv"
    path.write_text("\n".join(rows) + "\n")
    assert divergence.loss_gaps(path) == pytest.approx({1: 0.0, 2: 0.5, 3: 0.5})


def test_divergence_rejects_unknown_variant(capsys):
    with pytest.raises(SystemExit) as exc:
        divergence.main(["--variants", "chapter,max-pool"])
    assert exc.value.code == 2
    assert "unknown 'max-pool'; valid: chapter, no-conv-bias, avg-pool" in capsys.readouterr().err


def test_cifar10_book_targets_flag_the_spread():
    from types import SimpleNamespace

    import cifar10_book

    def run(*accs):
        epochs = [
            {"epoch": i, "torch": {"val_acc": t}, "keras": {"val_acc": k}}
            for i, (t, k) in enumerate(accs, start=1)
        ]
        return dict(cifar10_book.check_targets(SimpleNamespace(epochs=epochs)))

    # the float32 table of docs/benchmarks.md: epoch 3 differs by 0.54 points
    f32 = run((0.6394, 0.6443), (0.7119, 0.7146), (0.7433, 0.7379), (0.7694, 0.7657),
              (0.7949, 0.7916))
    assert f32 == {
        "torch epoch 1: 63.94% >= 50%": True,
        "keras epoch 1: 64.43% >= 50%": True,
        "torch epoch 5: 79.49% >= 70%": True,
        "keras epoch 5: 79.16% >= 70%": True,
        "largest spread 0.54 points <= 0.5": False,
    }
    assert run((0.49, 0.49))["torch epoch 1: 49.00% >= 50%"] is False
