"""TensorFlow eager tensors <-> numpy / CuPy arrays through DLPack.

Routes (TensorFlow 2.21):

* tensor -> array: eager tensors implement ``__dlpack__`` / ``__dlpack_device__``,
  so ``numpy.from_dlpack(tensor)`` (CPU) and ``cupy.from_dlpack(tensor)`` (GPU)
  view the tensor's buffer without a copy. The numpy view is read-only
  (TensorFlow tensors are immutable).
* array -> tensor: ``tf.experimental.dlpack.from_dlpack`` only takes a capsule,
  so the capsule comes from the producer's protocol method,
  ``array.__dlpack__()``, and TensorFlow wraps the buffer without a copy
  (the capsule keeps the array alive). numpy refuses to export read-only
  arrays through a legacy capsule, TensorFlow refuses strided ones, and its
  kernels abort the process on buffers not aligned to 64 bytes (Eigen's
  maximum alignment; ``from_dlpack`` itself does not check): those cases are
  copied first into an aligned buffer.

Copies that remain: ``bool`` goes through ``uint8`` (STYLE pitfall 11: the
cast on the TensorFlow side is a copy, the numpy/CuPy side is a view), int32
tensors on a GPU live in host memory (pitfall 12) and are routed through int64
(two casts), and ``tf.Variable`` is read into a tensor first.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .._backend import _is_cupy, get_cupy, is_cuda_array

__all__ = ["to_array", "to_tensor"]

_REFUSED_TF = (tf.string, tf.variant, tf.resource, tf.bfloat16, tf.qint8, tf.quint8, tf.qint32,
               tf.qint16, tf.quint16)
_NUMERIC_KINDS = "biufc"
#: TensorFlow CHECK-fails (aborts the process) on kernels over buffers that are
#: not aligned to Eigen's maximum alignment; imported buffers must be aligned.
_ALIGN = 64


def _aligned_copy(array):
    """A C-contiguous copy of numpy ``array`` whose data starts on a ``_ALIGN``-byte boundary."""
    raw = np.empty(array.nbytes + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    out = raw[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    out[...] = array
    return out


def _on_gpu(tensor):
    return "GPU" in (tensor.device or "").upper()


def _sync_tf_devices():
    """Wait for TensorFlow's queued GPU work (its streams are not exposed to DLPack consumers)."""
    tf.test.experimental.sync_devices()


def to_array(tensor):
    """View an eager TensorFlow tensor as a numpy (CPU) or CuPy (GPU) array.

    Parameters
    ----------
    tensor : tf.Tensor or tf.Variable
        An eager tensor (a variable is read first). Inside ``tf.function``
        tensors are symbolic: call this from a ``tf.py_function`` body, as
        the adapter's own ops do.

    Returns
    -------
    numpy.ndarray or cupy.ndarray
        Zero-copy through DLPack: a read-only numpy view of a CPU tensor, a
        CuPy view of a GPU tensor. ``bool`` tensors cross as ``uint8`` and come
        back as ``bool`` views; int32 GPU tensors (host memory in TensorFlow)
        are cast to int64 on the device, exported and cast back (copies).

    Raises
    ------
    TypeError
        For a non-tensor, a symbolic (graph) tensor, a ragged or sparse
        tensor, or a dtype DLPack cannot carry (string, bfloat16, resource,
        variant, quantized).

    Examples
    --------
    >>> import tensorflow as tf
    >>> from monolith_np.tf import to_array
    >>> a = to_array(tf.constant([1.0, 2.0]))
    >>> a, a.flags.writeable  # a view of the tensor's buffer, read-only
    (array([1., 2.], dtype=float32), False)
    >>> to_array(tf.constant([True, False]))
    array([ True, False])
    """
    if isinstance(tensor, tf.Variable):
        tensor = tensor.read_value()
    if isinstance(tensor, (tf.RaggedTensor, tf.SparseTensor)):
        raise TypeError(f"tensor must be a dense eager tf.Tensor, got {type(tensor).__name__} "
                        "(convert its values and row_splits / indices separately)")
    if not isinstance(tensor, tf.Tensor):
        raise TypeError(f"tensor must be a tf.Tensor or tf.Variable, got {type(tensor).__name__}")
    if not hasattr(tensor, "__dlpack__"):
        raise TypeError("tensor must be an eager tensor, got a symbolic tensor of a tf.function graph; "
                        "inside tf.function run the conversion in a tf.py_function body")
    dtype = tensor.dtype
    if dtype in _REFUSED_TF:
        raise TypeError(f"tensor must have a numeric or bool dtype that DLPack carries, got {dtype.name}")
    if _on_gpu(tensor):
        cp = get_cupy()
        with tf.device(tensor.device):
            if dtype == tf.bool:
                exported = tf.cast(tensor, tf.uint8)
            elif dtype == tf.int32:
                exported = tf.cast(tensor, tf.int64)
            else:
                exported = tensor
        _sync_tf_devices()
        out = cp.from_dlpack(exported)
        if dtype == tf.bool:
            return out.view(np.bool_)
        return out.astype(np.int32) if dtype == tf.int32 else out
    if dtype == tf.bool:
        return np.from_dlpack(tf.cast(tensor, tf.uint8)).view(np.bool_)
    return np.from_dlpack(tensor)


def to_tensor(array):
    """Wrap a numpy or CUDA array as an eager TensorFlow tensor.

    Parameters
    ----------
    array : numpy.ndarray, numpy scalar or CUDA array
        A numeric or bool array: numpy (gives a CPU tensor) or CuPy / any
        CUDA array with ``__dlpack__`` (gives a GPU tensor).

    Returns
    -------
    tf.Tensor
        Zero-copy through DLPack for C-contiguous writable numpy arrays and
        C-contiguous CUDA arrays: writes to the array show in the tensor, so
        do not modify it while the tensor is in use. Read-only or strided
        arrays, and arrays not 64-byte aligned (TensorFlow's kernels
        abort on those), are copied first into an aligned buffer; ``bool`` crosses as ``uint8`` and is cast
        back (a copy); int32 CUDA arrays are exported as int64 and cast back
        (TensorFlow keeps int32 in host memory).

    Raises
    ------
    TypeError
        For lists, Python scalars, other objects, or a non-numeric dtype.
    RuntimeError
        When called in graph mode (inside ``tf.function`` outside a
        ``tf.py_function`` body).

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.tf import to_tensor
    >>> t = to_tensor(np.array([1, 2, 3], np.int64))
    >>> t.dtype, t.numpy().tolist()
    (tf.int64, [1, 2, 3])
    >>> to_tensor(np.array([True, False])).dtype
    tf.bool
    """
    if not tf.executing_eagerly():
        raise RuntimeError("to_tensor needs eager execution; inside tf.function run it in a "
                           "tf.py_function body")
    if isinstance(array, np.generic):
        array = np.asarray(array)
    if isinstance(array, np.ndarray):
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"array must have a numeric or bool dtype, got {array.dtype}")
        is_bool = array.dtype == np.bool_
        if not array.flags.c_contiguous or not array.flags.writeable or array.ctypes.data % _ALIGN:
            array = _aligned_copy(array)
        if is_bool:
            array = array.view(np.uint8)
        out = tf.experimental.dlpack.from_dlpack(array.__dlpack__())
        return tf.cast(out, tf.bool) if is_bool else out
    if is_cuda_array(array):
        cp = get_cupy()
        if not _is_cupy(array):
            array = cp.from_dlpack(array) if hasattr(array, "__dlpack__") else cp.asarray(array)
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"array must have a numeric or bool dtype, got {array.dtype}")
        is_bool, is_int32 = array.dtype == np.bool_, array.dtype == np.int32
        array = cp.ascontiguousarray(array)
        if array.data.ptr % _ALIGN:
            array = array.copy()  # CuPy's pool hands out 256-byte aligned blocks
        if is_bool:
            array = array.view(np.uint8)
        elif is_int32:
            array = array.astype(np.int64)
        # TensorFlow's importer takes no stream: finish the producer's work first (pitfall 10).
        cp.cuda.get_current_stream().synchronize()
        out = tf.experimental.dlpack.from_dlpack(array.__dlpack__())
        if is_bool:
            return tf.cast(out, tf.bool)
        return tf.cast(out, tf.int32) if is_int32 else out
    raise TypeError(f"array must be a numpy array or a CUDA array, got {type(array).__name__}")


def _eager_or_py_function(fn, inputs, tout):
    """Run ``fn(*eager_tensors)`` now when eager, else as a ``tf.py_function`` node.

    DLPack needs the tensors' buffers, which only eager tensors have: inside
    ``tf.function`` the call becomes a ``tf.py_function`` whose body receives
    eager tensors. ``tout`` is a dtype or a list of dtypes, as ``Tout``.
    """
    if tf.executing_eagerly():
        return fn(*inputs)
    return tf.py_function(fn, inputs, tout)
