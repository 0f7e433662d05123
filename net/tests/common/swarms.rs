//! A swarm for the tests: a fresh ed25519 identity, `config`, no private
//! network, driven on `ex`.

use std::sync::Arc;

use acorn_net::swarm::{build_swarm, Behaviour, Config, Executor};
use libp2p::{identity::Keypair, Swarm};

pub fn swarm(ex: &Arc<smol::Executor<'static>>, config: Config) -> Swarm<Behaviour> {
    build_swarm(
        &Keypair::generate_ed25519(),
        &config,
        None,
        Executor::new(ex.clone()),
    )
    .expect("swarm builds")
    .0
}
