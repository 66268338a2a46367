from qbsync.health import check_health


class FakeProbe:
    def __init__(self, down: set[str] = frozenset()) -> None:
        self.down = down
        self.asked: list[str] = []

    def reachable(self, name: str) -> bool:
        self.asked.append(name)
        return name not in self.down


def test_all_reachable_is_ok_and_keyed_by_logical_name():
    tables, queues = FakeProbe(), FakeProbe()
    report = check_health(
        tables={"connections": "stack-ConnectionsTable-ABC"},
        queues={"crm_events": "https://sqs/123/stack-crm-events.fifo"},
        table_probe=tables, queue_probe=queues,
    )
    assert report.status == "ok"
    assert report.tables == {"connections": True}
    assert report.queues == {"crm_events": True}
    # physical names and URLs are probed but never reported
    assert tables.asked == ["stack-ConnectionsTable-ABC"]
    assert "stack-" not in report.model_dump_json()


def test_one_unreachable_queue_degrades_the_report():
    report = check_health(
        tables={"connections": "t"},
        queues={"crm_events": "q1", "poll_jobs": "q2"},
        table_probe=FakeProbe(), queue_probe=FakeProbe(down={"q2"}),
    )
    assert report.status == "degraded"
    assert report.queues == {"crm_events": True, "poll_jobs": False}
