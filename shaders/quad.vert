// Places the rectangles of a pass in its target and hands the kernel its texture positions,
// prepared per vertex (they vary linearly over a rectangle) instead of per fragment.
attribute highp vec2 aPosition;
$declarations

void main() {
$assignments
    gl_Position = vec4(aPosition, 0.0, 1.0);
}
