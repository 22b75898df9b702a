"""MaxPooling2D, on fastconv's compiled pooling kernels."""
from .. import _api
from .base import Layer


class MaxPooling2D(Layer):
    """2-D max pooling over NHWC inputs; strides default to pool_size. In training the
    forward pass records where each maximum came from (its position in the window, a compact
    argmax), so backward writes the gradient without searching again."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _api._pair(pool_size, "pool_size", "MaxPooling2D")
        self.strides = (self.pool_size if strides is None
                        else _api._pair(strides, "strides", "MaxPooling2D"))
        self.padding = _api._padding(padding, "MaxPooling2D")

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"MaxPooling2D {self.name!r} expects inputs (batch, height, "
                             f"width, channels), got input shape {input_shape}")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return _api.window_output_shape(input_shape, self.pool_size, self.strides, self.padding,
                                        input_shape[3], f"MaxPooling2D {self.name!r}")

    def forward(self, x, training=False, activate=True):
        args = dict(strides=self.strides, padding=self.padding)
        if not training:
            return _api.max_pool2d(x, self.pool_size, **args)
        self._x_shape = x.shape
        y, self._argmax = _api._max_pool2d_with_argmax(x, self.pool_size, **args)
        return y

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return _api._max_pool2d_backward_argmax(dy, self._argmax, self._x_shape,
                                                self.pool_size, self.strides, self.padding)

    def get_config(self):
        return dict(super().get_config(), pool_size=self.pool_size, strides=self.strides,
                    padding=self.padding)
