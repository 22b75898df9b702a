"""Conv2D, on fastconv's compiled convolution kernels."""
from .. import _api, initializers
from .base import ActivatedLayer


class Conv2D(ActivatedLayer):
    """2-D convolution over NHWC inputs: ``activation(conv2d(x, kernel) + bias)``.

    A ReLU runs inside the compiled kernel; the first layer of a model computes no input
    gradient.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(activation=activation, **kwargs)
        if int(filters) != filters or filters < 1:
            raise ValueError(f"Conv2D: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _api.checks.pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = _api.checks.pair(strides, "strides", "Conv2D")
        self.padding = _api.checks.padding_name(padding, "Conv2D")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[3] is None:
            raise ValueError(f"Conv2D {self.name!r} expects inputs (batch, height, width, "
                             f"channels) with known channels, got input shape {input_shape}")
        super().build(input_shape)
        shape = self.kernel_size + (input_shape[3], self.filters)
        self.kernel = self.kernel_initializer(shape, self.dtype)
        self.weights = [self.kernel]
        if self.use_bias:
            self.bias = self.bias_initializer((self.filters,), self.dtype)
            self.weights.append(self.bias)

    def compute_output_shape(self, input_shape):
        return _api.checks.window_output_shape(input_shape, self.kernel_size, self.strides,
                                               self.padding, self.filters, f"Conv2D {self.name!r}")

    def forward(self, x, training=False, activate=True):
        self._x = x
        bias = self.bias if self.use_bias else None
        args = dict(strides=self.strides, padding=self.padding)
        if activate and self.activation.name == "relu":
            self._activated = True
            return self.activation.remember_output(
                _api.conv2d(x, self.kernel, bias, activation="relu", **args))
        return self._activate(_api.conv2d(x, self.kernel, bias, **args), activate)

    def backward(self, dy):
        args = dict(strides=self.strides, padding=self.padding,
                    compute_dx=self.needs_input_grad)
        if self._activated and self.activation.name == "relu":
            # the kernels apply the ReLU's derivative themselves
            args["relu_output"] = self.activation.output
            dz = dy
        else:
            dz = self._activation_grad(dy)
        dx, dkernel, dbias = _api.conv2d_backward(dz, self._x, self.kernel, **args)
        self.grads = [dkernel] + ([dbias] if self.use_bias else [])
        return dx

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, kernel_size=self.kernel_size,
                    strides=self.strides, padding=self.padding, use_bias=self.use_bias)
