"""Zero-copy conversion between torch tensors and numpy / CuPy arrays (DLPack only).

Every conversion goes through the DLPack protocol (``numpy.from_dlpack``,
``cupy.from_dlpack``, ``torch.from_dlpack``); the legacy capsule functions
(``to_dlpack`` / ``fromDlpack``) are never used. Masks cross as ``uint8`` and
are viewed back as ``bool`` (STYLE pitfall 11), CUDA tensors are exported on
the consumer's stream (pitfall 10), and library calls on CUDA data run on
torch's current stream (:func:`torch_stream`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from .._backend import _is_cupy, get_cupy, is_cuda_array

__all__ = ["to_array", "to_tensor", "torch_stream"]


def _describe(x):
    if isinstance(x, torch.Tensor):
        return f"a {x.layout} torch.Tensor of dtype {x.dtype} on {x.device}"
    return f"{type(x).__module__}.{type(x).__name__}"


def to_array(tensor, name="tensor"):
    """View a torch tensor as a numpy (CPU) or CuPy (CUDA) array, without copying.

    Parameters
    ----------
    tensor : torch.Tensor
        A strided (dense) tensor on the CPU or a CUDA device. A tensor that
        requires grad is detached first (the view shares its memory but is
        not tracked by autograd).
    name : str, default "tensor"
        The argument's name in error messages.

    Returns
    -------
    numpy.ndarray or cupy.ndarray
        A view of the tensor's memory: writes through either are visible in
        the other. ``bool`` tensors cross as ``uint8`` and come back as a
        ``bool`` view; ``uint64`` stays ``uint64``. A non-contiguous tensor
        is first made contiguous (``tensor.contiguous()``, a copy), so the
        result then no longer shares memory with it.

    Raises
    ------
    TypeError
        If ``tensor`` is not a torch tensor, is sparse/quantized/meta, or
        lives on a device other than the CPU or CUDA; or if a CUDA tensor is
        given and CuPy is not installed (``ImportError``).

    Notes
    -----
    CUDA tensors are exported with ``__dlpack__(stream=...)`` given CuPy's
    current stream, so torch orders its pending work before the consumer's
    (when the two differ it records an event and makes the consumer wait).

    Examples
    --------
    >>> import torch
    >>> from monolith_np.torch import to_array
    >>> t = torch.zeros(3)
    >>> a = to_array(t)
    >>> a[0] = 5.0
    >>> t.tolist()
    [5.0, 0.0, 0.0]
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_describe(tensor)}")
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type not in ("cpu", "cuda"):
        raise TypeError(f"{name} must be a dense (strided) tensor on the CPU or a CUDA device, "
                        f"got {_describe(tensor)}")
    t = tensor.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    is_bool = t.dtype == torch.bool
    if is_bool:
        t = t.view(torch.uint8)
    if t.device.type == "cuda":
        cupy = get_cupy()
        # CuPy's from_dlpack passes its current stream to ``__dlpack__``.
        arr = cupy.from_dlpack(t)
    else:
        try:
            arr = np.from_dlpack(t)
        except (BufferError, RuntimeError, TypeError) as err:
            raise TypeError(f"{name} cannot be exported through DLPack: {_describe(tensor)} ({err})") from err
    return arr.view(np.bool_) if is_bool else arr


def to_tensor(array, name="array"):
    """View a numpy or CuPy array (or any DLPack producer) as a torch tensor, without copying.

    Parameters
    ----------
    array : numpy.ndarray, cupy.ndarray, numpy scalar or DLPack producer
        Host arrays become CPU tensors, CUDA arrays CUDA tensors on the same
        device. numpy scalars are converted with ``numpy.asarray`` first.
    name : str, default "array"
        The argument's name in error messages.

    Returns
    -------
    torch.Tensor
        A tensor sharing the array's memory. ``bool`` arrays cross as
        ``uint8`` and come back as a ``bool`` tensor view; ``uint64`` arrays
        (ids) come back as ``int64`` tensors with the same bits, since torch
        supports few operations on ``uint64``. A non-contiguous array is made
        contiguous first, and a read-only numpy array is copied (torch has no
        read-only tensors); both results no longer share memory.

    Raises
    ------
    TypeError
        If ``array`` is a torch tensor, a Python list or scalar, an object
        array, or of a dtype DLPack cannot carry.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.torch import to_tensor
    >>> a = np.array([1, 2], np.uint64)
    >>> to_tensor(a).dtype
    torch.int64
    """
    if isinstance(array, torch.Tensor):
        raise TypeError(f"{name} must be a numpy or CuPy array (not a torch.Tensor; it is one already)")
    if isinstance(array, np.generic):
        array = np.asarray(array)
    if isinstance(array, np.ndarray):
        if array.dtype.kind not in "biufc":
            raise TypeError(f"{name} must have a boolean or numeric dtype, got {array.dtype}")
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        if not array.flags.writeable:
            array = array.copy()
    elif _is_cupy(array):
        if not array.flags.c_contiguous:
            array = get_cupy().ascontiguousarray(array)
    elif not hasattr(array, "__dlpack__"):
        raise TypeError(f"{name} must be a numpy array, a CuPy array or a DLPack producer, "
                        f"got {_describe(array)}")
    dtype = getattr(array, "dtype", None)
    is_bool = dtype is not None and np.dtype(dtype) == np.bool_
    is_u64 = dtype is not None and np.dtype(dtype) == np.uint64
    if is_bool:
        array = array.view(np.uint8)
    elif is_u64:
        array = array.view(np.int64)
    try:
        # torch.from_dlpack passes torch's current stream for CUDA producers.
        out = torch.from_dlpack(array)
    except (BufferError, RuntimeError, TypeError) as err:
        raise TypeError(f"{name} cannot be imported through DLPack: {_describe(array)} ({err})") from err
    return out.view(torch.bool) if is_bool else out


@contextlib.contextmanager
def torch_stream(device=None):
    """Run library calls on CUDA data on torch's current stream.

    Inside the block CuPy's current stream is torch's current stream of
    ``device`` (wrapped as a ``cupy.cuda.ExternalStream``), so the library's
    kernels, which launch on CuPy's current stream, are ordered with torch's
    own work and DLPack exchanges need no extra synchronisation. For a CPU
    device (or ``None`` with no CUDA) it does nothing.

    Parameters
    ----------
    device : torch.device, str or None, default None
        The CUDA device whose current stream is used; CPU devices make the
        block a no-op.

    Yields
    ------
    None

    Examples
    --------
    On the CPU the block changes nothing; on a CUDA device the library's
    kernels inside it are queued on torch's current stream.

    >>> import numpy as np, torch
    >>> from monolith_np.torch import to_array, torch_stream
    >>> t = torch.ones(3)
    >>> with torch_stream(t.device):
    ...     total = float(np.sum(to_array(t)))
    >>> total
    3.0
    """
    device = torch.device(device) if device is not None else None
    if device is None or device.type != "cuda":
        yield
        return
    cupy = get_cupy()
    stream = torch.cuda.current_stream(device)
    with cupy.cuda.Device(device.index if device.index is not None else torch.cuda.current_device()):
        with cupy.cuda.ExternalStream(stream.cuda_stream):
            yield


def _device_of(*tensors):
    """The first CUDA device among ``tensors`` (or None)."""
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.device.type == "cuda":
            return t.device
    return None


def _as_array_arg(value, name):
    """``value`` for a library call: torch tensors become arrays, everything else passes through."""
    if isinstance(value, torch.Tensor):
        return to_array(value, name)
    return value


def _as_tensor_out(value, name="output"):
    """An output of a library call as a tensor (None and Python objects pass through)."""
    if value is None:
        return None
    if isinstance(value, (np.ndarray, np.generic)) or is_cuda_array(value):
        return to_tensor(value, name)
    return value
