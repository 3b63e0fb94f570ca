"""The one check every op's test uses: the GPU against the NumPy reference, op by op, each op
fed the reference's input codes, by the rule the GPU self-test applies (gpu_engine.oracle)."""
import numpy as np

from gpu_engine import reference
from gpu_engine.ops.base import LOGITS
from gpu_engine.oracle import codes_problem, logits_problem


def assert_codes_match(gpu: np.ndarray, values: np.ndarray, what: str) -> None:
    """`values` are the reference's unrounded outputs: they tell rounding ties apart."""
    problem = codes_problem(gpu, values)
    assert problem is None, f"{what}: {problem}"


def check_ops(engine, model, image: np.ndarray, op_type: str, unrounded: str = "gles2") -> int:
    """Check every op of `op_type` in `model` on `image`; returns how many were checked.

    Each op's inputs are written as the reference computes them, the op alone is drawn, and its
    output compared with the reference's. `unrounded` is the reference level whose values,
    before rounding to codes, tell rounding ties apart ('float' where that level computes the
    GPU's arithmetic exactly, as for conv2d)."""
    outputs = reference.run(model, image, "gles2")
    checked = 0
    for index, op in enumerate(model.ops):
        if op.TYPE != op_type:
            continue
        checked += 1
        if not op.INPUTS:  # the source op: fed the frame itself
            engine.upload_rgb(image)
            assert_codes_match(engine.read_tensor(op.name), op.reference(image, "float"),
                               op.name)
            continue
        if not op.ON_GPU:  # after the read-back, on the CPU
            np.testing.assert_allclose(engine.plan.finish(outputs[op.inputs[0].source]),
                                       outputs[op.name], atol=1e-6, err_msg=op.name)
            continue
        for connection in op.inputs.values():
            engine.write_tensor(connection.source, outputs[connection.source])
        engine.run_op(op.name)
        if op.OUTPUT == LOGITS:
            problem = logits_problem(engine.logits(), outputs[op.name])
            assert problem is None, f"{op.name}: {problem}"
        else:
            values = op.reference(reference.op_inputs(model, index, outputs), unrounded)
            assert_codes_match(engine.read_tensor(op.name), values, op.name)
    return checked
