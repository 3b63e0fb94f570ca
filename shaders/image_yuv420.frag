// image_sampler on a YUV420 frame (the Pi camera's lores stream) as three one-channel planes:
// each plane interpolated at its own sample sites, then full-range BT.601 to RGB. Define:
// LINEAR. uParams as in image_rgb.frag (the source size is the luma plane's; chroma planes are
// half of it).
$declarations

highp float sampleAt(highp sampler2D plane, highp vec2 size, highp vec2 numerator) {
    highp vec2 base, f;
    sourcePosition(numerator, uParams[1].xy, base, f);
#if LINEAR
    highp vec2 a = (clamp(base, vec2(0.0), size - 1.0) + 0.5) / size;
    highp vec2 b = (clamp(base + 1.0, vec2(0.0), size - 1.0) + 0.5) / size;
    highp float top = texture2D(plane, a).r * (1.0 - f.x) + texture2D(plane, vec2(b.x, a.y)).r * f.x;
    highp float bottom = texture2D(plane, vec2(a.x, b.y)).r * (1.0 - f.x) + texture2D(plane, b).r * f.x;
    return top * (1.0 - f.y) + bottom * f.y;
#else
    return texture2D(plane, (clamp(base + step(0.5, f), vec2(0.0), size - 1.0) + 0.5) / size).r;
#endif
}

void main() {
    highp vec2 position = uParams[0].xy + outputPixel(uParams[2].xy) * uParams[0].zw;
    highp vec2 sourceSize = uParams[1].zw;
    highp vec2 chromaSize = floor(sourceSize / 2.0);
    // chroma sites sit between luma pairs: (x + 0.5) / 2 - 0.5, still over the divisor
    highp vec2 chroma = position * 0.5 - 0.25 * uParams[1].xy;
    highp float y = sampleAt(uLuma, sourceSize, position);
    highp float u = sampleAt(uChromaU, chromaSize, chroma) - 0.5;
    highp float v = sampleAt(uChromaV, chromaSize, chroma) - 0.5;
    highp vec3 rgb = vec3(y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u);
    gl_FragColor = vec4(clamp(rgb, 0.0, 1.0), 1.0);
}
