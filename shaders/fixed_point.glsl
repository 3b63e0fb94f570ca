// Q8.8-style fixed point in two 8-bit channels (§4.6): the dense layer's number format on
// OpenGL ES 2.0, which has no float render targets.

// Value of a (lsb, msb) channel pair with `fracBits` fractional bits.
highp float decodeFixed(highp vec2 pair, highp float fracBits) {
    highp float value = pair.x * (255.0 / 256.0) + floor(255.0 * pair.y - 127.5);
    return value * exp2(8.0 - fracBits);
}

// Channel values that an RGBA8 target stores as the (lsb, msb) pair of `value`.
highp vec2 encodeFixed(highp float value, highp float fracBits) {
    highp float t = value * exp2(fracBits - 8.0);
    highp float high = floor(t);
    return vec2((t - high) * (256.0 / 255.0), (high + 128.0) / 255.0);
}
