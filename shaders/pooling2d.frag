// pooling2d for one quad: max or average over a K×K window. Defines: K, STRIDE, MAX. The taps
// (the placeholder in main) are written out per variant by gpu_engine/ops/pooling2d.py: the
// VideoCore IV compiler unrolls loops only up to 32 iterations.
uniform highp sampler2D uInput;
uniform highp vec2 uOutputOrigin;
uniform highp vec2 uInputOrigin;
uniform highp vec2 uInputStep;
uniform highp float uScale;  // 1/K² as the 10-decimal literal of the format (§4.4)

void main() {
    highp vec2 corner = (outputPixel(uOutputOrigin) * float(STRIDE) + uInputOrigin) * uInputStep;
    highp vec4 acc = texture2D(uInput, corner);
$taps
#if MAX
    gl_FragColor = acc;
#else
    gl_FragColor = acc * uScale;
#endif
}
