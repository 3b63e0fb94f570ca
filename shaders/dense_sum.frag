// Dense layer, summation stage: each output partial is the sum of 4 input partials (texels
// 4i..4i+3 of the previous stage, whose left columns hold encoded zeros as padding). The last
// stage adds the bias and encodes with 8 fractional bits (the logits). vCoord0.xy: texel 4i
// of row r; vCoord0.zw: the bias texel of row r. gpu_engine/ops/dense.py writes out the taps
// and the end.
//!include fixed_point.glsl
$declarations

void main() {
    highp vec2 sum = vec2(0.0);
    highp vec4 pair;
$taps
$finish
}
