"""Returns at the store counter: a domain that lives only in the tests.

It proves the domain contract (`almacen.domain`): one table, one stream kind and one model, declared as
data in `DOMAIN` and reaching the core through a `Registry` alone; nothing under `src/almacen` knows it.
"""

from importlib import resources

from almacen.domain import Domain
from tests.domains.returns.stream import RETURNS, RETURNS_MINUTE_TABLE

MODELS = resources.files("tests.domains.returns") / "models"

DOMAIN = Domain(
    name="returns",
    tables=(RETURNS_MINUTE_TABLE,),
    streams=(RETURNS,),
    models=(MODELS,),
    cli="tests.domains.returns.cli:install",
)
