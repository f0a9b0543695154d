//! Work spread over the cores with nothing but `std::thread::scope`: the passes of verify
//! and restore are independent jobs per path or per package, disk- or decompression-bound.
//! How many threads a pass uses is decided here, once, by [`threads`].

use std::sync::Mutex;

/// The threads a pass over `items` jobs runs on: `asked` (`--threads`, 0 = one per available
/// core), never more than there are items, and at least one.
pub fn threads(asked: usize, items: usize) -> usize {
    let wanted = match asked {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    wanted.min(items).max(1)
}

/// Runs `work` on every item on [`threads`]`(threads, items.len())` threads and returns the
/// results in the input order.
pub fn map<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let total = items.len();
    let threads = self::threads(threads, total);
    // Popped from the back: reverse so the first items start first.
    let queue = Mutex::new(items.into_iter().enumerate().rev().collect::<Vec<_>>());
    let results = Mutex::new(Vec::with_capacity(total));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                let Some((index, item)) = next else { break };
                let result = work(item);
                if let Ok(mut results) = results.lock() {
                    results.push((index, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}

/// [`map`], started with the largest items (by `size`) so that no thread is left alone with
/// a big one at the end; the results still come in the input order.
pub fn map_largest_first<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    size: impl Fn(&T) -> u64,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let mut items: Vec<(usize, T)> = items.into_iter().enumerate().collect();
    items.sort_by_key(|(_, item)| std::cmp::Reverse(size(item)));
    let mut results = map(items, threads, |(at, item)| (at, work(item)));
    results.sort_by_key(|(at, _)| *at);
    results.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_first_keeps_the_input_order() {
        let items: Vec<u64> = vec![3, 9, 1, 7, 7, 0, 12];
        let out = map_largest_first(items.clone(), 2, |n| *n, |n| n * 10);
        assert_eq!(out, items.iter().map(|n| n * 10).collect::<Vec<_>>());
    }

    #[test]
    fn order_is_kept() {
        for asked in [0, 1, 3, 500] {
            let out = map((0..100).collect(), asked, |n: i32| n * 2);
            assert_eq!(out, (0..100).map(|n| n * 2).collect::<Vec<_>>());
        }
        assert!(map(Vec::<i32>::new(), 0, |n| n).is_empty());
    }

    #[test]
    fn threads_are_the_number_asked_or_one_per_core_never_more_than_the_items() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(threads(0, 10_000), cores);
        assert_eq!(threads(0, 1), 1);
        assert_eq!(threads(3, 10_000), 3);
        assert_eq!(
            threads(64, 10_000),
            64,
            "the number asked, even above the cores"
        );
        assert_eq!(threads(8, 5), 5, "never more threads than items");
        assert_eq!(threads(0, 0), 1, "one thread even for no items");
        assert_eq!(threads(4, 0), 1);
    }
}
