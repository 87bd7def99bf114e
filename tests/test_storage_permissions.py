"""Who may do what: every action against every kind of user, on SQLite and PostgreSQL.

Only a user with Manage Data at the upload's school may act; a refused action changes nothing,
is audited, and never tells another school's user that the upload exists.
"""

from __future__ import annotations

import pytest
from conftest import (MANAGER, OTHER_MANAGER, OTHER_SCHOOL, SCHOOL, SETUP_ONLY, UNKNOWN, make_ks5_with_errors,
                      make_ks5_workbook)
from sqlmodel import select

from frs.storage import db
from frs.storage.models import AWAITING_CONFIRMATION, Upload
from frs.storage.service import Refused

USERS = {
    "manage_data same school": MANAGER,
    "setup only same school": SETUP_ONLY,
    "manage_data other school": OTHER_MANAGER,
    "unknown email": UNKNOWN,
}
SCHOOL_ACTIONS = ("upload", "list", "audit")  # name a school; the others name an upload


def refusal_code(who: str, action: str) -> str:
    if who == "unknown email":
        return "unknown-user"
    if who == "manage_data other school" and action not in SCHOOL_ACTIONS:
        return "not-found"  # another school's upload is not even admitted to exist
    return "forbidden"


def do_upload(service, kernel, actor, ids):
    return service.upload(actor, make_ks5_workbook(kernel, pupils=2), "new.xlsx", school_dfe=SCHOOL)


def do_confirm(service, kernel, actor, ids):
    return service.confirm(actor, ids["clean"], accept_terms=True)


def do_delete(service, kernel, actor, ids):
    return service.delete(actor, ids["clean"])


def do_download(service, kernel, actor, ids):
    return service.download(actor, ids["clean"])


def do_show(service, kernel, actor, ids):
    return service.show(actor, ids["errored"])


def do_errors(service, kernel, actor, ids):
    return service.error_report(actor, ids["errored"])


def do_list(service, kernel, actor, ids):
    return service.list_uploads(actor, SCHOOL, include_hidden=True)


def do_audit(service, kernel, actor, ids):
    return service.audit(actor, SCHOOL)


ACTIONS = {f.__name__[3:]: f for f in (do_upload, do_confirm, do_delete, do_download, do_show, do_errors,
                                       do_list, do_audit)}


@pytest.fixture
def uploads(people, storage_kernel):
    clean = people.upload(MANAGER, make_ks5_workbook(storage_kernel), "clean.xlsx").upload
    errored = people.upload(MANAGER, make_ks5_with_errors(storage_kernel), "errors.xlsx").upload
    return {"clean": clean.id, "errored": errored.id, "sha": clean.sha256}


def snapshot(service):
    with db.session(service.engine) as s:
        return sorted((u.id, u.status, u.is_current) for u in s.exec(select(Upload)).all())


@pytest.mark.parametrize("who", list(USERS))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_permission_matrix(people, storage_kernel, uploads, action, who):
    actor = USERS[who]
    before = snapshot(people)
    if who == "manage_data same school":
        assert ACTIONS[action](people, storage_kernel, actor, uploads) is not None
        return
    with pytest.raises(Refused) as exc:
        ACTIONS[action](people, storage_kernel, actor, uploads)
    assert exc.value.code == refusal_code(who, action)
    assert snapshot(people) == before
    assert people.store.exists(SCHOOL, uploads["sha"])
    refused = [e for e in people.audit(MANAGER, SCHOOL) if e["outcome"] == "refused"]
    if action not in ("list", "audit"):  # reading a list is not audited; every action on a file is
        assert [(e["actor"], e["action"]) for e in refused] == [(actor, action)]


@pytest.mark.parametrize("action", ["confirm", "delete", "download", "show", "errors"])
def test_another_schools_upload_looks_exactly_like_a_missing_one(people, storage_kernel, uploads, action):
    missing = {"clean": 10_000, "errored": 10_000}
    with pytest.raises(Refused) as theirs:
        ACTIONS[action](people, storage_kernel, OTHER_MANAGER, uploads)
    with pytest.raises(Refused) as nothing:
        ACTIONS[action](people, storage_kernel, OTHER_MANAGER, missing)
    assert theirs.value.code == nothing.value.code == "not-found"
    assert theirs.value.reason.replace(str(uploads["clean"]), "N").replace(str(uploads["errored"]), "N") == \
        nothing.value.reason.replace("10000", "N")
    assert "Test School" not in theirs.value.reason and SCHOOL not in theirs.value.reason


def test_a_manager_of_another_school_sees_only_their_own_uploads(people, storage_kernel, uploads):
    mine = people.upload(OTHER_MANAGER, make_ks5_workbook(storage_kernel, school_dfe=OTHER_SCHOOL), "b.xlsx").upload
    assert [v.id for v in people.list_uploads(OTHER_MANAGER, OTHER_SCHOOL, include_hidden=True)] == [mine.id]
    assert {v.id for v in people.list_uploads(MANAGER, SCHOOL)} == {uploads["clean"], uploads["errored"]}


def test_an_upload_for_a_school_without_manage_data_is_refused_even_when_named(people, storage_kernel):
    with pytest.raises(Refused) as exc:
        people.upload(OTHER_MANAGER, make_ks5_workbook(storage_kernel), "x.xlsx", school_dfe=SCHOOL)
    assert exc.value.code == "forbidden"
    with pytest.raises(Refused) as exc:
        people.upload(SETUP_ONLY, make_ks5_workbook(storage_kernel), "x.xlsx")
    assert exc.value.code == "forbidden"


def test_the_operator_view_lists_any_school_but_cannot_act_on_uploads(people, uploads):
    from frs.storage.service import OPERATOR

    assert len(people.list_uploads(OPERATOR, SCHOOL)) == 2
    assert people.audit(OPERATOR, SCHOOL)
    with pytest.raises(Refused):
        people.download(OPERATOR, uploads["clean"])
    with pytest.raises(Refused):
        people.delete(OPERATOR, uploads["clean"])
    assert snapshot(people)[0][1] == AWAITING_CONFIRMATION
