#!/bin/sh
# test_weight_decl.sh - `weight NAME: fp16[dims] init=... weights=FORMAT`,
# a constant tensor as a value: a matmul operand in a palette format and
# an int8 addend, run on the cpu backend against a hand-computed result;
# the MIL it lowers to against FORMATS.md §3 (iOS18 forms, and the ios16
# dialect's constexpr_affine_dequantize); the sim's weight bytes.
# Run from the build directory (make check does).
set -u
srcdir=${srcdir:-.}
. "$srcdir/tests/testlib.sh"
scratch wdecl-test

# x = [1, 2, 3, 4]: fp32 0x3f800000 0x40000000 0x40400000 0x40800000
npy_f4 "$tmp/x.npy" "(1, 1, 1, 4)" '\0\0\200\077\0\0\0\100\0\0\100\100\0\0\200\100'
# w = [[1, -1, 0.5, 2], [2, 0.5, -1, 1]]: four distinct values, so a 2-bit
# palette holds them exactly (k-means with 4 centres on 4 points)
one='\0\0\200\077' mone='\0\0\200\277' half='\0\0\0\077' two='\0\0\0\100'
npy_f4 "$tmp/w.npy" "(2, 4)" "$one$mone$half$two$two$half$mone$one"

cat >"$tmp/wd.anet" <<'EOT'
network wdecl {
    input x: fp16[1, 1, 1, 4]
    weight w: fp16[2, 4] init=npy("w.npy") weights=lut2
    weight b: fp16[1, 1, 1, 2] init=constant(2) weights=int8 scale=0.125
    matmul w transpose_y=true
    add b
}
EOT
# x @ w^T = [1 - 2 + 1.5 + 8, 2 + 1 - 3 + 4] = [8.5, 4]; b = 2 * 0.125 =
# 0.25 each: [8.75, 4.25] = fp16 0x4860 0x4440
expect_status 0 "compile" "$ANETC" -o "$tmp/m" "$tmp/wd.anet"
expect_status 0 "cpu run" "$ANERUN" --backend cpu --iters 1 --warmup 0 \
  --input x="$tmp/x.npy" --output-dir "$tmp/y" "$tmp/m"
expect_f2 "$tmp/y/add_0.npy" 4860 4440

# FORMATS.md §3.3: indices uint2 of the weight's shape, the LUT of rank
# 2 + 2, [groups, 1, 2^bits, vector size]; the int8 weight as iOS16's
# constexpr_affine_dequantize with a scalar scale.
mil="$tmp/m/model.mil"
has_line "$mil" 'tensor<uint2, [2, 4]> weight_0_w_indices = const('
has_line "$mil" 'tensor<fp16, [1, 1, 4, 1]> weight_0_w_lut = const('
has_line "$mil" 'tensor<fp16, [2, 4]> weight_0_w = constexpr_lut_to_dense(indices = weight_0_w_indices, lut = weight_0_w_lut)'
has_line "$mil" 'tensor<fp16, [1, 1, 1, 2]> weight_1_b = constexpr_affine_dequantize()'
has_line "$mil" 'y = weight_0_w)'
has_line "$mil" 'y = weight_1_b)'

# Blockwise and per-channel at rank 2: the scale [N, K / block] and [N, 1]
# (FORMATS.md §3.1); on ios16 the per-channel one becomes
# constexpr_affine_dequantize with a [N] scale along axis 0.
cat >"$tmp/q.anet" <<'EOT'
network wq {
    input x: fp16[1, 1, 4, 64]
    weight k: fp16[32, 64] init=normal(0, 0.02) weights=int4_block32
    weight q: fp16[32, 64] init=uniform(-1, 1) weights=int8_channel
    a = matmul k transpose_y=true
    from x
    matmul q transpose_y=true
    add a
}
EOT
expect_status 0 "blockwise compile" "$ANETC" -o "$tmp/q" "$tmp/q.anet"
mil="$tmp/q/model.mil"
has_line "$mil" 'tensor<int4, [32, 64]> weight_0_k_data = const('
has_line "$mil" 'tensor<fp16, [32, 2]> weight_0_k_scale = const('
has_line "$mil" 'tensor<fp16, [32, 64]> weight_0_k = constexpr_blockwise_shift_scale(data = weight_0_k_data, scale = weight_0_k_scale)'
has_line "$mil" 'tensor<fp16, [32, 1]> weight_1_q_scale = const('
expect_status 0 "blockwise run" "$ANERUN" --backend cpu --iters 1 --warmup 0 "$tmp/q"
# weight.bin: int4[32, 64] = 1024 B, fp16[32, 2] = 128 B, int8[32, 64] =
# 2048 B, fp16[32, 1] = 64 B, each after a 64-byte blob header and
# aligned to 64: 64 + (64 + 1024) + (64 + 128) + (64 + 2048) + (64 + 64)
if [ -f "$tmp/q/weights/weight.bin" ]; then
  got=$(size_of "$tmp/q/weights/weight.bin")
  [ "$got" -eq 3584 ] || fail "weight.bin is $got bytes, expected 3584"
fi
# The sim reads the stored parts, not the fp16 they rebuild: int4 1024 +
# scales 128 + int8 2048 + scales 64 = 3264 B, plus the matmuls' two bool
# consts (transpose_x, transpose_y, one byte each, shared by both)
expect_status 0 "sim run" "$ANERUN" --backend sim --format json "$tmp/q"
grep -q '"weight_bytes": 3266' "$tmp/stdout" || { fail "sim weight bytes:"; cat "$tmp/stdout"; }
# ios16: the blockwise format has no form there, the per-channel one does
sed '/weight k/d;/matmul k/d;/from x/d;/add a/d' "$tmp/q.anet" >"$tmp/q16.anet"
expect_status 0 "ios16 compile" "$ANETC" --target ios16 -o "$tmp/q16" "$tmp/q16.anet"
has_line "$tmp/q16/model.mil" 'tensor<fp16, [32, 64]> weight_0_q = constexpr_affine_dequantize()[axis = tensor<int32, []>(0)'
has_line "$tmp/q16/model.mil" 'quantized_data = tensor<int8, [32, 64]>(BLOBFILE('
has_line "$tmp/q16/model.mil" 'scale = tensor<fp16, [32]>(BLOBFILE('
expect_status 1 "ios16 blockwise" "$ANETC" --target ios16 -o "$tmp/q16b" "$tmp/q.anet"
has_line "$tmp/stderr" "q.anet:3:5: error: this weight format lowers to 'constexpr_blockwise_shift_scale', which exists from <ios18>"
[ -e "$tmp/q16b" ] && fail "ios16 blockwise: the output directory was written"

# The weight on the left: `from w` makes it the current value
cat >"$tmp/l.anet" <<'EOT'
network left {
    input x: fp16[1, 1, 64, 4]
    weight w: fp16[8, 64] init=normal(0, 0.02) weights=lut4
    from w
    matmul x
}
EOT
expect_status 0 "left compile" "$ANETC" -o "$tmp/l" "$tmp/l.anet"
has_line "$tmp/l/model.mil" 'tensor<fp16, [1, 1, 8, 4]> matmul_0 = matmul(transpose_x = mm_transpose_x_0, transpose_y = mm_transpose_y_0, x = weight_0_w, y = x)'
expect_status 0 "left run" "$ANERUN" --backend cpu --iters 1 --warmup 0 "$tmp/l"

finish test_weight_decl
