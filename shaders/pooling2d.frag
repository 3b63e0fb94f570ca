// pooling2d for one quad: max or average over a K×K window. Defines: K, STRIDE, MAX.
uniform highp sampler2D uInput;
uniform highp vec2 uOutputOrigin;
uniform highp vec2 uInputOrigin;
uniform highp vec2 uInputStep;
uniform highp float uScale;  // 1/K² as the 10-decimal literal of the format (§4.4)

void main() {
    highp vec2 corner = outputPixel(uOutputOrigin) * float(STRIDE) + uInputOrigin;
    highp vec4 acc = vec4(0.0);
    for (int dy = 0; dy < K; dy++) {
        for (int dx = 0; dx < K; dx++) {
            highp vec4 texel = texture2D(uInput, (corner + vec2(float(dx), float(dy))) * uInputStep);
#if MAX
            acc = max(acc, texel);
#else
            acc += texel;
#endif
        }
    }
#if MAX
    gl_FragColor = acc;
#else
    gl_FragColor = acc * uScale;
#endif
}
