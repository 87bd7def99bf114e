"""Operator pages: plugins, rounds, schools (Data Exchange and upload state), collections.

Operators are separate accounts; a school user asking for these pages gets 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..services import portal
from ..storage.service import OPERATOR, Refused
from .app import render, service, signed_in

router = APIRouter(include_in_schema=False)


def operator(request: Request):
    principal = signed_in(request)
    if not principal.is_operator:
        raise Refused("Only operators have these pages.", code="not-found")
    return principal


@router.get("/operator")
def overview(request: Request):
    operator(request)
    kernel = request.app.state.kernel
    plugins = sorted(kernel.plugins.values(), key=lambda i: (i.name != "frs", i.name))
    return render(request, "operator_overview.html", title="Service overview", nav="/operator",
                  plugins=plugins, rounds=service(request).rounds())


@router.get("/operator/schools")
def schools(request: Request, state: str = ""):
    operator(request)
    rows = portal.schools_overview(service(request))
    dx = request.app.state.dx
    for row in rows:
        try:
            row["dx"] = dx.status(OPERATOR, row["dfe"])["state"] or "unknown"
        except Exception:  # a Data Exchange failure for one school must not hide the list
            row["dx"] = "unknown"
    if state:
        rows = [r for r in rows if state in r["uploads"].values()]
    keystages = sorted(request.app.state.kernel.keystages.values(), key=lambda k: k.id)
    return render(request, "operator_schools.html", title="Schools", nav="/operator/schools", rows=rows,
                  keystages=keystages, state=state, states=portal.UPLOAD_STATES)


@router.get("/operator/collections")
def collections(request: Request):
    operator(request)
    return render(request, "operator_collections.html", title="Collections", nav="/operator/collections",
                  collections=portal.collections(service(request)),
                  titles={k: v.title for k, v in request.app.state.kernel.keystages.items()})
