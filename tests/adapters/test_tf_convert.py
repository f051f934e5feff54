"""monolith_np.tf.to_array / to_tensor: DLPack conversions, zero-copy, dtypes, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

tf = pytest.importorskip("tensorflow")
mtf = pytest.importorskip("monolith_np.tf")

pytestmark = pytest.mark.tf

DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_]
HAS_TF_GPU = bool(tf.config.list_physical_devices("GPU"))


def _sample(dtype, shape=(3, 4)):
    rng = np.random.default_rng(0)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    return (rng.random(shape) * 100).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_keeps_values_and_dtype(dtype):
    a = _sample(dtype)
    t = mtf.to_tensor(a)
    assert t.dtype.as_numpy_dtype == dtype
    np.testing.assert_array_equal(t.numpy(), a)  # .numpy(): TF's own copy, an independent reference
    back = mtf.to_array(t)
    assert isinstance(back, np.ndarray) and back.dtype == dtype and back.shape == a.shape
    np.testing.assert_array_equal(back, a)


def _aligned(shape, dtype, align=64):
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.zeros(n + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + n].view(dtype).reshape(shape)


def test_to_tensor_is_zero_copy_for_contiguous_writable_arrays():
    a = _aligned((3, 4), np.float32)
    a[...] = np.arange(12).reshape(3, 4)
    t = mtf.to_tensor(a)
    a[1, 2] = -7.0
    assert t.numpy()[1, 2] == -7.0
    assert np.shares_memory(mtf.to_array(t), a)


def test_to_array_is_zero_copy_and_read_only():
    t = tf.constant(np.arange(1000, dtype=np.float64))
    a, b = mtf.to_array(t), mtf.to_array(t)
    assert a.ctypes.data == b.ctypes.data == np.from_dlpack(t).ctypes.data
    assert not a.flags.writeable
    np.testing.assert_array_equal(a, t.numpy())


def test_read_only_and_strided_arrays_are_copied():
    ro = np.arange(6, dtype=np.float32)
    ro.flags.writeable = False
    t = mtf.to_tensor(ro)
    np.testing.assert_array_equal(t.numpy(), ro)
    # a TF-owned read-only view round-trips as well (copied on the way back)
    np.testing.assert_array_equal(mtf.to_tensor(mtf.to_array(t)).numpy(), ro)
    strided = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    ts = mtf.to_tensor(strided)
    assert not np.shares_memory(mtf.to_array(ts), strided)
    np.testing.assert_array_equal(ts.numpy(), strided)


@pytest.mark.parametrize("offset", [1, 2, 3, 4, 8])
def test_unaligned_arrays_are_copied_not_crashed_on(offset):
    base = _aligned((64,), np.float32)
    base[...] = np.arange(64)
    a = base[offset:offset + 40]
    t = mtf.to_tensor(a)
    assert mtf.to_array(t).ctypes.data % 64 == 0
    assert float(tf.reduce_sum(t)) == float(a.sum())  # an Eigen kernel over the imported buffer
    mask = np.ones(70, np.bool_)[offset:offset + 9]
    assert bool(tf.reduce_all(mtf.to_tensor(mask)))


def test_bool_crosses_as_uint8_and_comes_back_bool():
    mask = np.array([[True, False, True], [False, False, True]])
    t = mtf.to_tensor(mask)
    assert t.dtype == tf.bool
    np.testing.assert_array_equal(t.numpy(), mask)
    back = mtf.to_array(tf.constant(mask))
    assert back.dtype == np.bool_
    np.testing.assert_array_equal(back, mask)


def test_scalars_empty_and_variables():
    assert mtf.to_tensor(np.float32(2.5)).shape == ()
    assert float(mtf.to_array(tf.constant(2.5))) == 2.5
    assert mtf.to_tensor(np.zeros((0, 3), np.float32)).shape == (0, 3)
    assert mtf.to_array(tf.zeros((0, 3))).shape == (0, 3)
    v = tf.Variable([[1.0, 2.0]])
    np.testing.assert_array_equal(mtf.to_array(v), [[1.0, 2.0]])


def test_int32_cpu_tensors_stay_int32_on_the_host():
    t = tf.constant([1, 2, 3], tf.int32)
    assert "CPU" in t.backing_device
    a = mtf.to_array(t)
    assert a.dtype == np.int32
    np.testing.assert_array_equal(a, [1, 2, 3])


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3.0, "x", None, np.array(["a"]), np.array([object()])])
def test_to_tensor_rejects_non_arrays(bad):
    with pytest.raises(TypeError, match="array"):
        mtf.to_tensor(bad)


@pytest.mark.parametrize("make", [
    lambda: tf.constant(["a", "b"]),
    lambda: tf.constant([1.0], tf.bfloat16),
    lambda: tf.ragged.constant([[1], [2, 3]]),
    lambda: np.zeros(3),
    lambda: [1, 2],
])
def test_to_array_rejects_what_dlpack_cannot_carry(make):
    with pytest.raises(TypeError, match="tensor"):
        mtf.to_array(make())


def test_graph_mode_needs_py_function():
    @tf.function
    def direct(x):
        return mtf.to_array(x)

    with pytest.raises(TypeError, match="py_function"):
        direct(tf.constant([1.0]))

    @tf.function
    def wrapped(x):
        def body(t):
            return mtf.to_tensor(np.asarray(mtf.to_array(t) * 2 + 1))

        return tf.py_function(body, [x], tf.float32)

    np.testing.assert_array_equal(wrapped(tf.constant([1.0, 2.0])).numpy(), [3.0, 5.0])


def test_to_tensor_refuses_graph_mode():
    @tf.function
    def f():
        return mtf.to_tensor(np.ones(2, np.float32))

    with pytest.raises(RuntimeError, match="py_function"):
        f()


@given(hnp.arrays(st.sampled_from([np.float32, np.int64, np.uint8, np.bool_]),
                  hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)))
def test_round_trip_property(a):
    t = mtf.to_tensor(a)
    assert tuple(t.shape) == a.shape
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal(mtf.to_array(t), a)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_TF_GPU, reason="needs TensorFlow with a CUDA device")
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32, np.bool_])
def test_gpu_round_trip_through_cupy(dtype):  # pragma: no cover - needs a GPU
    cp = pytest.importorskip("cupy")
    with tf.device("GPU:0"):
        t = tf.constant(_sample(dtype))
        t = tf.identity(t)
    a = mtf.to_array(t)
    assert isinstance(a, cp.ndarray) and a.dtype == dtype
    np.testing.assert_array_equal(a.get(), t.numpy())
    with cp.cuda.Stream(non_blocking=True):
        c = cp.asarray(_sample(dtype)) if dtype != np.bool_ else cp.asarray(_sample(dtype))
        back = mtf.to_tensor(c)
    assert "GPU" in back.device
    np.testing.assert_array_equal(back.numpy(), c.get())
