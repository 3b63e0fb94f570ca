// image_sampler on an RGB(A) frame: centre crop and corner-aligned resize (§3.2). Bilinear
// weights are computed in float32 here rather than left to the GPU's fixed-point filter, so
// every GPU gives the reference's 'exact' result. Define: LINEAR. Per frame, uParams[0]: source
// position of output pixel (0, 0) and the distance between output pixels, both times the
// divisor; uParams[1]: the divisor (output size - 1) and the source size; uParams[2]: the
// texel origin of the output.
$declarations

highp vec4 texel(highp vec2 position) {
    highp vec2 size = uParams[1].zw;
    return texture2D(uImage, (clamp(position, vec2(0.0), size - 1.0) + 0.5) / size);
}

void main() {
    highp vec2 base, f;
    sourcePosition(uParams[0].xy + outputPixel(uParams[2].xy) * uParams[0].zw, uParams[1].xy,
                   base, f);
#if LINEAR
    highp vec4 top = texel(base) * (1.0 - f.x) + texel(base + vec2(1.0, 0.0)) * f.x;
    highp vec4 bottom = texel(base + vec2(0.0, 1.0)) * (1.0 - f.x) + texel(base + vec2(1.0)) * f.x;
    gl_FragColor = vec4((top * (1.0 - f.y) + bottom * f.y).rgb, 1.0);
#else
    gl_FragColor = vec4(texel(base + step(0.5, f)).rgb, 1.0);
#endif
}
