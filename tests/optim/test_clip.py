"""Tests of monolith_np.optim.clip: golden numbers, TF parity, non-finite norms, clip_gradients, errors."""

from __future__ import annotations

import doctest
import math
import re
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monolith_np.optim import clip as C
from monolith_np.optim.clip import (
    GradClipType,
    clip_by_global_norm,
    clip_by_norm,
    clip_by_value,
    clip_gradients,
    global_norm,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

F32 = np.float32
INF, NAN = float("inf"), float("nan")


@pytest.fixture(scope="module")
def ref():
    pytest.importorskip("tensorflow")
    import ref_clip

    return ref_clip


def _f32(rows):
    return [np.asarray(r, F32) for r in rows]


# ---------------------------------------------------------------------------
# Golden numbers (clip_ops_test, feature_utils_test)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("inputs, expected", [
    ([[-3.0, 0, 0], [4.0, 0, 0]], [[-2.4, 0, 0], [3.2, 0, 0]]),
    ([[-3.0, 0, 0], [0, 0, 4.0, 0]], [[-2.4, 0, 0], [0, 0, 3.2, 0]]),
    ([[1.0, 0, 0], [1.0, 0, 0]], [[1.0, 0, 0], [1.0, 0, 0]]),
    ([[0.0, 0, 0], [0.0, 0, 0]], [[0.0, 0, 0], [0.0, 0, 0]]),
    ([[INF, INF, INF], [INF, INF, INF]], [[NAN] * 3, [NAN] * 3]),
])
def test_golden_clip_by_global_norm(inputs, expected):
    t_list = _f32(inputs)
    copies = [t.copy() for t in t_list]
    clipped, _ = clip_by_global_norm(t_list, 4.0)
    for c, e in zip(clipped, expected):
        np.testing.assert_allclose(c, e, rtol=1e-6)
    for t, c in zip(t_list, copies):
        np.testing.assert_array_equal(t, c)  # inputs never modified


@pytest.mark.parametrize("inputs, expected", [
    ([[INF, INF, INF], [INF, INF, INF]], INF),
    ([[-3.0, 0, 0], [4.0, 0, 0]], 5.0),
    ([[-3.0, 0, 0], [0, 0, 4.0, 0]], 5.0),
])
def test_golden_global_norm(inputs, expected):
    norm = global_norm(_f32(inputs))
    assert norm.dtype == F32 and norm == expected


def test_golden_clip_large_gradients(ref):
    shapes = [(328, 128), (128,), (128, 64), (64,), (1,), (256, 256), (2488, 256), (3184, 256), (1609, 2048),
              (2048, 1024), (1024, 512), (64, 1)]
    rng = np.random.default_rng(0)
    grads = [rng.uniform(size=s).astype(F32) for s in shapes]
    ours, norm = clip_by_global_norm(grads, 1.0)
    theirs, tnorm = ref.ref_tf_clip_by_global_norm(grads, 1.0)
    np.testing.assert_allclose(norm, tnorm, rtol=2e-6)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=4e-6, atol=1e-12)


def test_golden_feature_utils_clip():
    """Dense var 1 (grad 1) and a 3-wide embedding slice (grads 1): global norm 2, clip 1, SGD lr 1."""
    out = clip_gradients([np.array(1.0, F32)], [np.ones((1, 3), F32)], GradClipType.ClipByGlobalNorm, clip_norm=1.0)
    assert out.dense_norm == 2.0 and out.sparse_norm == 2.0
    assert 1.0 - out.dense_grads[0] == 0.5
    emb = np.ones(4, F32)
    emb[:3] -= out.sparse_grads[0][0]
    np.testing.assert_array_equal(emb, [0.5, 0.5, 0.5, 1.0])
    # Without clipping (no dense optimizer): the embedding takes the full gradient.
    out = clip_gradients([], [np.ones((1, 3), F32)], GradClipType.NoClip)
    emb = np.ones(4, F32)
    emb[:3] -= out.sparse_grads[0][0]
    np.testing.assert_array_equal(emb, [0.0, 0.0, 0.0, 1.0])


# ---------------------------------------------------------------------------
# Non-finite norms: Monolith's kernel, not tf.clip_by_global_norm
# ---------------------------------------------------------------------------


def test_infinite_norm_zeroes_finite_entries_and_nans_infinite_ones():
    clipped, norm = clip_by_global_norm(_f32([[1.0, INF], [2.0, -3.0]]), 1.0)
    assert norm == INF
    np.testing.assert_array_equal(clipped[0], [0.0, NAN])
    np.testing.assert_array_equal(clipped[1], [0.0, -0.0])


def test_nan_norm_passes_gradients_through_unchanged():
    t_list = _f32([[1.0, NAN], [2.0, 3.0]])
    clipped, norm = clip_by_global_norm(t_list, 1.0)
    assert math.isnan(norm)
    assert clipped[0] is t_list[0] and clipped[1] is t_list[1]
    clipped, _ = clip_by_global_norm(_f32([[5.0]]), 1.0, use_norm=NAN)
    np.testing.assert_array_equal(clipped[0], [5.0])


def test_tensorflow_gives_nan_for_non_finite_norms(ref):
    """The documented difference: TF's own op turns everything into NaN."""
    theirs, _ = ref.ref_tf_clip_by_global_norm(_f32([[1.0, INF], [2.0, -3.0]]), 1.0)
    assert np.isnan(theirs[1]).all()
    ours, _ = ref.ref_monolith_clip_by_global_norm(_f32([[1.0, INF], [2.0, -3.0]]), 1.0)
    np.testing.assert_array_equal(ours[1], [0.0, -0.0])


def test_unclipped_arrays_are_returned_as_they_are():
    t_list = _f32([[0.1, 0.2], [0.3]])
    clipped, norm = clip_by_global_norm(t_list, 4.0)
    assert all(c is t for c, t in zip(clipped, t_list))
    assert clip_by_global_norm([], 1.0) == ([], 0.0)
    clipped, norm = clip_by_global_norm([None, np.array([3.0, 4.0], F32)], 1.0)
    assert clipped[0] is None and norm == 5.0


def test_zero_clip_norm_zeroes_gradients():
    clipped, _ = clip_by_global_norm(_f32([[3.0, 4.0]]), 0.0)
    np.testing.assert_array_equal(clipped[0], [0.0, 0.0])


# ---------------------------------------------------------------------------
# Parity with TensorFlow (hypothesis)
# ---------------------------------------------------------------------------

ELEMENTS = st.floats(-1e4, 1e4, width=32, allow_subnormal=False)


@st.composite
def array_lists(draw, max_arrays=5, dtypes=(np.float32,)):
    dtype = draw(st.sampled_from(dtypes))
    shapes = draw(st.lists(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6), max_size=max_arrays))
    arrays = [draw(hnp.arrays(dtype, s, elements=ELEMENTS)) for s in shapes]
    if arrays and draw(st.booleans()):
        arrays[0] = np.repeat(arrays[0].reshape(-1), 2)[::2]  # a non-contiguous view
    return arrays


@settings(max_examples=40)
@given(array_lists(dtypes=(np.float32, np.float64)))
def test_global_norm_matches_tensorflow_and_float64(ref, arrays):
    ours = global_norm(arrays)
    exact = math.sqrt(math.fsum(float(x) ** 2 for a in arrays for x in a.reshape(-1)))
    np.testing.assert_allclose(float(ours), exact, rtol=2e-7 if ours.dtype == F32 else 1e-14)
    if arrays:
        np.testing.assert_allclose(ours, ref.ref_global_norm(arrays), rtol=2e-6, atol=1e-18)


@settings(max_examples=40)
@given(array_lists(), st.floats(2**-7, 1e5, width=32))
def test_clip_by_global_norm_matches_tensorflow(ref, arrays, clip_norm):
    ours, norm = clip_by_global_norm(arrays, clip_norm)
    if not arrays:
        return
    theirs, tnorm = ref.ref_tf_clip_by_global_norm(arrays, clip_norm)
    np.testing.assert_allclose(norm, tnorm, rtol=2e-6, atol=1e-18)  # TF's float32 squares underflow below 1e-19
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=4e-6, atol=1e-37)  # TF flushes subnormal results to 0
    mono, _ = ref.ref_monolith_clip_by_global_norm(arrays, clip_norm, use_norm=float(norm))
    for a, b in zip(ours, mono):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-37)  # the Monolith kernel: exact but for TF's FTZ


@settings(max_examples=40)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6), elements=ELEMENTS),
       st.floats(0.0, 1e5, width=32), st.booleans())
def test_clip_by_norm_matches_tensorflow(ref, t, clip_norm, per_row):
    axes = 0 if per_row and t.ndim else None
    squares = t.astype(np.float32) ** 2
    # TF's CPU kernels flush subnormal results to zero: a squared norm below float32's smallest normal is 0
    # there (then 0 / 0 = NaN when clip_norm is 0); see test_subnormal_norm_with_zero_clip_norm_gives_zero
    assume(clip_norm > 0 or not np.any(np.sum(squares, axis=axes) < np.finfo(np.float32).tiny))
    # ... and a subnormal t * clip_norm (TF: 0; ours keeps it, e.g. t = clip_norm = 1.8e-20)
    products = np.abs(t.astype(np.float32) * np.float32(clip_norm))
    assume(not np.any((products > 0) & (products < np.finfo(np.float32).tiny)))
    np.testing.assert_allclose(clip_by_norm(t, clip_norm, axes=axes), ref.ref_clip_by_norm(t, clip_norm, axes=axes),
                               rtol=2e-6, atol=1e-30)


def test_subnormal_norm_with_zero_clip_norm_gives_zero(ref):
    """||t||^2 is subnormal: we keep it (norm 2.5e-20, result 0); TF flushes it to 0 and returns 0 / 0 = NaN."""
    t = np.array(2.4885795e-20, np.float32)
    assert clip_by_norm(t, 0.0) == 0.0
    assert np.isnan(ref.ref_clip_by_norm(t, 0.0))


@settings(max_examples=40)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6),
                  elements=st.floats(width=32, allow_subnormal=False)),
       st.floats(-10, 10, width=32, allow_subnormal=False), st.floats(-10, 10, width=32, allow_subnormal=False))
def test_clip_by_value_matches_tensorflow(ref, t, low, high):
    # Bounds are drawn without subnormals: TF's CPU kernels flush them to zero.
    np.testing.assert_array_equal(clip_by_value(t, low, high), ref.ref_clip_by_value(t, low, high))


def test_global_norm_does_not_depend_on_thread_count():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(n).astype(F32) for n in (100_000, 7, 70_001, 0, 33_000)]
    threads = numba.get_num_threads()
    values = []
    for k in sorted({1, threads}):
        numba.set_num_threads(k)
        try:
            values.append(C._sum_squares_numpy(arrays))
        finally:
            numba.set_num_threads(threads)
    assert len(set(values)) == 1
    exact = math.fsum(float(x) ** 2 for a in arrays for x in a)
    assert abs(values[0] - exact) <= 1e-12 * exact


def test_huge_elements_do_not_overflow_the_norm():
    norm = global_norm([np.array([3e19, 4e19], F32)])
    np.testing.assert_allclose(norm, 5e19, rtol=1e-7)


# ---------------------------------------------------------------------------
# clip_gradients: the clipping step of apply_gradients_with_var_optimizer
# ---------------------------------------------------------------------------


@settings(max_examples=40)
@given(array_lists(max_arrays=3), array_lists(max_arrays=3), st.sampled_from(list(GradClipType)),
       st.one_of(st.none(), st.floats(0.5, 100, width=32)), st.one_of(st.none(), st.just(0.0), st.floats(0.5, 50)),
       st.one_of(st.none(), st.integers(0, 10)), st.integers(0, 12), st.booleans(), st.sampled_from([0.0, 0.1]))
def test_clip_gradients_matches_tf_transcription(ref, dense, sparse, clip_type, clip_norm, sparse_clip_norm,
                                                 warmup, step, reduce_mean, decay):
    if clip_type is GradClipType.ClipByDenseAndSparse and clip_norm is None:
        clip_norm = 1.0
    dense_vars = [np.full(g.shape, 0.5, g.dtype) for g in dense]
    kwargs = dict(clip_type=clip_type, clip_norm=clip_norm, global_step=step, dense_weight_decay=decay,
                  sparse_clip_norm=sparse_clip_norm, sparse_norm_warmup_steps=warmup, dense_reduce_mean=reduce_mean,
                  batch_size=4, dense_vars=dense_vars)
    ours = clip_gradients(dense, sparse, **kwargs)
    kwargs["clip_type"] = clip_type.value
    theirs = ref.ref_clip_gradients(dense, sparse, **kwargs)
    for a, b in zip(ours.dense_grads + ours.sparse_grads, theirs[0] + theirs[1]):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=5e-6, atol=1e-30)


def test_sparse_warmup_zeroes_sparse_gradients_at_step_zero():
    dense, sparse = _f32([[3.0]]), _f32([[4.0]])
    out = clip_gradients(dense, sparse, clip_norm=1.0, sparse_norm_warmup_steps=10, global_step=0)
    np.testing.assert_allclose(out.dense_grads[0], [0.6], rtol=1e-6)
    np.testing.assert_array_equal(out.sparse_grads[0], [0.0])
    out = clip_gradients(dense, sparse, clip_norm=1.0, sparse_norm_warmup_steps=10, global_step=5)
    np.testing.assert_allclose(out.sparse_grads[0], [0.4], rtol=1e-6)


def test_sparse_clip_norm_zero_means_unset_only_for_global_norm():
    dense, sparse = _f32([[3.0]]), _f32([[4.0]])
    out = clip_gradients(dense, sparse, clip_norm=1.0, sparse_clip_norm=0.0)
    np.testing.assert_allclose(out.sparse_grads[0], [0.8], rtol=1e-6)
    out = clip_gradients(dense, sparse, GradClipType.ClipByDenseAndSparse, clip_norm=1.0, sparse_clip_norm=0.0)
    np.testing.assert_array_equal(out.sparse_grads[0], [0.0])
    assert out.dense_norm == 3.0 and out.sparse_norm == 4.0
    out = clip_gradients(dense, sparse, GradClipType.ClipByDenseAndSparse, clip_norm=1.0)
    assert out.sparse_grads[0] is sparse[0] and out.sparse_norm is None


def test_weight_decay_is_added_after_clipping_and_reduce_mean_first():
    out = clip_gradients(_f32([[8.0]]), [], GradClipType.ClipByValue, clip_norm=1.0, dense_weight_decay=0.5,
                         dense_vars=_f32([[2.0]]), dense_reduce_mean=True, batch_size=4)
    np.testing.assert_array_equal(out.dense_grads[0], [2.0])  # min(8 / 4, 1) + 0.5 * 2


def test_clip_type_accepts_the_original_integer_values():
    out = clip_gradients(_f32([[3.0, 4.0]]), [], 1, clip_norm=1.0)
    np.testing.assert_allclose(out.dense_grads[0], [0.6, 0.8], rtol=1e-6)
    assert [t.value for t in GradClipType] == [1, 2, 3, 4, 5]


def test_module_doctests():
    result = doctest.testmod(C, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_errors():
    good = _f32([[1.0]])
    with pytest.raises(TypeError, match="t_list must be a list or tuple of arrays, got ndarray"):
        clip_by_global_norm(good[0], 1.0)
    with pytest.raises(TypeError, match=re.escape("t_list[0] must be float32 or float64, got int64")):
        global_norm([np.zeros(2, np.int64)])
    with pytest.raises(ValueError, match="clip_norm must be >= 0.0, got -1.0"):
        clip_by_global_norm(good, -1.0)
    with pytest.raises(ValueError, match="clip_norm must not be NaN"):
        clip_by_norm(good[0], NAN)
    with pytest.raises(ValueError, match="use_norm must be >= 0"):
        clip_by_global_norm(good, 1.0, use_norm=-2.0)
    with pytest.raises(TypeError, match="use_norm must be a real number, got str"):
        clip_by_global_norm(good, 1.0, use_norm="x")
    with pytest.raises(TypeError, match="t must be float32 or float64, got int32"):
        clip_by_value(np.zeros(2, np.int32), 0, 1)
    with pytest.raises(ValueError, match="clip_value_min must not be NaN"):
        clip_by_value(good[0], NAN, 1)
    with pytest.raises(ValueError, match="clip_type must be a GradClipType"):
        clip_gradients(good, [], clip_type=7)
    with pytest.raises(ValueError, match="clip_norm must be set for GradClipType.ClipByDenseAndSparse"):
        clip_gradients(good, [], GradClipType.ClipByDenseAndSparse)
    with pytest.raises(ValueError, match="dense_vars must be given when dense_weight_decay is non-zero"):
        clip_gradients(good, [], dense_weight_decay=0.1)
    with pytest.raises(ValueError, match=re.escape("dense_vars[0] must have shape (1), got shape (2,)")):
        clip_gradients(good, [], dense_weight_decay=0.1, dense_vars=[np.zeros(2, F32)])
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        clip_gradients(good, [], dense_reduce_mean=True, batch_size=0)
    with pytest.raises(TypeError, match=re.escape("sparse_grads[0] must be float32 or float64, got int64")):
        clip_gradients(good, [np.zeros(1, np.int64)])
