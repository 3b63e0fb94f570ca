// Dense layer, summation stage: each output partial is the sum of 4 input partials, the list
// padded with zeros on the left; the last stage adds the bias and encodes with 8 fractional
// bits (the logits). Defines: LAST.
uniform highp sampler2D uPartials;
uniform highp float uPadding;      // zeros in front of the input partials
uniform highp vec2 uPartialsStep;
#if LAST
uniform highp sampler2D uBias;     // texel (r, 0): remapped biases of outputs 2r, 2r+1
uniform highp float uBiasStep;
uniform highp vec2 uRemap;
#endif

void main() {
    highp vec2 cell = floor(gl_FragCoord.xy);
    highp vec2 sum = vec2(0.0);
    for (int t = 0; t < 4; t++) {
        highp float index = 4.0 * cell.x + float(t) - uPadding;
        highp vec4 pair = texture2D(uPartials, (vec2(max(index, 0.0), cell.y) + 0.5) * uPartialsStep);
        highp float present = step(0.0, index);
        sum += present * vec2(decodeFixed(pair.xy, 9.0), decodeFixed(pair.zw, 9.0));
    }
#if LAST
    highp vec4 bias = texture2D(uBias, vec2((cell.y + 0.5) * uBiasStep, 0.5));
    sum += (vec2(decodeFixed(bias.xy, 8.0), decodeFixed(bias.zw, 8.0)) - uRemap.x) * uRemap.y;
    gl_FragColor = vec4(encodeFixed(sum.x, 8.0), encodeFixed(sum.y, 8.0));
#else
    gl_FragColor = vec4(encodeFixed(sum.x, 9.0), encodeFixed(sum.y, 9.0));
#endif
}
