// image_sampler on an RGB(A) frame: centre crop and corner-aligned resize (§3.2). Bilinear
// weights are computed in float32 here rather than left to the GPU's fixed-point filter, so
// every GPU gives the reference's 'exact' result. Defines: LINEAR.
uniform highp sampler2D uImage;
uniform highp vec2 uOutputOrigin;
uniform highp vec2 uStart;       // source position of output pixel (0, 0), times uDivisor
uniform highp vec2 uStep;        // source distance between output pixels, times uDivisor
uniform highp vec2 uDivisor;     // output size - 1
uniform highp vec2 uSourceSize;

highp vec4 texel(highp vec2 position) {
    return texture2D(uImage, (clamp(position, vec2(0.0), uSourceSize - 1.0) + 0.5) / uSourceSize);
}

void main() {
#if LINEAR
    highp vec2 base, f;
    sourcePosition(uStart + outputPixel(uOutputOrigin) * uStep, uDivisor, base, f);
    highp vec4 top = texel(base) * (1.0 - f.x) + texel(base + vec2(1.0, 0.0)) * f.x;
    highp vec4 bottom = texel(base + vec2(0.0, 1.0)) * (1.0 - f.x) + texel(base + vec2(1.0)) * f.x;
    gl_FragColor = vec4((top * (1.0 - f.y) + bottom * f.y).rgb, 1.0);
#else
    highp vec2 base, f;
    sourcePosition(uStart + outputPixel(uOutputOrigin) * uStep, uDivisor, base, f);
    gl_FragColor = vec4(texel(base + step(0.5, f)).rgb, 1.0);
#endif
}
