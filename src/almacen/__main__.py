"""`python -m almacen …`, and the file `spark-submit` is given to run almacen on a cluster."""

from almacen.cli import app

app()
