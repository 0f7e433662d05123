//! Seed inputs made with Acorn's own encoders (`tools/fuzz.sh --seeds` runs this
//! once, with `ACORN_FUZZ_SEEDS` naming the corpus folder): a HAMT-sharded
//! directory, a plain one, chunked files, their CAR, bitswap messages, a DNS
//! reply, swarm keys, request heads, multipart bodies, a config and keys. The
//! IPLD codec vectors are copied from the shared fixtures by `tools/fuzz.sh`.

use std::fs;
use std::path::Path;

use acorn_net::bitswap::wire::{
    BlockPresence, Entry, Message, Payload, Prefix, Presence, Version, WantType, Wantlist,
};
use acorn_storage::block::{BlockError, BlockSink};
use acorn_storage::car::CarWriter;
use acorn_storage::codec::dagpb::PbNode;
use acorn_storage::unixfs::importer::{self, Added, Layout, Options};
use cid::Cid;

use crate::targets::join;

/// Every block written, in order.
#[derive(Default)]
struct Blocks(Vec<(Cid, Vec<u8>)>);

impl BlockSink for Blocks {
    fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        self.0.push((*cid, data.to_vec()));
        Ok(())
    }
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).expect("corpus folder");
    fs::write(d.join(name), bytes).expect("seed file");
}

/// The DAG as the `hamt` target reads it: the root first, then the rest.
fn dag_input(blocks: &Blocks, root: &Cid) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for (c, b) in &blocks.0 {
        if c == root {
            parts.insert(0, b);
        } else {
            parts.push(b);
        }
    }
    join(&parts)
}

fn file(opts: &Options, sink: &mut Blocks, bytes: &[u8]) -> Added {
    importer::add_file(opts, sink, bytes).expect("import to memory")
}

/// Writes every seed under `dir/<target>/`.
pub fn write_all(dir: &Path) {
    unixfs_dags(dir);
    bitswap(dir);
    strings(dir);
    node(dir);
}

fn unixfs_dags(dir: &Path) {
    let v1 = Options {
        cid_version: 1,
        raw_leaves: false,
        chunker: acorn_storage::unixfs::chunker::Chunker::Size(64),
        max_links: 4,
        shard_threshold_bytes: 1,
        ..Options::default()
    };
    // A sharded directory of 40 small files.
    let mut blocks = Blocks::default();
    let entries: Vec<(String, Added)> = (0..40)
        .map(|i| {
            let name = format!("file-{i}");
            let added = file(&v1, &mut blocks, name.as_bytes());
            (name, added)
        })
        .collect();
    let shard = importer::add_directory(&v1, &mut blocks, entries).expect("shard");
    write(dir, "hamt", "sharded-dir", &dag_input(&blocks, &shard.cid));
    // A plain directory.
    let plain = Options {
        shard_threshold_bytes: 1 << 20,
        ..v1.clone()
    };
    let mut blocks2 = Blocks::default();
    let entries = vec![
        ("a".to_string(), file(&plain, &mut blocks2, b"hello")),
        ("b".to_string(), file(&plain, &mut blocks2, b"world")),
    ];
    let dir_added = importer::add_directory(&plain, &mut blocks2, entries).expect("dir");
    write(
        dir,
        "hamt",
        "plain-dir",
        &dag_input(&blocks2, &dir_added.cid),
    );
    // Chunked files: balanced and trickle, dag-pb leaves.
    let content: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    for (name, layout) in [("balanced", Layout::Balanced), ("trickle", Layout::Trickle)] {
        let opts = Options {
            layout,
            ..plain.clone()
        };
        let mut b = Blocks::default();
        let added = file(&opts, &mut b, &content);
        write(
            dir,
            "hamt",
            &format!("file-{name}"),
            &dag_input(&b, &added.cid),
        );
    }
    // Their CARs, their dag-pb blocks and UnixFS Data fields.
    for (name, (b, root)) in [
        ("sharded", (&blocks, shard.cid)),
        ("plain", (&blocks2, dir_added.cid)),
    ] {
        let mut w = CarWriter::new(Vec::new(), &[root]).expect("car header");
        for (c, d) in &b.0 {
            w.write_block(c, d).expect("car section");
        }
        write(dir, "car", name, &w.finish().expect("car"));
        for (i, (_, d)) in b.0.iter().enumerate().step_by(7) {
            write(dir, "dagpb", &format!("{name}-{i}"), d);
            if let Some(data) = PbNode::decode(d).ok().and_then(|n| n.data) {
                write(dir, "unixfs", &format!("{name}-{i}"), &data);
            }
        }
    }
}

fn bitswap(dir: &Path) {
    let mut blocks = Blocks::default();
    let a = file(&Options::default(), &mut blocks, b"bitswap block");
    let data = blocks.0[0].1.clone();
    let raw = acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, b"raw block");
    let msg = Message {
        wantlist: Some(Wantlist {
            entries: vec![
                Entry::want(a.cid, WantType::Block, true),
                Entry::want(raw, WantType::Have, false),
                Entry::cancel(raw),
            ],
            full: true,
        }),
        blocks: vec![
            Payload {
                prefix: Prefix::of(&a.cid),
                data,
            },
            Payload {
                prefix: Prefix::of(&raw),
                data: b"raw block".to_vec(),
            },
        ],
        presences: vec![
            BlockPresence {
                cid: raw,
                presence: Presence::Have,
            },
            BlockPresence {
                cid: a.cid,
                presence: Presence::DontHave,
            },
        ],
        pending_bytes: 1000,
        skipped: 0,
        oversize_blocks: 0,
    };
    write(dir, "bitswap", "v1.2.0", &msg.encode(Version::V1_2_0));
    write(dir, "bitswap", "v1.1.0", &msg.encode(Version::V1_1_0));
    write(dir, "bitswap", "v1.0.0", &msg.encode(Version::V1_0_0));
    write(dir, "bitswap", "frame", &msg.encode_frame(Version::V1_2_0));
}

fn strings(dir: &Path) {
    let mut blocks = Blocks::default();
    let v0 = file(&Options::default(), &mut blocks, b"cid");
    let v1 = acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, b"cid");
    let cids = [
        v0.cid.to_string(),
        v1.to_string(),
        acorn_storage::cids::to_string(&v1),
        "bafkqaaa".to_string(),
        "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA".to_string(),
    ];
    for (i, c) in cids.iter().enumerate() {
        write(dir, "cid", &format!("string-{i}"), c.as_bytes());
    }
    write(dir, "cid", "bytes", &v1.to_bytes());
    let id = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
    let peers = [
        id,
        "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
        "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY",
        "k51qzi5uqu5dhf1gnqlbwgpwkqkbkyhrx4ihzrqxsqwqttnylzwg7aiuefdkpx",
        "/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
    ];
    for (i, p) in peers.iter().enumerate() {
        write(dir, "peer_id", &format!("{i}"), p.as_bytes());
    }
    let addrs = [
        format!("/ip4/127.0.0.1/tcp/4001/p2p/{id}"),
        "/ip6/::1/tcp/4001".to_string(),
        "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"
            .to_string(),
        "/ip4/10.0.0.1/udp/4001/quic-v1".to_string(),
        "/dns4/example.com/tcp/443/wss".to_string(),
    ];
    for (i, a) in addrs.iter().enumerate() {
        write(dir, "multiaddr", &format!("{i}"), a.as_bytes());
    }
    // A DNS reply as the `dns` target takes it: header, then answers (the
    // question is spliced in by the target). Two TXT records named by a
    // compression pointer to the question.
    let mut reply = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
    for txt in [
        format!("dnsaddr=/ip4/127.0.0.1/tcp/4001/p2p/{id}"),
        "dnsaddr=/dnsaddr/sjc-1.bootstrap.libp2p.io".to_string(),
    ] {
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60]);
        reply.extend_from_slice(&((txt.len() + 1) as u16).to_be_bytes());
        reply.push(txt.len() as u8);
        reply.extend_from_slice(txt.as_bytes());
    }
    write(dir, "dns", "two-txt", &reply);
    let mut nx = reply[..12].to_vec();
    nx[3] = 0x83;
    write(dir, "dns", "nxdomain", &nx);
    // Swarm keys in the three encodings, and a pnet handshake (nonce, then data).
    let hex: String = (0..32).map(|i| format!("{:02x}", i * 7 % 256)).collect();
    write(
        dir,
        "swarm_key",
        "base16",
        format!("/key/swarm/psk/1.0.0/\n/base16/\n{hex}\n").as_bytes(),
    );
    write(
        dir,
        "swarm_key",
        "base64",
        b"/key/swarm/psk/1.0.0/\r\n/base64/\r\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n",
    );
    let mut bin = b"/key/swarm/psk/1.0.0/\n/bin/\n".to_vec();
    bin.extend(0..32u8);
    write(dir, "swarm_key", "bin", &bin);
    let mut hs: Vec<u8> = (0..24u8).collect();
    hs.extend_from_slice(b"/multistream/1.0.0\n");
    write(dir, "pnet_handshake", "nonce-and-data", &hs);
}

fn node(dir: &Path) {
    let heads: [&[u8]; 5] = [
        b"POST /api/v0/add?pin=true&cid-version=1 HTTP/1.1\r\nHost: 127.0.0.1:5001\r\nContent-Type: multipart/form-data; boundary=xyz\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /ipfs/bafkqaaa/a%20b.txt HTTP/1.1\r\nHost: localhost\r\nAccept: application/vnd.ipld.car\r\nConnection: close\r\n\r\n",
        b"POST /api/v0/id HTTP/1.0\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
        b"PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n0123456789",
        b"GET / HTTP/1.1\r\nHost: a\r\n",
    ];
    for (i, h) in heads.iter().enumerate() {
        write(dir, "http_request", &format!("{i}"), h);
    }
    let queries = [
        "arg=QmHash&arg=%2Fipfs%2Fx&recursive=true",
        "a=b+c&d=%ZZ",
        "&&=&x",
    ];
    for (i, q) in queries.iter().enumerate() {
        write(dir, "query", &format!("{i}"), q.as_bytes());
    }
    let mut raw = vec![0u8];
    raw.extend_from_slice(b"--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"dir%2Fa.txt\"\r\nContent-Type: application/octet-stream\r\nAbspath: /tmp/a.txt\r\n\r\nhello\r\n--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"dir\"\r\nContent-Type: application/x-directory\r\n\r\n\r\n--fuzzboundary--\r\n");
    write(dir, "multipart", "raw", &raw);
    let mut parts = vec![1u8];
    parts.extend(join(&[b"hello", b"\r\n--acorn", b""]));
    write(dir, "multipart", "round-trip", &parts);
    // A config as `acorn init` writes it, and keys of each generated type.
    let id = crate::identity::Identity::generate();
    let section = id.to_config().expect("identity section");
    let config = crate::config::Config::with_identity(section);
    write(dir, "config", "init", &config.to_json());
    for (name, kp) in [
        ("ed25519", libp2p_identity::Keypair::generate_ed25519()),
        ("secp256k1", libp2p_identity::Keypair::generate_secp256k1()),
        ("ecdsa", libp2p_identity::Keypair::generate_ecdsa()),
    ] {
        let bytes = kp.to_protobuf_encoding().expect("key encodes");
        write(dir, "identity", name, &bytes);
    }
}
