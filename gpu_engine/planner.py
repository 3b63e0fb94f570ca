"""Turn a model into a Plan: choose every tensor's layout, then collect each op's passes."""
from __future__ import annotations

from gpu_engine.errors import ProfileError
from gpu_engine.model import Model
from gpu_engine.ops import Conv2D, Dense, ImageSampler, Pooling2D, Softmax
from gpu_engine.plan import FLAT, QUADS, Layout, Pass, Plan, TextureRef


def make_plan(model: Model) -> Plan:
    layouts = _layouts(model)
    passes: list[Pass] = []
    constants = {}
    logits = None
    for op in model.ops:
        if isinstance(op, ImageSampler):
            continue  # its pass depends on the frame format; the runtime picks it per frame
        if isinstance(op, Softmax):
            continue  # on the CPU, from the read-back logits
        inputs = {slot: (layouts[c.source], c.shuffle) for slot, c in op.inputs.items()}
        if isinstance(op, Dense):
            dense_passes, dense_constants, stages = op.gpu_passes(inputs, layouts[op.name])
            passes += dense_passes
            constants.update(dense_constants)
            layouts.update({stage.name: stage for stage in stages})
            logits = (TextureRef(op.name), op.outputs)
        else:
            passes += op.gpu_passes(inputs, layouts[op.name])
    if logits is None:
        raise ProfileError("the model has no dense layer to produce logits")
    return Plan(layouts=layouts, passes=passes, constants=constants, logits=logits[0],
                logits_count=logits[1])


def _layouts(model: Model) -> dict[str, Layout]:
    """Quads with a zero border as wide as the widest padding any consumer reads, or the flat
    layout for a dense layer's input."""
    consumers: dict[str, list] = {op.name: [] for op in model.ops}
    for op in model.ops:
        for connection in op.inputs.values():
            consumers[connection.source].append(op)
    layouts = {}
    for op in model.ops:
        if isinstance(op, (Dense, Softmax)):
            continue
        readers = consumers[op.name]
        if any(isinstance(reader, Dense) for reader in readers):
            if len(readers) > 1:
                raise ProfileError(f"op {op.name!r}: a tensor read by a dense layer cannot feed "
                                   "other ops too")
            layouts[op.name] = Layout(op.name, op.shape, FLAT)
            continue
        border = 0
        for reader in readers:
            if isinstance(reader, (Conv2D, Pooling2D)):
                border = max(border, reader.border_needed(op.shape[0]),
                             reader.border_needed(op.shape[1]))
        layouts[op.name] = Layout(op.name, op.shape, QUADS, border)
    dense = [op for op in model.ops if isinstance(op, Dense)]
    for op in dense:
        layouts[op.name] = Layout(op.name, (op.outputs // 2, 1, 4), FLAT)
    return layouts
