// Dense layer, multiplication stage: texel (j, r) gets the partial sums over inputs 8j..8j+7
// of outputs 2r and 2r+1, encoded with 9 fractional bits. vCoord0: the input texels holding
// inputs 8j..8j+3 (xy) and 8j+4..8j+7 (zw); vCoord1: matrix texel (8j, r), whose texel
// (n, r) holds the remapped weights of outputs 2r, 2r+1 for input n. gpu_engine/ops/dense.py
// writes out the 8 weight reads with the remap literals folded in.
//!include fixed_point.glsl
$declarations

void main() {
    highp vec4 xa = texture2D(uInput, vCoord0.xy);
    highp vec4 xb = texture2D(uInput, vCoord0.zw);
    highp vec4 evenA, oddA, evenB, oddB, w;
$weights
    highp float even = dot(evenA, xa) + dot(evenB, xb);
    highp float odd = dot(oddA, xa) + dot(oddB, xb);
    gl_FragColor = vec4(encodeFixed(even, 9.0), encodeFixed(odd, 9.0));
}
