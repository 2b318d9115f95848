// MiniRocket's transform on the CPU in one pass per series: convolution and proportion of positive values fused.
//
// Eager PyTorch writes each kernel's convolution output to memory, then for each bias writes a comparison and
// reads it back to sum it (blobbotronic/models/minirocket_transform.py). Here a kernel's output over one series
// lives in a buffer of a few kilobytes (in L1) and is counted against its biases while it is there, four biases
// per pass, as vector compares into integer counts.
//
// The convolution uses the kernels' shape (Dempster et al. 2021, section 4): every kernel weighs -1 at nine
// taps and 2 at three of them, so its output is -(sum of the nine taps) + 3 x (the three taps weighing 2), that
// is A + 3 (s[p0] + s[p1] + s[p2]) with A computed once per series and dilation (once per kernel for a
// multivariate series, whose kernels sum different channels). The sums are taken in a fixed order, with no
// fused multiply-adds (-ffp-contract=off), so the bias fitting and the transform see the same numbers.
//
// Shapes (D dilations, 84 kernels each, C channels):
//   x (B, C, L) float32, zero-padded; lengths (B,) int64, each series' real steps (1..L)
//   dilation (D,), count (D,) biases per kernel, start (D,) first feature of each dilation's block (int64)
//   taps (D, 84, 3) int64: where each kernel weighs 2; mask (D, 84, C) float32: 1 where a channel is summed
//   biases (F,) float32 -> features (B, F) float32; kernels 0-41 of a block count every step of the zero-padded
//   series, kernels 42-83 only the steps where the kernel lies wholly inside it (all steps if it never does).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t KERNELS = 84;
constexpr int64_t HALF = 42;

// The series a kernel sees: the chosen channels summed (in ascending order), zero-padded by pad on each side.
void channel_sum(const float* x, int64_t C, int64_t L, int64_t n, const float* mask, int64_t pad, float* s) {
  for (int64_t t = 0; t < pad; ++t) s[t] = 0.0f;
  for (int64_t t = pad + n; t < n + 2 * pad; ++t) s[t] = 0.0f;
  float* body = s + pad;
  bool first = true;
  for (int64_t c = 0; c < C; ++c) {
    if (mask[c] == 0.0f) continue;
    const float* xc = x + c * L;
    if (first) {
      for (int64_t t = 0; t < n; ++t) body[t] = xc[t];
    } else {
      for (int64_t t = 0; t < n; ++t) body[t] += xc[t];
    }
    first = false;
  }
  if (first) {
    for (int64_t t = 0; t < n; ++t) body[t] = 0.0f;
  }
}

// a[t] = -(s[t] + s[t + d] + ... + s[t + 8d]) for t in [0, n), s zero-padded by 4d.
void minus_taps(const float* s, int64_t n, int64_t d, float* a) {
  for (int64_t t = 0; t < n; ++t) a[t] = s[t];
  for (int64_t j = 1; j < 9; ++j) {
    const float* sj = s + j * d;
    for (int64_t t = 0; t < n; ++t) a[t] += sj[t];
  }
  for (int64_t t = 0; t < n; ++t) a[t] = -a[t];
}

// c[t] = a[t] + 3 (s[t + p0 d] + s[t + p1 d] + s[t + p2 d]) for t in [lo, hi).
void convolve_range(const float* s, const float* a, int64_t d, const int64_t* p, int64_t lo, int64_t hi, float* c) {
  const float* s0 = s + p[0] * d;
  const float* s1 = s + p[1] * d;
  const float* s2 = s + p[2] * d;
  for (int64_t t = lo; t < hi; ++t) c[t] = a[t] + 3.0f * ((s0[t] + s1[t]) + s2[t]);
}

// out[j] = (how many of v[0..n) exceed b[j]) / n, four biases per pass over v.
void ppv(const float* v, int64_t n, const float* b, int64_t f, float* out) {
  const float len = static_cast<float>(n);
  int64_t j = 0;
  for (; j + 4 <= f; j += 4) {
    const float b0 = b[j], b1 = b[j + 1], b2 = b[j + 2], b3 = b[j + 3];
    int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    for (int64_t t = 0; t < n; ++t) {
      const float x = v[t];
      c0 += x > b0;
      c1 += x > b1;
      c2 += x > b2;
      c3 += x > b3;
    }
    out[j] = static_cast<float>(c0) / len;
    out[j + 1] = static_cast<float>(c1) / len;
    out[j + 2] = static_cast<float>(c2) / len;
    out[j + 3] = static_cast<float>(c3) / len;
  }
  for (; j < f; ++j) {
    const float bj = b[j];
    int32_t c = 0;
    for (int64_t t = 0; t < n; ++t) c += v[t] > bj;
    out[j] = static_cast<float>(c) / len;
  }
}

bool same_mask(const float* a, const float* b, int64_t C) {
  for (int64_t c = 0; c < C; ++c)
    if ((a[c] == 0.0f) != (b[c] == 0.0f)) return false;
  return true;
}

struct Plan {
  const int64_t *dilation, *count, *start, *taps;
  const float *mask, *biases;
  int64_t D, C, L;
};

// Every feature of one series of n real steps into out (F values).
void series_features(const Plan& P, const float* x, int64_t n, float* out, std::vector<float>& buf) {
  for (int64_t i = 0; i < P.D; ++i) {
    const int64_t d = P.dilation[i], f = P.count[i], pad = 4 * d;
    buf.resize(3 * n + 2 * pad);
    float* s = buf.data();
    float* a = s + n + 2 * pad;
    float* c = a + n;
    const float* mask = P.mask + i * KERNELS * P.C;
    const bool fits = n > 8 * d;
    for (int64_t r = 0; r < KERNELS; ++r) {
      if (r == 0 || !same_mask(mask + r * P.C, mask + (r - 1) * P.C, P.C)) {
        channel_sum(x, P.C, P.L, n, mask + r * P.C, pad, s);
        minus_taps(s, n, d, a);
      }
      const int64_t lo = (r >= HALF && fits) ? pad : 0;
      const int64_t hi = (r >= HALF && fits) ? n - pad : n;
      convolve_range(s, a, d, P.taps + (i * KERNELS + r) * 3, lo, hi, c);
      const int64_t at = P.start[i] + r * f;
      ppv(c + lo, hi - lo, P.biases + at, f, out + at);
    }
  }
}

torch::Tensor features(torch::Tensor x, torch::Tensor lengths, torch::Tensor dilation, torch::Tensor count,
                       torch::Tensor start, torch::Tensor taps, torch::Tensor mask, torch::Tensor biases) {
  TORCH_CHECK(x.dim() == 3 && x.scalar_type() == torch::kFloat32, "x: (B, C, L) float32");
  x = x.contiguous();
  lengths = lengths.to(torch::kInt64).contiguous();
  dilation = dilation.contiguous(), count = count.contiguous(), start = start.contiguous();
  taps = taps.contiguous(), mask = mask.contiguous(), biases = biases.contiguous();
  const int64_t B = x.size(0), C = x.size(1), L = x.size(2);
  TORCH_CHECK(mask.size(2) == C && taps.size(1) == KERNELS, "mask (D, 84, C), taps (D, 84, 3)");
  auto out = torch::empty({B, biases.size(0)}, x.options());
  const Plan P{dilation.data_ptr<int64_t>(), count.data_ptr<int64_t>(), start.data_ptr<int64_t>(),
               taps.data_ptr<int64_t>(), mask.data_ptr<float>(), biases.data_ptr<float>(), dilation.size(0), C, L};
  const float* xs = x.data_ptr<float>();
  const int64_t* ns = lengths.data_ptr<int64_t>();
  float* os = out.data_ptr<float>();
  const int64_t F = biases.size(0);
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> buf;
    for (int64_t b = begin; b < end; ++b) {
      const int64_t n = std::min(std::max(ns[b], int64_t(1)), L);
      series_features(P, xs + b * C * L, n, os + b * F, buf);
    }
  });
  return out;
}

// Biases: row r's kernel (taps[r], channels mask[r]) at dilation d over series x[r] of lengths[r] steps,
// zero-padded, and the quantiles q[r] (R, f) of its outputs, interpolated linearly between order statistics
// (numpy's default): (R, f) float64. The order statistics are found by std::nth_element, lowest first, each on
// what lies above the previous one, instead of sorting every output.
torch::Tensor conv_quantiles(torch::Tensor x, torch::Tensor lengths, int64_t d, torch::Tensor taps,
                             torch::Tensor mask, torch::Tensor q) {
  TORCH_CHECK(x.dim() == 3 && x.scalar_type() == torch::kFloat32, "x: (R, C, L) float32");
  TORCH_CHECK(q.dim() == 2 && q.scalar_type() == torch::kFloat64 && q.size(0) == x.size(0), "q: (R, f) float64");
  x = x.contiguous();
  lengths = lengths.to(torch::kInt64).contiguous();
  taps = taps.contiguous(), mask = mask.contiguous(), q = q.contiguous();
  const int64_t R = x.size(0), C = x.size(1), L = x.size(2), f = q.size(1), pad = 4 * d;
  auto out = torch::empty({R, f}, q.options());
  const float* xs = x.data_ptr<float>();
  const int64_t* ns = lengths.data_ptr<int64_t>();
  const float* ms = mask.data_ptr<float>();
  const int64_t* ts = taps.data_ptr<int64_t>();
  const double* qs = q.data_ptr<double>();
  double* os = out.data_ptr<double>();
  at::parallel_for(0, R, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> buf;
    std::vector<int64_t> ranks;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = std::min(std::max(ns[r], int64_t(1)), L);
      buf.resize(3 * n + 2 * pad);
      float* s = buf.data();
      float* a = s + n + 2 * pad;
      float* c = a + n;
      channel_sum(xs + r * C * L, C, L, n, ms + r * C, pad, s);
      minus_taps(s, n, d, a);
      convolve_range(s, a, d, ts + r * 3, 0, n, c);
      ranks.clear();
      for (int64_t j = 0; j < f; ++j) {
        const int64_t low = static_cast<int64_t>(std::floor(qs[r * f + j] * static_cast<double>(n - 1)));
        ranks.push_back(low);
        ranks.push_back(std::min(low + 1, n - 1));
      }
      std::sort(ranks.begin(), ranks.end());
      int64_t from = 0;
      for (int64_t k : ranks) {
        if (k < from) continue;  // already in place (a repeated rank)
        std::nth_element(c + from, c + k, c + n);
        from = k + 1;
      }
      for (int64_t j = 0; j < f; ++j) {
        const double pos = qs[r * f + j] * static_cast<double>(n - 1);
        const int64_t low = static_cast<int64_t>(std::floor(pos));
        const double lo = c[low], hi = c[std::min(low + 1, n - 1)];
        os[r * f + j] = lo + (pos - static_cast<double>(low)) * (hi - lo);
      }
    }
  });
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("features", &features, "MiniRocket's PPV features of float32 CPU series, convolution and count fused");
  m.def("conv_quantiles", &conv_quantiles, "quantiles of one MiniRocket kernel's output per row, for its biases");
}
