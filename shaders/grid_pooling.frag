// grid_pooling, one quad per rectangle, one cell per fragment: the average of the cell's
// texels. vCoord0: the cell's first texel. gpu_engine/ops/grid_pooling.py writes out the taps
// with their texel offsets folded into literals (vc4 unrolls loops only up to 32 iterations)
// and the cell's 1/(rows × columns) as a float32 literal; one program per cell size.
$declarations

void main() {
    highp vec4 acc = texture2D(uInput, vCoord0);
$taps
    gl_FragColor = acc * $scale;
}
