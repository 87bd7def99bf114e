"""Load and check ``config/frs.toml``.

Every mistake fails at start-up with the file, the key and what was expected. Secrets are never
written in the file: a value ``{ env = "NAME" }`` is read from the environment variable NAME.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
REPO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "frs.toml"


class ConfigError(Exception):
    """Bad configuration: the message names the file, the key and what was expected."""


@dataclass(frozen=True)
class Round:
    """A collection window for one key stage and exam year. Times are Europe/London."""

    id: str
    key_stage: int
    year: int
    opens: dt.datetime
    closes: dt.datetime
    mis_cutoff: dt.date | None = None
    reports_due: dt.date | None = None
    sources: tuple[str, ...] | None = None  # pupil sources allowed to pre-fill templates; None: any

    def is_open(self, now: dt.datetime) -> bool:
        return self.opens <= now < self.closes

    def describe_window(self) -> str:
        fmt = "%a %d %b %Y %H:%M"
        return f"{self.opens.strftime(fmt)} to {self.closes.strftime(fmt)} (UK time)"


@dataclass
class Limits:
    """Upload gate limits; see docs and security-notes for why each exists."""

    max_upload_bytes: int = 10 * 1024 * 1024
    max_unzipped_bytes: int = 64 * 1024 * 1024
    max_members: int = 200
    max_ratio: int = 1000
    max_rows: int = 5000
    max_cell_chars: int = 1000


@dataclass
class Config:
    path: Path | None
    enabled: list[str] | None = None  # None: every installed plugin
    strict: bool = False
    plugin_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)
    home: Path = Path("instance")
    database_url: str | None = None
    limits: Limits = field(default_factory=Limits)

    def rounds_for(self, key_stage: int) -> list[Round]:
        return sorted((r for r in self.rounds if r.key_stage == key_stage), key=lambda r: r.year)

    def round_for(self, key_stage: int, round_id: str | None = None) -> Round | None:
        """The named round, or the latest round of the key stage."""
        if round_id:
            for r in self.rounds:
                if r.id == round_id or str(r.year) == round_id and r.key_stage == key_stage:
                    return r
            known = ", ".join(r.id for r in self.rounds) or "none"
            raise ConfigError(f"no round {round_id!r} in {self.path}; rounds are: {known}")
        rounds = self.rounds_for(key_stage)
        return rounds[-1] if rounds else None


_TOP = {"service", "plugins", "rounds", "limits"}
# bounds for whole numbers: TOML allows integers up to 2**63, far past anything meaningful here
MAX_LIMIT = 2**31 - 1
YEARS = (2000, 2100)
KEY_STAGES = (1, 5)
_SERVICE = {"home": str, "database_url": str}
_ROUND = {"id": str, "key_stage": int, "year": int, "opens": "datetime", "closes": "datetime",
          "mis_cutoff": "date", "reports_due": "date", "sources": "names"}


def default_path() -> Path | None:
    env = os.environ.get("FRS_CONFIG")
    if env:
        return Path(env)
    for candidate in (Path("config/frs.toml"), REPO_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def load(path: str | Path | None = None) -> Config:
    """Read and check the config file (``--config``, then ``FRS_CONFIG``, then the default)."""
    path = Path(path) if path else default_path()
    if path is None:
        return _apply_env(Config(path=None))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        raw = tomllib.loads(_text(data, path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return _apply_env(parse(raw, path))


def _text(data: bytes, path: Path) -> str:
    """The file as text. TOML is UTF-8; a byte-order mark (Notepad writes one) is allowed, other
    encodings are refused with what to do, rather than guessed."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or data[:200].count(b"\x00") > 1:
        raise ConfigError(f"{path}: the file is saved as UTF-16; TOML must be UTF-8 (in your editor, save it "
                          "again with encoding UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}, perhaps Latin-1 "
                          "or Windows-1252); save the file again with encoding UTF-8") from None


def parse(raw: dict[str, Any], path: Path | None = None) -> Config:
    where = str(path or "config")
    _unknown(raw, _TOP, where, "")
    cfg = Config(path=path)
    service = _table(raw.get("service", {}), where, "service")
    _unknown(service, set(_SERVICE), where, "service.")
    for key, typ in _SERVICE.items():
        if key in service:
            value = _resolve(service[key], where, f"service.{key}")
            if not isinstance(value, typ):
                raise ConfigError(f"{where}: service.{key} must be a string, got {_shown(value)}")
            service[key] = value
    base = path.resolve().parent.parent if path else Path.cwd()
    if "home" in service:
        home = Path(service["home"])
        cfg.home = home if home.is_absolute() else (base / home)
    cfg.database_url = service.get("database_url")

    plugins = _table(raw.get("plugins", {}), where, "plugins")
    for key, value in plugins.items():
        if key == "enabled":
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ConfigError(f"{where}: plugins.enabled must be a list of plugin names, got {_shown(value)}")
            cfg.enabled = list(value)
        elif key == "strict":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: plugins.strict must be true or false, got {_shown(value)}")
            cfg.strict = value
        elif isinstance(value, dict):
            cfg.plugin_settings[key] = {k: _resolve(v, where, f"plugins.{key}.{k}") for k, v in value.items()}
        else:
            raise ConfigError(f"{where}: unknown key plugins.{key} (expected 'enabled', 'strict', or a "
                              f"[plugins.{key}] table of settings for plugin {key!r})")

    limits = _table(raw.get("limits", {}), where, "limits")
    known = {f.name for f in Limits.__dataclass_fields__.values()}
    _unknown(limits, known, where, "limits.")
    for key, value in limits.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_LIMIT:
            raise ConfigError(f"{where}: limits.{key} must be a positive whole number up to {MAX_LIMIT}, "
                              f"got {_shown(value)}")
        setattr(cfg.limits, key, value)

    rounds = raw.get("rounds", [])
    if not isinstance(rounds, list):
        raise ConfigError(f"{where}: rounds must be an array of tables ([[rounds]])")
    seen: set[str] = set()
    for n, item in enumerate(rounds, 1):
        r = _round(_table(item, where, f"rounds[{n}]"), where, f"rounds[{n}]")
        if r.id in seen:
            raise ConfigError(f"{where}: rounds[{n}].id {r.id!r} is used twice")
        seen.add(r.id)
        cfg.rounds.append(r)
    return cfg


def _apply_env(cfg: Config) -> Config:
    if "FRS_LOAD_PLUGINS" in os.environ:
        value = os.environ["FRS_LOAD_PLUGINS"].strip()
        cfg.enabled = [p.strip() for p in value.split(",") if p.strip()]
    if os.environ.get("FRS_STRICT_PLUGINS", "").lower() in ("1", "true", "yes"):
        cfg.strict = True
    if os.environ.get("FRS_HOME"):
        cfg.home = Path(os.environ["FRS_HOME"])
    if os.environ.get("FRS_DATABASE_URL"):
        cfg.database_url = os.environ["FRS_DATABASE_URL"]
    return cfg


def _round(item: dict[str, Any], where: str, key: str) -> Round:
    _unknown(item, set(_ROUND), where, key + ".")
    for required in ("key_stage", "year", "opens", "closes"):
        if required not in item:
            raise ConfigError(f"{where}: {key}.{required} is missing")
    values: dict[str, Any] = {}
    for name, kind in _ROUND.items():
        if name not in item:
            continue
        value = item[name]
        if kind is int:
            low, high = KEY_STAGES if name == "key_stage" else YEARS
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(f"{where}: {key}.{name} must be a whole number from {low} to {high}, "
                                  f"got {_shown(value)}")
        elif kind is str:
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}: {key}.{name} must be a non-empty string, got {_shown(value)}")
        elif kind == "datetime":
            value = _datetime(value, where, f"{key}.{name}")
        elif kind == "date":
            value = _date(value, where, f"{key}.{name}")
        elif kind == "names":
            if not (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
                raise ConfigError(f"{where}: {key}.{name} must be a list of pupil source names, e.g. "
                                  f'["data_exchange", "blank"], got {value!r}')
            value = tuple(value)
        values[name] = value
    values.setdefault("id", f"ks{values['key_stage']}-{values['year']}")
    if values["closes"] <= values["opens"]:
        raise ConfigError(f"{where}: {key}.closes must be after {key}.opens")
    return Round(**values)


def _datetime(value: Any, where: str, key: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{where}: {key} must be a date-time like 2021-09-03T17:00, got {_shown(value)}") from None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if not isinstance(value, dt.datetime):
        raise ConfigError(f"{where}: {key} must be a date-time like 2021-09-03T17:00, got {_shown(value)}")
    return value.replace(tzinfo=LONDON) if value.tzinfo is None else value.astimezone(LONDON)


def _date(value: Any, where: str, key: str) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ConfigError(f"{where}: {key} must be a date like 2021-07-16, got {_shown(value)}")


def _shown(value: Any) -> str:
    """A wrong value as a message shows it: its kind for tables and arrays, else cut short."""
    if isinstance(value, dict):
        return "a table" + (f" ({', '.join(map(str, value))})" if value else "")[:60]
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _table(value: Any, where: str, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {key} must be a table, got {_shown(value)}")
    return dict(value)


def _unknown(table: dict[str, Any], known: set[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {prefix}{key} (expected one of: {', '.join(sorted(known))})")


def _resolve(value: Any, where: str, key: str) -> Any:
    """``{ env = "NAME" }`` -> the value of environment variable NAME (for secrets)."""
    if isinstance(value, dict) and set(value) == {"env"}:
        name = value["env"]
        if name not in os.environ:
            raise ConfigError(f"{where}: {key} is read from environment variable {name}, which is not set")
        return os.environ[name]
    return value
