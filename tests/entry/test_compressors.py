"""Compressors and quantizers of monolith_np.entry (SEMANTICS D.1-D.5, golden values G.3)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monolith_np._rules import entry as rules
from monolith_np.entry import (
    FakeQuantizer,
    FixedR8Compressor,
    Fp16Compressor,
    Fp32Compressor,
    HashNetQuantizer,
    OneBitCompressor,
    compressor_from_config,
)
from monolith_np.proto import FloatCompressorConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from ref_entry import (  # noqa: E402
    ref_fixed_r8_decode,
    ref_fixed_r8_encode,
    ref_half_bits,
    ref_hash_net_backward,
    ref_hash_net_forward,
    ref_one_minus_square,
    tf_fixed_r8_encode,
    tf_half_bits,
)

F32 = dict(width=32, allow_subnormal=True)
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
float32_arrays = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=7),
    elements=st.floats(allow_nan=True, allow_infinity=True, **F32),
)


def ulp_diff(a, b):
    """Distance in float32 ulps (same-sign finite values)."""
    a = np.asarray(a, np.float32).view(np.int32).astype(np.int64)
    b = np.asarray(b, np.float32).view(np.int32).astype(np.int64)
    return np.abs(a - b)


def float_eq(a, b):
    """googletest's FLOAT_EQ: within 4 ulps."""
    return bool((ulp_diff(a, b) <= 4).all())


# --- golden values (G.3) -------------------------------------------------------------


def test_golden_fp32_basic():
    x = np.float32([0.1, 0.2, 10000.0])
    c = Fp32Compressor()
    assert np.array_equal(c.decode(c.encode(x)), x)


def test_golden_fp16_basic():
    x = np.float32([0.1, 0.2, 10000.0])
    c = Fp16Compressor()
    np.testing.assert_allclose(c.decode(c.encode(x)), x, atol=1e-4 * 10000, rtol=0)
    np.testing.assert_allclose(c.decode(c.encode(x))[:2], x[:2], atol=1e-4)


def test_golden_fixed_r8_basic():
    k = np.float32(5.0) / np.float32(128)
    c = FixedR8Compressor(fixed_range=5.0)
    got = c.decode(c.encode(np.float32([100.0, 0.0, 3.5])))
    np.testing.assert_allclose(got, [5.0, 0.0, 3.5], atol=k)
    assert got.tolist() == [4.9609375, 0.0, 3.515625]
    got = c.decode(c.encode(np.float32([k * np.float32(1.4), k * np.float32(1.6), -k * np.float32(1.4),
                                        -k * np.float32(1.6)])))
    assert got.tolist() == [k, k * 2, -k, -k * 2]


def test_golden_fake_quantizer():
    q = FakeQuantizer(5.0)
    k = np.float32(5.0) / np.float32(128)
    assert q.quantize(np.float32([100.0]))[0] < 5.0
    assert q.quantize(np.float32([0.0]))[0] == 0.0
    assert abs(q.quantize(np.float32([3.5]))[0] - 3.5) < k
    assert q.quantize(np.float32([np.nan]))[0] == 0.0


def test_golden_one_bit_basic():
    c = OneBitCompressor(step_size=5, amplitude=1.0)
    x = np.float32([100.0, 0.1, 1e-5, 0.0, -1e-5, -0.1, -100.0])
    np.testing.assert_allclose(c.decode(c.encode(x)), [1, 1, 1, -1, -1, -1, -1], atol=0.1)
    assert c.encode(np.float32([-0.0]))[0] == -1


def test_golden_combined_fp16_segments():
    """The combined compressor encodes segment after segment; here: fp16 d=1 then fp16 d=2."""
    x = np.float32([1.0, 2.0, 3.0, 4.0])
    c1, c2 = Fp16Compressor(), Fp16Compressor()
    got = np.concatenate([c1.decode(c1.encode(x[:1])), c2.decode(c2.encode(x[1:3]))])
    np.testing.assert_allclose(got, [1.0, 2.0, 3.0], atol=1e-4)


def test_golden_hash_net_quantizer():
    q = HashNetQuantizer(step_size=1000)
    assert q.scale == 1.0
    assert float_eq(q.forward(np.float32([1.0, 2.0])), [0.07615941, 0.09640275])
    g = q.backward(np.float32([2.0]), np.float32([1.0]), 0)
    g2 = q.backward(np.float32([2.0]), np.float32([2.0]), 999)
    assert float_eq(g, [0.00706508]) and float_eq(g2, [0.01413016])
    g = q.backward(np.float32([2.0]), np.float32([100.0]), 1000)
    g2 = q.backward(np.float32([2.0]), np.float32([200.0]), 1001)
    assert float_eq(g, [0.005442613]) and float_eq(g2, [0.01088523])
    assert float_eq(q.forward(np.float32([2.0])), [0.09998888])
    assert float_eq(q.scale, 2.44948974)


def test_golden_hash_net_needs_fused_one_minus_square():
    """Without the fused ``1 - y*y`` the step-1000 golden value is missed (SEMANTICS §0 NOTE)."""
    scale = np.float32(np.sqrt(np.float32(6.0)))
    y = np.tanh(scale * np.float32(2.0))
    naive = np.float32(100.0) * (np.float32(0.1) * scale * (np.float32(1.0) - y * y))
    assert not float_eq(naive, 0.005442613)
    assert float_eq(HashNetQuantizer(step_size=1000).backward(np.float32([2.0]), np.float32([100.0]), 1000),
                    [0.005442613])


def test_golden_hash_net_retriever():
    amplitude = np.float32(0.1)
    q = HashNetQuantizer(step_size=100)
    w = np.random.default_rng(0).uniform(-1, 1, 10).astype(np.float32)
    assert float_eq(q.forward(w), amplitude * np.tanh(w))
    assert float_eq(q.backward(np.float32([1.0]), np.float32([1.0]), 100), [np.float32(0.35840667) * amplitude])
    assert float_eq(q.forward(w), amplitude * np.tanh(q.scale * w))


# --- fp16 --------------------------------------------------------------------------------


def _fp16_bits(x):
    return Fp16Compressor().encode(np.asarray(x, np.float32)).view(np.uint16)


def test_fp16_encode_matches_numpy_at_every_rounding_boundary():
    """Each float16 value, the float32 midpoints between neighbours, and one float32 ulp either side."""
    h = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    mids = (h[:-1] + h[1:]) / 2
    mids = np.concatenate([mids, [65520.0]]).astype(np.float32)  # exact in float32
    pts = np.concatenate([h.astype(np.float32), mids, np.nextafter(mids, np.float32(0)),
                          np.nextafter(mids, np.float32(np.inf)), np.float32([2.0**-25, 2.0**-26, 1e-30])])
    pts = np.concatenate([pts, -pts])
    assert np.array_equal(_fp16_bits(pts), pts.astype(np.float16).view(np.uint16))


def test_fp16_specials_and_signaling_nan():
    x = np.float32([np.inf, -np.inf, np.nan, -np.nan, 65504.0, 65519.99, 65520.0, 1e38, -0.0, 0.0])
    assert np.array_equal(_fp16_bits(x), x.astype(np.float16).view(np.uint16))
    snan = np.uint32([0x7F800001, 0xFF812345, 0x7FA00000, 0x7FFFFFFF]).view(np.float32)
    assert _fp16_bits(snan).tolist() == [ref_half_bits(v) for v in snan]
    assert all(b & 0x7E00 == 0x7E00 for b in _fp16_bits(snan).tolist())  # quiet NaNs


def test_fp16_random_bit_patterns_match_half_hpp():
    bits = np.random.default_rng(1).integers(0, 2**32, 3000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    assert _fp16_bits(x).tolist() == [ref_half_bits(v) for v in x]


@given(float32_arrays)
def test_fp16_encode_parity_with_numpy(x):
    x = np.where(np.isnan(x), np.float32(np.nan), x)  # quiet NaNs: numpy agrees there
    got = Fp16Compressor().encode(x)
    assert got.shape == x.shape and got.dtype == np.float16
    assert np.array_equal(got.view(np.uint16), x.astype(np.float16).view(np.uint16))


@pytest.mark.tf
def test_fp16_encode_parity_with_tensorflow():
    pytest.importorskip("tensorflow")
    x = np.random.default_rng(2).standard_normal(5000).astype(np.float32) * np.float32(3e4)
    x[:10] = [0.0, -0.0, np.inf, -np.inf, 65520.0, 65519.0, 2.0**-25, 3.0 * 2.0**-26, 1e-8, -1e-8]
    assert np.array_equal(_fp16_bits(x), tf_half_bits(x))


def test_fp16_decode_is_exact_for_every_pattern():
    bits = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    c = Fp16Compressor()
    want = bits.view(np.float16).astype(np.float32).view(np.uint32)
    for codes in (bits, bits.view(np.int16), bits.view(np.float16)):
        assert np.array_equal(c.decode(codes).view(np.uint32), want)


@given(float32_arrays)
def test_fp16_decode_encode_is_round_to_half(x):
    c = Fp16Compressor()
    x = x[np.isfinite(x)] if x.ndim == 1 else x
    back = c.decode(c.encode(x))
    with np.errstate(invalid="ignore"):
        want = x.astype(np.float16).astype(np.float32)
    assert np.array_equal(back, want, equal_nan=True)
    assert np.array_equal(c.encode(back).view(np.uint16), c.encode(x).view(np.uint16))  # idempotent


def test_fp16_non_contiguous_and_empty():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2] / np.float32(7)
    c = Fp16Compressor()
    assert np.array_equal(c.encode(x).view(np.uint16), x.astype(np.float16).view(np.uint16))
    assert c.encode(np.zeros((0, 3), np.float32)).shape == (0, 3)
    assert c.decode(np.zeros((2, 0), np.float16)).shape == (2, 0)


# --- fixed_r8 ----------------------------------------------------------------------------


@given(float32_arrays, st.sampled_from([1.0, 5.0, 0.3, 1e-3, 1e4]))
def test_fixed_r8_encode_parity_with_reference(x, r):
    got = FixedR8Compressor(r).encode(x)
    assert got.dtype == np.int8 and got.shape == x.shape
    assert np.array_equal(got, ref_fixed_r8_encode(x, r))


@pytest.mark.tf
def test_fixed_r8_encode_parity_with_tensorflow():
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(4000) * 2).astype(np.float32)
    x[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30]
    for r in (1.0, 5.0, 0.25):
        assert np.array_equal(FixedR8Compressor(r).encode(x), tf_fixed_r8_encode(x, r))


def test_fixed_r8_decode_every_level():
    q = np.arange(-128, 128).astype(np.int8)
    for r in (1.0, 5.0, 0.3):
        assert np.array_equal(FixedR8Compressor(r).decode(q), ref_fixed_r8_decode(q, r))


@given(hnp.arrays(np.float32, st.integers(0, 50), elements=st.floats(-1.0, 0.984375, width=32)))
def test_fixed_r8_round_trip_error_is_half_a_step(x):
    c = FixedR8Compressor(1.0)
    step = np.float32(1.0 / 128)
    assert (np.abs(c.decode(c.encode(x)) - x) <= step / 2 * (1 + 1e-6)).all()
    assert np.array_equal(c.encode(c.decode(c.encode(x))), c.encode(x))


def test_fixed_r8_saturates_and_nan_is_zero():
    c = FixedR8Compressor(1.0)
    assert c.encode(np.float32([np.nan, np.inf, -np.inf, 3e38, -3e38, 2.0, -2.0])).tolist() == [
        0, 127, -128, 127, -128, 127, -128]


# --- one_bit and HashNet ------------------------------------------------------------------


@given(float32_arrays, st.sampled_from([0.05, 1.0, 1e-30]))
def test_one_bit_encode_is_the_sign_of_the_forward(x, amplitude):
    c = OneBitCompressor(amplitude=amplitude)
    with np.errstate(invalid="ignore", under="ignore"):
        want = np.where(np.float32(amplitude) * np.tanh(x) > 0, 1, -1).astype(np.int8)
    assert np.array_equal(c.encode(x), want)
    assert np.array_equal(c.decode(c.encode(x)), want.astype(np.float32) * np.float32(amplitude))


def test_one_bit_underflowing_product_encodes_minus_one():
    """``amplitude * tanh(x)`` is computed in float32: a product that underflows to 0 gives -1."""
    tiny = np.float32(1e-45)
    assert OneBitCompressor(amplitude=0.05).encode(np.float32([tiny, 1e-40])).tolist() == [-1, 1]


def test_one_minus_square_equals_fmaf_everywhere():
    """Rounding 1 - y*y via float64 never hits a float32 midpoint inexactly, for any float32 y.

    Outside ``2**-13 <= |y| < 2**-2`` it cannot (float64 is exact above, and
    below no float32 midpoint is near); inside, every float32 is checked.
    """
    lo = int(np.float32(2.0**-13).view(np.uint32))
    hi = int(np.float32(2.0**-2).view(np.uint32))
    for start in range(lo, hi, 1 << 22):
        b = np.arange(start, min(start + (1 << 22), hi), dtype=np.uint32)
        y = b.view(np.float32).astype(np.float64)
        p = y * y
        s = 1.0 - p
        err = -p - (s - 1.0)
        d = s - s.astype(np.float32).astype(np.float64)
        t = s + d
        mid = (err != 0) & (d != 0) & (t.astype(np.float32).astype(np.float64) == t)
        assert not mid.any(), b[mid][:3].view(np.float32)


def test_one_minus_square_against_exact_arithmetic():
    rng = np.random.default_rng(4)
    ys = np.concatenate([rng.uniform(-1, 1, 300), rng.uniform(-1e-3, 1e-3, 100),
                         [0.0, -0.0, 1.0, -1.0, np.nan, 2.0**-12, 0.99999994]]).astype(np.float32)
    got = [rules.one_minus_square_fused(y) for y in ys]
    want = [ref_one_minus_square(y) for y in ys]
    assert np.array_equal(np.float32(got), np.float32(want), equal_nan=True)


@given(hnp.arrays(np.float32, st.integers(0, 40), elements=st.floats(-8, 8, width=32)),
       st.sampled_from([1.0, 2.4494898, 30.0]))
def test_hash_net_parity_with_reference(x, scale):
    q = HashNetQuantizer(init_scale=scale)
    assert (ulp_diff(q.forward(x), ref_hash_net_forward(x, 0.1, q.scale)) <= 2).all()  # tanhf vs rounded tanh
    g = np.linspace(-2, 2, x.size, dtype=np.float32)
    got = q.backward(x, g, global_step=1)  # not a multiple of 200: scale unchanged
    want = ref_hash_net_backward(x, g, 0.1, q.scale)
    # an ulp of difference in tanh moves 1 - y*y by up to 2 * 2**-24 (absolute)
    atol = np.abs(g) * np.float32(0.1) * q.scale * np.float32(2.0**-22)
    assert (np.abs(got - want) <= atol + 4 * np.spacing(np.abs(want))).all()


def test_hash_net_scale_schedule():
    q = HashNetQuantizer(step_size=10, init_scale=2.0, max_scale=3.0)
    q.backward(np.float32([0.0]), np.float32([1.0]), 7)
    assert q.scale == np.float32(2.0)
    q.backward(np.float32([0.0]), np.float32([1.0]), 20)
    assert q.scale == np.float32(2.0) * np.power(np.float32(1.1), np.float32(0.5))
    q.backward(np.float32([0.0]), np.float32([1.0]), 10**6)
    assert q.scale == np.float32(3.0)  # capped
    q.backward(np.float32([0.0]), np.float32([1.0]), 0)
    assert q.scale == np.float32(2.0)  # global step 0 resets it (SEMANTICS D.5 NOTE)
    assert q.scale_at(-10) == q.scale_at(-10)  # C's % on negative steps: -10 % 10 == 0


def test_hash_net_backward_does_not_modify_grad():
    g = np.float32([1.0, 2.0])
    HashNetQuantizer().backward(np.float32([0.5, -0.5]), g, 0)
    assert g.tolist() == [1.0, 2.0]


def test_one_bit_compressor_quantizer_uses_its_settings():
    q = OneBitCompressor(step_size=7, amplitude=0.5).quantizer
    assert (q.step_size, float(q.amplitude), float(q.init_scale), float(q.max_scale)) == (7, 0.5, 1.0, 10000.0)
    assert float(OneBitCompressor(amplitude=None).quantizer.amplitude) == np.float32(0.1)


# --- factory and errors --------------------------------------------------------------------


def test_compressor_from_config_round_trips():
    for comp in (Fp32Compressor(), Fp16Compressor(), FixedR8Compressor(2.5), FixedR8Compressor(None),
                 OneBitCompressor(), OneBitCompressor(9, None)):
        proto = comp.as_proto()
        assert compressor_from_config(proto).as_proto() == proto
    with pytest.raises(ValueError, match="config must set one of"):
        compressor_from_config(FloatCompressorConfig())
    with pytest.raises(TypeError, match="config must be a FloatCompressorConfig, got int"):
        compressor_from_config(3)


@pytest.mark.parametrize("comp", [Fp32Compressor(), Fp16Compressor(), FixedR8Compressor(), OneBitCompressor()])
def test_encode_rejects_wrong_dtype(comp):
    with pytest.raises(TypeError, match=r"x must be float32, got float64 \(convert with .astype\(np.float32\)\)"):
        comp.encode(np.zeros(3))


def test_decode_rejects_wrong_dtype():
    with pytest.raises(TypeError, match="codes must be float16 or int16 or uint16, got float32"):
        Fp16Compressor().decode(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="codes must be int8, got int32"):
        OneBitCompressor().decode(np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="codes must be int8, got uint8"):
        FixedR8Compressor().decode(np.zeros(3, np.uint8))


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="fixed_range must be > 0.0, got 0.0"):
        FixedR8Compressor(0.0)
    with pytest.raises(ValueError, match="r must be a finite number, got inf"):
        FakeQuantizer(float("inf"))
    with pytest.raises(ValueError, match="step_size must be >= 1, got 0"):
        OneBitCompressor(step_size=0)
    with pytest.raises(TypeError, match="step_size must be an integer"):
        OneBitCompressor(step_size=2.5)
    with pytest.raises(ValueError, match="amplitude must not be NaN"):
        HashNetQuantizer(amplitude=float("nan"))
    with pytest.raises(ValueError, match=r"grad must have shape \(2\), got shape \(3,\)"):
        HashNetQuantizer().backward(np.zeros(2, np.float32), np.zeros(3, np.float32), 0)
