"""The shared generation, read once a question, comes from a stamp file while it matches (embedded mode).

Real embedded Chroma; two Store objects on one data folder stand for two processes (a server and `rag ingest`).
"""

from __future__ import annotations

from index.store import STAMP, Store


def counting_reads(store: Store) -> list[int]:
    """Count the store's reads of the shared state in Chroma."""
    reads = [0]
    read = store._state

    def counted() -> dict:
        reads[0] += 1
        return read()

    store._state = counted
    return reads


def test_the_generation_is_read_from_chroma_only_when_the_stamp_changes(tmp_path) -> None:
    server, writer = Store(tmp_path), Store(tmp_path)
    with writer.write_lock():
        writer.mark_changed()
    reads = counting_reads(server)
    first = server.generation()
    assert [server.generation() for _ in range(5)] == [first] * 5
    assert reads[0] == 1  # one Chroma read, then the stamp alone
    assert (tmp_path / STAMP).read_text() == str(first)

    with writer.write_lock():
        writer.mark_changed()
    assert server.generation() > first
    assert reads[0] == 2


def test_a_writer_killed_between_chroma_and_the_stamp_is_still_seen(tmp_path) -> None:
    """Killed after the shared state changed but before the stamp says so: readers read Chroma each time."""
    server, writer = Store(tmp_path), Store(tmp_path)
    with writer.write_lock():
        writer.mark_changed()
    before = server.generation()
    writes = []
    write_stamp = writer._write_stamp
    writer._write_stamp = lambda text: (writes.append(text), len(writes) == 1 and write_stamp(text))  # dies after one
    with writer.write_lock():
        writer.mark_changed()
    assert writes[0].startswith("changing")
    reads = counting_reads(server)
    after = server.generation()
    assert after > before
    assert server.generation() == after and reads[0] == 2  # the stamp is not trusted: Chroma read each time

    writer._write_stamp = write_stamp  # the next complete write puts the stamp right again
    with writer.write_lock():
        writer.mark_changed()
    latest = server.generation()
    assert latest > after and server.generation() == latest and reads[0] == 3


def test_a_stale_stamp_left_beside_a_store_is_not_trusted(tmp_path) -> None:
    """A stamp that names another generation (an older writer, a store moved aside) is ignored."""
    (tmp_path / STAMP).write_text("12345")
    store = Store(tmp_path)
    reads = counting_reads(store)
    assert store.generation() == 0 and store.generation() == 0
    assert reads[0] == 2
