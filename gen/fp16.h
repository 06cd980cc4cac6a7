/* fp16.h - IEEE binary16 conversions with round to nearest, ties to even. */
#ifndef ANET_FP16_H
#define ANET_FP16_H

#include <stdint.h>

uint16_t fp16_from_float(float f);    /* overflow gives +-inf, NaN stays NaN */
uint16_t fp16_from_double(double d);  /* rounds once, straight from double */
float fp16_to_float(uint16_t h);
/* The value d rounded to the nearest fp16, as a double. */
double fp16_round(double d);

#endif
