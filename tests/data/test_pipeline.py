"""The seeded numpy batch pipeline: statistics, augmentation, determinism, layouts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archdsl.data import (
    Batches,
    Normalization,
    channel_stats,
    flip_horizontal,
    pad_crop,
    random_crop,
    random_flip,
    to_nchw,
    to_nhwc,
    to_unit,
)


def images(n: int = 20, c: int = 3, h: int = 6, w: int = 5, seed: int = 0) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w), dtype=np.uint8)


def collect(batches: Batches, epoch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(batches.epoch(epoch))


def reference_crop(x: np.ndarray, offsets: np.ndarray, p: int) -> np.ndarray:
    """Loop version of pad_crop: output pixel (r, c) is input (r + dy - p, c + dx - p) or 0."""
    n, _, h, w = x.shape
    out = np.zeros_like(x)
    for i in range(n):
        dy, dx = offsets[i]
        for r in range(h):
            for c in range(w):
                sr, sc = r + dy - p, c + dx - p
                if 0 <= sr < h and 0 <= sc < w:
                    out[i, :, r, c] = x[i, :, sr, sc]
    return out


# ----------------------------------------------------------------------------- layout, statistics


def test_to_nhwc_and_back() -> None:
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    y = to_nhwc(x)
    assert y.shape == (2, 4, 5, 3) and y.flags.c_contiguous
    assert y[1, 2, 3, 0] == x[1, 0, 2, 3] and y[0, 1, 4, 2] == x[0, 2, 1, 4]
    np.testing.assert_array_equal(to_nchw(y), x)


def test_to_unit() -> None:
    assert to_unit(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]
    f = np.array([0.25], np.float32)
    assert to_unit(f, np.float32).dtype == np.float32 and to_unit(f)[0] == 0.25


def test_channel_stats_exact_on_hand_made_data() -> None:
    x = np.zeros((2, 2, 1, 2), np.uint8)
    x[:, 0] = [[[0, 255]], [[255, 255]]]  # channel 0: 0, 1, 1, 1 -> mean .75, std sqrt(3)/4
    x[:, 1] = 51  # channel 1: 0.2 everywhere
    mean, std = channel_stats(x)
    assert mean == pytest.approx((0.75, 0.2), abs=1e-15)
    assert std == pytest.approx((np.sqrt(3) / 4, 0.0), abs=1e-15)


def test_channel_stats_match_numpy_for_uint8_and_float_chunks() -> None:
    x = images(n=37, seed=3)
    xf = x.astype(np.float64) / 255
    for data in (x, xf.astype(np.float32)):  # histogram path and chunked float path
        mean, std = channel_stats(data, chunk=5)
        np.testing.assert_allclose(mean, xf.mean(axis=(0, 2, 3)), rtol=1e-6)
        np.testing.assert_allclose(std, xf.std(axis=(0, 2, 3)), rtol=1e-6)
    mean, std = channel_stats(x)
    np.testing.assert_allclose(mean, xf.mean(axis=(0, 2, 3)), rtol=1e-13)
    np.testing.assert_allclose(std, xf.std(axis=(0, 2, 3)), rtol=1e-13)


def test_normalization_from_train_data() -> None:
    x = images(n=50, seed=4)
    norm = Normalization.from_data(x)
    z = norm(x, np.float64)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-12)
    assert norm(x).dtype == np.float32
    given_stats = Normalization((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    expected = (x[0, 1, 0, 0] / 255 - 0.4822) / 0.2435
    assert given_stats(x, np.float64)[0, 1, 0, 0] == pytest.approx(expected, rel=1e-15)
    with pytest.raises(ValueError, match="one value per channel"):
        Normalization((0.5,), (0.1, 0.2))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        given_stats(np.zeros((1, 1, 2, 2), np.uint8))


# ----------------------------------------------------------------------------- augmentation


def test_flip_horizontal_hand_made() -> None:
    x = np.array([[[[1, 2, 3], [4, 5, 6]]], [[[7, 8, 9], [1, 2, 3]]]], np.uint8)  # (2, 1, 2, 3)
    out = flip_horizontal(x, np.array([True, False]))
    assert out.tolist() == [[[[3, 2, 1], [6, 5, 4]]], [[[7, 8, 9], [1, 2, 3]]]]
    assert out.dtype == np.uint8 and x[0, 0, 0, 0] == 1  # input untouched


def test_pad_crop_hand_made() -> None:
    x = np.arange(1, 10, dtype=np.uint8).reshape(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    p = 1
    assert pad_crop(x, np.array([[1, 1]]), p).tolist() == x.tolist()  # centre: unchanged
    # Window at the padded image's top-left corner: content shifts down and right.
    assert pad_crop(x, np.array([[0, 0]]), p)[0, 0].tolist() == [[0, 0, 0], [0, 1, 2], [0, 4, 5]]
    # Bottom-right corner: content shifts up and left.
    assert pad_crop(x, np.array([[2, 2]]), p)[0, 0].tolist() == [[5, 6, 0], [8, 9, 0], [0, 0, 0]]
    assert pad_crop(x, np.array([[0, 0]]), 0).tolist() == x.tolist()
    with pytest.raises(ValueError, match="offsets"):
        pad_crop(x, np.array([[3, 0]]), p)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 4),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    p=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_pad_crop_matches_loop_reference(n: int, h: int, w: int, p: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 256, (n, 2, h, w), dtype=np.uint8)
    offsets = rng.integers(0, 2 * p + 1, (n, 2))
    np.testing.assert_array_equal(pad_crop(x, offsets, p), reference_crop(x, offsets, p))


def test_random_augmentations_are_seeded() -> None:
    x = images(n=64)
    a = random_crop(random_flip(x, np.random.default_rng(5)), np.random.default_rng(6), 2)
    b = random_crop(random_flip(x, np.random.default_rng(5)), np.random.default_rng(6), 2)
    np.testing.assert_array_equal(a, b)
    flipped = random_flip(x, np.random.default_rng(5))
    changed = (flipped != x).any(axis=(1, 2, 3))
    assert 10 < changed.sum() < 54  # about half of the images are mirrored


# ----------------------------------------------------------------------------- Batches


def make_batches(
    seed: int = 11,
    crop_padding: int = 2,
    normalization: Normalization | None = None,
    start_epoch: int = 0,
) -> Batches:
    """23 images in batches of 5, flipped and cropped, seed 11 unless told otherwise."""
    x, y = images(n=23), np.arange(23) % 10
    return Batches(
        x,
        y,
        5,
        seed=seed,
        flip=True,
        crop_padding=crop_padding,
        normalization=normalization,
        start_epoch=start_epoch,
    )


def test_same_seed_same_epoch_bit_identical() -> None:
    norm = Normalization.from_data(images(n=23))
    a, b = make_batches(normalization=norm), make_batches(normalization=norm)
    for epoch in (0, 1, 7):
        for (xa, ya), (xb, yb) in zip(collect(a, epoch), collect(b, epoch), strict=True):
            assert xa.dtype == np.float32 and ya.dtype == np.int64
            assert xa.tobytes() == xb.tobytes() and ya.tobytes() == yb.tobytes()


def test_epochs_and_seeds_differ() -> None:
    b = make_batches()
    e0, e1 = collect(b, 0), collect(b, 1)
    assert any(not np.array_equal(y0, y1) for (_, y0), (_, y1) in zip(e0, e1))
    other = collect(make_batches(seed=12), 0)
    assert any(not np.array_equal(x0, x1) for (x0, _), (x1, _) in zip(e0, other))


def test_plain_iteration_advances_the_epoch() -> None:
    b = make_batches(start_epoch=3)
    first, second = list(b), list(b)
    for (xa, ya), (xb, yb) in zip(first, collect(b, 3), strict=True):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert [y.tolist() for _, y in second] == [y.tolist() for _, y in collect(b, 4)]


def test_each_epoch_visits_every_sample_once() -> None:
    x, y = images(n=23), np.arange(23)
    b = Batches(x, y, 5, seed=2)
    ys = np.concatenate([yb for _, yb in b.epoch(0)])
    assert sorted(ys.tolist()) == list(range(23)) and ys.tolist() != list(range(23))
    assert [len(yb) for _, yb in b.epoch(0)] == [5, 5, 5, 5, 3] and len(b) == 5
    for xb, yb in b.epoch(1):  # no augmentation: x is the scaled image of its label's sample
        np.testing.assert_array_equal(xb, x[yb].astype(np.float32) / np.float32(255))
    dropped = Batches(x, y, 5, seed=2, drop_last=True)
    assert len(dropped) == 4 and [len(yb) for _, yb in dropped.epoch(0)] == [5, 5, 5, 5]
    ordered = Batches(x, y, 10, shuffle=False, dtype=np.float64)
    assert next(ordered.epoch(9))[1].tolist() == list(range(10))
    assert next(ordered.epoch(0))[0].dtype == np.float64


def test_augmentation_independent_of_batch_size_and_other_switches() -> None:
    small = make_batches()
    big = Batches(images(n=23), np.arange(23) % 10, 23, seed=11, flip=True, crop_padding=2)
    joined = np.concatenate([xb for xb, _ in small.epoch(4)])
    np.testing.assert_array_equal(joined, next(big.epoch(4))[0])
    # Turning the crop off changes neither the order nor the flips.
    no_crop = make_batches(crop_padding=0)
    assert [y.tolist() for _, y in small.epoch(0)] == [y.tolist() for _, y in no_crop.epoch(0)]


def test_augmentation_matches_manual_recipe() -> None:
    """Each batch equals: gather, flip where drawn, pad-crop at the drawn offsets, normalize."""
    from archdsl.data.pipeline import epoch_rng

    x, y = images(n=9), np.arange(9)
    norm = Normalization((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    b = Batches(x, y, 4, seed=5, flip=True, crop_padding=3, normalization=norm, dtype=np.float64)
    order = epoch_rng(5, 2, 0).permutation(9)
    flips = epoch_rng(5, 2, 1).random(9) < 0.5
    offsets = epoch_rng(5, 2, 2).integers(0, 7, size=(9, 2))
    expected = norm(pad_crop(flip_horizontal(x[order], flips), offsets, 3), np.float64)
    got = np.concatenate([xb for xb, _ in b.epoch(2)])
    np.testing.assert_array_equal(got, expected)
    assert np.concatenate([yb for _, yb in b.epoch(2)]).tolist() == order.tolist()


def test_crop_fill_black_versus_mean() -> None:
    x = np.full((1, 3, 4, 4), 200, np.uint8)
    norm = Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    y = np.zeros(1, np.int64)
    black_b = Batches(x, y, 1, crop_padding=4, normalization=norm, crop_fill="black")
    mean_b = Batches(x, y, 1, crop_padding=4, normalization=norm, crop_fill="mean")
    for epoch in range(20):  # find an epoch whose crop shows padding
        black, mean = next(black_b.epoch(epoch))[0], next(mean_b.epoch(epoch))[0]
        pad = mean == 0.0
        if pad.any():
            break
    assert pad.any() and not pad.all()
    np.testing.assert_array_equal(black[pad], -2.0)  # (0/255 - 0.5) / 0.25
    np.testing.assert_array_equal(black[~pad], mean[~pad])


def test_batches_validates_arguments() -> None:
    x, y = images(n=4), np.arange(4)
    with pytest.raises(ValueError, match="batch_size"):
        Batches(x, y, 0)
    with pytest.raises(ValueError, match="y must have shape"):
        Batches(x, y[:3], 2)
    with pytest.raises(ValueError, match="dtype"):
        Batches(x, y, 2, dtype=np.float16)
    with pytest.raises(ValueError, match="crop_fill"):
        Batches(x, y, 2, crop_fill="edge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        list(Batches(x, y, 2).epoch(-1))
