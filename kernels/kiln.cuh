// kiln.cuh: device helpers for the CUDA C that kiln-cuda generates.
//
// Self-contained on purpose: it includes nothing, so generated code compiles with libnvrtc alone
// (the PyPI wheel ships no cuda_fp16.h / cuda_bf16.h). f16 and bf16 are stored as their raw
// 16-bit patterns (`unsigned short`) and converted here with round-to-nearest-even; all
// arithmetic happens in float (double for f64), as the kernel IR specifies.
#pragma once

typedef unsigned short kiln_f16;
typedef unsigned short kiln_bf16;
typedef unsigned char kiln_bool;

#define KILN_INF __int_as_float(0x7f800000)
#define KILN_NAN __int_as_float(0x7fc00000)

// ---- f16 / bf16 conversions -------------------------------------------------------------

__device__ __forceinline__ float kiln_f16_to_float(kiln_f16 h) {
  unsigned int sign = ((unsigned int)h & 0x8000u) << 16;
  unsigned int exp = ((unsigned int)h >> 10) & 0x1fu;
  unsigned int man = (unsigned int)h & 0x3ffu;
  if (exp == 0u) {
    // Zero or subnormal: man * 2^-24, exact in float.
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (exp == 31u) return __uint_as_float(sign | 0x7f800000u | (man << 13));
  return __uint_as_float(sign | ((exp + 112u) << 23) | (man << 13));
}

__device__ __forceinline__ kiln_f16 kiln_float_to_f16(float f) {
  unsigned int x = __float_as_uint(f);
  unsigned int sign = (x >> 16) & 0x8000u;
  unsigned int a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) return (kiln_f16)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
  // 65520 and above round (to even) past the largest finite half, 65504.
  if (a >= 0x477ff000u) return (kiln_f16)(sign | 0x7c00u);
  if (a < 0x38800000u) {
    // Below the smallest normal half (2^-14): a multiple of 2^-24, rounded to nearest even.
    // Scaling by 2^24 is exact, and __float2uint_rn rounds half to even.
    unsigned int m = __float2uint_rn(__uint_as_float(a) * 16777216.0f);
    return (kiln_f16)(sign | m);
  }
  unsigned int m = a - 0x38000000u;  // rebias the exponent from 127 to 15
  m += 0xfffu + ((m >> 13) & 1u);    // round to nearest even on the 13 dropped bits
  return (kiln_f16)(sign | (m >> 13));
}

__device__ __forceinline__ float kiln_bf16_to_float(kiln_bf16 h) {
  return __uint_as_float((unsigned int)h << 16);
}

__device__ __forceinline__ kiln_bf16 kiln_float_to_bf16(float f) {
  unsigned int x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (kiln_bf16)((x >> 16) | 0x40u);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return (kiln_bf16)(x >> 16);
}

// double -> float rounding toward zero with a sticky last bit ("round to odd"): rounding that
// float again to f16/bf16 (<= 11 significant bits of float's 24) gives the correctly rounded
// result of the double, with no double-rounding error.
__device__ __forceinline__ float kiln_double_to_float_odd(double d) {
  float f = __double2float_rz(d);
  if ((double)f != d && d == d) f = __uint_as_float(__float_as_uint(f) | 1u);
  return f;
}

__device__ __forceinline__ kiln_f16 kiln_to_f16(float v) { return kiln_float_to_f16(v); }
__device__ __forceinline__ kiln_f16 kiln_to_f16(double v) {
  return kiln_float_to_f16(kiln_double_to_float_odd(v));
}
__device__ __forceinline__ kiln_bf16 kiln_to_bf16(float v) { return kiln_float_to_bf16(v); }
__device__ __forceinline__ kiln_bf16 kiln_to_bf16(double v) {
  return kiln_float_to_bf16(kiln_double_to_float_odd(v));
}

// Rounds a computed value to the precision of a narrower dtype, keeping it in float.
__device__ __forceinline__ float kiln_round_f16(float v) { return kiln_f16_to_float(kiln_to_f16(v)); }
__device__ __forceinline__ float kiln_round_f16(double v) { return kiln_f16_to_float(kiln_to_f16(v)); }
__device__ __forceinline__ float kiln_round_bf16(float v) { return kiln_bf16_to_float(kiln_to_bf16(v)); }
__device__ __forceinline__ float kiln_round_bf16(double v) { return kiln_bf16_to_float(kiln_to_bf16(v)); }
// Bool: nonzero (NaN included, as in PyTorch) is true.
__device__ __forceinline__ float kiln_round_bool(float v) { return v != 0.0f ? 1.0f : 0.0f; }
__device__ __forceinline__ float kiln_round_bool(double v) { return v != 0.0 ? 1.0f : 0.0f; }
__device__ __forceinline__ kiln_bool kiln_to_bool(float v) { return v != 0.0f ? 1 : 0; }
__device__ __forceinline__ kiln_bool kiln_to_bool(double v) { return v != 0.0 ? 1 : 0; }
// int64 (computed in double, exact below 2^53): torch's `to(int64)` truncates toward zero and,
// on x86, gives INT64_MIN for NaN, infinities and values outside [-2^63, 2^63).
__device__ __forceinline__ double kiln_round_i64(double v) {
  return (v >= -9223372036854775808.0 && v < 9223372036854775808.0) ? trunc(v)
                                                                    : -9223372036854775808.0;
}
__device__ __forceinline__ double kiln_round_i64(float v) { return kiln_round_i64((double)v); }
__device__ __forceinline__ long long kiln_to_i64(double v) {
  return (long long)kiln_round_i64(v);
}
__device__ __forceinline__ long long kiln_to_i64(float v) { return kiln_to_i64((double)v); }

// ---- NaN-propagating max / min (PyTorch's maximum/minimum, amax/amin, max pooling) ---------
// A NaN `a` is kept; a NaN `b` fails `a > b` and is returned.

__device__ __forceinline__ float kiln_max(float a, float b) { return (a != a || a > b) ? a : b; }
__device__ __forceinline__ double kiln_max(double a, double b) { return (a != a || a > b) ? a : b; }
__device__ __forceinline__ float kiln_min(float a, float b) { return (a != a || a < b) ? a : b; }
__device__ __forceinline__ double kiln_min(double a, double b) { return (a != a || a < b) ? a : b; }

// ---- Unary math, float and double -----------------------------------------------------------

__device__ __forceinline__ float kiln_neg(float x) { return -x; }
__device__ __forceinline__ double kiln_neg(double x) { return -x; }
__device__ __forceinline__ float kiln_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double kiln_abs(double x) { return fabs(x); }
__device__ __forceinline__ float kiln_exp(float x) { return expf(x); }
__device__ __forceinline__ double kiln_exp(double x) { return exp(x); }
__device__ __forceinline__ float kiln_log(float x) { return logf(x); }
__device__ __forceinline__ double kiln_log(double x) { return log(x); }
__device__ __forceinline__ float kiln_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double kiln_sqrt(double x) { return sqrt(x); }
// 1/sqrt rather than rsqrtf: the approximate instruction is a few ulp off the reference.
__device__ __forceinline__ float kiln_rsqrt(float x) { return 1.0f / sqrtf(x); }
__device__ __forceinline__ double kiln_rsqrt(double x) { return 1.0 / sqrt(x); }
__device__ __forceinline__ float kiln_reciprocal(float x) { return 1.0f / x; }
__device__ __forceinline__ double kiln_reciprocal(double x) { return 1.0 / x; }
__device__ __forceinline__ float kiln_sin(float x) { return sinf(x); }
__device__ __forceinline__ double kiln_sin(double x) { return sin(x); }
__device__ __forceinline__ float kiln_cos(float x) { return cosf(x); }
__device__ __forceinline__ double kiln_cos(double x) { return cos(x); }
__device__ __forceinline__ float kiln_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double kiln_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float kiln_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ double kiln_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
// clamp_min(x, 0): NaN propagates.
__device__ __forceinline__ float kiln_relu(float x) { return (x > 0.0f || x != x) ? x : 0.0f; }
__device__ __forceinline__ double kiln_relu(double x) { return (x > 0.0 || x != x) ? x : 0.0; }
__device__ __forceinline__ float kiln_silu(float x) { return x * kiln_sigmoid(x); }
__device__ __forceinline__ double kiln_silu(double x) { return x * kiln_sigmoid(x); }
__device__ __forceinline__ float kiln_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ double kiln_gelu(double x) { return 0.5 * x * (1.0 + erf(x * 0.70710678118654752440)); }
__device__ __forceinline__ float kiln_gelu_tanh(float x) {
  float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + tanhf(inner));
}
__device__ __forceinline__ double kiln_gelu_tanh(double x) {
  double inner = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1.0 + tanh(inner));
}
__device__ __forceinline__ float kiln_floor(float x) { return floorf(x); }
__device__ __forceinline__ double kiln_floor(double x) { return floor(x); }
__device__ __forceinline__ float kiln_ceil(float x) { return ceilf(x); }
__device__ __forceinline__ double kiln_ceil(double x) { return ceil(x); }
__device__ __forceinline__ float kiln_logical_not(float x) { return x != 0.0f ? 0.0f : 1.0f; }
__device__ __forceinline__ float kiln_logical_not(double x) { return x != 0.0 ? 0.0f : 1.0f; }

__device__ __forceinline__ float kiln_pow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double kiln_pow(double a, double b) { return pow(a, b); }

// ---- Integer index math: Python floor division and modulo ----------------------------------
// Pooling window starts (`oh*stride - pad`) are negative at the border, so C's truncating `/`
// and `%` would be wrong there.

__device__ __forceinline__ int kiln_floordiv(int a, int b) {
  int q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
__device__ __forceinline__ long long kiln_floordiv(long long a, long long b) {
  long long q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
__device__ __forceinline__ int kiln_mod(int a, int b) {
  int r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
__device__ __forceinline__ long long kiln_mod(long long a, long long b) {
  long long r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
__device__ __forceinline__ int kiln_imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ long long kiln_imin(long long a, long long b) { return a < b ? a : b; }
__device__ __forceinline__ int kiln_imax(int a, int b) { return a > b ? a : b; }
__device__ __forceinline__ long long kiln_imax(long long a, long long b) { return a > b ? a : b; }

// ---- Warp and block reductions (the block-per-output reduction kernels) -------------------
// One functor per ReduceKind; max/min propagate NaN like the serial loop, so the combine order
// of the tree does not change which values come out.

struct kiln_sum_op {
  template <class T> __device__ __forceinline__ static T apply(T a, T b) { return a + b; }
};
struct kiln_max_op {
  template <class T> __device__ __forceinline__ static T apply(T a, T b) { return kiln_max(a, b); }
};
struct kiln_min_op {
  template <class T> __device__ __forceinline__ static T apply(T a, T b) { return kiln_min(a, b); }
};

// Tree reduction of a full warp: lane 0 ends with the combination of all 32 lanes' values.
template <class Op, class T>
__device__ __forceinline__ T kiln_warp_reduce(T v) {
  for (int o = 16; o > 0; o >>= 1) v = Op::apply(v, __shfl_down_sync(0xffffffffu, v, o));
  return v;
}

// Reduces `v` over the whole block; the result is valid in thread 0 only. Every thread of the
// block must call it (it synchronises), blockDim.x must be a multiple of 32 and at most 1024;
// `scratch` is a __shared__ array of 32 values, reusable by the next call (the first barrier
// keeps a new call from overwriting values the previous one is still reading).
template <class Op, class T>
__device__ __forceinline__ T kiln_block_reduce(T v, T identity, T* scratch) {
  const unsigned lane = threadIdx.x & 31u;
  const unsigned warp = threadIdx.x >> 5;
  v = kiln_warp_reduce<Op>(v);
  __syncthreads();
  if (lane == 0u) scratch[warp] = v;
  __syncthreads();
  if (warp == 0u) {
    const unsigned warps = (blockDim.x + 31u) >> 5;
    v = kiln_warp_reduce<Op>(lane < warps ? scratch[lane] : identity);
  }
  return v;
}

__device__ __forceinline__ float kiln_warp_sum(float v) { return kiln_warp_reduce<kiln_sum_op>(v); }
__device__ __forceinline__ double kiln_warp_sum(double v) { return kiln_warp_reduce<kiln_sum_op>(v); }
__device__ __forceinline__ float kiln_warp_max(float v) { return kiln_warp_reduce<kiln_max_op>(v); }
__device__ __forceinline__ double kiln_warp_max(double v) { return kiln_warp_reduce<kiln_max_op>(v); }
__device__ __forceinline__ float kiln_warp_min(float v) { return kiln_warp_reduce<kiln_min_op>(v); }
__device__ __forceinline__ double kiln_warp_min(double v) { return kiln_warp_reduce<kiln_min_op>(v); }

// ---- 16-byte vector memory access (the vectorised elementwise kernels) ----------------------
// `lanes` elements of any storage type moved as one uint4. `global` must be 16-byte aligned
// (the launch checks the base pointers, the kernel each offset) and `local` declared
// __align__(16); the kernels fall back to element accesses otherwise.

template <class T>
__device__ __forceinline__ void kiln_load16(const T* global, T* local) {
  *reinterpret_cast<uint4*>(local) = *reinterpret_cast<const uint4*>(global);
}
template <class T>
__device__ __forceinline__ void kiln_store16(T* global, const T* local) {
  *reinterpret_cast<uint4*>(global) = *reinterpret_cast<const uint4*>(local);
}
