//! [`Mpi`]: MPI's world communicator as a [`Collective`] (rsmpi over the system's MPI).

use super::Collective;
use crate::error::{BpropError, Result};
use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};

/// The ranks `mpirun` started, as a [`Collective`]. It owns MPI's initialisation: MPI is
/// finalised when it is dropped, and cannot be initialised again in the same process.
///
/// MPI's default error handler stays in place (errors are fatal and end the job), so a
/// failed communication ends every rank instead of leaving some waiting; a rank that exits
/// or is killed is reported by `mpirun`, which ends the others.
pub struct Mpi {
    world: SimpleCommunicator,
    node_rank: usize,
    // Declared last: dropped (MPI_Finalize) after the communicators.
    _universe: Universe,
}

impl Mpi {
    /// Initialises MPI and joins its world communicator; the node-local rank comes from
    /// splitting it by shared memory (MPI_Comm_split_type, MPI_COMM_TYPE_SHARED).
    ///
    /// # Errors
    /// [`BpropError::Distributed`] when MPI was already initialised in this process.
    pub fn init() -> Result<Mpi> {
        let universe = mpi::initialize().ok_or_else(|| BpropError::Distributed {
            rank: 0,
            why: "MPI is already initialised in this process".into(),
        })?;
        let world = universe.world();
        let node = world.split_shared(world.rank());
        Ok(Mpi {
            node_rank: node.rank() as usize,
            world,
            _universe: universe,
        })
    }

    /// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`, `srun`
    /// with PMI): Open MPI's `OMPI_COMM_WORLD_SIZE`, or `PMI_SIZE` / `PMIX_RANK` of the
    /// process managers MPICH and Slurm use. Outside one, bprop does not initialise MPI.
    pub fn launched() -> bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
            .iter()
            .any(|v| std::env::var_os(v).is_some())
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn node_rank(&self) -> usize {
        self.node_rank
    }

    fn sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }

    fn sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }

    fn broadcast_f64(&self, buf: &mut [f64]) -> Result<()> {
        self.world.process_at_rank(0).broadcast_into(buf);
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
