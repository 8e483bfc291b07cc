"""The DSL's features: chaining, ids, from, blocks, repeat, imports, defaults, expressions,
scaling, several inputs/outputs, if, extends, expect, train, overrides, expand round trip."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from helpers import net

import archdsl
from archdsl.errors import GraphError, ShapeError
from archdsl.graph import ExpectationError

RESNET = textwrap.dedent("""\
    archdsl: 1
    name: resnet-basic-demo
    input: [3, 32, 32]
    blocks:
      basic:
        args: {filters: int, stride: 1}
        body:
          - conv2d: {filters: $filters, kernel: 3, stride: $stride, padding: same, bias: false}
          - batchnorm: {}
          - relu: {}
          - conv2d: {filters: $filters, kernel: 3, padding: same, bias: false}
          - batchnorm: {id: main}
          - conv2d: {from: $in, filters: $filters, kernel: 1, stride: $stride, bias: false, id: proj}
          - add: {from: [main, proj]}
          - relu: {}
    body:
      - conv2d: {filters: 16, kernel: 3, padding: same}
      - basic: {filters: 16, repeat: 2}
      - basic: {filters: 32, stride: 2}
      - global_avg_pool: {}
      - dense: {units: 10}
    """)


def test_design_example_compiles():
    g = archdsl.loads(RESNET)
    assert g.output_shapes == [(10,)]
    assert "basic_1.0.main" in g.nx and "basic_1.1.proj" in g.nx and "basic_2.proj" in g.nx
    assert g["basic_2.proj"].shape == (32, 16, 16)
    assert g["basic_1.0.add_1"].inputs == ("basic_1.0.main", "basic_1.0.proj")
    # scopes are recorded for diagrams: (instance id, block name)
    assert g["basic_1.1.main"].scope == (("basic_1.1", "basic"),)
    conv = 16 * 3 * 9 + 16
    basic16 = 2 * (16 * 16 * 9) + 2 * 32 + 16 * 16
    basic32 = 32 * 16 * 9 + 32 * 32 * 9 + 2 * 64 + 16 * 32
    assert g.params["trainable"] == conv + 2 * basic16 + basic32 + 32 * 10 + 10


def test_implicit_chaining_and_ids():
    g = net("  - conv2d: {filters: 4, kernel: 3}\n  - relu: {id: act}\n  - relu: {}\n")
    assert list(g) == ["input", "conv2d_1", "act", "relu_1"]
    assert g["relu_1"].inputs == ("act",)


def test_nested_blocks_and_block_defaults():
    g = net(
        "  - outer: {width: 3}\n",
        extra=textwrap.dedent("""\
            defaults:
              conv2d: {bias: false}
            blocks:
              inner:
                args: {f: int}
                defaults: {conv2d: {padding: same}}
                body:
                  - conv2d: {filters: $f, kernel: 3}
              outer:
                args: {width: int}
                body:
                  - inner: {f: "${width * 2}", id: a}
                  - inner: {f: $width, id: b}
            """),
    )
    assert g["outer_1.a.conv2d_1"].shape == (6, 8, 8)
    assert g["outer_1.b.conv2d_1"].shape == (3, 8, 8)
    assert g.params["trainable"] == 3 * 6 * 9 + 6 * 3 * 9  # bias: false from spec defaults


def test_repeat_index_and_if():
    g = net(
        '  - stage: {repeat: 3, id: s}\n',
        extra=textwrap.dedent("""\
            blocks:
              stage:
                args: {}
                body:
                  - conv2d: {filters: 4, kernel: 3, padding: same, stride: "${2 if i == 0 else 1}"}
                  - add: {from: [$in, conv2d_1], if: "${in_channels == 4 and i > 0}"}
            """),
    )
    assert g["s.0.conv2d_1"].shape == (4, 4, 4)
    assert "s.0.add_1" not in g.nx and "s.1.add_1" in g.nx and "s.2.add_1" in g.nx
    assert g.outputs == ["s.2.add_1"]


def test_imports_and_import_cycle(tmp_path):
    (tmp_path / "lib.yaml").write_text("archdsl: 1\nblocks:\n  two:\n    args: {f: 4}\n    body:\n"
                                       "      - conv2d: {filters: $f, kernel: 1}\n      - relu: {}\n")
    spec = tmp_path / "net.yaml"
    spec.write_text("archdsl: 1\nname: n\nimport: [lib.yaml]\ninput: [2, 4, 4]\nbody:\n  - two: {}\n")
    assert archdsl.load(spec).output_shapes == [(4, 4, 4)]
    (tmp_path / "a.yaml").write_text("archdsl: 1\nimport: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("archdsl: 1\nimport: [a.yaml]\n")
    spec.write_text("archdsl: 1\nname: n\nimport: [a.yaml]\ninput: [2, 4, 4]\nbody:\n  - relu: {}\n")
    with pytest.raises(archdsl.SpecError, match="import cycle"):
        archdsl.load(spec)


def test_expressions_and_scaling_functions():
    g = net(
        "  - conv2d: {filters: '${round_filters(32, width)}', kernel: 1}\n"
        "  - conv2d: {filters: '${make_divisible(96 / 4)}', kernel: 1}\n",
        extra="args: {width: 1.2}\n",
    )
    assert [g[n].shape[0] for n, _ in g.layers()] == [40, 24]
    g2 = archdsl.loads(
        "archdsl: 1\nname: t\nargs: {width: 1.0}\ninput: [3, 8, 8]\nbody:\n"
        "  - conv2d: {filters: '${round_filters(32, width)}', kernel: 1}\n",
        width=1.2,
    )
    assert g2.output_shapes == [(40, 8, 8)]


def test_expressions_are_not_eval():
    with pytest.raises(archdsl.SpecError, match="not allowed"):
        net("  - conv2d: {filters: '${().__class__}', kernel: 1}\n")
    with pytest.raises(archdsl.SpecError, match="unknown function '__import__'"):
        net("  - conv2d: {filters: \"${__import__('os')}\", kernel: 1}\n")


def test_several_inputs_and_outputs():
    g = archdsl.loads(textwrap.dedent("""\
        archdsl: 1
        name: two-heads
        inputs: {image: [3, 8, 8], meta: [5]}
        body:
          - conv2d: {filters: 4, kernel: 3, id: feat}
          - global_avg_pool: {id: pooled}
          - dense: {units: 4, from: meta, id: m}
          - concat: {from: [pooled, m], id: joint}
          - dense: {units: 2, id: head_a}
          - dense: {units: 3, from: joint, id: head_b}
        outputs: [head_a, head_b]
        """))
    assert g.inputs == ["image", "meta"]
    assert g.output_shapes == [(2,), (3,)]


def test_extends_overrides_args(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "archdsl: 1\nname: base\nargs: {f: 4, res: 8}\ninput: [3, $res, $res]\n"
        "body:\n  - conv2d: {filters: $f, kernel: 3}\n")
    child = tmp_path / "child.yaml"
    child.write_text("archdsl: 1\nextends: base.yaml\nname: child\nargs: {res: 10}\n")
    g = archdsl.load(child)
    assert g.name == "child" and g.output_shapes == [(4, 8, 8)]


def test_extends_does_not_inherit_the_base_expectations(tmp_path):
    # the base's expect: describes the base; a child with other args must not fail it
    (tmp_path / "base.yaml").write_text(
        "archdsl: 1\nname: base\nargs: {f: 4}\ninput: [3, 8, 8]\n"
        "body:\n  - conv2d: {filters: $f, kernel: 3}\nexpect: {params: 112}\n")
    assert archdsl.load(tmp_path / "base.yaml").spec.expect is not None
    child = tmp_path / "child.yaml"
    child.write_text("archdsl: 1\nextends: base.yaml\nname: child\nargs: {f: 8}\n")
    g = archdsl.load(child)
    assert g.spec.expect is None and g.params["total"] == 224
    g.check_expectations()
    child.write_text("archdsl: 1\nextends: base.yaml\nname: child\nargs: {f: 8}\n"
                     "expect: {params: 225}\n")
    with pytest.raises(ExpectationError, match="params: expected 225, computed 224") as info:
        archdsl.load(child).check_expectations()
    assert info.value.loc.file.endswith("child.yaml")


def test_expect_verified():
    g = net("  - dense: {units: 2}\n", "[3]", extra="expect: {params: 8, output_shape: [2]}\n")
    g.check_expectations()
    bad = net("  - dense: {units: 2}\n", "[3]", extra="expect: {params: 9}\n")
    with pytest.raises(ExpectationError, match="params: expected 9, computed 8"):
        bad.check_expectations()


def test_train_section_is_parsed():
    g = net("  - relu: {}\n", extra="train: {dataset: digits, epochs: 2, optimizer: {name: sgd, lr: 0.1}}\n")
    assert g.spec.train is not None
    assert (g.spec.train.epochs, g.spec.train.optimizer.name, g.spec.train.optimizer.lr) == (2, "sgd", 0.1)
    assert g.spec.train.optimizer.momentum == 0.0 and g.spec.train.batch_size == 50


def test_train_section_errors_are_located():
    with pytest.raises(archdsl.SpecError, match="'momentun' in 'train.optimizer'. Did you mean 'momentum'") as info:
        net("  - relu: {}\n", extra="train:\n  optimizer: {name: sgd, momentun: 0.9}\n")
    assert (info.value.loc.line, info.value.loc.col) == (5, 26)


def test_misspelled_optimizer_and_schedule_names_get_a_suggestion():
    with pytest.raises(archdsl.SpecError, match="Received: 'adamm'. Did you mean 'adam' or 'adamw'") as info:
        net("  - relu: {}\n", extra="train:\n  optimizer: {name: adamm}\n")
    assert (info.value.loc.line, info.value.loc.col) == (5, 21)
    with pytest.raises(archdsl.SpecError, match="'train.schedule.name'.*Received: 'cosin'. Did you mean 'cosine'"):
        net("  - relu: {}\n", extra="train:\n  schedule: {name: cosin}\n")


def test_train_section_that_is_not_a_mapping_is_located():
    with pytest.raises(archdsl.SpecError, match="invalid value for 'train' in the spec: Input should be a valid "
                       "dictionary") as info:
        net("  - relu: {}\n", extra="train: 5\n")
    assert (info.value.loc.line, info.value.loc.col) == (4, 8)


def test_expand_round_trip():
    g = archdsl.loads(RESNET)
    flat = yaml.safe_dump(g.expanded(), sort_keys=False)
    g2 = archdsl.loads(flat)
    assert list(g2) == list(g)
    assert [g2[n].shape for n in g2] == [g[n].shape for n in g]
    assert g2.params == g.params and g2.macs == g.macs


def test_every_default_resolved_in_ir():
    g = net("  - batchnorm: {}\n  - leaky_relu: {}\n  - gelu: {}\n")
    assert g["batchnorm_1"].values == {} and g["batchnorm_1"].params.momentum == 0.1
    assert g["batchnorm_1"].params.eps == 1e-5
    assert g["leaky_relu_1"].params.negative_slope == 0.01
    assert g["gelu_1"].params.approximate == "none"
    flat = g.expanded()["body"]
    assert flat[0]["batchnorm"]["momentum"] == 0.1


def test_schema_describes_every_layer():
    from archdsl.jsonschema import dsl_schema
    from archdsl.layers import REGISTRY

    schema = dsl_schema()
    assert set(REGISTRY) <= set(schema["$defs"])
    assert set(schema["$defs"]["conv2d"]["required"]) == {"filters", "kernel"}
    assert "filters" in schema["$defs"]["conv2d"]["properties"]


def test_type_chosen_by_argument_and_indexing():
    g = net(
        "  - stage: {act: hard_swish, widths: [4, 6]}\n",
        extra=textwrap.dedent("""\
            blocks:
              stage:
                args: {act: str, widths: list}
                body:
                  - conv2d: {filters: "${widths[1]}", kernel: 1}
                  - $act: {id: act}
            """),
    )
    assert g["stage_1.act"].type == "hard_swish" and g["stage_1.act"].shape == (6, 8, 8)
    with pytest.raises(archdsl.SpecError, match="unknown layer type 'hardswish'.*hard_swish"):
        net("  - $act: {}\n", extra="args: {act: hardswish}\n")


@pytest.mark.parametrize("order", ["outer first", "inner first"])
def test_a_node_cannot_nest_inside_another_node(order):
    outer, inner = "  - conv2d: {filters: 1, kernel: 3, id: c}\n", "  - relu: {id: c.weight}\n"
    body = outer + inner if order == "outer first" else inner + outer
    with pytest.raises(GraphError) as err:
        net(body, "[1, 8, 8]")
    assert "nest one inside the other" in str(err.value)
    assert "rename 'c.weight', for example to 'c_weight'" in err.value.hint


def test_ragged_fixed_weights_are_a_located_shape_error():
    with pytest.raises(ShapeError) as err:
        net("  - conv2d: {filters: 1, kernel: 3, fixed: [[1, 2, 3], [1, 2], [1, 2, 3]]}\n",
            "[1, 8, 8]")
    assert "'fixed' must be rectangular" in str(err.value) and err.value.loc.line == 5
    with pytest.raises(ShapeError, match=r"do not fit the kernel \[1, 1, 3, 3\]"):
        net("  - conv2d: {filters: 1, kernel: 3, fixed: [[1, 2], [1, 2]]}\n", "[1, 8, 8]")


def test_repeat_zero_yields_nothing():
    g = net("  - conv2d: {filters: 4, kernel: 1, repeat: 0}\n  - relu: {}\n")
    assert [n.type for n in g.walk()] == ["relu"]
    assert g["relu_1"].inputs == ("input",)


BLOCK_READS_INPUT = """archdsl: 1
name: t
input: [4, 8, 8]
blocks:
  b:
    body:
      - conv2d: {filters: 4, kernel: 1, id: c}
      - add: {from: [c, FROM]}
body:
  - relu: {}
  - b: {}
"""


def test_from_inside_a_block_means_the_blocks_own_names():
    with pytest.raises(GraphError) as err:
        archdsl.loads(BLOCK_READS_INPUT.replace("FROM", "input"), "t.yaml")
    assert "unknown node 'input' in 'from'" in str(err.value)
    assert "$in (the first) and $inputs" in err.value.hint
    g = archdsl.loads(BLOCK_READS_INPUT.replace("FROM", "$in"), "t.yaml")
    assert g["b_1.add_1"].inputs == ("b_1.c", "relu_1")


def test_split_makes_addressable_slices_and_continues_from_the_last_part():
    g = net("  - split: {sizes: [3, 5], names: [a, b], id: parts}\n"
            "  - relu: {}\n"
            "  - concat: {from: [parts.a, relu_1]}\n", "[8, 4, 4]")
    assert [(n.id, n.type, n.shape) for n in g.walk()] == [
        ("parts.a", "slice", (3, 4, 4)), ("parts.b", "slice", (5, 4, 4)),
        ("relu_1", "relu", (5, 4, 4)), ("concat_1", "concat", (8, 4, 4))]
    assert (g["parts.b"].params.start, g["parts.b"].params.stop) == (3, 8)
    assert g["relu_1"].inputs == ("parts.b",)
    with pytest.raises(archdsl.SpecError, match=r"sizes \[3, 4\] add up to 7, the axis has 8"):
        net("  - split: {sizes: [3, 4]}\n", "[8, 4, 4]")


def test_top_level_defaults_reaching_into_a_library_are_reported(tmp_path):
    spec = ("archdsl: 1\nname: t\ninput: [8, 4, 4]\nimport: [lib/se.yaml]\n"
            "defaults: {conv2d: {bias: false}}\nbody:\n"
            "  - conv2d: {filters: 8, kernel: 1}\n"
            "  - squeeze_excitation: {squeeze: 2, id: s}\n")
    g = archdsl.loads(spec, "specs/t.yaml")
    assert len(g.notes) == 1
    assert g.notes[0].startswith("top-level defaults set conv2d bias=False in 2 layer(s) of the "
                                 "imported library")
    assert "(s.fc1, s.fc2)" in g.notes[0]
    assert g["s.fc1"].params.bias is False  # the reach stays: it is how zoo specs set BN eps
    own = archdsl.loads(spec.replace("import: [lib/se.yaml]\n", "").replace(
        "  - squeeze_excitation: {squeeze: 2, id: s}\n", ""), "specs/t.yaml")
    assert own.notes == []


SE_SPEC = ("archdsl: 1\nname: t\ninput: [8, 4, 4]\nimport: [lib/se.yaml]\n"
           "defaults: {conv2d: {bias: false}}\nbody:\n"
           "  - squeeze_excitation: {squeeze: 2, id: s}\n")


def test_a_default_equal_to_the_types_own_changes_nothing_and_is_not_reported():
    g = archdsl.loads(SE_SPEC.replace("bias: false", "bias: true"), "specs/t.yaml")
    assert g.notes == []
    g = archdsl.loads(SE_SPEC.replace("bias: false", "bias: true, stride: 2"), "specs/t.yaml")
    assert [n[:48] for n in g.notes] == ["top-level defaults set conv2d stride=2 in 2 laye"]


@pytest.mark.parametrize(("scope", "bias", "params"), [
    ("imports", False, 32), ("spec", True, 42)])
def test_defaults_scope_says_where_top_level_defaults_apply(scope, bias, params):
    g = archdsl.loads(SE_SPEC.replace("body:", f"defaults_scope: {scope}\nbody:"), "specs/t.yaml")
    assert g.notes == []
    assert (g["s.fc1"].params.bias, g.params["total"]) == (bias, params)


def test_defaults_scope_spec_keeps_the_defaults_in_the_specs_own_layers():
    g = archdsl.loads(SE_SPEC.replace("body:", "defaults_scope: spec\nbody:\n"
                                      "  - conv2d: {filters: 8, kernel: 1, id: c}"), "specs/t.yaml")
    assert (g["c"].params.bias, g["s.fc1"].params.bias) == (False, True)


def test_a_misspelled_defaults_scope_gets_the_choices(tmp_path):
    with pytest.raises(archdsl.SpecError, match="'imports'") as err:
        archdsl.loads(SE_SPEC.replace("body:", "defaults_scope: import\nbody:"), "specs/t.yaml")
    assert "Did you mean 'imports'?" in str(err.value)


def test_a_shipped_library_is_named_as_shipped_from_a_spec_elsewhere(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(SE_SPEC)
    note = archdsl.load(spec).notes[0]
    assert "of the imported library lib/se.yaml (shipped) (s.fc1, s.fc2)" in note


@pytest.mark.parametrize("line", [
    "leaky_relu: {negative_slope: .nan}", "elu: {alpha: .inf}", "batchnorm: {eps: .inf}",
    "layer_norm: {eps: .nan}", "group_norm: {groups: 1, eps: .inf}", "scale: {factor: -.inf}",
    "layer_scale: {init: .nan}", "pad: {pads: [[0, 0], [1, 1], [1, 1]], value: .nan}",
])
def test_non_finite_numeric_arguments_are_refused(line):
    with pytest.raises(archdsl.SpecError, match="finite number"):
        net(f"  - {line}\n", "[3, 4, 4]")


def test_an_expression_built_input_is_bounded_by_the_tensor_limit():
    with pytest.raises(archdsl.ArchdslError) as err:
        archdsl.loads('archdsl: 1\nname: t\ninput: [3, "${2**40}", 1]\nbody:\n  - relu: {}\n',
                      "t.yaml")
    assert "more than the limit of" in str(err.value)
    assert "--max-tensor-elements" in err.value.hint


def test_check_prints_the_defaults_notes_before_the_totals():
    from archdsl.report import graph_json, summary_text

    g = archdsl.loads("archdsl: 1\nname: t\ninput: [8, 4, 4]\nimport: [lib/se.yaml]\n"
                      "defaults: {conv2d: {bias: false}}\nbody:\n"
                      "  - squeeze_excitation: {squeeze: 2, id: s}\n", "specs/t.yaml")
    lines = summary_text(g).splitlines()
    assert lines[-2].startswith("note: top-level defaults set conv2d bias=False in 2 layer(s)")
    assert lines[-1].startswith("params: ")
    assert graph_json(g)["notes"] == g.notes
