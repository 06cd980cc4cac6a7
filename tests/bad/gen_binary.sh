#!/bin/sh
# gen_binary.sh OUTDIR - writes the binary malformed-input cases from the
# descriptions below, so the repository holds no opaque blobs.
#
#   OUTDIR/wbin/NAME/model.mil + weights/weight.bin   (anerun --dry-run NAME)
#   OUTDIR/npy/model/model.mil                        (the model the .npy cases feed)
#   OUTDIR/npy/NAME.npy                               (anerun model --input x=NAME.npy)
#
# Every weight case starts from one valid layout (FORMATS.md section 1):
# a 64-byte storage header {count, version 2}, then at offset 64 one
# blob_metadata {0xDEADBEEF, dtype, size, data offset, padding bits}, then
# the data at 128. The model reads fp16[1, 16] from offset 64: 32 bytes.
# The cases named valid_* must be accepted; the driver checks that too.
set -eu
out=$1

# Little-endian integers, one byte at a time through octal escapes.
le() { # le NBYTES VALUE
  n=$1 v=$2 i=0
  while [ "$i" -lt "$n" ]; do
    b=$(( (v >> (8 * i)) & 255 ))
    o=$(( (b >> 6) * 100 + ((b >> 3) & 7) * 10 + (b & 7) ))
    case $o in ?) o=00$o ;; ??) o=0$o ;; esac
    # shellcheck disable=SC2059
    printf "\\$o"
    i=$((i + 1))
  done
}
zeros() { head -c "$1" /dev/zero; }
# fp16 1.0 = 0x3c00, 16 times: the data of a valid blob.
ones16() { k=0; while [ "$k" -lt "$1" ]; do printf '\000<'; k=$((k + 1)); done; }

header() { le 4 "$1"; le 4 "$2"; zeros 56; }              # count version
meta() { le 4 "$1"; le 4 "$2"; le 8 "$3"; le 8 "$4"; le 8 "$5"; zeros 32; }  # sentinel dtype size offset padbits

SENT=3735928559   # 0xDEADBEEF

model() { # model DIR DTYPE SHAPE OFFSET
  # y = x + W where W is fp16 of x's shape; another W is passed through
  # identity, so that the program stays valid MIL (add takes neither other
  # shapes nor other dtypes) and only the blob is at fault.
  use="tensor<fp16, [1, 16]> y = add(x = x, y = W)"
  [ "$2" = fp16 ] && [ "$3" = "[1, 16]" ] || use="tensor<$2, $3> y = identity(x = W)"
  cat > "$1/model.mil" <<MIL
program(1.3)
[buildInfo = dict<string, string>({{"coremlc-version", "3500.32.1"}})]
{
    func main<ios18>(tensor<fp16, [1, 16]> x) {
            tensor<$2, $3> W = const()[name = string("W"), val = tensor<$2, $3>(BLOBFILE(path = string("@model_path/weights/weight.bin"), offset = uint64($4)))];
            $use[name = string("y")];
        } -> (y);
}
MIL
}

# wcase NAME [DTYPE SHAPE OFFSET]: makes the directory, reads weight.bin on stdin.
wcase() {
  d=$out/wbin/$1
  mkdir -p "$d/weights"
  model "$d" "${2:-fp16}" "${3:-[1, 16]}" "${4:-64}"
  cat > "$d/weights/weight.bin"
}

mkdir -p "$out/wbin" "$out/npy/model"

{ header 1 2; meta $SENT 1 32 128 0; ones16 16; } | wcase valid_fp16
{ :; } | wcase empty_file
{ header 1 2 | head -c 40; } | wcase truncated_header
{ header 1 2; } | wcase header_only
{ header 1 2; meta $SENT 1 32 128 0 | head -c 20; } | wcase truncated_metadata
{ header 1 2; meta $SENT 1 32 128 0; ones16 15; } | wcase truncated_data
{ header 1 1; meta $SENT 1 32 128 0; ones16 16; } | wcase wrong_version
{ header 1 2; meta 3735928558 1 32 128 0; ones16 16; } | wcase bad_sentinel
{ header 1 2; meta $SENT 4 32 128 0; ones16 16; } | wcase dtype_int8_for_fp16
{ header 1 2; meta $SENT 99 32 128 0; ones16 16; } | wcase dtype_unknown
{ header 1 2; meta $SENT 1 30 128 0; ones16 16; } | wcase size_mismatch
{ header 1 2; meta $SENT 1 -1 128 0; ones16 16; } | wcase size_huge
{ header 1 2; meta $SENT 1 32 -64 0; ones16 16; } | wcase data_offset_huge
{ header 1 2; meta $SENT 1 32 4096 0; ones16 16; } | wcase data_offset_past_end
{ header 1 2; meta $SENT 1 32 140 0; ones16 16; } | wcase data_offset_unaligned
{ header 1 2; meta $SENT 1 32 16 0; ones16 16; } | wcase data_offset_into_header
{ header 1 2; meta $SENT 1 32 128 0; ones16 16; } | wcase blob_offset_past_end fp16 "[1, 16]" 4096
{ header 1 2; meta $SENT 1 32 128 0; ones16 16; } | wcase blob_offset_unaligned fp16 "[1, 16]" 96
{ header 1 2; meta $SENT 1 32 128 0; ones16 16; } | wcase blob_offset_into_data fp16 "[1, 16]" 128
{ header 1 2; meta $SENT 1 32 128 0; ones16 16; } | wcase blob_offset_zero fp16 "[1, 16]" 0
{ header 1 2; meta $SENT 1 32 128 0; ones16 16; } | wcase blob_offset_huge fp16 "[1, 16]" 18446744073709551552
{ header 1 2; meta $SENT 1 32 128 0; ones16 16; } | wcase shape_larger_than_blob fp16 "[1, 32]" 64
{ header 1 2; meta $SENT 1 32 128 0; ones16 16; } | wcase shape_huge fp16 "[65536, 65536, 65536]" 64

# The .npy cases: a model whose input x is fp16[1, 16].
cat > "$out/npy/model/model.mil" <<'MIL'
program(1.3)
[buildInfo = dict<string, string>({{"coremlc-version", "3500.32.1"}})]
{
    func main<ios18>(tensor<fp16, [1, 16]> x) {
            tensor<fp16, [1, 16]> y = relu(x = x)[name = string("y")];
        } -> (y);
}
MIL

# npy VERSION_MAJOR HEADER_TEXT: magic, version, header length, header
# padded with spaces and a newline to a multiple of 64 (NEP 1).
npyhdr() {
  printf '\223NUMPY'; le 1 "$1"; le 1 0
  h=$2
  hl=$(( ${#h} + 1 ))
  if [ "$1" = 1 ]; then pre=10; else pre=12; fi
  pad=$(( (64 - (pre + hl) % 64) % 64 ))
  if [ "$1" = 1 ]; then le 2 $((hl + pad)); else le 4 $((hl + pad)); fi
  printf '%s' "$h"; printf "%${pad}s" ""; printf '\n'
}
F16="{'descr': '<f2', 'fortran_order': False, 'shape': (1, 16), }"
npycase() { cat > "$out/npy/$1.npy"; }

{ npyhdr 1 "$F16"; ones16 16; } | npycase valid_f16
{ npyhdr 2 "$F16"; ones16 16; } | npycase valid_f16_v2
{ :; } | npycase empty
{ printf '\223NUMPZ'; le 1 1; le 1 0; le 2 118; } | npycase bad_magic
{ printf '\223NUM'; } | npycase truncated_magic
{ npyhdr 3 "$F16"; ones16 16; } | npycase bad_version
{ printf '\223NUMPY'; le 1 1; le 1 0; le 2 60000; printf "{'descr'"; } | npycase header_len_past_end
{ printf '\223NUMPY'; le 1 2; le 1 0; le 4 4294967295; } | npycase header_len_huge
{ npyhdr 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 16), "; ones16 16; } | npycase header_unterminated
{ npyhdr 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 16), }"; ones16 15; } | npycase truncated_data
{ npyhdr 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 16), }"; ones16 17; } | npycase trailing_data
{ npyhdr 1 "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 16), }"; zeros 128; } | npycase dtype_f8
{ npyhdr 1 "{'descr': '>f2', 'fortran_order': False, 'shape': (1, 16), }"; ones16 16; } | npycase dtype_big_endian
{ npyhdr 1 "{'descr': '<f2', 'fortran_order': True, 'shape': (1, 16), }"; ones16 16; } | npycase fortran_order
{ npyhdr 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (16, 1), }"; ones16 16; } | npycase shape_mismatch
{ npyhdr 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (1, -16), }"; ones16 16; } | npycase shape_negative
{ npyhdr 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }"; ones16 16; } | npycase shape_overflow
{ npyhdr 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1, 16), }"; ones16 16; } | npycase rank_too_high
{ npyhdr 1 "{'fortran_order': False, 'shape': (1, 16), }"; ones16 16; } | npycase missing_descr
{ npyhdr 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 16)"; ones16 16; } | npycase header_not_dict

# Sub-byte blobs (FORMATS.md §1.5): sizeInBytes counts bits rounded up to a
# byte, padding_size_in_bits the unused bits of the last byte.
{ header 1 2; meta $SENT 11 8 128 0; zeros 8; } | wcase valid_uint4 uint4 "[1, 16]"
{ header 1 2; meta $SENT 12 2 128 1; zeros 2; } | wcase valid_uint3_odd uint3 "[1, 5]"
{ header 1 2; meta $SENT 11 9 128 0; zeros 9; } | wcase uint4_size_mismatch uint4 "[1, 16]"
{ header 1 2; meta $SENT 12 2 128 0; zeros 2; } | wcase uint3_padding_zero uint3 "[1, 5]"
{ header 1 2; meta $SENT 8 2 128 4; zeros 2; } | wcase int4_padding_when_full int4 "[1, 4]"
{ header 1 2; meta $SENT 13 3 128 6; zeros 2; } | wcase uint6_truncated_data uint6 "[1, 3]"
{ header 1 2; meta $SENT 9 2 128 7; zeros 2; } | wcase uint1_for_uint2 uint2 "[1, 9]"
# The other dtypes the weight formats store: a uint1 mask, 2-bit and 8-bit
# palette indices, int8/uint8 data, int4 with an odd count.
{ header 1 2; meta $SENT 9 2 128 7; zeros 2; } | wcase valid_uint1_odd uint1 "[1, 9]"
{ header 1 2; meta $SENT 9 2 128 6; zeros 2; } | wcase uint1_padding_wrong uint1 "[1, 9]"
{ header 1 2; meta $SENT 10 2 128 6; zeros 2; } | wcase uint2_size_mismatch uint2 "[1, 9]"
{ header 1 2; meta $SENT 3 15 128 0; zeros 15; } | wcase uint8_size_mismatch uint8 "[1, 16]"
{ header 1 2; meta $SENT 4 16 128 0; zeros 16; } | wcase int8_for_uint8 uint8 "[1, 16]"
{ header 1 2; meta $SENT 3 16 128 3; zeros 16; } | wcase uint8_padding_bits uint8 "[1, 16]"
{ header 1 2; meta $SENT 13 3 128 2; zeros 3; } | wcase uint6_padding_wrong uint6 "[1, 3]"
{ header 1 2; meta $SENT 8 3 128 4; zeros 3; } | wcase valid_int4_odd int4 "[1, 5]"
{ header 1 2; meta $SENT 8 3 128 0; zeros 3; } | wcase int4_odd_padding_zero int4 "[1, 5]"
