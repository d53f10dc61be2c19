"""Delivery payloads in append-only segment files beside the SQLite delivery store.

A payload is written once and read once (by the job), so SQLite's B-tree is the wrong home for
it: a 12 KB webhook body spills into overflow pages, goes to the WAL, and is copied again into
the database file at the next checkpoint. Here a whole batch of payloads is one ``write`` and
one ``fdatasync``; the rows in SQLite keep only (segment, offset, length). Measured on the
ingress benchmark's payload: about 10 us of CPU per delivery instead of about 40.

Durability: ``append`` returns only after the bytes are on disk, and the store commits the
rows that point at them after that; a crash in between leaves unreferenced bytes, never a row
without its payload. Appends are made under the store's write lock (``BEGIN IMMEDIATE``), so
processes sharing the data directory never interleave: the size of the segment before the
write is where the batch lands. Segments are rotated at ``segment_bytes`` and deleted by
``prune`` once no stored delivery points into them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from pathlib import Path

SEGMENT_BYTES = 64 * 1024 * 1024
_NAME = re.compile(r"^(\d{8})\.log$")


class PayloadLogError(OSError):
    """A payload could not be read back whole (a segment was deleted or truncated by hand)."""


class PayloadLog:
    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._segment = max(self.segments(), default=0)
        self._fd: int | None = None  # the segment this process appends to, kept open

    def segments(self) -> list[int]:
        return sorted(int(m.group(1)) for name in os.listdir(self.dir) if (m := _NAME.match(name)))

    def _path(self, segment: int) -> Path:
        return self.dir / f"{segment:08d}.log"

    def append(self, payloads: Sequence[bytes]) -> tuple[int, list[int]]:
        """Write the payloads one after the other and sync them; -> (segment, offset of each).
        The caller holds the store's write lock."""
        fd, start = self._open_for_append()
        data = memoryview(b"".join(payloads))
        if data:  # a batch of duplicates or skipped deliveries (no payload) has nothing to sync
            while data:
                data = data[os.write(fd, data):]
            os.fdatasync(fd)
        offsets, at = [], start
        for payload in payloads:
            offsets.append(at)
            at += len(payload)
        return self._segment, offsets

    def _open_for_append(self) -> tuple[int, int]:
        """The open segment and its size. A full one is left for the newest segment, which
        another process sharing the directory may have started already; else for a new one."""
        if self._fd is None:
            self._switch(max(self.segments(), default=self._segment))
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        while size >= self.segment_bytes:
            newest = max(self.segments(), default=self._segment)
            self._switch(newest if newest > self._segment else self._segment + 1)
            size = os.fstat(self._fd).st_size
        return self._fd, size

    def _switch(self, segment: int) -> None:
        self.close()
        path = self._path(segment)
        created = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segment = segment
        if created:  # the new name must survive a power cut as well as the bytes
            directory = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def read(self, segment: int, offset: int, length: int) -> bytes:
        try:
            fd = os.open(self._path(segment), os.O_RDONLY)
        except FileNotFoundError:
            raise PayloadLogError(f"payload segment {self._path(segment)} is missing") from None
        try:
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            raise PayloadLogError(f"payload segment {self._path(segment)} is shorter than the "
                                  f"{length} bytes at {offset} a delivery points to")
        return data

    def prune(self, referenced: Collection[int], below: int) -> int:
        """Delete the segments before ``below`` (the newest when the rows were read) that no
        stored delivery points into; -> how many. Segments before the newest are full and no
        longer appended to (``_open_for_append`` moves on from a full one)."""
        deleted = 0
        for segment in self.segments():
            if segment < below and segment not in referenced:
                self._path(segment).unlink(missing_ok=True)
                deleted += 1
        return deleted

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
