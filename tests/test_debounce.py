"""Debounce rules with a fake clock: no sleeping."""

from gitsync.debounce import Debouncer


def test_change_commits_after_quiet_period() -> None:
    d = Debouncer(debounce=1.0, max_delay=10.0, delete_delay=2.0)
    d.touch("a.txt", 0.0)
    assert d.due(0.5) == []
    d.touch("a.txt", 0.8)  # still being written
    assert d.due(1.5) == []
    assert d.next_deadline() == 1.8
    assert d.due(1.8) == ["a.txt"]
    assert len(d) == 0


def test_one_save_of_several_files_is_one_batch() -> None:
    d = Debouncer(1.0, 10.0, 2.0)
    d.touch("doc.docx", 0.0)
    d.touch("doc.pdf", 0.05)
    d.touch("notes.txt", 0.9)  # another save, not yet settled
    assert d.due(0.9) == []
    assert d.next_deadline() == 1.0
    assert d.due(1.0) == ["doc.docx", "doc.pdf"]  # the sidecar is 0.05 s from settling
    assert d.paths == ["notes.txt"]


def test_a_settled_file_does_not_wait_for_a_busy_one() -> None:
    # A log written every 0.25 s must not hold back a document saved every 3 s: each of
    # the document's versions stayed on disk for the debounce, so each is committed before
    # the next save replaces it.
    d = Debouncer(1.0, 10.0, 2.0)
    t, committed = 0.0, []
    while t < 12.0:
        d.touch("busy.log", t)
        if t % 3.0 == 0:
            d.touch("report.txt", t)
        committed += [(round(t, 2), p) for p in d.due(t) if p == "report.txt"]
        t += 0.25
    assert committed == [(1.0, "report.txt"), (4.0, "report.txt"), (7.0, "report.txt"),
                         (10.0, "report.txt")]
    assert "busy.log" in d.paths  # still being written: its batch is forced at max_delay


def test_continuous_writes_still_commit_every_max_delay() -> None:
    d = Debouncer(1.0, 10.0, 2.0)
    t = 0.0
    batches = []
    while t < 25.0:
        d.touch("log.txt", t)
        got = d.due(t)
        if got:
            batches.append((t, got))
        t += 0.25
    assert [round(b[0]) for b in batches] == [10, 20]


def test_delete_is_held_back_longer_than_an_edit() -> None:
    d = Debouncer(1.0, 10.0, 2.0)
    d.touch("report.docx", 0.0, deleted=True)
    assert d.due(1.5) == []
    assert d.due(2.9) == []
    assert d.due(3.0) == ["report.docx"]


def test_office_save_delete_then_rename_into_place_is_one_edit() -> None:
    # Excel: delete the original, then rename the temp file to its name 1.5 s later.
    d = Debouncer(1.0, 10.0, 2.0)
    d.touch("book.xlsx", 0.0, deleted=True)
    assert d.due(1.2) == []  # an ordinary edit would have gone by now
    d.touch("book.xlsx", 1.5, deleted=False)
    assert d.due(2.4) == []
    assert d.due(2.5) == ["book.xlsx"]  # committed once, as whatever is on disk now


def test_forced_batch_keeps_young_deletes_back() -> None:
    d = Debouncer(1.0, 10.0, 2.0)
    for i in range(40):
        d.touch("busy.log", i * 0.25)
    d.touch("old.docx", 9.5, deleted=True)
    assert d.due(10.0) == ["busy.log"]
    assert d.paths == ["old.docx"]


def test_requeue_and_clear() -> None:
    d = Debouncer(1.0, 10.0, 2.0)
    d.requeue(["x"], 5.0)
    assert d.due(5.5) == []
    assert d.due(6.0) == ["x"]
    d.touch("y", 0)
    d.clear()
    assert d.next_deadline() is None
