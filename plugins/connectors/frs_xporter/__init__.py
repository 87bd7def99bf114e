"""Groupcall Xporter on Demand as a Data Exchange partner (domain.md section 6.2).

A pull asks the STS for a token (relying party, the school's estab, the password), then reads
``GET {api_url}/School/{estab}/Students/?page=P&pageSize=N`` with ``Authorization: Idaas
<token>``. Paging stops on ``PageNumber >= PageCount``: Xporter sets ``NextPage`` even on the
last page. Keys are read case-insensitively (the documented ``DateOfBirth`` arrives as
``DateofBirth``). UPNs arrive only when the school granted the ``UPN`` consent scope; a pupil
without one is reported by the Data Exchange service, never guessed.

Delta pulls send ``changedRows=<token>`` and read the changed ``Students``, ``Students_deleted``
and ``__changedRows__[0].NextChangedRows``; a refused token (HTTP 400/404/410) makes the service
fall back to a full pull.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from frs import hookimpl
from frs.connectors import School, Setting
from frs.partners import HTTP_SETTINGS, MisPupil, Page, Partner, PartnerHttp, PullError

THIRD_PARTY_ID = "XporterOnDemand"


def _ci(mapping: Any) -> dict[str, Any]:
    """Keys lower-cased: Xporter's responses and its documentation disagree on case."""
    return {str(k).lower(): v for k, v in mapping.items()} if isinstance(mapping, Mapping) else {}


def _first(value: Any) -> dict[str, Any]:
    if isinstance(value, list) and value:
        value = value[0]
    return _ci(value)


class Xporter(Partner):
    name = "xporter"
    title = "Groupcall Xporter on Demand"
    mis_id_help = "the school's estab at Groupcall, by default its 7-digit DfE number"
    supports_delta = True
    settings_schema = HTTP_SETTINGS + (
        Setting("token_url", "the Groupcall STS token address",
                default="https://login.groupcall.com/idaas/sts/STS/GetToken"),
        Setting("api_url", "the Xporter API base address", default="https://xporter.groupcall.com/api/v1"),
        Setting("relying_party", "this service's relying party at Groupcall", secret=True),
        Setting("password", "this service's Xporter password", secret=True),
    )

    def default_mis_id(self, school: School) -> str | None:
        return school.dfe

    def token(self, http: PartnerHttp, estab: str) -> str:
        for key, var in (("relying_party", "FRS_XPORTER_RELYING_PARTY"), ("password", "FRS_XPORTER_PASSWORD")):
            if not self.settings.get(key):
                raise PullError(f"[plugins.{self.plugin or self.name}] has no {key}: add "
                                f'{key} = {{ env = "{var}" }} to the config and set {var}', "config")
        body = http.post_json(self.settings["token_url"], {
            "relyingParty": self.settings["relying_party"], "thirdPartyId": THIRD_PARTY_ID,
            "estab": estab, "password": self.settings["password"]})
        fields = _ci(body)
        token = fields.get("token")
        if not isinstance(token, str) or not token:
            said = " ".join(str(fields.get(k) or "") for k in ("message", "exceptionmessage")).strip()
            said = "".join(ch for ch in said if ch.isprintable())[:200]
            raise PullError(f"Groupcall gave no token for estab {estab}{': ' + http.scrub(said) if said else ''}; "
                            "check that the school has authorised this service in Xporter and the relying party "
                            "and password settings", "auth")
        http.add_secret(token)
        return token

    def pages(self, http: PartnerHttp, mis_id: str, *, delta_token: str | None = None) -> Iterator[Page]:
        token = self.token(http, mis_id)
        url = f"{str(self.settings['api_url']).rstrip('/')}/School/{mis_id}/Students/"
        headers = {"Authorization": f"Idaas {token}"}
        size = int(self.settings.get("page_size") or 500)
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "pageSize": size}
            if delta_token:
                params["changedRows"] = delta_token
            body = http.request_json("GET", url, params=params, headers=headers,
                                     refuse_statuses=(400, 404, 410) if delta_token else ())
            fields = _ci(body)
            students = fields.get("students")
            if not isinstance(students, list):
                raise PullError(f"Xporter's reply for page {page} has no Students list", "malformed")
            paging = _first(fields.get("__pagination__"))
            changes = _first(fields.get("__changedrows__"))
            deleted = [str(_ci(d).get("id", "")) if isinstance(d, Mapping) else str(d)
                       for d in (fields.get("students_deleted") or [])]
            number, count = _int(paging.get("pagenumber"), page), _int(paging.get("pagecount"), 1)
            if number != page:
                raise PullError(f"asked Xporter for page {page} and got page {number}; its paging is broken",
                                "paging")
            yield Page(pupils=[self.pupil(s) for s in students], deleted=[d for d in deleted if d],
                       delta=bool(delta_token), next_delta_token=_text(changes.get("nextchangedrows")),
                       expected_pages=count)
            if number >= count:  # NextPage is set even on the last page: never follow it
                return
            page += 1

    @staticmethod
    def pupil(raw: Any) -> MisPupil:
        s = _ci(raw)
        if not s:
            raise PullError("Xporter sent a Students entry that is not an object", "malformed")
        return MisPupil(
            mis_id=_text(s.get("id")) or "", upn=_text(s.get("upn")),
            forename=s.get("legalforename") or s.get("forename"), surname=s.get("legalsurname") or s.get("surname"),
            date_of_birth=s.get("dateofbirth"), gender=s.get("gender"), nc_year=s.get("yeargroup"),
            characteristics={"fsm": s.get("fsmeligible"), "fsm_ever6": s.get("fsmever6"),
                             "pupil_premium": s.get("pupilpremium"), "sen": s.get("senprovision"),
                             "eal": s.get("eal"), "first_language": s.get("firstlanguagecode")})


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@hookimpl
def register_partners(registry, settings):
    registry.add(Xporter(settings))
