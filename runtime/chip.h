/* chip.h - what is publicly known about each ANE generation.
 *
 * One row per chip; each figure carries its public source in chip.c. A
 * figure nobody has published is NaN (or 0 for counts, NULL for hgen),
 * never a guess: callers print "unknown" for it.
 *
 * % of peak and est. MHz follow the seed benchmark's model (docs/ane.md):
 * one ANE cluster has 16 MAC arrays of 2048 MACs, each MAC doing 2 ops
 * per cycle of the MAC clock, which is the ANE IP clock / 8; int8 (W8A8)
 * is counted at twice the fp16 rate. */
#ifndef ANET_CHIP_H
#define ANET_CHIP_H

typedef struct Chip {
  const char *name;        /* "M4" */
  const char *hgen;        /* "h16" as _ANEDeviceInfo.aneSubType reports it (prefix) */
  int ne_cores;            /* Apple's "Neural Engine cores" */
  double adv_tops;         /* Apple's advertised TOPS (precision varies by year) */
  double fp16_peak_tflops; /* measured fp16 conv-chain peak (the sim backend's roof) */
  double int8_peak_tops;   /* measured W8A8 peak, NaN if never measured */
  double mhz;              /* an ANE clock a public source measured, NaN if unknown */
  double ip_mhz;           /* the ANE IP clock of the seed's model, NaN if unpublished */
} Chip;

typedef enum ChipPrec { CHIP_FP16, CHIP_INT8 } ChipPrec;

enum { CHIP_MAC_ARRAYS = 16, CHIP_MACS_PER_ARRAY = 2048, CHIP_MAC_CLOCK_DIV = 8 };

/* The row whose name or hgen matches (case-insensitive prefix of the
 * device's sub-type, e.g. "h17g" -> h17); NULL for an unknown chip. */
const Chip *chip_find(const char *name_or_subtype);
/* All rows, for listing. */
const Chip *chip_table(int *n);

/* Ops per MAC-clock cycle of one cluster: 16 x 2048 x 2 for fp16, twice
 * that for int8. */
double chip_ops_per_cycle(ChipPrec p);
/* The theoretical peak of one cluster in TOPS (TFLOPS for fp16); NaN when
 * c is NULL or its clock is unpublished. */
double chip_peak_tops(const Chip *c, ChipPrec p);
/* tops as a percentage of chip_peak_tops(c, p); NaN when that is unknown. */
double chip_pct_peak(const Chip *c, ChipPrec p, double tops);
/* The MAC clock in MHz at which one cluster's fp16 arrays would deliver
 * tops (the seed's "Est.MHz"); NaN for an unknown chip (c NULL). */
double chip_est_mhz(const Chip *c, double tops);

#endif
