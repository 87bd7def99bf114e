"""Data Exchange against real loopback servers: the recorded Xporter replies and their faults,
Wonde, delta pulls, permissions, the MIS cut-off, a third partner, the nightly job, and pulls
that fail or die without touching the list held before. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlmodel import select

from frs import hookimpl
from frs.config import LONDON, Config, Round
from frs.connectors import School, Setting, SourceContext
from frs.jobs import JobContext
from frs.kernel import Kernel
from frs.partners import HTTP_SETTINGS, MisPupil, Page, Partner
from frs.services import cohorts
from frs.services.data_exchange import DataExchange
from frs.storage import db
from frs.storage.files import FileStore
from frs.storage.models import SETUP, MANAGE_DATA, AuditEvent
from frs.storage.models_dx import DxPull
from frs.storage.service import OPERATOR, Refused, Service
from frs.testing.fake_partners import FakeServer, FakeWonde, FakeXporter, kit_pupils, recorded_xporter_students

SCHOOL = "8014000"  # LA 801: UPNs made for it pass the LA check
OTHER = "8014001"
KS5_ROUND = Round(id="ks5-2021", key_stage=5, year=2021, opens=dt.datetime(2021, 8, 10, tzinfo=LONDON),
                  closes=dt.datetime(2021, 9, 3, 17, tzinfo=LONDON), mis_cutoff=dt.date(2021, 7, 16))


class Recording(threading.Event):
    """A stopping event that records back-off waits without sleeping."""

    def __init__(self):
        super().__init__()
        self.waits = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return self.is_set()


@pytest.fixture
def xporter():
    with FakeXporter() as server:
        server.add_school(SCHOOL, server.demo_students(SCHOOL, 5, nc_year=11, exam_year=2020)
                          + server.demo_students(SCHOOL, 3, nc_year=10, exam_year=2020, first_serial=20))
        yield server


def make_service(db_url, tmp_path, settings, extra_plugins=None, enabled=()):
    config = Config(path=None, enabled=["blank", "ks4_gcse", "data_exchange", "xporter", "wonde", "census", *enabled],
                    strict=True, plugin_settings=settings, rounds=[KS5_ROUND])
    kernel = Kernel(config, plugins=extra_plugins)
    service = Service(kernel, db.make_engine(db_url), FileStore(tmp_path / "files"))
    service.init_db()
    service.add_school(SCHOOL, "Xporter School")
    service.add_school(OTHER, "Other School")
    return service


@pytest.fixture
def dx(db_url, tmp_path, xporter):
    service = make_service(db_url, tmp_path, {"xporter": xporter.settings()})
    exchange = DataExchange(service)
    exchange.connect(OPERATOR, SCHOOL, "xporter")
    exchange.enable(OPERATOR, SCHOOL)
    yield exchange
    service.engine.dispose()


def stored(dx, dfe=SCHOOL):
    rows, pull = dx.cohort(dfe)
    return sorted((r.upn, r.forename, r.surname, r.date_of_birth, r.nc_year, r.pull_id) for r in rows), pull


# --------------------------------------------------------------------------- the recorded replies


def test_recorded_xporter_replies_are_read_as_recorded(db_url, tmp_path):
    """The two recorded pages: NextPage is set on page 2 of 2 and is not followed; DateofBirth is
    read; no UPN consent scope, so every pupil is reported and no list replaces the (empty) one."""
    with FakeXporter() as server:
        server.add_school("3281101", recorded_xporter_students())
        service = make_service(db_url, tmp_path, {"xporter": server.settings()})
        service.add_school("3281101", "Hogwarts")
        exchange = DataExchange(service)
        exchange.connect(OPERATOR, "3281101", "xporter")
        summary = exchange.pull("3281101")
        assert server.data_requests == 2  # page 1 and 2 of 2; never "?page=3"
    assert summary.pages == 2 and summary.outcome == "failed"
    assert [(r["mis_id"], r["name"], r["code"]) for r in summary.rejected] == [
        ("3116", "Albus Dumbledore", "no-upn"), ("3217", "Harry Potter", "no-upn"),
        ("3221", "Hermione Potter", "no-upn"), ("3920", "Draco Potter", "no-upn")]
    assert "UPN" in summary.reason
    assert exchange.cohort("3281101")[0] == []


def test_recorded_shape_with_upns_is_stored_with_dates_and_characteristics(dx):
    summary = dx.pull(SCHOOL)
    assert summary.outcome == "completed", summary.reason
    assert summary.by_year == {"10": 3, "11": 5} and summary.pupils == 8 and summary.pages == 4
    rows, pull = dx.cohort(SCHOOL, 11)
    assert len(rows) == 5 and pull.id == summary.pull_id
    assert all(isinstance(r.date_of_birth, dt.date) for r in rows)  # from "DateofBirth"
    chars = cohorts.characteristics(dx.service, SCHOOL)
    assert set(chars) == {r.upn for r in dx.cohort(SCHOOL)[0]}
    first = chars[rows[0].upn]
    assert set(first) == {"disadvantaged", "sen", "eal"} and first["eal"] is False


# --------------------------------------------------------------------------- faults


def test_slow_reply_times_out_and_is_retried(dx, xporter):
    xporter.fault("slow", seconds=4)
    dx.kernel.partners["xporter"].settings["timeout"] = 1.5
    summary = dx.pull(SCHOOL)
    assert summary.outcome == "completed" and summary.retries == 1


def test_500_then_429_are_retried_honouring_retry_after(dx, xporter):
    xporter.fault("500")
    xporter.fault("429", retry_after=9)
    stopping = Recording()
    summary = dx.pull(SCHOOL, stopping=stopping)
    assert summary.outcome == "completed" and summary.retries == 2
    assert stopping.waits[0] < 1 and stopping.waits[1] >= 9


def test_too_many_failures_fail_the_pull_and_keep_the_list(dx, xporter):
    assert dx.pull(SCHOOL).outcome == "completed"
    before = stored(dx)
    xporter.fault("503", times=10)
    summary = dx.pull(SCHOOL, stopping=Recording())
    assert summary.outcome == "failed" and "503" in summary.reason and summary.retries == 2
    assert stored(dx) == before
    status = dx.status(OPERATOR, SCHOOL).to_dict()
    assert status["last_error"] == summary.reason and status["last_pull"] == before[1].finished_at.astimezone(
        LONDON).isoformat(timespec="seconds")


def test_401_is_not_retried_and_says_what_to_fix(dx, xporter):
    xporter.fault("401", times=5)
    summary = dx.pull(SCHOOL)
    assert summary.outcome == "failed" and summary.retries == 0 and xporter.data_requests == 1
    assert "401" in summary.reason and "[plugins.xporter]" in summary.reason


def test_wrong_password_is_refused_at_the_token(dx, xporter):
    dx.kernel.partners["xporter"].settings["password"] = "not-the-password"
    summary = dx.pull(SCHOOL)
    assert summary.outcome == "failed" and xporter.data_requests == 0
    assert "401" in summary.reason and "not-the-password" not in json.dumps(summary.to_dict())


def test_malformed_json_keeps_the_list(dx, xporter):
    dx.pull(SCHOOL)
    before = stored(dx)
    xporter.fault("malformed")
    dx.kernel.partners["xporter"].settings["page_size"] = 100
    summary = dx.pull(SCHOOL)
    assert summary.outcome == "failed" and "not valid JSON" in summary.reason
    assert stored(dx) == before


def test_endless_paging_is_stopped_and_keeps_the_list(dx, xporter):
    dx.pull(SCHOOL)
    before = stored(dx)
    _forget_delta(dx)
    dx.kernel.partners["xporter"].settings["max_pages"] = 12
    xporter.fault("endless")
    summary = dx.pull(SCHOOL)
    assert summary.outcome == "partial" and summary.pages == 12 and "endless" in summary.reason
    assert stored(dx) == before


def test_pupil_without_upn_and_duplicate_upns_are_reported(dx, xporter):
    students = xporter.demo_students(SCHOOL, 4, nc_year=11, exam_year=2020)
    del students[0]["UPN"]
    students[2]["UPN"] = students[1]["UPN"]
    students[3]["DateofBirth"] = "2004-02-30"
    xporter.add_school(SCHOOL, students + xporter.demo_students(SCHOOL, 2, nc_year=11, exam_year=2020,
                                                                first_serial=30))
    summary = dx.pull(SCHOOL)
    assert summary.outcome == "completed" and summary.pupils == 2
    codes = sorted((r["mis_id"], r["code"]) for r in summary.rejected)
    assert codes == [(students[0]["Id"], "no-upn"), (students[1]["Id"], "duplicate-upn"),
                     (students[2]["Id"], "duplicate-upn"), (students[3]["Id"], "bad-date")]
    assert all(r["name"] for r in summary.rejected)


def test_server_killed_mid_pull_keeps_the_list_and_says_why(dx, xporter):
    assert dx.pull(SCHOOL).outcome == "completed"
    before = stored(dx)
    _forget_delta(dx)
    xporter.fault("kill", after_pages=xporter.pages_served + 2)
    summary = dx.pull(SCHOOL)
    assert summary.outcome == "failed" and summary.pages == 2
    assert "could not reach" in summary.reason and "kept" in summary.reason
    assert stored(dx) == before
    assert dx.status(OPERATOR, SCHOOL).last_error == summary.reason


def test_stopping_between_pages_keeps_the_list(dx, xporter):
    dx.pull(SCHOOL)
    before = stored(dx)
    _forget_delta(dx)
    stopping = threading.Event()
    summary = dx.pull(SCHOOL, stopping=stopping, progress=lambda done, total: stopping.set())
    assert summary.outcome == "interrupted" and summary.pages == 1
    assert stored(dx) == before


def test_process_killed_mid_pull_keeps_the_list_and_is_recorded(dx, xporter, db_url):
    assert dx.pull(SCHOOL).outcome == "completed"
    before = stored(dx)
    _forget_delta(dx)
    served = xporter.pages_served
    xporter.fault("slow", seconds=30)  # the pull hangs on its first page until killed
    settings = json.dumps(xporter.settings(timeout=60))
    script = f"""
import json
from frs.config import Config
from frs.kernel import Kernel
from frs.storage import db
from frs.storage.files import FileStore
from frs.storage.service import Service
from frs.services.data_exchange import DataExchange
kernel = Kernel(Config(path=None, enabled=["blank", "data_exchange", "xporter"], strict=True,
                       plugin_settings={{"xporter": json.loads({settings!r})}}))
DataExchange(Service(kernel, db.make_engine({db_url!r}), FileStore("/tmp"))).pull({SCHOOL!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while xporter.data_requests <= served and time.monotonic() < deadline:
            time.sleep(0.05)
        with dx.service._session() as s:
            assert s.exec(select(DxPull).where(DxPull.outcome == "running")).first() is not None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    xporter.clear_faults()
    status = dx.status(OPERATOR, SCHOOL)
    assert status.last_outcome == "interrupted" and "killed" in status.last_error
    assert stored(dx) == before
    assert dx.pull(SCHOOL).outcome == "completed"  # the dead pull does not block the next one


# --------------------------------------------------------------------------- delta pulls


def _forget_delta(dx):
    from frs.storage.models_dx import DxConnection

    with dx.service._session(write=True) as s:
        for conn in s.exec(select(DxConnection)).all():
            conn.delta_token = None
            s.add(conn)
        s.commit()


def test_delta_pull_applies_changes_and_deletions(dx, xporter):
    dx.pull(SCHOOL)
    students = xporter.schools[SCHOOL]
    renamed = dict(students[0], LegalSurname="Renamed", Surname="Renamed")
    gone = students[1]["Id"]
    added = xporter.demo_students(SCHOOL, 1, nc_year=11, exam_year=2020, first_serial=60)[0]
    xporter.change(SCHOOL, updated=[renamed, added], deleted=[gone])
    requests = xporter.data_requests
    summary = dx.pull(SCHOOL)
    assert summary.mode == "delta" and summary.outcome == "completed"
    assert xporter.data_requests - requests == 1  # only the changes were fetched
    rows, _ = dx.cohort(SCHOOL)
    by_id = {r.mis_id: r for r in rows}
    assert gone not in by_id and by_id[renamed["Id"]].surname == "Renamed" and added["Id"] in by_id
    assert len(rows) == 8


def test_refused_delta_token_falls_back_to_a_full_pull(dx, xporter):
    dx.pull(SCHOOL)
    xporter.refuse_delta = True
    summary = dx.pull(SCHOOL)
    assert summary.mode == "full" and summary.outcome == "completed" and summary.pupils == 8


# --------------------------------------------------------------------------- state and permissions


def test_status_states_and_setup_permission(dx):
    service = dx.service
    assert dx.status(OPERATOR, OTHER).state == "not connected"
    service.add_user("setup@school.uk", OTHER, [SETUP])
    service.add_user("data@school.uk", OTHER, [MANAGE_DATA])
    with pytest.raises(Refused) as err:
        dx.connect("data@school.uk", OTHER, "xporter")
    assert err.value.code == "forbidden" and "Setup" in err.value.reason
    with pytest.raises(Refused):
        dx.connect("setup@school.uk", SCHOOL, "xporter")  # no permission at that school
    status = dx.connect("setup@school.uk", OTHER, "wonde", "A1930499544")
    assert (status.state, status.partner, status.mis_id) == ("connected", "wonde", "A1930499544")
    with pytest.raises(Refused):
        dx.enable("data@school.uk", OTHER)
    assert dx.enable("setup@school.uk", OTHER).state == "enabled"
    assert dx.status("data@school.uk", OTHER).to_dict()["state"] == "enabled"
    assert dx.disable(OPERATOR, OTHER).state == "connected"
    with dx.service._session() as s:
        actions = [(e.action, e.outcome) for e in s.exec(select(AuditEvent).where(AuditEvent.school_dfe == OTHER)
                                                        .order_by(AuditEvent.id)).all()]
    assert actions == [("dx-connect", "refused"), ("dx-connect", "ok"), ("dx-enable", "refused"),
                       ("dx-enable", "ok"), ("dx-disable", "ok")]


def test_bad_partner_and_mis_id_are_refused(dx):
    with pytest.raises(Refused, match="Unknown Data Exchange partner"):
        dx.connect(OPERATOR, OTHER, "capita")
    with pytest.raises(Refused, match="--mis-id"):
        dx.connect(OPERATOR, OTHER, "wonde")
    with pytest.raises(Refused, match="letters, digits"):
        dx.connect(OPERATOR, OTHER, "xporter", "../../admin")
    with pytest.raises(Refused, match="connect it first"):
        dx.enable(OPERATOR, OTHER)


def test_source_selection_and_mis_cutoff(dx, monkeypatch):
    kernel = dx.kernel
    ks = kernel.keystage("ks4_gcse")
    context = SourceContext(service=dx.service, config=kernel.config)
    assert kernel.select_source(School(SCHOOL), ks, context).name == "blank"  # enabled, but nothing pulled yet
    dx.pull(SCHOOL)
    assert kernel.select_source(School(SCHOOL), ks, context).name == "data_exchange"
    cohort = kernel.sources["data_exchange"].cohort(School(SCHOOL), 11, context)
    assert len(cohort.pupils) == 5 and "Xporter" in cohort.describe() and cohort.taken_at
    # a later failed pull keeps the completed list in use
    dx.kernel.partners["xporter"].settings["password"] = "wrong"
    assert dx.pull(SCHOOL).outcome == "failed"
    assert kernel.select_source(School(SCHOOL), ks, context).name == "data_exchange"
    # connected (now, in 2026) after the KS5 2021 cut-off: not for that round, and told so
    ks5_context = SourceContext(service=dx.service, round=KS5_ROUND, config=kernel.config)
    source = kernel.sources["data_exchange"]
    assert not source.is_available(School(SCHOOL), ks5_context)
    assert "cut-off" in source.unavailable_reason(School(SCHOOL), ks5_context)
    assert any("cut-off" in n for n in dx.status(OPERATOR, SCHOOL).notes)
    # a round may restrict its sources
    restricted = SourceContext(service=dx.service, config=kernel.config,
                               round=Round(id="r", key_stage=4, year=2020, opens=KS5_ROUND.opens,
                                           closes=KS5_ROUND.closes, sources=("census", "blank")))
    assert kernel.select_source(School(SCHOOL), ks, restricted).name == "blank"


def test_disabled_school_is_not_used_nor_pulled_nightly(dx):
    dx.pull(SCHOOL)
    dx.disable(OPERATOR, SCHOOL)
    context = SourceContext(service=dx.service, config=dx.kernel.config)
    assert dx.kernel.select_source(School(SCHOOL), dx.kernel.keystage("ks4_gcse"), context).name == "blank"
    assert dx.pull_all() == []


# --------------------------------------------------------------------------- the nightly job


def test_job_pulls_enabled_schools_and_asks_to_retry_the_failed(dx, xporter):
    from apscheduler.triggers.cron import CronTrigger

    job = dx.kernel.jobs["data_exchange.pull"]
    assert job.trigger == "cron" and job.trigger_args["hour"] == "2" and job.trigger_args["minute"] == "0"
    CronTrigger(**job.trigger_args)  # the daemon can build it
    dx.connect(OPERATOR, OTHER, "xporter")  # Groupcall does not know this estab: its token is refused
    dx.enable(OPERATOR, OTHER)
    context = JobContext(kernel=dx.kernel, service=dx.service, now=lambda: dt.datetime.now(LONDON))
    outcome = job.func(context)
    assert outcome.outcome == "partial" and outcome.records == 8
    assert outcome.retry == {"schools": [OTHER]} and outcome.detail["outcomes"] == {SCHOOL: "completed",
                                                                                    OTHER: "failed"}
    retried = job.func(context, **outcome.retry)
    assert retried.detail["schools"] == 1 and retried.outcome == "failed"
    context.stopping.set()
    assert job.func(context).outcome == "stopped"


@pytest.mark.parametrize("schedule", ["every night", "0 25 * * *", "0 2 * * 8", "x 2 * * *", "0 2 32 * *"])
def test_bad_schedule_fails_the_plugin_with_a_message(schedule):
    from frs.plugins import PluginError

    with pytest.raises(PluginError, match="schedule"):
        Kernel(Config(path=None, enabled=["blank", "data_exchange"], strict=True,
                      plugin_settings={"data_exchange": {"schedule": schedule}}))


@pytest.mark.parametrize("schedule", ["0 2 * * *", "*/15 6-18 * * mon-fri", "30 1 1,15 * *", "0 3 * 1-6 0"])
def test_good_schedules_make_cron_triggers(schedule):
    from apscheduler.triggers.cron import CronTrigger
    from frs_data_exchange import cron_trigger_args

    CronTrigger(**cron_trigger_args(schedule))


# --------------------------------------------------------------------------- other partners


def test_wonde_pull_follows_next_links(db_url, tmp_path):
    with FakeWonde() as wonde:
        wonde.add_school("A1930499544", [wonde.student(p) for p in kit_pupils(SCHOOL, 5, exam_year=2020)])
        service = make_service(db_url, tmp_path, {"wonde": wonde.settings()})
        exchange = DataExchange(service)
        exchange.connect(OPERATOR, SCHOOL, "wonde", "A1930499544")
        summary = exchange.pull(SCHOOL)
        assert summary.outcome == "completed" and summary.pages == 3 and summary.by_year == {"11": 5}
        assert ("GET", "/v1.0/schools/A1930499544/students") in wonde.log


class TinyServer(FakeServer):
    """A third partner's API: GET /pupils?school=ID -> {"pupils": [...]} in one page."""

    def __init__(self, pupils):
        super().__init__()
        self.pupils = pupils

    def handle(self, request, method, path, query, body, fault=None):
        if request.headers.get("X-Key") != "tiny-key":
            return 401, {}, {}
        return 200, {"pupils": self.pupils}, {}


class TinyPartner(Partner):
    name, title = "tinymis", "Tiny MIS"
    settings_schema = HTTP_SETTINGS + (Setting("url", "API address", required=True),
                                       Setting("key", "API key", secret=True))

    def pages(self, http, mis_id, *, delta_token=None):
        body = http.get_json(self.settings["url"] + "/pupils", params={"school": mis_id},
                             headers={"X-Key": self.settings["key"]})
        yield Page(pupils=[MisPupil(mis_id=p["id"], upn=p["upn"], forename=p["first"], surname=p["last"],
                                    date_of_birth=p["dob"], gender=p["sex"], nc_year=p["year"]) for p in body["pupils"]])


class TinyPlugin:
    @hookimpl
    def register_partners(self, registry, settings):
        registry.add(TinyPartner(settings))


def test_a_third_partner_needs_no_change_to_kernel_or_data_exchange(db_url, tmp_path):
    pupils = [{"id": p.mis_id, "upn": p.upn, "first": p.forename, "last": p.surname, "dob": p.date_of_birth,
               "sex": p.gender, "year": p.nc_year} for p in kit_pupils(SCHOOL, 3, exam_year=2020)]
    with TinyServer(pupils) as server:
        service = make_service(db_url, tmp_path, {"tinymis": {"url": server.url, "key": "tiny-key"}},
                               extra_plugins={"tinymis": TinyPlugin()})
        exchange = DataExchange(service)
        exchange.connect(OPERATOR, SCHOOL, "tinymis", "T-1")
        exchange.enable(OPERATOR, SCHOOL)
        summary = exchange.pull(SCHOOL)
    assert summary.outcome == "completed" and summary.pupils == 3
    context = SourceContext(service=service, config=service.kernel.config)
    chosen = service.kernel.select_source(School(SCHOOL), service.kernel.keystage("ks4_gcse"), context)
    assert chosen.name == "data_exchange"
    assert "Tiny MIS" in chosen.cohort(School(SCHOOL), 11, context).origin


def test_no_secret_in_logs(dx, xporter, caplog):
    caplog.set_level(logging.DEBUG)
    dx.pull(SCHOOL)
    xporter.fault("401")
    failed = dx.pull(SCHOOL)
    text = caplog.text + json.dumps(failed.to_dict())
    for secret in xporter.secrets():
        assert secret not in text


def test_wonde_next_link_to_another_host_is_not_followed(db_url, tmp_path):
    with FakeWonde() as wonde:
        wonde.add_school("A1", [wonde.student(p) for p in kit_pupils(SCHOOL, 3, exam_year=2020)])
        original = wonde.handle

        def elsewhere(request, method, path, query, body, fault=None):
            status, payload, headers = original(request, method, path, query, body, fault)
            if payload.get("meta", {}).get("pagination", {}).get("next"):
                payload["meta"]["pagination"]["next"] = "https://collector.example/steal?page=2"
            return status, payload, headers

        wonde.handle = elsewhere
        service = make_service(db_url, tmp_path, {"wonde": wonde.settings()})
        exchange = DataExchange(service)
        exchange.connect(OPERATOR, SCHOOL, "wonde", "A1")
        summary = exchange.pull(SCHOOL)
    assert summary.outcome == "partial" and "collector.example" in summary.reason and summary.pages == 1
    assert exchange.cohort(SCHOOL)[0] == []


def test_characteristics_fall_back_to_the_census_extract(db_url, tmp_path):
    folder = tmp_path / "census"
    folder.mkdir()
    pupils = kit_pupils(OTHER, 2, exam_year=2020)
    rows = ["LEA,Estab,UPN,Surname,Forename,Middlenames,Sex,DOB,NCyearActual,EnrolStatus,FSMeligible,Language,"
            "SENProvision"] + [f"801,4001,{p.upn},{p.surname},{p.forename},,{p.gender},"
                               f"{'/'.join(reversed(p.date_of_birth.split('-')))},11,C,1,ENG,E" for p in pupils]
    (folder / "c.csv").write_text("\n".join(rows) + "\n")
    service = make_service(db_url, tmp_path, {"census": {"folder": str(folder)}})
    chars = cohorts.characteristics(service, OTHER)
    assert chars == {p.upn: {"disadvantaged": True, "sen": "E", "eal": False} for p in pupils}
    assert cohorts.characteristics(service, SCHOOL) == {}
    service.engine.dispose()


def test_missing_secret_and_oversized_reply_fail_with_what_to_do(db_url, tmp_path, xporter):
    settings = xporter.settings()
    del settings["password"]
    service = make_service(db_url, tmp_path, {"xporter": settings})
    exchange = DataExchange(service)
    exchange.connect(OPERATOR, SCHOOL, "xporter")
    summary = exchange.pull(SCHOOL)
    assert summary.outcome == "failed" and 'password = { env = "FRS_XPORTER_PASSWORD" }' in summary.reason
    partner = service.kernel.partners["xporter"]
    partner.settings.update(password=xporter.password, max_response_bytes=500)
    summary = exchange.pull(SCHOOL)
    assert summary.outcome == "failed" and "max_response_bytes" in summary.reason
    service.engine.dispose()


def test_cron_weekdays_mean_what_cron_means():
    from apscheduler.triggers.cron import CronTrigger
    from frs_data_exchange import cron_trigger_args

    monday = dt.datetime(2026, 11, 30, tzinfo=LONDON)
    sunday_run = CronTrigger(**cron_trigger_args("0 3 * * 0")).get_next_fire_time(None, monday)
    assert sunday_run.date() == dt.date(2026, 12, 6) and sunday_run.hour == 3
    weekdays = CronTrigger(**cron_trigger_args("30 1 * * 1-5")).get_next_fire_time(None, monday)
    assert weekdays.date() == dt.date(2026, 11, 30)
