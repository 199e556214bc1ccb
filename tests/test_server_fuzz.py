"""The JSON API fuzzed from its own OpenAPI schema (schemathesis + Hypothesis) through a real
uvicorn server: no request, valid or not, gets a 500 or an answer outside the error shape,
and none touches a file outside the folder or leaves the folder's git state dirty.

Bounded for CI: a few dozen examples per operation, in both schemathesis modes (requests
that fit the schema and requests that do not), against the real folder's id (so requests
reach the service) and against made-up ids. ``/api/events`` is left out: it is a stream
that never ends; tests/test_server_events.py covers it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.helpers import git, init_folder, run_cli
from tests.web_helpers import BEARER, folder_id, live_server

EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
SKIP = {"/api/events"}
PATHS = ["notes.txt", "sub", "sub/plan.txt", "", "sub/", "escape/outside.txt", "escape",
         ".git/config", "../outside.txt", "/etc/passwd", "missing.txt", "NOTES.TXT"]
REVS = [None, "HEAD", "1h", "yesterday", "2026-01-01 10:00", "disk", "0" * 40, "HEAD~1"]


def aim(case: schemathesis.Case, path: str, rev: str | None) -> None:
    """Point a generated request at names that exist (or nearly), keeping its other parts."""
    for key, value in (("path", path), ("dir", path), ("rev", rev), ("from", rev),
                       ("to", rev), ("since", rev)):
        if key in (case.query or {}):
            if value is None:
                case.query.pop(key)
            else:
                case.query[key] = value
    if isinstance(case.body, dict) and "path" in case.body:
        case.body["path"] = path
        case.body["rev"] = rev or "HEAD"


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every file under ROOT outside SKIP (the folder): size and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip:
            dirnames[:] = []
            continue
        for name in filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


class Fuzzer:
    """Sends generated requests to a live server and keeps what went wrong."""

    def __init__(self, base: str, session: requests.Session, first: str) -> None:
        self.base = base
        self.session = session
        self.first = first
        self.failures: list[str] = []
        self.statuses = {2: 0, 3: 0, 4: 0, 5: 0}

    def run(self, strategy: st.SearchStrategy[schemathesis.Case], n: int, aiming: bool
            ) -> None:
        @given(case=strategy, path=st.sampled_from(PATHS),
               rev=st.sampled_from([*REVS, self.first]))
        @settings(max_examples=n, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        def send(case: schemathesis.Case, path: str, rev: str | None) -> None:
            if aiming:  # names of the folder, so requests get past the checks
                aim(case, path, rev)
            r = case.call(base_url=self.base, session=self.session, timeout=30)
            where = f"{case.method} {case.formatted_path} {case.query!r}"
            self.statuses[r.status_code // 100] += 1
            if r.status_code >= 500:
                self.failures.append(f"{r.status_code} {where}: {r.text[:200]}")
            elif r.status_code >= 400:
                doc = r.json()
                if set(doc) != {"error"} or set(doc["error"]) != {"code", "message"}:
                    self.failures.append(f"shape {where}: {r.text[:200]}")

        send()


def fuzz_every_operation(fuzzer: Fuzzer, fid: str, examples: dict[GenerationMode, int],
                         *, strict: bool) -> None:
    """Send EXAMPLES requests per generation mode to every operation of the server's own
    schema: valid ones aimed at folder FID, and the same aimed nowhere in particular.
    STRICT (a test): anything unexpected raises; else it is recorded in fuzzer.failures."""
    spec = fuzzer.session.get(f"{fuzzer.base}/openapi.json", timeout=10).json()
    for result in schemathesis.openapi.from_dict(spec).get_all_operations():
        op = result.ok()
        if op.path in SKIP:
            continue
        for mode, n in examples.items():
            for folder, aiming in ((fid, True), (fid, False), (None, False)):
                if aiming and mode != GenerationMode.POSITIVE:
                    continue
                pinned = {"folder": folder} if folder and "{folder}" in op.path else None
                try:
                    fuzzer.run(op.as_strategy(generation_mode=mode, path_parameters=pinned),
                               n, aiming)
                except Unsatisfiable:
                    # Nothing in this operation can be made invalid (no parameters).
                    assert not strict or mode == GenerationMode.NEGATIVE, op.path
                except Exception as e:  # an answer that is not JSON
                    if strict:
                        raise
                    fuzzer.failures.append(f"{op.method} {op.path}: {type(e).__name__}: "
                                           f"{str(e)[:300]}")


def test_fuzzed_requests_never_fail_the_server_or_leave_the_folder(tmp_path: Path,
                                                                   sealed_env: Path) -> None:
    docs = tmp_path / "Docs"
    init_folder(docs, {"notes.txt": "one\n", "report.md": "# r\n"})
    (docs / "sub").mkdir()
    (docs / "sub" / "plan.txt").write_text("plan\n")
    assert run_cli("sync", str(docs))[0] == 0
    (tmp_path / "outside.txt").write_text("sentinel\n")
    (docs / "escape").symlink_to(tmp_path)
    assert run_cli("sync", str(docs))[0] == 0
    before = snapshot(tmp_path, docs)
    fid = folder_id(docs)
    first = git(docs, "rev-list", "--max-parents=0", "HEAD").strip()
    started = time.monotonic()

    with live_server() as srv:
        session = requests.Session()
        session.headers.update(BEARER)
        fuzzer = Fuzzer(f"http://127.0.0.1:{srv.port}", session, first)
        fuzz_every_operation(fuzzer, fid, EXAMPLES, strict=True)
    elapsed = time.monotonic() - started
    assert fuzzer.failures == [], "\n".join(fuzzer.failures[:20])
    assert sum(fuzzer.statuses.values()) > 300, fuzzer.statuses
    assert fuzzer.statuses[2] > 50, fuzzer.statuses  # many reached the service and succeeded
    assert snapshot(tmp_path, docs) == before, "a file outside the folder changed"
    assert (tmp_path / "outside.txt").read_text() == "sentinel\n"
    assert git(docs, "status", "--porcelain", "--untracked-files=all") == ""
    assert elapsed < 120, f"fuzzing took {elapsed:.0f} s"


@pytest.mark.parametrize("mode", [GenerationMode.NEGATIVE])
def test_the_schema_is_valid_openapi(mode: GenerationMode) -> None:
    from tests.web_helpers import client

    spec = client().get("/openapi.json", headers=BEARER).json()
    schema = schemathesis.openapi.from_dict(spec)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert {(o.method.upper(), o.path) for o in ops} == {
        ("GET", "/api/folders"), ("POST", "/api/folders/{folder}/sync"),
        ("POST", "/api/folders/{folder}/pause"), ("POST", "/api/folders/{folder}/resume"),
        ("GET", "/api/folders/{folder}/history"), ("GET", "/api/folders/{folder}/tree"),
        ("GET", "/api/folders/{folder}/deleted"), ("GET", "/api/folders/{folder}/file"),
        ("GET", "/api/folders/{folder}/diff"), ("GET", "/api/folders/{folder}/preview"),
        ("POST", "/api/folders/{folder}/restore"),
        ("GET", "/api/folders/{folder}/conflicts"),
        ("GET", "/api/folders/{folder}/conflicts/{conflict}"),
        ("POST", "/api/folders/{folder}/conflicts/{conflict}/resolve"),
        ("GET", "/api/events")}
    del mode

