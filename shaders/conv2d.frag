// conv2d for one output quad (4 channels): NQ input quads of its group, K×K taps, stride,
// optional residual, bias, activation. Defines: NQ, K, STRIDE, DEPTHWISE, IMAGE, RESIDUAL,
// ACTIVATION. The taps (the placeholder in main) are written out per variant by
// gpu_engine/ops/conv2d.py: constant uniform and sampler indices only, as the VideoCore IV
// compiler needs (no spilling, no dynamic sampler indexing; a loop over taps would turn the
// weights into memory loads).
uniform highp sampler2D uInput[NQ];
#if DEPTHWISE
uniform highp vec4 uWeights[K * K];
#elif IMAGE
uniform highp vec4 uWeights[K * K * 3];  // per tap: weights from the red, green, blue channel
#else
uniform highp mat4 uWeights[K * K * NQ];  // column c: weights from input channel c
#endif
uniform highp vec4 uBias;
uniform highp vec2 uOutputOrigin;
uniform highp vec2 uInputOrigin;  // texel centre of input row/column 0 minus the padding
uniform highp vec2 uInputStep;    // 1 / input texture size
#if RESIDUAL
uniform highp sampler2D uResidual;
uniform highp vec2 uResidualOrigin;
uniform highp vec2 uResidualStep;
#endif

highp vec4 activate(highp vec4 z) {
#if ACTIVATION == 0
    return clamp(z, 0.0, 1.0);
#elif ACTIVATION == 1
    return clamp(0.167 * z, 0.0, 1.0);
#else
    return clamp(clamp(0.1 * z, -0.05, 0.05) + clamp(0.05 * z, -0.125, 0.125) + 0.05 * z + 0.5,
                 0.0, 1.0);
#endif
}

void main() {
    highp vec2 pixel = outputPixel(uOutputOrigin);
    highp vec2 corner = (pixel * float(STRIDE) + uInputOrigin) * uInputStep;
    highp vec4 sum = vec4(0.0);
    highp vec4 x;
$taps
#if RESIDUAL
    sum += texture2D(uResidual, (pixel + uResidualOrigin) * uResidualStep);
#endif
    gl_FragColor = activate(sum + uBias);
}
