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
    d.touch("doc.pdf", 0.6)
    assert d.due(1.2) == []  # doc.pdf has not settled: wait so both land together
    assert d.due(1.6) == ["doc.docx", "doc.pdf"]


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
