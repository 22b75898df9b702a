"""The training loop and everything else a model does with its graph: compile, fit,
evaluate, predict, input and layer gradients, weights, and whole-model files. Sequential and
the functional Model are both Trainers; only the graph differs."""
import contextlib
import os
import signal
import sys
import threading
import warnings

import numpy as np

from .. import _rng, losses, metrics as metrics_module, optimizers, saving
from ..saving import keras_config, keras_v3, legacy_h5
from ..saving.native import _DAMAGED
from .._progress import Progbar
from .._version import __version__
from ..callbacks import Callback, History
from ..layers.base import ActivatedLayer, Layer, Node, SymbolicTensor


def _verbosity(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


def _positive_int(value, name):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _format_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


@contextlib.contextmanager
def _stop_on_interrupt():
    """During fit, a first Ctrl-C asks training to stop after the current batch (the
    returned function then says True); a second one raises KeyboardInterrupt at once."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    hit = []

    def handler(signum, frame):
        if hit:
            raise KeyboardInterrupt
        hit.append(True)
        print("\nInterrupted: training stops after this batch (Ctrl-C again to abort now)",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(hit)
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None
                      else signal.default_int_handler)

class Trainer(Layer):
    """compile, fit, evaluate, predict, gradients, weights and whole-model files: what
    Sequential and the functional Model share. A subclass provides the graph (``_graph``, a
    functional.Graph, None until built) and ``layers``.

    A model is also a layer, as in Keras: called on a symbolic tensor, added to a Sequential
    or nested in another Model, it runs its own graph forward and back, and its layers'
    weights are its weights. ``trainable`` set on a model is set on all its layers."""

    # a model's penalties are its layers' (a nested model's counted through them)
    activity_regularizer = None
    weight_regularizers = ()

    def _init_trainer(self, name):
        # Layer.__init__ is not called: a model's weights, shapes and flags come from its
        # layers and its graph
        self.name = name
        self._graph = None
        self.optimizer = self.loss = None
        self._metric_names = []
        self._metrics = None
        self._compiled_trainable = None
        self.stop_training = False
        self.history = None
        self._trainable = True
        self._needs_input_grad = True
        self._nodes = []

    @property
    def built(self):
        return self._graph is not None

    # -- a model as a layer ----------------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """As Keras 3: the model's flag and every layer's in it, nested models' too. It takes
        effect in training at the next compile."""
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = self._trainable

    def _all_layers(self):
        """Every layer, nested models' layers after the model itself, depth first."""
        found = []
        for layer in self.layers:
            found.append(layer)
            if isinstance(layer, Trainer):
                found += layer._all_layers()
        return found

    @property
    def weights(self):
        """All weight arrays (the arrays themselves), layer by layer."""
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        """The weights the optimizer updates: none when the model is not trainable, else its
        trainable layers' trainable weights."""
        if not self.trainable:
            return []
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def grads(self):
        """The gradients of trainable_weights, in order, from the last backward pass."""
        if not self.trainable:
            return []
        return [g for layer in self.layers if layer.trainable_weights for g in layer.grads]

    @property
    def needs_input_grad(self):
        return self._needs_input_grad

    @needs_input_grad.setter
    def needs_input_grad(self, value):
        self._needs_input_grad = bool(value)
        if self._graph is not None:
            self._graph.set_gradient_needs(input_needs=self._needs_input_grad)

    @property
    def dtype(self):
        return self._graph.input_dtype if self.built else np.dtype("float32")

    @property
    def _input_shape_arg(self):
        """The input shape a Sequential takes from this model when it comes first in it."""
        return self.input_shape if self.built else None

    def compute_output_shape(self, input_shape):
        """The output shape for inputs of input_shape, through the graph's layers (a model
        built for sizes None takes any size)."""
        self._require_built("compute_output_shape")
        return self._graph.output_shapes(tuple(input_shape))[0]

    def _symbolic_call(self, inputs):
        if not isinstance(inputs, SymbolicTensor):
            raise TypeError(f"model {self.name!r} takes one tensor when called as a layer, got "
                            f"{inputs!r}")
        if not self.built:
            self.build(inputs.shape)
        if len(self._graph.outputs) != 1:
            raise ValueError(f"model {self.name!r} has {len(self._graph.outputs)} outputs; a "
                             f"model used as a layer must have one")
        expected = self.input_shape
        if len(expected) != len(inputs.shape) or any(
                e is not None and s is not None and e != s
                for e, s in zip(expected[1:], inputs.shape[1:])):
            raise ValueError(f"model {self.name!r} takes inputs of shape {expected}, but "
                             f"receives {inputs.shape} here")
        output = SymbolicTensor(self.compute_output_shape(inputs.shape), self.dtype)
        output.node = Node(self, [inputs], output)
        self._nodes.append(output.node)
        return output

    def __call__(self, x, training=False):
        """On a symbolic tensor: the model as a layer of the model being defined. On an
        array: the model's outputs for it (as predict_on_batch, in training mode if
        training), as Keras's ``model(x)``."""
        if isinstance(x, SymbolicTensor) or (isinstance(x, (list, tuple)) and x
                                             and isinstance(x[0], SymbolicTensor)):
            return self._symbolic_call(x)
        x = self._batch(self._prepare(x, "model call"), slice(None))
        return self._as_given(self._graph.run(x, training=training))

    def forward(self, x, training=False, activate=True):
        out, = self._graph.run(x, training, logits=not activate)
        return out

    def backward(self, dy):
        return self._graph.backward([dy])

    # -- the trainable flags compile saw -----------------------------------------------------
    @contextlib.contextmanager
    def _as_compiled(self):
        """Training runs with the trainable flags the model had at compile, as in Keras (a
        change takes effect at the next compile)."""
        saved = [(layer, layer._trainable if isinstance(layer, Trainer) else layer.trainable)
                 for layer in self._all_layers()]
        for layer, flag in self._compiled_trainable or ():
            if isinstance(layer, Trainer):
                layer._trainable = flag
            else:
                layer.trainable = flag
        try:
            yield
        finally:
            for layer, flag in saved:
                if isinstance(layer, Trainer):
                    layer._trainable = flag
                else:
                    layer.trainable = flag

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{what}: model {self.name!r} has not been built yet; give the "
                             f"first layer an input_shape, add layers.Input(shape), or call "
                             f"build() or fit() first")

    def count_params(self):
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    # -- compile and run -------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, the loss and the metrics (names or objects)."""
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='categorical_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        metrics = [] if metrics is None else ([metrics] if isinstance(metrics, str)
                                              else list(metrics))
        for name in metrics:            # fail at compile time on an unknown name
            metrics_module.get(name, self.loss, None)
        self._metric_names = metrics
        self._metrics = None
        self._compiled_trainable = [
            (layer, layer._trainable if isinstance(layer, Trainer) else layer.trainable)
            for layer in self._all_layers()]

    def _require_compiled(self, what):
        if self.loss is None:
            raise ValueError(f"{what}: call compile(optimizer, loss, metrics) first")

    @property
    def _fused(self):
        node = self._graph.fusable
        return (self.loss is not None and self.loss.fuses_with is not None and node is not None
                and isinstance(node.layer, ActivatedLayer)
                and node.layer.activation.name == self.loss.fuses_with)

    def _prepare(self, x, what):
        """x as an array of the model's input shape; builds the model if needed."""
        x = np.asarray(x)
        self._check_input_dtype(x.dtype, what)
        if not self.built:
            self._build_for(x, what)
        self._check_input_shape(x.shape, what)
        return x

    @staticmethod
    def _check_input_dtype(dtype, what):
        if dtype.kind not in "biuf":
            raise TypeError(f"{what}: x must hold numbers, got dtype {dtype}")

    def _check_input_shape(self, shape, what):
        """ValueError naming what unless inputs of this shape fit the built model."""
        expected = self.input_shape
        if len(shape) != len(expected) or any(e is not None and e != s for e, s in
                                              zip(expected[1:], shape[1:])):
            want = "(batch, " + ", ".join(str(d) for d in expected[1:]) + ")"
            raise ValueError(f"{what}: model {self.name!r} expected input of shape {want}, got "
                             f"{tuple(shape)}")

    def _build_for(self, x, what):
        """Build for inputs like x (Sequential, when no input shape was given)."""
        self._require_built(what)

    def _require_one_output(self, what):
        if len(self._graph.outputs) != 1:
            raise ValueError(f"{what}: model {self.name!r} has {len(self._graph.outputs)} "
                             f"outputs; training and evaluation need a model with one output "
                             f"(predict, input_gradient and layer_gradients take any number)")

    def _prepare_targets(self, x, y, what):
        self._require_one_output(what)
        y = np.asarray(y)
        if y.shape[:1] != x.shape[:1]:
            raise ValueError(f"{what}: x has {x.shape[0]} samples but y has "
                             f"{y.shape[0] if y.ndim else 'no'} (x {x.shape}, y {y.shape})")
        self.loss.check_targets(y, self.output_shape)
        if self._metrics is None:
            self._metrics = [metrics_module.get(m, self.loss, self.output_shape)
                             for m in self._metric_names]
        return y

    def _batch(self, a, index):
        return a[index].astype(self._graph.input_dtype, copy=False)

    def _loss_and_gradient(self, x, y, training):
        """(loss, predictions, d loss / d output of the forward pass used); the loss includes
        the regularizers' penalties, as Keras's does."""
        if self._fused:
            z, = self._graph.run(x, training, logits=True)
            loss, out, grad = self.loss.value_and_grad_from_logits(y, z)
        else:
            out, = self._graph.run(x, training)
            loss, grad = self.loss.value_and_grad(y.astype(out.dtype, copy=False), out)
        return loss + self._penalty(), out, grad

    def _penalty(self):
        """The trainable weights' regularizers' penalties, and the activity penalties of the
        last forward pass (0.0 with none)."""
        total = 0.0
        for layer in self._all_layers():
            if layer.trainable and layer.weight_regularizers:
                total += layer.weight_penalty()
            if layer.activity_regularizer is not None:
                total += layer._activity[0]
        return total

    def _train_step(self, x, y):
        with self._as_compiled():
            self._graph.set_gradient_needs()
            loss, pred, grad = self._loss_and_gradient(x, y, training=True)
            self._graph.backward([grad])
            for layer in self._all_layers():
                if layer.trainable and layer.weight_regularizers:
                    layer.add_weight_penalty_grads()
            params = self.trainable_weights
            if params:
                self.optimizer.apply(params, self.grads)
        return loss, pred

    def _log_values(self, loss_sum, count):
        return [("loss", loss_sum / count)] + [(m.name, m.result()) for m in self._metrics]

    # -- batch sources: arrays, or datasets and other iterables of batches -----------------
    def _arrays_source(self, x, y, batch_size, shuffle, limit):
        """(batches, steps): the (x, y) batches of one pass over arrays (at most limit of
        them), drawn in a new order each time it is iterated if shuffle."""
        n = x.shape[0]
        steps = -(-n // batch_size)
        if limit is not None:
            steps = min(steps, limit)

        def batches():
            order = _rng.generator().permutation(n) if shuffle else None
            for step in range(steps):
                index = (slice(step * batch_size, (step + 1) * batch_size) if order is None
                         else order[step * batch_size:(step + 1) * batch_size])
                yield self._batch(x, index), (None if y is None else y[index])
        return batches, steps

    def _data_source(self, data, steps, what, targets=True):
        """(batches, steps) for an iterable of batches: each pass iterates it afresh (an
        iterator is consumed across passes), at most steps batches (None: until it ends)."""
        if steps is None and hasattr(data, "__len__"):
            steps = len(data)
        # a re-iterable (a dataset, a list-like object) starts afresh each pass; an iterator,
        # or an object with only __next__, is consumed across passes
        reusable = hasattr(data, "__iter__") and iter(data) is not data
        shared = [None if reusable else data]

        def batches():
            it = iter(data) if reusable else shared[0]
            count = 0
            while steps is None or count < steps:
                try:
                    item = next(it)
                except StopIteration:
                    return
                count += 1
                yield self._check_batch(item, what, targets)
        return batches, steps

    def _check_batch(self, item, what, targets):
        if isinstance(item, tuple) and len(item) in (2, 3):
            xb, yb = item[0], item[1]          # a third element (sample weights) is ignored
        elif targets:
            raise ValueError(f"{what}: each batch must be a pair (x, y), got "
                             f"{type(item).__name__}"
                             + (f" of {len(item)}" if isinstance(item, tuple) else ""))
        else:
            xb, yb = item, None
        xb = self._prepare(xb, what)
        if targets:
            yb = self._prepare_targets(xb, yb, what)
        return self._batch(xb, slice(None)), yb

    @staticmethod
    def _is_data(x):
        """Whether x is a dataset or iterable of batches rather than an array."""
        return (x is not None and not isinstance(x, (np.ndarray, list, tuple, np.generic))
                and not hasattr(x, "__array__") and (hasattr(x, "__iter__")
                                                     or hasattr(x, "__next__")))

    def _source(self, x, y, batch_size, shuffle, steps, what, targets=True):
        if self._is_data(x):
            if y is not None:
                raise ValueError(f"{what}: y must be None when x is a dataset or an iterable "
                                 f"of batches (they hold the targets)")
            if batch_size is not None:
                raise ValueError(f"{what}: batch_size must be None for a dataset or an "
                                 f"iterable of batches (their batches are already made)")
            if steps is not None:
                steps = _positive_int(steps, "steps")
            return self._data_source(x, steps, what, targets)
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        x = self._prepare(x, what)
        if targets:
            y = self._prepare_targets(x, y, what)
        if x.shape[0] == 0:
            raise ValueError(f"{what}: x holds no samples")
        limit = None if steps is None else _positive_int(steps, "steps")
        return self._arrays_source(x, y, batch_size, shuffle, limit)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1):
        """Train for ``epochs`` passes over (x, y); returns a History.

        x may instead be a dataset (``utils.image_dataset_from_directory``) or any iterable
        of ``(x, y)`` batches other than a list or tuple (those are array data, as in Keras),
        y None then: each epoch iterates it afresh, for at most
        ``steps_per_epoch`` batches; an iterator (a generator) is consumed across epochs and
        needs steps_per_epoch if it does not end each epoch. ``validation_data`` is a pair of
        arrays or such a dataset (``validation_steps`` batches of it).

        Ctrl-C stops training cleanly after the current batch: fit returns, and the model keeps
        the weights of its last completed step.
        """
        self._require_compiled("fit")
        verbose = _verbosity(verbose)
        epochs = int(epochs)
        if not 0 <= validation_split < 1:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if self._is_data(x):
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; for a dataset pass "
                                 "validation_data (image_dataset_from_directory can split "
                                 "with validation_split and subset)")
        elif validation_split and validation_data is None:
            x = self._prepare(x, "fit")
            y = self._prepare_targets(x, y, "fit")
            split = int(x.shape[0] * (1 - validation_split))
            x, y, validation_data = x[:split], y[:split], (x[split:], y[split:])
        train, steps = self._source(x, y, batch_size, shuffle, steps_per_epoch, "fit")
        val = None
        if validation_data is not None:
            if self._is_data(validation_data):
                val = self._source(validation_data, None, None, False, validation_steps,
                                   "fit validation_data")
            else:
                if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                    raise ValueError("fit: validation_data must be a pair (x_val, y_val) or a "
                                     "dataset")
                val = self._source(validation_data[0], validation_data[1],
                                   validation_batch_size or batch_size, False, validation_steps,
                                   "fit validation_data")
        history = History()
        callbacks = list(callbacks or []) + [history]     # last: it records what others add
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be Callback instances, got {cb!r}")
            cb.set_model(self)
        history.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        self.history = history
        self.stop_training = False
        for cb in callbacks:
            cb.on_train_begin()
        with _stop_on_interrupt() as interrupted:
            for epoch in range(initial_epoch, epochs):
                if verbose:
                    print(f"Epoch {epoch + 1}/{epochs}", flush=True)
                for cb in callbacks:
                    cb.on_epoch_begin(epoch)
                bar = Progbar(steps, verbose)
                loss_sum, count, step = 0.0, 0, 0
                for m in self._metrics or []:
                    m.reset()
                for xb, yb in train():
                    for cb in callbacks:
                        cb.on_train_batch_begin(step)
                    loss, pred = self._train_step(xb, yb)
                    loss_sum += loss * len(yb)
                    count += len(yb)
                    for m in self._metrics:
                        m.update(yb, pred)
                    step += 1
                    values = self._log_values(loss_sum, count)
                    for cb in callbacks:
                        cb.on_train_batch_end(step - 1, dict(values))
                    if interrupted() or self.stop_training:
                        break
                    bar.update(step, values, finalize=False)
                if interrupted():
                    print(f"Training interrupted in epoch {epoch + 1} after step {step}/"
                          f"{steps or step}; the model keeps the weights of that step.",
                          flush=True)
                    break
                if step == 0:
                    warnings.warn(f"fit: the training data ran out in epoch {epoch + 1}; "
                                  f"training stops (an iterator is consumed across epochs: "
                                  f"give steps_per_epoch, or pass a dataset)", RuntimeWarning,
                                  stacklevel=2)
                    break
                logs = dict(self._log_values(loss_sum, count))
                if val is not None and (epoch + 1) % validation_freq == 0:
                    logs.update({"val_" + k: v for k, v in self._evaluate(*val, 0).items()})
                bar.total = bar.total or step
                bar.update(step, list(logs.items()), finalize=True)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        for cb in callbacks:
            cb.on_train_end()
        return history

    def _evaluate(self, batches, steps, verbose):
        bar = Progbar(steps, verbose)
        loss_sum, count, step = 0.0, 0, 0
        for m in self._metrics or []:
            m.reset()
        for xb, yb in batches():
            loss, pred, _ = self._loss_and_gradient(xb, yb, training=False)
            loss_sum += loss * len(yb)
            count += len(yb)
            for m in self._metrics:
                m.update(yb, pred)
            step += 1
            bar.update(step, self._log_values(loss_sum, count), finalize=False)
        if count == 0:
            raise ValueError("evaluate: the data holds no batches")
        bar.total = bar.total or step
        bar.update(step, self._log_values(loss_sum, count), finalize=True)
        return dict(self._log_values(loss_sum, count))

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False,
                 steps=None):
        """Loss and metrics on (x, y), or on a dataset or iterable of (x, y) batches (at most
        ``steps`` of them): ``[loss, accuracy, ...]`` (the loss alone without metrics), or a
        dict with return_dict=True."""
        self._require_compiled("evaluate")
        batches, total = self._source(x, y, batch_size, False, steps, "evaluate")
        logs = self._evaluate(batches, total, _verbosity(verbose))
        if return_dict:
            return logs
        return list(logs.values()) if len(logs) > 1 else logs["loss"]

    def _as_given(self, arrays):
        """The outputs as the model was defined: one array, or a list of them."""
        return arrays[0] if self._graph.single_output else list(arrays)

    def _no_outputs(self):
        return self._as_given([np.zeros((0,) + t.shape[1:], t.dtype)
                               for t in self._graph.outputs])

    def predict(self, x, batch_size=None, verbose="auto", steps=None):
        """The model's outputs for x (an array, or a dataset or iterable of batches: of x, or
        of (x, y) whose y is ignored), computed in batches (inference mode): one array, or a
        list of arrays for a model defined with a list of outputs."""
        if not self._is_data(x):
            x = self._prepare(x, "predict")
            if x.shape[0] == 0:
                return self._no_outputs()
        batches, total = self._source(x, None, batch_size, False, steps, "predict",
                                      targets=False)
        bar = Progbar(total, _verbosity(verbose))
        outputs = []
        for step, (xb, _) in enumerate(batches()):
            outputs.append(self._graph.run(xb, training=False))
            bar.update(step + 1, finalize=False)
        bar.total = bar.total or len(outputs)
        bar.update(len(outputs), finalize=True)
        if not outputs:
            self._require_built("predict")
            return self._no_outputs()
        return self._as_given([np.concatenate(parts) for parts in zip(*outputs)])

    def input_gradient(self, x, output_gradient, batch_size=None, logits=False):
        """The vector-Jacobian product of the model at x, in inference mode: the gradient with
        respect to x of ``sum(output * output_gradient)`` (summed over the outputs for a model
        with several: output_gradient is then a list, one array per output), through the
        compiled backward kernels, in batches of batch_size (32). With logits=True the output
        is taken before the last layer's activation. The model's weights, and what fit would
        compute, are left as they were."""
        dx, _, _ = self._vjp(x, output_gradient, (), batch_size, logits, "input_gradient")
        return dx

    def layer_gradients(self, x, output_gradient, layer_names, batch_size=None, logits=False):
        """``(activations, gradients)``: for each named layer, its output at x and the
        gradient of ``sum(output * output_gradient)`` with respect to that output (as
        input_gradient, in inference mode): what Grad-CAM needs. With logits=True the model's
        output is taken before its last layer's activation (the class scores before the
        softmax or sigmoid)."""
        if isinstance(layer_names, str):
            raise TypeError("layer_gradients: layer_names must be a list of names, got a "
                            "string; use [name]")
        _, acts, grads = self._vjp(x, output_gradient, list(layer_names), batch_size, logits,
                                   "layer_gradients")
        return acts, grads

    def _vjp(self, x, output_gradient, layer_names, batch_size, logits, what):
        """(input gradient, activations, their gradients) of the named layers' outputs."""
        x = self._prepare(x, what)
        graph = self._graph
        tensors = [graph.tensor_of(self.get_layer(name), what) for name in layer_names]
        if logits and graph.fusable is None:
            raise ValueError(f"{what}: logits=True needs a model with one output made by its "
                             f"last layer")
        dys = [output_gradient] if graph.single_output else output_gradient
        if not isinstance(dys, (list, tuple)) or len(dys) != len(graph.outputs):
            raise ValueError(f"{what}: model {self.name!r} has {len(graph.outputs)} outputs; "
                             f"output_gradient must be a list of as many arrays")
        dys = [np.asarray(d) for d in dys]
        for i, (d, t) in enumerate(zip(dys, graph.outputs)):
            expected = (x.shape[0],) + t.shape[1:]
            if d.shape != expected:
                which = "" if graph.single_output else f" {i}"
                raise ValueError(f"{what}: output_gradient{which} must have the output's shape "
                                 f"{expected} for x {x.shape}, got {d.shape}")
            if d.dtype.kind not in "biuf":
                raise TypeError(f"{what}: output_gradient must hold numbers, got {d.dtype}")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        layers = [l for l in self._all_layers() if not isinstance(l, Trainer)]
        saved = [(layer, layer.needs_input_grad, layer.grads) for layer in layers]
        pools = [layer for layer in layers if hasattr(layer, "_keep_for_backward")]
        dxs, acts, grads = [], [], []
        try:
            graph.set_gradient_needs(everything=True)
            for layer in pools:
                layer._keep_for_backward = True
            for start in range(0, x.shape[0], batch_size):
                part = slice(start, start + batch_size)
                outs, kept = graph.run(self._batch(x, part), False, logits=logits, keep=tensors)
                dx, kept_grads = graph.backward(
                    [d[part].astype(o.dtype, copy=False) for d, o in zip(dys, outs)], tensors)
                dxs.append(dx)
                acts.append(kept)
                grads.append(kept_grads)
        finally:
            for layer, needs, g in saved:
                layer.needs_input_grad, layer.grads = needs, g
            for layer in pools:
                layer._keep_for_backward = False
        if not dxs:
            empty = [np.zeros((0,) + t.shape[1:], t.dtype) for t in tensors]
            return np.zeros(x.shape, graph.input_dtype), empty, list(empty)
        return (np.concatenate(dxs), [np.concatenate(p) for p in zip(*acts)],
                [np.concatenate(p) for p in zip(*grads)])

    def predict_on_batch(self, x):
        x = self._batch(self._prepare(x, "predict_on_batch"), slice(None))
        return self._as_given(self._graph.run(x, training=False))

    def train_on_batch(self, x, y, return_dict=False):
        """One optimizer step on this batch; returns its ``[loss, metrics...]``."""
        self._require_compiled("train_on_batch")
        x = self._prepare(x, "train_on_batch")
        y = self._prepare_targets(x, y, "train_on_batch")
        loss, pred = self._train_step(self._batch(x, slice(None)), y)
        logs = {"loss": loss}
        for m in self._metrics:
            m.reset()
            m.update(y, pred)
            logs[m.name] = m.result()
        if return_dict:
            return logs
        return list(logs.values()) if len(logs) > 1 else loss

    # -- weights ---------------------------------------------------------------------------
    def get_weights(self):
        """Copies of all weight arrays, layer by layer."""
        return [w.copy() for layer in self.layers for w in layer.weights]

    def set_weights(self, weights):
        weights = list(weights)
        self._require_built("set_weights")
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights: model {self.name!r} has {expected} weight arrays, "
                             f"got {len(weights)}")
        i = 0
        for layer in self.layers:
            k = len(layer.weights)
            layer.set_weights(weights[i:i + k])
            i += k

    def _architecture(self):
        return [[type(l).__name__, [list(w.shape) for w in l.weights]] for l in self.layers]

    def save_weights(self, filepath):
        """Write all weights to a file, replaced atomically (a crash leaves the old file or
        the new one, never a torn one). A name ending in ``.weights.h5`` gets a Keras 3
        weights file (Keras's ``load_weights`` reads it; needs h5py, the keras extra), any
        other an ``.npz`` of plain arrays and a JSON description of the layers (nothing
        pickled; fastconv.saving.native has the format)."""
        self._require_built("save_weights")
        path = os.fspath(filepath)
        if path.endswith(".weights.h5"):
            keras_v3.write_weights(path, {group: l.weights
                                          for group, l in self._keras_layout()[1]})
            return
        saving.save_weights(path, self._architecture(), self.get_weights())

    def load_weights(self, filepath, skip_mismatch=False, by_name=False):
        """Read weights written by save_weights, or by Keras: a Keras 3 ``.weights.h5`` file
        (matched by Keras's layout), or a legacy HDF5 weights file (Keras 2's
        ``save_weights("x.h5")``, keras.applications' published weights), matched as Keras
        matches them: by order of the layers with weights, or with by_name=True by layer name
        (layers the file lacks keep their weights); skip_mismatch=True leaves a layer whose
        weights do not fit as it is. Refuses, with ValueError naming the file, a file that is
        truncated or not a weights file, and one made for other layers or shapes."""
        self._require_built("load_weights")
        path = os.fspath(filepath)
        if keras_v3.is_hdf5(path):
            with keras_v3.weights_file(path, self._weights_budget(legacy=True)) as store:
                try:
                    if store.is_legacy():
                        layers = self._keras_layout()[0]
                        nested = [l.name for l in layers if isinstance(l, Trainer)]
                        if nested:
                            raise ValueError(f"fastconv reads a legacy HDF5 weights file "
                                             f"into models without nested models; this one "
                                             f"nests {nested}")
                        with legacy_h5.LegacyFile(store.data) as legacy:
                            pairs = legacy_h5.layer_weights(legacy, layers, by_name,
                                                            skip_mismatch)
                    else:
                        pairs = [(l, store.read_layer(group, [w.shape for w in l.weights]))
                                 for group, l in self._keras_layout()[1]]
                except ValueError as e:
                    raise ValueError(f"load_weights: {path}: {e}") from None
                except _DAMAGED as e:
                    raise ValueError(f"load_weights: {path} is not a complete weights file "
                                     f"({type(e).__name__}: {e})") from None
            for layer, values in pairs:
                layer.set_weights(values)
            return
        self.set_weights(saving.load_weights(path, self._architecture()))

    def _weights_budget(self, legacy=False):
        """Bytes a Keras weights store for this model may take: the weights, an optimizer's
        two slots per weight, and HDF5's own bookkeeping. A legacy file may hold weights in
        float64 and layers this model lacks (by_name), so it may take more."""
        nbytes = sum(w.nbytes for w in self.weights)
        return (6 if legacy else 3) * nbytes + (64 << 10) * (len(self._all_layers()) + 16)


    def _keras_layout(self):
        """(this model's layers in Keras's model.layers order; (weights group, layer) for
        each layer with variables, nested models' layers included, in Keras's order; the
        trainable weights in Keras's order, that of its optimizer's variables)."""
        by_name = {l.name: l for l in self.layers}
        layers = [by_name[n] for n in keras_config.layer_order(self._keras_class,
                                                               self.get_config())]
        paths = keras_config.weight_paths(
            [(l._keras_class if isinstance(l, Trainer) else type(l).__name__, l.name)
             for l in layers])
        groups, trainable = [], []
        for l in layers:
            if isinstance(l, Trainer):
                _, inner, inner_trainable = l._keras_layout()
                groups += [(f"{paths[l.name]}/{p}", leaf) for p, leaf in inner]
                trainable += inner_trainable if l.trainable else []
            else:
                if l.weights:
                    groups.append((paths[l.name], l))
                trainable += l.trainable_weights
        return layers, groups, trainable

    def _keras_config(self):
        """Keras's config of this model (nested models' included)."""
        shapes = self._call_shapes()
        return keras_config.to_keras(
            self._keras_class, self.get_config(),
            {l.name: shapes[id(l)] for l in self.layers},
            {l.name: l._keras_config() for l in self.layers if isinstance(l, Trainer)})

    # -- whole-model files -------------------------------------------------------------------
    def _random_states(self):
        """Layer name -> the state of its own generator, for the seeded layers (nested models'
        included)."""
        return {l.name: l._generator.bit_generator.state for l in self._all_layers()
                if getattr(l, "_generator", None) is not None}

    def _set_random_states(self, states):
        for layer in self._all_layers():
            state = states.get(layer.name)
            if state is not None and getattr(layer, "_generator", None) is not None:
                layer._generator.bit_generator.state = state

    def _trainable_params(self):
        """The weights the optimizer updates: those trainable at compile."""
        with self._as_compiled():
            return self.trainable_weights

    def save(self, filepath, overwrite=True):
        """Write the whole model to one file: the architecture, the weights, the compile
        settings and the optimizer's state (so that training resumes exactly where it
        stopped), and the random generators' states. Written atomically.

        A name ending in ``.keras`` gets a Keras 3 file, which Keras's ``load_model`` opens
        (no custom_objects: every layer is one Keras has; needs h5py, the keras extra), and
        fastconv's random generators ride along in a member Keras ignores. Any other name
        (``.fastconv`` is the one to use) gets fastconv's own format, which needs NumPy alone
        (fastconv.saving.native: a zip archive of config.json and .npy arrays, nothing
        pickled). ``.h5`` (Keras's legacy format) is not written."""
        self._require_built("save")
        path = os.fspath(filepath)
        if not overwrite and os.path.exists(path):
            raise ValueError(f"save: {path} exists and overwrite is False")
        if path.lower().endswith((".h5", ".hdf5")):
            raise ValueError(f"save: {path}: fastconv does not write Keras's legacy HDF5 "
                             f"format; use .keras (Keras 3) or .fastconv (fastconv's own)")
        if path.endswith(".keras"):
            self._save_keras(path)
            return
        arrays, weights = {}, []
        for layer in self.layers:
            names = []
            for w in layer.weights:
                names.append(f"weights/{len(arrays):04d}")
                arrays[names[-1]] = w
            weights.append({"layer": layer.name, "arrays": names})
        config = {"format": saving.MODEL_FORMAT, "version": saving.MODEL_VERSION,
                  "fastconv_version": __version__,
                  "model": {"class_name": type(self).__name__, "config": self.get_config()},
                  "weights": weights, "compile": None,
                  "layer_random_states": self._random_states(),
                  "random_state": _rng.get_state()}
        if self.loss is not None:
            iterations, state = self.optimizer.get_state()
            slots = None
            if state is not None:
                slots = []
                for i, entry in enumerate(state):
                    slots.append({})
                    for key, value in entry.items():
                        slots[-1][key] = f"optimizer/{i:04d}_{key}"
                        arrays[slots[-1][key]] = value
            config["compile"] = {
                "optimizer": self.optimizer.get_config(),
                "loss": self.loss.get_config(),
                "metrics": [metrics_module.serialize(m) for m in self._metric_names],
                "optimizer_iterations": iterations, "optimizer_slots": slots}
        saving.save_model(path, config, arrays)

    def _save_keras(self, path):
        """A Keras 3 .keras file: Keras's config, the weights in its layout, the optimizer's
        variables (step count, learning rate, slots interleaved per trainable weight in
        Keras's order, as Keras keeps them) and fastconv's generators in fastconv.json."""
        config = self._keras_config()
        with self._as_compiled():
            _, groups, keras_trainable = self._keras_layout()
        variables = {group: l.weights for group, l in groups}
        if self.loss is not None:
            config["compile_config"] = keras_config.compile_to_keras(
                self.optimizer.get_config(), self.loss.get_config(),
                [metrics_module.serialize(m) for m in self._metric_names])
            iterations, state = self.optimizer.get_state()
            params = self._trainable_params()
            slots = {id(p): s for p, s in zip(params, state or [{}] * len(params))}
            names = sorted(self.optimizer._new_state(np.zeros(0)))
            values = [np.int64(iterations), np.float32(self.optimizer.learning_rate)]
            for w in keras_trainable:
                values += [slots[id(w)].get(k, np.zeros_like(w)) for k in names]
            variables["optimizer"] = values
        extra = {"fastconv_version": __version__,
                 "layer_random_states": self._random_states(),
                 "random_state": _rng.get_state()}
        keras_v3.write(path, config, variables, extra)
