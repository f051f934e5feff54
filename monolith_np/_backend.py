"""Array-module dispatch: numpy on the CPU, CuPy on CUDA devices.

Public functions take numpy arrays (CPU kernels) or CUDA arrays (GPU kernels):
CuPy arrays, or any object exposing ``__cuda_array_interface__`` or a CUDA
``__dlpack__``; those are viewed as CuPy arrays without a copy. Outputs follow
inputs. CuPy is imported only when a non-numpy array is seen, so
``import monolith_np`` works on machines with no GPU, driver or CuPy.
"""

from __future__ import annotations

import numpy as np

#: DLPack device types that live on a CUDA GPU (kDLCUDA, kDLCUDAManaged).
_DLPACK_CUDA = (2, 13)

INSTALL_HINT = "install the GPU extra with `pip install monolith-np[cuda]` on a machine with an NVIDIA GPU"


def _is_cupy(x) -> bool:
    return type(x).__module__.startswith("cupy") and hasattr(x, "__cuda_array_interface__")


def is_cuda_array(x) -> bool:
    """Tell whether ``x`` lives on a CUDA device.

    Parameters
    ----------
    x : object
        Any value.

    Returns
    -------
    bool
        True for CuPy arrays, objects with ``__cuda_array_interface__`` and
        DLPack producers whose device is CUDA.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np import is_cuda_array
    >>> is_cuda_array(np.zeros(3)), is_cuda_array([1, 2]), is_cuda_array(None)
    (False, False, False)
    >>> class DeviceBuffer:  # anything exposing the CUDA array interface counts
    ...     __cuda_array_interface__ = {}
    >>> is_cuda_array(DeviceBuffer())
    True
    """
    if isinstance(x, np.ndarray) or x is None or np.isscalar(x):
        return False
    if hasattr(x, "__cuda_array_interface__"):
        return True
    dev = getattr(x, "__dlpack_device__", None)
    if dev is not None:
        try:
            return int(dev()[0]) in _DLPACK_CUDA
        except Exception:
            return False
    return False


def device_of(x) -> str:
    """Describe where an array lives: ``"cpu"`` or ``"cuda:<id>"``.

    Parameters
    ----------
    x : object
        An array.

    Returns
    -------
    str
        The device, for error messages.
    """
    if not is_cuda_array(x):
        return "cpu"
    dev = getattr(x, "device", None)
    ident = getattr(dev, "id", None)
    if ident is None and hasattr(x, "__dlpack_device__"):
        ident = x.__dlpack_device__()[1]
    return f"cuda:{ident if ident is not None else 0}"


def get_cupy():
    """Import CuPy or raise an error that says how to install it.

    Returns
    -------
    module
        The ``cupy`` module.

    Raises
    ------
    ImportError
        If CuPy is not installed.
    """
    try:
        import cupy
    except ImportError as err:  # pragma: no cover - exercised only without cupy
        raise ImportError(f"a CUDA array was given but CuPy is not installed; {INSTALL_HINT}") from err
    return cupy


def array_module(*arrays, **named_arrays):
    """Return the array module (numpy or cupy) that the inputs live in.

    Parameters
    ----------
    *arrays : array or scalar or None
        Inputs; ``None`` and Python scalars are ignored. Positional inputs are
        named ``arrays[i]`` in error messages.
    **named_arrays : array or scalar or None
        Inputs named as in the caller's signature, for clearer errors.

    Returns
    -------
    module
        ``numpy`` if every array is on the CPU, ``cupy`` if every array is on a
        CUDA device.

    Raises
    ------
    TypeError
        If CPU and GPU arrays are mixed; the message names every argument and
        where it lives.

    Examples
    --------
    >>> import numpy as np
    >>> array_module(np.zeros(3), w=np.ones(2)).__name__
    'numpy'
    """
    items = [(f"arrays[{i}]", a) for i, a in enumerate(arrays)] + list(named_arrays.items())
    items = [(n, a) for n, a in items if a is not None and not np.isscalar(a)]
    on_gpu = [is_cuda_array(a) for _, a in items]
    if any(on_gpu) and not all(on_gpu):
        where = ", ".join(f"{n} on {device_of(a)}" for n, a in items)
        raise TypeError(f"inputs must all be on the CPU or all on one CUDA device, got {where}")
    if any(on_gpu):
        return get_cupy()
    return np


def asarray(x, xp):
    """Convert ``x`` to an array of module ``xp`` without copying when possible.

    Parameters
    ----------
    x : array_like
        Input (numpy, CuPy, a CUDA-array-interface or DLPack object, or a list).
    xp : module
        ``numpy`` or ``cupy``, from :func:`array_module`.

    Returns
    -------
    array
        A view of ``x`` where possible.
    """
    if xp is np:
        return np.asarray(x)
    if _is_cupy(x):
        return x
    if isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__"):
        return xp.asarray(x)  # a host array is copied over (CuPy 14 refuses it through DLPack)
    if hasattr(x, "__dlpack__"):
        return xp.from_dlpack(x)
    return xp.asarray(x)


def to_numpy(x):
    """Copy an array to the host (no copy for numpy inputs).

    Parameters
    ----------
    x : array
        numpy or CuPy array.

    Returns
    -------
    numpy.ndarray
        The host array.
    """
    if isinstance(x, np.ndarray):
        return x
    if _is_cupy(x):
        return x.get()
    return np.asarray(x)


_HOST_READS = [0]


def host_read(x):
    """Read an array of a device-owning object back to the host, as numpy.

    Every read of device data that the library does on its own behalf (a
    status word, a count, a row range to validate) goes through here, so a
    call's host↔device synchronisations can be counted: under the CUDA
    simulator "device" arrays are numpy arrays, and :func:`host_reads` is the
    only way a test sees them.

    Parameters
    ----------
    x : array
        numpy or CuPy array (or anything :func:`numpy.asarray` takes).

    Returns
    -------
    numpy.ndarray
        The host copy (no copy for numpy inputs).

    Examples
    --------
    >>> import numpy as np
    >>> before = host_reads()
    >>> host_read(np.array([3, 4]))
    array([3, 4])
    >>> host_reads() - before
    1
    """
    _HOST_READS[0] += 1
    return to_numpy(x)


def host_reads():
    """Number of :func:`host_read` calls so far in this process (for sync-count tests).

    Returns
    -------
    int
        A counter that only grows.

    Examples
    --------
    >>> isinstance(host_reads(), int)
    True
    """
    return _HOST_READS[0]
