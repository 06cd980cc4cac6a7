/* target.h - what a program may use on one ANE target: chip (M1 ... M6,
 * A14 ... A18 Pro) and optionally the OS it runs ("M2:macos14").
 *
 * One row per chip in target.c, each fact with its public source; the
 * speed figures stay in runtime/chip.c (TargetChip.chip names the row). A fact no
 * source gives is 0 / TARGET_UNKNOWN / NaN, and the rules that need it
 * stay silent rather than guess. Where sources disagree the row says
 * CONFLICT and the lint reports a warning instead of an error. */
#ifndef ANET_TARGET_H
#define ANET_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* How a compressed weight format reaches the ANE (ANEForge's table). */
typedef enum TargetWeights {
  TARGET_UNKNOWN,   /* no source */
  TARGET_FOLD,      /* expanded to fp16 at compile time: no bandwidth win */
  TARGET_STREAM,    /* read compressed, expanded while streaming */
} TargetWeights;

typedef enum TargetFormat { TW_INT4_LUT, TW_INT8_AFFINE, TW_SPARSE, TW_BLOCKWISE, TW_NFORMATS } TargetFormat;

typedef struct TargetChip {
  const char *name;        /* "M1", "A17 Pro" */
  const char *chip;        /* chip.h row, NULL when it has none */
  const char *family;      /* ANEForge's capability family ("A13" for M1), NULL unknown */
  int family_gen;          /* 13 for "A13": family-gated ops compare this */
  bool verbose_mil;        /* needs program(1.0) and the verbose scalar forms */
  int64_t max_spatial;     /* largest W/H/matmul-K extent; 0 unknown */
  int64_t max_channels;    /* largest channel extent; 0 unknown */
  int max_kernel_w;        /* largest conv kernel width; 0 unknown */
  TargetWeights weights[TW_NFORMATS];
  double sram_mib;         /* on-chip activation budget, NaN when unpublished */
} TargetChip;

typedef struct Target {
  char name[32];           /* as --target spelled it, canonical: "M2:macos14", "ios18" */
  const TargetChip *tc;    /* NULL for an OS-only target such as the default */
  int ios;                 /* the MIL opset: 16, 17 or 18 */
  const char *version;     /* the MIL dialect: "1.0" or "1.3" */
} Target;

#define TARGET_DEFAULT "ios18"

/* Parses "CHIP", "CHIP:OS" or "OS" (ios16..ios18, macos13..macos26).
 * 0, or -1 with a message in err (the known names listed). */
int target_parse(const char *name, Target *t, char *err, size_t errlen);
/* The default: on a Mac, the machine's own chip and OS (target_host over
 * the real sysctl); elsewhere, or when the Mac's chip or OS is not known,
 * TARGET_DEFAULT, what the seed uses. */
void target_default(Target *t);

/* What the machine says about itself. sysctl() copies the string value
 * of a sysctl name ("machdep.cpu.brand_string": "Apple M2 Pro",
 * "hw.model": "Mac14,12", "kern.osproductversion": "14.5") into buf:
 * 0, or -1 when the name has no value. */
typedef struct TargetHost {
  int (*sysctl)(void *ctx, const char *name, char *buf, size_t n);
  void *ctx;
} TargetHost;
/* The target the host is: its chip (the brand string's, the table's
 * variant if it has one, else the base chip) with its macOS. 0, or -1
 * when the brand names no chip of the table (a virtual machine says
 * "Apple processor"... or nothing); t is then the OS alone, or all
 * zero (name "") when the OS is not known either. */
int target_host(const TargetHost *h, Target *t);
#ifdef __APPLE__
/* The table over sysctlbyname(3). */
TargetHost target_host_darwin(void);
#endif
/* All chip rows, for listing. */
const TargetChip *target_chips(int *n);
/* --list-targets: one line per chip, then the OS names. */
void target_list(FILE *out);
/* The lowest opset an op exists in (coremltools' opset definitions);
 * 0 for ops every opset has or that it does not know. */
int target_op_min_ios(const char *op);

#endif
