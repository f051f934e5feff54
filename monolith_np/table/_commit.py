"""All-or-nothing checkpoints: a save becomes visible in one atomic rename of a small manifest.

A table saved at base path ``P`` (``dir/emb``) is laid out as::

    dir/emb-manifest                        the commit point (one TFRecord record of JSON)
    dir/emb.save-<id>/emb-00000-of-00002    the shards of save <id>: Monolith's names and format,
    dir/emb.save-<id>/emb-00001-of-00002    one EntryDump record per entry
    dir/emb.save-<id>/emb-meta              the shard list in Monolith's MultiHashTableMetadata

A save (:func:`begin`, :meth:`Save.add`, :meth:`Save.commit`) runs under a
lock on ``P`` (a thread lock and an ``flock`` on ``P.lock``, so saves of one
path from threads or processes take turns):

1. it creates ``P.save-<id>`` (64 random bits) and writes every shard there,
   each ``fsync``-ed, then the legacy ``-meta`` file, and ``fsync``-s the
   save directory and ``dir``;
2. it writes the manifest to a temporary name, ``fsync``-s it, renames it over
   ``P-manifest`` and ``fsync``-s ``dir``: this rename is the commit;
3. it removes what no manifest names any more: earlier ``P.save-*``
   directories, the leftovers of saves that were killed, temporary manifests
   and files of the flat layout older releases wrote (``P-meta``,
   ``P-NNNNN-of-NNNNN``).

Until step 2 completes the previous manifest and the directory it names are
untouched, so a reader sees the previous save or the new one, whole. The
manifest names its directory and every shard by basename, with each shard's
entry count, byte length and SHA-256; :func:`read_manifest` and
:func:`read_shard` refuse anything else (a missing, extra, truncated,
replaced or foreign file, a name with a path in it, a file that is not a
regular file) before the table is touched.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import threading

import numpy as np
from google.protobuf.message import DecodeError

from ..proto import MultiHashTableMetadata
from ._wire import frame_records, unframe_records
from .checkpoint import _fsync_directory as _fsync_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the thread lock alone serialises saves
    fcntl = None

#: Format tag in every manifest.
FORMAT = "monolith_np.checkpoint/2"
#: Largest manifest read (a manifest of 100,000 shards is ~15 MB).
MAX_MANIFEST_BYTES = 64 << 20
_SAVE_ID = re.compile(r"^[0-9a-f]{16}$")
#: What follows the base name in the files a save may leave behind: save directories, temporary
#: manifests, and the flat layout of older releases (shards, ``-meta``, their temporary files).
_OWNED = re.compile(r"\.save-(?P<id>[0-9a-f]{16})|-manifest\.(tmp|prev)-[0-9a-f]{16}|(-\d{5}-of-\d{5}|-meta)(-tmp-\d+)?")

_path_locks = {}
_path_locks_guard = threading.Lock()


def manifest_path(path):
    """``path + "-manifest"``: the file whose rename commits a save."""
    return path + "-manifest"


def _save_dir(path, save_id):
    return f"{path}.save-{save_id}"


def _write_file(name, data):
    """Create ``name`` (it must not exist) with ``data``, ``fsync``-ed; a failure removes it."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += os.write(fd, view[done:])
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    os.close(fd)


@contextlib.contextmanager
def _locked(path):
    """Hold the save lock of ``path``: a thread lock, and ``flock`` on ``path + ".lock"`` across processes."""
    key = os.path.abspath(path)
    with _path_locks_guard:
        lock = _path_locks.setdefault(key, threading.Lock())
    with lock:
        if fcntl is None:
            yield
            return
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock


class Save:
    """One save in progress: shards go to a fresh directory, :meth:`commit` makes them the checkpoint."""

    def __init__(self, path):
        self.path = path
        self.save_id = secrets.token_hex(8)
        self.directory = _save_dir(path, self.save_id)
        self.shards = []
        self.committed = False
        self._previous = None  # the previous manifest's link while committing (see _keep_previous)
        os.mkdir(self.directory, 0o755)

    def add(self, name, buffer, offsets):
        """Write shard ``name`` (a basename) holding the records ``buffer[offsets[i]:offsets[i + 1]]``."""
        data = frame_records(buffer, offsets)
        _write_file(os.path.join(self.directory, name), data)
        self.shards.append({"name": name, "entries": int(offsets.size - 1), "bytes": int(data.size),
                            "sha256": hashlib.sha256(data).hexdigest()})

    def commit(self, legacy_meta):
        """Write ``legacy_meta`` (records of the shard list), then the manifest: the save is visible.

        Parameters
        ----------
        legacy_meta : (buffer, offsets)
            The ``MultiHashTableMetadata`` records of the shards, written as
            ``<base>-meta`` beside them (readers of the flat layout).
        """
        base = os.path.basename(self.path)
        _write_file(os.path.join(self.directory, base + "-meta"), frame_records(*legacy_meta))
        _fsync_dir(self.directory)
        parent = os.path.dirname(os.path.abspath(self.path))
        _fsync_dir(parent)  # the save directory's own entry is durable before anything points at it
        manifest = {"format": FORMAT, "save_id": self.save_id, "directory": os.path.basename(self.directory),
                    "entries": sum(s["entries"] for s in self.shards), "shards": self.shards}
        record = np.frombuffer(json.dumps(manifest, sort_keys=True).encode(), np.uint8)
        target = manifest_path(self.path)
        tmp = f"{target}.tmp-{self.save_id}"
        _write_file(tmp, frame_records(record, np.array([0, record.size], np.int64)))
        self._previous = self._keep_previous(target)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
        self.committed = True  # visible now; from here on a failure must not remove the directory
        try:
            _fsync_dir(parent)
        except BaseException:
            self._undo(target, self._previous)
            raise

    def _keep_previous(self, target):
        """Hard-link the current manifest aside, so a commit that fails to become durable can be undone.

        Returns the link, ``None`` if there is no manifest yet, or ``False``
        if the file system cannot link (the commit then cannot be undone).
        """
        previous = f"{target}.prev-{self.save_id}"
        try:
            os.link(target, previous)
        except FileNotFoundError:
            return None
        except OSError:
            return False
        return previous

    def _undo(self, target, previous):
        """Put the previous manifest back after the commit's directory sync failed.

        The new save is visible but may not survive a power loss, so the
        save reports failure; the previous checkpoint (still complete: nothing
        is cleaned before the sync) becomes the checkpoint again and this
        save's directory is then removed. If even that fails, the new save
        stays: complete either way.
        """
        if previous is False:
            return
        try:
            if previous is None:
                os.unlink(target)
            else:
                os.replace(previous, target)
        except OSError:
            return
        self.committed = False

    def abort(self):
        """Remove what this save wrote (best effort: the next save removes what is left)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        if self._previous:
            with contextlib.suppress(OSError):
                os.unlink(self._previous)


def _leftovers(path, keep):
    """Files and directories of ``path`` that the committed save ``keep`` does not use."""
    parent = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    out = []
    for name in os.listdir(parent):
        match = _OWNED.fullmatch(name[len(base):]) if name.startswith(base) else None
        if match and match.group("id") != keep:
            out.append(os.path.join(parent, name))
    return out


def _clean(path, keep):
    for name in _leftovers(path, keep):
        if os.path.isdir(name) and not os.path.islink(name):
            shutil.rmtree(name, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)


@contextlib.contextmanager
def begin(path):
    """Run a save of ``path`` under its lock; yield the :class:`Save`; on success clean up, on failure abort.

    The caller adds every shard and commits inside the ``with`` block. An
    exception before the commit leaves the previous checkpoint as it was
    and removes this save's directory; after the commit, the leftovers of
    earlier saves are removed (a failure there is ignored: the next save
    retries).
    """
    with _locked(path):
        save = Save(path)
        try:
            yield save
        except BaseException:
            if not save.committed:
                save.abort()
            raise
        with contextlib.suppress(OSError):
            _clean(path, save.save_id)


# -- reading ------------------------------------------------------------------------------


def open_regular(name, what, max_bytes=None):
    """Bytes of ``name`` if it is a regular file (not a link, FIFO or device) of at most ``max_bytes``.

    Opened without following a link and without blocking, so a FIFO put in a
    shard's place cannot hang the reader; the size is checked on the open
    file before anything is allocated.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{what} must be a regular file, got a symbolic link: {name}") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{what} must be a regular file, got {_kind(st.st_mode)}: {name}")
        if max_bytes is not None and st.st_size > max_bytes:
            raise ValueError(f"{what} must be at most {max_bytes} bytes, got {st.st_size}: {name}")
        data = np.empty(st.st_size, np.uint8)
        view, done = memoryview(data), 0
        while done < st.st_size:
            n = os.readv(fd, [view[done:]])
            if n == 0:
                raise ValueError(f"{what} changed while it was read (shorter than its {st.st_size} bytes): {name}")
            done += n
        return data
    finally:
        os.close(fd)


def _kind(mode):
    for test, word in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return "not a regular file"


def plain_name(name, what):
    """``name`` if it is a plain file name (no directory part, not ``.``/``..``); ValueError otherwise."""
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name
            or os.path.basename(name) != name):
        raise ValueError(f"{what} must be a plain file name, got {name!r}")
    return name


def read_manifest(path):
    """The committed manifest of ``path`` as a dict, or None when there is none; ValueError when damaged."""
    name = manifest_path(path)
    if not os.path.lexists(name):
        return None
    data = open_regular(name, "the checkpoint manifest", MAX_MANIFEST_BYTES)
    buffer, offsets = unframe_records(data, name, 1)
    try:
        manifest = json.loads(buffer.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{name} must hold a checkpoint manifest, got undecodable JSON ({exc})") from None
    return _checked_manifest(manifest, name)


def _checked_manifest(m, name):
    def bad(what):
        return ValueError(f"{name} must be a checkpoint manifest of format {FORMAT!r}, got {what}")

    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise bad(f"format {m.get('format') if isinstance(m, dict) else type(m).__name__!r}")
    if not isinstance(m.get("save_id"), str) or not _SAVE_ID.match(m["save_id"]):
        raise bad(f"save_id {m.get('save_id')!r}")
    directory = plain_name(m.get("directory"), f"{name}: directory")
    if directory != os.path.basename(_save_dir(name[:-len("-manifest")], m["save_id"])):
        raise bad(f"directory {directory!r} of another save or table")
    shards = m.get("shards")
    if not isinstance(shards, list) or not shards:
        raise bad("no shard list")
    seen = set()
    for s in shards:
        if not isinstance(s, dict) or set(s) != {"name", "entries", "bytes", "sha256"}:
            raise bad(f"shard {s!r}")
        plain_name(s["name"], f"{name}: shard name")
        if s["name"] in seen:
            raise bad(f"shard {s['name']!r} twice")
        seen.add(s["name"])
        for key in ("entries", "bytes"):
            if type(s[key]) is not int or s[key] < 0:
                raise bad(f"{key} {s[key]!r} of shard {s['name']!r}")
        if not isinstance(s["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", s["sha256"]):
            raise bad(f"sha256 {s['sha256']!r} of shard {s['name']!r}")
    if type(m.get("entries")) is not int or m["entries"] != sum(s["entries"] for s in shards):
        raise bad(f"entries {m.get('entries')!r} (the shards hold {sum(s['entries'] for s in shards)})")
    return m


def shard_path(path, manifest, shard):
    """The file of ``shard`` (an entry of ``manifest["shards"]``) of the checkpoint at ``path``."""
    return os.path.join(os.path.dirname(os.path.abspath(path)), manifest["directory"], shard["name"])


def read_shard(path, manifest, shard):
    """Bytes of ``shard`` of ``manifest``, checked: a regular file of its length and SHA-256."""
    name = shard_path(path, manifest, shard)
    data = open_regular(name, "a checkpoint shard", shard["bytes"])
    if data.size != shard["bytes"] or hashlib.sha256(data).hexdigest() != shard["sha256"]:
        raise ValueError(f"{name} must be the shard the manifest names ({shard['bytes']} bytes, SHA-256 "
                         f"{shard['sha256'][:16]}...), got {data.size} bytes with another content "
                         f"(a shard of another save or table, or damaged)")
    return data


# -- the flat layout of older releases and Monolith ------------------------------------

#: Suffix of a shard file in the flat layout: `-KKKKK-of-NNNNN`.
SHARD = re.compile(r"-(\d{5})-of-(\d{5})$")


def shard_files(path):
    """Sorted ``path-NNNNN-of-NNNNN`` files."""
    prefix = os.path.basename(path)
    return sorted(n for n in glob.glob(glob.escape(path) + "-*-of-*")
                  if os.path.basename(n).startswith(prefix) and SHARD.search(n[len(path):]))


def flat_shards(path):
    """``[(file, records it must hold or None)]`` of a checkpoint in the flat layout (``path-meta`` or shards)."""
    meta = path + "-meta"
    if os.path.lexists(meta):
        buffer, offsets = unframe_records(open_regular(meta, "the checkpoint's -meta file", MAX_MANIFEST_BYTES),
                                          meta)
        out = []
        for k in range(offsets.size - 1):
            try:
                m = MultiHashTableMetadata.FromString(buffer[offsets[k]:offsets[k + 1]].tobytes())
            except DecodeError:
                raise ValueError(f"{meta} must hold MultiHashTableMetadata records, got an undecodable "
                                 f"record {k}") from None
            name = plain_name(m.table_name, f"{meta}: record {k}'s table_name")
            out.append((os.path.join(os.path.dirname(path), name), int(m.num_entries)))
        return out
    names = shard_files(path)
    if not names:
        raise FileNotFoundError(f"path must name a checkpoint written by save(), got {path!r} "
                                f"(no {path}-manifest, no {path}-meta and no {path}-NNNNN-of-NNNNN shard files)")
    totals = {SHARD.search(os.path.basename(n)).group(2) for n in names}
    if len(totals) != 1 or len(names) != int(next(iter(totals))):
        raise ValueError(f"path must have all its shards, got {len(names)} files for {sorted(totals)} shards")
    return [(n, None) for n in names]
