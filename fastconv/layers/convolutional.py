"""Conv2D, Conv2DTranspose, DepthwiseConv2D and SeparableConv2D, on fastconv's compiled
convolution kernels."""
from .. import _api, initializers
from .base import ActivatedLayer, Layer


def _dilated_window(kernel_size, dilation_rate):
    return tuple((k - 1) * d + 1 for k, d in zip(kernel_size, dilation_rate))


class _Convolution(ActivatedLayer):
    """What the convolution layers share: ``forward`` runs the layer's kernel function
    (``_kernel``, one of fastconv._api's, on ``self.kernel`` and the bias) with a ReLU fused
    into it; ``backward`` its gradient function (``_gradient``), which applies the ReLU's
    derivative itself; ``_args()`` gives both the layer's keyword arguments."""

    _kernel = _gradient = None

    def _args(self):
        raise NotImplementedError

    def forward(self, x, training=False, activate=True):
        self._x = x
        bias = self.bias if self.use_bias else None
        if activate and self.activation.name == "relu":
            self._activated = True
            return self.activation.remember_output(
                self._kernel(x, self.kernel, bias, activation="relu", **self._args()))
        return self._activate(self._kernel(x, self.kernel, bias, **self._args()), activate)

    def backward(self, dy):
        args = dict(self._args(), compute_dx=self.needs_input_grad)
        if self._activated and self.activation.name == "relu":
            args["relu_output"] = self.activation.output    # applied inside the kernels
            dz = dy
        else:
            dz = self._activation_grad(dy)
        dx, dkernel, dbias = self._gradient(dz, self._x, self.kernel, **args)
        self.grads = [dkernel] + ([dbias] if self.use_bias else [])
        return dx


class Conv2D(_Convolution):
    """2-D convolution over NHWC inputs: ``activation(conv2d(x, kernel) + bias)``, with
    Keras's ``dilation_rate`` and ``groups`` (kernel (kh, kw, in_channels / groups, filters)).

    A ReLU runs inside the compiled kernel; the first layer of a model computes no input
    gradient.
    """

    _kernel = staticmethod(_api.conv2d)
    _gradient = staticmethod(_api.conv2d_backward)

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self._regularize(kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer)
        if int(filters) != filters or filters < 1:
            raise ValueError(f"Conv2D: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _api.checks.pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = _api.checks.pair(strides, "strides", "Conv2D")
        self.dilation_rate = _api.checks.pair(dilation_rate, "dilation_rate", "Conv2D")
        if self.dilation_rate != (1, 1) and self.strides != (1, 1):
            raise ValueError(f"Conv2D: dilation_rate {self.dilation_rate} needs strides 1 (as "
                             f"in Keras), got strides {self.strides}")
        self.groups = _api.conv.group_count(groups, "Conv2D")
        if self.filters % self.groups:
            raise ValueError(f"Conv2D: filters {self.filters} must be a multiple of groups "
                             f"{self.groups}")
        self.padding = _api.checks.padding_name(padding, "Conv2D")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[3] is None:
            raise ValueError(f"Conv2D {self.name!r} expects inputs (batch, height, width, "
                             f"channels) with known channels, got input shape {input_shape}")
        if input_shape[3] % self.groups:
            raise ValueError(f"Conv2D {self.name!r}: input channels {input_shape[3]} must be a "
                             f"multiple of groups {self.groups}")
        super().build(input_shape)
        shape = self.kernel_size + (input_shape[3] // self.groups, self.filters)
        self.kernel = self.kernel_initializer(shape, self.dtype)
        self.weights = [self.kernel]
        if self.use_bias:
            self.bias = self.bias_initializer((self.filters,), self.dtype)
            self.weights.append(self.bias)
        self.weight_regularizers = [self.kernel_regularizer, self.bias_regularizer][
            :len(self.weights)]

    def compute_output_shape(self, input_shape):
        return _api.checks.window_output_shape(
            input_shape, _dilated_window(self.kernel_size, self.dilation_rate), self.strides,
            self.padding, self.filters, f"Conv2D {self.name!r}")

    def _args(self):
        return dict(strides=self.strides, padding=self.padding,
                    dilation_rate=self.dilation_rate, groups=self.groups)

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, kernel_size=self.kernel_size,
                    strides=self.strides, padding=self.padding,
                    dilation_rate=self.dilation_rate, groups=self.groups,
                    use_bias=self.use_bias)


class DepthwiseConv2D(_Convolution):
    """Depthwise 2-D convolution over NHWC inputs: each input channel convolved with its own
    ``depth_multiplier`` kernels, ``activation(depthwise_conv2d(x, kernel) + bias)``, as
    Keras's DepthwiseConv2D (its kernel, of shape (kh, kw, in_channels, depth_multiplier), is
    ``self.kernel``). Output channel ``c * depth_multiplier + k`` comes from input channel c.
    """

    _kernel = staticmethod(_api.depthwise_conv2d)
    _gradient = staticmethod(_api.depthwise_conv2d_backward)

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self._regularize(depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer)
        fn = type(self).__name__
        if int(depth_multiplier) != depth_multiplier or depth_multiplier < 1:
            raise ValueError(f"{fn}: depth_multiplier must be a positive integer, got "
                             f"{depth_multiplier!r}")
        self.depth_multiplier = int(depth_multiplier)
        self.kernel_size = _api.checks.pair(kernel_size, "kernel_size", fn)
        self.strides = _api.checks.pair(strides, "strides", fn)
        self.dilation_rate = _api.checks.pair(dilation_rate, "dilation_rate", fn)
        self.padding = _api.checks.padding_name(padding, fn)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _check_input_shape(self, input_shape):
        if len(input_shape) != 4 or input_shape[3] is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs (batch, "
                             f"height, width, channels) with known channels, got input shape "
                             f"{input_shape}")

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        super().build(input_shape)
        self.kernel = self.depthwise_initializer(
            self.kernel_size + (input_shape[3], self.depth_multiplier), self.dtype)
        self.weights = [self.kernel]
        if self.use_bias:
            self.bias = self.bias_initializer((input_shape[3] * self.depth_multiplier,),
                                              self.dtype)
            self.weights.append(self.bias)
        self.weight_regularizers = [self.depthwise_regularizer, self.bias_regularizer][
            :len(self.weights)]

    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        return _api.checks.window_output_shape(
            input_shape, _dilated_window(self.kernel_size, self.dilation_rate), self.strides,
            self.padding, input_shape[3] * self.depth_multiplier,
            f"{type(self).__name__} {self.name!r}")

    def _args(self):
        return dict(strides=self.strides, padding=self.padding,
                    dilation_rate=self.dilation_rate)

    def get_config(self):
        return dict(super().get_config(), kernel_size=self.kernel_size, strides=self.strides,
                    padding=self.padding, depth_multiplier=self.depth_multiplier,
                    dilation_rate=self.dilation_rate, use_bias=self.use_bias)


class SeparableConv2D(DepthwiseConv2D):
    """Depthwise then pointwise 2-D convolution, as Keras's SeparableConv2D: a depthwise
    convolution (``depthwise_kernel``, (kh, kw, in_channels, depth_multiplier), no bias),
    then a 1x1 convolution to ``filters`` channels (``pointwise_kernel``, (1, 1,
    in_channels * depth_multiplier, filters)) with the bias and the activation."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self._regularize(depthwise_regularizer=depthwise_regularizer,
                         pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer)
        if int(filters) != filters or filters < 1:
            raise ValueError(f"SeparableConv2D: filters must be a positive integer, got "
                             f"{filters!r}")
        self.filters = int(filters)
        self.pointwise_initializer = initializers.get(pointwise_initializer)

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        Layer.build(self, input_shape)
        middle = input_shape[3] * self.depth_multiplier
        self.depthwise_kernel = self.depthwise_initializer(
            self.kernel_size + (input_shape[3], self.depth_multiplier), self.dtype)
        self.pointwise_kernel = self.pointwise_initializer((1, 1, middle, self.filters),
                                                           self.dtype)
        self.weights = [self.depthwise_kernel, self.pointwise_kernel]
        if self.use_bias:
            self.bias = self.bias_initializer((self.filters,), self.dtype)
            self.weights.append(self.bias)
        self.weight_regularizers = [self.depthwise_regularizer, self.pointwise_regularizer,
                                    self.bias_regularizer][:len(self.weights)]

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        return shape[:3] + (self.filters,)

    def forward(self, x, training=False, activate=True):
        # Outside training the two convolutions run fused (separable_conv2d: the depthwise
        # result never goes through memory); training keeps it for the pointwise kernel's
        # gradient. A backward pass after an inference forward (input gradients, Grad-CAM)
        # works it out again.
        self._x = x
        bias = self.bias if self.use_bias else None
        relu = activate and self.activation.name == "relu"
        fused = "relu" if relu else None
        if training:
            self._z = _api.depthwise_conv2d(x, self.depthwise_kernel, **self._args())
            y = _api.conv2d(self._z, self.pointwise_kernel, bias, activation=fused)
        else:
            self._z = None
            y = _api.separable_conv2d(x, self.depthwise_kernel, self.pointwise_kernel, bias,
                                      activation=fused, **self._args())
        if relu:
            self._activated = True
            return self.activation.remember_output(y)
        return self._activate(y, activate)

    def backward(self, dy):
        if self._z is None:
            self._z = _api.depthwise_conv2d(self._x, self.depthwise_kernel, **self._args())
        args = {}
        if self._activated and self.activation.name == "relu":
            args["relu_output"] = self.activation.output
            dz = dy
        else:
            dz = self._activation_grad(dy)
        dmiddle, dpointwise, dbias = _api.conv2d_backward(dz, self._z, self.pointwise_kernel,
                                                          **args)
        dx, ddepthwise, _ = _api.depthwise_conv2d_backward(
            dmiddle, self._x, self.depthwise_kernel, compute_dx=self.needs_input_grad,
            **self._args())
        self.grads = [ddepthwise, dpointwise] + ([dbias] if self.use_bias else [])
        return dx

    def get_config(self):
        return dict(super().get_config(), filters=self.filters)


class Conv2DTranspose(_Convolution):
    """Transposed 2-D convolution over NHWC inputs, as Keras's Conv2DTranspose:
    ``activation(conv2d_transpose(x, kernel) + bias)``, kernel of shape (kh, kw, filters,
    in_channels), Keras's output size (see ``fastconv.conv2d_transpose``). Segmentation
    models use it to go back up to the input's size."""

    _kernel = staticmethod(_api.conv2d_transpose)
    _gradient = staticmethod(_api.conv2d_transpose_backward)

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self._regularize(kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer)
        if int(filters) != filters or filters < 1:
            raise ValueError(f"Conv2DTranspose: filters must be a positive integer, got "
                             f"{filters!r}")
        self.filters = int(filters)
        self.kernel_size = _api.checks.pair(kernel_size, "kernel_size", "Conv2DTranspose")
        self.strides = _api.checks.pair(strides, "strides", "Conv2DTranspose")
        self.padding = _api.checks.padding_name(padding, "Conv2DTranspose")
        self.output_padding = None if output_padding is None else _api.conv.pair_or_zero(
            output_padding, "output_padding", "Conv2DTranspose")
        if self.output_padding is not None and any(
                op >= s for op, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"Conv2DTranspose: output_padding must be less than strides, got "
                             f"output_padding {output_padding!r} and strides {self.strides}")
        self.dilation_rate = _api.checks.pair(dilation_rate, "dilation_rate", "Conv2DTranspose")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"Conv2DTranspose: strides > 1 is incompatible with dilation_rate "
                             f"> 1 (as in Keras), got strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[3] is None:
            raise ValueError(f"Conv2DTranspose {self.name!r} expects inputs (batch, height, "
                             f"width, channels) with known channels, got input shape "
                             f"{input_shape}")
        super().build(input_shape)
        self.kernel = self.kernel_initializer(self.kernel_size + (self.filters, input_shape[3]),
                                              self.dtype)
        self.weights = [self.kernel]
        if self.use_bias:
            self.bias = self.bias_initializer((self.filters,), self.dtype)
            self.weights.append(self.bias)
        self.weight_regularizers = [self.kernel_regularizer, self.bias_regularizer][
            :len(self.weights)]

    def compute_output_shape(self, input_shape):
        ops = self.output_padding or (None, None)
        window = _dilated_window(self.kernel_size, self.dilation_rate)
        size = [None if s is None else
                _api.conv.transpose_padding(s, k, st, self.padding, op)[0]
                for s, k, st, op in zip(input_shape[1:3], window, self.strides, ops)]
        return (input_shape[0], size[0], size[1], self.filters)

    def _args(self):
        return dict(strides=self.strides, padding=self.padding,
                    output_padding=self.output_padding, dilation_rate=self.dilation_rate)

    def get_config(self):
        return dict(super().get_config(), filters=self.filters, kernel_size=self.kernel_size,
                    strides=self.strides, padding=self.padding,
                    output_padding=self.output_padding, dilation_rate=self.dilation_rate,
                    use_bias=self.use_bias)
