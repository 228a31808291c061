"""Silver and gold models: SQL files in the folders domains declare, and the runner that builds them in
dependency order."""

from almacen.models.runner import Model, ModelError, build, declare_access, discover, model_access, model_keys, order

__all__ = ["Model", "ModelError", "build", "declare_access", "discover", "model_access", "model_keys", "order"]
