"""Wonde as a Data Exchange partner (domain.md section 6.1).

``GET {api_url}/schools/{school_id}/students?include=education_details,year`` with a bearer
token; pages follow ``meta.pagination.next`` until it is empty (or ``more`` is false). The UPN
and NC year come from ``education_details``; dates are objects ``{"date": "2009-11-20 00:00:00
.000000", ...}``. A ``next`` link to another host is refused, so the token never leaves Wonde,
and a ``next`` link seen before ends the pull as looping.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

from frs import hookimpl
from frs.connectors import Setting
from frs.partners import HTTP_SETTINGS, MisPupil, Page, Partner, PartnerHttp, PullError


def _data(value: Any) -> dict[str, Any]:
    """Wonde nests includes as {"name": {"data": {...}}}."""
    if isinstance(value, Mapping):
        inner = value.get("data")
        if isinstance(inner, Mapping):
            return dict(inner)
    return {}


def _date(value: Any) -> Any:
    if isinstance(value, Mapping):
        value = value.get("date")
    return str(value)[:10] if value else None


class Wonde(Partner):
    name = "wonde"
    title = "Wonde"
    mis_id_help = "the school's Wonde id, e.g. A1930499544"
    settings_schema = HTTP_SETTINGS + (
        Setting("api_url", "the Wonde API base address (regional domains differ)", default="https://api.wonde.com/v1.0"),
        Setting("token", "this service's Wonde API token", secret=True),
    )

    def pages(self, http: PartnerHttp, mis_id: str, *, delta_token: str | None = None) -> Iterator[Page]:
        if not self.settings.get("token"):
            raise PullError(f'[plugins.{self.plugin or self.name}] has no token: add token = {{ env = "FRS_WONDE_TOKEN" }} '
                            "to the config and set FRS_WONDE_TOKEN", "config")
        base = str(self.settings["api_url"]).rstrip("/")
        url: str | None = f"{base}/schools/{mis_id}/students"
        params: dict[str, Any] | None = {"include": "education_details,year",
                                         "per_page": int(self.settings.get("page_size") or 200)}
        headers = {"Authorization": f"Bearer {self.settings['token']}"}
        home = urlsplit(base).netloc
        seen: set[str] = set()
        while url:
            body = http.get_json(url, params=params, headers=headers)
            if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
                raise PullError("Wonde's reply has no data list", "malformed")
            yield Page(pupils=[self.pupil(s) for s in body["data"]])
            paging = (body.get("meta") or {}).get("pagination") or {} if isinstance(body.get("meta"), Mapping) else {}
            nxt = paging.get("next") if isinstance(paging, Mapping) else None
            if not nxt or paging.get("more") is False:
                return
            if urlsplit(str(nxt)).netloc != home:
                raise PullError(f"Wonde's next page points to another host ({urlsplit(str(nxt)).netloc}); "
                                "not followed, so the token is not sent there", "paging")
            if nxt in seen:
                raise PullError("Wonde offered a next page it had already sent; its paging loops", "paging")
            seen.add(str(nxt))
            url, params = str(nxt), None

    @staticmethod
    def pupil(raw: Any) -> MisPupil:
        if not isinstance(raw, Mapping):
            raise PullError("Wonde sent a student that is not an object", "malformed")
        edu, year, extended = _data(raw.get("education_details")), _data(raw.get("year")), \
            _data(raw.get("extended_details"))
        characteristics: dict[str, Any] = {}
        for key, theirs in (("fsm", "free_school_meals"), ("fsm_ever6", "free_school_meals_6"),
                            ("pupil_premium", "premium_pupil_indicator"), ("sen", "sen_status"),
                            ("eal", "english_as_additional_language_status"), ("first_language", "first_language")):
            if theirs in extended:
                characteristics[key] = extended[theirs]
        return MisPupil(
            mis_id=str(raw.get("mis_id") or raw.get("id") or ""), upn=edu.get("upn") or None,
            forename=raw.get("legal_forename") or raw.get("forename"),
            surname=raw.get("legal_surname") or raw.get("surname"),
            date_of_birth=_date(raw.get("date_of_birth")), gender=raw.get("gender"),
            nc_year=edu.get("current_nc_year") or year.get("code"), characteristics=characteristics)


@hookimpl
def register_partners(registry, settings):
    registry.add(Wonde(settings))
