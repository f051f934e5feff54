"""Backend dispatch: numpy stays numpy, CUDA arrays are recognised, mixing is an error."""

import numpy as np
import pytest

from monolith_np import _backend
from monolith_np._backend import array_module, device_of, is_cuda_array


class FakeCudaArray:
    """Exposes the CUDA array interface without needing a GPU."""

    def __init__(self, shape=(3,), device_id=0):
        self.shape = shape
        self._device_id = device_id
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f4", "data": (0, False), "version": 3}

    def __dlpack_device__(self):
        return (2, self._device_id)


class FakeDlpackArray:
    """A DLPack producer on a given device type (2 = CUDA, 1 = CPU)."""

    def __init__(self, device_type):
        self._device_type = device_type

    def __dlpack__(self, stream=None):  # pragma: no cover - never consumed here
        raise NotImplementedError

    def __dlpack_device__(self):
        return (self._device_type, 1)


def test_numpy_inputs_give_numpy():
    assert array_module(np.zeros(2), None, 3.0, w=np.ones(1)) is np


def test_no_arrays_give_numpy():
    assert array_module() is np
    assert array_module(None, 1, x=2.5) is np


@pytest.mark.parametrize(
    "obj, expected",
    [
        (np.zeros(3), False),
        (FakeCudaArray(), True),
        (FakeDlpackArray(2), True),
        (FakeDlpackArray(13), True),
        (FakeDlpackArray(1), False),
        ([1, 2, 3], False),
        (None, False),
        (4.0, False),
    ],
)
def test_is_cuda_array(obj, expected):
    assert is_cuda_array(obj) is expected


def test_device_names():
    assert device_of(np.zeros(1)) == "cpu"
    assert device_of(FakeCudaArray(device_id=3)) == "cuda:3"
    assert device_of(FakeDlpackArray(2)) == "cuda:1"


def test_mixed_devices_name_every_argument():
    with pytest.raises(TypeError) as err:
        array_module(ids=np.zeros(3, np.int64), grads=FakeCudaArray())
    msg = str(err.value)
    assert "ids on cpu" in msg and "grads on cuda:0" in msg


def test_positional_arguments_are_named_by_position():
    with pytest.raises(TypeError, match=r"arrays\[0\] on cpu, arrays\[1\] on cuda:0"):
        array_module(np.zeros(1), FakeCudaArray())


def test_cuda_inputs_without_cupy_give_install_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    with pytest.raises(ImportError, match=r"pip install monolith-np\[cuda\]"):
        array_module(x=FakeCudaArray())


def test_asarray_and_to_numpy_on_cpu_do_not_copy():
    x = np.arange(4.0)
    assert _backend.asarray(x, np) is x
    assert _backend.to_numpy(x) is x
    np.testing.assert_array_equal(_backend.asarray([1, 2], np), np.array([1, 2]))


def test_gpu_launch_without_a_device_says_how_to_fix(monkeypatch):
    from numba import cuda

    from monolith_np.cuda import _launch

    monkeypatch.setattr(cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"no usable CUDA GPU.*pip install monolith-np\[cuda\]"):
        _launch.launch(None, 10)


def test_grid_for_reads_threads_per_block_at_call_time(monkeypatch):
    from monolith_np import _config
    from monolith_np.cuda import _launch

    monkeypatch.setattr(_config, "THREADS_PER_BLOCK", 8)
    assert _launch.grid_for(20) == (3, 8)
    assert _launch.grid_for(0) == (1, 8)
    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)
    assert _launch.grid_for(10_000) == (2, 8)
