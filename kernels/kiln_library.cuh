// Helper kernels of kiln's library steps (convolution, GEMM edge cases), compiled by NVRTC
// into the same cubin as a program's generated kernels. Included after kiln.cuh by units
// whose program has library steps; KILN_LIBRARY_HELPERS(suffix, ...) instantiates the
// extern "C" entry points for one dtype. Every loop is a grid-stride loop over a long long
// counter; every size is long long and proved by the host before the launch.
#pragma once

// Unfolds `images` images of x (from image offset x_off, [C, H, W] each) into col, laid out
// [image][c][kh][kw][oh][ow]: row (c, kh, kw), column (oh, ow) of each image's column matrix.
// Padding reads zero. Values are copied bit for bit, so one template serves every dtype.
template <typename T>
__device__ __forceinline__ void kiln_im2col(
    const T* __restrict__ x, T* __restrict__ col, long long x_off, long long images,
    long long C, long long H, long long W, long long KH, long long KW, long long SH, long long SW,
    long long PH, long long PW, long long DH, long long DW, long long OH, long long OW) {
  const long long total = images * C * KH * KW * OH * OW;
  const long long step = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
    long long t = i;
    const long long ow = t % OW; t /= OW;
    const long long oh = t % OH; t /= OH;
    const long long kw = t % KW; t /= KW;
    const long long kh = t % KH; t /= KH;
    const long long c = t % C;
    const long long img = t / C;
    const long long ih = oh * SH - PH + kh * DH;
    const long long iw = ow * SW - PW + kw * DW;
    T v = (T)0;
    if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
      v = x[x_off + ((img * C + c) * H + ih) * W + iw];
    }
    col[i] = v;
  }
}

// A depthwise convolution (one input channel per group, C_out = C_in * multiplier): one thread
// per output element, the window accumulated in ACC (float for f16/bf16/f32, double for f64).
#define KILN_DEPTHWISE_BODY(T, ACC, LOAD, STORE)                                               \
  const long long mult = C_out / C_in;                                                         \
  const long long total = N * C_out * OH * OW;                                                 \
  const long long step = (long long)gridDim.x * blockDim.x;                                    \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) { \
    long long t = i;                                                                           \
    const long long ow = t % OW; t /= OW;                                                      \
    const long long oh = t % OH; t /= OH;                                                      \
    const long long oc = t % C_out;                                                            \
    const long long n = t / C_out;                                                             \
    const long long ic = oc / mult;                                                            \
    ACC acc = 0;                                                                               \
    for (long long kh = 0; kh < KH; ++kh) {                                                    \
      const long long ih = oh * SH - PH + kh * DH;                                             \
      if (ih < 0 || ih >= H) continue;                                                         \
      for (long long kw = 0; kw < KW; ++kw) {                                                  \
        const long long iw = ow * SW - PW + kw * DW;                                           \
        if (iw < 0 || iw >= W) continue;                                                       \
        acc += (ACC)LOAD(x[((n * C_in + ic) * H + ih) * W + iw]) *                             \
               (ACC)LOAD(w[(oc * KH + kh) * KW + kw]);                                         \
      }                                                                                        \
    }                                                                                          \
    out[i] = STORE(acc);                                                                       \
  }

// c = beta * c over one strided batch of column-major rows x cols matrices: a GEMM with k = 0,
// which cuBLAS is not asked to do. beta == 0 writes zeros without reading (NaN is ignored).
#define KILN_GEMM_K0_BODY(T, ACC, LOAD, STORE)                                                 \
  const long long total = batch * rows * cols;                                                 \
  const long long step = (long long)gridDim.x * blockDim.x;                                    \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) { \
    const long long r = i % rows;                                                              \
    const long long col = (i / rows) % cols;                                                   \
    const long long b = i / (rows * cols);                                                     \
    T* p = c + off + b * stride + col * ld + r;                                                \
    *p = beta == 0.0 ? STORE((ACC)0) : STORE((ACC)beta * (ACC)LOAD(*p));                       \
  }

#define KILN_LIBRARY_HELPERS(S, T, ACC, LOAD, STORE)                                           \
  extern "C" __global__ void __launch_bounds__(256) kiln_im2col_##S(                           \
      const T* __restrict__ x, T* __restrict__ col, long long x_off, long long images,         \
      long long C, long long H, long long W, long long KH, long long KW, long long SH,         \
      long long SW, long long PH, long long PW, long long DH, long long DW, long long OH,      \
      long long OW) {                                                                          \
    kiln_im2col<T>(x, col, x_off, images, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW);   \
  }                                                                                            \
  extern "C" __global__ void __launch_bounds__(256) kiln_depthwise_##S(                        \
      const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ out, long long N,      \
      long long C_in, long long C_out, long long H, long long W, long long KH, long long KW,   \
      long long SH, long long SW, long long PH, long long PW, long long DH, long long DW,      \
      long long OH, long long OW) {                                                            \
    KILN_DEPTHWISE_BODY(T, ACC, LOAD, STORE)                                                   \
  }                                                                                            \
  extern "C" __global__ void __launch_bounds__(256) kiln_gemm_k0_##S(                          \
      T* __restrict__ c, long long off, long long batch, long long stride, long long rows,     \
      long long cols, long long ld, double beta) {                                             \
    KILN_GEMM_K0_BODY(T, ACC, LOAD, STORE)                                                     \
  }

#define KILN_SAME(v) (v)
