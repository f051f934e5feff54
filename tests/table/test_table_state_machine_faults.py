"""Checkpoints under injected faults, against the dict model of ``test_table_state_machine``.

``CheckpointFaultMachine`` is ``TableMachine`` (its batch rules and dict
model) with checkpoints at two paths, each with the model's snapshot of its
last successful save:

* ``save``: a save that completes; the path's snapshot becomes the model's
  unexpired entries (a save leaves expired ones out);
* ``save_with_fault``: ``ENOSPC`` or ``EIO`` at a drawn file-system change of
  the save, or a crash there (every later change fails too, as after
  ``kill -9``), by the patched file layer of ``test_checkpoint_commit``. The
  call raises, the table is unchanged, and the path restores to its last
  snapshot, or has no checkpoint when it had none (``restore`` raises
  ``FileNotFoundError`` and changes nothing). An I/O error after the
  commit (the manifest's rename; its directory sync) undoes it, so the
  previous save is the checkpoint again; a crash there leaves the new save
  as the checkpoint; a drawn step
  past the save's last change, or an error in the cleanup after the commit
  (ignored), leaves a completed save;
* ``restore``: into the live table (an upsert: entries not in the checkpoint
  stay) or into a cleared one;
* ``restore_with_read_error``: ``EIO`` at a drawn read (the manifest's or a
  shard's): ``OSError``, and the table unchanged;
* ``restore_damaged_manifest`` / ``restore_damaged_shard``: a byte flipped,
  or the file cut short at a drawn place: ``ValueError`` naming the file, and
  the table unchanged (the damage is undone afterwards).

After every step the table equals the model: its ids, values, timestamps and
``max_update_ts``. ``MONOLITH_NP_FAULT_EXAMPLES`` sets the number of examples
(30 by default).
"""

from __future__ import annotations

import errno
import os
import re
import shutil

import numpy as np
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from test_checkpoint_commit import Crash, FaultyFiles, _content, _version
from test_table_state_machine import TableMachine

from monolith_np.table import EmbeddingHashTable, _commit

EXAMPLES = int(os.environ.get("MONOLITH_NP_FAULT_EXAMPLES", "30"))
PATHS = ("a", "b")
SAVE_FAULTS = (errno.ENOSPC, errno.EIO, None)  # None: a crash


class CommitWatch(FaultyFiles):
    """:class:`FaultyFiles` that also notes whether the manifest's rename (the commit) ran."""

    committed = False

    def _call(self, real, args, kwargs, changes=True):
        out = super()._call(real, args, kwargs, changes)
        if real.__name__ == "replace" and os.fspath(args[1]).endswith("-manifest"):
            self.committed = True
        return out


def _failing_reads(monkeypatch, at):
    """Make the ``at``-th ``os.readv`` (how a restore reads its files) raise ``EIO``."""
    real, calls = os.readv, [0]

    def readv(fd, buffers):
        k, calls[0] = calls[0], calls[0] + 1
        if k == at:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd, buffers)

    monkeypatch.setattr(os, "readv", readv)


def _assert_holds(table, entries):
    """``table`` holds exactly ``entries`` (id -> [values, time])."""
    ids, values, _, stamps = table.export()
    assert sorted(ids.tolist()) == sorted(entries)
    for key, v, t in zip(ids.tolist(), values, stamps.tolist()):
        np.testing.assert_array_equal(v, entries[key][0])
        assert t == entries[key][1]


class CheckpointFaultMachine(TableMachine):
    # Rules of the base machine left out, so that about half the steps are checkpoints: the read-only
    # ones (the invariant below checks more after every step), and ones that the base machine covers
    # (``restore(cleared=True)`` clears; ``save_restore`` restores into a new table).
    lookup = export_matches = reserve = assign_add = clear = save_restore = None

    def __init__(self):
        super().__init__()
        self.snapshots = {}  # path name -> {id: [values, time]} of its last successful save

    def teardown(self):
        if hasattr(self, "dir"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def _path(self, name):
        return str(self.dir / name)

    def _kept(self):
        """Copies of the model's entries that a save writes (the unexpired ones)."""
        days = {1: 0}
        return {k: [v[0].copy(), v[1]] for k, v in self.model.items()
                if self.max_t - v[1] < days.get((k >> 48) & 0x7FFF, 2) * 86400}

    def _state(self):
        return _content(self.table), self.table.max_update_ts

    def _check_checkpoint(self, name):
        """The checkpoint at ``name`` restores to its snapshot, or there is none (restore raises, nothing changes)."""
        path = self._path(name)
        if name not in self.snapshots:
            assert not EmbeddingHashTable.has_checkpoint(path)
            before = self._state()
            with pytest.raises(FileNotFoundError, match="no .*-manifest"):
                self.table.restore(path)
            assert self._state() == before
            return
        fresh = self._new_table(4, 0.75)
        assert fresh.restore(path) == len(self.snapshots[name])
        _assert_holds(fresh, self.snapshots[name])

    def _restored(self, snapshot):
        """The model after a successful restore of ``snapshot``: an upsert."""
        for key, (v, t) in snapshot.items():
            self.model[key] = [v.copy(), t]
        self.max_t = max([self.max_t] + [t for _, t in snapshot.values()])

    def _draw_checkpoint(self, data, nonempty=False):
        """A path with a snapshot (of at least one entry if ``nonempty``), and its manifest."""
        names = sorted(n for n, snap in self.snapshots.items() if snap or not nonempty)
        path = self._path(data.draw(st.sampled_from(names), label="name"))
        return path, _commit.read_manifest(path)

    def _restore_damaged(self, path, target, data):
        """Flip a byte of ``target`` or cut it short: restore raises ValueError naming it, nothing changes."""
        with open(target, "rb") as f:
            raw = f.read()
        how = data.draw(st.sampled_from(("flip", "cut")), label="how")
        if how == "flip":
            damaged = bytearray(raw)
            damaged[data.draw(st.integers(0, len(raw) - 1), label="byte")] ^= data.draw(st.integers(1, 255))
        else:
            damaged = raw[:data.draw(st.integers(0, len(raw) - 1), label="length")]
        before = self._state()
        try:
            with open(target, "wb") as f:
                f.write(damaged)
            with pytest.raises(ValueError, match=re.escape(os.path.basename(target))):
                self.table.restore(path)
        finally:
            with open(target, "wb") as f:
                f.write(raw)
        assert self._state() == before
        return how

    # -- rules ------------------------------------------------------------------------------------

    @rule(name=st.sampled_from(PATHS), shards=st.integers(1, 3))
    def save(self, name, shards):
        kept = self._kept()
        assert self.table.save(self._path(name), num_shards=shards) == len(kept)
        self.snapshots[name] = kept
        event("save")

    @rule(name=st.sampled_from(PATHS), shards=st.integers(1, 3), fault=st.sampled_from(SAVE_FAULTS), data=st.data())
    def save_with_fault(self, name, shards, fault, data):
        at = data.draw(st.integers(0, 4 * shards + 16), label="at")
        kept, before = self._kept(), self._state()
        raised = None
        with pytest.MonkeyPatch.context() as m:
            files = CommitWatch(m, at=at, error=fault)
            try:
                self.table.save(self._path(name), num_shards=shards)
            except (OSError, Crash) as exc:
                raised = exc
        kind = "crash" if fault is None else errno.errorcode[fault]
        assert self._state() == before
        if raised is None:  # the step is past the save's end, or it was a cleanup error (ignored)
            assert fault is not None or at >= files.count
            self.snapshots[name] = kept
            event(f"save, {kind} past its end or in its cleanup: completed")
        else:
            if fault is None:
                assert isinstance(raised, Crash)
            else:
                assert isinstance(raised, OSError) and raised.errno == fault
            if files.committed and fault is None:  # killed after the rename: the new save stands
                self.snapshots[name] = kept
            event(f"save, {kind} {'after' if files.committed else 'before'} the commit: raised")
        self._check_checkpoint(name)

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data(), cleared=st.booleans())
    def restore(self, data, cleared):
        name = data.draw(st.sampled_from(sorted(self.snapshots)), label="name")
        if cleared:
            self.table.clear()
            self.model.clear()
        assert self.table.restore(self._path(name)) == len(self.snapshots[name])
        self._restored(self.snapshots[name])
        event("restore")

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def restore_with_read_error(self, data):
        path, manifest = self._draw_checkpoint(data)
        reads = 1 + sum(1 for s in manifest["shards"] if s["bytes"])  # one per file; none for an empty one
        at = data.draw(st.integers(0, reads - 1), label="at")
        before = self._state()
        with pytest.MonkeyPatch.context() as m:
            _failing_reads(m, at)
            with pytest.raises(OSError) as exc:
                self.table.restore(path)
        assert exc.value.errno == errno.EIO
        assert self._state() == before
        event("restore, EIO: raised")

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def restore_damaged_manifest(self, data):
        path, _ = self._draw_checkpoint(data)
        how = self._restore_damaged(path, _commit.manifest_path(path), data)
        event(f"restore, manifest {how}: ValueError")

    @precondition(lambda self: any(self.snapshots.values()))
    @rule(data=st.data())
    def restore_damaged_shard(self, data):
        path, manifest = self._draw_checkpoint(data, nonempty=True)
        shard = data.draw(st.sampled_from([s for s in manifest["shards"] if s["bytes"]]), label="shard")
        how = self._restore_damaged(path, _commit.shard_path(path, manifest, shard), data)
        event(f"restore, shard {how}: ValueError")

    @invariant()
    def table_equals_model(self):
        _assert_holds(self.table, self.model)
        assert self.table.max_update_ts == self.max_t


CheckpointFaultMachine.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=20, deadline=None)
test_checkpoints_under_faults_against_dict_model = pytest.mark.slow(CheckpointFaultMachine.TestCase)


def test_a_save_that_raises_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """An EIO from the directory sync after the commit's rename undoes the commit (the machine found it)."""
    path = str(tmp_path / "emb")
    _version(1).save(path)
    new = _version(2)
    real_replace, real_fsync = os.replace, os.fsync
    renamed = []

    def replace(src, dst, *a, **k):
        real_replace(src, dst, *a, **k)
        renamed.append(dst)

    def fsync(fd):
        if any(d.endswith("-manifest") for d in renamed):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError):
        new.save(path)
    monkeypatch.undo()
    table = EmbeddingHashTable(new.entry)
    table.restore(path)
    assert _content(table) == _content(_version(1))
