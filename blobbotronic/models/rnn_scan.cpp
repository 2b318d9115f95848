// The GRU, LSTM and vanilla RNN recurrences on the CPU: forward and hand-written backward, one C++ loop over time.
//
// Python-level loops spend most of a small recurrent model's step in per-operation overhead and in
// strided element-wise kernels on gate slices (shared/PERF.md). Here each time step is one batched matrix
// product (a packed AVX2 kernel for float, else ATen's) plus one fused element-wise pass over contiguous rows,
// compiled with the vector units enabled. Shapes follow blobbotronic/models/rnn.py's GRUScan:
//   gi (L, D, B, 3H) input projections (input bias included), w_hh (D, 3H, H), b_hh (D, 3H),
//   gates r, z, n as in nn.GRU; the LSTM's the same with 4H (gates i, f, g, o as in nn.LSTM).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#if defined(__AVX2__) && defined(__FMA__) && !defined(BLOBBOTRONIC_NO_AVX2)
#include <immintrin.h>
#endif
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
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

#if defined(__AVX2__) && defined(__FMA__) && !defined(BLOBBOTRONIC_NO_AVX2)
// The LSTM forward row for float with AVX2 intrinsics: the same exponential as vexp, eight lanes at a time, and
// reciprocals by vrcpps plus one Newton step instead of divisions (results within 6e-7 of the generic pass), which
// the compiler will not do without unsafe-math flags. The forward pass, one thread, best of 15 x 20 calls: MNIST-1D
// (L 40, B 100, H 64) 4.1-4.3 -> 3.2-3.9 ms, text (L 150, B 64, H 64, C 64) 14.2-16.1 -> 12.5-12.9 ms
// (BLOBBOTRONIC_NO_AVX2 builds the generic pass, for that comparison).
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 kf = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fmadd_ps(kf, _mm256_set1_ps(2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i k = _mm256_cvtps_epi32(kf);
  const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(p, scale);
}
inline __m256 recip8(__m256 d) {
  const __m256 r = _mm256_rcp_ps(d);
  return _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0f)));
}
inline __m256 sigm8(__m256 x) {
  return recip8(_mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}
inline __m256 tanh8(__m256 x) {
  const __m256 e = exp8(_mm256_add_ps(x, x));
  return _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), recip8(_mm256_add_ps(e, _mm256_set1_ps(1.0f))), _mm256_set1_ps(1.0f));
}
// The recurrences' per-step products for float, C (M x N) = A (M x K) B, on a register-blocked AVX2 kernel instead
// of at::mm_out: B (a recurrent weight, the same at every step) is packed once per call into panels of 16 columns,
// and each 6-row by 16-column block of C is summed in twelve registers over k. ATen's call costs a dispatch, checks and
// MKL's own packing of B at every one of a sequence's steps. Each element of C is summed over k in the same order
// whatever the block it falls in, so the batch's split across threads changes no number. MNIST-1D LSTM (L 40,
// B 100, H 64), best of 3 interleaved runs of 7 x 20 calls, at::mm_out -> packed: two threads forward 1.96 -> 1.62 ms,
// backward 2.70 -> 2.51 ms; one thread 3.27 -> 2.88 and 5.21 -> 4.36 ms.
// packed[(p * K + k) * 16 + j] = B(k, 16 p + j), B(k, n) at b[k * sk + n * sn]; N a multiple of 16.
void pack16(const float* b, int64_t K, int64_t N, int64_t sk, int64_t sn, float* packed) {
  for (int64_t p = 0; p < N / 16; ++p)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < 16; ++j) packed[(p * K + k) * 16 + j] = b[k * sk + (16 * p + j) * sn];
}

// One MR x 16 block of C (rows ldc apart) from MR rows of A, A(r, k) at a[r * ar + k * ak], and 16 columns of B,
// B(k, j) at b[k * bk + j]: C = A B, or C += A B where add. Summed over k in twelve registers.
template <int MR, bool add>
inline void gemm_block(const float* __restrict a, int64_t ar, int64_t ak, const float* __restrict b, int64_t bk,
                       int64_t K, float* __restrict c, int64_t ldc) {
  __m256 acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = add ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
    acc[r][1] = add ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b + k * bk), b1 = _mm256_loadu_ps(b + k * bk + 8);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * ar + k * ak);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_ps(c + r * ldc, acc[r][0]);
    _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
  }
}

// Every block of C (M x N, N a multiple of 16), panel by panel: B's 16 columns of panel p start at b + p * bp and
// stay in L1 while the rows of A pass, six at a time and then the rest.
template <bool add>
void gemm_blocks(const float* a, int64_t ar, int64_t ak, const float* b, int64_t bp, int64_t bk, int64_t M, int64_t K,
                 int64_t N, float* c, int64_t ldc) {
  for (int64_t p = 0; p < N / 16; ++p) {
    const float* panel = b + p * bp;
    float* cp = c + 16 * p;
    int64_t r = 0;
    for (; r + 6 <= M; r += 6) gemm_block<6, add>(a + r * ar, ar, ak, panel, bk, K, cp + r * ldc, ldc);
    switch (M - r) {
      case 5: gemm_block<5, add>(a + r * ar, ar, ak, panel, bk, K, cp + r * ldc, ldc); break;
      case 4: gemm_block<4, add>(a + r * ar, ar, ak, panel, bk, K, cp + r * ldc, ldc); break;
      case 3: gemm_block<3, add>(a + r * ar, ar, ak, panel, bk, K, cp + r * ldc, ldc); break;
      case 2: gemm_block<2, add>(a + r * ar, ar, ak, panel, bk, K, cp + r * ldc, ldc); break;
      case 1: gemm_block<1, add>(a + r * ar, ar, ak, panel, bk, K, cp + r * ldc, ldc); break;
      default: break;
    }
  }
}

// C = A B (A row-major, lda apart) with B packed by pack16.
void gemm_packed(const float* a, int64_t lda, const float* packed, int64_t M, int64_t K, int64_t N, float* c,
                 int64_t ldc) {
  gemm_blocks<false>(a, lda, 1, packed, K * 16, 16, M, K, N, c, ldc);
}

// C (M x N) += A^T B for A (K x M) and B (K x N), both row-major with row strides lda and ldb: the LSTM's recurrent
// weight gradient, dW (G x H) += dg_t^T h_{t-1}, summed step by step inside the backward recurrence while a chunk's
// rows are still in cache, instead of one product over every step afterwards. N a multiple of 16.
void outer_accumulate(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t K, int64_t M, int64_t N,
                      float* c, int64_t ldc) {
  gemm_blocks<true>(a, 1, lda, b, 16, ldb, M, K, N, c, ldc);
}

#define BLOBBOTRONIC_AVX2 1
#endif

// Each direction's recurrent weight w_hh (D, G, H) packed for the step products, as W^T (the forward's h W^T: K = H,
// N = G) or as W (the backward's dgates W: K = G, N = H). Empty where the packed kernel does not apply (double,
// no AVX2, N not a multiple of 16): the steps then call at::mm_out.
std::vector<float> pack_recurrent(const at::Tensor& w_hh, bool transposed) {
  std::vector<float> out;
#ifdef BLOBBOTRONIC_AVX2
  if (w_hh.scalar_type() != at::kFloat) return out;
  const int64_t D = w_hh.size(0), G = w_hh.size(1), H = w_hh.size(2);
  const int64_t K = transposed ? H : G, N = transposed ? G : H;
  if (N % 16 != 0) return out;
  out.resize(D * K * N);
  const float* w = w_hh.data_ptr<float>();
  for (int64_t d = 0; d < D; ++d) pack16(w + d * G * H, K, N, transposed ? 1 : H, transposed ? H : 1, out.data() + d * K * N);
#endif
  return out;
}

// C = A B on the packed kernel; false (nothing done) where there is none for T or B was not packed.
template <typename T>
bool packed_product(const T*, int64_t, const float*, int64_t, int64_t, int64_t, T*, int64_t) {
  return false;
}
#ifdef BLOBBOTRONIC_AVX2
template <>
bool packed_product<float>(const float* a, int64_t lda, const float* packed, int64_t M, int64_t K, int64_t N, float* c,
                           int64_t ldc) {
  if (packed == nullptr) return false;
  gemm_packed(a, lda, packed, M, K, N, c, ldc);
  return true;
}
#endif

// Whether outer_product<T> applies: float with AVX2 and N a multiple of 16.
inline bool has_outer(at::ScalarType type, int64_t N) {
#ifdef BLOBBOTRONIC_AVX2
  return type == at::kFloat && N % 16 == 0;
#else
  return false;
#endif
}

// C += A^T B on the AVX2 kernel (only called where has_outer said yes).
template <typename T>
void outer_product(const T*, int64_t, const T*, int64_t, int64_t, int64_t, int64_t, T*, int64_t) {}
#ifdef BLOBBOTRONIC_AVX2
template <>
void outer_product<float>(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t K, int64_t M, int64_t N,
                          float* c, int64_t ldc) {
  outer_accumulate(a, lda, b, ldb, K, M, N, c, ldc);
}
#endif

// Direction d's packed weight, or nullptr.
inline const float* packed_of(const std::vector<float>& packed, int64_t d, int64_t size) {
  return packed.empty() ? nullptr : packed.data() + d * size;
}

// One row's element-wise pass of each recurrence (j over the hidden units), kept in functions of their own with
// unaliased pointers so that the compiler vectorises them (inside the threaded lambdas, -fopt-info-vec showed
// it did not).
template <typename T>
void gru_row_forward(const T* __restrict g, const T* __restrict a, const T* __restrict bh, const T* __restrict hp,
                     T* __restrict rz, T* __restrict n, T* __restrict gn, T* __restrict o, int64_t H) {
  _Pragma("omp simd")
  for (int64_t j = 0; j < H; ++j) {
    const T r = sigm(g[j] + a[j] + bh[j]);
    const T z = sigm(g[H + j] + a[H + j] + bh[H + j]);
    const T ghn_j = a[2 * H + j] + bh[2 * H + j];
    const T nn = vtanh(g[2 * H + j] + r * ghn_j);
    rz[j] = r;
    rz[H + j] = z;
    gn[j] = ghn_j;
    n[j] = nn;
    o[j] = nn + z * (hp[j] - nn);  // (1 - z) * n + z * h
  }
}

template <typename T>
void gru_row_backward(const T* __restrict dout, const T* __restrict dh, const T* __restrict hp, const T* __restrict rz,
                      const T* __restrict n, const T* __restrict gn, T* __restrict dgi, T* __restrict dgh,
                      T* __restrict dhz, int64_t H) {
  _Pragma("omp simd")
  for (int64_t j = 0; j < H; ++j) {
    const T d = dh[j] + dhz[j] + dout[j];
    const T r = rz[j], z = rz[H + j], nn = n[j];
    const T dn = d * (T(1) - z) * (T(1) - nn * nn);  // through tanh
    const T dr = dn * gn[j] * r * (T(1) - r);        // through sigmoid
    const T dz = d * (hp[j] - nn) * z * (T(1) - z);
    dgi[j] = dr;
    dgi[H + j] = dz;
    dgi[2 * H + j] = dn;
    dgh[j] = dr;
    dgh[H + j] = dz;
    dgh[2 * H + j] = dn * r;
    dhz[j] = d * z;
  }
}

// n units of an LSTM row whose gates lie H apart (n = H for a whole row; fewer for the tail after the AVX2 lanes).
template <typename T>
void lstm_units_forward(const T* __restrict g, const T* __restrict a, const T* __restrict cp, T* __restrict act,
                        T* __restrict c, T* __restrict tc, T* __restrict o, int64_t n, int64_t H) {
  _Pragma("omp simd")
  for (int64_t j = 0; j < n; ++j) {
    const T ig = sigm(g[j] + a[j]);
    const T fg = sigm(g[H + j] + a[H + j]);
    const T gg = vtanh(g[2 * H + j] + a[2 * H + j]);
    const T og = sigm(g[3 * H + j] + a[3 * H + j]);
    const T cc = fg * cp[j] + ig * gg;
    const T tcc = vtanh(cc);
    act[j] = ig;
    act[H + j] = fg;
    act[2 * H + j] = gg;
    act[3 * H + j] = og;
    c[j] = cc;
    tc[j] = tcc;
    o[j] = og * tcc;
  }
}

template <typename T>
void lstm_row_forward(const T* g, const T* a, const T* cp, T* act, T* c, T* tc, T* o, int64_t H) {
  lstm_units_forward(g, a, cp, act, c, tc, o, H, H);
}

#ifdef BLOBBOTRONIC_AVX2
template <>
void lstm_row_forward<float>(const float* __restrict g, const float* __restrict a, const float* __restrict cp,
                             float* __restrict act, float* __restrict c, float* __restrict tc, float* __restrict o,
                             int64_t H) {
  int64_t j = 0;
  for (; j + 8 <= H; j += 8) {
    auto pre = [&](int64_t gate) {
      return _mm256_add_ps(_mm256_loadu_ps(g + gate * H + j), _mm256_loadu_ps(a + gate * H + j));
    };
    const __m256 ig = sigm8(pre(0)), fg = sigm8(pre(1)), gg = tanh8(pre(2)), og = sigm8(pre(3));
    const __m256 cc = _mm256_fmadd_ps(fg, _mm256_loadu_ps(cp + j), _mm256_mul_ps(ig, gg));
    const __m256 tcc = tanh8(cc);
    _mm256_storeu_ps(act + j, ig);
    _mm256_storeu_ps(act + H + j, fg);
    _mm256_storeu_ps(act + 2 * H + j, gg);
    _mm256_storeu_ps(act + 3 * H + j, og);
    _mm256_storeu_ps(c + j, cc);
    _mm256_storeu_ps(tc + j, tcc);
    _mm256_storeu_ps(o + j, _mm256_mul_ps(og, tcc));
  }
  lstm_units_forward(g + j, a + j, cp + j, act + j, c + j, tc + j, o + j, H - j, H);  // past the last multiple of 8
}
#endif

template <typename T>
void lstm_row_backward(const T* __restrict dout, const T* __restrict dh_in, const T* __restrict cp,
                       const T* __restrict act, const T* __restrict tc, T* __restrict dg, T* __restrict dcn,
                       int64_t H) {
  _Pragma("omp simd")
  for (int64_t j = 0; j < H; ++j) {
    const T dh = dh_in[j] + dout[j];
    const T ig = act[j], fg = act[H + j], gg = act[2 * H + j], og = act[3 * H + j], tcc = tc[j];
    const T dc = dcn[j] + dh * og * (T(1) - tcc * tcc);
    dg[j] = dc * gg * ig * (T(1) - ig);
    dg[H + j] = dc * cp[j] * fg * (T(1) - fg);
    dg[2 * H + j] = dc * ig * (T(1) - gg * gg);
    dg[3 * H + j] = dh * tcc * og * (T(1) - og);
    dcn[j] = dc * fg;
  }
}

// The batch is cut into chunks that run on separate threads, each over the whole sequence: the rows of a batch never
// meet inside a recurrence, so the threads share no state and need no barrier per step (PyTorch's fused
// kernels and BLAS split each step's small product instead, and synchronise at every step). The products inside
// a chunk run on one thread (nested parallel regions run serially). One chunk per thread, at least 16 rows each.
struct Chunks {
  int64_t per_dir, tasks, B;
  Chunks(int64_t D, int64_t B_) : B(B_) {
    const int64_t threads = at::get_num_threads();
    per_dir = std::max<int64_t>(1, std::min<int64_t>(threads / std::max<int64_t>(D, 1), B / 16));
    tasks = D * per_dir;
  }
  Chunks(int64_t D, int64_t B_, int64_t per_dir_) : per_dir(per_dir_), tasks(D * per_dir_), B(B_) {}
  // The number of the chunk of direction d that starts at row b0 (b0 = floor(i B / per_dir), and per_dir <= B / 16).
  int64_t index(int64_t d, int64_t b0) const { return d * per_dir + (b0 * per_dir + B - 1) / B; }
  // fn(d, b0, b1) for every chunk: direction d, batch rows [b0, b1), the chunks spread over PyTorch's threads.
  // Subnormal floats are flushed to zero meanwhile (FTZ and DAZ, on each thread, restored after): a gradient read
  // at the last step shrinks through every step of a vanilla RNN and reaches them, and arithmetic on subnormals is
  // slow. The adding problem at T = 200 (B = 32, hidden 116, one thread): backward and forward 106 ms a step with
  // them, 14 ms without (values below 1.2e-38 cannot move a float32 weight).
  template <typename F>
  void each(const F& fn) const {
    at::parallel_for(0, tasks, 1, [&](int64_t lo, int64_t hi) {
#if defined(__SSE__)
      const unsigned int csr = _mm_getcsr();
      _mm_setcsr(csr | 0x8040u);  // flush-to-zero (bit 15) and denormals-are-zero (bit 6)
#endif
      at::NoGradGuard no_grad;  // the pool's threads start with autograd on; these products are not recorded
      for (int64_t task = lo; task < hi; ++task) {
        fn(task / per_dir, (task % per_dir) * B / per_dir, (task % per_dir + 1) * B / per_dir);
      }
#if defined(__SSE__)
      _mm_setcsr(csr);
#endif
    });
  }
};

// One chunk's rows [b0, b1) of direction d at step t, as an (n, C) view of an (L, D, B, C) tensor.
at::Tensor rows_of(const at::Tensor& x, int64_t t, int64_t d, int64_t b0, int64_t b1) {
  return x.select(0, t).select(0, d).narrow(0, b0, b1 - b0);
}

// gi may be any (L, D, B, 3H) view whose last dimension is contiguous: FastGRU passes its input projection in
// the (D, B, L, 3H) order the projection's matrix product writes, so no transposing copy is made.
std::vector<at::Tensor> gru_forward(at::Tensor gi, at::Tensor w_hh, at::Tensor b_hh) {
  if (gi.stride(3) != 1) gi = gi.contiguous();
  b_hh = b_hh.contiguous();
  w_hh = w_hh.contiguous();
  const int64_t L = gi.size(0), D = gi.size(1), B = gi.size(2), G = gi.size(3), H = G / 3;
  const int64_t sL = gi.stride(0), sD = gi.stride(1), sB = gi.stride(2);
  auto outs = at::empty({L, D, B, H}, gi.options());
  auto rzs = at::empty({L, D, B, 2 * H}, gi.options());
  auto ns = at::empty({L, D, B, H}, gi.options());
  auto ghn = at::empty({L, D, B, H}, gi.options());
  const Chunks chunks(D, B);
  const auto packed = pack_recurrent(w_hh, true);
  AT_DISPATCH_FLOATING_TYPES(gi.scalar_type(), "gru_forward", [&] {
    chunks.each([&](int64_t d, int64_t b0, int64_t b1) {
      auto gh = at::zeros({b1 - b0, G}, gi.options());  // h_{-1} = 0: step 0 reads zeros
      auto hzero = at::zeros({H}, gi.options());
      const auto wt = w_hh.select(0, d).t();
      const float* pk = packed_of(packed, d, H * G);
      // raw pointers taken once: data_ptr() per row cost more than a 64-unit row's arithmetic
      // (LSTM forward, MNIST-1D: 7.7 -> 5.5 ms)
      const scalar_t* bh = b_hh.data_ptr<scalar_t>() + d * G;
      const scalar_t *gi_p = gi.data_ptr<scalar_t>(), *z0 = hzero.data_ptr<scalar_t>();
      scalar_t *a0 = gh.data_ptr<scalar_t>(), *rzs_p = rzs.data_ptr<scalar_t>(), *ns_p = ns.data_ptr<scalar_t>();
      scalar_t *ghn_p = ghn.data_ptr<scalar_t>(), *outs_p = outs.data_ptr<scalar_t>();
      for (int64_t t = 0; t < L; ++t) {
        // the recurrent bias is added below, in the same pass as the gates
        if (t > 0 && !packed_product(outs_p + ((t - 1) * D + d) * B * H + b0 * H, H, pk, b1 - b0, H, G, a0, G)) {
          at::mm_out(gh, rows_of(outs, t - 1, d, b0, b1), wt);
        }
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t row = (t * D + d) * B + b;
          const scalar_t *g = gi_p + t * sL + d * sD + b * sB, *a = a0 + (b - b0) * G;
          const scalar_t* hp = t > 0 ? outs_p + (row - D * B) * H : z0;
          gru_row_forward(g, a, bh, hp, rzs_p + row * 2 * H, ns_p + row * H, ghn_p + row * H, outs_p + row * H, H);
        }
      }
    });
  });
  return {outs, rzs, ns, ghn};
}

// The gradient of the input projections, in the layout of the forward's gi when that was the projection's
// (D, B, L, G) order (a permuted view), else contiguous; either way an (L, D, B, G) tensor.
at::Tensor input_grad_like(const at::Tensor& like, int64_t L, int64_t D, int64_t B, int64_t G, bool projection_layout) {
  return projection_layout ? at::empty({D, B, L, G}, like.options()).permute({2, 0, 1, 3})
                           : at::empty({L, D, B, G}, like.options());
}

std::vector<at::Tensor> gru_backward(at::Tensor dout, at::Tensor w_hh, at::Tensor outs, at::Tensor rzs,
                                     at::Tensor ns, at::Tensor ghn, bool projection_layout) {
  dout = dout.contiguous();
  w_hh = w_hh.contiguous();
  const int64_t L = outs.size(0), D = outs.size(1), B = outs.size(2), H = outs.size(3), G = 3 * H;
  auto dgi = input_grad_like(dout, L, D, B, G, projection_layout);
  const int64_t sL = dgi.stride(0), sD = dgi.stride(1), sB = dgi.stride(2);
  auto dgh = at::empty({L, D, B, G}, dout.options());
  const Chunks chunks(D, B);
  const auto packed = pack_recurrent(w_hh, false);
  AT_DISPATCH_FLOATING_TYPES(dout.scalar_type(), "gru_backward", [&] {
    chunks.each([&](int64_t d, int64_t b0, int64_t b1) {
      auto dhm = at::zeros({b1 - b0, H}, dout.options());  // the gradient reaching h_t through W_hh (from t+1)
      auto dhz = at::zeros({b1 - b0, H}, dout.options());  // ... and directly, through z (from step t+1)
      auto hzero = at::zeros({H}, dout.options());
      const auto w = w_hh.select(0, d);
      const float* pk = packed_of(packed, d, G * H);
      const scalar_t* dout_p = dout.data_ptr<scalar_t>();
      scalar_t* dhm_p = dhm.data_ptr<scalar_t>();
      const scalar_t *outs_p = outs.data_ptr<scalar_t>(), *z0 = hzero.data_ptr<scalar_t>();
      const scalar_t *rzs_p = rzs.data_ptr<scalar_t>(), *ns_p = ns.data_ptr<scalar_t>();
      const scalar_t* ghn_p = ghn.data_ptr<scalar_t>();
      scalar_t *dgi_p = dgi.data_ptr<scalar_t>(), *dgh_p = dgh.data_ptr<scalar_t>();
      scalar_t* dhz_p = dhz.data_ptr<scalar_t>();
      for (int64_t t = L - 1; t >= 0; --t) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t row = (t * D + d) * B + b, k = b - b0;
          const scalar_t* hp = t > 0 ? outs_p + (row - D * B) * H : z0;
          gru_row_backward(dout_p + row * H, dhm_p + k * H, hp, rzs_p + row * 2 * H, ns_p + row * H, ghn_p + row * H,
                           dgi_p + t * sL + d * sD + b * sB, dgh_p + row * G, dhz_p + k * H, H);
        }
        // to h_{t-1} through W_hh; the direct part (dhz) is added in the next pass
        if (t > 0 && !packed_product(dgh_p + ((t * D + d) * B + b0) * G, G, pk, b1 - b0, G, H, dhm_p, H)) {
          at::mm_out(dhm, rows_of(dgh, t, d, b0, b1), w);
        }
      }
    });
  });
  return {dgi, weight_grad(dgh, outs), dgh.sum({0, 2})};
}

// The vanilla (Elman) RNN in nn.RNN's tanh form: h_t = tanh(gi_t + W_hh h_{t-1}), gi (L, D, B, H) the input
// projections with both biases in them, any view whose last dimension is contiguous (as the GRU's); w_hh (D, H, H).
// Only the states are kept for the backward: tanh's derivative is 1 - h^2. Forward and backward over the adding
// problem's batch (T = 200, B = 32, one input, one thread): nn.RNN's own kernel 19-21 ms, this one 12-14 ms (hidden
// 112-128), level with the GRU of the same arithmetic (hidden 64: 14.6 ms).
template <typename T>
void rnn_row_forward(const T* __restrict g, const T* __restrict a, T* __restrict o, int64_t H) {
  _Pragma("omp simd")
  for (int64_t j = 0; j < H; ++j) o[j] = vtanh(g[j] + a[j]);
}

template <typename T>
void rnn_row_backward(const T* __restrict dout, const T* __restrict dh, const T* __restrict h, T* __restrict dg,
                      int64_t H) {
  _Pragma("omp simd")
  for (int64_t j = 0; j < H; ++j) dg[j] = (dout[j] + dh[j]) * (T(1) - h[j] * h[j]);
}

at::Tensor rnn_forward(at::Tensor gi, at::Tensor w_hh) {
  if (gi.stride(3) != 1) gi = gi.contiguous();
  w_hh = w_hh.contiguous();
  const int64_t L = gi.size(0), D = gi.size(1), B = gi.size(2), H = gi.size(3);
  const int64_t sL = gi.stride(0), sD = gi.stride(1), sB = gi.stride(2);
  auto outs = at::empty({L, D, B, H}, gi.options());
  const Chunks chunks(D, B);
  const auto packed = pack_recurrent(w_hh, true);
  AT_DISPATCH_FLOATING_TYPES(gi.scalar_type(), "rnn_forward", [&] {
    chunks.each([&](int64_t d, int64_t b0, int64_t b1) {
      auto gh = at::zeros({b1 - b0, H}, gi.options());  // h_{-1} = 0: step 0 reads zeros
      const auto wt = w_hh.select(0, d).t();
      const float* pk = packed_of(packed, d, H * H);
      const scalar_t* gi_p = gi.data_ptr<scalar_t>();
      scalar_t *a0 = gh.data_ptr<scalar_t>(), *outs_p = outs.data_ptr<scalar_t>();
      for (int64_t t = 0; t < L; ++t) {
        if (t > 0 && !packed_product(outs_p + ((t - 1) * D + d) * B * H + b0 * H, H, pk, b1 - b0, H, H, a0, H)) {
          at::mm_out(gh, rows_of(outs, t - 1, d, b0, b1), wt);
        }
        for (int64_t b = b0; b < b1; ++b) {
          rnn_row_forward(gi_p + t * sL + d * sD + b * sB, a0 + (b - b0) * H, outs_p + ((t * D + d) * B + b) * H, H);
        }
      }
    });
  });
  return outs;
}

// The gradients of gi (L, D, B, H), contiguous, and of W_hh (D, H, H).
std::vector<at::Tensor> rnn_backward(at::Tensor dout, at::Tensor w_hh, at::Tensor outs) {
  dout = dout.contiguous();
  w_hh = w_hh.contiguous();
  const int64_t L = outs.size(0), D = outs.size(1), B = outs.size(2), H = outs.size(3);
  auto dgi = at::empty({L, D, B, H}, dout.options());
  const Chunks chunks(D, B);
  const auto packed = pack_recurrent(w_hh, false);
  AT_DISPATCH_FLOATING_TYPES(dout.scalar_type(), "rnn_backward", [&] {
    chunks.each([&](int64_t d, int64_t b0, int64_t b1) {
      auto dhm = at::zeros({b1 - b0, H}, dout.options());  // the gradient reaching h_t through W_hh (from t+1)
      const auto w = w_hh.select(0, d);
      const float* pk = packed_of(packed, d, H * H);
      const scalar_t *dout_p = dout.data_ptr<scalar_t>(), *outs_p = outs.data_ptr<scalar_t>();
      scalar_t *dhm_p = dhm.data_ptr<scalar_t>(), *dgi_p = dgi.data_ptr<scalar_t>();
      for (int64_t t = L - 1; t >= 0; --t) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t row = (t * D + d) * B + b;
          rnn_row_backward(dout_p + row * H, dhm_p + (b - b0) * H, outs_p + row * H, dgi_p + row * H, H);
        }
        if (t > 0 && !packed_product(dgi_p + ((t * D + d) * B + b0) * H, H, pk, b1 - b0, H, H, dhm_p, H)) {
          at::mm_out(dhm, rows_of(dgi, t, d, b0, b1), w);
        }
      }
    });
  });
  return {dgi, weight_grad(dgi, outs)};
}

// An input of at most this many features is projected row by row inside the recurrence (the row's G gate inputs
// from C products each), not by one product over all steps first: that product writes, and the backward's three
// passes (dx, dw_ih, the bias) read, a (D, L, B, G) tensor, 4 MB on MNIST-1D, for almost no arithmetic (C = 1).
// MNIST-1D LSTM, two threads, best of 3: forward 1.49 -> 1.33 ms, backward 2.09 -> 2.00 ms.
constexpr int64_t kRowProjection = 8;

// proj = bias + W_ih x for one row, with W_ih stored transposed, (C, G).
template <typename T>
void project_row(const T* __restrict x, const T* __restrict w_t, const T* __restrict bias, T* __restrict proj, int64_t C,
                 int64_t G) {
  _Pragma("omp simd")
  for (int64_t n = 0; n < G; ++n) proj[n] = bias[n];
  for (int64_t c = 0; c < C; ++c) {
    const T xc = x[c];
    _Pragma("omp simd")
    for (int64_t n = 0; n < G; ++n) proj[n] += xc * w_t[c * G + n];
  }
}

// For one row's gate gradient dg: dx = dg W_ih (W_ih (G, C)), and the row's share of dW_ih (kept transposed,
// (C, G)) and of the bias, added to a chunk's sums.
template <typename T>
void project_row_backward(const T* __restrict dg, const T* __restrict x, const T* __restrict w_t, T* __restrict dx,
                          T* __restrict dw_t, T* __restrict db, int64_t C, int64_t G) {
  _Pragma("omp simd")
  for (int64_t n = 0; n < G; ++n) db[n] += dg[n];
  for (int64_t c = 0; c < C; ++c) {
    const T xc = x[c];
    T acc = T(0);
    _Pragma("omp simd reduction(+ : acc)")
    for (int64_t n = 0; n < G; ++n) {
      acc += dg[n] * w_t[c * G + n];
      dw_t[c * G + n] += dg[n] * xc;
    }
    dx[c] = acc;
  }
}

// The LSTM, gates i, f, g, o as in nn.LSTM, with its input projection, in time-major layout: x (D, L, B, C) each
// direction's input stream, w_ih (D, 4H, C), w_hh (D, 4H, H), bias (D, 4H) = nn.LSTM's two biases summed (their
// gradients are the same). Time-major keeps each step's rows together, so a step reads and writes contiguous memory
// (a (D, B, L, .) layout read each step's rows a sequence apart: the text LSTM's step took twice as long).
// Returns the states h (D, L, B, H) and, for the backward, the activated gates (D, L B, 4H), c and tanh(c) (D, L B, H)
// in the chunks' layout, and that layout (the chunks per direction).
std::vector<at::Tensor> lstm_forward(at::Tensor x, at::Tensor w_ih, at::Tensor w_hh, at::Tensor bias) {
  x = x.contiguous();
  w_hh = w_hh.contiguous();
  bias = bias.contiguous();
  const int64_t D = x.size(0), L = x.size(1), B = x.size(2), C = x.size(3), G = w_hh.size(1), H = G / 4;
  const bool by_row = C <= kRowProjection;
  at::Tensor gi, w_t;  // every step's input projection at once (one product per direction), or W_ih^T for the rows
  if (by_row) {
    w_t = w_ih.transpose(1, 2).contiguous();  // (D, C, G)
  } else {
    gi = at::empty({D, L, B, G}, x.options());
    for (int64_t d = 0; d < D; ++d) {
      auto out = gi.select(0, d).view({L * B, G});
      at::addmm_out(out, bias.select(0, d), x.select(0, d).view({L * B, C}), w_ih.select(0, d).t());
    }
  }
  auto outs = at::empty({D, L, B, H}, x.options());
  // The state saved for the backward (acts, cs, tcs) is stored chunk by chunk, each chunk's rows for all steps
  // together (rows (d, t, b) of chunk [b0, b1) at d L B + L b0 + t (b1 - b0) + b - b0): each thread then writes
  // and reads a region of its own. Interleaved by step as the output is, the threads' rows meet at every step, and
  // each thread ran 10-40% slower beside the other than alone (MNIST-1D forward, two threads, timed per thread).
  // MNIST-1D LSTM in fit, 1,500 steps, two runs each: kernel time a step forward 1.93-2.22 -> 1.77-1.80 ms, backward
  // 2.48-3.02 -> 2.26-2.29 ms, and the rest of the step 2.1-2.9 -> 1.8-2.0 ms.
  auto acts = at::empty({D, L * B, G}, x.options());
  auto cs = at::empty({D, L * B, H}, x.options());
  auto tcs = at::empty({D, L * B, H}, x.options());
  const Chunks chunks(D, B);
  const auto packed = pack_recurrent(w_hh, true);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    chunks.each([&](int64_t d, int64_t b0, int64_t b1) {
      auto gh = at::zeros({b1 - b0, G}, x.options());  // h_{-1} = 0
      auto zero = at::zeros({H}, x.options());          // c_{-1} = 0
      auto proj = at::empty({G}, x.options());          // one row's input projection (by_row)
      const auto wt = w_hh.select(0, d).t();
      const float* pk = packed_of(packed, d, H * G);
      const scalar_t *z0 = zero.data_ptr<scalar_t>(), *x_p = x.data_ptr<scalar_t>();
      const scalar_t* gi_p = by_row ? nullptr : gi.data_ptr<scalar_t>();
      const scalar_t* wt_p = by_row ? w_t.data_ptr<scalar_t>() + d * C * G : nullptr;
      const scalar_t* bias_p = bias.data_ptr<scalar_t>() + d * G;
      scalar_t *a0 = gh.data_ptr<scalar_t>(), *proj_p = proj.data_ptr<scalar_t>(), *acts_p = acts.data_ptr<scalar_t>();
      scalar_t *cs_p = cs.data_ptr<scalar_t>(), *tcs_p = tcs.data_ptr<scalar_t>(), *outs_p = outs.data_ptr<scalar_t>();
      for (int64_t t = 0; t < L; ++t) {
        if (t > 0 && !packed_product(outs_p + ((d * L + t - 1) * B + b0) * H, H, pk, b1 - b0, H, G, a0, G)) {
          at::mm_out(gh, outs.select(0, d).select(0, t - 1).narrow(0, b0, b1 - b0), wt);
        }
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t row = (d * L + t) * B + b;  // (d, t, b)
          const scalar_t* g = gi_p ? gi_p + row * G : proj_p;
          if (by_row) project_row(x_p + row * C, wt_p, bias_p, proj_p, C, G);
          const int64_t srow = d * L * B + L * b0 + t * (b1 - b0) + b - b0;  // its row in the saved state
          lstm_row_forward(g, a0 + (b - b0) * G, t > 0 ? cs_p + (srow - (b1 - b0)) * H : z0, acts_p + srow * G,
                           cs_p + srow * H, tcs_p + srow * H, outs_p + row * H, H);
        }
      }
    });
  });
  return {outs, acts, cs, tcs, at::full({1}, chunks.per_dir, x.options().dtype(at::kLong))};
}

// Gradients of x, w_ih, w_hh and the summed bias; dout and the saved tensors time-major as the forward's.
// layout: the forward's last output (its chunks per direction, which the saved state's layout follows).
std::vector<at::Tensor> lstm_backward(at::Tensor dout, at::Tensor x, at::Tensor w_ih, at::Tensor w_hh, at::Tensor outs,
                                      at::Tensor acts, at::Tensor cs, at::Tensor tcs, at::Tensor layout) {
  dout = dout.contiguous();
  x = x.contiguous();
  w_hh = w_hh.contiguous();
  const int64_t D = outs.size(0), L = outs.size(1), B = outs.size(2), H = outs.size(3), G = 4 * H, C = x.size(3);
  const bool by_row = C <= kRowProjection;
  const auto packed = pack_recurrent(w_hh, false);
  // dW_hh summed inside the recurrence, one partial sum per chunk (added up in chunk order afterwards), where the
  // AVX2 kernel applies; otherwise one product over all steps after it. With the row projection too, nothing reads a
  // step's gate gradient after the step, so each chunk keeps only the current step's rows (no 4 MB (D, L, B, G)).
  // MNIST-1D LSTM backward, two threads, medians of 15 interleaved runs: 3.60 -> 3.32 ms.
  const bool fused_dw = has_outer(dout.scalar_type(), H);
  const bool rolling = fused_dw && by_row;
  // the gradient of the gates' pre-activations
  auto dg = rolling ? at::Tensor() : at::empty({D, L, B, G}, dout.options());
  auto dx = at::empty({D, L, B, C}, dout.options());
  const Chunks chunks(D, B, layout.item<int64_t>());  // the forward's chunks: the saved state is laid out by them
  // by_row: each chunk's sums of dW_ih^T (C, G) and of the bias gradient (G), added up per direction afterwards
  at::Tensor w_t, sums;
  if (by_row) {
    w_t = w_ih.transpose(1, 2).contiguous();
    sums = at::zeros({D, chunks.per_dir, C + 1, G}, dout.options());
  }
  at::Tensor dw_parts = fused_dw ? at::zeros({D, chunks.per_dir, G, H}, dout.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(dout.scalar_type(), "lstm_backward", [&] {
    chunks.each([&](int64_t d, int64_t b0, int64_t b1) {
      auto dhm = at::zeros({b1 - b0, H}, dout.options());  // the gradient reaching h_t through W_hh (from t+1)
      auto dcn = at::zeros({b1 - b0, H}, dout.options());  // the gradient reaching c_t from c_{t+1}
      auto zero = at::zeros({H}, dout.options());
      const auto w = w_hh.select(0, d);
      const float* pk = packed_of(packed, d, G * H);
      const scalar_t *dout_p = dout.data_ptr<scalar_t>(), *x_p = x.data_ptr<scalar_t>();
      const scalar_t *cs_p = cs.data_ptr<scalar_t>(), *z0 = zero.data_ptr<scalar_t>();
      const scalar_t *acts_p = acts.data_ptr<scalar_t>(), *tcs_p = tcs.data_ptr<scalar_t>();
      const scalar_t* wt_p = by_row ? w_t.data_ptr<scalar_t>() + d * C * G : nullptr;
      scalar_t* sum_p = by_row ? sums.data_ptr<scalar_t>() + chunks.index(d, b0) * (C + 1) * G : nullptr;  // its sums
      auto step_dg = rolling ? at::empty({b1 - b0, G}, dout.options()) : at::Tensor();  // (rolling) step t's rows
      scalar_t* dg_p = rolling ? step_dg.data_ptr<scalar_t>() : dg.data_ptr<scalar_t>();
      scalar_t *dcn_p = dcn.data_ptr<scalar_t>(), *dhm_p = dhm.data_ptr<scalar_t>();
      scalar_t* dx_p = dx.data_ptr<scalar_t>();
      const scalar_t* outs_p = outs.data_ptr<scalar_t>();
      scalar_t* dw_p = fused_dw ? dw_parts.data_ptr<scalar_t>() + chunks.index(d, b0) * G * H : nullptr;
      for (int64_t t = L - 1; t >= 0; --t) {
        scalar_t* dgt = rolling ? dg_p : dg_p + ((d * L + t) * B + b0) * G;  // step t's first row of the chunk
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t row = (d * L + t) * B + b, k = b - b0;
          const int64_t srow = d * L * B + L * b0 + t * (b1 - b0) + k;  // its row in the saved state
          lstm_row_backward(dout_p + row * H, dhm_p + k * H, t > 0 ? cs_p + (srow - (b1 - b0)) * H : z0,
                            acts_p + srow * G, tcs_p + srow * H, dgt + k * G, dcn_p + k * H, H);
          if (by_row) {
            project_row_backward(dgt + k * G, x_p + row * C, wt_p, dx_p + row * C, sum_p, sum_p + C * G, C, G);
          }
        }
        if (t > 0 && !packed_product(dgt, G, pk, b1 - b0, G, H, dhm_p, H)) {  // to h_{t-1}
          at::mm_out(dhm, rolling ? step_dg : dg.select(0, d).select(0, t).narrow(0, b0, b1 - b0), w);
        }
        if (t > 0 && fused_dw) {  // dW_hh += dg_t^T h_{t-1} over the chunk's rows
          outer_product(dgt, G, outs_p + ((d * L + t - 1) * B + b0) * H, H, b1 - b0, G, H, dw_p, H);
        }
      }
    });
  });
  at::Tensor dw_ih, dbias;
  if (by_row) {  // the chunks' sums, in chunk order
    auto total = sums.sum(1);  // (D, C + 1, G)
    dw_ih = total.narrow(1, 0, C).transpose(1, 2).contiguous();
    dbias = total.select(1, C).contiguous();
  } else {
    dw_ih = at::empty_like(w_ih);
    for (int64_t d = 0; d < D; ++d) {
      const auto dgd = dg.select(0, d).view({L * B, G});
      auto dxd = dx.select(0, d).view({L * B, C});
      at::mm_out(dxd, dgd, w_ih.select(0, d));
      auto dwi = dw_ih.select(0, d);
      at::mm_out(dwi, dgd.t(), x.select(0, d).view({L * B, C}));
    }
    dbias = dg.sum({1, 2});
  }
  if (fused_dw) return {dx, dw_ih, dw_parts.sum(1), dbias};
  auto dw_hh = at::zeros_like(w_hh);
  for (int64_t d = 0; d < D && L > 1; ++d) {  // one product over all steps (h_{-1} = 0: step 0 adds nothing)
    auto dwh = dw_hh.select(0, d);
    at::mm_out(dwh, dg.select(0, d).narrow(0, 1, L - 1).reshape({(L - 1) * B, G}).t(),
               outs.select(0, d).narrow(0, 0, L - 1).reshape({(L - 1) * B, H}));
  }
  return {dx, dw_ih, dw_hh, dbias};
}

// ---- The optimiser step: gradient clipping and AdamW in one call ------------------------------------------------
// A small model's step spends about as long in clip_grad_norm_ and AdamW.step as in its recurrence's backward:
// a few dozen small operations, each with Python and dispatch around it (MNIST-1D LSTM, in fit: clipping 0.5 ms,
// the step 0.4 ms, zero_grad 0.2 ms, against 2.3 ms for the whole backward kernel). Here the global norm and
// PyTorch's AdamW update (decoupled weight decay, bias-corrected moments) run in one call over float32 tensors.
// The norm sums fixed blocks of 2^15 elements in double, added up in order, so the thread count changes no number.
constexpr int64_t kNormBlock = 1 << 15;

double global_norm(const std::vector<at::Tensor>& grads) {
  std::vector<double> parts;
  std::vector<std::pair<int64_t, int64_t>> blocks;  // (tensor, first element)
  for (size_t i = 0; i < grads.size(); ++i)
    for (int64_t e = 0; e < grads[i].numel(); e += kNormBlock) blocks.emplace_back(i, e);
  parts.assign(blocks.size(), 0.0);
  at::parallel_for(0, static_cast<int64_t>(blocks.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const auto& g = grads[blocks[k].first];
      const float* p = g.data_ptr<float>() + blocks[k].second;
      const int64_t n = std::min<int64_t>(kNormBlock, g.numel() - blocks[k].second);
      double acc = 0.0;
      _Pragma("omp simd reduction(+ : acc)")
      for (int64_t j = 0; j < n; ++j) acc += double(p[j]) * double(p[j]);
      parts[k] = acc;
    }
  });
  double total = 0.0;
  for (double v : parts) total += v;
  return std::sqrt(total);
}

// One AdamW step for every tensor (params, grads and both moments float32 CPU tensors, each dense and laid out like
// its parameter, so element j of one is element j of the others), the gradients first scaled by
// min(1, max_norm / (norm + 1e-6)) where max_norm > 0, as clip_grad_norm_ does. Returns the gradients' norm before
// clipping (0 where max_norm <= 0).
double clip_adamw(std::vector<at::Tensor> params, std::vector<at::Tensor> grads, std::vector<at::Tensor> exp_avgs,
                  std::vector<at::Tensor> exp_avg_sqs, std::vector<at::Tensor> steps, double lr, double beta1,
                  double beta2, double eps, double weight_decay, double max_norm) {
  at::NoGradGuard no_grad;
  // each parameter's step counter (a float32 scalar, as torch.optim.AdamW keeps it) moves on by one; the caller
  // passes only parameters that have all taken the same number of steps
  double step = 0.0;
  for (auto& t : steps) step = double(++*t.data_ptr<float>());
  const double norm = max_norm > 0 ? global_norm(grads) : 0.0;
  const float scale = max_norm > 0 ? float(std::min(1.0, max_norm / (norm + 1e-6))) : 1.0f;
  const float decay = float(1.0 - lr * weight_decay), b1 = float(beta1), b2 = float(beta2);
  const double correction1 = 1.0 - std::pow(beta1, step), correction2 = 1.0 - std::pow(beta2, step);
  const float step_size = float(lr / correction1), root2 = float(std::sqrt(correction2)), epsf = float(eps);
  for (size_t i = 0; i < params.size(); ++i) {
    float *p = params[i].data_ptr<float>(), *m = exp_avgs[i].data_ptr<float>(), *v = exp_avg_sqs[i].data_ptr<float>();
    const float* g = grads[i].data_ptr<float>();
    at::parallel_for(0, params[i].numel(), kNormBlock, [&](int64_t lo, int64_t hi) {
      _Pragma("omp simd")
      for (int64_t j = lo; j < hi; ++j) {
        const float gj = g[j] * scale;
        p[j] *= decay;
        m[j] += (gj - m[j]) * (1.0f - b1);
        v[j] = v[j] * b2 + (1.0f - b2) * gj * gj;
        p[j] -= step_size * m[j] / (std::sqrt(v[j]) / root2 + epsf);
      }
    });
  }
  return norm;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gru_forward", &gru_forward, "GRU recurrence, forward");
  m.def("gru_backward", &gru_backward, "GRU recurrence, backward");
  m.def("lstm_forward", &lstm_forward, "LSTM recurrence, forward");
  m.def("lstm_backward", &lstm_backward, "LSTM recurrence, backward");
  m.def("rnn_forward", &rnn_forward, "vanilla (tanh) RNN recurrence, forward");
  m.def("rnn_backward", &rnn_backward, "vanilla (tanh) RNN recurrence, backward");
  m.def("clip_adamw", &clip_adamw, "gradient clipping and an AdamW step over float32 CPU tensors");
}
