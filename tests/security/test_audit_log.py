"""The audit log: a gap-free MAC chain, anchored outside the table, group-committed, whose `verify` names the
first bad entry; and the attacks an intruder with write access to the lake's files would try."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from almacen.cli import app
from almacen.config import ConfigError, load_config
from almacen.lake import Lake
from almacen.security import AuditCheck, AuditLog, audit_log
from almacen.security.audit import APP_ID, COMPACT_EVERY, TABLE
from almacen.security.audit_entry import DEMO_AUDIT_KEY, GENESIS, SCHEMA, canonical, checkpoint_mac, entry_hash
from almacen.security.demo import mark_demo_lake
from almacen.simulate import demo_config

WRONG_KEY = b"an-intruders-guess-at-the-audit-key-" + b"?" * 16


def _record(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.record("ana", "data.read", f"/api/sales?page={i}", {"branches": ["palermo"], "page": i})


def _rewrite(lake: Lake, change) -> None:
    """Tamper as an intruder with write access would: rewrite the Delta table with altered rows."""
    rows = lake.read(TABLE).sort_by("seq").to_pylist()
    lake.overwrite(TABLE, pa.Table.from_pylist(change(rows), schema=lake.read(TABLE).schema))


def test_entries_chain_from_64_zeros_and_each_hash_covers_the_entry(lake: Lake, audit_key: bytes):
    log = AuditLog(lake)
    assert log.record("ana", "login.ok", "ana", {"ip": "10.0.0.7"}) == 1
    assert log.record("cli:root", "user.add", "beto", {"role": "analyst"}) == 2
    first, second = sorted(lake.read(TABLE).to_pylist(), key=lambda r: r["seq"])
    assert first["prev_hash"] == GENESIS
    assert first["details"] == '{"ip":"10.0.0.7"}'
    assert first["hash"] == entry_hash(
        audit_key, 1, first["at"], "ana", "login.ok", "ana", '{"ip":"10.0.0.7"}', GENESIS
    )
    assert second["prev_hash"] == first["hash"]
    assert lake.transaction_version(TABLE, APP_ID) == 2


def test_the_hash_is_hmac_sha256_of_the_canonical_json_array():
    at = datetime(2026, 11, 23, 14, 5, 0, 120000, tzinfo=timezone.utc)
    text = '[7,"2026-11-23T14:05:00.120000+00:00","ana","export","sales.csv","{}","' + GENESIS + '"]'
    assert canonical(7, at, "ana", "export", "sales.csv", "{}", GENESIS) == text.encode()
    key = b"k" * 32
    assert (
        hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        == "d6ebc15f01cf41df5b4ece047f84650942addd419aa41f4181641a8bbcf33022"
    )
    assert (
        entry_hash(key, 7, at, "ana", "export", "sales.csv", "{}", GENESIS)
        == "d6ebc15f01cf41df5b4ece047f84650942addd419aa41f4181641a8bbcf33022"
    )
    assert hashlib.sha256(text.encode()).hexdigest() != entry_hash(
        key, 7, at, "ana", "export", "sales.csv", "{}", GENESIS
    )


def test_an_intact_log_verifies_with_its_count_last_hash_and_anchor(lake: Lake):
    log = AuditLog(lake)
    _record(log, 5)
    last = lake.read(TABLE).filter(pc.equal(lake.read(TABLE)["seq"], 5))["hash"][0].as_py()
    check = log.verify()
    assert check == AuditCheck(True, 5, None, "", last, 5, check.anchored_at)
    assert check.anchored_at is not None and check.anchored_at <= datetime.now(timezone.utc)


def test_an_empty_lake_verifies_with_zero_entries(lake: Lake):
    assert AuditLog(lake).verify() == AuditCheck(True, 0, None, "", GENESIS)


def test_an_altered_entry_is_named_by_its_seq(lake: Lake):
    _record(AuditLog(lake), 5)
    _rewrite(lake, lambda rows: [{**r, "actor": "someone-else"} if r["seq"] == 3 else r for r in rows])
    check = AuditLog(lake).verify()
    assert (check.ok, check.first_bad_seq, check.entries) == (False, 3, 2)
    assert check.problem == "its hash does not match its contents (altered)"


def test_an_altered_entry_with_its_hash_recomputed_under_the_key_breaks_the_next_link(lake: Lake, audit_key: bytes):
    log = AuditLog(lake, deferred_seconds=3600)
    _record(log, 5)
    log.close()  # one fold, so one checkpoint: of entry 5 only

    def forge(rows):
        r = rows[2]
        r["target"] = "/api/nothing"
        r["hash"] = entry_hash(
            audit_key, r["seq"], r["at"], r["actor"], r["action"], r["target"], r["details"], r["prev_hash"]
        )
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
        {"seq": seq, "actor": "ana", "action": "export", "target": "sales.xlsx", "details": '{"rows":12}'}
    ]


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
    AuditLog(lake).record(
        "ana", "data.read", "/api/sales", {"to": "2026-11-30", "branches": ["a"], "from": "2026-11-01"}
    )
    assert json.loads(lake.read(TABLE)["details"][0].as_py()) == {
        "branches": ["a"],
        "from": "2026-11-01",
        "to": "2026-11-30",
    }
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


# --- the attacks of an intruder who can write the lake's files but holds neither the key nor the anchor's place


def _files(lake: Lake) -> tuple[Path, Path, Path]:
    """The table's Delta log folder, the journal and the (default) anchor."""
    table = Path(lake.path(TABLE))
    return table / "_delta_log", table.with_name("audit.journal"), table.with_name("audit.anchor")


def _five_commits(lake: Lake) -> None:
    """Entries 1..5, one Delta commit (and one checkpoint) each: commit version v holds entry v + 1."""
    log = AuditLog(lake)
    for i in range(5):
        log.record("ana", "data.read", f"/api/sales?page={i}")


def _drop_newest_commits(lake: Lake, n: int, *, journal: bool) -> None:
    """Delete the newest `n` commit files of `_delta_log` (and any Delta checkpoint at or after them), and the
    journal too when `journal`: the table then reads as of the commit before, transaction id included."""
    folder, journal_file, _ = _files(lake)
    commits = sorted(folder.glob("*.json"))
    cut = int(commits[-n].stem)
    for commit in commits[-n:]:
        commit.unlink()
    for checkpoint in folder.glob("*.checkpoint*.parquet"):
        if int(checkpoint.name.split(".")[0]) >= cut:
            checkpoint.unlink()
    last = folder / "_last_checkpoint"
    if last.exists() and json.loads(last.read_text())["version"] >= cut:
        last.unlink()
    if journal:
        journal_file.unlink()


def _rechain(lake: Lake, mac: Callable[[bytes], str], *, edit_seq: int = 3) -> None:
    """Edit an entry and recompute every hash from it on with `mac`, then rewrite the table."""
    rows = sorted(lake.read(TABLE).to_pylist(), key=lambda r: r["seq"])
    prev = rows[edit_seq - 2]["hash"] if edit_seq > 1 else GENESIS
    for r in rows[edit_seq - 1 :]:
        if r["seq"] == edit_seq:
            r["actor"] = "beto"
        r["prev_hash"] = prev
        r["hash"] = prev = mac(canonical(r["seq"], r["at"], r["actor"], r["action"], r["target"], r["details"], prev))
    lake.overwrite(TABLE, pa.Table.from_pylist(rows, schema=SCHEMA))


def _forge_anchor(lake: Lake, *, signed_with: bytes | None) -> None:
    """Truncate the log to entry 3 and replace the anchor by one checkpoint of entry 3, signed with a guessed
    key (or with no MAC at all)."""
    _drop_newest_commits(lake, 2, journal=True)
    rows = lake.read(TABLE).filter(pc.equal(lake.read(TABLE)["seq"], 3)).to_pylist()
    point = {"first": 1, "seq": 3, "hash": rows[0]["hash"], "at": "2026-11-23T14:05:00.000000+00:00"}
    if signed_with is not None:
        point["mac"] = checkpoint_mac(signed_with, 1, 3, point["hash"], point["at"])
    _files(lake)[2].write_text(json.dumps(point) + "\n")


def _sha256(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def _keyed(key: bytes) -> Callable[[bytes], str]:
    return lambda text: hmac.new(key, text, hashlib.sha256).hexdigest()


def _anchor_deleted_then_recorded_on(lake: Lake) -> None:
    _drop_newest_commits(lake, 2, journal=True)
    _files(lake)[2].unlink()
    assert AuditLog(lake).record("ana", "logout") == 4  # nothing left to refuse it: a fresh anchor is begun


ATTACKS: dict[str, tuple[Callable[[Lake], None], int, str]] = {
    "entry 3 edited, re-chained with plain SHA-256": (
        lambda lake: _rechain(lake, _sha256),
        3,
        "its hash does not match its contents (altered)",
    ),
    "entry 3 edited, re-chained with HMAC under a wrong key": (
        lambda lake: _rechain(lake, _keyed(WRONG_KEY)),
        3,
        "its hash does not match its contents (altered)",
    ),
    "entry 3 edited, re-chained under the key, anchor untouched": (
        lambda lake: _rechain(lake, _keyed(_key())),
        3,
        "differs from the one the anchor",
    ),
    "newest 2 commits and the journal deleted": (
        lambda lake: _drop_newest_commits(lake, 2, journal=True),
        4,
        "entries 4..5 are missing: the anchor",
    ),
    "newest commit and the journal deleted": (
        lambda lake: _drop_newest_commits(lake, 1, journal=True),
        5,
        "entry 5 is missing: the anchor",
    ),
    "newest 2 commits deleted, journal kept": (
        lambda lake: _drop_newest_commits(lake, 2, journal=False),
        4,
        "entry 4 is missing (the next entry is 5)",
    ),
    "every commit and the journal deleted": (
        lambda lake: _drop_newest_commits(lake, 5, journal=True),
        1,
        "entries 1..5 are missing: the anchor",
    ),
    "anchor deleted": (
        lambda lake: _files(lake)[2].unlink(),
        1,
        "is missing or empty while the log holds entries 1..5",
    ),
    "anchor deleted, log truncated, then recorded on": (
        _anchor_deleted_then_recorded_on,
        1,
        "begins at entry 4: the checkpoints of entries 1..3 are missing",
    ),
    "log truncated, anchor forged with a guessed key": (
        lambda lake: _forge_anchor(lake, signed_with=WRONG_KEY),
        3,
        "not signed with the audit key: forged",
    ),
    "log truncated, anchor replaced by an unsigned checkpoint": (
        lambda lake: _forge_anchor(lake, signed_with=None),
        3,
        "not signed with the audit key: forged",
    ),
    "a checkpoint cut out of the anchor": (
        lambda lake: _files(lake)[2].write_text(
            "".join(line for i, line in enumerate(_files(lake)[2].read_text().splitlines(keepends=True)) if i != 2)
        ),
        3,
        "lacks the checkpoints of entries 3..3 (removed)",
    ),
}


def _key() -> bytes:
    """The key the log was written with (the security tests' ALMACEN_AUDIT_KEY): an intruder who stole it."""
    return os.environ["ALMACEN_AUDIT_KEY"].encode()


@pytest.mark.parametrize("attack", ATTACKS)
def test_verify_names_the_seq_each_attack_on_the_files_broke(lake: Lake, attack: str):
    tamper, seq, problem = ATTACKS[attack]
    _five_commits(lake)
    assert AuditLog(lake).verify().ok
    tamper(lake)
    check = AuditLog(lake).verify()
    assert (check.ok, check.first_bad_seq) == (False, seq), check
    assert problem in check.problem, check.problem


@pytest.mark.parametrize("attack", ATTACKS)
def test_almacen_audit_verify_exits_1_naming_the_seq_for_each_attack(tmp_path: Path, attack: str):
    config = demo_config(tmp_path, branches=1)
    lake = Lake(load_config(config).lake)
    tamper, seq, problem = ATTACKS[attack]
    _five_commits(lake)
    tamper(lake)
    result = CliRunner().invoke(app, ["audit", "verify", "-c", str(config)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: audit log fails at entry {seq}: "), result.output
    assert problem.split(":")[0] in " ".join(result.output.split())


def test_almacen_audit_verify_says_ok_with_the_anchored_entry(tmp_path: Path):
    config = demo_config(tmp_path, branches=1)
    _five_commits(Lake(load_config(config).lake))
    result = CliRunner().invoke(app, ["audit", "verify", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("audit log OK: 5 entries; last hash ")
    assert "; anchored at entry 5 (" in result.output


def test_recording_onto_a_log_cut_below_its_anchor_refuses_rather_than_fork_over_the_evidence(lake: Lake):
    _five_commits(lake)
    _drop_newest_commits(lake, 2, journal=True)
    with pytest.raises(
        RuntimeError,
        match=r"ends at entry 3 but the anchor .* records entry 5 .*entries 4\.\.5 "
        "are missing; run `almacen audit verify`",
    ):
        AuditLog(lake).record("ana", "login.ok")


def test_an_older_genuine_anchor_put_back_over_a_log_cut_to_match_it_is_not_detected(lake: Lake):
    """The documented limit: whoever can rewrite the anchor can put back a copy of it from earlier and cut the
    log back to that point. `verify` then reports fewer entries and an older anchor, but OK; an append-only
    anchor (chattr +a) or one on another machine prevents it, and a monitor comparing counts notices it."""
    log = AuditLog(lake)
    for i in range(3):
        log.record("ana", "data.read", str(i))
    anchor = _files(lake)[2]
    shutil.copy(anchor, anchor.with_name("copy"))
    for i in range(2):
        log.record("ana", "data.read", str(i))
    _drop_newest_commits(lake, 2, journal=True)
    shutil.copy(anchor.with_name("copy"), anchor)
    check = AuditLog(lake).verify()
    assert (check.ok, check.entries, check.anchored_seq) == (True, 3, 3)


def test_an_older_genuine_anchor_does_not_cover_a_log_cut_further_back(lake: Lake):
    log = AuditLog(lake)
    for i in range(3):
        log.record("ana", "data.read", str(i))
    anchor = _files(lake)[2]
    old = anchor.read_bytes()
    for i in range(2):
        log.record("ana", "data.read", str(i))
    _drop_newest_commits(lake, 3, journal=True)
    anchor.write_bytes(old)
    check = AuditLog(lake).verify()
    assert (check.ok, check.first_bad_seq, check.entries) == (False, 3, 2)
    assert "entry 3 is missing: the anchor" in check.problem


def test_the_anchor_holds_one_signed_checkpoint_per_fold_covering_every_entry(lake: Lake, audit_key: bytes):
    _five_commits(lake)
    points = [json.loads(line) for line in _files(lake)[2].read_text().splitlines()]
    rows = {r["seq"]: r["hash"] for r in lake.read(TABLE).to_pylist()}
    assert [(p["first"], p["seq"]) for p in points] == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
    assert all(p["hash"] == rows[p["seq"]] for p in points)
    assert all(p["mac"] == checkpoint_mac(audit_key, p["first"], p["seq"], p["hash"], p["at"]) for p in points)


def test_a_group_commit_is_one_checkpoint_of_its_whole_batch(lake: Lake):
    log = AuditLog(lake)
    threads = [threading.Thread(target=lambda: [log.record("ana", "data.read") for _ in range(5)]) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    points = [json.loads(line) for line in _files(lake)[2].read_text().splitlines()]
    assert points[0]["first"] == 1 and points[-1]["seq"] == 40
    assert all(b["first"] == a["seq"] + 1 for a, b in itertools.pairwise(points))
    assert len(points) == lake.table(TABLE).version() + 1 - sum(
        h["operation"] == "OPTIMIZE" for h in lake.table(TABLE).history()
    )
    assert log.verify().ok


def test_a_failed_anchor_write_is_covered_by_the_next_fold(lake: Lake, monkeypatch: pytest.MonkeyPatch):
    log = AuditLog(lake)
    log.record("ana", "login.ok")
    real = type(log.anchor).append
    monkeypatch.setattr(type(log.anchor), "append", lambda self, row: (_ for _ in ()).throw(OSError("disk full")))
    assert log.record("ana", "data.read") == 2  # committed to the table: the entry is recorded all the same
    monkeypatch.setattr(type(log.anchor), "append", real)
    log.record("ana", "logout")
    points = [json.loads(line) for line in _files(lake)[2].read_text().splitlines()]
    assert [(p["first"], p["seq"]) for p in points] == [(1, 1), (2, 3)]
    assert AuditLog(lake).verify().ok


def test_a_torn_last_checkpoint_is_skipped_and_the_next_starts_its_own_line(lake: Lake):
    log = AuditLog(lake)
    log.record("ana", "login.ok")
    with open(_files(lake)[2], "a") as handle:
        handle.write('{"first": 2, "seq": 2, "ha')
    log.record("ana", "logout")
    assert AuditLog(lake).verify().ok and AuditLog(lake).verify().anchored_seq == 2


def test_the_anchor_can_live_elsewhere_also_behind_a_uri(lake: Lake, tmp_path: Path):
    elsewhere = tmp_path / "other-host" / "audit.anchor"
    for location in (str(elsewhere), elsewhere.as_uri()):
        log = AuditLog(lake, anchor=location)
        log.record("ana", "login.ok")
        assert AuditLog(lake, anchor=location).verify().ok
    assert len(elsewhere.read_text().splitlines()) == 2 and not _files(lake)[2].exists()
    _drop_newest_commits(lake, 1, journal=True)
    check = AuditLog(lake, anchor=elsewhere.as_uri()).verify()
    assert (check.ok, check.first_bad_seq) == (False, 2)


# --- the key


def test_recording_and_verifying_need_the_key_reading_does_not(lake: Lake, monkeypatch: pytest.MonkeyPatch):
    AuditLog(lake).record("ana", "login.ok")
    monkeypatch.delenv("ALMACEN_AUDIT_KEY")
    log = AuditLog(lake)  # constructing needs no key
    assert log.entries()["seq"].to_pylist() == [1]
    with pytest.raises(ConfigError, match="ALMACEN_AUDIT_KEY is not set"):
        log.record("ana", "logout")
    with pytest.raises(ConfigError, match="ALMACEN_AUDIT_KEY is not set"):
        log.verify()


def test_a_short_key_or_the_demo_key_is_refused_outside_a_demo_lake(lake: Lake, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALMACEN_AUDIT_KEY", "x" * 31)
    with pytest.raises(ConfigError, match="ALMACEN_AUDIT_KEY has 31 bytes: .* at least 32 bytes"):
        AuditLog(lake).record("ana", "login.ok")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        AuditLog(lake, key=b"short").verify()
    with pytest.raises(ConfigError, match="is the public demo key"):
        AuditLog(lake, key=DEMO_AUDIT_KEY).record("ana", "login.ok")
    assert lake.read(TABLE) is None


def test_a_demo_lake_without_a_key_chains_with_the_public_demo_key(lake: Lake, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ALMACEN_AUDIT_KEY")
    mark_demo_lake(lake)
    AuditLog(lake).record("ana", "login.ok")
    [row] = lake.read(TABLE).to_pylist()
    assert row["hash"] == entry_hash(DEMO_AUDIT_KEY, 1, row["at"], "ana", "login.ok", "", "{}", GENESIS)
    assert AuditLog(lake).verify().ok


def test_a_log_chained_under_one_key_does_not_verify_under_another(lake: Lake):
    _record(AuditLog(lake), 3)
    check = AuditLog(lake, key=WRONG_KEY).verify()
    assert (check.ok, check.first_bad_seq) == (False, 1)
    assert "not signed with the audit key" in check.problem


def test_the_factory_takes_the_key_and_anchor_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ALMACEN_AUDIT_KEY")
    anchor = tmp_path / "outside" / "audit.anchor"
    settings = load_config(demo_config(tmp_path, branches=1)).model_copy(
        update={"audit_key": SecretStr("settings-audit-key-" + "s" * 32), "audit_anchor": str(anchor)}
    )
    audit_log(settings).record("cli:root", "user.add", "ana")
    assert audit_log(settings).verify().ok and len(anchor.read_text().splitlines()) == 1
    [row] = Lake(settings.lake).read(TABLE).to_pylist()
    assert row["hash"] == entry_hash(
        b"settings-audit-key-" + b"s" * 32, 1, row["at"], "cli:root", "user.add", "ana", "{}", GENESIS
    )
    wrong = settings.model_copy(update={"audit_key": SecretStr("another-audit-key-" + "a" * 32)})
    assert not audit_log(wrong).verify().ok


# --- actors


@pytest.mark.parametrize(
    "actor", ["ana", "beto.perez", "zoe_2", "anonymous", "cli:root", "cli:uid1000", "cli:Jose.M", "system:publish"]
)
def test_actors_are_usernames_or_kind_colon_name(lake: Lake, actor: str):
    AuditLog(lake).record(actor, "login.ok")


@pytest.mark.parametrize(
    "actor", ["Ana", "a", "ana:cli", "cli:", "cli:a b", "root:x", "web:ana", "ana\n", " ana", "cli:root\n"]
)
def test_other_actors_are_refused(lake: Lake, actor: str):
    with pytest.raises(ValueError, match="is neither a username"):
        AuditLog(lake).record(actor, "login.ok")
    assert lake.read(TABLE) is None
