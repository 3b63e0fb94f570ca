// Dense layer, multiplication stage: texel (j, r) gets the partial sums over inputs 8j..8j+7
// of outputs 2r and 2r+1, encoded with 9 fractional bits.
uniform highp sampler2D uMatrix;  // texel (n, r): remapped weights of outputs 2r, 2r+1
uniform highp sampler2D uInput;   // the input tensor in flat layout (W × H·quads)
uniform highp vec3 uInputShape;   // W, H, C
uniform highp vec2 uInputStep;
uniform highp vec2 uMatrixStep;
uniform highp vec2 uRemap;        // OFF, INV literals undoing the weight remapping

highp vec4 weightsAt(highp float n, highp float row) {
    return texture2D(uMatrix, (vec2(n, row) + 0.5) * uMatrixStep);
}

void main() {
    highp vec2 cell = floor(gl_FragCoord.xy);  // (block j, row r)
    highp float first = 8.0 * cell.x;          // flat HWC index of the block's first input
    // Quotients of integers, floored half a step above the exact value: a reciprocal-based
    // division (VideoCore IV) may land just below an integer quotient, never half a step off.
    highp float pixel = floor((first + 0.5) / uInputShape.z);
    highp float quad = floor((first - pixel * uInputShape.z + 0.5) / 4.0);
    highp float row = floor((pixel + 0.5) / uInputShape.x);
    highp vec2 texel = vec2(pixel - row * uInputShape.x, quad * uInputShape.y + row);
    highp vec4 xa = texture2D(uInput, (texel + 0.5) * uInputStep);
    highp vec4 xb = texture2D(uInput, (texel + vec2(0.0, uInputShape.y) + 0.5) * uInputStep);
    highp vec4 evenA, oddA, evenB, oddB;
    for (int t = 0; t < 4; t++) {
        highp vec4 wa = weightsAt(first + float(t), cell.y);
        highp vec4 wb = weightsAt(first + float(t + 4), cell.y);
        evenA[t] = (decodeFixed(wa.xy, 8.0) - uRemap.x) * uRemap.y;
        oddA[t] = (decodeFixed(wa.zw, 8.0) - uRemap.x) * uRemap.y;
        evenB[t] = (decodeFixed(wb.xy, 8.0) - uRemap.x) * uRemap.y;
        oddB[t] = (decodeFixed(wb.zw, 8.0) - uRemap.x) * uRemap.y;
    }
    highp float even = dot(evenA, xa) + dot(evenB, xb);
    highp float odd = dot(oddA, xa) + dot(oddB, xb);
    gl_FragColor = vec4(encodeFixed(even, 9.0), encodeFixed(odd, 9.0));
}
