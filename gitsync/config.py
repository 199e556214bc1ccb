"""Settings declared once, as data, plus where gitsync keeps its own files.

The :data:`SETTINGS` table is the single source for defaults, types, help text, the
environment variable and the ``gitsync run`` flag of every setting; ``--help``, the README
table and a test all read it. Values live in ``config.toml`` under ``[settings]``, with
per-folder overrides under ``[folders."<path>"]``; flags of ``gitsync run`` override both.

All of gitsync's files (config, per-folder state, local hubs, logs, the daemon lock) live
under the platform's user dirs, or all under ``$GITSYNC_HOME`` when it is set.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from gitsync.errors import ConfigError
from gitsync.fsutil import atomic_write

APP = "gitsync"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    type: Callable[[Any], Any]
    help: str
    flag: str | None = None  # the `gitsync run` flag that overrides it, if any

    @property
    def env(self) -> str:
        return f"GITSYNC_{self.name.upper()}"


def _positive_float(value: Any) -> float:
    f = float(value)
    if f < 0:
        raise ValueError("must not be negative")
    return f


def _port(value: Any) -> int:
    i = int(value)
    if not 0 <= i <= 65535:
        raise ValueError("must be a port number 0-65535")
    return i


def _patterns(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of glob patterns")
    return tuple(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _size(value: Any) -> int:
    if isinstance(value, str):
        units = {"k": 10**3, "m": 10**6, "g": 10**9}
        v = value.strip().lower().removesuffix("b")
        if v and v[-1] in units:
            return int(float(v[:-1]) * units[v[-1]])
        return int(v)
    i = int(value)
    if i <= 0:
        raise ValueError("must be positive")
    return i


SETTINGS: tuple[Setting, ...] = (
    Setting("debounce", 1.0, _positive_float,
            "seconds a file must be quiet before its change is committed", "--debounce"),
    Setting("max_batch_delay", 10.0, _positive_float,
            "under continuous writes, commit a batch at least this often (seconds)",
            "--max-batch-delay"),
    Setting("delete_delay", 2.0, _positive_float,
            "extra seconds a delete is held back, so an office save (delete + rename) is "
            "one edit", None),
    Setting("size_limit", 100_000_000, _size,
            "files larger than this many bytes are not committed (status lists them)", None),
    Setting("poll", 2.0, _positive_float,
            "seconds between cheap checks of the remote for new commits", "--poll"),
    Setting("port", 8484, _port, "port of the local web server (127.0.0.1 only)", "--port"),
    Setting("remote_gitsync", "gitsync", str,
            "command that runs gitsync on an SSH host, for instant updates from it", None),
    Setting("ignore", (), _patterns,
            "extra glob patterns to ignore, on top of .gitignore and the built-in list", None),
    Setting("notify", True, _bool,
            "desktop notifications for conflicts, stopped folders and files too large", None),
    Setting("notify_offline_after", 600.0, _positive_float,
            "seconds a folder may stay offline before a desktop notification says so", None),
)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def parse_setting(name: str, value: Any) -> Any:
    setting = SETTINGS_BY_NAME.get(name)
    if setting is None:
        raise ConfigError(
            f"unknown setting {name!r}", hint=f"known settings: {', '.join(SETTINGS_BY_NAME)}"
        )
    try:
        return setting.type(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"setting {name!r} = {value!r} is invalid ({e})") from e


@dataclass(frozen=True)
class Paths:
    """Where gitsync keeps its own files."""

    config_dir: Path
    data_dir: Path
    state_dir: Path

    @classmethod
    def discover(cls, env: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if env is None else env
        home = env.get("GITSYNC_HOME")
        if home:
            root = Path(home).expanduser().resolve()
            return cls(root / "config", root / "data", root / "state")
        import platformdirs

        return cls(
            Path(platformdirs.user_config_dir(APP)),
            Path(platformdirs.user_data_dir(APP)),
            Path(platformdirs.user_state_dir(APP)),
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def hubs_dir(self) -> Path:
        return self.data_dir / "hubs"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "daemon.lock"

    @property
    def socket_file(self) -> Path:
        """The running daemon's local door (see gitsync.channel)."""
        return self.state_dir / "daemon.sock"

    def folder_state_file(self, key: str) -> Path:
        return self.state_dir / "folders" / f"{key}.json"

    def owns(self, path: Path) -> bool:
        """Whether PATH is inside one of gitsync's own directories."""
        for d in (self.config_dir, self.data_dir, self.state_dir):
            try:
                path.resolve().relative_to(d.resolve())
                return True
            except ValueError:
                continue
        return False


def folder_key(path: Path | str) -> str:
    """A stable file name for a folder: its name plus a hash of its absolute path."""
    import hashlib

    p = str(path)
    name = Path(p).name or "root"
    return f"{name}-{hashlib.sha1(p.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class FolderConfig:
    path: Path
    device: str
    remote: str
    branch: str = "main"
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    settings: dict[str, Any]
    folders: dict[str, FolderConfig]

    def effective(self, folder: FolderConfig | None, flags: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
        """Defaults, then [settings], then the folder's overrides, then command-line flags."""
        out = {s.name: s.default for s in SETTINGS}
        out.update(self.settings)
        if folder is not None:
            out.update(folder.overrides)
        for k, v in (flags or {}).items():
            if v is not None:
                out[k] = parse_setting(k, v)
        return out


def load_config(paths: Paths) -> Config:
    f = paths.config_file
    if not f.exists():
        return Config({}, {})
    try:
        raw = tomllib.loads(f.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"config file {f} is corrupt ({e})",
            hint="fix or delete it (folders must then be registered again with 'gitsync init')",
        ) from e
    except OSError as e:
        raise ConfigError(f"cannot read config file {f} ({e.strerror})") from e
    settings = {k: parse_setting(k, v) for k, v in raw.get("settings", {}).items()}
    folders: dict[str, FolderConfig] = {}
    for key, entry in raw.get("folders", {}).items():
        if not isinstance(entry, dict) or "device" not in entry or "remote" not in entry:
            raise ConfigError(f"config file {f}: folder {key!r} needs 'device' and 'remote'")
        known = {"device", "remote", "branch"}
        overrides = {k: parse_setting(k, v) for k, v in entry.items() if k not in known}
        folders[key] = FolderConfig(
            Path(key), str(entry["device"]), str(entry["remote"]),
            str(entry.get("branch", "main")), overrides,
        )
    return Config(settings, folders)


def dump_config(config: Config) -> str:
    doc: dict[str, Any] = {"settings": {k: _plain(v) for k, v in sorted(config.settings.items())}}
    folders: dict[str, Any] = {}
    for key in sorted(config.folders):
        fc = config.folders[key]
        entry = {"device": fc.device, "remote": fc.remote, "branch": fc.branch}
        entry.update({k: _plain(v) for k, v in sorted(fc.overrides.items())})
        folders[key] = entry
    if folders:
        doc["folders"] = folders
    header = "# gitsync configuration. Settings: see 'gitsync run --help' or the README.\n\n"
    return header + tomli_w.dumps(doc, multiline_strings=False)


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def save_config(paths: Paths, config: Config) -> None:
    """Write atomically: a crash leaves either the old or the new file, never half of one."""
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(paths.config_file, dump_config(config))
