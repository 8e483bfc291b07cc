"""The chapter's CIFAR-10 CNN written by hand in PyTorch and Keras: the baselines that the
benchmarks compare archdsl's compiled models against (one definition for all scripts)."""

from __future__ import annotations

from typing import Any

#: (filters, padding, spatial-dropout rate) of the three conv blocks
BLOCKS = ((32, "same", 0.2), (64, "same", 0.3), (128, "valid", 0.5))


def torch_book_cnn() -> Any:
    """``nn.Sequential`` of the book CNN (NCHW input 3×32×32, 10 logits)."""
    from torch import nn

    layers: list[nn.Module] = []
    cin = 3
    for filters, pad, rate in BLOCKS:
        p = 1 if pad == "same" else 0
        layers += [
            nn.Conv2d(cin, filters, 3, padding=p),
            nn.BatchNorm2d(filters),
            nn.GELU(),
            nn.Conv2d(filters, filters, 3, padding=p),
            nn.BatchNorm2d(filters),
            nn.GELU(),
            nn.MaxPool2d(2),
            nn.Dropout2d(rate),
        ]
        cin = filters
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 2 * 2, 10))


def keras_book_cnn() -> Any:
    """``keras.Sequential`` of the book CNN (NHWC input 32×32×3, 10 logits)."""
    import keras
    from keras import layers

    body: list[Any] = [keras.Input((32, 32, 3))]
    for filters, pad, rate in BLOCKS:
        body += [
            layers.Conv2D(filters, 3, padding=pad),
            layers.BatchNormalization(),
            layers.Activation("gelu"),
            layers.Conv2D(filters, 3, padding=pad),
            layers.BatchNormalization(),
            layers.Activation("gelu"),
            layers.MaxPooling2D(2),
            layers.SpatialDropout2D(rate),
        ]
    return keras.Sequential([*body, layers.Flatten(), layers.Dense(10)])
