"""The canonical ``.npz`` weights file, framework-free: keys, metadata, round trip, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import archdsl
from archdsl.init import init_weights
from archdsl.weights import (
    KEY_SEP,
    META_KEY,
    WeightsError,
    from_flat,
    load_npz,
    load_npz_for,
    load_npz_meta,
    save_npz,
    to_flat,
)

SPECS = Path(__file__).resolve().parents[2] / "specs"


def test_round_trip_keeps_arrays_dtypes_and_meta(tmp_path):
    g = archdsl.load(SPECS / "mobilenet_v3_small.yaml")
    weights = init_weights(g, seed=5)
    weights["classifier.3"]["bias"] = weights["classifier.3"]["bias"].astype(np.float32)
    path = tmp_path / "w.npz"
    meta = {"source": "test", "notes": ["a", "b"], "input_shapes": [[3, 224, 224]]}
    save_npz(path, weights, meta)
    back = load_npz(path)
    assert set(back) == set(weights)
    for node, arrays in weights.items():
        assert set(back[node]) == set(arrays)
        for name, arr in arrays.items():
            assert back[node][name].dtype == arr.dtype and np.array_equal(back[node][name], arr)
    assert load_npz_meta(path) == meta
    with np.load(path, allow_pickle=False) as data:  # plain arrays, no pickled objects
        assert "features.0.conv/kernel" in data.files and META_KEY in data.files
        assert json.loads(str(data[META_KEY]))["source"] == "test"


def test_keys_are_node_slash_weight():
    flat = to_flat({"layer1.0.conv1": {"kernel": np.zeros(2)}})
    assert list(flat) == [f"layer1.0.conv1{KEY_SEP}kernel"]
    assert from_flat({**flat, META_KEY: np.array("{}")})["layer1.0.conv1"]["kernel"].shape == (2,)
    with pytest.raises(WeightsError, match="contains '/'"):
        to_flat({"a/b": {"kernel": np.zeros(1)}})
    with pytest.raises(WeightsError, match="'kernel' is not '<node id>/<weight name>'"):
        from_flat({"kernel": np.zeros(1)})


def test_without_meta_the_meta_is_empty(tmp_path):
    path = tmp_path / "w.npz"
    save_npz(path, {"fc": {"bias": np.ones(2)}})
    assert load_npz_meta(path) == {} and load_npz(path)["fc"]["bias"].tolist() == [1.0, 1.0]


def test_unreadable_files_are_weights_errors(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    for path in (garbage, tmp_path / "missing.npz"):
        with pytest.raises(WeightsError, match=f"cannot read weights file '{path}'") as err:
            load_npz(path)
        assert "archdsl import-weights" in err.value.hint
        with pytest.raises(WeightsError, match="cannot read the metadata"):
            load_npz_meta(path)


def test_load_for_a_graph_names_the_spec_the_file_was_made_for(tmp_path):
    text = "archdsl: 1\nname: {name}\ninput: [4]\nbody:\n  - dense: {{units: {units}, id: fc}}\n"
    made_for = archdsl.loads(text.format(name="two", units=2), "t.yaml")
    path = tmp_path / "w.npz"
    save_npz(path, init_weights(made_for, seed=0), {"spec": "two", "input_shapes": [[4]]})
    assert load_npz_for(made_for, path)["fc"]["kernel"].shape == (2, 4)
    other = archdsl.loads(text.format(name="three", units=3), "t.yaml")
    with pytest.raises(WeightsError) as err:
        load_npz_for(other, path)
    assert str(err.value) == (
        f"'{path}' does not fit 'three': node 'fc', weight 'kernel': expected shape [3, 4], "
        "received [2, 4] (the file was made for spec 'two', input [[4]])")
    assert "--set / --input-shape" in err.value.hint
