"""MaxPooling2D, on fastconv's compiled pooling kernels; AveragePooling2D,
GlobalAveragePooling2D and GlobalMaxPooling2D."""
import numpy as np

from .. import _api
from .base import Layer, require_images


class _Pooling2D(Layer):
    """A window sliding over NHWC inputs: pool_size, strides (default: pool_size), padding."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.pool_size = _api.checks.pair(pool_size, "pool_size", owner)
        self.strides = (self.pool_size if strides is None
                        else _api.checks.pair(strides, "strides", owner))
        self.padding = _api.checks.padding_name(padding, owner)

    def build(self, input_shape):
        require_images(self, input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return _api.checks.window_output_shape(
            input_shape, self.pool_size, self.strides, self.padding, input_shape[3],
            f"{type(self).__name__} {self.name!r}")

    def get_config(self):
        return dict(super().get_config(), pool_size=self.pool_size, strides=self.strides,
                    padding=self.padding)


class MaxPooling2D(_Pooling2D):
    """2-D max pooling over NHWC inputs; strides default to pool_size. In training the
    forward pass records where each maximum came from (its position in the window, a compact
    argmax), so backward writes the gradient without searching again."""

    # set by Sequential.input_gradient: record the argmax in inference too
    _keep_for_backward = False

    def forward(self, x, training=False, activate=True):
        args = dict(strides=self.strides, padding=self.padding)
        if not training and not self._keep_for_backward:
            return _api.max_pool2d(x, self.pool_size, **args)
        self._x_shape = x.shape
        y, self._argmax = _api.pool.max_pool2d_with_argmax(x, self.pool_size, **args)
        return y

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return _api.pool.max_pool2d_backward_argmax(dy, self._argmax, self._x_shape,
                                                    self.pool_size, self.strides, self.padding)


class AveragePooling2D(_Pooling2D):
    """2-D average pooling over NHWC inputs; strides default to pool_size. With "same"
    padding a window clipped by the image's edge averages the pixels it covers (the padding
    does not count), as in Keras and TensorFlow."""

    def build(self, input_shape):
        super().build(input_shape)
        (h, w), (oh, ow) = input_shape[1:3], self.output_shape[1:3]
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        top = _api.padding_amounts(h, ph, sh, self.padding)
        left = _api.padding_amounts(w, pw, sw, self.padding)
        self._top, self._left = top[0], left[0]
        self._padded_h, self._padded_w = h + sum(top), w + sum(left)
        # how many image pixels each window covers: the divisor of its sum
        ones = np.zeros((1, self._padded_h, self._padded_w, 1), self.dtype)
        ones[:, self._top:self._top + h, self._left:self._left + w] = 1
        self._counts = self._window_sums(ones, oh, ow)

    def _windows(self, oh, ow):
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        for a in range(ph):
            for b in range(pw):
                yield (slice(None), slice(a, a + sh * (oh - 1) + 1, sh),
                       slice(b, b + sw * (ow - 1) + 1, sw))

    def _window_sums(self, xp, oh, ow):
        y = np.zeros((xp.shape[0], oh, ow, xp.shape[3]), xp.dtype)
        if oh and ow:
            for index in self._windows(oh, ow):
                y += xp[index]
        return y

    def _pad(self, x):
        h, w = x.shape[1:3]
        if (self._padded_h, self._padded_w) == (h, w):
            return x
        xp = np.zeros((x.shape[0], self._padded_h, self._padded_w, x.shape[3]), x.dtype)
        xp[:, self._top:self._top + h, self._left:self._left + w] = x
        return xp

    def forward(self, x, training=False, activate=True):
        oh, ow = self.output_shape[1:3]
        return self._window_sums(self._pad(x), oh, ow) / self._counts.astype(x.dtype)

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        g = dy / self._counts.astype(dy.dtype)
        dxp = np.zeros((dy.shape[0], self._padded_h, self._padded_w, dy.shape[3]), dy.dtype)
        if g.size:
            for index in self._windows(*dy.shape[1:3]):
                dxp[index] += g
        h, w = self.input_shape[1:3]
        return dxp[:, self._top:self._top + h, self._left:self._left + w]


class _GlobalPooling2D(Layer):
    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        require_images(self, input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return ((input_shape[0], 1, 1, input_shape[3]) if self.keepdims
                else (input_shape[0], input_shape[3]))

    def _shaped(self, y):
        return y.reshape((y.shape[0],) + tuple(self.output_shape[1:]))

    def get_config(self):
        return dict(super().get_config(), keepdims=self.keepdims)


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel over height and width: (batch, h, w, c) -> (batch, c), or
    (batch, 1, 1, c) with keepdims=True."""

    def forward(self, x, training=False, activate=True):
        self._hw = x.shape[1:3]
        return self._shaped(x.mean(axis=(1, 2)))

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        h, w = self._hw
        g = dy.reshape(dy.shape[0], 1, 1, -1) / dy.dtype.type(max(h * w, 1))
        return np.broadcast_to(g, (dy.shape[0], h, w, g.shape[3])).copy()


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum of each channel over height and width (NaN if the channel holds one); its
    gradient goes to the first maximum, as MaxPooling2D's does."""

    def forward(self, x, training=False, activate=True):
        n, h, w, c = x.shape
        flat = x.reshape(n, h * w, c)
        if h * w == 0:
            raise ValueError(f"GlobalMaxPooling2D {self.name!r}: images of size {h}x{w} have "
                             f"no maximum")
        self._shape = x.shape
        self._where = np.argmax(flat, axis=1)          # the first maximum, or the first NaN
        return self._shaped(np.take_along_axis(flat, self._where[:, None, :], axis=1)[:, 0])

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        n, h, w, c = self._shape
        dx = np.zeros((n, h * w, c), dy.dtype)
        np.put_along_axis(dx, self._where[:, None, :], dy.reshape(n, 1, c), axis=1)
        return dx.reshape(self._shape)
