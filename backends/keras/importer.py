"""Import a Keras model's weights (e.g. ``keras.applications``) into a spec, by structure.

:func:`keras_ref_layers` walks the model's functional graph from its outputs (nested
functional models included) and returns one :class:`~archdsl.weights.RefLayer` per weighted
layer, in execution order, with its *weighted parents* (so the matcher runs in graph mode) and
its arrays converted to the canonical (PyTorch) layout:

=======================  ===================================  ============================
Keras layer              Keras variable(s)                    canonical
=======================  ===================================  ============================
Conv1D/2D/3D             kernel ``(*k, I/g, O)``              ``(O, I/g, *k)``
Dense                    kernel ``(I, O)``                    ``(O, I)`` (rows permuted from
                                                              (H, W, C) to (C, H, W) after a
                                                              Keras ``Flatten``)
DepthwiseConv1D/2D       kernel ``(*k, C, M)``                ``(C·M, 1, *k)``
SeparableConv1D/2D       depthwise ``(*k, C, M)``,            ``(C·M, 1, *k)``,
                         pointwise ``(*1, C·M, F)``, bias     ``(F, C·M, *1)``, bias
Conv1D/2D/3DTranspose    kernel ``(*k, O, I)``                ``(I, O, *k)``
BatchNormalization       gamma, beta (if scale / center),     gamma, beta, running_mean,
                         moving_mean, moving_variance         running_var
=======================  ===================================  ============================

``Normalization`` and ``Rescaling`` layers are input preprocessing (EfficientNet's stem,
MobileNetV3's ``include_preprocessing``): they are skipped with a note, and the spec then
expects preprocessed inputs. More families: :mod:`.importer_families`; others are errors.
A ``Parameter`` reads its input for the batch size only: it has no weighted parents.
:func:`compare_layers` and :func:`first_divergence` (:mod:`.importer_compare`) find where
an imported spec stops computing what the reference computes.

Example (offline: ``weights=None`` builds a randomly initialized application):
    >>> import archdsl, keras
    >>> ref = keras.applications.ResNet50V2(weights=None, input_shape=(64, 64, 3),
    ...                                     classifier_activation=None)
    >>> g = archdsl.load("specs/resnet50_v2.yaml", input_shapes=[[3, 64, 64]])
    >>> weights = import_keras_model(g, ref)
    >>> weights["conv1_conv"]["kernel"].shape  # Keras (7, 7, 3, 64) → canonical OIHW
    (64, 3, 7, 7)
    >>> model = g.to_keras(weights=weights)  # or g.to_torch(weights=weights)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from archdsl.errors import BackendError
from archdsl.weights import FlowTracer, RefLayer, WeightMatch, Weights, match_graph

from .importer_families import FAMILY_CONVERTERS, SUPPORTED_LAYERS, Converted
from .layers import GeneralConvTranspose

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: layers that only preprocess the input (skipped with a note, even when they hold weights)
PREPROCESSING = (keras.layers.Normalization, keras.layers.Rescaling)
#: weight-free layers a Dense may read a Flatten through
_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Activation, keras.layers.Identity,
                 keras.layers.ReLU)

_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
               keras.layers.Conv3DTranspose, GeneralConvTranspose)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def _np(var: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(var))


def _conv_kernel(k: np.ndarray) -> np.ndarray:
    """``(*k, A, B)`` → ``(B, A, *k)`` (conv: A = I/g, B = O; transposed: A = O, B = I)."""
    r = k.ndim
    return k.transpose(r - 1, r - 2, *range(r - 2))


def _depthwise_kernel(k: np.ndarray) -> np.ndarray:
    """``(*k, C, M)`` → ``(C·M, 1, *k)``, channel ``c·M + m`` (docs/conventions.md, Layout)."""
    n = k.ndim - 2
    c, m = k.shape[-2], k.shape[-1]
    return k.transpose(n, n + 1, *range(n)).reshape(c * m, 1, *k.shape[:n])


def _with_bias(layer: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if getattr(layer, "bias", None) is not None:  # None when built with use_bias=False
        arrays["bias"] = _np(layer.bias)
    return arrays


def _kernel_layer(family: str, canonical: Callable[[np.ndarray], np.ndarray]
                  ) -> Callable[[Any, Any], Converted]:
    """The converter of a layer holding ``kernel`` (and maybe ``bias``)."""
    def convert(layer: Any, _: Any) -> Converted:
        return family, _with_bias(layer, {"kernel": canonical(_np(layer.kernel))}), {}
    return convert


def _separable(layer: Any, _: Any) -> Converted:
    arrays = {"depthwise_kernel": _depthwise_kernel(_np(layer.depthwise_kernel)),
              "pointwise_kernel": _conv_kernel(_np(layer.pointwise_kernel))}
    return "separable", _with_bias(layer, arrays), {}


def _dense(layer: Any, flatten_from: tuple[int, ...] | None) -> Converted:
    kernel = _np(layer.kernel)
    attrs: dict[str, Any] = {}
    if flatten_from is not None and len(flatten_from) > 1 and np.prod(flatten_from[:-1]) > 1:
        *spatial, c = flatten_from
        n = len(spatial)
        kernel = (kernel.reshape(*spatial, c, -1)
                  .transpose(n, *range(n), n + 1).reshape(kernel.shape))
        attrs["flatten_permuted"] = True
    return "conv", _with_bias(layer, {"kernel": kernel.T}), attrs


def _batchnorm(layer: Any, _: Any) -> Converted:
    arrays = {"gamma": _np(layer.gamma)} if layer.scale else {}
    if layer.center:
        arrays["beta"] = _np(layer.beta)
    arrays.update(running_mean=_np(layer.moving_mean), running_var=_np(layer.moving_variance))
    return "batchnorm", arrays, {"eps": float(layer.epsilon)}


#: Keras layer classes → converter, tried in order (transposed before the plain convolutions)
_CONVERTERS: tuple[tuple[tuple[type, ...], Callable[[Any, Any], Converted]], ...] = (
    (_TRANSPOSED, _kernel_layer("transposed", _conv_kernel)),
    (_DEPTHWISE, _kernel_layer("conv", _depthwise_kernel)),
    (_SEPARABLE, _separable),
    (_CONV, _kernel_layer("conv", _conv_kernel)),
    ((keras.layers.Dense,), _dense),
    ((keras.layers.BatchNormalization,), _batchnorm),
    *FAMILY_CONVERTERS,  # normalization, layer scale, parameters, attention
)


def convert_layer(layer: Any, flatten_from: tuple[int, ...] | None = None) -> Converted | None:
    """(family, canonical arrays, attrs) of a weighted Keras layer; ``None`` if it holds no
    weights. ``flatten_from``: the channels-last ``(*spatial, C)`` shape a Dense reads
    through a ``Flatten`` (its kernel rows are then reordered to channels-first).

    Raises:
        BackendError: a layer type that holds weights but is not supported.

    Example:
        >>> import keras
        >>> layer = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)
        >>> layer.build((None, 8, 8, 4))
        >>> kind, arrays, _ = convert_layer(layer)
        >>> kind, arrays["kernel"].shape
        ('conv', (8, 1, 3, 3))
    """
    for classes, convert in _CONVERTERS:
        if isinstance(layer, classes):
            return convert(layer, flatten_from)
    if not getattr(layer, "weights", None):
        return None
    shapes = ", ".join(f"{v.path} {list(v.shape)}" for v in layer.weights)
    raise BackendError(
        f"Keras layer '{layer.name}' ({type(layer).__name__}) holds weights ({shapes}) that "
        "weight import does not support",
        hint=f"supported: {SUPPORTED_LAYERS}",
    )


def _history(tensor: Any) -> tuple[Any, Any]:
    """(operation, node) that produced a symbolic Keras tensor."""
    hist = getattr(tensor, "_keras_history", None)
    if hist is None:
        raise BackendError("weight import needs a functional Keras model (keras.Model built "
                           "from keras.Input); this model has no layer graph",
                           hint="subclassed models: rebuild them functionally, or save the "
                                "weights of the spec's own Keras model")
    op, node_index = hist[0], hist[1]
    return op, op._inbound_nodes[node_index]


class _Walker:
    """Walks a functional graph from its outputs, creating RefLayers in execution order."""

    def __init__(self) -> None:
        self.found: list[tuple[str, Converted, tuple[str, ...]]] = []  # (name, ..., parents)
        self.notes: list[str] = []
        self.seen: dict[int, str] = {}  # id(layer) → ref name (shared layers are an error)
        self.skipped: list[str] = []
        self.tracer = FlowTracer()  # keyed by id(tensor)
        self.flat: dict[int, tuple[int, ...] | None] = {}  # id(tensor) → Flatten order

    def layers(self) -> list[RefLayer]:
        return [RefLayer(n, k, a, p, at, self.tracer.tags(n)) for n, (k, a, at), p in self.found]

    def walk(self, outputs: Sequence[Any], prefix: str) -> None:
        """Visit everything ``outputs`` depend on (inputs must be known to the tracer)."""
        done = self.tracer.front
        stack: list[tuple[Any, bool]] = [(t, False) for t in reversed(list(outputs))]
        while stack:
            tensor, expanded = stack.pop()
            if id(tensor) in done:
                continue
            op, node = _history(tensor)
            inputs = list(node.input_tensors)
            if not expanded:
                stack.append((tensor, True))
                stack.extend((x, False) for x in reversed(inputs) if id(x) not in done)
                continue
            keys = [id(x) for x in inputs]
            if isinstance(op, keras.Model):
                self._nested(op, node, tensor, inputs, prefix)
                continue
            if isinstance(op, keras.layers.Flatten) and inputs:
                self.flat[id(tensor)] = _flatten_order(op, inputs[0])
            elif isinstance(op, _PASS_THROUGH) and len(inputs) == 1:
                self.flat[id(tensor)] = self.flat.get(id(inputs[0]))
            if isinstance(op, PREPROCESSING):
                if getattr(op, "weights", None) or isinstance(op, keras.layers.Normalization):
                    self.skipped.append(f"{prefix}{op.name}")
                self.tracer.op(id(tensor), keys)
                continue
            flatten_from = self.flat.get(id(inputs[0])) if len(inputs) == 1 else None
            converted = convert_layer(op, flatten_from) if isinstance(op, keras.layers.Layer) \
                else None
            if converted is None:
                self.tracer.op(id(tensor), keys, _flow_kind(op),
                               concat=type(op).__name__ == "Concatenate")
                continue
            name = f"{prefix}{op.name}"
            if id(op) in self.seen:
                raise BackendError(f"Keras layer '{name}' is called more than once (shared "
                                   "weights); a spec node holds its own weights")
            self.seen[id(op)] = name
            if converted[2].pop("flatten_permuted", False):
                self.notes.append(f"'{name}': Dense after a channels-last Flatten; kernel rows "
                                  "reordered from (H, W, C) to (C, H, W)")
            # a Parameter reads its input for the batch size only: no weighted parents
            parents = self.tracer.layer(id(tensor), [] if converted[0] == "parameter" else keys,
                                        name)
            self.found.append((name, converted, parents))

    def _nested(self, model: Any, node: Any, tensor: Any, inputs: list[Any],
                prefix: str) -> None:
        inner_inputs = list(getattr(model, "inputs", None) or [])
        inner_outputs = list(getattr(model, "outputs", None) or [])
        if not inner_inputs or len(inner_inputs) != len(inputs):
            raise BackendError(f"nested Keras model '{model.name}' is not a functional model "
                               "with matching inputs; weight import cannot see inside it")
        t = self.tracer
        for inner, outer in zip(inner_inputs, inputs):
            t.source(id(inner), t.front[id(outer)], t.via[id(outer)])
        self.walk(inner_outputs, f"{prefix}{model.name}/")
        outs = list(node.output_tensors)
        for out_tensor, inner in zip(outs, inner_outputs):
            t.source(id(out_tensor), t.front[id(inner)], t.via[id(inner)])
        if id(tensor) not in t.front:
            t.op(id(tensor), [id(i) for i in inner_outputs])


_POOLING = (("AveragePooling", "avgpool"), ("MaxPooling", "maxpool"))


def _flow_kind(op: Any) -> str | None:
    """The :data:`~archdsl.weights.FLOW_KINDS` name of a weight-free Keras operation."""
    name = type(op).__name__
    if name.startswith("Global") and "Pooling" in name:
        return "globalpool"
    return next((kind for prefix, kind in _POOLING if name.startswith(prefix)), None)


def _flatten_order(flatten: Any, source: Any) -> tuple[int, ...] | None:
    """The ``(*spatial, C)`` order a ``Flatten`` emits, or ``None`` when it already emits the
    canonical channels-first order (archdsl's own lowering permutes to (C, H, W) first).

    Keras flattens channels-last tensors as (H, W, C), and ``data_format='channels_first'``
    moves C last before flattening, so both give (H, W, C) (docs/conventions.md, Layout)."""
    shape = tuple(source.shape[1:])
    if len(shape) < 2 or None in shape or isinstance(_history(source)[0],
                                                     keras.layers.Permute):
        return None
    if getattr(flatten, "data_format", "channels_last") == "channels_first":
        return (*shape[1:], shape[0])
    return shape


def keras_ref_layers(model: Any) -> tuple[list[RefLayer], list[str]]:
    """The weighted layers of a functional Keras model, in execution order, canonical layout,
    with weighted parents; plus notes (skipped preprocessing, reordered Dense kernels).

    Example:
        >>> import keras
        >>> x = keras.Input((8, 8, 3))
        >>> y = keras.layers.BatchNormalization(name="bn")(keras.layers.Conv2D(4, 3, name="c")(x))
        >>> layers, notes = keras_ref_layers(keras.Model(x, y))
        >>> [(r.name, r.kind, r.parents) for r in layers]
        [('c', 'conv', ()), ('bn', 'batchnorm', ('c',))]
    """
    if not isinstance(model, keras.Model):
        raise BackendError(f"expected a keras.Model, received {type(model).__name__}")
    walker = _Walker()
    outputs = list(model.outputs) if getattr(model, "outputs", None) else []
    if not outputs:
        raise BackendError(f"Keras model '{model.name}' has no symbolic outputs; build it "
                           "functionally (keras.Input) or call it once on an input")
    for t in model.inputs:
        walker.tracer.source(id(t))
    walker.walk(outputs, "")
    notes = list(walker.notes)
    if walker.skipped:
        notes.insert(0, "skipped input preprocessing layer(s) "
                        f"{', '.join(repr(s) for s in walker.skipped)}: the spec expects "
                        "preprocessed inputs")
    return walker.layers(), notes


def match_keras_model(graph: Graph, model: Any, *, use_names: bool = True,
                      allow_unused: bool = False) -> WeightMatch:
    """Match ``model``'s weights to ``graph`` (:func:`archdsl.weights.match_layers`);
    the result carries the weights, the (node, layer) pairs and notes.

    Raises:
        WeightsError: the first spec node that cannot be matched, with its shapes and the
            nearest Keras layers; or Keras layers the spec does not use.
        BackendError: a Keras layer holding weights that import cannot read.
    """
    layers, notes = keras_ref_layers(model)
    result = match_graph(graph, layers, use_names=use_names, allow_unused=allow_unused)
    result.notes[:0] = notes
    return result


def import_keras_model(graph: Graph, keras_model: Any, *, use_names: bool = True,
                       allow_unused: bool = False) -> Weights:
    """Canonical weights ``{node id: {weight name: array}}`` for ``graph`` taken from a
    functional Keras model (a ``keras.applications`` model, a loaded ``.keras`` file, or the
    spec's own Keras lowering), matched by structure. See :func:`match_keras_model`.

    Example:
        >>> import archdsl, keras, numpy as np
        >>> g = archdsl.load("specs/digits_cnn.yaml")
        >>> km = g.to_keras(seed=3)  # any functional model with the same structure
        >>> w = import_keras_model(g, km)
        >>> bool(np.array_equal(w["conv1"]["kernel"], g.to_torch(seed=3).conv1.weight.detach()))
        True
    """
    return match_keras_model(graph, keras_model, use_names=use_names,
                             allow_unused=allow_unused).weights


def randomize_weights(model: Any, seed: int = 0) -> None:
    """Give every weight of ``model`` a random value (seeded), BatchNorm statistics included.

    Kernels ``N(0, 1/fan_in)``, biases and β ``N(0, 0.1²)``, γ and the moving variance
    ``U(0.5, 1.5)``, the moving mean ``N(0, 0.1²)``: a freshly built application has zero
    biases and BN statistics 0 / 1, under which a swapped BatchNorm, a wrong ε or a missing
    bias would go unnoticed by an output comparison.

    Example:
        >>> import keras
        >>> x = keras.Input((4, 4, 2))
        >>> m = keras.Model(x, keras.layers.BatchNormalization()(x))
        >>> randomize_weights(m, seed=1)
        >>> bool((m.layers[1].moving_variance.numpy() != 1).all())
        True
    """
    rng = np.random.default_rng(seed)
    for var in model.weights:
        leaf = var.path.split("/")[-1]
        shape = tuple(int(d) for d in var.shape)
        dtype = keras.backend.standardize_dtype(var.dtype)
        draw = np.float64 if dtype == "float64" else np.float32  # float32: half the time
        if leaf in ("kernel", "depthwise_kernel", "pointwise_kernel") and len(shape) >= 2:
            depthwise = leaf == "depthwise_kernel" or "depthwise" in var.path
            fan_in = int(np.prod(shape[:-2])) if depthwise else int(np.prod(shape[:-1]))
            value = rng.standard_normal(shape, dtype=draw)
            value *= draw(1.0 / np.sqrt(max(fan_in, 1)))
        elif leaf in ("bias", "beta", "moving_mean"):
            value = rng.standard_normal(shape, dtype=draw)
            value *= draw(0.1)
        elif leaf in ("gamma", "moving_variance"):
            value = rng.random(shape, dtype=draw)
            value += draw(0.5)
        else:
            continue
        var.assign(value.astype(dtype, copy=False))


def leading_preprocessing(model: Any) -> list[Any]:
    """The ``Rescaling`` / ``Normalization`` layers applied to the model's single input before
    anything else (EfficientNet's stem), in order."""
    if len(getattr(model, "inputs", []) or []) != 1:
        return []
    chain = []
    tensor = model.inputs[0]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            source = layer.input
        except (AttributeError, ValueError):
            break
        if source is not tensor or not isinstance(layer, PREPROCESSING):
            break
        chain.append(layer)
        tensor = layer.output
    return chain


def undo_preprocessing(model: Any, x: np.ndarray) -> np.ndarray:
    """The input that ``model``'s leading preprocessing maps to ``x`` (channels-last): what to
    feed the reference so that its first weighted layer sees what the spec's sees.

    ``Rescaling`` (``y = x·scale + offset``) and ``Normalization``
    (``y = (x − mean) / max(√var, ε)``) are inverted in reverse order.

    Example:
        >>> import keras, numpy as np
        >>> inp = keras.Input((4, 4, 3))
        >>> m = keras.Model(inp, keras.layers.Rescaling(1 / 255)(inp))
        >>> float(undo_preprocessing(m, np.ones((1, 4, 4, 3), "float32")).max())
        255.0
    """
    y = np.asarray(x, dtype=np.float64)
    for layer in reversed(leading_preprocessing(model)):
        if isinstance(layer, keras.layers.Rescaling):
            scale = np.asarray(layer.scale, dtype=np.float64)
            offset = np.asarray(layer.offset, dtype=np.float64)
            y = (y - offset) / scale
        else:
            mean = _np(layer.mean).astype(np.float64)
            var = _np(layer.variance).astype(np.float64)
            eps = keras.backend.epsilon()
            y = y * np.maximum(np.sqrt(var), eps) + mean
    return y.astype(np.asarray(x).dtype)


from .importer_compare import compare_layers, first_divergence  # noqa: E402  (re-exported)

__all__ = ["PREPROCESSING", "compare_layers", "convert_layer", "first_divergence",
           "import_keras_model", "keras_ref_layers", "leading_preprocessing",
           "match_keras_model", "randomize_weights", "undo_preprocessing"]
