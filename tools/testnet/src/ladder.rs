//! The named link conditions every scenario and benchmark picks from, as rows:
//! the link between a member and its network's router. `down` is toward the
//! member, `up` from it; delays are one way (a round trip over one such link is
//! twice the delay, across two home links four times).
//!
//! | row       | delay  | jitter | loss  | down     | up       |
//! |-----------|--------|--------|-------|----------|----------|
//! | lan       | 0.5 ms | 0      | 0     | no limit | no limit |
//! | good-wifi | 3 ms   | 1 ms   | 0.1 % | 50 Mbit  | 50 Mbit  |
//! | dsl       | 12 ms  | 2 ms   | 0.1 % | 16 Mbit  | 2 Mbit   |
//! | cell      | 35 ms  | 10 ms  | 0.5 % | 10 Mbit  | 3 Mbit   |
//! | satellite | 300 ms | 15 ms  | 1 %   | 20 Mbit  | 3 Mbit   |
//! | lossy     | 50 ms  | 10 ms  | 5 %   | 5 Mbit   | 5 Mbit   |

use crate::link::Conditions;
use crate::testnet::LinkSpec;

/// (name, down, up) in [`Conditions::parse`] form.
pub const ROWS: &[(&str, &str, &str)] = &[
    ("lan", "delay=500us", "delay=500us"),
    (
        "good-wifi",
        "delay=3ms,jitter=1ms,loss=0.1%,rate=50mbit",
        "delay=3ms,jitter=1ms,loss=0.1%,rate=50mbit",
    ),
    (
        "dsl",
        "delay=12ms,jitter=2ms,loss=0.1%,rate=16mbit",
        "delay=12ms,jitter=2ms,loss=0.1%,rate=2mbit",
    ),
    (
        "cell",
        "delay=35ms,jitter=10ms,loss=0.5%,rate=10mbit",
        "delay=35ms,jitter=10ms,loss=0.5%,rate=3mbit",
    ),
    (
        "satellite",
        "delay=300ms,jitter=15ms,loss=1%,rate=20mbit,queue=1MiB",
        "delay=300ms,jitter=15ms,loss=1%,rate=3mbit,queue=256KiB",
    ),
    (
        "lossy",
        "delay=50ms,jitter=10ms,loss=5%,rate=5mbit",
        "delay=50ms,jitter=10ms,loss=5%,rate=5mbit",
    ),
];

/// The row called `name`.
pub fn row(name: &str) -> Option<LinkSpec> {
    ROWS.iter()
        .find(|r| r.0 == name)
        .map(|(_, down, up)| LinkSpec {
            // The rows are constants checked by the test below.
            down: Conditions::parse(down).expect("ladder row"),
            up: Conditions::parse(up).expect("ladder row"),
        })
}

/// The names, for error messages.
pub fn names() -> Vec<&'static str> {
    ROWS.iter().map(|r| r.0).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_row_parses() {
        for (name, ..) in super::ROWS {
            assert!(super::row(name).is_some(), "{name}");
        }
        assert!(super::row("dialup").is_none());
        assert_eq!(super::row("dsl").unwrap().up.rate_bps, 2_000_000);
    }
}
