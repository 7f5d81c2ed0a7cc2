//! A cancellation token shared by a request and all the work it started:
//! synchronous code polls [`CancelToken::is_canceled`] between units of
//! work, asynchronous code awaits [`CancelToken::canceled`]. Kept here
//! (without an async runtime) so the read interface of the model layer can
//! carry it to every storage, local or remote.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    canceled: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every holder of this token; idempotent.
    pub fn cancel(&self) {
        if self.inner.canceled.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiters = std::mem::take(&mut *lock(&self.inner.waiters));
        for w in waiters {
            w.wake();
        }
    }

    pub fn is_canceled(&self) -> bool {
        self.inner.canceled.load(Ordering::Acquire)
    }

    /// Completes once the token is canceled.
    pub fn canceled(&self) -> Canceled<'_> {
        Canceled { token: self }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("canceled", &self.is_canceled())
            .finish()
    }
}

/// The future of [`CancelToken::canceled`].
pub struct Canceled<'a> {
    token: &'a CancelToken,
}

impl Future for Canceled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.token.is_canceled() {
            return Poll::Ready(());
        }
        {
            let mut waiters = lock(&self.token.inner.waiters);
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
        }
        // Canceled between the first check and registering: `cancel` may
        // have drained the list before our waker was in it.
        if self.token.is_canceled() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Cancels the token when dropped: held by a request handler so that a
/// client going away (the handler's future dropped) stops the work.
pub struct CancelOnDrop(pub CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn cancel_is_seen_by_clones_and_wakes_waiters() {
        let token = CancelToken::new();
        let clone = token.clone();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = Box::pin(clone.canceled());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(!clone.is_canceled());
        token.cancel();
        token.cancel();
        assert!(clone.is_canceled());
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "woken once");
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn cancel_on_drop() {
        let token = CancelToken::new();
        drop(CancelOnDrop(token.clone()));
        assert!(token.is_canceled());
    }
}
