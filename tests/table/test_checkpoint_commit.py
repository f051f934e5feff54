"""A save is all or nothing: crashes, injected I/O errors and concurrent saves never lose or mix a checkpoint.

Every test saves version 1 of a table, then attempts version 2 (or more) in a
hostile way, and checks that :meth:`restore` gives exactly one complete
version, the previous or the new one, bit for bit:

* a crash after every single file-system change of a save (the patched file
  layer turns every later change into the "crash" too, so nothing runs after
  it, as after ``kill -9``), for 1, 2 and 8 shards;
* ``ENOSPC`` and ``EIO`` injected at every write, ``fsync``, rename, ...;
* real ``kill -9`` of a saving process at random times (``KILL_ROUNDS`` = 20
  per shard count, more with ``MONOLITH_NP_KILL_ROUNDS``);
* saves from several threads and processes at once.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer, SgdOptimizer
from monolith_np.table import EmbeddingHashTable
from monolith_np.table import _commit

KILL_ROUNDS = int(os.environ.get("MONOLITH_NP_KILL_ROUNDS", "20"))
DIM = 3


def _segments():
    return [(2, RandomUniformInitializer(seed=1), AdagradOptimizer(initial_accumulator_value=0.1)),
            (1, RandomUniformInitializer(seed=2), SgdOptimizer(learning_rate=0.5))]


def _version(v, n=40):
    """Table of version ``v``: ``n + v`` ids whose rows and timestamps encode ``v``."""
    table = EmbeddingHashTable(_segments())
    ids = np.arange(n + v, dtype=np.int64) * 7919 - 100
    table.assign(ids, (v * 1000 + np.arange(ids.size * DIM, dtype=np.float32)).reshape(-1, DIM), update_time=v)
    table.apply_gradients(ids[::3], np.full((ids[::3].size, DIM), 0.25 * v, np.float32), update_time=v)
    return table


def _content(table):
    ids, values, state, ts = table.export()
    order = np.argsort(ids)
    return (ids[order].tolist(), values[order].tobytes(), [{k: a[order].tobytes() for k, a in sorted(st.items())}
                                                          for st in state], ts[order].tolist())


CONTENT = {}


def _expected(v):
    if v not in CONTENT:
        CONTENT[v] = _content(_version(v))
    return CONTENT[v]


def _restored_version(path, allowed):
    """The version a fresh table restores from ``path``; fails unless it is one of ``allowed``, whole."""
    table = EmbeddingHashTable(_segments())
    table.restore(path)
    got = _content(table)
    for v in allowed:
        if got == _expected(v):
            return v
    pytest.fail(f"restored a checkpoint that is none of the versions {allowed} (mixed or damaged)")


def _leftovers(tmp_path, base="emb"):
    """What a completed save must not leave: other save directories, temporary or flat-layout files."""
    names = sorted(os.listdir(tmp_path))
    saves = [n for n in names if n.startswith(base + ".save-")]
    extra = [n for n in names if n not in (base + "-manifest", base + ".lock") and n not in saves]
    return saves, extra


# -- a crash at every step -----------------------------------------------------------------------


class Crash(BaseException):
    """Stands for the process dying: raised by the patched file layer, caught by nobody but the test."""


#: File-system calls that change something; after the crash point every one of them "dies" too.
_CHANGES = ("write", "fsync", "replace", "rename", "link", "mkdir", "unlink", "rmdir")


class FaultyFiles:
    """Patch ``os`` so that the ``at``-th change fails (``error`` None: a crash, else that OSError)."""

    def __init__(self, monkeypatch, at=None, error=None):
        self.count, self.at, self.error, self.crashed = 0, at, error, False
        for name in _CHANGES:
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name)))
        real_open = os.open
        monkeypatch.setattr(os, "open", lambda path, flags, *a, **k: self._call(
            real_open, (path, flags) + a, k, changes=bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))))

    def _wrap(self, real):
        return lambda *a, **k: self._call(real, a, k)

    def _call(self, real, args, kwargs, changes=True):
        if changes:
            if self.crashed:
                raise Crash()
            k, self.count = self.count, self.count + 1
            if k == self.at:
                if self.error is None:
                    self.crashed = True
                    raise Crash()
                raise OSError(self.error, os.strerror(self.error))
        return real(*args, **kwargs)


def _save_changes(tmp_path, monkeypatch, shards):
    """The file-system changes of a save over an existing checkpoint (its own leftovers cleaned)."""
    path = str(tmp_path / "count" / "emb")
    os.makedirs(os.path.dirname(path))
    _version(1).save(path, shards)
    table = _version(2)  # built (and every kernel compiled) before the file layer is patched
    with monkeypatch.context() as m:
        files = FaultyFiles(m)
        table.save(path, shards)
    return files.count


@pytest.mark.parametrize("shards", [1, 2, 8])
def test_a_crash_after_any_change_leaves_the_previous_or_the_new_checkpoint(tmp_path, monkeypatch, shards):
    total = _save_changes(tmp_path, monkeypatch, shards)
    assert total >= 3 * shards + 5
    seen, new = [], _version(2)
    for at in range(total):
        path = str(tmp_path / f"r{at}" / "emb")
        os.makedirs(os.path.dirname(path))
        _version(1).save(path, shards)
        with monkeypatch.context() as m:
            files = FaultyFiles(m, at=at)
            with pytest.raises(Crash):
                new.save(path, shards)
            assert files.crashed
        seen.append(_restored_version(path, (1, 2)))
        # the next save completes and removes whatever the crash left
        _version(3).save(path, shards)
        assert _restored_version(path, (3,)) == 3
        saves, extra = _leftovers(os.path.dirname(path))
        assert len(saves) == 1 and not extra, (saves, extra)
    assert seen[0] == 1 and seen[-1] == 2 and seen == sorted(seen)  # old until the commit, new after it


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
@pytest.mark.parametrize("shards", [1, 3])
def test_an_io_error_at_any_change_keeps_a_complete_checkpoint(tmp_path, monkeypatch, shards, error):
    total = _save_changes(tmp_path, monkeypatch, shards)
    new = _version(2)
    for at in range(total):
        path = str(tmp_path / f"r{at}" / "emb")
        os.makedirs(os.path.dirname(path))
        _version(1).save(path, shards)
        failed = False
        with monkeypatch.context() as m:
            FaultyFiles(m, at=at, error=error)
            try:
                new.save(path, shards)
            except OSError as exc:
                assert exc.errno == error
                failed = True
        v = _restored_version(path, (1, 2))
        if failed and v == 1:  # failed before the commit: its files are gone
            saves, extra = _leftovers(os.path.dirname(path))
            assert len(saves) == 1 and not extra, (saves, extra)
        assert v == (1 if failed else 2)  # a save that raises leaves the previous checkpoint
        _version(3).save(path, shards)
        assert _restored_version(path, (3,)) == 3
        saves, extra = _leftovers(os.path.dirname(path))
        assert len(saves) == 1 and not extra


# -- kill -9 -------------------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import sys
    sys.path[:0] = {paths!r}
    from test_checkpoint_commit import _version
    path, shards = sys.argv[1], int(sys.argv[2])
    tables = [_version(v, n=3000) for v in (1, 2)]
    v = 0
    while True:
        tables[v % 2].save(path, shards)
        print(v % 2 + 1, flush=True)
        v += 1
""")


@pytest.mark.parametrize("shards", [1, 2, 8])
def test_kill_9_at_random_points(tmp_path, shards):
    """A subprocess saves two versions in a loop and is killed by SIGKILL at a random time.

    A fresh interpreter per round, not a fork of the test process: numba's
    thread-pool launch lock is a process-shared semaphore, so a forked child
    killed while holding it would leave the test process waiting forever.
    """
    rng = random.Random(shards)
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(paths=[os.path.dirname(__file__)] + sys.path))
    for round_ in range(KILL_ROUNDS):
        path = str(tmp_path / f"r{round_}" / "emb")
        os.makedirs(os.path.dirname(path))
        child = subprocess.Popen([sys.executable, str(script), path, str(shards)], stdout=subprocess.PIPE, text=True)
        try:
            first = child.stdout.readline()  # one save completed: from now on there is a checkpoint
            assert first.strip() == "1", first
            time.sleep(rng.uniform(0.0, 0.15))
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
        for v in (1, 2):  # content of the big versions, computed once
            CONTENT.setdefault(("big", v), _content(_version(v, n=3000)))
        table = EmbeddingHashTable(_segments())
        table.restore(path)
        assert _content(table) in (CONTENT[("big", 1)], CONTENT[("big", 2)])


# -- concurrent saves ----------------------------------------------------------------------------


def test_concurrent_saves_from_threads_leave_one_complete_save(tmp_path):
    path = str(tmp_path / "emb")
    tables = {v: _version(v) for v in (1, 2, 3, 4)}
    finished = []

    def save(v):
        for _ in range(3):
            tables[v].save(path, 1 + v % 3)
            finished.append(v)

    threads = [threading.Thread(target=save, args=(v,)) for v in tables]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _restored_version(path, tuple(tables)) == finished[-1]  # the last save to finish wins
    saves, extra = _leftovers(tmp_path)
    assert len(saves) == 1 and not extra


def test_concurrent_saves_from_processes(tmp_path):
    os.makedirs(tmp_path / "ckpt")
    path = str(tmp_path / "ckpt" / "emb")
    script = tmp_path / "saver.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path[:0] = {[os.path.dirname(__file__)] + sys.path!r}
        from test_checkpoint_commit import _version
        table = _version(int(sys.argv[2]))
        for _ in range(4):
            table.save(sys.argv[1], 2)
    """))
    children = [subprocess.Popen([sys.executable, str(script), path, str(v)]) for v in (1, 2)]
    assert [c.wait() for c in children] == [0, 0]
    _restored_version(path, (1, 2))
    saves, extra = _leftovers(tmp_path / "ckpt")
    assert len(saves) == 1 and not extra


# -- the protocol's own checks -------------------------------------------------------------------


def test_a_failed_save_removes_its_directory_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / "emb")
    _version(1).save(path)
    new = _version(2)
    real = os.replace

    def full(src, dst, *a, **k):
        if dst.endswith("-manifest"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        new.save(path)
    monkeypatch.undo()
    assert _restored_version(path, (1, 2)) == 1
    saves, extra = _leftovers(tmp_path)
    assert len(saves) == 1 and not extra


def test_the_flat_layout_of_older_releases_is_still_read_and_replaced(tmp_path):
    from monolith_np.proto import MultiHashTableMetadata
    from monolith_np.table.checkpoint import save_entries, sharded_file_name, write_records

    table = _version(1)
    ids, values, state, ts = table.export()
    path = str(tmp_path / "emb")
    meta = []
    for k, part in enumerate(np.array_split(np.arange(ids.size), 2)):
        name = sharded_file_name(path, k, 2)
        save_entries(name, table.entry, ids[part], values[part], [{key: a[part] for key, a in st.items()}
                                                                 for st in state], ts[part])
        meta.append(MultiHashTableMetadata(table_name=os.path.basename(name), num_entries=part.size))
    records = [m.SerializeToString() for m in meta]
    write_records(path + "-meta", np.frombuffer(b"".join(records), np.uint8),
                  np.cumsum([0] + [len(r) for r in records]))
    assert EmbeddingHashTable.has_checkpoint(path)
    assert _restored_version(path, (1,)) == 1
    _version(2).save(path, 3)  # the new layout replaces the flat files
    assert _restored_version(path, (2,)) == 2
    saves, extra = _leftovers(tmp_path)
    assert len(saves) == 1 and not extra


def test_cleanup_leaves_other_tables_alone(tmp_path):
    for name in ("emb", "emb2", "emb-x"):
        _version(1).save(str(tmp_path / name), 2)
    _version(2).save(str(tmp_path / "emb"), 2)
    assert _restored_version(str(tmp_path / "emb2"), (1,)) == 1
    assert _restored_version(str(tmp_path / "emb-x"), (1,)) == 1


def test_manifest_names_its_save(tmp_path):
    path = str(tmp_path / "emb")
    _version(1).save(path, 2)
    manifest = _commit.read_manifest(path)
    assert manifest["entries"] == 41 and [s["name"] for s in manifest["shards"]] == ["emb-00000-of-00002",
                                                                                       "emb-00001-of-00002"]
    assert manifest["directory"] == f"emb.save-{manifest['save_id']}"
    assert sum(s["entries"] for s in manifest["shards"]) == 41
