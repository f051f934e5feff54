"""examples/torch_ffm.py against the numpy demo: same losses step for step, same tables at the end."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from demo import DemoConfig, batch_for_step, build_tables, demo_truth, train_step  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch_ffm.py"


@pytest.fixture(scope="module")
def ex():
    spec = importlib.util.spec_from_file_location("torch_ffm_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entries(table):
    """The table's entries sorted by id: ids, values, optimizer state, timestamps."""
    ids, values, state, ts = table.export()
    order = np.argsort(ids)
    return ids[order], values[order], [{k: a[order] for k, a in s.items()} for s in state], ts[order]


# Tolerance: every step runs the same library calls on the same float32 arrays
# (insert, lookup, reduce_sum, the loss and its gradient, clip, apply_gradients);
# the only op that is torch's own is the sum of each pair's 16 products in the
# FFM forward, whose summation order is up to torch's CPU reduction kernel. On
# x86-64 with torch 2.13 it matches numpy's and the runs are bit-identical; the
# test allows one or two float32 roundings (rtol 1e-6) so a different reduction
# order elsewhere does not fail it, which still catches any real divergence
# (a wrong step order, a missed clip or filter changes losses at 1e-3 or more).
RTOL = 1e-6


@pytest.mark.parametrize("clip_norm, optimizer", [(100.0, "adagrad"), (5.0, "sgd")])
def test_torch_example_matches_numpy_train_step(ex, clip_norm, optimizer):
    config = DemoConfig(steps=5, batch_size=256, num_ids=2000, seed=3, clip_norm=clip_norm, optimizer=optimizer)
    ours, theirs = build_tables(config), build_tables(config)
    truth = demo_truth(config)
    model = ex.TorchFFM(theirs)
    clipped = 0
    for step in range(config.steps):
        batch = batch_for_step(config, truth, step)
        ref = train_step(ours, batch, step)
        loss, pred, norm = ex.torch_train_step(model, batch, step, config.clip_norm)
        np.testing.assert_allclose(loss, ref.loss, rtol=RTOL, err_msg=f"loss at step {step}")
        np.testing.assert_allclose(pred, ref.pred, rtol=RTOL, atol=1e-7, err_msg=f"pred at step {step}")
        np.testing.assert_allclose(norm, ref.grad_norm, rtol=RTOL, err_msg=f"grad norm at step {step}")
        clipped += ref.grad_norm > clip_norm
        assert not model.embeddings.pending_gradients
    if clip_norm < 100:
        assert clipped >= 3  # the clip really ran
    assert ours.size > 0
    for name in ours.names:
        a, b = _entries(ours.tables[name]), _entries(theirs.tables[name])
        np.testing.assert_array_equal(a[0], b[0], err_msg=f"{name}: ids")   # same admitted ids
        np.testing.assert_array_equal(a[3], b[3], err_msg=f"{name}: timestamps")
        np.testing.assert_allclose(a[1], b[1], rtol=RTOL, atol=1e-7, err_msg=f"{name}: values")
        for sa, sb in zip(a[2], b[2]):
            for key in sa:
                np.testing.assert_allclose(sa[key], sb[key], rtol=RTOL, atol=1e-7, err_msg=f"{name}: {key}")


def test_fused_mode_equals_rows_mode_without_clipping(ex):
    # The benchmark's fused model: with a clip that never triggers, applying
    # each slot's rows inside the backward must give what the rows mode gives.
    config = DemoConfig(steps=3, batch_size=256, num_ids=2000, seed=5, clip_norm=1e9)
    truth = demo_truth(config)
    rows_tables, fused_tables = build_tables(config), build_tables(config)
    rows, fused = ex.TorchFFM(rows_tables), ex.TorchFFM(fused_tables, mode="fused")
    for step in range(config.steps):
        batch = batch_for_step(config, truth, step)
        loss_r, _, _ = ex.torch_train_step(rows, batch, step, config.clip_norm)
        fused.set_step(step, batch.time)
        logits = fused(batch)
        loss_f, _ = ex.mt.get_sigmoid_loss_and_pred("ctr", logits, torch.from_numpy(batch.labels),
                                                    batch.batch_size, sample_rate=batch.sample_rate)
        loss_f.backward()
        assert float(loss_f.detach()) == loss_r
    for name in rows_tables.names:
        a, b = _entries(rows_tables.tables[name]), _entries(fused_tables.tables[name])
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_script_prints_one_line_per_step(ex, capsys):
    ex.main(["--steps", "2", "--batch-size", "128", "--ids", "500"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[:2] for ln in lines] == [["step", "0"], ["step", "1"]]
    assert all("loss/example" in ln and "auc" in ln for ln in lines)
