//! Progress hooks: called on the caller's thread as results arrive, ending at the total.

mod common;

use common::{LIMIT, within};
use procvisor_pool::{Pool, Progress};
use procvisor_runtime::register;
use std::sync::{Arc, Mutex};

fn double(x: u32) -> u32 {
    2 * x
}
register!(double);

#[test]
fn map_and_imap_report_progress_up_to_the_total() {
    within(LIMIT, "progress", || {
        let pool = Pool::new(2).unwrap();
        let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
        let hook = {
            let seen = seen.clone();
            move |p: Progress| seen.lock().unwrap().push(p)
        };
        let doubled = pool
            .tasks()
            .chunksize(10)
            .on_progress(hook.clone())
            .map(double, 0..100)
            .unwrap();
        assert_eq!(doubled[99], 198);
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 10, "one report per chunk");
            assert!(seen.windows(2).all(|w| w[0].done < w[1].done), "{seen:?}");
            assert_eq!(
                seen.last(),
                Some(&Progress {
                    done: 100,
                    total: Some(100)
                })
            );
        }
        seen.lock().unwrap().clear();
        let count = pool
            .tasks()
            .chunksize(5)
            .on_progress(hook)
            .imap(double, (0..50).filter(|_| true))
            .unwrap()
            .count();
        assert_eq!(count, 50);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.last().map(|p| p.done), Some(50));
        assert_eq!(
            seen.last().and_then(|p| p.total),
            None,
            "a filter's length is unknown"
        );
    });
}
