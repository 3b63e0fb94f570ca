// Shared by every kernel: full float32 precision everywhere (spec §4.8; lowp samplers would
// truncate 8-bit codes to the float16 grid on some drivers).
precision highp float;
precision highp sampler2D;

// Output pixel (column, row) of the tensor being written: fragment position minus the
// texel origin of the written quad.
highp vec2 outputPixel(highp vec2 origin) {
    return floor(gl_FragCoord.xy) - origin;
}
