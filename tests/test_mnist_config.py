"""mnist.config: settings from defaults.toml, a --preset and flags, in that order; bounds."""

import tomllib

import pytest
from test_mnist_train import one_error_line

from mnist import config
from mnist.names import SETTINGS

DEFAULTS_TEXT = config.DEFAULTS_FILE.read_text(encoding="utf-8")


def test_defaults_toml_reads_as_config_documents_it():
    assert config.defaults_toml(tomllib.loads(DEFAULTS_TEXT)) == DEFAULTS_TEXT


def test_no_flags_give_exactly_the_values_in_defaults_toml():
    cfg, resume, plots = config.parse_args([])
    values = tomllib.loads(DEFAULTS_TEXT)
    assert {k: getattr(cfg, k) for k in values} == values
    assert set(values) == {f for f in config.FIELDS if f != "world_size"}
    assert (resume, plots, cfg.world_size) == (False, True, 1)


HOSTILE_FLAGS = [
    ("--lr", "1e10", "--lr must be > 0 and <= 10, got 10000000000.0"),
    ("--lr", "1e39", "--lr must be > 0 and <= 10"),
    ("--lr", "nan", "--lr must be > 0 and <= 10, got nan"),
    ("--rotation", "1e308", "--rotation must be >= 0 and <= 180"),
    ("--translation", "1e308", "--translation must be >= 0 and <= 14"),
    ("--weight-decay", "1e300", "--weight-decay must be >= 0 and <= 1"),
    ("--seed", str(2**64), "--seed must be >= 0 and <= 4294967295"),
    ("--seed", "2**64", "--seed: invalid int value: '2**64'"),
    ("--seed", "9" * 400, "--seed must be >= 0 and <= 4294967295"),
    ("--epochs", str(10**9), "--epochs must be > 0 and <= 1000"),
    ("--batch-size", "0", "--batch-size must be > 0"),
    ("--momentum", "1", "--momentum must be > 0.1 and < 1"),
    ("--limit", "-1", "--limit must be >= 0"),
]


@pytest.mark.parametrize(("flag", "value", "message"), HOSTILE_FLAGS)
def test_numbers_out_of_bounds_are_one_line(flag, value, message, capsys, tmp_path):
    err = one_error_line(capsys, [flag, value, "--out", str(tmp_path / "run")])
    assert message in err
    assert not (tmp_path / "run").exists()


@pytest.fixture
def presets(tmp_path, monkeypatch):
    folder = tmp_path / "presets"
    folder.mkdir()
    monkeypatch.setattr(config, "PRESETS_DIR", folder)
    return folder


def test_a_preset_goes_over_the_defaults_and_flags_over_both(presets):
    (presets / "quick.toml").write_text('epochs = 3\nlr = 0.1\nmodel = "small"\n')
    cfg, _, _ = config.parse_args(["--preset", "quick", "--lr", "0.05"])
    assert (cfg.epochs, cfg.lr, cfg.model) == (3, 0.05, "small")
    assert cfg.batch_size == tomllib.loads(DEFAULTS_TEXT)["batch_size"]


BAD_PRESETS = {
    "an unknown key": ("learning_rate = 0.1\n", "unknown setting(s) learning_rate"),
    "a string for a number": ('epochs = "3"\n', "epochs must be of type int, got '3'"),
    "a number out of bounds": ("lr = 1e10\n", "lr must be > 0 and <= 10"),
    "a 400-digit number": (f"lr = {'9' * 400}\n", "lr must be > 0 and <= 10"),
    "a setting that is no flag": ("world_size = 2\n", "world_size cannot be preset"),
    "TOML nested 5,000 deep": ("x = " + "[" * 5000 + "]" * 5000 + "\n", "not valid TOML"),
    "not TOML": ("epochs = \n", "not valid TOML"),
    "a 5,000-digit number": (f"seed = {'9' * 5000}\n", "not valid TOML"),
}


@pytest.mark.parametrize("name", BAD_PRESETS)
def test_a_bad_preset_is_one_line_naming_its_file(name, presets, capsys, tmp_path):
    text, message = BAD_PRESETS[name]
    (presets / "bad.toml").write_text(text)
    err = one_error_line(capsys, ["--preset", "bad", "--out", str(tmp_path / "run")])
    assert str(presets / "bad.toml") in err and message in err


def test_an_unknown_preset_lists_the_known_ones(presets, capsys):
    (presets / "quick.toml").write_text("epochs = 3\n")
    err = one_error_line(capsys, ["--preset", "fastest"])
    assert "invalid choice: 'fastest'" in err and "quick" in err


REFERENCE_RUNS = config.DEFAULTS_FILE.parent / "reference" / config.DEFAULTS["model"]


@pytest.mark.parametrize("seed", sorted(int(p.name[5:]) for p in REFERENCE_RUNS.glob("seed-*")))
def test_the_documented_command_reproduces_each_reference_runs_settings(seed):
    """README: the default model's reference runs are `python -m mnist.train --seed N --threads 1`;
    the settings.json that command writes (the recipe, as mnist.train writes it) is the committed
    one, byte for byte."""
    folder = REFERENCE_RUNS / f"seed-{seed}"
    cfg, _, _ = config.parse_args(["--seed", str(seed), "--threads", "1"])
    assert config.settings_text(cfg) == (folder / SETTINGS).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(p.stem for p in config.PRESETS_DIR.glob("*.toml")))
def test_each_shipped_preset_is_a_valid_recipe(name):
    """A shipped preset parses, and each key it sets reaches the settings (read here as TOML)."""
    cfg, _, _ = config.parse_args(["--preset", name])
    preset = tomllib.loads((config.PRESETS_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    assert preset and all(getattr(cfg, key) == value for key, value in preset.items())
