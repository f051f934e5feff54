"""The FFM demo (demo/ beside the library): data, FFM backward, training signal, checkpoint identity."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from demo import (FFMLayout, DemoConfig, batch_for_step, build_tables, demo_truth, ffm_backward, ffm_forward,
                  make_click_batch, make_click_truth, restore_checkpoint, run_demo, save_checkpoint, train_step)
from monolith_np.metrics import auc
from monolith_np.table import slot_of


# -- data -------------------------------------------------------------------------------------


def test_batches_are_deterministic_and_downsampled():
    truth = make_click_truth(1000, seed=3)
    a = make_click_batch(truth, 7, 512, seed=1, negative_sample_rate=0.2)
    b = make_click_batch(make_click_truth(1000, seed=3), 7, 512, seed=1, negative_sample_rate=0.2)
    for x, y in zip(a.ids + a.row_lengths + (a.labels,), b.ids + b.row_lengths + (b.labels,)):
        np.testing.assert_array_equal(x, y)
    c = make_click_batch(truth, 8, 512, seed=1, negative_sample_rate=0.2)
    assert not np.array_equal(a.ids[0][:50], c.ids[0][:50])
    assert a.batch_size == 512 and a.sample_rate == 0.2 and a.time == 7 * 600
    for s in range(6):
        assert a.row_lengths[s].sum() == a.ids[s].size and a.row_lengths[s].min() >= 1
        assert np.all(slot_of(a.ids[s]) == s)
    # Keeping 20% of the negatives raises the share of positives from c to c / (c + 0.2 (1 - c)).
    raw = make_click_batch(truth, 7, 4096, seed=2, negative_sample_rate=1.0).labels.mean()
    down = make_click_batch(truth, 7, 4096, seed=3, negative_sample_rate=0.2).labels.mean()
    assert down == pytest.approx(raw / (raw + 0.2 * (1 - raw)), abs=0.04)
    # The hidden model carries signal: its logits rank the labels well.
    assert auc(a.labels, a.true_logits) > 0.75


# -- the FFM ------------------------------------------------------------------------------------


def test_layout_matches_the_original_model():
    layout = FFMLayout(dim=16)
    assert [layout.slot_dim(s) for s in range(6)] == [33, 17, 33, 33, 16, 32]
    assert layout.columns(0) == (slice(1, 17), slice(1, 17))      # (0, 3): first slices of both
    assert layout.columns(3) == (slice(1, 17), slice(17, 33))     # (2, 3): slot 3's second slice
    assert layout.columns(4) == (slice(17, 33), slice(16, 32))    # (2, 5): slot 5 has no bias
    with pytest.raises(ValueError, match="pairs must pair two different slots"):
        FFMLayout(pairs=((0, 0, 4),))


def _random_pooled(layout, n, rng, dtype=np.float64):
    return [rng.normal(size=(n, layout.slot_dim(s))).astype(dtype) for s in range(layout.num_slots)]


def test_ffm_forward_and_backward_match_torch_autograd():
    torch = pytest.importorskip("torch")
    layout = FFMLayout(dim=5)
    rng = np.random.default_rng(0)
    pooled = _random_pooled(layout, 7, rng)
    g = rng.normal(size=7)
    tp = [torch.tensor(p, requires_grad=True) for p in pooled]
    logit = sum(t[:, 0] for s, t in enumerate(tp) if s in layout.bias_slots)
    for u, v, _ in layout.pairs:  # written independently: the k-th slice of a slot is its k-th pair
        ku = [p for p, (a, b, _) in enumerate(layout.pairs) if u in (a, b)].index(layout.pairs.index((u, v, _)))
        kv = [p for p, (a, b, _) in enumerate(layout.pairs) if v in (a, b)].index(layout.pairs.index((u, v, _)))
        ou, ov = int(u in layout.bias_slots) + ku * 5, int(v in layout.bias_slots) + kv * 5
        logit = logit + (tp[u][:, ou:ou + 5] * tp[v][:, ov:ov + 5]).sum(1)
    np.testing.assert_allclose(ffm_forward(pooled, layout), logit.detach().numpy(), rtol=1e-12)
    logit.backward(torch.tensor(g))
    for ours, ref in zip(ffm_backward(g, pooled, layout), tp):
        np.testing.assert_allclose(ours, ref.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_ffm_backward_matches_finite_differences():
    layout = FFMLayout(dim=3)
    rng = np.random.default_rng(1)
    pooled = _random_pooled(layout, 4, rng)
    g = rng.normal(size=4)
    grads = ffm_backward(g, pooled, layout)
    eps = 1e-6
    for s in range(layout.num_slots):
        for b, c in [(0, 0), (3, layout.slot_dim(s) - 1), (1, layout.slot_dim(s) // 2)]:
            plus = [p.copy() for p in pooled]
            minus = [p.copy() for p in pooled]
            plus[s][b, c] += eps
            minus[s][b, c] -= eps
            num = (g @ ffm_forward(plus, layout) - g @ ffm_forward(minus, layout)) / (2 * eps)
            assert grads[s][b, c] == pytest.approx(num, rel=1e-6, abs=1e-8)


def test_ffm_rejects_bad_shapes():
    layout = FFMLayout(dim=2)
    pooled = _random_pooled(layout, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one array per slot"):
        ffm_forward(pooled[:5], layout)
    pooled[4] = pooled[4][:, :1]
    with pytest.raises(ValueError, match=r"pooled\[4\] must have 2 columns"):
        ffm_forward(pooled, layout)


# -- training -------------------------------------------------------------------------------------


SMALL = dict(num_ids=2000, batch_size=1024, dim=8, occurrence_threshold=1)


def test_filtered_ids_get_no_entry_and_no_update():
    config = DemoConfig(steps=4, **dict(SMALL, occurrence_threshold=3))
    truth, tables = demo_truth(config), build_tables(config)
    b0, b1 = batch_for_step(config, truth, 0), batch_for_step(config, truth, 1)
    train_step(tables, b0, 0)
    assert tables.size == 0  # the filter counts first: nothing has 3 earlier occurrences yet
    before = {s: tables.tables[f"slot_{s}"].lookup(np.unique(b1.ids[s])) for s in range(6)}
    res = train_step(tables, b1, 1)
    seen0 = dict(zip(*np.unique(b0.ids[2], return_counts=True)))
    ids1 = np.unique(b1.ids[2])
    want = np.array([seen0.get(i, 0) >= 3 for i in ids1])
    np.testing.assert_array_equal(tables.tables["slot_2"].contains(ids1), want)
    assert 0 < want.sum() < want.size
    assert res.num_updated == sum(int(tables.tables[f"slot_{s}"].contains(i).sum()) for s, i in enumerate(b1.ids))
    for s in range(6):  # ids that stayed out read zeros and were not updated
        absent = ~tables.tables[f"slot_{s}"].contains(np.unique(b1.ids[s]))
        assert not before[s][absent].any()
    assert np.isfinite(res.loss) and res.pred.shape == (1024,)


def test_checkpoint_replay_is_identical_and_the_check_can_fail(tmp_path):
    config = DemoConfig(steps=12, **SMALL)
    truth, tables = demo_truth(config), build_tables(config)
    for step in range(6):
        train_step(tables, batch_for_step(config, truth, step), step)
    save_checkpoint(tables, tmp_path / "ck")
    restored = build_tables(config)
    restore_checkpoint(restored, tmp_path / "ck")
    other_seed = build_tables(DemoConfig(steps=12, seed=1, **SMALL))  # new ids initialise differently
    restore_checkpoint(other_seed, tmp_path / "ck")
    for step in (6, 7):
        batch = batch_for_step(config, truth, step)
        a, b, c = (train_step(t, batch, step) for t in (tables, restored, other_seed))
        assert np.float32(a.loss).tobytes() == np.float32(b.loss).tobytes()
        np.testing.assert_array_equal(a.pred, b.pred)
    assert c.loss != a.loss


def test_short_run_learns_and_reports(tmp_path):
    config = DemoConfig(steps=40, auc_threshold=0.68, **SMALL)
    result = run_demo(config, out=tmp_path, progress=False, file=open(tmp_path / "log.txt", "w"))
    assert result.checkpoint_identical is True
    first = np.mean([m["auc"] for m in result.metrics[1:6]])
    assert result.final_auc > 0.68 and result.final_auc > first + 0.05, (first, result.final_auc)
    assert result.exit_code == 0
    assert result.final_auc < result.oracle_auc
    assert (tmp_path / "ffm_training.png").stat().st_size > 10_000


def test_noise_labels_fail_the_threshold(tmp_path):
    config = DemoConfig(steps=10, signal=0.0, auc_threshold=0.6, checkpoint_step=-1, **SMALL)
    result = run_demo(config, out=tmp_path, progress=False, file=open(tmp_path / "log.txt", "w"))
    assert result.checkpoint_identical is None
    assert abs(result.final_auc - 0.5) < 0.06 and result.exit_code == 1
