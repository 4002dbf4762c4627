//! Named parameter sets shared by the training stages (each stage maps a profile to its own
//! parameters: `Profile::pretrain_params`, `Profile::distill_params`).

use crate::backend::BackendKind;

/// A named parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Seconds: a few hundred images, a tiny network (tests use it).
    Smoke,
    /// Sized for a 2-core CPU: small residual networks.
    Cpu,
    /// The cpu profile's networks on the whole training set (all but the 5,000-image
    /// validation split) with a longer schedule, and the cpu RM trained for 30 epochs.
    CpuFull,
    /// The paper's setting: CIFAR ResNet-18 and paper-length schedules (a GPU job).
    Paper,
}

impl Profile {
    /// All profiles, smallest first.
    pub const ALL: [Profile; 4] = [Profile::Smoke, Profile::Cpu, Profile::CpuFull, Profile::Paper];

    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Cpu => "cpu",
            Profile::CpuFull => "cpu-full",
            Profile::Paper => "paper",
        }
    }

    /// The default profile for a backend: paper on a GPU, cpu on the CPU.
    pub fn default_for(backend: BackendKind) -> Profile {
        if backend == BackendKind::Flex { Profile::Cpu } else { Profile::Paper }
    }
}
