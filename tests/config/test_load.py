"""Loading the config: file + environment, and a specific message for each mistake."""

import pytest

from almacen.config import ConfigError, load_config

BRANCH = """
[[branches]]
id = "palermo"
name = "Palermo"
city = "CABA"
province = "CABA"
url = "{url}"
pos_schema = "{schema}"
"""


def _write(tmp_path, text: str):
    path = tmp_path / "almacen.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_values_are_overridden_by_almacen_env_vars(tmp_path, monkeypatch):
    path = _write(
        tmp_path, 'lake = "/data/lake"\nmax_workers = 2\n' + BRANCH.format(url="sqlite:///p.db", schema="ventas")
    )
    monkeypatch.setenv("ALMACEN_MAX_WORKERS", "6")
    settings = load_config(path)
    assert (settings.lake, settings.max_workers, settings.branches[0].pos_schema) == ("/data/lake", 6, "ventas")


def test_an_unknown_key_is_named(tmp_path):
    path = _write(tmp_path, 'lake = "x"\nlakee = "y"\n')
    with pytest.raises(ConfigError, match=r"almacen.toml: lakee: unknown key"):
        load_config(path)


def test_an_unknown_key_inside_a_branch_is_named_with_its_position(tmp_path):
    path = _write(tmp_path, BRANCH.format(url="sqlite:///p.db", schema="ventas") + 'colour = "red"\n')
    with pytest.raises(ConfigError, match=r"branches.0.colour: unknown key"):
        load_config(path)


def test_a_bad_url_names_the_branch(tmp_path):
    path = _write(tmp_path, BRANCH.format(url="not a url", schema="ventas"))
    with pytest.raises(ConfigError, match=r"branch palermo: 'not a url' is not a database URL"):
        load_config(path)


def test_a_password_in_the_url_is_refused(tmp_path):
    path = _write(tmp_path, BRANCH.format(url="postgresql://u:secret@h/db", schema="ventas"))
    with pytest.raises(ConfigError, match="contains a password; put it in an environment variable"):
        load_config(path)


def test_an_undefined_pos_schema_is_named(tmp_path):
    path = _write(tmp_path, BRANCH.format(url="sqlite:///p.db", schema="cajafacil"))
    with pytest.raises(
        ConfigError, match=r"branch palermo: pos_schema 'cajafacil' is not defined; known: \['tickets', 'ventas'\]"
    ):
        load_config(path)


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file .*nope.toml does not exist"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_is_reported_with_the_file(tmp_path):
    path = _write(tmp_path, "lake = \n")
    with pytest.raises(ConfigError, match="almacen.toml: not valid TOML"):
        load_config(path)


def test_a_missing_pseudonym_key_outside_demo_mode_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("ALMACEN_PSEUDONYM_KEY", raising=False)
    settings = load_config(_write(tmp_path, 'lake = "x"\n'))
    with pytest.raises(ConfigError, match="ALMACEN_PSEUDONYM_KEY is not set"):
        settings.key()


def test_a_new_pos_schema_maps_columns_and_codes(tmp_path):
    path = _write(
        tmp_path,
        BRANCH.format(url="sqlite:///p.db", schema="caja")
        + """
[pos_schemas.caja.tables.comprobantes]
role = "sales"
cursor = "ult_mod"
key = ["nro"]
columns = { sale_id = "nro", sold_at = "fecha", updated_at = "ult_mod", channel = "canal", payment_type = "pago", status = "estado", total = "total_centavos / 100" }
values = { channel = { "1" = "tienda" } }

[pos_schemas.caja.tables.renglones]
role = "sales_lines"
cursor = "ult_mod"
key = ["nro", "item"]
columns = { sale_id = "nro", line_no = "item", sku = "ean", quantity = "cant", unit_price = "p", amount = "a", updated_at = "ult_mod" }
""",
    )
    schema = load_config(path).schemas()["caja"]
    assert schema.table_for("sales")[0] == "comprobantes"
    assert schema.tables["comprobantes"].values == {"channel": {"1": "tienda"}}


def test_a_mapping_missing_a_required_column_is_named(tmp_path):
    path = _write(
        tmp_path,
        """
[pos_schemas.caja.tables.comprobantes]
role = "sales"
cursor = "ult_mod"
key = ["nro"]
columns = { sale_id = "nro" }

[pos_schemas.caja.tables.renglones]
role = "sales_lines"
cursor = "ult_mod"
key = ["nro"]
columns = { sale_id = "nro", line_no = "item", sku = "ean", quantity = "cant", unit_price = "p", amount = "a", updated_at = "ult_mod" }
""",
    )
    with pytest.raises(
        ConfigError,
        match=r"pos_schemas.caja.tables.comprobantes: a sales table must map \['channel', 'payment_type', 'sold_at', 'status', 'total', 'updated_at'\]",
    ):
        load_config(path)


@pytest.mark.parametrize(("value", "named"), [('["not-an-ip"]', "'not-an-ip'"), ('["10.0.0.0/33"]', "'10.0.0.0/33'")])
def test_a_trusted_proxy_that_is_not_an_address_or_network_is_named(tmp_path, value, named):
    path = _write(tmp_path, f'lake = "x"\n[serve]\ntrusted_proxies = {value}\n')
    with pytest.raises(ConfigError, match=rf"serve.trusted_proxies: {named} is not an IP address or network"):
        load_config(path)


@pytest.mark.parametrize("mask", ["77", "0778", "rw-------"])
def test_a_file_umask_that_is_not_octal_is_named(tmp_path, mask):
    path = _write(tmp_path, f'lake = "x"\nfile_umask = "{mask}"\n')
    with pytest.raises(ConfigError, match="file_umask: String should match pattern"):
        load_config(path)


def test_a_source_zone_is_the_tables_else_the_branchs_else_utc(tmp_path):
    from almacen.config import source_zone

    text = BRANCH.format(url="sqlite:///p.db", schema="ventas") + 'timezone = "America/Argentina/Buenos_Aires"\n'
    text += BRANCH.replace('"palermo"', '"salta"').format(url="sqlite:///s.db", schema="ventas")
    settings = load_config(_write(tmp_path, text))
    palermo, salta = settings.branches
    table = settings.schemas()["ventas"].tables["ventas"]
    assert source_zone(palermo).key == source_zone(palermo, table).key == "America/Argentina/Buenos_Aires"
    assert source_zone(salta).key == "UTC"
    assert source_zone(salta, table.model_copy(update={"timezone": "America/New_York"})).key == "America/New_York"


def test_a_timezone_that_is_not_an_iana_name_is_named(tmp_path):
    path = _write(tmp_path, BRANCH.format(url="sqlite:///p.db", schema="ventas") + 'timezone = "GMT-3 Buenos Aires"\n')
    with pytest.raises(ConfigError, match=r"branches.0.timezone: 'GMT-3 Buenos Aires' is not an IANA time zone name"):
        load_config(path)


def test_lookback_and_settle_hours_are_bounded_and_a_branch_may_override_the_lookback(tmp_path):
    text = "lookback_hours = 2\nsettle_hours = 6\n" + BRANCH.format(url="sqlite:///p.db", schema="ventas")
    settings = load_config(_write(tmp_path, text + "lookback_hours = 5\n"))
    assert (settings.lookback_hours, settings.settle_hours, settings.branches[0].lookback_hours) == (2, 6, 5)
    with pytest.raises(ConfigError, match=r"lookback_hours: Input should be less than or equal to 168"):
        load_config(_write(tmp_path, "lookback_hours = 500\n"))
