// pooling2d, one quad per rectangle: max or average over a K×K window. gpu_engine/ops/
// pooling2d.py writes out the taps with their texel offsets folded into literals (the
// VideoCore IV compiler unrolls loops only up to 32 iterations); an average is scaled
// by 1/K² as the format's 10-decimal literal (§4.4).
$declarations

void main() {
    highp vec4 acc = texture2D(uInput, vCoord0);
$taps
    gl_FragColor = $finish;
}
