// The GRU recurrence on the CPU: forward and hand-written backward, one C++ loop over time.
//
// Python-level loops spend most of a small recurrent model's step in per-operation overhead and in
// strided element-wise kernels on gate slices (shared/PERF.md). Here each time step is one batched matrix
// product (ATen, so MKL/oneDNN) plus one fused element-wise pass over contiguous rows, compiled with
// the vector units enabled. Shapes follow blobbotronic/models/rnn.py's GRUScan:
//   gi (L, D, B, 3H) input projections (input bias included), w_hh (D, 3H, H), b_hh (D, 3H),
//   gates r, z, n as in nn.GRU.
#include <torch/extension.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// exp for float in a form the compiler vectorises (libm's scalar expf/tanhf are not, and cost more than the
// matrix products at these sizes): exp(x) = 2^k exp(r) with r = x - k ln2, exp(r) by a degree-6 polynomial
// (the classic Cephes expf coefficients), relative error under 2e-7 for sigmoid and tanh (checked against double). Doubles (gradcheck) use std::exp.
inline float vexp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // ternaries, not fmin/floor: those block vectorising
  const float t = x * 1.44269504088896341f;
  const int32_t k = static_cast<int32_t>(t + (t >= 0.0f ? 0.5f : -0.5f));  // round to nearest
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
  std::memcpy(&scale, &bits, sizeof scale);  // 2^k
  return p * scale;
}
inline double vexp(double x) { return std::exp(x); }

template <typename T>
inline T sigm(T x) { return T(1) / (T(1) + vexp(-x)); }
template <typename T>
inline T vtanh(T x) { return T(1) - T(2) / (vexp(T(2) * x) + T(1)); }

// The recurrent weights' gradient over all steps at once: sum_t dgates_t^T h_{t-1}, (D, G, H). h_{-1} is zero,
// so step 0 adds nothing and the sum runs over steps 1..L-1. One direction: a single product of
// ((L-1)*B, G)^T and ((L-1)*B, H) views, no copies; several: one batched product per direction.
at::Tensor weight_grad(const at::Tensor& dgates, const at::Tensor& outs) {
  const int64_t L = outs.size(0), D = outs.size(1), B = outs.size(2), H = outs.size(3), G = dgates.size(3);
  if (L < 2) return at::zeros({D, G, H}, outs.options());
  auto dg = dgates.slice(0, 1, L), hp = outs.slice(0, 0, L - 1);
  if (D == 1) {
    return at::mm(dg.view({(L - 1) * B, G}).t(), hp.view({(L - 1) * B, H})).unsqueeze(0);
  }
  return at::bmm(dg.permute({1, 3, 0, 2}).reshape({D, G, (L - 1) * B}),
                 hp.permute({1, 0, 2, 3}).reshape({D, (L - 1) * B, H}));
}

// out = a @ b for (D, M, K) x (D, K, N): a plain matrix product when D is 1 (less overhead than bmm).
void batched_mm_out(at::Tensor& out, const at::Tensor& a, const at::Tensor& b) {
  if (a.size(0) == 1) {
    auto o = out.select(0, 0);
    at::mm_out(o, a.select(0, 0), b.select(0, 0));
  } else {
    at::bmm_out(out, a, b);
  }
}

// gi may be any (L, D, B, 3H) view whose last dimension is contiguous: FastGRU passes its input projection in
// the (D, B, L, 3H) order the projection's matrix product writes, so no transposing copy is made.
std::vector<at::Tensor> gru_forward(at::Tensor gi, at::Tensor w_hh, at::Tensor b_hh) {
  if (gi.stride(3) != 1) gi = gi.contiguous();
  b_hh = b_hh.contiguous();
  const int64_t L = gi.size(0), D = gi.size(1), B = gi.size(2), G = gi.size(3), H = G / 3;
  const int64_t sL = gi.stride(0), sD = gi.stride(1), sB = gi.stride(2);
  auto outs = at::empty({L, D, B, H}, gi.options());
  auto rzs = at::empty({L, D, B, 2 * H}, gi.options());
  auto ns = at::empty({L, D, B, H}, gi.options());
  auto ghn = at::empty({L, D, B, H}, gi.options());
  auto gh = at::empty({D, B, G}, gi.options());
  auto wt = w_hh.transpose(1, 2);
  at::Tensor h = at::zeros({D, B, H}, gi.options());
  const int64_t rows = D * B;
  for (int64_t t = 0; t < L; ++t) {
    batched_mm_out(gh, h, wt);  // the recurrent bias is added below, in the same pass as the gates
    AT_DISPATCH_FLOATING_TYPES(gi.scalar_type(), "gru_forward", [&] {
      const scalar_t* gt = gi.data_ptr<scalar_t>() + t * sL;
      const scalar_t* bh0 = b_hh.data_ptr<scalar_t>();
      const scalar_t* a0 = gh.data_ptr<scalar_t>();
      const scalar_t* hp0 = h.data_ptr<scalar_t>();
      scalar_t* rz0 = rzs.data_ptr<scalar_t>() + t * rows * 2 * H;
      scalar_t* n0 = ns.data_ptr<scalar_t>() + t * rows * H;
      scalar_t* gn0 = ghn.data_ptr<scalar_t>() + t * rows * H;
      scalar_t* o0 = outs.data_ptr<scalar_t>() + t * rows * H;
      for (int64_t row = 0; row < rows; ++row) {
        const int64_t d = row / B, b = row % B;
        const scalar_t *g = gt + d * sD + b * sB, *a = a0 + row * G, *hp = hp0 + row * H, *bh = bh0 + d * G;
        scalar_t *rz = rz0 + row * 2 * H, *n = n0 + row * H, *gn = gn0 + row * H, *o = o0 + row * H;
        _Pragma("omp simd")
        for (int64_t j = 0; j < H; ++j) {
          const scalar_t r = sigm(g[j] + a[j] + bh[j]);
          const scalar_t z = sigm(g[H + j] + a[H + j] + bh[H + j]);
          const scalar_t ghn_j = a[2 * H + j] + bh[2 * H + j];
          const scalar_t nn = vtanh(g[2 * H + j] + r * ghn_j);
          rz[j] = r;
          rz[H + j] = z;
          gn[j] = ghn_j;
          n[j] = nn;
          o[j] = nn + z * (hp[j] - nn);  // (1 - z) * n + z * h
        }
      }
    });
    h = outs[t];
  }
  return {outs, rzs, ns, ghn};
}

// dgi comes back in the layout of the forward's gi when that was the projection's (D, B, L, 3H) order (a
// permuted view), else contiguous; either way an (L, D, B, 3H) tensor.
std::vector<at::Tensor> gru_backward(at::Tensor dout, at::Tensor w_hh, at::Tensor outs, at::Tensor rzs,
                                     at::Tensor ns, at::Tensor ghn, bool projection_layout) {
  dout = dout.contiguous();
  const int64_t L = outs.size(0), D = outs.size(1), B = outs.size(2), H = outs.size(3), G = 3 * H;
  auto dgi = projection_layout ? at::empty({D, B, L, G}, dout.options()).permute({2, 0, 1, 3})
                               : at::empty({L, D, B, G}, dout.options());
  const int64_t sL = dgi.stride(0), sD = dgi.stride(1), sB = dgi.stride(2);
  auto dgh = at::empty({L, D, B, G}, dout.options());
  auto dhm = at::zeros({D, B, H}, dout.options());  // the gradient reaching h_t through W_hh (from step t+1)
  auto dhz = at::zeros({D, B, H}, dout.options());  // ... and directly, through z (from step t+1)
  auto zero = at::zeros({D, B, H}, dout.options());
  const int64_t rows = D * B;
  for (int64_t t = L - 1; t >= 0; --t) {
    at::Tensor hprev = t > 0 ? outs[t - 1] : zero;
    AT_DISPATCH_FLOATING_TYPES(dout.scalar_type(), "gru_backward", [&] {
      const scalar_t* do0 = dout.data_ptr<scalar_t>() + t * rows * H;
      const scalar_t* dh0 = dhm.data_ptr<scalar_t>();
      const scalar_t* hp0 = hprev.data_ptr<scalar_t>();
      const scalar_t* rz0 = rzs.data_ptr<scalar_t>() + t * rows * 2 * H;
      const scalar_t* n0 = ns.data_ptr<scalar_t>() + t * rows * H;
      const scalar_t* gn0 = ghn.data_ptr<scalar_t>() + t * rows * H;
      scalar_t* dgit = dgi.data_ptr<scalar_t>() + t * sL;
      scalar_t* dgh0 = dgh.data_ptr<scalar_t>() + t * rows * G;
      scalar_t* dhz0 = dhz.data_ptr<scalar_t>();
      for (int64_t row = 0; row < rows; ++row) {
        const scalar_t *dout_r = do0 + row * H, *dh_r = dh0 + row * H, *hp = hp0 + row * H;
        const scalar_t *rz = rz0 + row * 2 * H, *n = n0 + row * H, *gn = gn0 + row * H;
        scalar_t *dgi_r = dgit + (row / B) * sD + (row % B) * sB, *dgh_r = dgh0 + row * G, *dhz_r = dhz0 + row * H;
        _Pragma("omp simd")
        for (int64_t j = 0; j < H; ++j) {
          const scalar_t d = dh_r[j] + dhz_r[j] + dout_r[j];
          const scalar_t r = rz[j], z = rz[H + j], nn = n[j];
          const scalar_t dn = d * (scalar_t(1) - z) * (scalar_t(1) - nn * nn);  // through tanh
          const scalar_t dr = dn * gn[j] * r * (scalar_t(1) - r);               // through sigmoid
          const scalar_t dz = d * (hp[j] - nn) * z * (scalar_t(1) - z);
          dgi_r[j] = dr;
          dgi_r[H + j] = dz;
          dgi_r[2 * H + j] = dn;
          dgh_r[j] = dr;
          dgh_r[H + j] = dz;
          dgh_r[2 * H + j] = dn * r;
          dhz_r[j] = d * z;
        }
      }
    });
    auto dght = dgh.select(0, t);
    batched_mm_out(dhm, dght, w_hh);  // to h_{t-1} through W_hh; the direct part (dhz) is added in the next pass
  }
  return {dgi, weight_grad(dgh, outs), dgh.sum({0, 2})};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gru_forward", &gru_forward, "GRU recurrence, forward");
  m.def("gru_backward", &gru_backward, "GRU recurrence, backward");
}
