//! Ranks as threads, for data-parallel tests without MPI: [`Threads`] is a
//! [`bprop::dist::Collective`] whose sums add the ranks' buffers in rank order.

use bprop::dist::Collective;
use std::sync::{Arc, Barrier, Mutex};

/// Ranks as threads: each deposits its buffer, all wait, each sums the deposits in rank
/// order (the same bits on every rank), all wait again before the slots are reused.
pub struct Threads {
    rank: usize,
    size: usize,
    slots: Arc<Mutex<Vec<Vec<f64>>>>,
    barrier: Arc<Barrier>,
}

impl Threads {
    pub fn group(size: usize) -> Vec<Threads> {
        let slots = Arc::new(Mutex::new(vec![Vec::new(); size]));
        let barrier = Arc::new(Barrier::new(size));
        (0..size)
            .map(|rank| Threads {
                rank,
                size,
                slots: slots.clone(),
                barrier: barrier.clone(),
            })
            .collect()
    }

    /// Every rank's buffer, in rank order.
    fn exchange(&self, buf: &[f64]) -> Vec<Vec<f64>> {
        self.slots.lock().unwrap()[self.rank] = buf.to_vec();
        self.barrier.wait();
        let all = self.slots.lock().unwrap().clone();
        self.barrier.wait();
        all
    }
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn sum_f32(&self, buf: &mut [f32]) -> bprop::Result<()> {
        let all = self.exchange(&buf.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        for (i, v) in buf.iter_mut().enumerate() {
            *v = all.iter().map(|b| b[i] as f32).fold(0.0, |s, x| s + x);
        }
        Ok(())
    }
    fn sum_f64(&self, buf: &mut [f64]) -> bprop::Result<()> {
        let all = self.exchange(buf);
        for (i, v) in buf.iter_mut().enumerate() {
            *v = all.iter().map(|b| b[i]).fold(0.0, |s, x| s + x);
        }
        Ok(())
    }
    fn broadcast_f64(&self, buf: &mut [f64]) -> bprop::Result<()> {
        let all = self.exchange(buf);
        buf.copy_from_slice(&all[0]);
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        panic!("rank {} aborted with {code}", self.rank)
    }
}
