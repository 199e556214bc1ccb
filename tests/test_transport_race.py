"""Two devices pushing at once: losing the race is PushRejected, in every way git says it.

The remote is a bare hub in tmp_path; real ``git`` on both sides. A pre-receive hook that
waits for a go-ahead holds one push between git's check and its ref update, so the other
push moves the branch in that window: that is how "atomic transaction failed" is made on
purpose, not by luck.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from gitsync.gitproc import GitResult
from gitsync.remoteurl import parse_url
from gitsync.transport import PushRejected, Transport, TransportError, _lost_race, _push_refused
from tests.helpers import fsck_clean

ROUNDS = 30
MAIN = "refs/heads/main"
TRACKING = "refs/remotes/origin/main"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def commit(repo: Path, name: str) -> str:
    (repo / name).write_text(f"{name}\n")
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"write {name}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    hub = tmp_path / "hub.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(hub))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(hub), str(seed))
    commit(seed, "seed.txt")
    git(seed, "push", "-q", "origin", "HEAD:main")
    return hub


def clone(hub: Path, path: Path) -> Path:
    git(hub.parent, "clone", "-q", str(hub), str(path))
    return path


# -- a real race, many times -------------------------------------------------------------------


def test_concurrent_pushes_only_ever_fail_as_push_rejected(hub: Path, tmp_path: Path) -> None:
    devices = [clone(hub, tmp_path / name) for name in ("laptop", "desktop")]
    start = threading.Barrier(len(devices), timeout=60)
    reasons: list[str] = []
    other_errors: list[BaseException] = []
    lock = threading.Lock()

    def device(repo: Path) -> None:
        t = Transport(repo)
        try:
            for i in range(ROUNDS):
                commit(repo, f"{repo.name}-{i}.txt")
                start.wait()  # both push at the same moment, every round
                for _attempt in range(20):
                    try:
                        t.push("origin", "HEAD", "main", expect=git(repo, "rev-parse", TRACKING))
                        break
                    except PushRejected as e:
                        with lock:
                            reasons.append(e.reason)
                        assert t.fetch("origin", "main", into=TRACKING)
                        git(repo, "merge", "-q", "--no-edit", TRACKING)
                else:
                    raise AssertionError(f"{repo.name} never got round {i} pushed")
        except BaseException as e:
            with lock:
                other_errors.append(e)
            start.abort()

    threads = [threading.Thread(target=device, args=(r,)) for r in devices]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert not [th for th in threads if th.is_alive()]
    assert other_errors == [], other_errors
    assert reasons, "the devices never raced: the test proved nothing"
    # every commit of both devices reached the hub, nothing was overwritten
    files = set(git(hub, "ls-tree", "--name-only", "main").splitlines())
    assert files == {"seed.txt"} | {f"{r.name}-{i}.txt" for r in devices for i in range(ROUNDS)}
    fsck_clean(hub)
    print("rejections:", len(reasons), "reasons:", sorted(set(reasons)))


# -- each form on purpose ----------------------------------------------------------------------


HOLD_HOOK = """#!/bin/sh
# Holds a push whose hub has a 'hold' file until the test writes 'release'.
if [ -f "$GIT_DIR/hold" ]; then
    rm -f "$GIT_DIR/hold"; : > "$GIT_DIR/held"
    n=0
    while [ ! -f "$GIT_DIR/release" ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done
fi
cat > /dev/null
exit 0
"""


def _held_push(hub: Path, push: threading.Thread, overtake: object) -> None:
    """Start ``push``, wait until the hub's hook holds it, run ``overtake``, let it go."""
    hook = hub / "hooks" / "pre-receive"
    hook.write_text(HOLD_HOOK)
    hook.chmod(0o755)
    (hub / "hold").write_text("")
    push.start()
    deadline = time.monotonic() + 30
    while not (hub / "held").exists():
        assert time.monotonic() < deadline, "the hook never held the push"
        assert push.is_alive(), "the push ended before the hook held it"
        time.sleep(0.02)
    assert callable(overtake)
    overtake()
    (hub / "release").write_text("")
    push.join(60)
    assert not push.is_alive()


@pytest.mark.parametrize("new_branch", [False, True])
def test_push_overtaken_inside_the_hub_is_push_rejected(hub: Path, tmp_path: Path,
                                                        new_branch: bool) -> None:
    ref = "refs/heads/fresh" if new_branch else MAIN
    laptop, desktop = clone(hub, tmp_path / "laptop"), clone(hub, tmp_path / "desktop")
    ours = commit(laptop, "ours.txt")
    theirs = commit(desktop, "theirs.txt")
    caught: list[BaseException] = []

    def push() -> None:
        try:
            Transport(laptop).push("origin", ours, ref, expect=None if new_branch else
                                   git(laptop, "rev-parse", TRACKING))
        except BaseException as e:
            caught.append(e)

    _held_push(hub, threading.Thread(target=push),
               lambda: git(desktop, "push", "-q", "origin", f"HEAD:{ref}"))
    assert len(caught) == 1
    err = caught[0]
    assert isinstance(err, PushRejected), repr(err)
    assert err.reason == "atomic transaction failed"
    assert ("reference already exists" if new_branch else "but expected") in err.detail
    assert git(hub, "rev-parse", ref) == theirs  # the hub kept the winner


def test_push_meeting_a_held_ref_lock_in_the_hub_is_push_rejected(hub: Path,
                                                                  tmp_path: Path) -> None:
    # Another push is writing the branch right now: its lock file is there.
    laptop = clone(hub, tmp_path / "laptop")
    ours = commit(laptop, "ours.txt")
    lock = hub / "refs" / "heads" / "main.lock"
    # held open, as a live push holds it (an unowned one is cleared)
    with open(lock, "w"), pytest.raises(PushRejected) as info:
        Transport(laptop).push("origin", ours, "main", expect=git(laptop, "rev-parse", TRACKING))
    assert info.value.reason == "atomic transaction failed"
    lock.unlink()
    Transport(laptop).push("origin", ours, "main", expect=None)  # the next round goes through
    assert git(hub, "rev-parse", "main") == ours


def test_declining_hook_is_a_refusal_not_a_race(hub: Path, tmp_path: Path) -> None:
    hook = hub / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    laptop = clone(hub, tmp_path / "laptop")
    ours = commit(laptop, "ours.txt")
    with pytest.raises(TransportError) as info:
        Transport(laptop).push("origin", ours, "main", expect=None)
    assert not isinstance(info.value, PushRejected)
    assert "pre-receive hook declined" in str(info.value)
    assert "pushes are frozen" in info.value.detail


# -- the classifier on git's own words ---------------------------------------------------------

IS_AT = ("remote: error: cannot lock ref 'refs/heads/main': is at "
         "6b222463a92775727ba92d08237218417fe0862d but expected "
         "d6de1b5384a958ec8fb7fb27c53baa216f175fce\n"
         "error: failed to push some refs to '/srv/hub.git'")
EXISTS = ("remote: error: cannot lock ref 'refs/heads/main': reference already exists\n"
          "error: failed to push some refs to '/srv/hub.git'")
LOCKED = ("remote: error: cannot lock ref 'refs/heads/main': Unable to create "
          "'/srv/hub.git/./refs/heads/main.lock': File exists.\nremote: \n"
          "remote: Another git process seems to be running in this repository, e.g.")
NO_RIGHTS = ("remote: error: cannot lock ref 'refs/heads/main': Unable to create "
             "'/srv/hub.git/./refs/heads/main.lock': Permission denied")
FETCH_FIRST = ("hint: Updates were rejected because the remote contains work that you do\n"
               "error: failed to push some refs to '/srv/hub.git'")
RACES = [
    ("[rejected] (fetch first)", FETCH_FIRST, "fetch first"),
    ("[rejected] (non-fast-forward)", "error: failed to push some refs", "non-fast-forward"),
    ("[remote rejected] (atomic transaction failed)", IS_AT, "atomic transaction failed"),
    ("[remote rejected] (atomic transaction failed)", EXISTS, "atomic transaction failed"),
    ("[remote rejected] (atomic transaction failed)", LOCKED, "atomic transaction failed"),
    ("[remote rejected] (failed to update ref)", IS_AT, "failed to update ref"),
    ("[remote rejected] (failed to lock)", "", "failed to lock"),  # git before 2.x
    ("[remote rejected] (incorrect old value provided)", "", "incorrect old value provided"),
    ("[remote rejected] (cannot lock ref 'refs/heads/main': is at 6b22 but expected d6de)", "",
     "cannot lock ref 'refs/heads/main': is at 6b22 but expected d6de"),
]
REFUSALS = [
    ("[remote rejected] (pre-receive hook declined)", "remote: frozen"),
    ("[remote rejected] (hook declined)", ""),
    ("[remote rejected] (branch is currently checked out)",
     "remote: error: refusing to update checked out branch: refs/heads/main"),
    ("[remote rejected] (protected branch hook declined)", "remote: GitLab: protected"),
    ("[remote rejected] (shallow update not allowed)", ""),
    ("[remote rejected] (deny updating a hidden ref)", ""),
    ("[remote rejected] (n/a (unpacker error))", "remote: error: unpack failed"),
    ("[remote rejected] (atomic transaction failed)", NO_RIGHTS),
    ("[remote rejected] (failed to update ref)", "remote: fatal: No space left on device"),
]


def _refused(summary: str, stderr: str) -> TransportError:
    result = GitResult(("git",), 1, f"!\tHEAD:{MAIN}\t{summary}\nDone\n".encode(), stderr)
    return _push_refused(parse_url("/srv/hub.git"), MAIN, summary, "d6de1b5", result)


@pytest.mark.parametrize(("summary", "stderr", "reason"), RACES)
def test_each_way_git_says_the_remote_moved_is_push_rejected(summary: str, stderr: str,
                                                             reason: str) -> None:
    err = _refused(summary, stderr)
    assert isinstance(err, PushRejected)
    assert err.reason == reason
    assert err.expected == "d6de1b5"
    assert "will fetch, merge and push again" in str(err)


@pytest.mark.parametrize(("summary", "stderr"), REFUSALS)
def test_a_refusal_stays_a_transport_error(summary: str, stderr: str) -> None:
    err = _refused(summary, stderr)
    assert type(err) is TransportError
    assert "refused the update" in err.message
    assert not _lost_race(summary, summary[summary.find("(") + 1:-1], stderr)
