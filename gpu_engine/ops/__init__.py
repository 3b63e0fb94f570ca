"""One module per operation: shape rules, NumPy reference and GPU plan side by side."""
from gpu_engine.ops.conv2d import Conv2D
from gpu_engine.ops.dense import Dense
from gpu_engine.ops.image_sampler import ImageSampler
from gpu_engine.ops.pooling2d import Pooling2D
from gpu_engine.ops.softmax import Softmax

OP_TYPES = {cls.TYPE: cls for cls in (ImageSampler, Conv2D, Pooling2D, Dense, Softmax)}
