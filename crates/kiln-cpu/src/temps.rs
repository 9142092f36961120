//! Which block each temporary of a launch lives in: temporaries whose lifetimes do not overlap
//! share one (see `kiln_sched::Lifetime`).
//!
//! Without sharing a model needs one block per temporary, dozens per call: more than the
//! buffer pool keeps, so every call mapped fresh memory, and the kernels spent a third of a
//! MobileNetV2 inference in page faults zeroing it. With sharing, a chain of layers needs about
//! as many blocks as activations alive at once, and they come back warm from the pool.
use kiln_sched::Lifetime;

/// The blocks of one launch and the block of each temporary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TempPlan {
    /// Bytes of each block: the largest temporary placed in it.
    pub block_bytes: Vec<usize>,
    /// The block of each buffer (`None`: not a temporary any step touches).
    pub block_of: Vec<Option<usize>>,
}

/// Places `lifetimes` (ordered by first use, as `Program::temp_lifetimes` returns them) of
/// buffers of `bytes` each. Greedy: a temporary takes the smallest free block that holds it,
/// else grows the largest free one, else opens a new one.
pub(crate) fn plan(lifetimes: &[Lifetime], bytes: &[usize]) -> TempPlan {
    let mut block_bytes: Vec<usize> = Vec::new();
    // The last step that uses each block's current occupant.
    let mut busy_until: Vec<usize> = Vec::new();
    let mut block_of = vec![None; bytes.len()];
    for l in lifetimes {
        let size = bytes[l.buf as usize];
        let free = (0..block_bytes.len()).filter(|&b| busy_until[b] < l.first);
        let fitting = free
            .clone()
            .filter(|&b| block_bytes[b] >= size)
            .min_by_key(|&b| block_bytes[b]);
        let block = match fitting.or_else(|| free.max_by_key(|&b| block_bytes[b])) {
            Some(b) => b,
            None => {
                block_bytes.push(0);
                busy_until.push(0);
                block_bytes.len() - 1
            }
        };
        block_bytes[block] = block_bytes[block].max(size);
        busy_until[block] = l.last;
        block_of[l.buf as usize] = Some(block);
    }
    TempPlan {
        block_bytes,
        block_of,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(buf: u32, first: usize, last: usize) -> Lifetime {
        Lifetime { buf, first, last }
    }

    #[test]
    fn a_chain_alternates_between_two_blocks() {
        // b0 written by step 0, read by 1; b1 written by 1, read by 2; ...
        let lifetimes: Vec<Lifetime> = (0..6)
            .map(|i| life(i, i as usize, i as usize + 1))
            .collect();
        let p = plan(&lifetimes, &[100; 6]);
        assert_eq!(p.block_bytes.len(), 2);
        assert_eq!(
            p.block_of,
            vec![Some(0), Some(1), Some(0), Some(1), Some(0), Some(1)]
        );
    }

    #[test]
    fn overlapping_temporaries_never_share_and_blocks_fit_their_largest() {
        let lifetimes = [life(0, 0, 3), life(1, 1, 2), life(2, 3, 4), life(3, 4, 5)];
        let bytes = [10, 20, 30, 5];
        let p = plan(&lifetimes, &bytes);
        for a in &lifetimes {
            for b in &lifetimes {
                let overlap = a.first <= b.last && b.first <= a.last;
                if a.buf != b.buf && overlap {
                    assert_ne!(p.block_of[a.buf as usize], p.block_of[b.buf as usize]);
                }
            }
        }
        for l in &lifetimes {
            let block = p.block_of[l.buf as usize].unwrap();
            assert!(p.block_bytes[block] >= bytes[l.buf as usize]);
        }
        // b2 (from step 3) reuses b1's block (free after step 2), grown to 30 bytes.
        assert_eq!(p.block_of[2], p.block_of[1]);
        assert_eq!(p.block_bytes[p.block_of[2].unwrap()], 30);
    }

    #[test]
    fn buffers_without_a_lifetime_get_no_block() {
        let p = plan(&[life(1, 0, 0)], &[8, 8, 8]);
        assert_eq!(p.block_of, vec![None, Some(0), None]);
    }
}
