//! Limits on sign-ups per address, so one address cannot squat names or
//! groups by the thousand (each is a row kept until the operator removes
//! it), while a room full of people behind one NAT can still all sign up.
//!
//! Only what creates a row costs a token: the first hello under a name
//! nobody holds, and a join that creates a group. A hello under a known
//! name and a join of an existing group are never limited. Each kind has a
//! token bucket per address; see `docs/security.md` for the defaults.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::{Limits, blocking, lock, rate::TokenBucket};
use crate::{
    protocol::{ErrorBody, ErrorCode},
    store::{NameClaim, Store},
};

/// Addresses tracked per kind at most: about 100 bytes each, so a few MiB
/// whatever happens. See [`Buckets::make_room`] for what happens beyond.
const MAX_ADDRESSES: usize = 65_536;
/// How often buckets that have filled up again are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The sign-up limits of one server.
#[derive(Debug)]
pub(crate) struct Signups {
    names: PerAddress,
    groups: PerAddress,
}

impl Signups {
    pub fn new(limits: &Limits) -> Self {
        Self {
            names: PerAddress::new(
                "names",
                limits.new_names_per_minute,
                limits.new_name_burst,
                MAX_ADDRESSES,
            ),
            groups: PerAddress::new(
                "groups",
                limits.new_groups_per_minute,
                limits.new_group_burst,
                MAX_ADDRESSES,
            ),
        }
    }

    /// Checks `secret_hash` against `name`, pinning the name to it if it is
    /// new and `ip` may create a name now. A new name's token is taken
    /// before the claim, so a refused name leaves nothing behind; if another
    /// connection claims the same name in between, the claim reports that
    /// and the token is simply spent.
    pub async fn claim_name(
        &self,
        store: &Arc<dyn Store>,
        ip: IpAddr,
        name: &str,
        secret_hash: [u8; 32],
    ) -> Result<NameClaim, ErrorBody> {
        let (verify, name) = (store.clone(), name.to_owned());
        let (known, name) =
            blocking(move || verify.verify_name(&name, &secret_hash).map(|c| (c, name))).await?;
        if let Some(claim) = known {
            return Ok(claim);
        }
        self.names.take(ip, now())?;
        let store = store.clone();
        blocking(move || store.claim_name(&name, &secret_hash)).await
    }

    /// Takes a token for a new group from `ip`.
    pub fn new_group(&self, ip: IpAddr) -> Result<(), ErrorBody> {
        self.groups.take(ip, now())
    }
}

/// Tokio's clock, so tests with paused time move the buckets too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One kind of sign-up: a token bucket per address.
#[derive(Debug)]
struct PerAddress {
    /// What is limited, for the error message: "names" or "groups".
    what: &'static str,
    per_second: f64,
    burst: u32,
    max_addresses: usize,
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    by_address: HashMap<Address, TokenBucket>,
    /// When to forget full buckets next.
    next_sweep: Instant,
    /// While every slot is in use: the soonest a bucket can fill up, so
    /// refused addresses do not each sweep in vain.
    no_room_until: Instant,
}

impl PerAddress {
    fn new(what: &'static str, per_minute: u32, burst: u32, max_addresses: usize) -> Self {
        Self {
            what,
            per_second: f64::from(per_minute) / 60.0,
            burst,
            max_addresses,
            buckets: Mutex::new(Buckets {
                by_address: HashMap::new(),
                next_sweep: Instant::now(),
                no_room_until: Instant::now(),
            }),
        }
    }

    fn take(&self, ip: IpAddr, now: Instant) -> Result<(), ErrorBody> {
        let address = Address::of(ip);
        let mut buckets = lock(&self.buckets);
        let taken = if buckets.by_address.contains_key(&address) {
            Ok(())
        } else {
            buckets.make_room(now, self.max_addresses)
        }
        .and_then(|()| {
            buckets
                .by_address
                .entry(address)
                .or_insert_with(|| TokenBucket::with_rate(self.per_second, self.burst, now))
                .take_at(now)
        });
        taken.map_err(|wait| {
            ErrorBody::new(
                ErrorCode::RateLimited,
                format!(
                    "too many new {} from your address; try again in {} s",
                    self.what,
                    wait.as_secs_f64().ceil().max(1.0)
                ),
            )
        })
    }
}

impl Buckets {
    /// Forgets the buckets that have filled up again (a full bucket is the
    /// same as none), once a minute and whenever every slot is in use.
    /// When none can be forgotten, the new address must wait for the soonest
    /// to fill: a flood from very many addresses then holds new sign-ups
    /// back for a while, rather than growing the server's memory or wiping
    /// the buckets it is limited by.
    fn make_room(&mut self, now: Instant, max: usize) -> Result<(), Duration> {
        if self.by_address.len() < max {
            if now < self.next_sweep {
                return Ok(());
            }
        } else if now < self.no_room_until {
            return Err(self.no_room_until - now);
        }
        let mut soonest = SWEEP_EVERY;
        self.by_address.retain(|_, bucket| {
            let wait = bucket.full_in(now);
            soonest = soonest.min(wait);
            !wait.is_zero()
        });
        self.by_address.shrink_to(self.by_address.len() * 2);
        self.next_sweep = now + SWEEP_EVERY;
        if self.by_address.len() < max {
            Ok(())
        } else {
            self.no_room_until = now + soonest;
            Err(soonest)
        }
    }
}

/// What one client is counted by: an IPv4 address, or the /64 network of an
/// IPv6 address. An IPv6 host usually has a whole /64 to itself and picks
/// new addresses in it at will (privacy addresses), so counting single
/// IPv6 addresses would not limit anyone; the /64 is what one subscriber
/// gets, as one IPv4 address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Address {
    V4(Ipv4Addr),
    V6Network(u64),
}

impl Address {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(ip) => Address::V4(ip),
            IpAddr::V6(ip) => Address::V6Network((ip.to_bits() >> 64) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn allows_a_burst_then_the_rate_and_says_when_to_retry() {
        let names = PerAddress::new("names", 6, 3, 10);
        let start = Instant::now();
        let room = ip("192.0.2.7");
        assert!((0..3).all(|_| names.take(room, start).is_ok()));
        let refused = names.take(room, start).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert_eq!(
            refused.message,
            "too many new names from your address; try again in 10 s"
        );
        let later = start + Duration::from_secs(10);
        assert!(names.take(room, later).is_ok());
        assert!(names.take(room, later).is_err());
        assert!(
            names.take(ip("192.0.2.8"), later).is_ok(),
            "another address"
        );
    }

    #[test]
    fn counts_an_ipv6_network_as_one_address() {
        let groups = PerAddress::new("groups", 1, 1, 10);
        let start = Instant::now();
        assert!(groups.take(ip("2001:db8:1:2::1"), start).is_ok());
        let refused = groups.take(ip("2001:db8:1:2:ffff::9"), start).unwrap_err();
        assert!(refused.message.starts_with("too many new groups"));
        assert!(groups.take(ip("2001:db8:1:3::1"), start).is_ok());
        assert!(groups.take(ip("192.0.2.1"), start).is_ok());
        assert!(
            groups.take(ip("::ffff:192.0.2.1"), start).is_err(),
            "an IPv4-mapped address is its IPv4 address"
        );
    }

    #[test]
    fn forgets_buckets_that_filled_up_again() {
        let names = PerAddress::new("names", 60, 2, 10);
        let start = Instant::now();
        names.take(ip("192.0.2.1"), start).unwrap();
        names.take(ip("192.0.2.2"), start).unwrap();
        names.take(ip("192.0.2.2"), start).unwrap();
        let tracked = || lock(&names.buckets).by_address.len();
        assert_eq!(tracked(), 2);
        // A minute on, both are full again; the next new address sweeps.
        names.take(ip("192.0.2.3"), start + SWEEP_EVERY).unwrap();
        assert_eq!(tracked(), 1);
    }

    #[test]
    fn a_full_table_holds_new_addresses_back_until_a_bucket_fills() {
        // One a minute, two addresses at most.
        let names = PerAddress::new("names", 1, 1, 2);
        let start = Instant::now();
        names.take(ip("192.0.2.1"), start).unwrap();
        let soon = start + Duration::from_secs(20);
        names.take(ip("192.0.2.2"), soon).unwrap();
        let refused = names.take(ip("192.0.2.3"), soon).unwrap_err();
        // The first address's bucket is full again at 60 s.
        assert!(
            refused.message.ends_with("try again in 40 s"),
            "{}",
            refused.message
        );
        // Known addresses go on as before.
        assert!(names.take(ip("192.0.2.1"), soon).is_err());
        let filled = start + Duration::from_secs(61);
        assert!(names.take(ip("192.0.2.3"), filled).is_ok());
        assert!(names.take(ip("192.0.2.4"), filled).is_err());
    }
}
