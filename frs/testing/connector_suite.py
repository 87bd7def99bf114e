"""The conformance kit for pupil sources and Data Exchange partners (see docs/plugins.md).

A partner author runs the standard checks against a loopback server that speaks the partner's
API (a *mock partner*, see :class:`MockPartner`)::

    from frs.testing import get_partner_test_class
    from my_partner.testing import FakeMyMis

    TestMyMis = get_partner_test_class("mymis", server=FakeMyMis, plugins=["mymis"])

Partner checks (:data:`PARTNER_CHECKS`): the settings schema, a successful pull stored as the
school's cohort, 401/403 refused without retries, 429 (Retry-After honoured) and 5xx retried,
paging that ends (no page read twice or past the end), paging that loops (stopped by the guard),
an interrupted pull (server killed mid-pull) leaving the old cohort exactly as it was, and no
secret in any log line, error message or summary.

A pupil source without HTTP (a census reader, say) runs :func:`get_source_test_class` with a
``prepare(tmp_path) -> (settings, school, nc_year, expected_upns)`` callable.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol

import pytest

from ..config import Config
from ..connectors import School, Setting, SourceContext
from ..kernel import Kernel
from .fake_partners import KitPupil, kit_pupils

PARTNER_CHECKS: dict[str, str] = {
    "settings_schema": "the partner declares its settings; secrets have no default; unknown keys are refused",
    "successful_pull": "a pull against the mock server stores the school's pupils",
    "auth_not_retried": "401 and 403 fail at once with advice, without retries",
    "retried": "429 (with Retry-After) and 5xx replies are retried with back-off",
    "paging_ends": "paging stops after the last page",
    "paging_loops": "paging that never ends is stopped by the guard and keeps the old cohort",
    "interrupted_keeps_cohort": "a server killed mid-pull leaves the old cohort exactly as it was",
    "no_secrets": "no secret in any log line, error message or summary",
}
SOURCE_CHECKS: dict[str, str] = {
    "settings_schema": "the source declares its settings and refuses unknown keys",
    "cohort": "the prepared school's pupils come back for its NC year, with valid UPNs",
    "other_year_and_school": "another NC year or an unknown school gives no pupils and no error",
}
KIT_MIS_ID = "1231234"


class MockPartner(Protocol):
    """What a partner's loopback server offers the kit (see :class:`frs.testing.fake_partners.FakeXporter`)."""

    data_requests: int

    def start(self) -> Any: ...
    def stop(self) -> None: ...
    def add_school(self, mis_id: str, students: list[dict[str, Any]]) -> None: ...
    def student(self, pupil: KitPupil) -> dict[str, Any]: ...
    def settings(self, **extra: Any) -> dict[str, Any]: ...
    def secrets(self) -> list[str]: ...
    def fault(self, kind: str, times: int = 1, **options: Any) -> None: ...


class _Stopping(threading.Event):
    """A stopping event that records the waits asked of it and does not sleep (so Retry-After
    can be checked without slowing the suite)."""

    def __init__(self):
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


@dataclass
class PartnerKitSpec:
    partner: str
    server: Callable[[], MockPartner]
    plugins: Any
    mis_id: str
    settings: Mapping[str, Any]
    bypass: Mapping[str, str]


class PartnerRig:
    """One mock server, one SQLite database and the Data Exchange service over them."""

    def __init__(self, spec: PartnerKitSpec, tmp_path: Path, **settings: Any):
        from ..services.data_exchange import DataExchange
        from ..storage import db
        from ..storage.files import FileStore
        from ..storage.service import OPERATOR, Service

        self.spec = spec
        self.server = spec.server()
        self.server.start()
        objects = dict(spec.plugins) if isinstance(spec.plugins, Mapping) else {}
        names = [] if objects else list(spec.plugins)
        self.partner_plugin = (list(objects) or names)[0]
        config = Config(path=None, enabled=["blank", "data_exchange", *names], strict=True,
                        plugin_settings={self.partner_plugin: {**self.server.settings(**settings), **spec.settings}})
        self.kernel = Kernel(config, plugins=objects or None)
        self.engine = db.make_engine(f"sqlite:///{tmp_path / 'kit.db'}")
        self.service = Service(self.kernel, self.engine, FileStore(tmp_path / "files"))
        self.service.init_db()
        self.service.add_school(KIT_MIS_ID, "Conformance Kit School")
        self.dx = DataExchange(self.service)
        self.dx.connect(OPERATOR, KIT_MIS_ID, spec.partner, spec.mis_id)
        self.dx.enable(OPERATOR, KIT_MIS_ID)

    def serve(self, count: int, *, nc_year: int = 11, first_serial: int = 1) -> list[KitPupil]:
        pupils = kit_pupils(KIT_MIS_ID, count, nc_year=nc_year, first_serial=first_serial)
        self.server.add_school(self.spec.mis_id, [self.server.student(p) for p in pupils])
        return pupils

    def pull(self, stopping: threading.Event | None = None):
        return self.dx.pull(KIT_MIS_ID, stopping=stopping)

    def stored(self) -> list[tuple]:
        rows, _ = self.dx.cohort(KIT_MIS_ID)
        return sorted((r.upn, r.forename, r.surname, r.date_of_birth, r.gender, r.nc_year, r.pull_id) for r in rows)

    def forget_delta(self) -> None:
        """Make the next pull a full one (the mock's data changed behind the change token's back)."""
        from sqlmodel import select

        from ..storage.models_dx import DxConnection

        with self.service._session(write=True) as s:
            for conn in s.exec(select(DxConnection)).all():
                conn.delta_token = None
                s.add(conn)
            s.commit()

    def close(self) -> None:
        self.server.stop()
        self.engine.dispose()


class PartnerTests:
    """The standard partner tests; :func:`get_partner_test_class` makes a concrete subclass."""

    __test__ = False
    kit_spec: PartnerKitSpec

    @pytest.fixture
    def rig(self, tmp_path):
        rig = PartnerRig(self.kit_spec, tmp_path)
        yield rig
        rig.close()

    def check(self, name: str) -> None:
        reason = self.kit_spec.bypass.get(name)
        if reason:
            pytest.skip(f"{name} bypassed: {reason}")

    def test_settings_schema(self, rig: PartnerRig) -> None:
        from ..partners import HTTP_SETTINGS, Partner

        self.check("settings_schema")
        partner = rig.kernel.partners.get(self.kit_spec.partner)
        assert isinstance(partner, Partner), f"no partner {self.kit_spec.partner!r} registered"
        assert partner.title, "the partner has no title for people"
        names = [s.name for s in partner.settings_schema]
        assert all(isinstance(s, Setting) for s in partner.settings_schema)
        assert len(names) == len(set(names)), f"settings declared twice: {names}"
        assert {s.name for s in HTTP_SETTINGS} <= set(names), "include frs.partners.HTTP_SETTINGS in settings_schema"
        for s in partner.settings_schema:
            if s.secret:
                assert s.default is None, f"secret setting {s.name!r} has a default; secrets come from the environment"
        with pytest.raises(ValueError, match="not_a_setting"):
            type(partner)({**partner.settings, "not_a_setting": 1})

    def test_successful_pull(self, rig: PartnerRig) -> None:
        self.check("successful_pull")
        pupils = rig.serve(5)
        summary = rig.pull()
        assert summary.outcome == "completed", summary.reason
        assert summary.pupils == 5 and summary.by_year == {"11": 5}
        assert sorted(r[0] for r in rig.stored()) == sorted(p.upn for p in pupils)
        assert {r[3].isoformat() for r in rig.stored()} == {p.date_of_birth for p in pupils}

    @pytest.mark.parametrize("status", ["401", "403"])
    def test_auth_not_retried(self, rig: PartnerRig, status: str) -> None:
        self.check("auth_not_retried")
        rig.serve(3)
        before = rig.server.data_requests
        rig.server.fault(status, times=5)
        summary = rig.pull()
        assert summary.outcome == "failed"
        assert rig.server.data_requests - before == 1, "a 401/403 reply must not be retried"
        assert summary.retries == 0
        assert status in summary.reason

    @pytest.mark.parametrize("status", ["429", "500", "503"])
    def test_retried(self, rig: PartnerRig, status: str) -> None:
        self.check("retried")
        rig.serve(3)
        rig.server.fault(status, times=2, retry_after=7)
        stopping = _Stopping()
        summary = rig.pull(stopping)
        assert summary.outcome == "completed", summary.reason
        assert summary.retries == 2
        if status == "429":
            assert stopping.waits and all(w >= 7 for w in stopping.waits), \
                f"Retry-After: 7 was not honoured (waited {stopping.waits})"

    def test_paging_ends(self, rig: PartnerRig) -> None:
        self.check("paging_ends")
        rig.serve(5)  # the mock servers page by 2: three pages
        summary = rig.pull()
        assert summary.outcome == "completed", summary.reason
        assert summary.pages == 3, f"read {summary.pages} pages of 3"
        assert summary.pupils == 5

    def test_paging_loops(self, rig: PartnerRig, tmp_path: Path) -> None:
        self.check("paging_loops")
        rig.serve(3)
        assert rig.pull().outcome == "completed"
        before = rig.stored()
        rig.kernel.partners[self.kit_spec.partner].settings["max_pages"] = 25  # keep the suite quick
        rig.server.fault("endless")
        summary = rig.pull()
        assert summary.outcome in ("partial", "failed")
        assert summary.pages <= int(rig.kernel.partners[self.kit_spec.partner].settings["max_pages"])
        assert "pag" in summary.reason
        assert rig.stored() == before

    def test_interrupted_keeps_cohort(self, rig: PartnerRig) -> None:
        self.check("interrupted_keeps_cohort")
        rig.serve(5)
        assert rig.pull().outcome == "completed"
        before = rig.stored()
        rig.serve(7, first_serial=40)
        rig.forget_delta()
        rig.server.fault("kill", after_pages=getattr(rig.server, "pages_served", 0) + 1)
        summary = rig.pull()
        assert summary.outcome in ("failed", "partial", "interrupted")
        assert summary.reason
        assert rig.stored() == before, "an interrupted pull changed the stored cohort"

    def test_no_secrets(self, rig: PartnerRig, caplog: pytest.LogCaptureFixture) -> None:
        self.check("no_secrets")
        rig.serve(3)
        caplog.set_level(logging.DEBUG)
        summaries = [rig.pull()]
        rig.server.fault("401")
        summaries.append(rig.pull())
        rig.server.fault("500", times=1)
        summaries.append(rig.pull())
        rig.server.fault("kill", after_pages=getattr(rig.server, "pages_served", 0))
        summaries.append(rig.pull())
        status = rig.dx.status(None, KIT_MIS_ID).to_dict()
        text = caplog.text + json.dumps([s.to_dict() for s in summaries]) + json.dumps(status)
        for secret in rig.server.secrets():
            if secret:
                assert secret not in text, "a secret appeared in a log line, an error message or a summary"


def get_partner_test_class(partner: str, *, server: Callable[[], MockPartner], plugins: Any = None,
                           mis_id: str = KIT_MIS_ID, settings: Mapping[str, Any] | None = None,
                           bypass: Mapping[str, str] | None = None, name: str | None = None) -> type:
    """A pytest test class running the partner checks.

    Args:
        partner: the partner's name (``Partner.name``).
        server: makes a :class:`MockPartner` (not yet started) for each test.
        plugins: the plugin providing the partner: installed names (default ``[partner]``) or
            ``{name: module}`` for plugin objects registered in-process.
        mis_id: the school's id at the mock partner.
        settings: extra ``[plugins.<name>]`` values on top of ``server().settings()``.
        bypass: ``{check: reason}`` for checks the partner cannot meet (shown as skips).
    """
    spec = PartnerKitSpec(partner, server, plugins if plugins is not None else [partner], mis_id,
                          dict(settings or {}), dict(bypass or {}))
    return type(name or f"Test{partner.title().replace('_', '')}PartnerConformance", (PartnerTests,),
                {"kit_spec": spec, "__test__": True, "__doc__": f"frs conformance suite for partner {partner!r}."})


# --------------------------------------------------------------------------- plain pupil sources


@dataclass
class SourceKitSpec:
    source: str
    plugins: Any
    prepare: Callable[[Path], tuple[dict[str, Any], School, int, Iterable[str]]]
    bypass: Mapping[str, str]


class SourceTests:
    __test__ = False
    kit_spec: SourceKitSpec

    @pytest.fixture
    def prepared(self, tmp_path):
        settings, school, nc_year, upns = self.kit_spec.prepare(tmp_path)
        objects = dict(self.kit_spec.plugins) if isinstance(self.kit_spec.plugins, Mapping) else {}
        names = [] if objects else list(self.kit_spec.plugins)
        plugin = (list(objects) or names)[0]
        kernel = Kernel(Config(path=None, enabled=["blank", *names], strict=True,
                               plugin_settings={plugin: settings}), plugins=objects or None)
        return kernel, kernel.sources[self.kit_spec.source], school, nc_year, set(upns), settings

    def check(self, name: str) -> None:
        reason = self.kit_spec.bypass.get(name)
        if reason:
            pytest.skip(f"{name} bypassed: {reason}")

    def test_settings_schema(self, prepared) -> None:
        self.check("settings_schema")
        _, source, *_, settings = prepared
        assert source.settings_schema, "declare the source's settings in settings_schema"
        assert all(isinstance(s, Setting) for s in source.settings_schema)
        with pytest.raises(ValueError, match="not_a_setting"):
            type(source)({**settings, "not_a_setting": 1})

    def test_cohort(self, prepared) -> None:
        from .. import upn

        self.check("cohort")
        kernel, source, school, nc_year, upns, _ = prepared
        context = SourceContext(config=kernel.config)
        assert source.is_available(school, context)
        cohort = source.cohort(school, nc_year, context)
        assert {p.upn for p in cohort.pupils} == upns
        assert all(upn.valid(p.upn) and p.nc_year == nc_year for p in cohort.pupils)
        assert cohort.source == source.name and cohort.describe()

    def test_other_year_and_school(self, prepared) -> None:
        self.check("other_year_and_school")
        kernel, source, school, nc_year, _, _ = prepared
        context = SourceContext(config=kernel.config)
        assert source.cohort(school, nc_year + 1 if nc_year < 14 else 1, context).pupils == []
        stranger = School("9999999", "No Such School")
        assert not source.is_available(stranger, context)


def get_source_test_class(source: str, *, prepare: Callable[[Path], tuple[dict[str, Any], School, int, Iterable[str]]],
                          plugins: Any = None, bypass: Mapping[str, str] | None = None,
                          name: str | None = None) -> type:
    """A pytest test class running the source checks. ``prepare(tmp_path)`` writes whatever the
    source reads and returns ``(settings, school, nc_year, expected_upns)``."""
    spec = SourceKitSpec(source, plugins if plugins is not None else [source], prepare, dict(bypass or {}))
    return type(name or f"Test{source.title().replace('_', '')}SourceConformance", (SourceTests,),
                {"kit_spec": spec, "__test__": True, "__doc__": f"frs conformance suite for source {source!r}."})
