"""One module per operation: parsing, shape rule, NumPy reference and GPU plan side by side
(the interface is ops.base.Op). Every module of this package defining an Op with a TYPE is an
op the model format can name: adding an op touches nothing outside its module."""
import importlib
import pkgutil

from gpu_engine.ops.base import Op


def _op_types() -> dict[str, type[Op]]:
    types = {}
    for module in pkgutil.iter_modules(__path__):
        for value in vars(importlib.import_module(f"{__name__}.{module.name}")).values():
            if isinstance(value, type) and issubclass(value, Op) and value.TYPE:
                types[value.TYPE] = value
    return types


OP_TYPES = _op_types()
