"""Optimizers with Keras's update rules and defaults: SGD (momentum, Nesterov), RMSprop, Adam.

``apply(params, grads)`` updates the parameter arrays in place; per-parameter state is created
on the first call and kept in the same order. Each rule runs as one compiled pass over a
parameter and its state (fastconv._api.optim.update_in_place) where the arrays allow it, else as
the NumPy formula written out below, which the compiled pass matches bitwise.
"""
import math

import numpy as np

from . import _api
from ._registry import lookup


class Optimizer:
    name = None

    def __init__(self, learning_rate):
        if not learning_rate > 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be > 0, "
                             f"got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self._state = None

    def apply(self, params, grads):
        if self._state is None:
            self._state = [self._new_state(p) for p in params]
        elif len(self._state) != len(params) or any(
                v.shape != p.shape for p, slots in zip(params, self._state)
                for v in slots.values()):
            raise ValueError(f"{type(self).__name__}: its state is for {len(self._state)} other "
                             f"weights, this step updates {len(params)}: a model whose "
                             f"trainable weights changed needs a new optimizer at compile")
        self.iterations += 1
        for p, g, s in zip(params, grads, self._state):
            self._update(p, g.astype(p.dtype, copy=False), s)

    def _new_state(self, param):
        return {}

    def _update(self, param, grad, state):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate}

    # -- state, for whole-model files ----------------------------------------------------
    def get_state(self):
        """(iterations, a list with each parameter's state: a dict name -> array, or None
        before the first step)."""
        return self.iterations, self._state

    def set_state(self, iterations, state, params):
        """Restore what get_state returned, for these parameters (checked: the same number,
        and each state array of its parameter's shape)."""
        if state is not None:
            if len(state) != len(params):
                raise ValueError(f"optimizer state for {len(state)} parameters, the model has "
                                 f"{len(params)}")
            for p, slots in zip(params, state):
                expected = self._new_state(p)
                if sorted(slots) != sorted(expected):
                    raise ValueError(f"optimizer state holds {sorted(slots)} where "
                                     f"{type(self).__name__} keeps {sorted(expected)}")
                for name, value in slots.items():
                    if value.shape != p.shape:
                        raise ValueError(f"optimizer state {name} has shape {value.shape}, "
                                         f"its parameter {p.shape}")
            state = [{k: np.array(v, dtype=p.dtype) for k, v in slots.items()}
                     for p, slots in zip(params, state)]
        self.iterations, self._state = int(iterations), state


class SGD(Optimizer):
    """p -= lr * g; with momentum m = momentum * m - lr * g, p += m (Nesterov: momentum * m -
    lr * g)."""
    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        if not 0 <= momentum < 1:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def get_config(self):
        return dict(super().get_config(), momentum=self.momentum, nesterov=self.nesterov)

    def _new_state(self, param):
        return {"m": np.zeros_like(param)} if self.momentum else {}

    def _update(self, param, grad, state):
        if _api.optim.update_in_place("sgd", param, grad, [state.get("m")], self.learning_rate,
                                      self.momentum, self.nesterov):
            return
        if not self.momentum:
            param -= self.learning_rate * grad
            return
        m = state["m"]
        m *= self.momentum
        m -= self.learning_rate * grad
        if self.nesterov:
            param += self.momentum * m - self.learning_rate * grad
        else:
            param += m


class RMSprop(Optimizer):
    """v = rho * v + (1 - rho) * g**2; p -= lr * g / sqrt(v + epsilon) (Keras 3's form)."""
    name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        super().__init__(learning_rate)
        if not 0 <= rho < 1:
            raise ValueError(f"RMSprop: rho must be in [0, 1), got {rho!r}")
        self.rho, self.epsilon = float(rho), float(epsilon)

    def get_config(self):
        return dict(super().get_config(), rho=self.rho, epsilon=self.epsilon)

    def _new_state(self, param):
        return {"v": np.zeros_like(param)}

    def _update(self, param, grad, state):
        if _api.optim.update_in_place("rmsprop", param, grad, [state["v"]], self.learning_rate,
                                      self.rho, self.epsilon):
            return
        # v += (1 - rho) * g**2 after v *= rho; p -= lr * g / sqrt(v + epsilon): the same
        # operations in the same order, in two scratch arrays instead of six temporaries
        v = state["v"]
        v *= self.rho
        step = np.multiply(grad, grad)
        step *= 1 - self.rho
        v += step
        denom = np.add(v, self.epsilon)
        np.sqrt(denom, out=denom)
        np.multiply(self.learning_rate, grad, out=step)
        step /= denom
        param -= step


class Adam(Optimizer):
    """Adam with bias correction folded into the step size, as in Keras."""
    name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2,
                    epsilon=self.epsilon)

    def _new_state(self, param):
        return {"m": np.zeros_like(param), "v": np.zeros_like(param)}

    def _update(self, param, grad, state):
        t = self.iterations
        m, v = state["m"], state["v"]
        # a Python float: the step is computed in the parameters' dtype, as Keras does
        step = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        if _api.optim.update_in_place("adam", param, grad, [m, v], step, self.beta_1,
                                      self.beta_2, self.epsilon):
            return
        m += (1 - self.beta_1) * (grad - m)
        v += (1 - self.beta_2) * (grad * grad - v)
        param -= step * m / (np.sqrt(v) + self.epsilon)


_TABLE = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier):
    """An Optimizer from a name, a config (``get_config``'s dict) or an instance; ValueError
    listing the names otherwise."""
    if isinstance(identifier, dict):
        config = dict(identifier)
        cls = type(lookup("optimizer", config.pop("name", None), _TABLE, Optimizer))
        return cls(**config)
    return lookup("optimizer", identifier, _TABLE, Optimizer)
