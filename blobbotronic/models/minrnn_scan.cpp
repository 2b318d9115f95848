// minGRU's and minLSTM's scan on the CPU: gate activations and the recurrence fused, forward and backward.
//
// Both cells are h_t = (1 - z_t) h_{t-1} + z_t v_t from h_0 = 0, with z_t and v_t element-wise functions of the
// layer's input projection (blobbotronic/models/minrnn.py). Written with PyTorch's operators, a layer makes about
// twenty passes over (L, B, H) tensors forward and back (sigmoid, the candidate's g, the loop, the gradient's
// accumulation, its products, their backward), and at 1,000 steps these tensors are 25 MB each: the passes over
// memory, not the arithmetic, were the layer's cost. Here the forward reads each step's projection once and writes
// the state; the backward reads the state's gradient, the projection and the previous state once and writes the
// projection's gradient, recomputing the gates on the way (a few exponentials per value, cheaper than a pass).
//
// The pre-activations of a step come from p (L, B, G*H), the projection computed before (by one matrix product,
// without its bias), or, for a layer of at most a few inputs, from x (L, B, C) projected here row by row (then
// neither the projection nor its gradient is ever written). Gates in the projection's order:
//   G = 2, minGRU:  k, c           z = sigmoid(k)                           v = g(c)
//   G = 3, minLSTM: kf, ki, c      z = i / (f + i), f, i = sigmoid(kf, ki)  v = g(c)
// with g(c) = c + 0.5 for c >= 0, sigmoid(c) below -> states h (L, B, H). The batch is cut into one chunk per
// thread, each over the whole sequence (rows never meet in the recurrence, so no barrier per step); the bias's and
// weight's gradients are summed per chunk, then over chunks in chunk order.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace {

// exp for float in a form the compiler vectorises (the recurrent kernels' vexp, rnn_scan.cpp: Cephes' expf
// polynomial, relative error under 2e-7 in sigmoid). Doubles (gradcheck) use std::exp.
inline float vexp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float t = x * 1.44269504088896341f;
  const int32_t k = static_cast<int32_t>(t + (t >= 0.0f ? 0.5f : -0.5f));
  const float kf = static_cast<float>(k);
  const float r = x - kf * 0.693359375f + kf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
inline double vexp(double x) { return std::exp(x); }

template <typename T>
inline T sigm(T x) { return T(1) / (T(1) + vexp(-x)); }

// e^-x for a sigmoid's denominator 1 + e^-x, its argument capped at 40 so that a product of three denominators
// stays finite in float: a sigmoid under e^-40 (4e-18) is taken as e^-40, far below what float arithmetic resolves.
template <typename T>
inline T em(T x) { return vexp(std::min(-x, T(40))); }

// Unit j's gates from one step's pre-activations p (G*H values), every sigmoid from one division (the divisions
// took a quarter of the kernel's time). With A = 1 + ea, ea = e^-k (minLSTM: e^-kf), B = 1 + eb, eb = e^-ki, and
// C = 1 + e^-min(c, 0): minGRU z = 1 / A, minLSTM z = i / (f + i) = A / (A + B) = A u; the candidate
// v = g(c) = max(c, 0) + s with s = sigmoid(min(c, 0)) = 1 / C (c + 0.5 for c >= 0, sigmoid(c) below); and
// y = 1 - z, formed without cancelling (minGRU ea / A, minLSTM B u).
template <typename T, int G>
inline void unit(const T* __restrict p, int64_t H, int64_t j, T& z, T& y, T& v, T& s, T& ecc, T& ea, T& eb, T& u) {
  const T c = p[(G - 1) * H + j];
  ea = em(p[j]);
  ecc = em(std::min(c, T(0)));
  const T a = T(1) + ea, cc = T(1) + ecc;
  if (G == 2) {
    const T r = T(1) / (a * cc);
    z = cc * r;
    y = ea * z;
    s = a * r;
    eb = u = T(0);
  } else {
    eb = em(p[H + j]);
    const T b = T(1) + eb, r = T(1) / ((a + b) * cc);
    u = cc * r;
    z = a * u;
    y = b * u;
    s = (a + b) * r;
  }
  v = std::max(c, T(0)) + s;
}

// One row of the forward: h = prev + z (v - prev). The loops carry `omp simd` (compiled with -fopenmp), which
// vectorises them through the exponential's selects.
template <typename T, int G>
inline void forward_row(const T* __restrict p, const T* __restrict prev, T* __restrict out, int64_t H) {
  _Pragma("omp simd")
  for (int64_t j = 0; j < H; ++j) {
    T z, y, v, s, ecc, ea, eb, u;
    unit<T, G>(p, H, j, z, y, v, s, ecc, ea, eb, u);
    out[j] = prev[j] + z * (v - prev[j]);
  }
}

// Where a step's pre-activations come from: a precomputed projection P (L, B, G*H) without its bias, or, for
// inputs of at most a few channels (a layer reading the raw series), the inputs x (L, B, C) projected row by row
// here, so that neither P nor its gradient ever reaches memory (at 1,000 steps each is 51 MB for a minGRU layer).
template <typename T>
struct Source {
  const T* in;    // P or x
  const T* wt;    // nullptr (P given) or the weight transposed, (C, G*H)
  const T* bias;  // (G*H)
  int64_t C, GH, B;
  const T* at(int64_t t, int64_t b) const { return in + (t * B + b) * (wt ? C : GH); }
  // The pre-activations of row b at step t into buf (G*H values).
  void row(int64_t t, int64_t b, T* __restrict buf) const {
    const T* __restrict src = at(t, b);
    const T* __restrict bi = bias;
    if (!wt) {
      _Pragma("omp simd")
      for (int64_t k = 0; k < GH; ++k) buf[k] = src[k] + bi[k];
      return;
    }
    _Pragma("omp simd")
    for (int64_t k = 0; k < GH; ++k) buf[k] = bi[k];
    for (int64_t c = 0; c < C; ++c) {
      const T xc = src[c];
      const T* __restrict w = wt + c * GH;
      _Pragma("omp simd")
      for (int64_t k = 0; k < GH; ++k) buf[k] += w[k] * xc;
    }
  }
};

// Rows [b0, b1) of the forward, time outermost (each step reads one contiguous block of the chunk's rows).
template <typename T, int G>
void forward_rows(const Source<T>& src, T* h, int64_t L, int64_t H, int64_t b0, int64_t b1) {
  const int64_t B = src.B;
  std::vector<T> zero(H, T(0)), buf(G * H);
  for (int64_t t = 0; t < L; ++t) {
    for (int64_t b = b0; b < b1; ++b) {
      src.row(t, b, buf.data());
      forward_row<T, G>(buf.data(), t ? h + ((t - 1) * B + b) * H : zero.data(), h + (t * B + b) * H, H);
    }
  }
}

// One row of the backward at step t: g = dh_t + keep * acc (the loss's gradient through h_t, acc and keep from
// step t + 1), then dz = g (v - h_{t-1}) and dv = g z, through the gates to the projection's gradient out.
// A g under 2^32 times the smallest normal float is set to zero (as LerpScan's backward does, minrnn.py): a
// gradient read at the last step decays by (1 - z) a step, and its subnormal products run tens of times slower.
template <typename T, int G>
inline void backward_row(const T* __restrict d, const T* __restrict p, const T* __restrict prev, T* __restrict acc,
                         T* __restrict keep, T* __restrict out, int64_t H) {
  const T tiny = std::numeric_limits<T>::min() * T(4294967296.0);
  _Pragma("omp simd")
  for (int64_t j = 0; j < H; ++j) {
    T z, y, v, s, ecc, ea, eb, u;
    unit<T, G>(p, H, j, z, y, v, s, ecc, ea, eb, u);
    const T c = p[(G - 1) * H + j];
    T g = d[j] + keep[j] * acc[j];
    g = (g < tiny && g > -tiny) ? T(0) : g;
    acc[j] = g;
    keep[j] = y;
    const T dz = g * (v - prev[j]);
    out[(G - 1) * H + j] = g * z * (c >= T(0) ? T(1) : ecc * s * s);  // g'(c): 1, or s (1 - s) = e^-c s^2
    if (G == 2) {
      out[j] = dz * z * y;  // sigmoid'(k) = z (1 - z)
    } else {  // dz/dkf = -B ea u^2 = -z (1 - z) (1 - f), dz/dki = A eb u^2 = z (1 - z) (1 - i)
      const T du = dz * u * u;
      out[j] = -du * (T(1) + eb) * ea;
      out[H + j] = du * (T(1) + ea) * eb;
    }
  }
}

// The gradients of one chunk's rows: the projection's (into dp when P was given), the bias's and, when x was
// projected here, the weight's and x's. The bias's and weight's are summed over the chunk's rows in T a step at a
// time, then into doubles (a float sum over 50,000 rows would lose digits).
template <typename T>
struct Grads {
  T *dp, *dx;              // (L, B, G*H) when P was given; (L, B, C) or nullptr when x was projected
  double *db, *dwt;        // this chunk's sums: (G*H) and (C, G*H)
  const T* dh;             // the states' gradient, rows of H contiguous
  int64_t dh_t, dh_b;      // its strides over steps and rows
};

// Rows [b0, b1) of the backward, time reversed.
template <typename T, int G>
void backward_rows(const Source<T>& src, const T* h, const Grads<T>& out, int64_t L, int64_t H, int64_t b0,
                   int64_t b1) {
  const int64_t B = src.B, GH = G * H, C = src.C, n = (b1 - b0) * H;
  const int64_t nw = src.wt ? C * GH : 0;
  std::vector<T> acc(n, T(0)), keep(n, T(0)), zero(H, T(0)), buf(GH), dbuf(GH), db_t(GH), dw_t(nw);
  for (int64_t t = L - 1; t >= 0; --t) {
    std::fill(db_t.begin(), db_t.end(), T(0));
    std::fill(dw_t.begin(), dw_t.end(), T(0));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r = t * B + b;
      src.row(t, b, buf.data());
      T* __restrict dp = src.wt ? dbuf.data() : out.dp + r * GH;
      backward_row<T, G>(out.dh + t * out.dh_t + b * out.dh_b, buf.data(), t ? h + (r - B) * H : zero.data(),
                         acc.data() + (b - b0) * H, keep.data() + (b - b0) * H, dp, H);
      T* __restrict dbt = db_t.data();
      _Pragma("omp simd")
      for (int64_t k = 0; k < GH; ++k) dbt[k] += dp[k];
      if (!src.wt) continue;
      const T* __restrict x = src.at(t, b);
      for (int64_t c = 0; c < C; ++c) {
        T* __restrict dw = dw_t.data() + c * GH;
        const T* __restrict w = src.wt + c * GH;
        const T xc = x[c];
        T dot = T(0);
        _Pragma("omp simd reduction(+ : dot)")
        for (int64_t k = 0; k < GH; ++k) {
          dw[k] += dp[k] * xc;
          dot += dp[k] * w[k];
        }
        if (out.dx) out.dx[r * C + c] = dot;
      }
    }
    for (int64_t k = 0; k < GH; ++k) out.db[k] += db_t[k];
    for (int64_t k = 0; k < nw; ++k) out.dwt[k] += dw_t[k];
  }
}

// One chunk of at least 8 rows per thread: fn(chunk, b0, b1).
template <typename F>
void each_chunk(int64_t chunks, int64_t B, const F& fn) {
  at::parallel_for(0, chunks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) fn(c, c * B / chunks, (c + 1) * B / chunks);
  });
}

int64_t chunk_count(int64_t B) { return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), B / 8)); }

// in: P (L, B, G*H) when w is empty, else x (L, B, C) with w (G*H, C); bias (G*H). Returns (L, B, H, G*H).
std::vector<int64_t> check(const at::Tensor& in, const at::Tensor& w, const at::Tensor& bias, int64_t gates) {
  TORCH_CHECK(gates == 2 || gates == 3, "minrnn scan: gates must be 2 (minGRU) or 3 (minLSTM)");
  TORCH_CHECK(in.dim() == 3 && in.device().is_cpu() && in.is_contiguous(), "minrnn scan: a contiguous (L, B, .) input");
  const int64_t GH = bias.numel();
  TORCH_CHECK(GH % gates == 0 && bias.is_contiguous(), "minrnn scan: bias must have gates * H values");
  if (w.numel()) {
    TORCH_CHECK(w.dim() == 2 && w.size(0) == GH && w.size(1) == in.size(2), "minrnn scan: w must be (G*H, C)");
  } else {
    TORCH_CHECK(in.size(2) == GH, "minrnn scan: P must be (L, B, gates * H)");
  }
  return {in.size(0), in.size(1), GH / gates, GH};
}

template <typename T>
Source<T> source(const at::Tensor& in, const at::Tensor& wt, const at::Tensor& bias) {
  return {in.data_ptr<T>(), wt.numel() ? wt.data_ptr<T>() : nullptr, bias.data_ptr<T>(), in.size(2),
          bias.numel(), in.size(1)};
}

at::Tensor scan_forward(at::Tensor in, at::Tensor w, at::Tensor bias, int64_t gates) {
  const auto s = check(in, w, bias, gates);
  const int64_t L = s[0], B = s[1], H = s[2];
  auto h = at::empty({L, B, H}, in.options());
  const auto wt = w.numel() ? w.t().contiguous() : w;
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "minrnn_scan_forward", [&] {
    const auto src = source<scalar_t>(in, wt, bias);
    scalar_t* hp = h.data_ptr<scalar_t>();
    each_chunk(chunk_count(B), B, [&](int64_t, int64_t b0, int64_t b1) {
      if (gates == 2) forward_rows<scalar_t, 2>(src, hp, L, H, b0, b1);
      else forward_rows<scalar_t, 3>(src, hp, L, H, b0, b1);
    });
  });
  return h;
}

// -> [the gradient of in (P's, or x's: undefined unless input_grad), w's (undefined when P was given), bias's].
std::vector<at::Tensor> scan_backward(at::Tensor dh, at::Tensor in, at::Tensor w, at::Tensor bias, at::Tensor h,
                                      int64_t gates, bool input_grad) {
  const auto s = check(in, w, bias, gates);
  const int64_t L = s[0], B = s[1], H = s[2], GH = s[3], C = in.size(2);
  if (dh.stride(2) != 1) dh = dh.contiguous();
  TORCH_CHECK(dh.sizes() == h.sizes() && h.size(2) == H && h.is_contiguous(), "minrnn scan: dh and h (L, B, H)");
  const bool project = w.numel() > 0;
  const auto wt = project ? w.t().contiguous() : w;
  at::Tensor d_in = project ? (input_grad ? at::empty_like(in) : at::Tensor()) : at::empty_like(in);
  const int64_t chunks = chunk_count(B), nw = project ? C * GH : 0;
  auto sums = at::zeros({chunks, GH + nw}, in.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "minrnn_scan_backward", [&] {
    const auto src = source<scalar_t>(in, wt, bias);
    each_chunk(chunks, B, [&](int64_t c, int64_t b0, int64_t b1) {
      double* mine = sums.data_ptr<double>() + c * (GH + nw);
      const Grads<scalar_t> out{project ? nullptr : d_in.data_ptr<scalar_t>(),
                                project && input_grad ? d_in.data_ptr<scalar_t>() : nullptr, mine, mine + GH,
                                dh.data_ptr<scalar_t>(), dh.stride(0), dh.stride(1)};
      if (gates == 2) backward_rows<scalar_t, 2>(src, h.data_ptr<scalar_t>(), out, L, H, b0, b1);
      else backward_rows<scalar_t, 3>(src, h.data_ptr<scalar_t>(), out, L, H, b0, b1);
    });
  });
  auto total = sums.sum(0).to(in.scalar_type());  // the chunks' sums, in chunk order
  auto db = total.narrow(0, 0, GH).contiguous();
  auto dw = project ? total.narrow(0, GH, nw).view({C, GH}).t().contiguous() : at::Tensor();
  return {d_in, dw, db};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("scan_forward", &scan_forward, "minGRU/minLSTM states from the projection (L, B, G*H) or the inputs (L, B, C)");
  m.def("scan_backward", &scan_backward, "the gradients of the projection or inputs, weight and bias");
}
