//! Batches of independent runs (`armhil test` over many scenes, `armhil fuzz-faults`
//! over many seeds), spread across cores. Each run is a lockstep simulation on its
//! own thread; results come back in input order, so output is the same whatever the
//! number of workers.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Worker threads to use: `jobs`, or one per core when 0.
pub fn workers(jobs: usize) -> usize {
    if jobs > 0 {
        jobs
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Applies `f` to every item on `jobs` threads; `done(k, &result)` is called (from
/// the worker) as each finishes, for progress. Results are in input order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
    done: impl Fn(usize, &R) + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers(jobs).min(items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(k) else { break };
                    let r = f(item);
                    done(k, &r);
                    if let Ok(mut o) = out.lock() {
                        o[k] = Some(r);
                    }
                }
            });
        }
    });
    out.into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_input_order_whatever_the_workers() {
        let items: Vec<u64> = (0..50).collect();
        for jobs in [1, 3, 8] {
            let out = super::parallel_map(&items, jobs, |x| x * x, |_, _| {});
            assert_eq!(out, items.iter().map(|x| x * x).collect::<Vec<_>>());
        }
    }
}
