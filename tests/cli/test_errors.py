"""The command line: a user's mistake ends in one line naming what and where, and a non-zero exit."""

from pathlib import Path

from typer.testing import CliRunner

from almacen.cli import app
from almacen.errors import BUG_EXIT
from almacen.simulate import demo_config

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, list(args))


def test_an_unknown_config_key_is_one_line_naming_it(tmp_path: Path):
    cfg = tmp_path / "almacen.toml"
    cfg.write_text('lake = "x"\nbrnaches = []\n')
    result = _invoke("extract", "--hour", "2026-11-23T14", "-c", str(cfg))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: {cfg}: brnaches: unknown key"]


def test_a_bad_url_is_one_line_naming_the_branch(tmp_path: Path):
    cfg = tmp_path / "almacen.toml"
    cfg.write_text(
        '[[branches]]\nid = "palermo"\nname = "P"\ncity = "c"\nprovince = "p"\nurl = "::nope::"\n'
        'pos_schema = "ventas"\n'
    )
    result = _invoke("build", "-c", str(cfg))
    assert result.exit_code == 1
    assert "branch palermo: '::nope::' is not a database URL" in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_a_malformed_hour_is_named(tmp_path: Path):
    cfg = demo_config(tmp_path, branches=1)
    result = _invoke("extract", "--hour", "yesterday", "-c", str(cfg))
    assert result.exit_code == 1
    assert "'yesterday' is not an hour like 2026-11-23T14" in result.output


def test_extract_exits_non_zero_and_names_the_failed_branch_while_the_others_load(tmp_path: Path):
    cfg = demo_config(tmp_path, branches=2)
    assert (
        _invoke(
            "simulate", "--day", "2026-11-23", "--until", "2026-11-23T15", "--scale", "0.05", "-c", str(cfg)
        ).exit_code
        == 0
    )
    (tmp_path / "pos" / "cordoba_centro.sqlite").unlink()
    result = _invoke("extract", "--hour", "2026-11-23T14", "-c", str(cfg))
    assert result.exit_code == 1
    assert (
        "failed: cordoba_centro 2026-11-23T14: branch cordoba_centro: cannot read from sqlite:cordoba_centro.sqlite: database file missing"
        in " ".join(result.output.split())
    )
    assert (tmp_path / "lakehouse" / "bronze" / "pos_ventas").is_dir()


def test_build_before_any_extraction_says_what_to_run(tmp_path: Path):
    cfg = demo_config(tmp_path, branches=1)
    result = _invoke("build", "-c", str(cfg))
    assert result.exit_code == 1
    assert "run `almacen extract` first" in " ".join(result.output.split())


def test_extract_without_hours_says_which_options_exist(tmp_path: Path):
    cfg = demo_config(tmp_path, branches=1)
    result = _invoke("extract", "-c", str(cfg))
    assert result.exit_code == 1
    assert "say which hours: --hour, --since/--until or --catch-up" in result.output


def test_a_full_cycle_through_the_cli_reconciles(tmp_path: Path):
    cfg = str(demo_config(tmp_path, branches=2))
    assert (
        _invoke("simulate", "--day", "2026-11-23", "--until", "2026-11-23T16", "--scale", "0.05", "-c", cfg).exit_code
        == 0
    )
    assert _invoke("extract", "--since", "2026-11-23T00", "--until", "2026-11-23T16", "-c", cfg).exit_code == 0
    assert _invoke("extract", "--catch-up", "--until", "2026-11-23T16", "-c", cfg).output.strip() == (
        "nothing to extract: every (branch, hour) slice is already loaded"
    )
    assert _invoke("build", "-c", cfg).exit_code == 0
    result = _invoke("reconcile", "--hour", "2026-11-23T14", "-c", cfg)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "FAIL" not in result.output


# -- a user's mistake is one line and exit 1; anything else is a bug: its traceback and BUG_EXIT ---------------


def test_a_user_error_is_one_line_without_a_traceback(tmp_path: Path):
    cfg = demo_config(tmp_path, branches=1)
    result = _invoke("extract", "-c", str(cfg))
    assert (result.exit_code, result.output.strip().splitlines()) == (
        1,
        ["error: say which hours: --hour, --since/--until or --catch-up"],
    )


def test_a_missing_config_file_is_one_line_naming_it(tmp_path: Path):
    missing = tmp_path / "nowhere.toml"
    result = _invoke("build", "-c", str(missing))
    assert (result.exit_code, result.output.strip().splitlines()) == (
        1,
        [f"error: config file {missing} does not exist"],
    )


def test_a_malformed_day_is_one_line_naming_the_option(tmp_path: Path):
    cfg = demo_config(tmp_path, branches=1)
    result = _invoke("reconcile", "--day", "23/11/2026", "-c", str(cfg))
    assert (result.exit_code, result.output.strip().splitlines()) == (
        1,
        ["error: --day: '23/11/2026' is not a date like 2026-11-23"],
    )


def test_a_stray_key_error_inside_a_command_is_reported_as_a_bug(tmp_path: Path, monkeypatch):
    import almacen.cli.main

    def broken(*args, **kwargs):
        return {}["current"]  # the kind of slip the KPI code once made

    monkeypatch.setattr(almacen.cli.main, "load_config", broken)
    result = _invoke("extract", "--hour", "2026-11-23T14", "-c", str(demo_config(tmp_path, branches=1)))
    assert result.exit_code == BUG_EXIT
    assert "Traceback (most recent call last):" in result.output
    assert "KeyError: 'current'" in result.output
    assert result.output.strip().splitlines()[-1] == (
        "bug: almacen failed with KeyError, which is a bug in almacen, not a mistake of yours: please report it "
        "with the traceback above"
    )
    assert "error:" not in result.output


def test_a_folder_the_system_refuses_is_one_line_naming_it(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the landing folder should be", encoding="utf-8")
    cfg = demo_config(tmp_path, branches=1)
    result = _invoke("simulate", "stream", "--landing", str(blocker / "landing"), "--duration", "1", "-c", str(cfg))
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [f"error: [Errno 20] Not a directory: '{blocker / 'landing'}'"]
