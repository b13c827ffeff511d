//! Who is in which group, and what everything is called.
//!
//! Clients are spread evenly over the groups: each has a *home* group,
//! which it opens through its hello; its first member creates it. With
//! `groups_per_client` = K above 1, every client is also in the K − 1
//! groups after its home (wrapping around), which it joins with
//! `join_group`. So each group holds its own home members and those of the
//! K − 1 groups before it, and every group's conversation has about
//! K × clients ÷ groups members, however the clients are split.

/// Group membership of one run.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Home members of each group.
    sizes: Vec<usize>,
    per_client: usize,
}

impl Layout {
    /// `clients` spread over `groups` (at least one), each client in
    /// `per_client` of them (at least one, at most `groups`).
    pub fn new(clients: usize, groups: usize, per_client: usize) -> Self {
        debug_assert!(groups > 0 && (1..=groups).contains(&per_client));
        Self {
            sizes: (0..groups)
                .map(|g| clients / groups + usize::from(g < clients % groups))
                .collect(),
            per_client,
        }
    }

    pub fn groups(&self) -> usize {
        self.sizes.len()
    }

    pub fn per_client(&self) -> usize {
        self.per_client
    }

    /// How many clients have group `g` as their home.
    pub fn home_members(&self, g: usize) -> usize {
        self.sizes[g]
    }

    /// The groups of a client whose home is `home`, home first; a
    /// client's *slot* in a group is its position in this list.
    pub fn groups_of(&self, home: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.per_client).map(move |slot| (home + slot) % self.groups())
    }

    /// Where group `g` is in the list of a client whose home is `home`,
    /// or `None` if that client is not in it.
    pub fn slot(&self, home: usize, g: usize) -> Option<usize> {
        let slot = (g + self.groups() - home % self.groups()) % self.groups();
        (g < self.groups() && slot < self.per_client).then_some(slot)
    }

    /// The members of group `g`'s conversation: everyone a message posted
    /// there reaches.
    pub fn members(&self, g: usize) -> usize {
        (0..self.per_client)
            .map(|slot| self.sizes[self.home_before(g, slot)])
            .sum()
    }

    /// The clients that join group `g` with `join_group`, as (home,
    /// member) pairs: everyone in it but its home members.
    pub fn joiners(&self, g: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        (1..self.per_client).flat_map(move |slot| {
            let home = self.home_before(g, slot);
            (0..self.sizes[home]).map(move |m| (home, m))
        })
    }

    /// The home of the clients for which group `g` is in slot `slot`.
    fn home_before(&self, g: usize, slot: usize) -> usize {
        (g + self.groups() - slot) % self.groups()
    }
}

/// The name of group `g` of the run tagged `tag`.
pub(crate) fn group_name(tag: &str, g: usize) -> String {
    format!("{tag}-g{g}")
}

/// The name of member `m` of home group `g`.
pub(crate) fn member_name(tag: &str, g: usize, m: usize) -> String {
    format!("{}-m{m}", group_name(tag, g))
}

/// Reads a name written by [`group_name`] with this run's tag, in place.
pub(crate) fn group_index(tag: &[u8; 8], conv: &[u8]) -> Option<usize> {
    let digits = conv.strip_prefix(&tag[..])?.strip_prefix(b"-g")?;
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.iter().try_fold(0_usize, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + usize::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_holds_its_home_members_and_its_joiners() {
        for (clients, groups, k) in [(1000, 100, 10), (10, 3, 3), (7, 3, 2), (8, 2, 1)] {
            let layout = Layout::new(clients, groups, k);
            let mut seen = vec![0_usize; groups];
            for home in 0..groups {
                let mine: Vec<usize> = layout.groups_of(home).collect();
                assert_eq!(mine.len(), k);
                for (slot, &g) in mine.iter().enumerate() {
                    assert_eq!(layout.slot(home, g), Some(slot));
                    seen[g] += layout.home_members(home);
                }
                let outside = (0..groups).filter(|g| !mine.contains(g));
                for g in outside {
                    assert_eq!(layout.slot(home, g), None);
                }
            }
            for (g, &count) in seen.iter().enumerate() {
                assert_eq!(layout.members(g), count, "{clients} {groups} {k} g{g}");
                let joiners = layout.joiners(g).count();
                assert_eq!(joiners + layout.home_members(g), count);
                for (home, _) in layout.joiners(g) {
                    assert!(layout.slot(home, g).is_some_and(|slot| slot > 0));
                }
            }
            assert_eq!(seen.iter().sum::<usize>(), clients * k);
        }
    }

    #[test]
    fn group_names_read_back_without_allocating() {
        let name = group_name("0badf00d", 4021);
        assert_eq!(group_index(b"0badf00d", name.as_bytes()), Some(4021));
        assert_eq!(group_index(b"feedbeef", name.as_bytes()), None);
        for foreign in [
            "0badf00d-g",
            "0badf00d-gx1",
            "0badf00d-m1",
            "0badf00d-g1+ann",
        ] {
            assert_eq!(
                group_index(b"0badf00d", foreign.as_bytes()),
                None,
                "{foreign}"
            );
        }
        assert_eq!(member_name("0badf00d", 3, 7), "0badf00d-g3-m7");
    }
}
