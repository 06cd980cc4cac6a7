/* recurrent.c - the cpu backend's recurrent layers: lstm, gru, rnn
 * (coremltools iOS15 definitions). x is [s, b, I]; each step's gates are
 * x_t W_ih^T + h W_hh^T + bias by two GEMMs into the shared scratch, then
 * the gate arithmetic. Forward and reverse runs, and bidirectional lstm. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "cpu.h"

enum { RNN_LSTM, RNN_GRU, RNN_RNN };
enum { A_SIGMOID, A_TANH, A_RELU, A_LINEAR, A_HARD_SIGMOID };

static int act_of(CpuBuild *b, const char *name, const char *def, int64_t *out) {
  static const char *const names[] = {"sigmoid", "tanh", "relu", "linear", "hard_sigmoid"};
  const char *v;
  if (cpu_param_str(b, name, def, &v) < 0)
    return -1;
  /* the string carries no alpha, beta: their defaults 1, 1 make it tanh
   * (coremltools' recurrent tests compute it so) */
  if (strcmp(v, "scaled_tanh") == 0)
    v = "tanh";
  for (int i = 0; i < 5; i++)
    if (strcmp(v, names[i]) == 0) {
      *out = i;
      return 0;
    }
  return cpu_error(b, "%s \"%s\" is not supported (sigmoid, tanh, relu, linear, hard_sigmoid, "
                   "scaled_tanh)", name, v);
}

static float act(int64_t a, float v) {
  switch (a) {
  case A_SIGMOID: return 1.0f / (1.0f + expf(-v));
  case A_TANH: return tanhf(v);
  case A_RELU: return v > 0 ? v : 0;
  case A_HARD_SIGMOID: return fminf(fmaxf(0.2f * v + 0.5f, 0.0f), 1.0f);
  default: return v;
  }
}

/* A [rows, cols] float operand (or an optional absent one). */
static int mat(CpuBuild *b, CpuStep *s, int k, const char *name, bool req, int64_t rows,
               int64_t cols) {
  CpuSlot w;
  if (cpu_operand(b, s, k, name, req, &w) < 0)
    return -1;
  if (s->in[k] < 0)
    return 0;
  if (cpu_need_float(b, &w, name) < 0)
    return -1;
  bool ok = cols ? w.rank == 2 && w.dim[0] == rows && w.dim[1] == cols
                 : w.rank == 1 && w.dim[0] == rows;
  if (!ok) {
    char a[128];
    return cpu_error(b, "'%s' is %s; [%lld%s] expected", name, cpu_shape_str(a, sizeof a, &w),
                     (long long)rows, cols ? ", ..." : "");
  }
  return 0;
}

/* in: 0 x, 1 initial_h, 2 initial_c (lstm), 3 weight_ih, 4 weight_hh,
 * 5 bias, 6 peephole, 7..10 the same four for the backward direction of a
 * bidirectional lstm. initial_h/c and every output hold D = 1 or 2 directions
 * as [.., D * H], forward first.
 * k: 0 s, 1 b, 2 NI, 3 H, 4 gates, 5 direction (0 fwd, 1 rev, 2 bidi),
 * 6 output_sequence, 7 recurrent act, 8 cell act, 9 act; f[0] clip (0: none). */
static int prep_rnn(CpuBuild *b, CpuStep *s) {
  CpuSlot x, h0, c0;
  int G = s->mode == RNN_LSTM ? 4 : s->mode == RNN_GRU ? 3 : 1;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "initial_h", true, &h0) < 0 ||
      (s->mode == RNN_LSTM && cpu_operand(b, s, 2, "initial_c", true, &c0) < 0) ||
      cpu_need_float(b, &x, "x") < 0 || cpu_need_float(b, &h0, "initial_h") < 0)
    return -1;
  if (x.rank != 3 || h0.rank != 2 || h0.dim[0] != x.dim[1])
    return cpu_error(b, "x must be [s, b, I] and initial_h [b, H]");
  const char *dir;
  if (cpu_param_str(b, "direction", "forward", &dir) < 0)
    return -1;
  int d = strcmp(dir, "forward") == 0 ? 0 : strcmp(dir, "reverse") == 0 ? 1
          : strcmp(dir, "bidirectional") == 0 ? 2 : -1;
  if (d < 0)   /* the op definition refused these first, in these words */
    return cpu_error(b, "direction \"%s\" is not supported (forward, reverse%s)", dir,
                     s->mode == RNN_LSTM ? " or bidirectional" : "");
  if (d == 2 && s->mode != RNN_LSTM)   /* the gru and rnn definitions allow only these two */
    return cpu_error(b, "direction \"bidirectional\" is an lstm direction (forward or reverse here)");
  int D = d == 2 ? 2 : 1;
  int64_t S = x.dim[0], B = x.dim[1], NI = x.dim[2], H = h0.dim[1] / D;
  if (h0.dim[1] % D)
    return cpu_error(b, "initial_h of a bidirectional lstm must be [b, 2 * H]");
  if (s->mode == RNN_LSTM && (c0.rank != 2 || c0.dim[0] != B || c0.dim[1] != D * H))
    return cpu_error(b, "initial_c must be [b, %sH] like initial_h", D == 2 ? "2 * " : "");
  bool seq;
  double clip = 0, none = 0;
  if (mat(b, s, 3, "weight_ih", true, G * H, NI) < 0 || mat(b, s, 4, "weight_hh", true, G * H, H) < 0 ||
      mat(b, s, 5, "bias", false, G * H, 0) < 0 ||
      (s->mode == RNN_LSTM && mat(b, s, 6, "peephole", false, 3 * H, 0) < 0) ||
      cpu_param_bools(b, "output_sequence", &seq, 1) < 0)
    return -1;
  if (D == 2 && (mat(b, s, 7, "weight_ih_back", true, G * H, NI) < 0 ||
                 mat(b, s, 8, "weight_hh_back", true, G * H, H) < 0 ||
                 mat(b, s, 9, "bias_back", false, G * H, 0) < 0 ||
                 mat(b, s, 10, "peephole_back", false, 3 * H, 0) < 0))
    return -1;
  if (s->mode == RNN_LSTM &&
      (act_of(b, "recurrent_activation", "sigmoid", &s->k[7]) < 0 ||
       act_of(b, "cell_activation", "tanh", &s->k[8]) < 0 ||
       act_of(b, "activation", "tanh", &s->k[9]) < 0 || cpu_param_float(b, "clip", &none, &clip) < 0))
    return -1;
  if (s->mode == RNN_GRU && (act_of(b, "recurrent_activation", "sigmoid", &s->k[7]) < 0 ||
                             act_of(b, "activation", "tanh", &s->k[9]) < 0))
    return -1;
  if (s->mode == RNN_RNN && act_of(b, "activation", "tanh", &s->k[9]) < 0)
    return -1;
  int64_t kv[7] = {S, B, NI, H, G, d, seq};
  memcpy(s->k, kv, sizeof kv);
  s->f[0] = (float)clip;
  /* scratch: gates from x, gates from h, h, c */
  cpu_scratch(b, 2 * B * G * H + 2 * B * H);
  int nout = s->mode == RNN_LSTM ? 3 : 2;
  int64_t ydim[3] = {seq ? S : 1, B, D * H}, hdim[2] = {B, D * H};
  if (cpu_output(b, 0, nout, x.dtype, 3, ydim) < 0 || cpu_output(b, 1, nout, x.dtype, 2, hdim) < 0 ||
      (nout == 3 && cpu_output(b, 2, nout, x.dtype, 2, hdim) < 0))
    return -1;
  return 0;
}

/* One direction: weights from in[w..w+3], state columns [col, col + H) of
 * rows D * H wide (D = 2 when bidirectional); rev runs t from the end. */
static void rnn_pass(const CpuPlan *p, const CpuStep *s, int w, bool rev, int64_t col) {
  const float *x = cpu_data(p, s->in[0]), *wih = cpu_data(p, s->in[w]), *whh = cpu_data(p, s->in[w + 1]);
  const float *bias = s->in[w + 2] >= 0 ? cpu_data(p, s->in[w + 2]) : NULL;
  const float *peep = s->in[w + 3] >= 0 ? cpu_data(p, s->in[w + 3]) : NULL;
  int64_t S = s->k[0], B = s->k[1], NI = s->k[2], H = s->k[3], G = s->k[4];
  int64_t DH = (s->k[5] == 2 ? 2 : 1) * H;
  float *gx = p->scratch, *gh = gx + B * G * H, *h = gh + B * G * H, *c = h + B * H;
  float *y = cpu_data(p, s->out[0]);
  for (int64_t bb = 0; bb < B; bb++) {
    memcpy(h + bb * H, cpu_data(p, s->in[1]) + bb * DH + col, (size_t)H * sizeof *h);
    if (s->mode == RNN_LSTM)
      memcpy(c + bb * H, cpu_data(p, s->in[2]) + bb * DH + col, (size_t)H * sizeof *c);
  }
  for (int64_t t = 0; t < S; t++) {
    int64_t tt = rev ? S - 1 - t : t;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)(G * H), (int)NI, 1.0f,
                x + tt * B * NI, (int)NI, wih, (int)NI, 0.0f, gx, (int)(G * H));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)(G * H), (int)H, 1.0f, h,
                (int)H, whh, (int)H, 0.0f, gh, (int)(G * H));
    for (int64_t bb = 0; bb < B; bb++)
      for (int64_t j = 0; j < H; j++) {
        const float *ax = gx + bb * G * H, *ah = gh + bb * G * H;
        float *hp = &h[bb * H + j], *cp = &c[bb * H + j];
#define PRE(g) (ax[(g) * H + j] + ah[(g) * H + j] + (bias ? bias[(g) * H + j] : 0.0f))
        if (s->mode == RNN_LSTM) {   /* gates i, f, o, z */
          float zi = PRE(0), zf = PRE(1), zo = PRE(2), zz = PRE(3);
          if (peep) {
            zi += peep[j] * *cp;
            zf += peep[H + j] * *cp;
          }
          if (s->f[0] > 0)
            zz = fminf(fmaxf(zz, -s->f[0]), s->f[0]);
          float ig = act(s->k[7], zi), fg = act(s->k[7], zf), zg = act(s->k[8], zz);
          *cp = fg * *cp + ig * zg;
          if (peep)
            zo += peep[2 * H + j] * *cp;
          float og = act(s->k[7], zo);
          gx[bb * G * H + j] = og * act(s->k[9], *cp);   /* the new h, stored after the row */
        } else if (s->mode == RNN_GRU) {   /* gates r, o, z */
          float r = act(s->k[7], PRE(0));
          float z = act(s->k[7], PRE(2));
          float o = act(s->k[9], ax[H + j] + (bias ? bias[H + j] : 0.0f) + r * ah[H + j]);
          gx[bb * G * H + j] = (1 - z) * o + z * *hp;
        } else {
          gx[bb * G * H + j] = act(s->k[9], PRE(0));
        }
#undef PRE
      }
    for (int64_t bb = 0; bb < B; bb++) {
      memcpy(h + bb * H, gx + bb * G * H, (size_t)H * sizeof *h);
      if (s->k[6])
        memcpy(y + (tt * B + bb) * DH + col, h + bb * H, (size_t)H * sizeof *h);
    }
  }
  /* the final state: after t = S - 1 forward, after t = 0 backward */
  for (int64_t bb = 0; bb < B; bb++) {
    if (!s->k[6])
      memcpy(y + bb * DH + col, h + bb * H, (size_t)H * sizeof *h);
    memcpy(cpu_data(p, s->out[1]) + bb * DH + col, h + bb * H, (size_t)H * sizeof *h);
    if (s->mode == RNN_LSTM)
      memcpy(cpu_data(p, s->out[2]) + bb * DH + col, c + bb * H, (size_t)H * sizeof *c);
  }
}

static void run_rnn(const CpuPlan *p, const CpuStep *s) {
  if (s->k[5] == 2) {
    rnn_pass(p, s, 3, false, 0);
    rnn_pass(p, s, 7, true, s->k[3]);
  } else {
    rnn_pass(p, s, 3, s->k[5] == 1, 0);
  }
}

const CpuOpDef cpu_ops_recurrent[] = {
  {"gru", prep_rnn, run_rnn, RNN_GRU, false, false},
  {"lstm", prep_rnn, run_rnn, RNN_LSTM, false, false},
  {"rnn", prep_rnn, run_rnn, RNN_RNN, false, false},
  {NULL, NULL, NULL, 0, false, false},
};
