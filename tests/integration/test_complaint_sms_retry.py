"""A class A complaint's SMS to the senior administrator when the gateway fails: the local Twilio-compatible
server refuses (HTTP 503) or cuts the answer, the board's alert says the SMS is not sent and when it is tried
again, the due task retries with a growing wait, and the message goes out exactly once. The web app and the
worker's runner as the service builds them, a real database (a SQLite file; PostgreSQL with --db=postgresql),
real sockets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from dialer.core.records import DueTask, TaskKind
from dialer.engine.complaint_sms import COMPLAINT_SMS, MOST_TRIES
from dialer.storage import schema
from tests.integration.test_wrapup_complaints import SUPERVISOR_PHONE, Desk, desk

COMPLAINT = {"result": "no_result", "complaint_class": "A", "complaint_comment": "нагрубили"}


async def due_task(d: Desk) -> DueTask:
    [row] = await d.rows(schema.due_tasks)
    assert (row.kind, row.campaign, row.target_id) == ("sms", COMPLAINT_SMS, 0)
    return DueTask(row.task_id, row.clinic_id, TaskKind(row.kind), row.campaign, 0, row.due_at, row.tries)


async def run_when_due(d: Desk, task: DueTask) -> None:
    """What the worker does when the task's time comes: claim it, and hand it to the runner registered for it."""
    [claimed] = await d.rt.storage.due.claim_due(task.due_at, {task.share: 10}, "test-worker")
    await d.rt.worker.runners[(TaskKind.SMS, COMPLAINT_SMS)](claimed)


async def alert_detail(d: Desk) -> str:
    [alert] = await d.rows(schema.alerts)
    return str(alert.detail)


async def test_a_complaint_sms_the_gateway_refused_is_retried_with_backoff_and_sent_once(
    tmp_path: Path, database_url: str
) -> None:
    async with desk(tmp_path, database_url=database_url) as d:
        d.twilio.fail_next(2, status=503)
        before = d.time.now()
        assert (await d.wrap_up(await d.call(), COMPLAINT))[0] == 200  # the wrap-up is saved all the same
        assert d.twilio.messages == []
        first = await due_task(d)
        assert before + timedelta(seconds=30) <= first.due_at <= d.time.now() + timedelta(seconds=30)
        detail = await alert_detail(d)
        assert "жалоба класса A" in detail and "SMS старшему администратору не отправлено" in detail
        assert "повтор в" in detail
        board = await d.rt.live.board.snapshot(d.rt.settings.clinics["c1"])
        assert "не отправлено" in str(board["alerts"])

        # The first retry fails too: the next waits twice as long.
        await run_when_due(d, first)
        second = await due_task(d)
        assert second.tries == 1 and second.due_at - d.time.now() > timedelta(seconds=55)
        assert d.twilio.messages == []

        await run_when_due(d, second)
        [sms] = d.twilio.messages
        assert sms.to == SUPERVISOR_PHONE and "жалоба класса A" in sms.body
        [done] = await d.rows(schema.due_tasks)
        assert done.state == "done"
        assert "SMS старшему администратору отправлено в" in await alert_detail(d)
        # Run again (a worker that restarted mid-run): the message is not sent twice.
        await d.rt.worker.runners[(TaskKind.SMS, COMPLAINT_SMS)](second)
        assert len(d.twilio.messages) == 1


async def test_a_complaint_sms_accepted_but_unanswered_is_not_sent_again(
    tmp_path: Path, database_url: str
) -> None:
    async with desk(tmp_path, database_url=database_url) as d:
        d.twilio.drop_next(1)  # Twilio takes the message, the answer is lost on the way
        assert (await d.wrap_up(await d.call(), COMPLAINT))[0] == 200
        assert len(d.twilio.messages) == 1
        # The service runs on the clinic's morning, Twilio stamps the host's hour (before or after that morning,
        # whenever the test runs): the search must look on the gateway's time line.
        await run_when_due(d, await due_task(d))
        assert len(d.twilio.messages) == 1  # found at the gateway, not sent again
        [done] = await d.rows(schema.due_tasks)
        assert done.state == "done"


async def test_a_complaint_sms_is_given_up_after_its_last_try_and_the_alert_says_so(
    tmp_path: Path, database_url: str
) -> None:
    async with desk(tmp_path, database_url=database_url) as d:
        d.twilio.fail_next(2, status=503)
        assert (await d.wrap_up(await d.call(), COMPLAINT))[0] == 200
        task = await due_task(d)
        async with d.rt.storage.engine.begin() as conn:  # hours of failed tries, as the worker left them
            await conn.execute(
                update(schema.due_tasks)
                .values(tries=MOST_TRIES - 1)
                .where(schema.due_tasks.c.task_id == task.task_id)
            )
        await run_when_due(d, task)
        [done] = await d.rows(schema.due_tasks)
        assert done.state == "done" and d.twilio.messages == []
        detail = await alert_detail(d)
        assert detail.endswith("SMS старшему администратору не отправлено: шлюз недоступен")
