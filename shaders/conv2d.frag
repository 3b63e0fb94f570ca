// conv2d, one output quad (4 channels) per rectangle: the taps of its group's input quads,
// residual, bias, activation. gpu_engine/ops/conv2d.py fills in the placeholders per variant:
// every tap written out with constant indices and texel offsets folded into literals (the
// VideoCore IV compiler neither spills registers nor indexes samplers dynamically, and a loop
// over taps would turn the weights into memory loads). The weights (a vec4 per input channel
// and tap: the 4 output channels' weights), the bias and the offsets of input tiles elsewhere
// are the uParams array, or literals where the plan folds them. Define: ACTIVATION.
$declarations

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
    highp vec4 sum = vec4(0.0);
    highp vec4 x;
$taps
    gl_FragColor = activate(sum + $bias);
}
