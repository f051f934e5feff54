"""Validation helpers: the error template "{name} must be {expected}, got {came}"."""

import numpy as np
import pytest

from monolith_np._checks import check_array, check_choice, check_number


def test_check_array_accepts_and_returns():
    x = np.zeros((2, 3), np.float32)
    assert check_array("x", x, ndim=2, dtype_kinds="f", shape=(None, 3)) is x


def test_check_array_messages():
    with pytest.raises(ValueError, match=r"^ids must be 1-D, got shape \(3, 2\)$"):
        check_array("ids", np.zeros((3, 2), np.int64), ndim=1)
    with pytest.raises(TypeError, match=r"ids must be int64, got float32 \(convert with \.astype\(np\.int64\)\)"):
        check_array("ids", np.zeros(3, np.float32), dtypes=(np.int64,))
    with pytest.raises(TypeError, match=r"w must be a floating-point array, got int32"):
        check_array("w", np.zeros(3, np.int32), dtype_kinds="f")
    with pytest.raises(ValueError, match=r"w must have shape \(\*, 4\), got shape \(2, 3\)"):
        check_array("w", np.zeros((2, 3)), shape=(None, 4))
    with pytest.raises(ValueError, match=r"w must have at least 1 dimension"):
        check_array("w", np.float32(1.0) * np.ones(()), min_ndim=1)
    with pytest.raises(TypeError, match=r"w must be an array, got list"):
        check_array("w", [1.0])


def test_check_number_bounds_and_types():
    assert check_number("k", 3, integer=True, low=1) == 3
    assert check_number("k", np.int64(3), integer=True) == 3
    assert check_number("k", 3.0, integer=True) == 3
    assert check_number("t", np.array(0.5)) == 0.5
    assert check_number("t", None, allow_none=True) is None
    with pytest.raises(ValueError, match=r"^t must be > 0, got 0.0$"):
        check_number("t", 0.0, low=0, low_open=True)
    with pytest.raises(ValueError, match=r"^beta must be < 1, got 1.0$"):
        check_number("beta", 1.0, high=1, high_open=True)
    with pytest.raises(ValueError, match=r"must not be NaN"):
        check_number("t", float("nan"))
    with pytest.raises(TypeError, match=r"^k must be an integer, got 2.5$"):
        check_number("k", 2.5, integer=True)
    with pytest.raises(TypeError, match=r"k must be an integer, got bool True"):
        check_number("k", True, integer=True)
    with pytest.raises(TypeError, match=r"lr must be a real number, got str"):
        check_number("lr", "0.1")


def test_check_choice():
    assert check_choice("merge_type", None, ("concat", "stack", None)) is None
    with pytest.raises(ValueError, match=r"merge_type must be one of 'concat', 'stack', None, got 'add'"):
        check_choice("merge_type", "add", ("concat", "stack", None))
