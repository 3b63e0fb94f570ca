// A triangle that covers the viewport; every kernel is a fragment shader over its output.
attribute highp vec2 aPosition;

void main() {
    gl_Position = vec4(aPosition, 0.0, 1.0);
}
