/* chip.c - the per-chip table and the seed's peak arithmetic.
 *
 * Every figure below is transcribed from ../shared/ANE_NOTES.md section 6
 * and carries the public source that note names. Where sources disagree the
 * row says CONFLICT and which one it follows. Nothing here was measured by
 * this project.
 *
 * Sources:
 *   seed       Anemll, gist 49e219448ad350ef67ff4bfdcb9ebd8c "ANE INT8 W8A8
 *              Benchmark" (2026-03-08): M5 "type=h17", 18.22 TFLOPS fp16 and
 *              34.22 TOPS W8A8 through the private API, and its table of ANE
 *              IP clocks by aneSubType prefix (h11 1464, h13 2100, h15 2364,
 *              h17 2448 MHz; MAC clock = IP clock / 8).
 *   hollance   hollance/neural-engine, list of devices: Neural Engine cores
 *              and Apple's advertised TOPS.
 *   wikipedia  "Neural Engine" article (M3: 18 TOPS, also Ars Technica).
 *   mad        maderix/ANE README (M4 "H16G": 18.6 TFLOPS fp16, 35.1 TOPS
 *              W8A8, 128 x conv 512ch 64x64).
 *   mad-rep    maderix/ANE benchmarks/ANE_BENCHMARK_REPORT.md (M3 Pro 16.77
 *              TFLOPS at spatial 2048).
 *   mad-pr50   maderix/ANE pull request 50 (M5 Max: aneSubType "h17",
 *              19.27 TFLOPS fp16, 35.61 TOPS W8A8).
 *   ane-guide  ane-guide section 12 (M1 is H13, ANE clock ~1.14 GHz).
 *   bryngelson sbryngelson/ANEForge measurements (M5 ANE clock ~1.89 GHz).
 *   751k       the 751K M6 study (M6: H18g compile target, 2 engines of 16
 *              NE, 2.58 GHz, 20.6 TFLOPS fp16 per engine, 256 fp16 / 512
 *              int8 MACs per NE per cycle).
 *   tinygrad   tinygrad/tinygrad issue 596 (A-series clock estimates; kept
 *              in comments only, they are estimates). */
#include "chip.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define UNK NAN

static const Chip chips[] = {
    /* M1: H13 and ~1.14 GHz (ane-guide); 16 cores, 11 TOPS fp16 (hollance);
     * fp16 conv-chain peak never published (only GEMM 2.70, ANEForge).
     * ip_mhz 2100 is the seed's h13 entry. CONFLICT: at that clock the
     * seed's model gives 17.2 TFLOPS, above Apple's 11 TOPS (docs/ane.md). */
    {"M1", "h13", 16, 11, UNK, UNK, 1140, 2100},
    /* M2: H14 (hollance; eiln's ANE documentation), 16 cores, 15.8 TOPS
     * (hollance); no h14 clock in the seed, so no % of peak. */
    {"M2", "h14", 16, 15.8, UNK, UNK, UNK, UNK},
    /* M3: H15 and 18 TOPS (wikipedia), CONFLICT with 15.8 (hollance, mad);
     * ip_mhz is the seed's h15 entry. */
    {"M3", "h15", 16, 18, UNK, UNK, UNK, 2364},
    /* M3 Pro: H15g, 16 cores and 18 TOPS like the M3 (ANE_NOTES 6);
     * 16.77 TFLOPS fp16 at spatial 2048 (mad-rep). */
    {"M3 Pro", "h15", 16, 18, 16.77, UNK, UNK, 2364},
    /* M4: "H16G" (mad); 38 TOPS int8-era (hollance); 18.6 fp16 and 35.1
     * W8A8 measured (mad). The seed has no h16 clock; the ~2.3 GHz in the
     * notes is inferred from the measurement itself, so it is not used. */
    {"M4", "h16", 16, 38, 18.6, 35.1, UNK, UNK},
    /* M5: "h17g" in the seed, which measured 18.22 / 34.22 on it; clock
     * ~1.89 GHz (bryngelson); Apple did not disclose TOPS. CONFLICT:
     * maderix training/m5result.md reports the base M5 as H16 family. */
    {"M5", "h17", 16, UNK, 18.22, 34.22, 1890, 2448},
    /* M5 Max: aneSubType "h17", 16 cores, 19.27 / 35.61 (mad-pr50). */
    {"M5 Max", "h17", 16, UNK, 19.27, 35.61, UNK, 2448},
    /* M6: H18g, 2.58 GHz, 20.6 TFLOPS fp16 per engine (751k). Its 16 NE x
     * 256 fp16 MACs at 2.58 GHz is the seed's 16 x 2048 MACs at IP / 8 with
     * IP = 2580 MHz. Apple has not published its core count or TOPS. */
    {"M6", "h18", 0, UNK, 20.6, UNK, 2580, 2580},
    /* A-series: cores and TOPS from hollance (A18 also punto-informatico).
     * Their H-generations are known only by pairing with M chips (A14 ~
     * H13, CONFLICT with ane-guide's A13), so hgen stays NULL; clocks are
     * tinygrad estimates (A14 ~1422 MHz, A15 1284-1932, A16 1386-2076). */
    {"A14", NULL, 16, 11, UNK, UNK, UNK, UNK},
    {"A15", NULL, 16, 15.8, UNK, UNK, UNK, UNK},
    {"A16", NULL, 16, 17, UNK, UNK, UNK, UNK},
    {"A17 Pro", NULL, 16, 35, UNK, UNK, UNK, UNK},
    {"A18", NULL, 16, 35, UNK, UNK, UNK, UNK},
};

enum { NCHIPS = sizeof chips / sizeof chips[0] };

const Chip *chip_table(int *n) {
  *n = NCHIPS;
  return chips;
}

/* A sub-type matches a row when the row's hgen is its prefix and no digit
 * follows ("h17g" is h17, "h170" is not). */
static bool hgen_matches(const char *hgen, const char *s) {
  size_t n = strlen(hgen);
  return strncasecmp(s, hgen, n) == 0 && !isdigit((unsigned char)s[n]);
}

const Chip *chip_find(const char *s) {
  if (!s || !*s)
    return NULL;
  for (int i = 0; i < NCHIPS; i++)
    if (strcasecmp(s, chips[i].name) == 0)
      return &chips[i];
  for (int i = 0; i < NCHIPS; i++)
    if (chips[i].hgen && hgen_matches(chips[i].hgen, s))
      return &chips[i];
  return NULL;
}

double chip_ops_per_cycle(ChipPrec p) {
  double fp16 = (double)CHIP_MAC_ARRAYS * CHIP_MACS_PER_ARRAY * 2;
  return p == CHIP_INT8 ? 2 * fp16 : fp16;
}

double chip_peak_tops(const Chip *c, ChipPrec p) {
  if (!c || !(c->ip_mhz > 0))
    return NAN;
  double mac_hz = c->ip_mhz / CHIP_MAC_CLOCK_DIV * 1e6;
  return chip_ops_per_cycle(p) * mac_hz / 1e12;
}

double chip_pct_peak(const Chip *c, ChipPrec p, double tops) {
  double peak = chip_peak_tops(c, p);
  if (!(peak > 0) || !isfinite(tops))
    return NAN;
  return tops / peak * 100;
}

double chip_est_mhz(const Chip *c, double tops) {
  if (!c || !isfinite(tops) || tops < 0)
    return NAN;
  return tops * 1e12 / chip_ops_per_cycle(CHIP_FP16) / 1e6;
}
