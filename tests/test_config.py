import pytest

from gitsync.config import (
    SETTINGS,
    Config,
    FolderConfig,
    Paths,
    dump_config,
    load_config,
    parse_setting,
    save_config,
)
from gitsync.errors import ConfigError
from tests.helpers import ROOT


def test_gitsync_home_puts_everything_under_it(tmp_path) -> None:
    p = Paths.discover({"GITSYNC_HOME": str(tmp_path)})
    for d in (p.config_dir, p.data_dir, p.state_dir, p.hubs_dir, p.lock_file):
        assert tmp_path in d.parents
    assert p.owns(tmp_path / "data" / "hubs" / "x.git")
    assert not p.owns(tmp_path.parent)


def test_round_trip_with_odd_paths(tmp_path) -> None:
    paths = Paths.discover({"GITSYNC_HOME": str(tmp_path)})
    key = str(tmp_path / 'My "Docs" \\ été')
    cfg = Config({"debounce": 0.5, "ignore": ("*.bak",)},
                 {key: FolderConfig(tmp_path, "laptop", "ssh://h/x.git", "main",
                                    {"poll": 5.0})})
    save_config(paths, cfg)
    back = load_config(paths)
    assert back.settings == {"debounce": 0.5, "ignore": ("*.bak",)}
    assert back.folders[key].device == "laptop"
    assert back.folders[key].overrides == {"poll": 5.0}
    assert dump_config(back) == dump_config(cfg)


def test_precedence_default_settings_folder_flags(tmp_path) -> None:
    fc = FolderConfig(tmp_path, "d", "r", "main", {"debounce": 2.0})
    cfg = Config({"debounce": 1.5, "poll": 4.0}, {})
    eff = cfg.effective(fc, {"poll": "7", "debounce": None})
    assert eff["debounce"] == 2.0
    assert eff["poll"] == 7.0
    assert eff["max_batch_delay"] == 10.0


def test_corrupt_config_is_a_clear_error(tmp_path) -> None:
    paths = Paths.discover({"GITSYNC_HOME": str(tmp_path)})
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text("[settings\ndebounce = ")
    with pytest.raises(ConfigError) as e:
        load_config(paths)
    assert "corrupt" in str(e.value) and e.value.exit_code == 2


@pytest.mark.parametrize(("name", "value"), [("debounce", -1), ("port", 70000),
                                             ("nope", 1), ("ignore", 3)])
def test_invalid_values(name: str, value: object) -> None:
    with pytest.raises(ConfigError):
        parse_setting(name, value)


def test_sizes_accept_units() -> None:
    assert parse_setting("size_limit", "100MB") == 100_000_000
    assert parse_setting("size_limit", "1.5g") == 1_500_000_000


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    for s in SETTINGS:
        assert f"`{s.name}`" in readme, s.name
        if s.flag:
            assert s.flag in readme, s.flag
