/* chip.h - what is publicly known about each ANE generation.
 *
 * One row per chip; each figure carries its public source in chip.c. A
 * figure nobody has published is NaN (or 0 for counts), never a guess:
 * callers print "unknown" for it. */
#ifndef ANET_CHIP_H
#define ANET_CHIP_H

typedef struct Chip {
  const char *name;        /* "M4" */
  const char *hgen;        /* "h16" as _ANEDeviceInfo.aneSubType reports it (prefix) */
  int ne_cores;            /* Apple's "Neural Engine cores" */
  double adv_tops;         /* Apple's advertised TOPS (precision varies by year) */
  double fp16_peak_tflops; /* measured fp16 conv-chain peak used for % of peak */
  double int8_peak_tops;   /* measured W8A8 peak, NaN if never measured */
  double mhz;              /* clock, NaN if unknown */
} Chip;

/* The row whose name or hgen matches (case-insensitive prefix of the
 * device's sub-type, e.g. "h17g" -> h17); NULL for an unknown chip. */
const Chip *chip_find(const char *name_or_subtype);
/* All rows, for listing. */
const Chip *chip_table(int *n);

#endif
