//! Independent runs of a sweep on several threads at once.
//!
//! A probe model is small (d ≤ 33, batch 128 in the quick profile): its matrix products stay
//! below the size where burn's `flex` backend splits them across rayon's threads, so one run
//! keeps about one core busy (measured: load ≈ 1.05 on 2 cores through the whole quick sweep).
//! The runs of a sweep — seeds × configurations — share nothing, so they run side by side
//! instead; each run draws all its randomness from its own seed, so its numbers do not depend on
//! how many run at once (test `tests/concurrent.rs`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

/// A budget of runs in flight, shared by every sweep that draws on it: `icor probe all` runs
/// its sweeps side by side on one budget, so the last runs of one sweep do not leave a core
/// idle while the next sweep waits its turn.
#[derive(Debug)]
pub struct Slots {
    n: usize,
    free: Mutex<usize>,
    freed: Condvar,
}

/// A slot taken from [`Slots`], given back when dropped.
pub struct Slot<'a>(&'a Slots);

impl Slots {
    /// `n` runs at most in flight (at least one).
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        Self {
            n,
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    /// The budget.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false: a budget holds at least one slot.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Waits for a free slot and takes it.
    pub fn take(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

/// How many runs to keep in flight on `backend` when the user does not say: every core on
/// the CPU, one on a GPU (whose queue already runs one run's kernels back to back).
pub fn default_jobs(backend: crate::backend::Backend) -> usize {
    match backend {
        crate::backend::Backend::Cpu => std::thread::available_parallelism().map_or(1, |n| n.get()),
        crate::backend::Backend::Wgpu => 1,
    }
}

/// Runs `work` on every job, up to `workers` at a time, and hands each result to `done` on the
/// calling thread as it finishes (completion order; callers that save results sort them).
///
/// The first error stops the hand-out of new jobs; jobs already running finish and reach
/// `done`, so their results are kept, and then the first error is returned. With one worker the
/// jobs run in order on the calling thread.
pub fn for_each<J, R, E>(
    jobs: &[J],
    workers: usize,
    work: impl Fn(&J) -> Result<R, E> + Sync,
    done: impl FnMut(&J, R) -> Result<(), E>,
) -> Result<(), E>
where
    J: Sync,
    R: Send,
    E: Send,
{
    for_each_in(jobs, &Slots::new(workers), work, done)
}

/// [`for_each`] on a shared budget: each job holds a slot of `slots` while it runs, so
/// several callers on the same [`Slots`] keep at most its size in flight between them.
pub fn for_each_in<J, R, E>(
    jobs: &[J],
    slots: &Slots,
    work: impl Fn(&J) -> Result<R, E> + Sync,
    mut done: impl FnMut(&J, R) -> Result<(), E>,
) -> Result<(), E>
where
    J: Sync,
    R: Send,
    E: Send,
{
    let workers = slots.len().clamp(1, jobs.len().max(1));
    if workers == 1 {
        for job in jobs {
            let result = {
                let _slot = slots.take();
                work(job)?
            };
            done(job, result)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Result<R, E>)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    let result = {
                        let _slot = slots.take();
                        work(job)
                    };
                    if result.is_err() {
                        stop.store(true, Ordering::SeqCst);
                    }
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut first_error = None;
        for (i, result) in rx {
            if let Err(e) = result.and_then(|r| done(&jobs[i], r)) {
                stop.store(true, Ordering::SeqCst);
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn callers_on_one_budget_never_exceed_it_between_them() {
        let slots = Slots::new(3);
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let jobs: Vec<u64> = (0..24).collect();
        let work = |&j: &u64| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            now.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, String>(j)
        };
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let mut seen = 0;
                    for_each_in(&jobs, &slots, work, |_, _| {
                        seen += 1;
                        Ok(())
                    })
                    .unwrap();
                    assert_eq!(seen, jobs.len());
                });
            }
        });
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (2..=3).contains(&peak),
            "peak {peak} runs in flight on 3 slots"
        );
    }

    #[test]
    fn every_job_reaches_done_once_whatever_the_worker_count() {
        let jobs: Vec<u64> = (0..37).collect();
        for workers in [1, 2, 3, 8, 100] {
            let mut seen = Vec::new();
            for_each(
                &jobs,
                workers,
                |&j| Ok::<_, String>(j * j),
                |&j, r| {
                    assert_eq!(r, j * j);
                    seen.push(j);
                    Ok(())
                },
            )
            .unwrap();
            seen.sort();
            assert_eq!(seen, jobs, "{workers} workers");
        }
    }

    #[test]
    fn jobs_run_side_by_side() {
        // two workers, each job waits until two jobs are running at once: with one thread
        // this would never finish, so the barrier proves the concurrency
        let barrier = std::sync::Barrier::new(2);
        let jobs = [0, 1];
        for_each(
            &jobs,
            2,
            |_| {
                barrier.wait();
                Ok::<_, String>(())
            },
            |_, ()| Ok(()),
        )
        .unwrap();
    }

    #[test]
    fn the_first_error_stops_new_jobs_and_running_ones_are_kept() {
        let jobs: Vec<u32> = (0..50).collect();
        let started = Mutex::new(Vec::new());
        let mut kept = Vec::new();
        let err = for_each(
            &jobs,
            2,
            |&j| {
                started.lock().unwrap().push(j);
                if j == 3 {
                    Err(format!("job {j} failed"))
                } else {
                    Ok(j)
                }
            },
            |&j, _| {
                kept.push(j);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err, "job 3 failed");
        let started = started.into_inner().unwrap();
        assert!(
            started.len() < jobs.len(),
            "jobs kept starting after the error: {started:?}"
        );
        // every job that started and succeeded was handed to `done`
        kept.sort();
        let mut ok: Vec<u32> = started.into_iter().filter(|&j| j != 3).collect();
        ok.sort();
        assert_eq!(kept, ok);
    }

    #[test]
    fn an_error_of_done_stops_the_sweep() {
        let jobs: Vec<u32> = (0..20).collect();
        let mut calls = 0;
        let err = for_each(
            &jobs,
            1,
            |&j| Ok(j),
            |&j, _| {
                calls += 1;
                if j == 4 { Err("cannot save") } else { Ok(()) }
            },
        )
        .unwrap_err();
        assert_eq!((err, calls), ("cannot save", 5));
    }
}
