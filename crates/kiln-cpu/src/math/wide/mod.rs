//! Wide tile routines: the f32 transcendental ops on 256- or 512-bit vectors, called from
//! kernels.
//!
//! Cranelift's x86-64 backend emits 128-bit vectors only, and a fused elementwise kernel whose
//! body holds a sigmoid, tanh or GELU is bound by that arithmetic, not by memory (see
//! `doc/CODEGEN.md`). On hosts with AVX2 and FMA, a vector kernel computes its rows in tiles
//! of [`TILE`] elements: the 128-bit code computes each transcendental op's argument for the
//! whole tile into a stack buffer, one call to the routine here computes the op on 8 lanes
//! (AVX2) or 16 (AVX-512, where the host has it) at a time, and the 128-bit code carries on
//! from its result (`codegen/tile.rs`).
//!
//! Every routine is the same IEEE operation sequence as the inline emitter it replaces, so a
//! tiled row is bit for bit what the 128-bit loop computes (checked by
//! `tests/wide_routines.rs`), and the choice never changes results, only speed. Kernels call
//! the routines by symbol name ([`Routine::symbol`]); an artifact records the name and the
//! loader resolves it to this process's copy, so cached code stays position-independent. The
//! tile level is part of the host ISA description (`kiln_wide=avx512|avx2|none`), hence of
//! every artifact's and cache key's target id.
use kiln_ir::UnaryOp;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

/// Elements per tile: 64 f32 (256 bytes per staged value, in L1), so the call, and the
/// constants reloaded after it, cost a few instructions per 8 elements.
pub const TILE: i64 = 64;

/// A tile routine: `extern "C" fn(src: *const f32, dst: *mut f32, n: u64)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routine {
    Exp,
    Sigmoid,
    /// Sigmoid of a relu's output (the emitters' `sigmoid_nonnegative`).
    SigmoidNonnegative,
    Tanh,
    Silu,
    Gelu,
    GeluTanh,
}

impl Routine {
    pub const ALL: [Routine; 7] = [
        Routine::Exp,
        Routine::Sigmoid,
        Routine::SigmoidNonnegative,
        Routine::Tanh,
        Routine::Silu,
        Routine::Gelu,
        Routine::GeluTanh,
    ];

    /// The routine computing f32 `op` (`after_relu`: its operand is a relu's output, as the
    /// body emitter specialises sigmoid), if there is one.
    pub fn for_op(op: UnaryOp, after_relu: bool) -> Option<Routine> {
        Some(match op {
            UnaryOp::Exp => Routine::Exp,
            UnaryOp::Sigmoid if after_relu => Routine::SigmoidNonnegative,
            UnaryOp::Sigmoid => Routine::Sigmoid,
            UnaryOp::Tanh => Routine::Tanh,
            UnaryOp::Silu => Routine::Silu,
            UnaryOp::Gelu => Routine::Gelu,
            UnaryOp::GeluTanh => Routine::GeluTanh,
            _ => return None,
        })
    }

    /// The symbol kernels import the routine by.
    pub fn symbol(self) -> &'static str {
        match self {
            Routine::Exp => "kiln_wide_exp_f32",
            Routine::Sigmoid => "kiln_wide_sigmoid_f32",
            Routine::SigmoidNonnegative => "kiln_wide_sigmoid_nonnegative_f32",
            Routine::Tanh => "kiln_wide_tanh_f32",
            Routine::Silu => "kiln_wide_silu_f32",
            Routine::Gelu => "kiln_wide_gelu_f32",
            Routine::GeluTanh => "kiln_wide_gelu_tanh_f32",
        }
    }

    /// The routine named `symbol`, if kiln has one by that name.
    pub fn by_symbol(symbol: &str) -> Option<Routine> {
        Routine::ALL.into_iter().find(|r| r.symbol() == symbol)
    }

    /// The routine's entry point in this process, at the host's [`level`].
    fn entry(self) -> Option<TileFn> {
        self.entry_at(level())
    }

    /// The routine's entry point at `level`, if the host runs that level.
    #[cfg(target_arch = "x86_64")]
    fn entry_at(self, level: Level) -> Option<TileFn> {
        // Called for every routine of every module a hit loads: a comparison, no allocation.
        if level > host_level() {
            return None;
        }
        match level {
            Level::None => None,
            Level::Avx2 => Some(self.avx2()),
            Level::Avx512 => Some(self.avx512()),
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn avx2(self) -> TileFn {
        match self {
            Routine::Exp => avx2::exp_f32x8,
            Routine::Sigmoid => avx2::sigmoid_f32x8,
            Routine::SigmoidNonnegative => avx2::sigmoid_nonnegative_f32x8,
            Routine::Tanh => avx2::tanh_f32x8,
            Routine::Silu => avx2::silu_f32x8,
            Routine::Gelu => avx2::gelu_f32x8,
            Routine::GeluTanh => avx2::gelu_tanh_f32x8,
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn avx512(self) -> TileFn {
        match self {
            Routine::Exp => avx512::exp_f32x16,
            Routine::Sigmoid => avx512::sigmoid_f32x16,
            Routine::SigmoidNonnegative => avx512::sigmoid_nonnegative_f32x16,
            Routine::Tanh => avx512::tanh_f32x16,
            Routine::Silu => avx512::silu_f32x16,
            Routine::Gelu => avx512::gelu_f32x16,
            Routine::GeluTanh => avx512::gelu_tanh_f32x16,
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn entry_at(self, _: Level) -> Option<TileFn> {
        None
    }

    /// Applies the routine to `xs` (any length; the last partial tile is padded), or `None`
    /// where tiles are not used on this host. For tests and benchmarks.
    pub fn apply(self, xs: &[f32]) -> Option<Vec<f32>> {
        self.apply_at(level(), xs)
    }

    /// [`Routine::apply`] at `level` (`None` where the host does not run it), whatever
    /// `KILN_CPU_WIDE` says: tests compare the levels.
    pub fn apply_at(self, level: Level, xs: &[f32]) -> Option<Vec<f32>> {
        let f = self.entry_at(level)?;
        let mut src = xs.to_vec();
        src.resize(xs.len().next_multiple_of(8), 0.0);
        let mut dst = vec![0.0f32; src.len()];
        // SAFETY: both buffers hold `src.len()` f32, a multiple of 8, and `entry` returned
        // the routine only for a level the host has.
        unsafe { f(src.as_ptr(), dst.as_mut_ptr(), src.len() as u64) };
        dst.truncate(xs.len());
        Some(dst)
    }
}

type TileFn = unsafe extern "C" fn(*const f32, *mut f32, u64);

/// A width of tile routines, ordered from none to the widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// No tiles: the 128-bit loop computes every op.
    None,
    /// 8 lanes (AVX2 + FMA).
    Avx2,
    /// 16 lanes (AVX-512 F + DQ).
    Avx512,
}

/// The tile level of this process: the widest the host has, capped by `KILN_CPU_WIDE`
/// (`0`: none, `avx2`: at most AVX2; the switch that lets a benchmark compare the forms).
/// Read once per process.
pub fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = std::env::var("KILN_CPU_WIDE").ok();
        let host = host_level();
        match cap.as_deref() {
            Some("0") => Level::None,
            Some("avx2") if host == Level::Avx512 => Level::Avx2,
            _ => host,
        }
    })
}

/// Whether kernels use tile routines at all.
pub fn enabled() -> bool {
    level() != Level::None
}

/// The tile levels the host runs, narrowest first (empty: none).
pub fn host_levels() -> Vec<Level> {
    match host_level() {
        Level::None => vec![],
        Level::Avx2 => vec![Level::Avx2],
        Level::Avx512 => vec![Level::Avx2, Level::Avx512],
    }
}

/// The widest level the host runs, probed once per process.
fn host_level() -> Level {
    static HOST: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *HOST.get_or_init(probe_host_level)
}

fn probe_host_level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx2;
        }
        Level::None
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Level::None
    }
}

/// The ISA-flag entry naming the tile form (`kiln_wide=avx512`, `avx2` or `none`): the same
/// symbol runs another width in another process, so artifacts record which.
pub(crate) fn isa_flag() -> &'static str {
    match level() {
        Level::None => "kiln_wide=none",
        Level::Avx2 => "kiln_wide=avx2",
        Level::Avx512 => "kiln_wide=avx512",
    }
}

/// `(symbol, address)` of every routine this process can run, for the JIT's symbol table.
pub(crate) fn symbols() -> Vec<(&'static str, *const u8)> {
    Routine::ALL
        .into_iter()
        .filter_map(|r| Some((r.symbol(), r.entry()? as *const u8)))
        .collect()
}
