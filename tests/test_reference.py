"""The oracles themselves: hand-computed cases, and the naive and im2col versions agreeing."""
import itertools

import numpy as np
import pytest

from fastconv import reference as R
from fastconv._api import padding_amounts, conv_output_size
from _helpers import assert_close, numerical_gradient, random


def test_same_padding_follows_tensorflow_rule():
    # total = max((ceil(H/s) - 1) * s + k - H, 0), smaller half first
    assert padding_amounts(5, 2, 2, "same") == (0, 1)
    assert padding_amounts(5, 3, 1, "same") == (1, 1)
    assert padding_amounts(6, 4, 1, "same") == (1, 2)
    assert padding_amounts(7, 3, 3, "same") == (1, 1)
    assert padding_amounts(6, 1, 3, "same") == (0, 0)
    assert padding_amounts(9, 5, 2, "valid") == (0, 0)
    assert conv_output_size(5, 2, 2, "same") == 3
    assert conv_output_size(5, 2, 2, "valid") == 2
    assert conv_output_size(2, 3, 1, "valid") == 0


def test_naive_conv2d_hand_computed():
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    k = np.ones((2, 2, 1, 1))
    y = R.naive_conv2d(x, k, np.array([0.5]), strides=2)
    # window sums of [[0,1],[4,5]], [[2,3],[6,7]], ... plus 0.5
    np.testing.assert_array_equal(y[0, :, :, 0], [[10.5, 18.5], [42.5, 50.5]])
    # "same" with k=3, s=1 pads one zero all round
    y = R.naive_conv2d(x, np.ones((3, 3, 1, 1)), padding="same")
    assert y[0, 0, 0, 0] == 0 + 1 + 4 + 5
    assert y[0, 1, 1, 0] == sum([0, 1, 2, 4, 5, 6, 8, 9, 10])


def test_naive_conv2d_is_cross_correlation_over_channels():
    x = np.zeros((1, 3, 3, 2))
    x[0, 0, 0] = [1.0, 10.0]
    k = np.zeros((3, 3, 2, 1))
    k[0, 0, 0, 0], k[0, 0, 1, 0], k[2, 2, 0, 0] = 2.0, 3.0, 100.0
    assert R.naive_conv2d(x, k)[0, 0, 0, 0] == 1 * 2 + 10 * 3


def test_naive_max_pool_hand_computed():
    x = np.array([[3, 1, 2], [4, 9, 0], [5, 9, 7]], np.float64).reshape(1, 3, 3, 1)
    y = R.naive_max_pool2d(x, 2, padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[9, 2], [9, 7]])
    dx = R.naive_max_pool2d_backward(np.ones((1, 2, 2, 1)), x, 2, padding="same")
    # the two 9s: the window of output (0,0) takes (1,1); output (1,0)'s window is row 2 only
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 1], [0, 1, 0], [0, 1, 1]])


def test_naive_max_pool_backward_picks_first_maximum():
    x = np.ones((1, 2, 2, 1))
    dx = R.naive_max_pool2d_backward(np.full((1, 1, 1, 1), 5.0), x, 2)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[5, 0], [0, 0]])


CASES = list(itertools.product([(1, 1), (2, 2), (3, 2), (5, 5)], [1, 2, (2, 3)],
                               ["valid", "same"]))


@pytest.mark.parametrize("kernel_size,strides,padding", CASES)
def test_naive_and_im2col_conv_agree(rng, kernel_size, strides, padding):
    x = random(rng, (2, 9, 8, 3))
    k = random(rng, kernel_size + (3, 4))
    b = random(rng, (4,))
    y = R.naive_conv2d(x, k, b, strides=strides, padding=padding)
    assert_close(R.im2col_conv2d(x, k, b, strides=strides, padding=padding), y)
    dy = random(rng, y.shape)
    for got, want in zip(R.im2col_conv2d_backward(dy, x, k, strides=strides, padding=padding),
                         R.naive_conv2d_backward(dy, x, k, strides=strides, padding=padding)):
        assert_close(got, want)


@pytest.mark.parametrize("pool_size,strides,padding", CASES)
def test_naive_and_im2col_pool_agree(rng, pool_size, strides, padding):
    x = random(rng, (2, 9, 8, 3))
    y = R.naive_max_pool2d(x, pool_size, strides=strides, padding=padding)
    np.testing.assert_array_equal(
        R.im2col_max_pool2d(x, pool_size, strides=strides, padding=padding), y)
    dy = random(rng, y.shape)
    np.testing.assert_allclose(
        R.im2col_max_pool2d_backward(dy, x, pool_size, strides=strides, padding=padding),
        R.naive_max_pool2d_backward(dy, x, pool_size, strides=strides, padding=padding),
        rtol=1e-12, atol=1e-12)


def test_naive_conv_gradient_matches_finite_differences(rng):
    x, k, b = random(rng, (1, 5, 4, 2)), random(rng, (3, 2, 2, 3)), random(rng, (3,))
    dy = random(rng, (1, 3, 4, 3))

    def loss():
        return np.sum(R.naive_conv2d(x, k, b, strides=(2, 1), padding="same") * dy)

    dx, dk, db = R.naive_conv2d_backward(dy, x, k, strides=(2, 1), padding="same")
    for grad, arr in ((dx, x), (dk, k), (db, b)):
        np.testing.assert_allclose(grad, numerical_gradient(loss, arr), rtol=1e-6, atol=1e-8)
