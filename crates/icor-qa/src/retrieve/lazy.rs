//! A retriever opened on its first search. A resumed run whose questions are all in its
//! retrieval cache never searches, so it need not open the retriever at all: for the dense
//! retriever on a machine without its embedding cache, opening means encoding the whole
//! corpus (about half an hour on 2 cores).

use std::cell::{Cell, OnceCell};
use std::time::Instant;

use super::{Retriever, RetrieverKind, ScoredRow};
use crate::error::Result;

/// `kind`'s retriever, opened by `open` when first searched.
pub struct LazyRetriever<'a> {
    kind: RetrieverKind,
    open: Box<dyn Fn() -> Result<Box<dyn Retriever>> + 'a>,
    opened: OnceCell<Box<dyn Retriever>>,
    open_seconds: Cell<Option<f64>>,
}

impl<'a> LazyRetriever<'a> {
    /// A retriever of `kind` that `open` opens on the first search.
    pub fn new(kind: RetrieverKind, open: impl Fn() -> Result<Box<dyn Retriever>> + 'a) -> Self {
        Self {
            kind,
            open: Box::new(open),
            opened: OnceCell::new(),
            open_seconds: Cell::new(None),
        }
    }

    /// The wall time opening took, once opened.
    pub fn open_seconds(&self) -> Option<f64> {
        self.open_seconds.get()
    }

    /// Whether a search has opened it.
    pub fn is_open(&self) -> bool {
        self.opened.get().is_some()
    }

    fn get(&self) -> Result<&dyn Retriever> {
        if let Some(r) = self.opened.get() {
            return Ok(r.as_ref());
        }
        let started = Instant::now();
        let r = (self.open)()?;
        self.open_seconds.set(Some(started.elapsed().as_secs_f64()));
        Ok(self.opened.get_or_init(|| r).as_ref())
    }
}

impl Retriever for LazyRetriever<'_> {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn search_batch(&self, queries: &[&str], k: usize) -> Result<Vec<Vec<ScoredRow>>> {
        self.get()?.search_batch(queries, k)
    }

    fn warm(&self) -> Result<()> {
        self.get().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    struct Fixed;
    impl Retriever for Fixed {
        fn name(&self) -> &'static str {
            "bm25"
        }
        fn search_batch(&self, queries: &[&str], _k: usize) -> Result<Vec<Vec<ScoredRow>>> {
            Ok(queries.iter().map(|_| Vec::new()).collect())
        }
    }

    /// Nothing is opened until the first search, and then once.
    #[test]
    fn opens_on_the_first_search_only() {
        let opened = Cell::new(0);
        let lazy = LazyRetriever::new(RetrieverKind::Bm25, || {
            opened.set(opened.get() + 1);
            Ok(Box::new(Fixed) as Box<dyn Retriever>)
        });
        assert_eq!(
            (lazy.name(), lazy.is_open(), opened.get()),
            ("bm25", false, 0)
        );
        lazy.search_batch(&["a", "b"], 3).unwrap();
        lazy.search("c", 3).unwrap();
        assert!(lazy.is_open());
        assert_eq!(opened.get(), 1);
    }
}
