"""The optimizers' compiled updates: bitwise the NumPy formulas, for every rule and dtype.

The formulas against Keras's are checked in test_models.py; here the compiled pass (taken for
C-contiguous float32/float64 arrays) is run beside the NumPy formula (taken for the same values
in Fortran order), step after step, and the two must agree to the last bit.
"""
import numpy as np
import pytest

from fastconv import _api, optimizers

RULES = {
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=0.01),
    "sgd": lambda: optimizers.SGD(learning_rate=0.1),
    "momentum": lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9),
    "nesterov": lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(learning_rate=0.01),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5), (250, 161)], ids=str)    # 40,250 values: 3 units
@pytest.mark.parametrize("rule", RULES)
def test_compiled_update_equals_the_numpy_formula_bitwise(rng, rule, shape, dtype, threads):
    p_c = rng.standard_normal(shape).astype(dtype)
    p_f = np.asfortranarray(p_c)                     # not C-contiguous: the NumPy formula
    compiled, formula = RULES[rule](), RULES[rule]()
    for step in range(4):
        g = rng.standard_normal(shape).astype(dtype) * 10.0 ** (step - 2)
        g[0, 0] = 0
        compiled.apply([p_c], [g])
        formula.apply([p_f], [np.asfortranarray(g)])
        np.testing.assert_array_equal(p_c, p_f, err_msg=f"step {step + 1}")
    for a, b in zip(compiled._state[0].values(), formula._state[0].values()):
        np.testing.assert_array_equal(a, b)
    assert p_c.dtype == dtype and p_c.flags.c_contiguous


@pytest.mark.parametrize("threads_used", [1, 2, 3])
def test_compiled_update_is_the_same_for_any_thread_count(rng, threads, threads_used):
    import fastconv
    p0 = rng.standard_normal(100_000).astype(np.float32)
    g = rng.standard_normal(100_000).astype(np.float32)
    fastconv.set_num_threads(1)
    one = p0.copy()
    optimizers.RMSprop().apply([one], [g])
    fastconv.set_num_threads(threads_used)
    many = p0.copy()
    optimizers.RMSprop().apply([many], [g])
    np.testing.assert_array_equal(many, one)


def test_the_compiled_pass_is_taken_only_for_arrays_it_can_write(rng):
    p = rng.standard_normal((4, 6))
    v = np.zeros_like(p)
    args = (0.001, 0.9, 1e-7)
    assert _api.optim.update_in_place("rmsprop", p, np.ones_like(p), [v], *args)
    assert not _api.optim.update_in_place("rmsprop", np.asfortranarray(p), np.ones_like(p),
                                          [np.asfortranarray(v)], *args)
    assert not _api.optim.update_in_place("rmsprop", p.astype(np.float16), np.ones_like(p),
                                          [v.astype(np.float16)], *args)
    assert not _api.optim.update_in_place("rmsprop", p, np.ones(6), [v], *args)   # broadcast
    assert not _api.optim.update_in_place("rmsprop", p.astype(">f8"), np.ones_like(p),
                                          [v.astype(">f8")], *args)
    frozen = p.copy()
    frozen.flags.writeable = False
    assert not _api.optim.update_in_place("rmsprop", frozen, np.ones_like(p), [v], *args)


def test_other_layouts_and_dtypes_still_update_in_place(rng):
    # the NumPy formula serves them: float16, a strided view, a broadcast gradient
    for p in (np.ones((3, 4), np.float16), np.ones((6, 8))[::2, ::2]):
        before = p.copy()
        optimizers.Adam().apply([p], [np.full(p.shape, 0.5, p.dtype)])
        np.testing.assert_allclose(p, before - 0.001, rtol=1e-3)
    p = np.ones((2, 3))
    optimizers.SGD(0.5).apply([p], [np.ones(3)])
    np.testing.assert_array_equal(p, 0.5)


# Keras 3's update rules written out here, apart from optimizers.py, state carried by hand:
# Adam's first step is lr * sign(g) whatever its moments do, so only steps after the first,
# with gradients that change and betas off their defaults, tell a right Adam from one that
# resets m and v or keeps t at 1.
def _keras_adam(lr, beta_1, beta_2, epsilon):
    def step(p, g, state):
        t = state.get("t", 0) + 1
        m, v = state.get("m", np.zeros_like(p)), state.get("v", np.zeros_like(p))
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        state.update(t=t, m=m, v=v)
        return p - m * alpha / (np.sqrt(v) + epsilon)
    return step


def _keras_rmsprop(lr, rho, epsilon):
    def step(p, g, state):
        v = rho * state.get("v", np.zeros_like(p)) + (1 - rho) * g * g
        state["v"] = v
        return p - lr * g / np.sqrt(v + epsilon)
    return step


def _keras_sgd(lr, momentum, nesterov):
    def step(p, g, state):
        m = momentum * state.get("m", np.zeros_like(p)) - lr * g
        state["m"] = m
        return p + (momentum * m - lr * g if nesterov else m)
    return step


CARRIED = {
    "adam": (lambda: optimizers.Adam(0.05, beta_1=0.6, beta_2=0.8, epsilon=1e-3),
             _keras_adam(0.05, 0.6, 0.8, 1e-3)),
    "rmsprop": (lambda: optimizers.RMSprop(0.05, rho=0.7, epsilon=1e-3),
                _keras_rmsprop(0.05, 0.7, 1e-3)),
    "momentum": (lambda: optimizers.SGD(0.1, momentum=0.6), _keras_sgd(0.1, 0.6, False)),
    "nesterov": (lambda: optimizers.SGD(0.1, momentum=0.6, nesterov=True),
                 _keras_sgd(0.1, 0.6, True)),
}


@pytest.mark.parametrize("layout", ["C", "F"], ids=["compiled", "numpy"])
@pytest.mark.parametrize("rule", CARRIED)
def test_carried_state_follows_keras_over_several_steps(rng, simd_path, rule, layout):
    make, keras_step = CARRIED[rule]
    opt = make()
    p = np.asarray(rng.standard_normal((4, 6)), order=layout)
    want, state = p.copy(), {}
    for step in range(5):
        # gradients that change size and sign from step to step
        g = np.asarray(rng.standard_normal((4, 6)) * (-3.0) ** step, order=layout)
        opt.apply([p], [g])
        want = keras_step(want, g, state)
        np.testing.assert_allclose(p, want, rtol=1e-12, atol=1e-14,
                                   err_msg=f"{rule}, step {step + 1}")
    assert opt.iterations == 5
