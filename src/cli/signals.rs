//! SIGINT, SIGTERM and SIGHUP during training: the first one raises the trainer's stop
//! flag (training stops after the epoch or chunk in progress, then the model is saved and
//! the summary printed as usual) and is remembered, so that the process then exits with
//! 128 + its number (130, 143, 129); a second one ends the process at once with 128 + its
//! number. `timeout`, `docker stop`, systemd and Slurm send SIGTERM, a closed terminal
//! SIGHUP. A signal that was ignored when bprop started (`nohup`, a background job) stays
//! ignored.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

/// The first signal received while the handlers were installed, 0 for none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The trainer's stop flag.
static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The signal that stopped the run, if one did.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work here: atomics, write(2), _exit(2).
    if RECEIVED.swap(sig, Ordering::SeqCst) != 0 {
        // SAFETY: _exit is async-signal-safe and ends the process.
        unsafe { libc::_exit(128 + sig) };
    }
    if let Some(flag) = FLAG.get() {
        flag.store(true, Ordering::SeqCst);
    }
    let msg: &[u8] = match sig {
        libc::SIGTERM => {
            b"\nterminated (SIGTERM): stopping after the epoch in progress and saving (send it again to quit now)\n"
        }
        libc::SIGHUP => {
            b"\nhangup (SIGHUP): stopping after the epoch in progress and saving (send it again to quit now)\n"
        }
        _ => b"\ninterrupted: stopping after the epoch in progress and saving (Ctrl-C again to quit now)\n",
    };
    // Under mpirun only rank 0 speaks (an atomic load: async-signal-safe).
    if super::out::is_silent() {
        return;
    }
    // SAFETY: write(2) on fd 2 with a valid buffer; async-signal-safe.
    let _ = unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// Routes SIGINT, SIGTERM and SIGHUP to `flag` (see the module's documentation). Call once
/// per process; a later call changes nothing.
pub fn install(flag: Arc<AtomicBool>) {
    if FLAG.set(flag).is_err() {
        return;
    }
    #[cfg(unix)]
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: plain sigaction calls with zeroed (valid) structures; the handler only
        // does async-signal-safe work.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 || old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrlc::set_handler(|| {
            if RECEIVED.swap(2, Ordering::SeqCst) != 0 {
                std::process::exit(130);
            }
            if let Some(flag) = FLAG.get() {
                flag.store(true, Ordering::SeqCst);
            }
            eprintln!("\ninterrupted: stopping after the epoch in progress and saving (Ctrl-C again to quit now)");
        });
    }
}
