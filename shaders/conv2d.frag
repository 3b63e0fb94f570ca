// conv2d for one output quad (4 channels): NQ input quads of its group, K×K taps, stride,
// optional residual, bias, activation. Defines: NQ, K, STRIDE, DEPTHWISE, RESIDUAL, ACTIVATION.
uniform highp sampler2D uInput[NQ];
#if DEPTHWISE
uniform highp vec4 uWeights[K * K];
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
    highp vec2 corner = pixel * float(STRIDE) + uInputOrigin;
    highp vec4 sum = vec4(0.0);
    for (int dy = 0; dy < K; dy++) {
        for (int dx = 0; dx < K; dx++) {
            highp vec2 position = (corner + vec2(float(dx), float(dy))) * uInputStep;
#if DEPTHWISE
            sum += uWeights[dy * K + dx] * texture2D(uInput[0], position);
#else
            for (int q = 0; q < NQ; q++) {
                sum += uWeights[(dy * K + dx) * NQ + q] * texture2D(uInput[q], position);
            }
#endif
        }
    }
#if RESIDUAL
    sum += texture2D(uResidual, (pixel + uResidualOrigin) * uResidualStep);
#endif
    gl_FragColor = activate(sum + uBias);
}
