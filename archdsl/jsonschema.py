"""The JSON Schema of the DSL, generated from the pydantic models and the layer registry.

Editors use it for completion and validation (``# yaml-language-server: $schema=...``).
Any scalar may also be a ``$name`` / ``${expression}`` string.

Example:
    >>> schema = dsl_schema()
    >>> "conv2d" in schema["$defs"]
    True
"""

from __future__ import annotations

from typing import Any

from archdsl.layers import REGISTRY
from archdsl.spec import Spec
from archdsl.trainconfig import TrainConfig

_EXPR = {"type": "string", "pattern": r"^.*\$.*$", "description": "$arg or ${expression}"}

_RESERVED: dict[str, Any] = {
    "id": {"type": "string", "description": "node name (unique in its scope)"},
    "from": {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "input node id(s); default: the previous node",
    },
    "repeat": {
        "anyOf": [{"type": "integer", "minimum": 1}, _EXPR],
        "description": "unroll n times; $i is the index",
    },
    "if": {"anyOf": [{"type": "boolean"}, _EXPR], "description": "keep the node only when true"},
}


def _allow_expressions(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _allow_expressions(v) for k, v in node.items()}
        if "type" in out and out.get("type") != "string" and "properties" not in out:
            return {"anyOf": [out, _EXPR]}
        return out
    if isinstance(node, list):
        return [_allow_expressions(v) for v in node]
    return node


def spec_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`~archdsl.spec.Spec`, its ``train:`` section described as the
    :class:`~archdsl.trainconfig.TrainConfig` that :func:`~archdsl.spec.validate_spec` makes of
    it (the model itself leaves the section untyped, so that specs without one never load it).

    >>> spec_schema()["properties"]["train"]["anyOf"][0]
    {'$ref': '#/$defs/TrainConfig'}
    """
    schema = Spec.model_json_schema(by_alias=True)
    train = TrainConfig.model_json_schema(by_alias=True)
    defs = {**schema.get("$defs", {}), **train.pop("$defs", {}), "TrainConfig": train}
    schema["$defs"] = dict(sorted(defs.items()))  # in pydantic's order
    described = schema["properties"]["train"]
    described.pop("title", None)  # as pydantic writes a field that refers to a model
    schema["properties"]["train"] = {
        "anyOf": [{"$ref": "#/$defs/TrainConfig"}, {"type": "null"}], **described
    }
    return schema


def dsl_schema() -> dict[str, Any]:
    """The full JSON Schema (draft 2020-12) of a spec file."""
    schema = spec_schema()
    defs = schema["$defs"]
    node_refs = []
    for key, layer in sorted(REGISTRY.items()):
        params = layer.Params.model_json_schema()
        params.pop("title", None)
        props = _allow_expressions(params.get("properties", {}))
        props.update(_RESERVED)
        defs[key] = {
            "type": "object",
            "description": layer.doc,
            "properties": props,
            "required": params.get("required", []),
            "additionalProperties": False,
        }
        node_refs.append(
            {
                "type": "object",
                "properties": {key: {"anyOf": [{"$ref": f"#/$defs/{key}"}, {"type": "null"}]}},
                "required": [key],
                "additionalProperties": False,
            }
        )
    block_call = {
        "type": "object",
        "description": "a block call: `- blockname: {args..., id, from, repeat, if}`",
        "minProperties": 1,
        "maxProperties": 1,
        "propertyNames": {"not": {"enum": sorted(REGISTRY)}},
        "additionalProperties": {"type": ["object", "null"]},
    }
    defs["Node"] = {"anyOf": [*node_refs, block_call]}
    schema["properties"]["body"] = {
        "type": "array",
        "items": {"$ref": "#/$defs/Node"},
        "description": "the nodes, chained top to bottom",
    }
    block = defs.get("BlockDef")
    if block:
        block["properties"]["body"] = {"type": "array", "items": {"$ref": "#/$defs/Node"}}
    # a spec that `extends` another takes its body from there
    schema["required"] = [r for r in schema.get("required", []) if r != "body"]
    schema["anyOf"] = [{"required": ["body"]}, {"required": ["extends"]}]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archdsl spec"

    return schema
