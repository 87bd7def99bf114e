"""Web and API accounts: passwords, sign-in with lock-out, operators, API tokens, and which schools
a user belongs to.

School users are the ``user`` rows of the storage layer (their permissions live there); this module
adds a password (Argon2id hash) and API tokens (stored only as SHA-256 hashes: a token is 32 random
bytes, so a fast hash is enough and a stolen table gives nothing away). Operators are separate
accounts with no school.

Lock-out: after ``FREE_FAILURES`` wrong passwords in a row an email is locked for a time that
doubles with each further failure (1, 2, 4 ... up to ``MAX_LOCK_MINUTES`` minutes). While locked,
even the right password is refused, so guessing gains nothing. Unknown emails are throttled the
same way and take as long to refuse, so a person cannot tell which emails have accounts.
Lock-out times use the real clock, not ``FRS_NOW`` (that fixes the round's clock for rehearsals).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import select

from ..storage.models import Permission, School, User
from ..storage.models_web import ApiToken, WebCredential, WebOperator, WebSignInThrottle
from ..storage.service import Refused, _email, _EMAIL

FREE_FAILURES = 5
MAX_LOCK_MINUTES = 60
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "frs_"

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password anyone has")

USER, OPERATOR_KIND = "user", "operator"


@dataclass(frozen=True)
class Principal:
    """Who is signed in: a school user or an operator. ``stamp`` changes when the password does,
    so a session made before a password change stops working."""

    kind: str
    id: int
    email: str
    stamp: str = ""

    @property
    def is_operator(self) -> bool:
        return self.kind == OPERATOR_KIND


class SignInRefused(Refused):
    """Wrong email or password, or the account is locked for a while."""

    def __init__(self, reason: str, *, code: str, retry_after: int = 0):
        super().__init__(reason, code=code)
        self.retry_after = retry_after


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _stamp(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Refused(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.", code="weak-password")
    if len(password) > 1000:
        raise Refused("The password must be at most 1,000 characters long.", code="weak-password")


# --------------------------------------------------------------------------- passwords and operators


def set_password(service, email: str, password: str, *, operator: bool = False) -> Principal:
    """Set (or replace) the password of a school user, or of an operator (created if new)."""
    check_password_rules(password)
    email = _email(email)
    if not _EMAIL.match(email):
        raise Refused(f"{email!r} is not an email address", code="bad-email")
    hashed = _hasher.hash(password)
    with service._session(write=True) as s:
        if operator:
            account = s.exec(select(WebOperator).where(WebOperator.email == email)).first()
            if account is None:
                account = WebOperator(email=email, created_at=_now())
            account.password_hash = hashed
            s.add(account)
            s.commit()
            return Principal(OPERATOR_KIND, account.id, email, _stamp(hashed))
        user = s.exec(select(User).where(User.email == email)).first()
        if user is None:
            raise Refused(f"There is no user {email}: add them first with `frs users add`.", code="unknown-user")
        credential = s.exec(select(WebCredential).where(WebCredential.user_id == user.id)).first()
        if credential is None:
            credential = WebCredential(user_id=user.id, password_hash=hashed)
        credential.password_hash, credential.updated_at = hashed, _now()
        s.add(credential)
        s.commit()
        return Principal(USER, user.id, email, _stamp(hashed))


def operators(service) -> list[dict[str, Any]]:
    with service._session() as s:
        return [{"email": o.email, "created_at": o.created_at}
                for o in s.exec(select(WebOperator).order_by(WebOperator.email)).all()]


def sign_in(service, email: str, password: str, *, now: dt.datetime | None = None) -> Principal:
    """The account for this email and password, or :class:`SignInRefused`.

    Operators and school users share the sign-in page; an email is looked up as an operator first.
    """
    from sqlalchemy.exc import IntegrityError

    try:
        return _sign_in(service, email, password, now or _now())
    except IntegrityError:  # two first failures for one email at once: the row exists now, count again
        return _sign_in(service, email, password, now or _now())


def _sign_in(service, email: str, password: str, now: dt.datetime) -> Principal:
    email = _email(email or "")[:254]
    with service._session(write=True) as s:
        throttle = s.exec(select(WebSignInThrottle).where(WebSignInThrottle.email == email)
                          .with_for_update()).first()
        if throttle and throttle.locked_until and throttle.locked_until > now:
            wait = int((throttle.locked_until - now).total_seconds()) + 1
            raise SignInRefused(_locked_message(wait), code="locked", retry_after=wait)
        principal, stored = _account(s, email)
        ok = _verify(stored or _DUMMY_HASH, password or "") and stored is not None
        if ok:
            if throttle is not None:
                s.delete(throttle)
            s.commit()
            return principal
        if throttle is None:
            throttle = WebSignInThrottle(email=email)
        throttle.failures += 1
        throttle.last_failure_at = now
        over = throttle.failures - FREE_FAILURES
        if over >= 0:
            throttle.locked_until = now + dt.timedelta(minutes=min(2 ** over, MAX_LOCK_MINUTES))
        s.add(throttle)
        s.commit()
        if over >= 0:
            wait = int((throttle.locked_until - now).total_seconds())
            raise SignInRefused(_locked_message(wait), code="locked", retry_after=wait)
    raise SignInRefused("Enter a correct email address and password.", code="bad-credentials")


def _locked_message(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return (f"There have been too many failed attempts to sign in with this email address. Try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}, or ask your school's administrator to reset "
            "your password.")


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _account(s, email: str) -> tuple[Principal | None, str | None]:
    operator = s.exec(select(WebOperator).where(WebOperator.email == email)).first()
    if operator is not None:
        return Principal(OPERATOR_KIND, operator.id, email, _stamp(operator.password_hash)), operator.password_hash
    row = s.exec(select(User, WebCredential).join(WebCredential, WebCredential.user_id == User.id)
                 .where(User.email == email)).first()
    if row is None:
        return None, None
    user, credential = row
    return Principal(USER, user.id, email, _stamp(credential.password_hash)), credential.password_hash


def principal(service, kind: str, account_id: int, stamp: str) -> Principal | None:
    """The account a session names, if it still exists and its password has not changed since."""
    with service._session() as s:
        if kind == OPERATOR_KIND:
            operator = s.get(WebOperator, account_id)
            found = operator and Principal(OPERATOR_KIND, operator.id, operator.email, _stamp(operator.password_hash))
        elif kind == USER:
            row = s.exec(select(User, WebCredential).join(WebCredential, WebCredential.user_id == User.id)
                         .where(User.id == account_id)).first()
            found = row and Principal(USER, row[0].id, row[0].email, _stamp(row[1].password_hash))
        else:
            found = None
    if not found or not hmac.compare_digest(found.stamp, stamp or ""):
        return None
    return found


# --------------------------------------------------------------------------- schools of a user


def schools_of(service, email: str) -> list[dict[str, Any]]:
    """The schools where the user holds any permission row, with the permissions held."""
    with service._session() as s:
        rows = s.exec(select(School, Permission.permission).join(Permission, Permission.school_id == School.id)
                      .join(User, User.id == Permission.user_id).where(User.email == _email(email))
                      .order_by(School.dfe)).all()
    out: dict[str, dict[str, Any]] = {}
    for school, permission in rows:
        entry = out.setdefault(school.dfe, {"dfe": school.dfe, "name": school.name, "permissions": set()})
        entry["permissions"].add(permission)
    return list(out.values())


def membership(service, email: str, school_dfe: str) -> dict[str, Any]:
    """The school and the user's permissions there; ``Refused(code="not-found")`` when the user
    does not belong to it, so another school looks exactly like one that does not exist."""
    for entry in schools_of(service, email):
        if entry["dfe"] == school_dfe:
            return entry
    raise Refused(f"There is no school {school_dfe} that {_email(email)} belongs to.", code="not-found")


def require(service, email: str, school_dfe: str, permission: str) -> dict[str, Any]:
    """The membership, if it includes ``permission``; else ``Refused(code="forbidden")``."""
    entry = membership(service, email, school_dfe)
    if permission not in entry["permissions"]:
        label = permission.replace("_", " ").title()
        raise Refused(f"You need the {label} permission at {entry['name']} to do this. Ask your school's "
                      "administrator for the service to give it to you.", code="forbidden")
    return entry


# --------------------------------------------------------------------------- API tokens

_TOKEN_TOUCH = dt.timedelta(minutes=1)  # last_used_at is written at most this often per token


def create_token(service, email: str, label: str | None = None) -> str:
    """A new API token for the user, returned once; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with service._session(write=True) as s:
        user = s.exec(select(User).where(User.email == _email(email))).first()
        if user is None:
            raise Refused(f"There is no user {_email(email)}: add them first with `frs users add`.",
                          code="unknown-user")
        s.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), hint=token[:10],
                       label=(label or None) and label[:100], created_at=_now()))
        s.commit()
    return token


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def tokens(service, email: str | None = None) -> list[dict[str, Any]]:
    with service._session() as s:
        query = select(ApiToken, User.email).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
        if email:
            query = query.where(User.email == _email(email))
        rows = s.exec(query).all()
    return [{"id": t.id, "email": e, "hint": t.hint + "…", "label": t.label, "created_at": t.created_at,
             "last_used_at": t.last_used_at, "revoked": t.revoked_at is not None} for t, e in rows]


def revoke_token(service, token_id: int) -> None:
    with service._session(write=True) as s:
        token = s.get(ApiToken, token_id)
        if token is None:
            raise Refused(f"There is no API token {token_id} (see `frs users tokens`).", code="not-found")
        if token.revoked_at is None:
            token.revoked_at = _now()
            s.add(token)
            s.commit()


def token_principal(service, token: str) -> Principal | None:
    """The user a bearer token belongs to, if it is known and not revoked."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = _token_hash(token)
    with service._session() as s:
        row = s.exec(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                     .where(ApiToken.token_hash == digest)).first()
    if row is None or row[0].revoked_at is not None:
        return None
    api_token, user = row
    now = _now()
    if api_token.last_used_at is None or now - api_token.last_used_at > _TOKEN_TOUCH:
        with service._session(write=True) as s:
            stored = s.get(ApiToken, api_token.id)
            stored.last_used_at = now
            s.add(stored)
            s.commit()
    return Principal(USER, user.id, user.email, "token")
