"""Silver and gold models: SQL files and the runner that builds them in dependency order.

Importing the package declares each gold model's access scope from its `-- access:` header.
"""

from almacen.models.runner import Model, ModelError, build, declare_access, discover, model_access, order

declare_access()

__all__ = ["Model", "ModelError", "build", "declare_access", "discover", "model_access", "order"]
