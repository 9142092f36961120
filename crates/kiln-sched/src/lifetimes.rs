//! When each temporary buffer is in use, so that a backend can give temporaries whose uses do
//! not overlap the same memory.
//!
//! A program's temporaries are written before they are read (`Program::verify`), and steps run
//! one after another, so a temporary is live from the first step that touches it to the last.
//! Two temporaries whose intervals are disjoint can share one block: the later one is fully
//! written before anything reads it. Sharing keeps a model's working set to the few
//! activations alive at once instead of one block per layer (MobileNetV2: ~60 temporaries).
use crate::ir::{BufId, BufKind, Program, Step};

/// The steps during which a temporary is in use: `first..=last`, indices into
/// [`Program::steps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub buf: BufId,
    pub first: usize,
    pub last: usize,
}

impl Program {
    /// Every temporary some step touches, with its lifetime, ordered by first use.
    pub fn temp_lifetimes(&self) -> Vec<Lifetime> {
        self.temp_lifetimes_with(&[])
    }

    /// As [`Program::temp_lifetimes`], where each step in `joined` runs interleaved with the
    /// step after it (a convolution and its epilogue): buffers either of them touches are live
    /// during both.
    pub fn temp_lifetimes_with(&self, joined: &[usize]) -> Vec<Lifetime> {
        let mut span: Vec<Option<(usize, usize)>> = vec![None; self.buffers.len()];
        for (index, step) in self.steps.iter().enumerate() {
            // A joined pair counts as one step: the index of its first.
            let at = if index > 0 && joined.contains(&(index - 1)) {
                index - 1
            } else {
                index
            };
            for buf in self.step_buffers(step) {
                if let Some(s) = span.get_mut(buf as usize) {
                    *s = Some(s.map_or((at, at), |(first, _)| (first, at)));
                }
            }
        }
        let mut lifetimes: Vec<Lifetime> = span
            .into_iter()
            .enumerate()
            .filter(|(b, _)| self.buffers[*b].kind == BufKind::Temp)
            .filter_map(|(b, s)| {
                s.map(|(first, last)| Lifetime {
                    buf: b as BufId,
                    first,
                    last,
                })
            })
            .collect();
        lifetimes.sort_by_key(|l| (l.first, l.buf));
        lifetimes
    }

    /// The buffers one step reads or writes.
    fn step_buffers(&self, step: &Step) -> Vec<BufId> {
        match step {
            Step::Kernel(i) => self.kernels.get(*i).map_or_else(Vec::new, |k| {
                k.loads()
                    .map(|(b, _)| b)
                    .chain(k.stores.iter().map(|s| s.buf))
                    .collect()
            }),
            Step::Library(call) => {
                let mut bufs = call.reads();
                bufs.push(call.writes());
                bufs
            }
        }
    }
}
