/* wformat.h - the quantised weight formats of the .anet language
 * (weights=int8_channel, int4_block32, lut4, lut6_group16, sparse_int8, ...):
 * the format words, and their lowering to iOS18 constexpr ops whose
 * operands are blobs that blob.c quantises while writing weight.bin. */
#ifndef ANET_WFORMAT_H
#define ANET_WFORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "mil.h"
#include "quant.h"

/* 0 and *f set when word names a format; 1 when it does not look like
 * one; -1 with msg set when it does but is malformed ("lut5"). Sparse
 * formats get sparsity 0.5. */
int wfmt_parse(const char *word, QuantFmt *f, char *msg, size_t msgn);

/* The words the language accepts, for messages and documentation. */
extern const char wfmt_words[];

/* Emits into fn the consts and constexpr ops that rebuild a weight of
 * shape dim[0..rank) ([cout, cin, kh, kw] for conv; rank 1 to 4, dim
 * padded to 4 with 1s: channels along axis 0, blocks along axis 1) stored
 * in format f, quantised
 * from the fp32 values src describes; returns the name of the fp16 result,
 * which is `name`. quant_check() must have accepted f for this shape. */
const char *wfmt_lower(MilProg *p, MilFunc *fn, const char *name, const QuantFmt *f,
                       const MilBlobSrc *src, int rank, const int64_t dim[4]);

/* The format word of f ("int4_block32"), in buf. */
const char *wfmt_name(const QuantFmt *f, char *buf, size_t n);

/* anetc --quant-report: one line per quantised weight of p (whose plans
 * blob_write or blob_measure measured) for sweep point `point` ("" when
 * there is no sweep): a table row, or a JSON object preceded by ",\n"
 * after the first (*rows counts the rows printed so far). */
void wfmt_report(const MilProg *p, const char *point, bool json, int *rows, FILE *out);

#endif
