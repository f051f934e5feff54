"""The sparse drivers read a segment's rows through a contiguous window of the whole row store."""

import numpy as np
import pytest

from monolith_np.optim import AdagradOptimizer, FtrlOptimizer, SgdOptimizer
from monolith_np.optim.sparse import column_window

RNG = np.random.default_rng(11)


def test_window_of_a_column_slice_is_the_whole_store():
    values = np.zeros((4, 7), np.float32)
    for lo, hi in [(0, 3), (2, 5), (6, 7)]:
        whole, col = column_window(values[:, lo:hi])
        assert whole is values and col == lo
    whole, col = column_window(values[:, 1:6][:, 2:4])  # a slice of a slice
    assert whole is values and col == 3


@pytest.mark.parametrize("make", [
    lambda v: v,                       # contiguous: itself
    lambda v: v[::2, 1:3],             # every other row: no window
    lambda v: np.asfortranarray(v),    # column-major
    lambda v: v[1:, 1:3],              # rows cut: the store's shape differs
])
def test_no_window_gives_the_array_itself(make):
    a = make(np.zeros((4, 7), np.float32))
    whole, col = column_window(a)
    assert whole is a and col == 0


@pytest.mark.parametrize("opt", [SgdOptimizer(0.3), AdagradOptimizer(0.1, initial_accumulator_value=0.2),
                                 FtrlOptimizer(0.05, l1_regularization=0.001)])
@pytest.mark.parametrize("layout", ["window", "strided", "fortran"])
def test_apply_rows_through_any_layout_equals_contiguous(opt, layout):
    store = RNG.standard_normal((9, 8)).astype(np.float32)
    if layout == "window":
        params = store[:, 2:6]
    elif layout == "strided":
        params = store[::2, 2:6]
    else:
        params = np.asfortranarray(store[:, 2:6])
    ref = np.ascontiguousarray(params)
    rows = np.array([3, 0, 3, 1, 4], np.int64)
    grads = RNG.standard_normal((5, 8)).astype(np.float32)[:, 1:5]  # a column slice of the gradients too
    state, ref_state = opt.init_state(params.shape[0], 4), opt.init_state(params.shape[0], 4)
    before, params_before = store.copy(), params.copy()
    opt.apply_rows(params, rows, grads, state, global_step=2)
    opt.apply_rows(ref, rows, np.ascontiguousarray(grads), ref_state, global_step=2)
    np.testing.assert_array_equal(params, ref)
    assert not np.array_equal(params, params_before)  # the rows were updated in place
    if layout == "window":  # the columns outside the window are untouched
        np.testing.assert_array_equal(store[:, :2], before[:, :2])
        np.testing.assert_array_equal(store[:, 6:], before[:, 6:])
    for key in state:
        np.testing.assert_array_equal(state[key], ref_state[key])
