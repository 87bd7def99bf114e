"""Loopback servers that speak the Data Exchange partners' APIs, for tests, the conformance kit
and trying frs out (``scripts/fake_xporter.py``).

:class:`FakeXporter` serves the recorded Groupcall Xporter replies (``data/``) and schools made in
their shape; :class:`FakeWonde` serves Wonde's documented shape. Both run a real HTTP server on
127.0.0.1 (port 0: the system picks a free one) in a thread, and can be told to misbehave:

    with FakeXporter() as server:
        server.add_school("1231234", server.demo_students("1231234", 30, nc_year=11, exam_year=2020))
        server.fault("429", times=2, retry_after=0)   # the next two data requests
        server.fault("kill", after_pages=1)            # die after serving one page

Faults: ``slow`` (wait ``seconds`` before answering), ``500``, ``503``, ``429`` (with
``retry_after``), ``401``, ``403``, ``malformed`` (a reply that is not JSON), ``endless`` (paging
that never ends), ``kill`` (close the connection and stop serving, after ``after_pages`` pages).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .. import upn as upn_mod

FIRST_NAMES = ("Amara", "Ben", "Chloe", "Dev", "Ella", "Farid", "Grace", "Hugo", "Isla", "Jack", "Kiran", "Leah",
               "Mason", "Nia", "Oscar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wes", "Yara", "Zane")
SURNAMES = ("Adams", "Bello", "Clarke", "Dunn", "Evans", "Fisher", "Gray", "Hussain", "Iqbal", "Jones", "Khan", "Lee",
            "Mills", "Novak", "Owen", "Patel", "Reid", "Shah", "Taylor", "Usman", "Vaughan", "Walsh", "Young")


@dataclass
class KitPupil:
    """A pupil as the conformance kit wants a fake partner to serve it (partner-neutral)."""

    mis_id: str
    upn: str | None
    forename: str
    surname: str
    date_of_birth: str | None  # YYYY-MM-DD
    gender: str  # "M" | "F"
    nc_year: int | None


def born_for(nc_year: int, exam_year: int, n: int) -> dt.date:
    """A date of birth that puts a pupil in ``nc_year`` in the summer of ``exam_year``."""
    start = dt.date(exam_year - nc_year - 6, 9, 1)
    return start + dt.timedelta(days=(n * 37) % 365)


def kit_pupils(dfe: str, count: int, *, nc_year: int = 11, exam_year: int | None = None,
               first_serial: int = 1) -> list[KitPupil]:
    """``count`` made-up pupils of school ``dfe`` with valid UPNs, in ``nc_year``."""
    exam_year = exam_year or dt.date.today().year
    la = dfe[:3] if dfe[:3] in upn_mod.la_codes() else "801"  # the LA that allocated the UPN must exist
    out = []
    for i in range(count):
        serial = first_serial + i
        out.append(KitPupil(
            mis_id=str(5000 + serial), upn=upn_mod.make(la, dfe[3:], exam_year - 11 + serial // 1000, serial % 1000),
            forename=FIRST_NAMES[serial % len(FIRST_NAMES)], surname=SURNAMES[(serial * 7) % len(SURNAMES)],
            date_of_birth=born_for(nc_year, exam_year, serial).isoformat(), gender="MF"[serial % 2],
            nc_year=nc_year))
    return out


# --------------------------------------------------------------------------- the server


class _Killed(Exception):
    pass


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 with a queue of faults for the data requests."""

    def __init__(self, port: int = 0):
        self.lock = threading.Lock()
        self.faults: list[dict[str, Any]] = []
        self.data_requests = 0
        self.pages_served = 0
        self.log: list[tuple[str, str]] = []  # (method, path) of every request
        self.killed = False
        self.page_delay = 0.0  # seconds every data request waits (to watch, or interrupt, a pull)
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"fake-{self.port}", daemon=True)

    def start(self) -> "FakeServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        if not self.killed:
            self.killed = True
            self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def fault(self, kind: str, times: int = 1, **options: Any) -> None:
        """Misbehave on the next ``times`` data requests (``kill``: once, after ``after_pages``)."""
        if kind == "endless":
            times = max(times, 10**9)  # paging that never ends, for every later request
        with self.lock:
            self.faults.append({"kind": kind, "times": times, **options})

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    # ------------------------------------------------------------------ subclass API

    def handle(self, request: "BaseHTTPRequestHandler", method: str, path: str, query: dict[str, list[str]],
               body: bytes) -> tuple[int, Any, dict[str, str]]:  # pragma: no cover
        raise NotImplementedError

    def is_data_request(self, method: str, path: str) -> bool:
        return method == "GET"

    # ------------------------------------------------------------------ plumbing

    def _take_fault(self) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if fault["kind"] == "kill":
                    if self.pages_served >= fault.get("after_pages", 0):
                        self.faults.remove(fault)
                        return fault
                    continue
                fault["times"] -= 1
                if fault["times"] <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _kill(self, request) -> None:
        """Die like a crashed server: stop listening first (so a retry finds nothing there), then
        drop this connection unanswered. Handlers run in their own threads, so the serving loop
        can be stopped from here."""
        self.killed = True
        self.httpd.shutdown()
        try:
            self.httpd.socket.close()
        except OSError:
            pass
        try:
            request.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.log.append((method, parts.path))
                status, payload, headers = 200, None, {}
                if server.is_data_request(method, parts.path):
                    server.data_requests += 1
                    if server.page_delay:
                        time.sleep(server.page_delay)
                    fault = server._take_fault()
                    if fault is not None:
                        kind = fault["kind"]
                        if kind == "kill":
                            server._kill(self)
                            self.close_connection = True
                            return
                        if kind == "slow":
                            time.sleep(float(fault.get("seconds", 2.0)))
                        elif kind in ("500", "502", "503", "401", "403"):
                            self._send(int(kind), {"Message": f"fake fault {kind}"}, {})
                            return
                        elif kind == "429":
                            self._send(429, {"Message": "Too many requests"},
                                       {"Retry-After": str(fault.get("retry_after", 1))})
                            return
                        elif kind == "malformed":
                            self._send(200, b'{"Students": [ {"Id": "1", ', {})
                            return
                        else:
                            options = {k: v for k, v in fault.items() if k not in ("times",)}
                            status, payload, headers = server.handle(self, method, parts.path,
                                                                     parse_qs(parts.query), body, fault=options)
                            self._send(status, payload, headers)
                            return
                status, payload, headers = server.handle(self, method, parts.path, parse_qs(parts.query), body)
                self._send(status, payload, headers)

            def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    # headers and body in one write: two small writes meet the client's delayed ACK
                    self._headers_buffer.extend([b"\r\n", data])
                    self.flush_headers()
                except OSError:
                    pass

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        return Handler


# --------------------------------------------------------------------------- Xporter


def recorded_xporter_pages() -> list[dict[str, Any]]:
    """The two recorded Xporter reply bodies, as sent."""
    folder = resources.files("frs.testing").joinpath("data")
    return [json.loads(folder.joinpath(f"xporter_students_{n}.json").read_text("utf-8"))["body"] for n in (1, 2)]


def recorded_xporter_students() -> list[dict[str, Any]]:
    return [s for page in recorded_xporter_pages() for s in page["Students"]]


class FakeXporter(FakeServer):
    """Groupcall Xporter on Demand on loopback: the STS token call and the Students endpoint."""

    TOKEN_PATH = "/idaas/sts/STS/GetToken"
    API_PATH = "/api/v1"

    def __init__(self, port: int = 0, *, relying_party: str = "frs-test-rp", password: str | None = None):
        super().__init__(port)
        self.relying_party = relying_party
        self.password = password or "pw-" + secrets.token_hex(8)
        self.tokens: dict[str, str] = {}  # token -> estab
        self.schools: dict[str, list[dict[str, Any]]] = {}
        self.versions: dict[str, list[tuple[list[dict[str, Any]], list[str]]]] = {}  # estab -> changes by version
        self.refuse_delta = False
        self.template = recorded_xporter_students()[0]

    # ------------------------------------------------------------------ data

    def add_school(self, estab: str, students: list[dict[str, Any]]) -> None:
        self.schools[estab] = list(students)
        self.versions[estab] = []

    def change(self, estab: str, *, updated: list[dict[str, Any]] = (), deleted: list[str] = ()) -> None:
        """Change the school's MIS: the next delta pull sees exactly these changes."""
        by_id = {s["Id"]: s for s in self.schools[estab]}
        for student in updated:
            by_id[student["Id"]] = student
        for mis_id in deleted:
            by_id.pop(mis_id, None)
        self.schools[estab] = list(by_id.values())
        self.versions[estab].append((list(updated), list(deleted)))

    def student(self, pupil: KitPupil) -> dict[str, Any]:
        """A Students entry in the recorded shape, with the UPN consent scope granted."""
        s = copy.deepcopy(self.template)
        year = f"Year  {pupil.nc_year}" if pupil.nc_year is not None else "Year  N2"
        s.update({"Id": pupil.mis_id, "IdaasId": f"PL-{pupil.mis_id}", "Forename": pupil.forename,
                  "Surname": pupil.surname, "LegalForename": pupil.forename, "LegalSurname": pupil.surname,
                  "DisplayName": f"{pupil.forename} {pupil.surname}", "Gender": pupil.gender,
                  "DateofBirth": pupil.date_of_birth, "YearGroup": year, "RegGroup": f"{pupil.nc_year or 'N'}A",
                  "SENProvision": None, "FSMEligible": int(pupil.mis_id[-1:] in "13"),
                  "PupilPremium": int(pupil.mis_id[-1:] in "135"), "FSMEver6": int(pupil.mis_id[-1:] in "135"),
                  "EAL": 0, "FirstLanguageCode": "ENG", "FirstLanguage": "English"})
        if pupil.upn is not None:
            s["UPN"], s["FormerUPN"] = pupil.upn, None
        return s

    def demo_students(self, dfe: str, count: int, *, nc_year: int = 11, exam_year: int | None = None,
                      first_serial: int = 1) -> list[dict[str, Any]]:
        return [self.student(p) for p in kit_pupils(dfe, count, nc_year=nc_year, exam_year=exam_year,
                                                      first_serial=first_serial)]

    def settings(self, **extra: Any) -> dict[str, Any]:
        """``[plugins.xporter]`` pointing at this server, with quick retries for tests."""
        return {"token_url": self.url + self.TOKEN_PATH, "api_url": self.url + self.API_PATH,
                "relying_party": self.relying_party, "password": self.password, "timeout": 5.0,
                "retries": 2, "backoff_base": 0.01, "page_size": 2, **extra}

    def secrets(self) -> list[str]:
        return [self.password, self.relying_party, *self.tokens]

    # ------------------------------------------------------------------ requests

    def is_data_request(self, method: str, path: str) -> bool:
        return method == "GET" and path.startswith(self.API_PATH)

    def handle(self, request, method, path, query, body, fault=None):
        if method == "POST" and path == self.TOKEN_PATH:
            try:
                asked = json.loads(body or b"{}")
            except ValueError:
                return 400, {"Message": "bad request"}, {}
            if (asked.get("relyingParty"), asked.get("password"), asked.get("thirdPartyId")) != \
                    (self.relying_party, self.password, "XporterOnDemand") or asked.get("estab") not in self.schools:
                return 401, {"Message": "Authorisation has been denied for this request.", "token": None}, {}
            token = secrets.token_urlsafe(24)
            self.tokens[token] = asked["estab"]
            expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.1234567Z")
            return 200, {"Message": None, "ExceptionMessage": None, "token": token, "expires": expires}, {}
        parts = path[len(self.API_PATH):].strip("/").split("/")
        if method != "GET" or len(parts) < 3 or parts[0] != "School" or parts[2] != "Students":
            return 404, {"Message": "No HTTP resource was found"}, {}
        estab = parts[1]
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Idaas ") or self.tokens.get(auth[6:]) != estab:
            return 401, {"Message": "Authorization has been denied for this request."}, {}
        page = int((query.get("page") or ["1"])[0])
        size = int((query.get("pageSize") or ["100"])[0])
        changed = (query.get("changedRows") or [None])[0]
        deleted: list[str] = []
        if changed is not None:
            version = int(changed[1:]) if changed[:1] == "v" and changed[1:].isdigit() else -1
            if self.refuse_delta or not 0 <= version <= len(self.versions[estab]):
                return 400, {"Message": "The changedRows value is not valid"}, {}
            by_id: dict[str, dict[str, Any]] = {}
            for updated, removed in self.versions[estab][version:]:
                for s in updated:
                    by_id[s["Id"]] = s
                for r in removed:
                    by_id.pop(r, None)
                    deleted.append(r)
            rows = list(by_id.values())
        else:
            rows = self.schools[estab]
        count = max(1, -(-len(rows) // size))
        if fault and fault.get("kind") == "endless":
            count = page + 1
        chunk = rows[(page - 1) * size: page * size]
        self.pages_served += 1
        body_out: dict[str, Any] = {
            "Students": chunk, "StudentSiblings": [],
            "meta": [{"Id": 1, "MIS": "simsnet", "Version": "4", "DateTime": dt.datetime.now().isoformat()}],
            # as recorded: NextPage is set even on the last page
            "__pagination__": [{"PageSize": size, "PageNumber": page, "PageCount": count, "RowCount": len(rows),
                                "NextPage": f"?page={page + 1}&pageSize={size}"}],
            "__changedRows__": [{"NextChangedRows": f"v{len(self.versions[estab])}"}],
        }
        if changed is not None:
            body_out["Students_deleted"] = [{"Id": d} for d in deleted] if page == 1 else []
        return 200, body_out, {}


# --------------------------------------------------------------------------- Wonde


class FakeWonde(FakeServer):
    """Wonde on loopback: ``/v1.0/schools/{id}/students`` with bearer tokens and next links."""

    API_PATH = "/v1.0"

    def __init__(self, port: int = 0, *, token: str | None = None):
        super().__init__(port)
        self.token = token or "wonde-" + secrets.token_hex(8)
        self.schools: dict[str, list[dict[str, Any]]] = {}

    def add_school(self, school_id: str, students: list[dict[str, Any]]) -> None:
        self.schools[school_id] = list(students)

    @staticmethod
    def student(pupil: KitPupil) -> dict[str, Any]:
        def when(day: str | None):
            return {"date": f"{day} 00:00:00.000000", "timezone_type": 3, "timezone": "Europe/London"} if day else None

        return {"id": f"A{pupil.mis_id}", "upi": secrets.token_hex(16), "mis_id": pupil.mis_id, "initials": "",
                "title": None, "surname": pupil.surname, "forename": pupil.forename, "middle_names": None,
                "legal_surname": pupil.surname, "legal_forename": pupil.forename,
                "gender": {"M": "MALE", "F": "FEMALE"}.get(pupil.gender, pupil.gender),
                "gender_identity": None, "date_of_birth": when(pupil.date_of_birth),
                "education_details": {"data": {"upn": pupil.upn, "former_upn": None,
                                               "current_nc_year": str(pupil.nc_year) if pupil.nc_year else None}},
                "year": {"data": {"code": str(pupil.nc_year or ""), "name": f"Year {pupil.nc_year}"}}}

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {"api_url": self.url + self.API_PATH, "token": self.token, "timeout": 5.0, "retries": 2,
                "backoff_base": 0.01, "page_size": 2, **extra}

    def secrets(self) -> list[str]:
        return [self.token]

    def is_data_request(self, method: str, path: str) -> bool:
        return method == "GET" and path.startswith(self.API_PATH)

    def handle(self, request, method, path, query, body, fault=None):
        parts = path[len(self.API_PATH):].strip("/").split("/")
        if len(parts) != 3 or parts[0] != "schools" or parts[2] != "students":
            return 404, {"error": "not found"}, {}
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error": "Unauthenticated."}, {}
        school = parts[1]
        if school not in self.schools:
            return 403, {"error": "This school has not approved access."}, {}
        rows = self.schools[school]
        page = int((query.get("page") or ["1"])[0])
        size = int((query.get("per_page") or ["50"])[0])
        more = page * size < len(rows) or bool(fault and fault.get("kind") == "endless")
        nxt = f"{self.url}{self.API_PATH}/schools/{school}/students?include=education_details%2Cyear" \
              f"&per_page={size}&page={page + 1}" if more else None
        self.pages_served += 1
        return 200, {"data": rows[(page - 1) * size: page * size],
                     "meta": {"pagination": {"next": nxt, "previous": None, "more": more, "per_page": size,
                                             "current_page": page}}}, {}
