"""Arguments during expansion: evaluating them, binding a block's arguments, and the errors
for node ids, argument types and layer parameters.

Example:
    >>> eval_deep(["${2 * width}", 3], {"width": 8}, None)
    [16, 3]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from archdsl.errors import Location, SpecError, choices_text, did_you_mean
from archdsl.expr import evaluate_value
from archdsl.source import YList, YMap
from archdsl.spec import ARG_TYPES, RESERVED_KEYS, choice_hint, first_error

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "any": (object,),
}



def bind_block_args(
    kind: str,
    declared: Mapping[str, Any],
    raw: YMap,
    args_tree: YMap | None,
    loc: Location,
    env: Mapping[str, Any],
    inner_env: dict[str, Any],
) -> None:
    """Evaluate a block call's arguments into ``inner_env``: given values in the caller's
    ``env`` (type-checked against their declaration), defaults in the block's own scope."""
    given = {k: v for k, v in raw.items() if k not in RESERVED_KEYS}
    for name in given:
        if name not in declared:
            raise SpecError(
                f"block '{kind}' has no argument '{name}'.{did_you_mean(name, declared)}",
                raw.key_loc(name),
                hint=f"its arguments: {choices_text(declared) or '(none)'}",
            )
    for name, decl in declared.items():
        decl_loc = args_tree.value_loc(name) if isinstance(args_tree, YMap) else loc
        if name in given:
            value = eval_deep(given[name], env, raw.value_loc(name))
            if decl in ARG_TYPES:
                check_arg_type(kind, name, decl, value, raw.value_loc(name))
        elif isinstance(decl, str) and decl in ARG_TYPES:
            raise SpecError(
                f"block '{kind}' needs the argument '{name}' ({decl})",
                loc,
                hint=f"for example: - {kind}: {{{name}: ...}}",
            )
        else:
            value = eval_deep(decl, inner_env, decl_loc)
        inner_env[name] = value


def eval_deep(value: Any, env: Mapping[str, Any], loc: Location) -> Any:
    if isinstance(value, YList):
        return [eval_deep(v, env, value.item_loc(i)) for i, v in enumerate(value)]
    if isinstance(value, list):
        return [eval_deep(v, env, loc) for v in value]
    if isinstance(value, YMap):
        return {k: eval_deep(v, env, value.value_loc(k)) for k, v in value.items()}
    if isinstance(value, dict):
        return {k: eval_deep(v, env, loc) for k, v in value.items()}
    return evaluate_value(value, env, loc)


def check_id(value: Any, loc: Location) -> None:
    ok = (
        isinstance(value, str)
        and all(
            part
            and (part[0].isalpha() or part[0] == "_" or (i > 0 and part.isdigit()))
            and part.replace("_", "a").isalnum()
            for i, part in enumerate(value.split("."))
        )
        if isinstance(value, str)
        else False
    )
    if not ok:
        raise SpecError(
            f"'id' must be a name of letters, digits and '_' (dots only as scope separators), "
            f"starting with a letter; received {value!r}",
            loc,
        )


def check_arg_type(block: str, name: str, decl: str, value: Any, loc: Location) -> None:
    ok = isinstance(value, _TYPES[decl]) and not (
        decl in ("int", "float") and isinstance(value, bool)
    )
    if not ok:
        raise SpecError(
            f"argument '{name}' of block '{block}' must be {decl}, received {value!r}", loc
        )


def describe(value: Any) -> str:
    if isinstance(value, (YMap, dict)):
        return f"a mapping with {len(value)} keys ({', '.join(map(str, list(value)[:3]))})"
    if isinstance(value, (YList, list)):
        return "a list"
    return repr(value)


def param_error(
    exc: ValidationError, kind: str, fields: Mapping[str, Any], raw: YMap, loc: Location
) -> SpecError:
    err = first_error(exc)
    key = str(err["loc"][0]) if err["loc"] else ""
    where = raw.value_loc(key) if key in raw else loc
    if err["type"] == "extra_forbidden":
        names = [*fields, *RESERVED_KEYS]
        return SpecError(
            f"'{kind}' has no argument '{key}'.{did_you_mean(key, names)}",
            raw.key_loc(key) if key in raw else loc,
            hint=f"valid arguments: {', '.join(names)}",
        )
    if err["type"] == "missing":
        return SpecError(
            f"'{kind}' needs the argument '{key}'",
            loc,
            hint=f"{key}: {fields[key].description}" if key in fields else None,
        )
    received = f"{err.get('input')!r}{choice_hint(err)}"
    return SpecError(f"invalid '{key}' for '{kind}': {err['msg']}. Received: {received}", where)
