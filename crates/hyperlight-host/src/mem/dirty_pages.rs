//! `DirtyPages`: a set of page numbers with O(1) insert and O(written) iteration and
//! clearing, allocated once.
//!
//! The host marks every page it writes (a call frame, a reply, the seed), and a
//! restore puts back exactly those and the guest's. A `BTreeSet` did this with a
//! heap allocation per new page and per restore; a bitmap for membership and a list
//! for order need none after the first calls.

/// Pages, each at most once.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirtyPages {
    /// One bit per page of memory.
    bits: Vec<u64>,
    /// The pages set, in the order they were first set.
    list: Vec<u64>,
    /// Pages of memory: the set holds `0..pages`.
    pages: u64,
}

impl DirtyPages {
    /// An empty set for `pages` pages.
    pub(crate) fn new(pages: u64) -> DirtyPages {
        let words = usize::try_from(pages.div_ceil(64)).unwrap_or(0);
        DirtyPages { bits: vec![0; words], list: Vec::with_capacity(64), pages }
    }

    /// Adds `page` (a page outside the set's range is ignored: no such page exists).
    pub(crate) fn insert(&mut self, page: u64) {
        if page >= self.pages {
            return;
        }
        let (Ok(word), bit) = (usize::try_from(page / 64), page % 64) else { return };
        let Some(w) = self.bits.get_mut(word) else { return };
        if *w & (1 << bit) == 0 {
            *w |= 1 << bit;
            self.list.push(page);
        }
    }

    /// The pages in the set.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.list.iter().copied()
    }

    /// How many pages are in the set.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Empties the set, keeping its memory.
    pub(crate) fn clear(&mut self) {
        for &page in &self.list {
            if let Some(w) = usize::try_from(page / 64).ok().and_then(|i| self.bits.get_mut(i)) {
                *w = 0;
            }
        }
        self.list.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_page_once_and_clearing_keeps_nothing() {
        let mut d = DirtyPages::new(200);
        for p in [3, 130, 3, 64, 199, 200, 130] {
            d.insert(p);
        }
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![3, 130, 64, 199], "200 is outside");
        d.clear();
        assert_eq!(d.len(), 0);
        d.insert(130);
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![130]);
    }
}
