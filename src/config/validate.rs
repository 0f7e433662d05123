//! The checks on every value whose type alone does not make it valid.

use super::*;

impl Config {
    /// What `acorn config show` prints: the tree without `Identity.PrivKey`.
    pub fn to_value_without_private_key(&self) -> Value {
        let mut tree = self.to_value();
        if let Some(Value::Object(identity)) = tree.get_mut("Identity") {
            identity.shift_remove("PrivKey");
        }
        tree
    }

    /// Check every value whose type alone does not make it valid.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &str, reason: impl fmt::Display) -> ConfigError {
            ConfigError::InvalidValue {
                key: key.into(),
                reason: reason.to_string(),
            }
        }
        self.datastore.storage_max_bytes()?;
        self.datastore.gc_period()?;
        self.acorn.min_free_space_bytes()?;
        self.acorn.write_batch_bytes()?;
        self.acorn.db_cache_bytes()?;
        let rm = &self.swarm.resource_mgr;
        for (key, n) in [
            (
                "Swarm.ResourceMgr.MaxPendingInboundConnsPerIP",
                rm.max_pending_inbound_conns_per_ip,
            ),
            (
                "Swarm.ResourceMgr.MaxPendingInboundConnsPerSubnet",
                rm.max_pending_inbound_conns_per_subnet,
            ),
            (
                "Swarm.ResourceMgr.MaxInboundConnsPerIP",
                rm.max_inbound_conns_per_ip,
            ),
            (
                "Swarm.ResourceMgr.MaxInboundConnsPerSubnet",
                rm.max_inbound_conns_per_subnet,
            ),
        ] {
            if n == 0 {
                return Err(invalid(key, "must be at least 1 connection"));
            }
        }
        if self.datastore.storage_gc_watermark > 100 {
            return Err(invalid(
                "Datastore.StorageGCWatermark",
                "must be a percentage, 0 to 100",
            ));
        }
        for (key, list) in [
            ("Addresses.Swarm", &self.addresses.swarm),
            ("Addresses.Announce", &self.addresses.announce),
            ("Addresses.AppendAnnounce", &self.addresses.append_announce),
            ("Addresses.NoAnnounce", &self.addresses.no_announce),
            ("Addresses.API", &self.addresses.api.0),
            ("Addresses.Gateway", &self.addresses.gateway.0),
            ("Swarm.AddrFilters", &self.swarm.addr_filters),
            ("Bootstrap", &self.bootstrap),
        ] {
            for addr in list {
                if !addr.starts_with('/') || addr.len() < 2 {
                    return Err(invalid(
                        key,
                        format!("{addr:?} is not a multiaddr (it must start with '/')"),
                    ));
                }
            }
        }
        for (host, gw) in &self.gateway.public_gateways {
            let key = format!("Gateway.PublicGateways.{host}");
            if host.is_empty() || host.contains(['/', ' ']) || host.contains("://") {
                return Err(invalid(&key, format!("{host:?} is not a host name")));
            }
            for path in gw.iter().flat_map(|g| &g.paths) {
                if !path.starts_with('/') {
                    return Err(invalid(
                        &format!("{key}.Paths"),
                        format!("{path:?} is not a path (it must start with '/')"),
                    ));
                }
            }
        }
        for addr in &self.bootstrap {
            if !addr.contains("/p2p/") && !addr.contains("/ipfs/") {
                return Err(invalid(
                    "Bootstrap",
                    format!("{addr:?} has no /p2p/<peer-id> part"),
                ));
            }
        }
        let cm = &self.swarm.conn_mgr;
        if cm.kind != "basic" && cm.kind != "none" {
            return Err(invalid(
                "Swarm.ConnMgr.Type",
                format!("{:?} is not one of \"basic\", \"none\"", cm.kind),
            ));
        }
        if cm.low_water > cm.high_water {
            return Err(invalid(
                "Swarm.ConnMgr.LowWater",
                format!(
                    "{} is above Swarm.ConnMgr.HighWater ({})",
                    cm.low_water, cm.high_water
                ),
            ));
        }
        self.acorn.bitswap_want_timeout()?;
        self.swarm.resource_mgr.max_memory_bytes()?;
        for (key, value) in [
            ("API.HeadDeadline", &self.api.limits.head_deadline),
            ("API.BodyIdleTimeout", &self.api.limits.body_idle_timeout),
            ("Gateway.HeadDeadline", &self.gateway.limits.head_deadline),
            (
                "Gateway.BodyIdleTimeout",
                &self.gateway.limits.body_idle_timeout,
            ),
            ("Gateway.RetrievalTimeout", &self.gateway.retrieval_timeout),
        ] {
            // Durations are parsed on load; what is left is their range.
            if value.get().is_zero() {
                return Err(invalid(key, "must be above 0"));
            }
        }
        for (name, values) in &self.api.http_headers {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(invalid(
                    "API.HTTPHeaders",
                    format!("{name:?} is not an HTTP header name"),
                ));
            }
            if let Some(v) = values.iter().find(|v| v.chars().any(|c| c.is_control())) {
                return Err(invalid(
                    &format!("API.HTTPHeaders.{name}"),
                    format!("{v:?} holds a control character"),
                ));
            }
        }
        for (key, n) in [
            (
                "API.MaxConcurrentRequests",
                self.api.max_concurrent_requests,
            ),
            (
                "Gateway.MaxConcurrentRequests",
                self.gateway.max_concurrent_requests,
            ),
        ] {
            if n == 0 || n > MAX_CONCURRENT_REQUESTS_LIMIT {
                return Err(invalid(
                    key,
                    format!("{n} is not between 1 and {MAX_CONCURRENT_REQUESTS_LIMIT}"),
                ));
            }
        }
        for (section, limits) in [("API", &self.api.limits), ("Gateway", &self.gateway.limits)] {
            let (max, reserved, per_ip) = (
                limits.max_connections,
                limits.reserved_connections,
                limits.max_connections_per_ip,
            );
            if !(2..=MAX_HTTP_CONNECTIONS_LIMIT).contains(&max) {
                return Err(invalid(
                    &format!("{section}.MaxConnections"),
                    format!("{max} is not between 2 and {MAX_HTTP_CONNECTIONS_LIMIT}"),
                ));
            }
            if reserved >= max {
                return Err(invalid(
                    &format!("{section}.ReservedConnections"),
                    format!("{reserved} is not below {section}.MaxConnections ({max})"),
                ));
            }
            if per_ip == 0 {
                return Err(invalid(
                    &format!("{section}.MaxConnectionsPerIP"),
                    "must be above 0",
                ));
            }
        }
        let threads = self.acorn.blocking_threads;
        if threads == 0 || threads > MAX_BLOCKING_THREADS_COUNT {
            return Err(invalid(
                "Acorn.BlockingThreads",
                format!("{threads} is not between 1 and {MAX_BLOCKING_THREADS_COUNT}"),
            ));
        }
        for (key, n) in [
            ("Acorn.FetchWindowBlocks", self.acorn.fetch_window_blocks),
            ("Acorn.FetchPendingLinks", self.acorn.fetch_pending_links),
        ] {
            if n == 0 {
                return Err(invalid(key, "must be above 0"));
            }
        }
        self.acorn.fetch_window_bytes()?;
        self.acorn.bitswap_max_inbound_bytes()?;
        self.acorn.bitswap_max_queued_bytes()?;
        for (key, n, min) in [
            (
                "Acorn.BitswapMaxInboundStreams",
                self.acorn.bitswap_max_inbound_streams,
                1,
            ),
            (
                "Acorn.BitswapMaxPeerWants",
                self.acorn.bitswap_max_peer_wants,
                1,
            ),
            (
                "Acorn.YamuxMaxStreams",
                self.acorn.yamux_max_streams,
                MIN_YAMUX_STREAMS_COUNT,
            ),
            (
                "Acorn.MaxPendingConnections",
                self.acorn.max_pending_connections,
                1,
            ),
            ("Acorn.DhtMaxRecords", self.acorn.dht_max_records, 1),
        ] {
            if n < min {
                return Err(invalid(key, format!("must be at least {min}")));
            }
        }
        Ok(())
    }
}
