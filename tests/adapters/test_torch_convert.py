"""monolith_np.torch conversions: zero-copy DLPack views both ways, dtypes, errors."""

import doctest

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import monolith_np.torch as mt  # noqa: E402
from monolith_np.torch import _convert  # noqa: E402

pytestmark = pytest.mark.torch

HAS_CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int32, torch.int64, torch.uint8,
                                   torch.int8, torch.float16])
def test_tensor_to_array_shares_memory(dtype):
    t = torch.arange(6, dtype=dtype).reshape(2, 3)
    a = mt.to_array(t)
    assert isinstance(a, np.ndarray) and a.shape == (2, 3)
    assert a.dtype == torch.empty(0, dtype=dtype).numpy().dtype
    a[1, 2] = 9
    assert t[1, 2].item() == 9
    t[0, 0] = 7
    assert a[0, 0] == 7


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8])
def test_array_to_tensor_shares_memory(dtype):
    a = np.arange(6, dtype=dtype).reshape(3, 2)
    t = mt.to_tensor(a)
    assert t.shape == (3, 2) and t.numpy().dtype == a.dtype
    t[2, 1] = 11
    assert a[2, 1] == 11
    a[0, 0] = 5
    assert t[0, 0].item() == 5


def test_round_trip_is_the_same_memory():
    t = torch.randn(4, 5)
    back = mt.to_tensor(mt.to_array(t))
    assert back.data_ptr() == t.data_ptr()
    a = np.random.default_rng(0).random((3, 3), dtype=np.float32)
    assert mt.to_array(mt.to_tensor(a)).ctypes.data == a.ctypes.data


def test_bool_masks_cross_as_uint8_and_come_back_bool():
    t = torch.tensor([True, False, True])
    a = mt.to_array(t)
    assert a.dtype == np.bool_ and a.tolist() == [True, False, True]
    a[1] = True
    assert t.tolist() == [True, True, True]          # still a view
    m = np.array([False, True])
    tm = mt.to_tensor(m)
    assert tm.dtype == torch.bool and tm.tolist() == [False, True]
    tm[0] = True
    assert m[0]


def test_bool_export_goes_through_uint8(monkeypatch):
    """The DLPack producer never sees a bool tensor or array (pitfall 11)."""
    seen = []
    real_np, real_torch = np.from_dlpack, torch.from_dlpack
    monkeypatch.setattr(_convert.np, "from_dlpack", lambda x: seen.append(x.dtype) or real_np(x))
    monkeypatch.setattr(_convert.torch, "from_dlpack", lambda x: seen.append(x.dtype) or real_torch(x))
    mt.to_array(torch.tensor([True]))
    mt.to_tensor(np.array([True]))
    assert seen == [torch.uint8, np.uint8]


def test_uint64_ids():
    a = np.array([1, 2**63 + 5, 2**64 - 1], np.uint64)
    t = mt.to_tensor(a)
    assert t.dtype == torch.int64
    assert t.numpy().view(np.uint64).tolist() == a.tolist()
    t[0] = -1                                            # same bits, shared
    assert a[0] == 2**64 - 1
    u = torch.tensor([3, 4], dtype=torch.uint64)
    assert mt.to_array(u).dtype == np.uint64


def test_requires_grad_is_detached_and_shared():
    w = torch.zeros(3, requires_grad=True)
    a = mt.to_array(w)
    a[0] = 2.0
    assert w[0].item() == 2.0 and w.requires_grad


def test_non_contiguous_are_made_contiguous():
    t = torch.arange(6.0).reshape(2, 3).T
    a = mt.to_array(t)
    assert a.flags.c_contiguous and a.tolist() == t.tolist()
    view = np.arange(12.0).reshape(3, 4)[:, ::2]
    tv = mt.to_tensor(view)
    assert tv.is_contiguous() and tv.tolist() == view.tolist()


def test_read_only_array_is_copied():
    a = np.arange(3.0)
    a.flags.writeable = False
    t = mt.to_tensor(a)
    t[0] = 10
    assert a[0] == 0 and t.tolist() == [10.0, 1.0, 2.0]


def test_zero_d_and_scalars():
    assert mt.to_tensor(np.float32(2.5)).item() == 2.5
    assert mt.to_array(torch.tensor(3.0)).shape == ()


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3.0, "x", None])
def test_to_array_rejects_non_tensors(bad):
    with pytest.raises(TypeError, match="tensor must be a torch.Tensor"):
        mt.to_array(bad)


def test_to_array_rejects_sparse_and_meta():
    with pytest.raises(TypeError, match="dense"):
        mt.to_array(torch.eye(3).to_sparse())
    with pytest.raises(TypeError, match="dense"):
        mt.to_array(torch.empty(2, device="meta"))


@pytest.mark.parametrize("bad", [[1, 2], 3, torch.zeros(2), np.array(["a"]), np.array([object()])])
def test_to_tensor_rejects_unsupported(bad):
    with pytest.raises(TypeError, match="array"):
        mt.to_tensor(bad, name="array")


def test_error_names_the_argument():
    with pytest.raises(TypeError, match="^ids must be"):
        mt.to_array(np.zeros(2), name="ids")


def test_torch_stream_is_a_no_op_on_cpu():
    with mt.torch_stream("cpu"):
        pass
    with mt.torch_stream(None):
        pass


def test_module_doctests():
    assert doctest.testmod(_convert, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_round_trip_on_a_side_stream():
    cupy = pytest.importorskip("cupy")
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        t = torch.arange(1 << 20, device="cuda", dtype=torch.float32)
        with mt.torch_stream(t.device):
            a = mt.to_array(t)
            assert isinstance(a, cupy.ndarray)
            a *= 2
            back = mt.to_tensor(a)
        assert back.data_ptr() == t.data_ptr()
    s.synchronize()
    assert float(t[-1]) == 2.0 * ((1 << 20) - 1)
    m = mt.to_array(torch.tensor([True, False], device="cuda"))
    assert m.dtype == np.bool_ and mt.to_tensor(m).dtype == torch.bool


def test_guide_examples_run():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "torch.md").read_text()
    names = [n for n in mt.__all__ if not re.search(rf"\b{n}\b", text)]
    assert not names, f"public names missing from docs/torch.md: {names}"
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    exec(compile(code, "docs/torch.md", "exec"), {})


def test_public_docstrings_list_the_signature():
    import inspect
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_api import _documented_parameters

    for name in mt.__all__:
        obj = getattr(mt, name)
        target = obj.__init__ if inspect.isclass(obj) and "__init__" in vars(obj) else obj
        params = [p for p in inspect.signature(target).parameters if p not in ("self", "cls")]
        doc = inspect.getdoc(obj)
        assert doc and len(doc.splitlines()[0]) > 10, name
        assert _documented_parameters(doc) == params, name
