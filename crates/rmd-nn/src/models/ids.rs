//! Deterministic parameter ids.
//!
//! burn gives every parameter and running-statistics buffer a random id, and saved records
//! carry those ids. Renumbering them from a counter right after initialisation makes saved
//! records (and so artifact hashes) a function of the seed alone; the optimizer keys its
//! state by the same ids.

use burn::module::{ModuleMapper, Param, ParamId, RunningState};
use burn::nn::BatchNorm;
use burn::tensor::Tensor;

/// Hands out ids from a counter.
#[derive(Debug, Default)]
pub(crate) struct IdAssigner {
    next: u64,
}

impl IdAssigner {
    pub(crate) fn id(&mut self) -> ParamId {
        self.next += 1;
        // Spread the counter over the id space (SplitMix64 finaliser).
        let mut z = self.next.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ParamId::from(z ^ (z >> 31))
    }

    /// New ids for a batch norm's running statistics.
    pub(crate) fn running_stats(&mut self, bn: &mut BatchNorm) {
        bn.running_mean = RunningState::with_id(self.id(), bn.running_mean.value());
        bn.running_var = RunningState::with_id(self.id(), bn.running_var.value());
    }
}

impl ModuleMapper for IdAssigner {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, value, mapper) = param.consume();
        Param::from_mapped_value(self.id(), value, mapper)
    }
}
