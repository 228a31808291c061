"""Silver and gold models: SQL files and the runner that builds them in dependency order."""

from almacen.models.runner import Model, build, discover, order

__all__ = ["Model", "build", "discover", "order"]
