"""``monolith_np.warmup`` / ``monolith-np warmup`` and the first-use compile notice, in fresh processes and caches."""

import os
import subprocess
import sys

import pytest

import monolith_np
from monolith_np import _command_line, _compile_notice
from monolith_np._warmup import FEATURES

COUNT_COMPILES = """
import numpy as np
from numba.core import event
import monolith_np as mnp
ours = []
class L(event.Listener):
    def on_start(self, ev):
        f = ev.data["dispatcher"].py_func
        if f.__module__.startswith("monolith_np"):
            ours.append(f.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", L())
lr = mnp.CosineDecay(0.1, 1000)
lr(3); lr(np.arange(16)); lr(np.arange(1 << 20))  # scalar, small and large (parallel) calls
print(len(ours), sorted(set(ours)))
"""


def _env(cache, **extra):
    return dict(os.environ, MONOLITH_NP_CACHE_DIR=str(cache), NUMBA_CACHE_DIR=str(cache), **extra)


def _python(code, env):
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


def test_a_warmed_feature_compiles_nothing_in_a_new_process(tmp_path):
    cold = _python(COUNT_COMPILES, _env(tmp_path / "cold"))
    assert int(cold.stdout.split()[0]) > 0  # the check can fail: a fresh cache compiles
    warm_cache = tmp_path / "warm"
    out = subprocess.run([sys.executable, "-m", "monolith_np._warmup", "schedules"], env=_env(warm_cache),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    warm = _python(COUNT_COMPILES, _env(warm_cache))
    assert warm.stdout.split()[0] == "0", warm.stdout


def test_warmup_runs_features_in_processes_and_reports_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("MONOLITH_NP_CACHE_DIR", str(tmp_path))
    seconds = monolith_np.warmup(["ragged", "sampling"], processes=2)
    assert list(seconds) == ["ragged", "sampling"] and all(s > 0 for s in seconds.values())


@pytest.mark.parametrize("features", ["nope", ["ragged", "nope"], []])
def test_unknown_features_are_refused(features):
    with pytest.raises(ValueError, match="features must be names out of tables"):
        monolith_np.warmup(features)


@pytest.mark.parametrize("processes", [0, -1, 1.5, True, "2"])
def test_bad_process_counts_are_refused(processes):
    with pytest.raises(ValueError, match="processes must be a positive integer"):
        monolith_np.warmup("ragged", processes=processes)


def test_command_line(capsys):
    assert _command_line.main(["warmup", "--list"]) == 0
    assert capsys.readouterr().out.split() == list(FEATURES)
    assert _command_line.main(["warmup", "nope"]) == 2
    assert "features must be names out of" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        _command_line.main(["--version"])
    assert stop.value.code == 0 and monolith_np.__version__ in capsys.readouterr().out


NOTICE = """
import numpy as np
from monolith_np import _config
_config.COMPILE_NOTICE_SECONDS = 0.0
import monolith_np as mnp
mnp.CosineDecay(0.1, 1000)(np.arange(16))
mnp.reduce_sum(np.ones((6, 4), np.float32), row_lengths=np.array([1, 2, 3]))
"""


def test_a_first_compile_says_so_once(tmp_path):
    first = _python(NOTICE, _env(tmp_path))
    line = _compile_notice.MESSAGE.split("(")[0]
    assert first.stderr.count(line) == 1, first.stderr
    again = _python(NOTICE, _env(tmp_path))  # everything cached now: nothing compiles, nothing said
    assert line not in again.stderr
    quiet = _python(NOTICE, _env(tmp_path / "fresh", MONOLITH_NP_COMPILE_NOTICE="0"))
    assert line not in quiet.stderr
