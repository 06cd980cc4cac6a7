/* target.c - the per-target table (docs/targets.md prints it with sources).
 *
 * Sources (facts only; nothing here was measured by this project):
 *   af-cross   sbryngelson/ANEForge docs/cross-chip.md: capability families
 *              M1 = A13, M2 = A14, M3 = A15, M4/M5 and every A17/A18 die =
 *              A16; spatial / contraction extent <= 16384 through A15,
 *              65536 at A16; channel extent 65536 on all; conv kernel width
 *              <= 13 on A13, <= 15 on A16; which compressed weight formats
 *              stream natively per family.
 *   af-cap     ANEForge docs/capabilities.md: sin/cos A15+, topk/sort/
 *              dynamic_slice reject on M1, texture ops A14+.
 *   mad-pr6    maderix/ANE pull request 6 (via ANE_NOTES 3.2): M1/M2 need
 *              program(1.0), <ios16> and the verbose scalar syntax.
 *   mad-m4     maderix, "Inside the M4 Apple Neural Engine" (Substack, 2026;
 *              summaries in thedailyscout.com): ~32 MB on-chip SRAM on the
 *              M4, about 30 % slower once a working set spills to DRAM.
 *   hollance   hollance/neural-engine device list: A-series pairing with M
 *              chips (M1 ~ A14), CONFLICT with ANEForge's family names
 *              (the family called A13 holds the M1).
 *   coremltools  the opset a program's func names (<ios16> ... <ios18>) is
 *              the deployment target; macOS 13/14/15 = iOS 16/17/18. */
#include "target.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define S TARGET_STREAM
#define F TARGET_FOLD
#define U TARGET_UNKNOWN
#define NO_SRAM NAN

/* Columns: name, chip.h row, family, family gen, verbose MIL, max spatial,
 * max channels, max kernel width, {int4-LUT, int8-affine, sparse,
 * blockwise}, on-chip MiB. */
static const TargetChip chips[] = {
    /* M1: family A13, caps and streams measured on a live M1 (af-cross);
     * verbose MIL (mad-pr6). */
    {"M1", "M1", "A13", 13, true, 16384, 65536, 13, {S, F, S, F}, NO_SRAM},
    /* M2: family A14; kernel width between A13's 13 and A16's 15, not
     * measured (af-cross); verbose MIL (mad-pr6). */
    {"M2", "M2", "A14", 14, true, 16384, 65536, 0, {S, S, S, F}, NO_SRAM},
    /* M3: family A15, "only A15/M3 is unmeasured" (af-cross): caps follow
     * the monotone ladder. */
    {"M3", "M3", "A15", 15, false, 16384, 65536, 0, {S, S, S, S}, NO_SRAM},
    {"M3 Pro", "M3 Pro", "A15", 15, false, 16384, 65536, 0, {S, S, S, S}, NO_SRAM},
    /* M4: family A16 (af-cross); ~32 MB SRAM (mad-m4). */
    {"M4", "M4", "A16", 16, false, 65536, 65536, 15, {S, S, S, S}, 32},
    /* M5: H17s, family A16 (af-cross); no SRAM figure published. */
    {"M5", "M5", "A16", 16, false, 65536, 65536, 15, {S, S, S, S}, NO_SRAM},
    {"M5 Max", "M5 Max", "A16", 16, false, 65536, 65536, 15, {S, S, S, S}, NO_SRAM},
    /* M6: H18g (751K via ANE_NOTES 6); no capability source, so only the
     * A16 ceiling ("A17/A18 add no op capabilities", af-cross) is assumed
     * for ops, nothing for limits. */
    {"M6", "M6", "A16", 16, false, 0, 0, 0, {U, U, U, U}, NO_SRAM},
    /* A-series: families as ANEForge names them; CONFLICT: hollance pairs
     * the A14 with the M1 (family A13). Verbose MIL for A14/A15 is an
     * inference from that pairing with M1/M2 (mad-pr6), not a report. */
    {"A14", "A14", "A14", 14, true, 16384, 65536, 0, {S, S, S, F}, NO_SRAM},
    {"A15", "A15", "A15", 15, true, 16384, 65536, 0, {S, S, S, S}, NO_SRAM},
    {"A16", "A16", "A16", 16, false, 65536, 65536, 15, {S, S, S, S}, NO_SRAM},
    {"A17 Pro", "A17 Pro", "A16", 16, false, 65536, 65536, 15, {S, S, S, S}, NO_SRAM},
    {"A18", "A18", "A16", 16, false, 65536, 65536, 15, {S, S, S, S}, NO_SRAM},
    {"A18 Pro", NULL, "A16", 16, false, 65536, 65536, 15, {S, S, S, S}, NO_SRAM},
};

enum { NCHIPS = sizeof chips / sizeof chips[0] };

typedef struct TargetOs {
  const char *name;
  int ios;
} TargetOs;

/* macOS 26 still takes the ios18 opset with program(1.3) (ANEForge builds
 * for buildInfo 3520 with <ios18>; ANE_NOTES 3.2). */
static const TargetOs oses[] = {
    {"ios16", 16}, {"ios17", 17}, {"ios18", 18},
    {"macos13", 16}, {"macos14", 17}, {"macos15", 18}, {"macos26", 18},
};

/* Ops newer than ios16, by the opset coremltools defines them in. */
typedef struct OpAge {
  const char *op;
  int ios;
} OpAge;

static const OpAge op_ages[] = {
    {"quantize", 17}, {"dequantize", 17},
    {"constexpr_blockwise_shift_scale", 18}, {"constexpr_lut_to_sparse", 18},
    {"constexpr_sparse_blockwise_shift_scale", 18},
    {"scaled_dot_product_attention", 18}, {"read_state", 18}, {"write_state", 18},
    {"slice_update", 18},
};

const TargetChip *target_chips(int *n) {
  *n = NCHIPS;
  return chips;
}

int target_op_min_ios(const char *op) {
  for (size_t i = 0; i < sizeof op_ages / sizeof op_ages[0]; i++)
    if (strcmp(op, op_ages[i].op) == 0)
      return op_ages[i].ios;
  return 0;
}

static const TargetChip *find_chip(const char *s, size_t n) {
  for (int i = 0; i < NCHIPS; i++)
    if (strlen(chips[i].name) == n && strncasecmp(s, chips[i].name, n) == 0)
      return &chips[i];
  return NULL;
}

static const TargetOs *find_os(const char *s) {
  for (size_t i = 0; i < sizeof oses / sizeof oses[0]; i++)
    if (strcasecmp(s, oses[i].name) == 0)
      return &oses[i];
  return NULL;
}

/* The dialect follows the opset (program(1.3) is the ios18 form) and the
 * chip: M1/M2 take only the verbose program(1.0) (mad-pr6). */
static void set_dialect(Target *t) {
  if (t->tc && t->tc->verbose_mil && t->ios > 16)
    t->ios = 16;
  t->version = t->ios >= 18 ? "1.3" : "1.0";
}

static void parse_known(const char *name, Target *t) {
  char err[8];
  target_parse(name, t, err, sizeof err);
}

void target_default(Target *t) {
#ifdef __APPLE__
  TargetHost h = target_host_darwin();
  if (target_host(&h, t) == 0 || t->name[0])
    return;
#endif
  parse_known(TARGET_DEFAULT, t);
}

/* "14.5" -> macos14; 13, 14 and 15 are known, 26 and later take the
 * newest row (macos26: its opset is still ios18); before 13 no ANE target
 * of the table's dialects is known, so none. */
static const char *host_os(const TargetHost *h) {
  char v[32];
  if (h->sysctl(h->ctx, "kern.osproductversion", v, sizeof v) != 0)
    return NULL;
  int major = atoi(v);
  return major >= 26 ? "macos26" : major == 15 ? "macos15" : major == 14 ? "macos14"
       : major == 13 ? "macos13" : NULL;
}

/* The brand string's chip: "Apple M2 Pro" is the row "M2 Pro" if the
 * table has it, else "M2". */
static const TargetChip *host_chip(const TargetHost *h) {
  char brand[128];
  if (h->sysctl(h->ctx, "machdep.cpu.brand_string", brand, sizeof brand) != 0 ||
      strncmp(brand, "Apple ", 6) != 0)
    return NULL;
  const char *name = brand + 6;
  const TargetChip *c = find_chip(name, strlen(name));
  size_t base = strcspn(name, " ");
  return c ? c : find_chip(name, base);
}

int target_host(const TargetHost *h, Target *t) {
  memset(t, 0, sizeof *t);
  const TargetChip *c = host_chip(h);
  const char *os = host_os(h);
  char name[64];
  if (!c && !os)
    return -1;
  snprintf(name, sizeof name, "%s%s%s", c ? c->name : "", c && os ? ":" : "", os ? os : "");
  parse_known(name, t);
  return c ? 0 : -1;
}

#ifdef __APPLE__
#include <sys/sysctl.h>

static int darwin_sysctl(void *ctx, const char *name, char *buf, size_t n) {
  (void)ctx;
  size_t len = n;
  if (n == 0 || sysctlbyname(name, buf, &len, NULL, 0) != 0 || len == 0)
    return -1;
  buf[len < n ? len : n - 1] = '\0';
  return 0;
}

TargetHost target_host_darwin(void) { return (TargetHost){darwin_sysctl, NULL}; }
#endif

int target_parse(const char *name, Target *t, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  const char *colon = strchr(name, ':');
  size_t n = colon ? (size_t)(colon - name) : strlen(name);
  const TargetOs *os = colon ? find_os(colon + 1) : NULL;
  t->tc = find_chip(name, n);
  if (!t->tc && !colon && (os = find_os(name)) != NULL)
    n = 0;
  if ((!t->tc && n) || (colon && !os) || strlen(name) >= sizeof t->name) {
    snprintf(err, errlen, "unknown target '%s' (a chip such as M4 or 'A17 Pro', optionally "
             ":macos13..macos26 or :ios16..ios18; --list-targets lists them)", name);
    return -1;
  }
  t->ios = os ? os->ios : 18;
  set_dialect(t);
  if (t->tc)
    snprintf(t->name, sizeof t->name, "%s%s%s", t->tc->name, os ? ":" : "", os ? os->name : "");
  else
    snprintf(t->name, sizeof t->name, "%s", os->name);
  return 0;
}

static const char *weights_name(TargetWeights w) {
  return w == TARGET_STREAM ? "stream" : w == TARGET_FOLD ? "fold" : "?";
}

static void list_limit(FILE *out, int64_t v) {
  if (v > 0)
    fprintf(out, " %8lld", (long long)v);
  else
    fprintf(out, " %8s", "?");
}

void target_list(FILE *out) {
  fprintf(out, "%-8s %-6s %-12s %8s %8s %3s %-27s %s\n", "target", "family", "dialect",
           "spatial", "channel", "kW", "int4lut/int8/sparse/block", "sram MiB");
  for (int i = 0; i < NCHIPS; i++) {
    const TargetChip *c = &chips[i];
    Target t;
    char err[8];
    target_parse(c->name, &t, err, sizeof err);
    char dialect[24], streams[40];
    snprintf(dialect, sizeof dialect, "%s/ios%d", t.version, t.ios);
    snprintf(streams, sizeof streams, "%s/%s/%s/%s", weights_name(c->weights[0]),
             weights_name(c->weights[1]), weights_name(c->weights[2]), weights_name(c->weights[3]));
    fprintf(out, "%-8s %-6s %-12s", c->name, c->family ? c->family : "?", dialect);
    list_limit(out, c->max_spatial);
    list_limit(out, c->max_channels);
    if (c->max_kernel_w > 0)
      fprintf(out, " %3d", c->max_kernel_w);
    else
      fprintf(out, " %3s", "?");
    fprintf(out, " %-27s ", streams);
    if (isnan(c->sram_mib))
      fputs("?\n", out);
    else
      fprintf(out, "%.0f\n", c->sram_mib);
  }
  fputs("OS (alone or after CHIP:): ", out);
  for (size_t i = 0; i < sizeof oses / sizeof oses[0]; i++)
    fprintf(out, "%s%s", i ? ", " : "", oses[i].name);
  fputs("; default " TARGET_DEFAULT " (program(1.3)).\n", out);
}
