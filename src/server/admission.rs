//! Who may connect: a cap on connections in total and per IP address, so
//! one address cannot take every slot.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use crate::protocol::{ErrorBody, ErrorCode};

#[derive(Debug, Clone)]
pub(crate) struct Admission {
    inner: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_ip: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Permit {
    admission: Admission,
    ip: IpAddr,
}

impl Admission {
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            inner: Arc::default(),
            max_total,
            max_per_ip,
        }
    }

    pub fn admit(&self, ip: IpAddr) -> Result<Permit, ErrorBody> {
        let mut counts = self.counts();
        if counts.total >= self.max_total {
            return Err(ErrorBody::new(
                ErrorCode::TooManyConnections,
                "the server is full; try again later",
            ));
        }
        let from_ip = counts.per_ip.entry(ip).or_default();
        if *from_ip >= self.max_per_ip {
            return Err(ErrorBody::new(
                ErrorCode::TooManyConnections,
                format!(
                    "too many connections from {ip} (the limit is {})",
                    self.max_per_ip
                ),
            ));
        }
        *from_ip += 1;
        counts.total += 1;
        Ok(Permit {
            admission: self.clone(),
            ip,
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.admission.counts();
        counts.total -= 1;
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_total() {
        let admission = Admission::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert!(admission.admit(a).is_err());
        let _third = admission.admit(b).unwrap();
        assert_eq!(
            admission.admit(b).unwrap_err().message,
            "the server is full; try again later"
        );
        drop(first);
        assert!(admission.admit(a).is_ok());
    }
}
