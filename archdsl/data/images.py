"""Image files → uint8 NCHW arrays (Pillow), and the crops done in numpy at training time.

Decoding happens once, into the cache (:mod:`archdsl.data.cache`): each PNG or JPEG is
converted to RGB (or L for one channel), scaled so that it covers the decode size with its
aspect ratio kept, and center-cropped to it (``fit="crop"``; ``fit="stretch"`` scales to the
size exactly). The decode size is ``resize`` when given, else the model's input size ``size``.

At training time :func:`random_resized_crop_boxes` and :func:`crop_resize` (plain numpy,
seeded: identical for both frameworks) cut a random area and aspect ratio of each decoded image
and scale it to ``size`` (torchvision's ``RandomResizedCrop`` rule, bilinear); validation
images are center-cropped to ``size`` (:func:`center_crop`).

Example:
    >>> import numpy as np
    >>> x = np.arange(2 * 1 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4)
    >>> center_crop(x, (2, 2))[0, 0].tolist()
    [[5, 6], [9, 10]]
    >>> crop_resize(x, np.array([[0, 0, 4, 4], [1, 1, 2, 2]]), (2, 2)).shape
    (2, 1, 2, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from archdsl.data.errors import DataError

#: The file types read from image folders and CSV files.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Larger images are refused before they are decoded (a decompression bomb guard).
MAX_PIXELS = 64 * 1024 * 1024


@dataclass(frozen=True)
class ImageOptions:
    """How image files are decoded: ``size`` (H, W) the model's input, ``channels`` 1 or 3,
    ``resize`` (H, W) the decode size when it differs from ``size`` (for crops at training
    time), ``fit`` ``"crop"`` (keep the aspect ratio, center crop) or ``"stretch"``."""

    size: tuple[int, int]
    channels: int = 3
    resize: tuple[int, int] | None = None
    fit: str = "crop"

    @property
    def decode_size(self) -> tuple[int, int]:
        return self.resize or self.size

    def key(self) -> dict[str, object]:
        """What the cache key depends on."""
        return {"decode_size": list(self.decode_size), "channels": self.channels,
                "fit": self.fit}


def decode_image(path: Path, options: ImageOptions) -> np.ndarray:
    """One image file → ``(C, H, W)`` uint8 at the decode size.

    Raises:
        DataError: Pillow is missing, or the file is not a readable image (names the file).
    """
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading image files needs Pillow: pip install pillow") from None
    h, w = options.decode_size
    try:
        with Image.open(path) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise DataError(f"{path}: {opened.width}×{opened.height} pixels is more than "
                                f"{MAX_PIXELS:,}; refusing to decode it")
            img: Any = opened.convert("L" if options.channels == 1 else "RGB")
            if options.fit == "stretch":
                img = img.resize((w, h), Image.Resampling.BILINEAR)
            else:
                img = _cover_and_crop(img, h, w)
            arr = np.asarray(img, dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # Pillow raises many types for a bad file
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: "
                        f"{str(exc)[:200]})") from None
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def _cover_and_crop(img: Any, h: int, w: int) -> Any:
    from PIL import Image

    scale = max(h / img.height, w / img.width)
    new_w, new_h = max(w, round(img.width * scale)), max(h, round(img.height * scale))
    if (new_w, new_h) != (img.width, img.height):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - w) // 2, (new_h - h) // 2
    return img.crop((left, top, left + w, top + h))


def center_crop(x: npt.NDArray[np.generic], size: tuple[int, int]) -> npt.NDArray[np.generic]:
    """The central ``size`` window of NCHW images (unchanged when they are that size)."""
    h, w = size
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    if top < 0 or left < 0:
        raise ValueError(f"cannot center-crop {x.shape[2:]} images to {size}")
    return x[:, :, top:top + h, left:left + w]


def random_resized_crop_boxes(
    rng: np.random.Generator, n: int, height: int, width: int,
    scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> npt.NDArray[np.int64]:
    """``(n, 4)`` boxes ``(top, left, h, w)``: torchvision's ``RandomResizedCrop`` rule (ten
    tries of a random area share and log-uniform aspect ratio, then the central crop clipped to
    ``ratio``), drawn from ``rng``.

    Example:
        >>> b = random_resized_crop_boxes(np.random.default_rng(0), 3, 32, 32)
        >>> b.shape, bool((b[:, 0] + b[:, 2] <= 32).all())
        ((3, 4), True)
    """
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    tries = 10
    shares = rng.uniform(scale[0], scale[1], size=(n, tries))
    aspects = np.exp(rng.uniform(log_lo, log_hi, size=(n, tries)))
    corners = rng.random(size=(n, tries, 2))
    boxes = np.empty((n, 4), dtype=np.int64)
    for i in range(n):
        boxes[i] = _pick_box(area, height, width, shares[i], aspects[i], corners[i], ratio)
    return boxes


def _pick_box(area: int, height: int, width: int, shares: np.ndarray, aspects: np.ndarray,
              corners: np.ndarray, ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    for share, aspect, (u, v) in zip(shares, aspects, corners):
        w = round(math.sqrt(area * share * aspect))
        h = round(math.sqrt(area * share / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(u * (height - h + 1)), int(v * (width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def crop_resize(x: npt.NDArray[np.generic], boxes: npt.NDArray[np.integer],
                size: tuple[int, int]) -> npt.NDArray[np.float64]:
    """Cut ``boxes`` (``top, left, h, w`` per image) from NCHW ``x`` and scale each crop to
    ``size`` bilinearly (half-pixel centers, as ``align_corners=False``); float64 on the pixel
    scale of ``x``."""
    out_h, out_w = size
    out = np.empty((x.shape[0], x.shape[1], out_h, out_w), dtype=np.float64)
    for i, (top, left, h, w) in enumerate(np.asarray(boxes, dtype=np.int64)):
        crop = np.asarray(x[i, :, top:top + h, left:left + w], dtype=np.float64)
        out[i] = _bilinear(crop, out_h, out_w)
    return out


def _bilinear(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """``(C, h, w)`` → ``(C, out_h, out_w)``, bilinear with half-pixel centers."""

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, pos - lo

    r0, r1, fr = axis(img.shape[1], out_h)
    c0, c1, fc = axis(img.shape[2], out_w)
    top = img[:, r0][:, :, c0] * (1 - fc) + img[:, r0][:, :, c1] * fc
    bottom = img[:, r1][:, :, c0] * (1 - fc) + img[:, r1][:, :, c1] * fc
    result: np.ndarray = top * (1 - fr)[:, None] + bottom * fr[:, None]
    return result


__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "ImageOptions", "center_crop", "crop_resize",
           "decode_image", "random_resized_crop_boxes"]
