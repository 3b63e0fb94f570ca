// Shared by every kernel: full float32 precision everywhere (spec §4.8; lowp samplers would
// truncate 8-bit codes to the float16 grid on some drivers).
precision highp float;
precision highp sampler2D;

// Output pixel (column, row) of the tensor being written: fragment position minus the
// texel origin of the written quad.
highp vec2 outputPixel(highp vec2 origin) {
    return floor(gl_FragCoord.xy) - origin;
}

// Split a source position given as numerator / divisor into its integer part and fraction.
// The numerator (an integer or half-integer below 2^24) is exact in float32, so the fraction,
// which sets the bilinear weights, carries no error from the magnitude of the position.
void sourcePosition(highp vec2 numerator, highp vec2 divisor, out highp vec2 base,
                    out highp vec2 fraction) {
    base = floor(numerator / divisor);
    highp vec2 rest = numerator - base * divisor;
    highp vec2 under = step(rest, vec2(-0.0001));  // the division rounded up past an integer
    highp vec2 over = step(divisor, rest);         // or down below one
    base += over - under;
    rest += (under - over) * divisor;
    fraction = rest / divisor;
}
