"""The daemon, as operators run it: real ``frs daemon`` and ``frs collect`` processes on SQLite and
PostgreSQL (one active daemon, standby takeover after SIGKILL, no double collection, a crash in the
middle of a collection, SIGTERM during a pull), and the scheduling of plugin jobs with short
intervals (runs on schedule, retries later, ``--once``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
from conftest import OTHER_SCHOOL, SCHOOL, TEST_CONFIG, make_ks5_workbook
from sqlalchemy import func, select

from frs import hookimpl
from frs.config import parse
from frs.jobs import JobOutcome
from frs.kernel import Kernel
from frs.storage import db
from frs.storage.files import FileStore
from frs.storage.models import PROCESSING, REPORTS_AVAILABLE, Upload
from frs.storage.models_collect import CollectedPupil, CollectedResult, Collection
from frs.storage.service import Service

FRS = str(Path(sys.executable).parent / "frs")
OPEN = "2021-08-20T10:00"
AFTER_CLOSE = "2021-09-03T17:00:05"
EXTRA_SCHOOLS = [f"80120{n:02d}" for n in range(10, 14)]


@pytest.fixture(scope="module")
def workbooks(storage_kernel):
    return {dfe: make_ks5_workbook(storage_kernel, school_dfe=dfe, pupils=3 + i)
            for i, dfe in enumerate([SCHOOL, OTHER_SCHOOL, *EXTRA_SCHOOLS])}


@pytest.fixture
def instance(db_url, tmp_path, workbooks, monkeypatch):
    """A database with six schools' confirmed KS5 uploads, and the environment for `frs` processes
    on it with the clock after the round's close."""
    config = tmp_path / "frs.toml"
    config.write_text(TEST_CONFIG, encoding="utf-8")
    monkeypatch.setenv("FRS_NOW", OPEN)
    kernel = Kernel(parse(tomllib.loads(TEST_CONFIG)))
    service = Service(kernel, db.make_engine(db_url), FileStore(tmp_path / "home" / "files"))
    service.init_db()
    for dfe, data in workbooks.items():
        service.add_school(dfe, f"School {dfe}")
        service.add_user(f"m{dfe}@x.sch.uk", dfe, ["manage_data"])
        assert service.upload(f"m{dfe}@x.sch.uk", data, "r.xlsx", confirm=True, accept_terms=True).upload.status \
            == PROCESSING
    env = {**os.environ, "FRS_CONFIG": str(config), "FRS_HOME": str(tmp_path / "home"), "FRS_DATABASE_URL": db_url,
           "FRS_NOW": AFTER_CLOSE}
    yield {"env": env, "service": service, "tmp": tmp_path}
    service.engine.dispose()


class Proc:
    """An `frs` process with its stderr (the log) in a file."""

    def __init__(self, env, *args, name="p"):
        self.log_path = env.get("_LOGDIR", "/tmp") + f"/{name}.log" if "_LOGDIR" in env else None
        self.stderr = open(Path(env["FRS_HOME"]).parent / f"{name}.log", "w+")
        self.proc = subprocess.Popen([FRS, *args], env={k: v for k, v in env.items()}, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, start_new_session=True)

    def lines(self) -> list[dict]:
        self.stderr.flush()
        self.stderr.seek(0)
        out = []
        for line in self.stderr.read().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"message": line})
        return out

    def events(self, message: str, **match) -> list[dict]:
        return [e for e in self.lines() if e.get("message") == message
                and all(e.get(k) == v for k, v in match.items())]

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout=60) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def procs():
    started: list[Proc] = []
    yield started
    for p in started:
        p.kill()


def start(procs, env, *args, name):
    p = Proc(env, *args, name=name)
    procs.append(p)
    return p


def wait_for(condition, timeout=60.0, every=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def collection_rows(service):
    with db.session(service.engine) as s:
        return s.execute(select(Collection)).scalars().all()


def counts(service):
    with db.session(service.engine) as s:
        return (s.execute(select(func.count()).select_from(CollectedPupil)).scalar_one(),
                s.execute(select(func.count()).select_from(CollectedResult)).scalar_one())


def snapshot(service):
    """The collected content, without ids: what must be the same however the collection ran."""
    with db.session(service.engine) as s:
        pupils = s.execute(select(CollectedPupil.school_id, CollectedPupil.upload_id, CollectedPupil.row,
                                  CollectedPupil.upn, CollectedPupil.forename, CollectedPupil.date_of_birth,
                                  CollectedPupil.gender).order_by(CollectedPupil.id)).all()
        results = s.execute(select(CollectedPupil.upn, CollectedResult.column_id, CollectedResult.grade,
                                   CollectedResult.points)
                            .join(CollectedPupil, CollectedPupil.id == CollectedResult.pupil_id)
                            .order_by(CollectedPupil.id, CollectedResult.column_id)).all()
        statuses = s.execute(select(Upload.id, Upload.status).order_by(Upload.id)).all()
    return pupils, results, statuses


# --------------------------------------------------------------------------- real processes


def test_a_deadline_passed_while_the_daemon_was_stopped_is_collected_on_start(instance, procs):
    env, service = instance["env"], instance["service"]
    once = start(procs, env, "daemon", "--once", "--log-json", name="once")
    assert once.wait() == 0
    [line] = once.events("job", job="collect")
    assert (line["round"], line["outcome"], line["records"], line["schools"]) == ("ks5-2021", "ok", 6, 6)
    assert line["duration"] >= 0 and line["daemon"]
    [row] = collection_rows(service)
    assert (row.state, row.attempts, row.schools) == ("complete", 1, 6)

    # a foreground daemon started later, stopped and started again: never a second collection
    for n in range(2):
        daemon = start(procs, env, "daemon", "--log-json", "--lease-seconds", "4", "--tick-seconds", "0.5",
                       name=f"fg{n}")
        wait_for(lambda: daemon.events("active: this daemon now runs the schedule"), what="the daemon to start")
        time.sleep(1.5)  # a few ticks
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
        assert daemon.events("daemon stopped") and not daemon.events("job", job="collect")
    [row] = collection_rows(service)
    assert row.attempts == 1
    assert start(procs, env, "daemon", "--once", name="once2").wait() == 0
    assert len(collection_rows(service)) == 1


def test_two_daemons_collect_once_and_the_standby_takes_over_when_the_active_one_is_killed(instance, procs):
    env, service = instance["env"], instance["service"]
    args = ("daemon", "--log-json", "--lease-seconds", "4", "--tick-seconds", "0.5")
    first, second = start(procs, env, *args, name="a"), start(procs, env, *args, name="b")
    wait_for(lambda: any(p.events("job", job="collect") for p in (first, second)), what="the collection")
    time.sleep(2)  # both have ticked several times by now
    actives = [p for p in (first, second) if p.events("active: this daemon now runs the schedule")]
    assert len(actives) == 1
    active = actives[0]
    standby = second if active is first else first
    assert standby.events("standby: another daemon is active")
    collects = [e for p in (first, second) for e in p.events("job", job="collect")]
    assert [e["outcome"] for e in collects] == ["ok"]
    [row] = collection_rows(service)
    assert (row.state, row.attempts) == ("complete", 1)

    killed_at = time.monotonic()
    active.proc.send_signal(signal.SIGKILL)
    active.proc.wait(timeout=10)
    wait_for(lambda: standby.events("active: this daemon now runs the schedule"), timeout=60,
             what="the standby to take over")
    took = time.monotonic() - killed_at
    assert took < 60
    time.sleep(1.5)
    assert not standby.events("job", job="collect")  # the round is collected: nothing to do
    standby.signal(signal.SIGINT)
    assert standby.wait() == 0
    assert collection_rows(service)[0].attempts == 1


def test_two_collectors_at_the_same_moment_collect_once(instance, procs):
    env, service = instance["env"], instance["service"]
    both = [start(procs, env, "collect", "--round", "ks5-2021", "--json", name=f"c{n}") for n in range(2)]
    outs = []
    for p in both:
        out, _ = p.proc.communicate(timeout=120)
        assert p.proc.returncode == 0, p.lines()
        outs.append(json.loads(out))
    assert sorted(o["already_collected"] for o in outs) == [False, True]
    assert {o["results"] for o in outs} == {collection_rows(service)[0].results}
    assert collection_rows(service)[0].attempts == 1


KILL_MIDWAY = """
import sys, time
from frs import config
from frs.kernel import Kernel
from frs.services import collections
from frs.storage.service import Service

service = Service.from_kernel(Kernel(config.load()))
collections._FLUSH_SCHOOLS = 2  # write in batches of two schools, so there is a middle to die in

def progress(done, total):
    if done == 4:  # two of three batches written, inside the transaction
        print("midway", flush=True)
        time.sleep(120)

collections.collect(service, "ks5-2021", progress=progress)
"""


def test_a_collection_killed_half_way_leaves_nothing_and_the_next_run_completes_it(instance, procs):
    env, service = instance["env"], instance["service"]
    script = instance["tmp"] / "kill_midway.py"
    script.write_text(KILL_MIDWAY)
    victim = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert victim.stdout.readline().strip() == "midway"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    [row] = collection_rows(service)
    assert (row.state, row.attempts, row.finished) == ("running", 0, None)  # claimed, nothing written
    assert counts(service) == (0, 0)
    assert {s for _id, s in snapshot(service)[2]} == {PROCESSING}

    resumed = start(procs, env, "collect", "--round", "ks5-2021", "--json", name="resume")
    out, _ = resumed.proc.communicate(timeout=120)
    assert resumed.proc.returncode == 0, resumed.lines()
    done = json.loads(out)
    assert (done["state"], done["schools"], done["already_collected"], done["attempts"]) == ("complete", 6, False, 1)
    after_crash = snapshot(service)
    assert {s for _id, s in after_crash[2]} == {REPORTS_AVAILABLE}

    # the same as an uninterrupted collection of the same uploads
    with db.session(service.engine, write=True) as s:
        from frs.storage.models_collect import CollectedUpload, CollectionSchool
        from sqlalchemy import delete, update

        for table in (CollectedResult, CollectedPupil, CollectedUpload, CollectionSchool, Collection):
            s.execute(delete(table))
        s.execute(update(Upload).values(status=PROCESSING))
        s.commit()
    clean = start(procs, env, "collect", "--round", "ks5-2021", "--json", name="clean")
    clean.proc.communicate(timeout=120)
    assert clean.proc.returncode == 0
    assert snapshot(service) == after_crash


SLOW_PULL = '''
import os, time
from frs import hookimpl
from frs.jobs import JobOutcome

def pull(context, **kwargs):
    done = 0
    for school in range(100):
        if context.stopping.is_set():
            return JobOutcome(records=done, outcome="stopped", detail={"school": f"school-{school}"})
        with open(os.environ["PULL_LOG"], "a") as log:
            log.write(f"begin {school}\\n")
        time.sleep(0.3)  # fetching one school's pupils
        with open(os.environ["PULL_LOG"], "a") as log:
            log.write(f"end {school}\\n")
        done += 1
    return JobOutcome(records=done)

@hookimpl
def register_jobs(registry):
    registry.add("slowpull.pull", pull, trigger="interval", seconds=1)
'''


def test_sigterm_during_a_pull_finishes_the_school_in_hand_and_stops_cleanly(instance, procs, tmp_path):
    # a third-party plugin, installed the usual way (an entry point in the frs group)
    site = tmp_path / "site"
    (site / "slowpull-0.1.dist-info").mkdir(parents=True)
    (site / "slowpull_plugin.py").write_text(SLOW_PULL)
    (site / "slowpull-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: slowpull\nVersion: 0.1\n")
    (site / "slowpull-0.1.dist-info" / "entry_points.txt").write_text("[frs]\nslowpull = slowpull_plugin\n")
    env = dict(instance["env"])
    env.update(PYTHONPATH=str(site), PULL_LOG=str(tmp_path / "steps.txt"), FRS_LOAD_PLUGINS="ks5_alevel,slowpull")
    daemon = start(procs, env, "daemon", "--log-json", "--lease-seconds", "4", "--tick-seconds", "0.5", name="pull")
    wait_for(lambda: (tmp_path / "steps.txt").exists() and "begin 2" in (tmp_path / "steps.txt").read_text(),
             what="the pull to reach its third school")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    steps = (tmp_path / "steps.txt").read_text().split("\n")[:-1]
    assert steps[-1].startswith("end ")  # the school in hand was finished, no later one begun
    assert len([s for s in steps if s.startswith("begin")]) == len([s for s in steps if s.startswith("end")])
    [line] = daemon.events("job", job="slowpull.pull")
    assert (line["outcome"], line["plugin"], line["records"]) == ("stopped", "slowpull", len(steps) // 2)
    assert daemon.events("daemon stopped")


# --------------------------------------------------------------------------- scheduling plugin jobs (in process)


class Ticker:
    """A tiny plugin: a pull every few seconds; its first run fails one school and asks for a retry."""

    def __init__(self, trigger="interval", **trigger_args):
        self.calls: list[dict] = []
        self.trigger, self.trigger_args = trigger, trigger_args or {"seconds": 1}

    def pull(self, context, schools=None):
        assert context.service is not None and context.now().tzinfo is not None
        self.calls.append({"schools": schools, "at": time.monotonic()})
        if len(self.calls) == 1:
            return JobOutcome(records=2, outcome="partial", detail={"school": OTHER_SCHOOL},
                              retry={"schools": [OTHER_SCHOOL]}, retry_after=1)
        return JobOutcome(records=len(schools or [1, 2, 3]))

    @hookimpl
    def register_jobs(self, registry):
        registry.add("ticker.pull", self.pull, trigger=self.trigger, **self.trigger_args)


def daemon_for(db_url, tmp_path, plugin, **kw):
    from frs.daemon import Daemon

    kernel = Kernel(parse(tomllib.loads(TEST_CONFIG)), plugins={"ticker": plugin})
    service = Service(kernel, db.make_engine(db_url), FileStore(tmp_path / "files"))
    service.init_db()
    return Daemon(kernel, service, **kw)


def test_a_plugin_job_runs_on_schedule_and_a_failed_school_is_retried_later(db_url, tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="frs.daemon")
    ticker = Ticker(seconds=2)
    daemon = daemon_for(db_url, tmp_path, ticker, lease_seconds=3, tick_seconds=0.3)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        wait_for(lambda: len([c for c in ticker.calls if c["schools"] is None]) >= 2
                 and any(c["schools"] for c in ticker.calls), timeout=30, what="two runs and a retry")
    finally:
        daemon.stopping.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    scheduled = [c for c in ticker.calls if c["schools"] is None]
    retries = [c for c in ticker.calls if c["schools"]]
    assert retries[0]["schools"] == [OTHER_SCHOOL]
    assert retries[0]["at"] - ticker.calls[0]["at"] >= 0.9  # later, not in a tight loop
    gaps = [b["at"] - a["at"] for a, b in zip(scheduled, scheduled[1:])]
    assert all(g > 1.5 for g in gaps), gaps  # every two seconds, never twice for one firing
    lines = [r.fields for r in caplog.records if r.getMessage() == "job" and r.fields["job"] == "ticker.pull"]
    assert lines[0]["outcome"] == "partial" and lines[0]["records"] == 2 and lines[0]["school"] == OTHER_SCHOOL
    assert {"duration", "plugin", "run"} <= set(lines[0]) and lines[0]["plugin"] == "ticker"
    assert any(line["run"] == "retry" and line["outcome"] == "ok" for line in lines)
    daemon.service.engine.dispose()


def test_once_runs_only_what_is_due(db_url, tmp_path):
    ticker = Ticker(seconds=3)
    daemon = daemon_for(db_url, tmp_path, ticker, lease_seconds=3)
    assert daemon.once() == 0
    assert ticker.calls == []  # first seen now: its first firing is 3 s from now
    time.sleep(3.2)
    daemon = daemon_for(db_url, tmp_path, ticker, lease_seconds=3)
    assert daemon.once() == 0 and len(ticker.calls) == 1
    daemon = daemon_for(db_url, tmp_path, ticker, lease_seconds=3)
    assert daemon.once() == 0 and len(ticker.calls) == 1  # ran already for this firing; the retry is not due
    time.sleep(3.1)
    daemon = daemon_for(db_url, tmp_path, ticker, lease_seconds=3)
    assert daemon.once() == 0
    assert [c["schools"] for c in ticker.calls] == [None, None]  # a new firing: a full run supersedes the retry
    daemon.service.engine.dispose()


def test_a_job_with_a_bad_trigger_is_reported_and_the_others_run(db_url, tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="frs.daemon")
    daemon = daemon_for(db_url, tmp_path, Ticker(trigger="cron", hour=25))
    assert daemon.once() == 0
    [bad] = [r.fields for r in caplog.records if r.getMessage() == "job not scheduled"]
    assert bad["job"] == "ticker.pull" and "hour" in bad["reason"]
    daemon.service.engine.dispose()


def test_a_second_once_while_a_daemon_is_active_runs_nothing(db_url, tmp_path):
    from frs.daemon import Lease

    ticker = Ticker()
    daemon = daemon_for(db_url, tmp_path, ticker, lease_seconds=30)
    assert Lease(daemon.service, "elsewhere:1:x", 30).acquire()
    assert daemon.once() == 0
    assert not Lease(daemon.service, "another:2:y", 30).acquire()  # still held by "elsewhere"
    holder, _expires = daemon.lease.current()
    assert holder == "elsewhere:1:x"
    daemon.service.engine.dispose()
