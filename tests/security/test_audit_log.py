"""The audit log: a gap-free hash chain, group-committed, whose `verify` names the first bad entry."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from almacen.lake import Lake
from almacen.security import AuditCheck, AuditLog
from almacen.security.audit import APP_ID, COMPACT_EVERY, GENESIS, TABLE, entry_hash



def _record(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.record("ana", "data.read", f"/api/sales?page={i}", {"branches": ["palermo"], "page": i})


def _rewrite(lake: Lake, change) -> None:
    """Tamper as an intruder with write access would: rewrite the Delta table with altered rows."""
    rows = lake.read(TABLE).sort_by("seq").to_pylist()
    lake.overwrite(TABLE, pa.Table.from_pylist(change(rows), schema=lake.read(TABLE).schema))


def test_entries_chain_from_64_zeros_and_each_hash_covers_the_entry(lake: Lake):
    log = AuditLog(lake)
    assert log.record("ana", "login.ok", "ana", {"ip": "10.0.0.7"}) == 1
    assert log.record("cli:root", "user.add", "beto", {"role": "analyst"}) == 2
    first, second = sorted(lake.read(TABLE).to_pylist(), key=lambda r: r["seq"])
    assert first["prev_hash"] == GENESIS
    assert first["details"] == '{"ip":"10.0.0.7"}'
    assert first["hash"] == entry_hash(1, first["at"], "ana", "login.ok", "ana", '{"ip":"10.0.0.7"}', GENESIS)
    assert second["prev_hash"] == first["hash"]
    assert lake.transaction_version(TABLE, APP_ID) == 2


def test_the_hash_is_sha256_of_the_canonical_json_array():
    at = datetime(2026, 11, 23, 14, 5, 0, 120000, tzinfo=timezone.utc)
    text = '[7,"2026-11-23T14:05:00.120000+00:00","ana","export","sales.csv","{}","' + GENESIS + '"]'
    assert hashlib.sha256(text.encode()).hexdigest() == "d60c0df125d6e4ebe9e30a968b2ae859f5ab5da2bd3dfe3d62003ab231614aea"
    assert entry_hash(7, at, "ana", "export", "sales.csv", "{}", GENESIS) == hashlib.sha256(text.encode()).hexdigest()


def test_an_intact_log_verifies_with_its_count_and_last_hash(lake: Lake):
    log = AuditLog(lake)
    _record(log, 5)
    last = lake.read(TABLE).filter(pc.equal(lake.read(TABLE)["seq"], 5))["hash"][0].as_py()
    assert log.verify() == AuditCheck(True, 5, None, "", last)


def test_an_empty_lake_verifies_with_zero_entries(lake: Lake):
    assert AuditLog(lake).verify() == AuditCheck(True, 0, None, "", GENESIS)


def test_an_altered_entry_is_named_by_its_seq(lake: Lake):
    _record(AuditLog(lake), 5)
    _rewrite(lake, lambda rows: [{**r, "actor": "someone-else"} if r["seq"] == 3 else r for r in rows])
    check = AuditLog(lake).verify()
    assert (check.ok, check.first_bad_seq, check.entries) == (False, 3, 2)
    assert check.problem == "its hash does not match its contents (altered)"


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link(lake: Lake):
    _record(AuditLog(lake), 5)

    def forge(rows):
        r = rows[2]
        r["target"] = "/api/nothing"
        r["hash"] = entry_hash(r["seq"], r["at"], r["actor"], r["action"], r["target"], r["details"], r["prev_hash"])
        return rows
    _rewrite(lake, forge)
    check = AuditLog(lake).verify()
    assert (check.ok, check.first_bad_seq) == (False, 4)
    assert check.problem == "its prev_hash does not match the hash of entry 3"


def test_a_deleted_middle_entry_is_reported_missing(lake: Lake):
    _record(AuditLog(lake), 5)
    lake.table(TABLE).delete("seq = 3")
    check = AuditLog(lake).verify()
    assert (check.ok, check.first_bad_seq, check.problem) == (False, 3, "entry 3 is missing (the next entry is 4)")


def test_a_deleted_last_entry_is_reported_missing_at_the_end(lake: Lake):
    _record(AuditLog(lake), 5)
    lake.table(TABLE).delete("seq = 5")
    check = AuditLog(lake).verify()
    assert (check.ok, check.entries, check.first_bad_seq) == (False, 4, 5)
    assert check.problem == "entry 5 is missing at the end (the Delta log records 5)"


def test_recording_after_the_last_entry_was_deleted_refuses_rather_than_fork_the_chain(lake: Lake):
    _record(AuditLog(lake), 3)
    lake.table(TABLE).delete("seq = 3")
    with pytest.raises(RuntimeError, match="entry 3, the last one the Delta log records, is missing"):
        AuditLog(lake).record("ana", "login.ok")


def test_a_record_is_committed_before_it_returns(lake: Lake):
    seq = AuditLog(lake).record("ana", "export", "sales.xlsx", {"rows": 12})
    fresh = AuditLog(lake).entries()
    assert fresh.select(["seq", "actor", "action", "target", "details"]).to_pylist() == [
        {"seq": seq, "actor": "ana", "action": "export", "target": "sales.xlsx", "details": '{"rows":12}'}]


def test_twenty_threads_recording_at_once_make_a_gap_free_valid_chain_in_fewer_commits(lake: Lake):
    log = AuditLog(lake)
    seqs: list[int] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(10):
            seq = log.record(f"user{t}", "data.read", f"/api/kpis?i={i}")
            with lock:
                seqs.append(seq)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(seqs) == list(range(1, 201))
    assert log.verify().ok and log.verify().entries == 200
    assert lake.table(TABLE).version() < 199  # group commit: many entries per Delta commit


CHILD = """
import sys
from almacen.lake import Lake
from almacen.security import AuditLog
log = AuditLog(Lake(sys.argv[1]))
for i in range(30):
    log.record(sys.argv[2], "data.read", str(i))
"""


def test_two_processes_appending_keep_one_chain(lake: Lake):
    mine = AuditLog(lake)
    mine.record("parent", "login.ok")  # this process now caches seq 1 as its head
    children = [subprocess.Popen([sys.executable, "-c", CHILD, lake.root, f"child{i}"]) for i in range(2)]
    assert [c.wait(timeout=120) for c in children] == [0, 0]
    assert mine.record("parent", "logout") == 62
    check = mine.verify()
    assert (check.ok, check.entries) == (True, 62)
    actors = pc.value_counts(lake.read(TABLE)["actor"]).to_pylist()
    assert sorted((a["values"], a["counts"]) for a in actors) == [("child0", 30), ("child1", 30), ("parent", 2)]


def test_entries_are_newest_first_and_filter_by_actor_action_and_time(lake: Lake):
    log = AuditLog(lake)
    log.record("ana", "login.ok")
    log.record("beto", "login.failed", "beto")
    cut = datetime.now(timezone.utc)
    log.record("ana", "data.read", "/api/sales")
    log.record("ana", "export", "sales.csv")
    assert log.entries()["seq"].to_pylist() == [4, 3, 2, 1]
    assert log.entries(limit=2)["seq"].to_pylist() == [4, 3]
    assert log.entries(actor="ana")["seq"].to_pylist() == [4, 3, 1]
    assert log.entries(action="login.failed")["target"].to_pylist() == ["beto"]
    assert log.entries(since=cut, actor="ana")["action"].to_pylist() == ["export", "data.read"]


def test_unknown_actions_and_secret_details_are_refused(lake: Lake):
    log = AuditLog(lake)
    with pytest.raises(ValueError, match="unknown audit action 'login'"):
        log.record("ana", "login")
    with pytest.raises(ValueError, match="audit details may not hold 'password'"):
        log.record("cli:root", "user.add", "ana", {"password": "hunter2hunter2"})
    with pytest.raises(ValueError, match="audit details may not hold 'token_secret'"):
        log.record("cli:root", "token.create", "ana", {"meta": [{"token_secret": "alm_x"}]})
    assert lake.read(TABLE) is None


def test_details_are_canonical_json_with_sorted_keys(lake: Lake):
    AuditLog(lake).record("ana", "data.read", "/api/sales", {"to": "2026-11-30", "branches": ["a"], "from": "2026-11-01"})
    assert json.loads(lake.read(TABLE)["details"][0].as_py()) == {"branches": ["a"], "from": "2026-11-01", "to": "2026-11-30"}
    assert lake.read(TABLE)["details"][0].as_py() == '{"branches":["a"],"from":"2026-11-01","to":"2026-11-30"}'


def test_a_closed_log_refuses_records(lake: Lake):
    log = AuditLog(lake)
    log.record("ana", "login.ok")
    log.close()
    with pytest.raises(RuntimeError, match="is closed; logout by ana not recorded"):
        log.record("ana", "logout")


def test_the_log_compacts_itself_and_stays_valid(lake: Lake):
    log = AuditLog(lake)
    _record(log, COMPACT_EVERY + 5)
    assert len(lake.table(TABLE).file_uris()) < COMPACT_EVERY
    assert "OPTIMIZE" in [h["operation"] for h in lake.table(TABLE).history()]
    assert log.verify().entries == COMPACT_EVERY + 5 and log.verify().ok
    assert log.record("ana", "logout") == COMPACT_EVERY + 6
