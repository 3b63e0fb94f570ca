"""The one check every op's test uses: the GPU against the NumPy reference, op by op, each op
fed the reference's input codes (spec §6: ≥ 99.99 % of codes equal, none off by more than 1;
dense logits within 4/256)."""
import numpy as np

from gpu_engine import reference
from gpu_engine.ops.base import LOGITS, to_codes


def assert_codes_match(gpu: np.ndarray, values: np.ndarray, what: str) -> None:
    """Codes equal but for ±1 at ≤ 0.01 % of them. `values` are the reference's unrounded
    outputs: those on an exact rounding tie (k + 0.5 codes, e.g. bilinear halfway between two
    texels) may round either way, as the reference rounds half up and GPUs round ties to even."""
    expected = to_codes(values)
    assert gpu.shape == expected.shape, what
    diff = np.abs(gpu.astype(int) - expected.astype(int))
    assert diff.max() <= 1, f"{what}: a code differs by {diff.max()}"
    scaled = np.clip(values, 0, 1) * 255
    tie = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    equal = float(np.mean(diff[~tie] == 0))
    assert equal >= 0.9999, f"{what}: only {equal:.6f} of the codes are equal"


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
            np.testing.assert_allclose(engine.logits(), outputs[op.name], atol=4 / 256,
                                       err_msg=f"{op.name} logits")
        else:
            values = op.reference(reference.op_inputs(model, index, outputs), unrounded)
            assert_codes_match(engine.read_tensor(op.name), values, op.name)
    return checked
