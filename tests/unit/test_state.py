from runner.ports import CachedResponse
from runner.state import Journal, TaskRecord


def test_journal_survives_reopen(tmp_path):
    path = tmp_path / "state.db"
    journal = Journal(path)
    journal.upsert(TaskRecord(task_id="t-1", dispatch_repo="acme/tasks", issue_number=7, state="claimed",
                              runner_id="r1"))
    journal.update("t-1", status_comment_id=99, cost_usd=None, cost_known=False)
    journal.close()
    again = Journal(path)
    record = again.task("t-1")
    assert record.status_comment_id == 99 and record.cost_known is False
    assert again.task_for_issue("acme/tasks", 7).task_id == "t-1"
    assert [r.task_id for r in again.unfinished("r1")] == ["t-1"]
    assert again.unfinished("r2") == []


def test_journal_http_cache_round_trip(tmp_path):
    journal = Journal(tmp_path / "state.db")
    journal.put("https://x/issues?page=1", CachedResponse('W/"abc"', [{"number": 1}], "https://x/2", 5.0))
    cached = journal.get("https://x/issues?page=1")
    assert cached.etag == 'W/"abc"' and cached.body == [{"number": 1}] and cached.next_url == "https://x/2"
    assert journal.get("https://x/other") is None


def test_journal_kv_expires(tmp_path):
    now = [1000.0]
    journal = Journal(tmp_path / "state.db", clock=lambda: now[0])
    journal.kv.put("perm:alice", "write", ttl=60)
    assert journal.kv.get("perm:alice") == "write"
    now[0] += 61
    assert journal.kv.get("perm:alice") is None
